#!/usr/bin/env bash
# Checks ossa's llama.cpp backend on a GPU: the tiny gpt-oss model fully offloaded must give
# the same greedy tokens as on the CPU, and tokens/s are recorded for both.
#
# The GPU machine has nvcc, cmake and ninja but no Rust toolchain and no network, so the
# work is split in two:
#
#   scripts/gpu-check.sh prepare   # on the CPU machine (Rust, network for crates)
#     Builds examples/gpu_check of ossa-model in release with llama.cpp's dynamically
#     loaded backends (feature dynamic-backends), generates the tiny model, and gathers
#     into target/gpu-check/: the binary, its shared libraries, the CPU backends, the model
#     and the vendored ggml source the binary was built from (about 40 MiB in all).
#
#   scripts/gpu-check.sh device    # on the GPU machine, from the repository root
#     Builds ggml's CUDA backend from that same source (CMAKE_CUDA_ARCHITECTURES, default
#     90 = H100; about 5 minutes with 16 jobs), runs the model with GPU_LAYERS=none and with
#     the CUDA backend and all layers offloaded, compares the greedy tokens and prints
#     tokens/s. Results go to $OUT (or target/gpu-check/results) as cpu.json, gpu.json and
#     summary.txt. Exit status 0 only when the tokens match.
#
# With the project's device tool: run `prepare` here, then
#   run(command="scripts/gpu-check.sh device", carry=["target/gpu-check"], timeout_s=600)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$repo_root/target/gpu-check"
log() { echo "gpu-check.sh: $*" >&2; }

prepare() {
  cd "$repo_root"
  local target="${CARGO_TARGET_DIR:-$repo_root/target}"
  log "building examples/gpu_check with dynamic backends (release; a llama.cpp build: 10-25 min on 2 cores)"
  # Release, not the RelWithDebInfo (-O2) that the release profile's debug info implies.
  LLAMA_LIB_PROFILE=Release cargo build --release -p ossa-model --example gpu_check \
    --features dynamic-backends >&2
  local out_dir
  out_dir="$(ls -td "$target"/release/build/llama-cpp-sys-2-*/out 2>/dev/null | while read -r d; do
    [ -d "$d/backends" ] && { echo "$d"; break; }; done)"
  [ -n "$out_dir" ] || { log "no llama-cpp-sys-2 build with a backends folder found"; exit 1; }
  rm -rf "$work/bundle"
  mkdir -p "$work/bundle/bin" "$work/bundle/lib" "$work/bundle/backends-cpu"
  cp "$target/release/examples/gpu_check" "$work/bundle/bin/"
  local libdir lib variant
  for libdir in "$out_dir/lib" "$out_dir/lib64"; do
    for lib in libllama libggml libggml-base; do
      [ -e "$libdir/$lib.so" ] && cp -P "$libdir/$lib".so* "$work/bundle/lib/"
    done
  done
  # The CPU variants a GPU host can have (Intel from Haswell on, AMD Zen 3/4), plus the
  # generic fallbacks: the device tool carries at most 64 MiB.
  for variant in x64 sse42 haswell skylakex icelake alderlake sapphirerapids zen4; do
    cp "$out_dir/backends/libggml-cpu-$variant.so" "$work/bundle/backends-cpu/"
  done
  # Debug info makes the binary ~65 MiB; the device tool carries at most 64 MiB in all.
  strip "$work/bundle/bin/gpu_check" "$work/bundle/lib/"*.so.* "$work/bundle/backends-cpu/"*.so
  cargo run --release -q -p ossa-tiny-gguf --bin tiny-gguf -- --out "$work/bundle/tiny.gguf" >&2
  local src
  src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-0.1.161/llama.cpp/ggml | head -n1)"
  [ -d "$src" ] || { log "vendored ggml source not found in the cargo registry"; exit 1; }
  rm -rf "$work/ggml-src"
  cp -r "$src" "$work/ggml-src"
  # Only ggml's core and its CUDA backend are built on the device; other backends' sources
  # are dropped to stay under the carry limit. The crate's packaged copy lacks ggml.pc.in,
  # which ggml's CMakeLists configures unconditionally (an empty one is enough).
  rm -rf "$work/ggml-src/examples" "$work/ggml-src/tests"
  find "$work/ggml-src/src" -mindepth 1 -maxdepth 1 -type d -name 'ggml-*' ! -name ggml-cuda \
    -exec rm -rf {} +
  touch "$work/ggml-src/ggml.pc.in"
  du -sh "$work" >&2
  log "ready: carry target/gpu-check and run 'scripts/gpu-check.sh device' on the GPU machine"
}

device() {
  [ -x "$work/bundle/bin/gpu_check" ] || { log "run 'scripts/gpu-check.sh prepare' first (on a machine with Rust)"; exit 1; }
  local results="${OUT:-$work/results}"
  mkdir -p "$results"
  local jobs="${JOBS:-$(nproc)}"
  local arch="${CMAKE_CUDA_ARCHITECTURES:-90}"
  local build=/tmp/ossa-ggml-cuda
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$results/gpu.txt" 2>&1 || true
  local generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  local start end
  start=$(date +%s)
  cmake -S "$work/ggml-src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=ON -DGGML_CPU=OFF -DGGML_BACKEND_DL=ON -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF >&2
  cmake --build "$build" --config Release -j "$jobs" --target ggml-cuda >&2
  end=$(date +%s)
  echo "CUDA backend build: $((end - start)) s with $jobs jobs, arch $arch" | tee "$results/summary.txt"
  local cuda_so
  cuda_so="$(find "$build" -name 'libggml-cuda.so' | head -n1)"
  [ -n "$cuda_so" ] || { log "libggml-cuda.so was not built"; exit 1; }
  mkdir -p "$work/backends-gpu"
  cp "$work/bundle/backends-cpu/"*.so "$cuda_so" "$work/backends-gpu/"

  local threads="${THREADS:-8}" tokens="${TOKENS:-128}"
  export LD_LIBRARY_PATH="$work/bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  OSSA_GGML_BACKENDS_DIR="$work/bundle/backends-cpu" \
    "$work/bundle/bin/gpu_check" "$work/bundle/tiny.gguf" none "$tokens" "$threads" >"$results/cpu.json"
  OSSA_GGML_BACKENDS_DIR="$work/backends-gpu" OSSA_LOG=llama.cpp=debug \
    "$work/bundle/bin/gpu_check" "$work/bundle/tiny.gguf" all "$tokens" "$threads" >"$results/gpu.json" \
    2>"$results/gpu-stderr.txt"
  python3 - "$results" <<'EOF' | tee -a "$results/summary.txt"
import json, statistics, sys
d = sys.argv[1]
cpu = json.load(open(f"{d}/cpu.json"))
gpu = json.load(open(f"{d}/gpu.json"))
print("devices (gpu run):", "; ".join(gpu["devices"]))
offload = [l.strip() for l in open(f"{d}/gpu-stderr.txt", errors="replace") if "offloaded" in l]
print("llama.cpp:", offload[-1] if offload else "no 'offloaded' line in gpu-stderr.txt")
if not any("CUDA" in dev for dev in gpu["devices"]):
    print("the CUDA backend was not loaded: see gpu-stderr.txt")
    sys.exit(1)
same = all(a["tokens"] == b["tokens"] for a, b in zip(cpu["runs"], gpu["runs"]))
for name, r in (("cpu", cpu), ("gpu", gpu)):
    tps = statistics.median(run["decode_tokens_per_second"] for run in r["runs"])
    n = sum(len(run["tokens"]) for run in r["runs"])
    print(f"{name}: median decode {tps:.1f} tok/s over {len(r['runs'])} runs ({n} tokens), load {r['load_ms']:.0f} ms")
print("greedy tokens identical on CPU and GPU:", same)
sys.exit(0 if same else 1)
EOF
}

case "${1:-}" in
  prepare) prepare ;;
  device) device ;;
  *) echo "usage: scripts/gpu-check.sh prepare|device" >&2; exit 2 ;;
esac
