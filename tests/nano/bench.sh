#!/usr/bin/env bash
# Decode speed of ossa-nano through ossa (in-process llama.cpp, `ossa complete`) against
# llama.cpp's own llama-bench on the same GGUF, same thread count, in one run.
#
#   tests/nano/bench.sh [THREADS]     (default 1; needs target/debug/ossa and llama-bench
#                                      from scripts/llama-server.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
threads="${1:-1}"
model="${NANO_MODEL:-tests/nano/ossa-nano.gguf}"
bench="${LLAMA_BENCH:-target/llama-cpp-tools/bin/llama-bench}"
conversation="$(mktemp)"
trap 'rm -f "$conversation"' EXIT
echo '{"messages":[{"role":"user","content":"What does kavu/lome.txt say?"}]}' >"$conversation"

# A high temperature keeps the model from stopping early; runs that stop before 64
# tokens anyway are left out (the first five that reach 64 are kept).
ossa_rates=()
for seed in $(seq 1 40); do
  rate="$(target/debug/ossa complete "$conversation" --model "$model" --json --max-tokens 128 \
    --temperature 5 --seed "$seed" --threads "$threads" --ctx-size 2048 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["timings"]["decode_tokens_per_second"], len(d["tokens"]))')" || true
  if [ -n "$rate" ] && [ "${rate#* }" -ge 64 ]; then
    ossa_rates+=("$rate")
  fi
  [ "${#ossa_rates[@]}" -ge 5 ] && break
done
[ "${#ossa_rates[@]}" -ge 1 ] || { echo "no ossa run reached 64 tokens" >&2; exit 1; }
bench_rate="$("$bench" -m "$model" -p 0 -n 128 -t "$threads" -r 5 -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])')"
python3 - "$bench_rate" "${ossa_rates[@]}" <<'PY'
import statistics, sys
bench = float(sys.argv[1])
runs = [tuple(map(float, r.split())) for r in sys.argv[2:]]
ossa = statistics.median(rate for rate, _ in runs)
print(f"ossa (ossa complete, median of {len(runs)} runs, tokens {[int(n) for _, n in runs]}): {ossa:.0f} tok/s")
print(f"llama-bench tg128 (5 repetitions): {bench:.0f} tok/s")
print(f"ossa / llama-bench: {ossa / bench:.2f}")
PY
