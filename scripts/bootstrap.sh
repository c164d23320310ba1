#!/usr/bin/env bash
# Installs what building ossa needs on Debian/Ubuntu, skipping what is already there:
# cmake, clang and libclang-dev (llama.cpp and its bindings), python3-venv (test oracles),
# tmux (the terminal test of `ossa chat`) and the wasm32-wasip2 Rust target (the tools).
# Safe to run again.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need_apt+=(libclang-dev)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo not found. Install Rust 1.95 or newer from https://rustup.rs, then rerun." >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  # rustfmt: the test suite checks formatting.
  rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
fi
