#!/usr/bin/env bash
# Throughput of `ossa eval` across sessions: this suite against one llama-server with 4
# slots, at 1, 2 and 4 sessions in flight; prints the tokens generated per second of wall
# time at each N and the ratio to N = 1.
#
# Usage: examples/eval/throughput.sh LLAMA_SERVER MODEL.gguf [REPEAT]
#   LLAMA_SERVER  built by scripts/llama-server.sh
#   MODEL.gguf    any gpt-oss GGUF; the tiny random one works for the engine's side
#                 (cargo run -p ossa-tiny-gguf --bin tiny-gguf -- --vocab o200k --out M.gguf)
#   REPEAT        attempts per task (default 4: 12 attempts, enough to keep 4 sessions busy)
# Environment: OSSA (the ossa binary, default: ossa on PATH), THREADS (llama-server's
# threads, default: all cores), MAX_TOKENS (per completion, default 128), CTX (per slot,
# default 8192).
set -euo pipefail

server_bin=${1:?usage: throughput.sh LLAMA_SERVER MODEL.gguf [REPEAT]}
model=${2:?usage: throughput.sh LLAMA_SERVER MODEL.gguf [REPEAT]}
repeat=${3:-4}
ossa=${OSSA:-ossa}
threads=${THREADS:-$(nproc)}
max_tokens=${MAX_TOKENS:-128}
ctx=${CTX:-8192}
suite="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

"$server_bin" -m "$model" --host 127.0.0.1 --port "$port" -np 4 -c $((4 * ctx)) \
  --swa-full -ngl 0 -t "$threads" >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done

base=""
for n in 1 2 4; do
  "$ossa" eval run "$suite" --server "http://127.0.0.1:$port" --parallel "$n" --repeat "$repeat" \
    --out "$work/n$n" --max-tokens "$max_tokens" --seed 1 >"$work/n$n.txt" 2>"$work/n$n.err"
  line="$(grep '^this run:' "$work/n$n.txt")"
  rate="$(sed -E 's/.*: ([0-9.]+) tokens\/s$/\1/' <<<"$line")"
  base="${base:-$rate}"
  ratio="$(awk -v r="$rate" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? r / b : 0) }')"
  echo "N=$n: $line (x$ratio of N=1)"
done
