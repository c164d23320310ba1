#!/usr/bin/env bash
# The bundled example: ossa fixes a failing test in a copy of ./workspace with gpt-oss's own
# tools: container.exec runs `cargo test` confined to the copy, the repo_browser tools search,
# read and patch it in WebAssembly. The model's replies come from ./cassette.jsonl, so no
# model file is needed.
#
# Usage: examples/fix-bug/run.sh            (builds ossa with cargo if needed)
#        OSSA=/path/to/ossa examples/fix-bug/run.sh
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
"${ossa[@]}" run --replay "$here/cassette.jsonl" --allow-exec --workspace "$scratch/workspace" \
  --transcript "$scratch/transcript.jsonl" \
  "The test \`adds\` in this crate fails. Find the bug and fix it."

echo
echo "The change ossa made:"
diff -u "$here/workspace/src/lib.rs" "$scratch/workspace/src/lib.rs" \
  --label before/src/lib.rs --label after/src/lib.rs || true
echo
echo "Replaying the recorded transcript with --check:"
"${ossa[@]}" replay "$scratch/transcript.jsonl" --tools recorded --check >/dev/null
