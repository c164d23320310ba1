#!/usr/bin/env bash
# ossa-nano at work: a real model (tests/nano/ossa-nano.gguf, 2 M parameters with
# gpt-oss's architecture, trained on ossa's own tool dialect) runs in-process through
# llama.cpp and solves small tasks on a scratch copy of ./workspace with the sandboxed
# tools: repo_browser.search and open_file in WebAssembly, container.exec confined by the
# kernel. Greedy decoding, no download, a few seconds on a CPU.
#
# Usage: examples/nano/run.sh            (builds ossa with cargo if needed)
#        OSSA=/path/to/ossa examples/nano/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$here/workspace" "$scratch/workspace"

if [ -n "${OSSA:-}" ]; then
  ossa=("$OSSA")
else
  ossa=(cargo run --quiet --manifest-path "$root/Cargo.toml" -p ossa --)
fi
export OSSA_HOME="${OSSA_HOME:-$scratch/home}"

n=0
for task in \
  "Show me the line that mentions pabolu." \
  "Run zuru.sh and tell me what it prints." \
  "Create gisi/poseta.txt containing buru gega."; do
  n=$((n + 1))
  echo
  echo "### $task"
  "${ossa[@]}" run --model "$root/tests/nano/ossa-nano.gguf" --temperature 0 --threads 2 \
    --ctx-size 8192 --max-steps 6 --workspace "$scratch/workspace" \
    --transcript "$scratch/task$n.jsonl" "$task"
done

echo
echo "gisi/poseta.txt now holds: $(cat "$scratch/workspace/gisi/poseta.txt" 2>/dev/null || echo '(missing)')"
echo
echo "Replaying the first transcript with --check, the tools run again on a fresh copy:"
cp -r "$here/workspace" "$scratch/replay"
"${ossa[@]}" replay "$scratch/task1.jsonl" --workspace "$scratch/replay" --check >/dev/null
echo "every prompt identical, token for token"
