#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` and `llama-bench` (CPU) from the complete llama.cpp tree
# vendored in PyPI's llama-cpp-python source distribution. The llama-cpp-sys-2 crate ships only
# the library sources, so this is where ossa's HTTP-backend test and the benchmarks get a real
# server from.
#
# Usage: scripts/llama-server.sh [OUT_DIR]        (default: target/llama-cpp-tools)
# Prints the path of llama-server on the last line of stdout; export it for the tests:
#   export OSSA_LLAMA_SERVER="$(scripts/llama-server.sh | tail -n1)"
#   export OSSA_LLAMA_BENCH="$(dirname "$OSSA_LLAMA_SERVER")/llama-bench"
#
# Needs: python3 with pip (only to download the sdist), cmake, a C++17 compiler.
# Environment: JOBS (parallel compile jobs, default: all cores),
#              OSSA_SDIST (use this llama-cpp-python tarball instead of downloading it).
# Safe to rerun: an existing build is reused, and only the two targets are rebuilt.
set -euo pipefail

version=0.3.36
# sha256 of llama_cpp_python-0.3.36.tar.gz as published on PyPI.
sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${1:-$repo_root/target/llama-cpp-tools}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
jobs="${JOBS:-$(nproc)}"

log() { echo "llama-server.sh: $*" >&2; }

if [ -x "$out_dir/bin/llama-server" ] && [ -x "$out_dir/bin/llama-bench" ] \
  && [ "$(cat "$out_dir/version" 2>/dev/null)" = "$version" ]; then
  log "already built: $out_dir/bin"
  echo "$out_dir/bin/llama-server"
  exit 0
fi

for tool in cmake c++; do
  command -v "$tool" >/dev/null 2>&1 || { log "missing '$tool' (apt-get install cmake g++)"; exit 1; }
done

tarball="${OSSA_SDIST:-$out_dir/llama_cpp_python-$version.tar.gz}"
if [ ! -f "$tarball" ]; then
  log "downloading the llama-cpp-python $version sdist from PyPI"
  python3 -m pip download --quiet --no-binary :all: --no-deps --no-build-isolation \
    "llama-cpp-python==$version" -d "$out_dir" 2>/dev/null \
    || python3 -m pip download --quiet --no-binary :all: --no-deps \
      "llama-cpp-python==$version" -d "$out_dir"
  tarball="$out_dir/llama_cpp_python-$version.tar.gz"
fi
actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$actual" != "$sha256" ]; then
  log "checksum mismatch for $tarball: expected $sha256, got $actual"
  exit 1
fi

src="$out_dir/src"
if [ ! -f "$src/CMakeLists.txt" ]; then
  log "extracting vendor/llama.cpp"
  rm -rf "$src" "$out_dir/extract"
  mkdir -p "$out_dir/extract"
  tar -xzf "$tarball" -C "$out_dir/extract" "llama_cpp_python-$version/vendor/llama.cpp"
  mv "$out_dir/extract/llama_cpp_python-$version/vendor/llama.cpp" "$src"
  rm -rf "$out_dir/extract"
fi

start=$(date +%s)
# GGML_NATIVE=OFF gives the same AVX2 baseline as the llama-cpp-sys-2 build inside ossa, so
# benchmarks compare like with like. No network at build time: no curl, no prebuilt web UI.
cmake -S "$src" -B "$out_dir/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF -DGGML_OPENMP=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >&2
cmake --build "$out_dir/build" --config Release -j "$jobs" --target llama-server llama-bench >&2
end=$(date +%s)

mkdir -p "$out_dir/bin"
cp "$out_dir/build/bin/llama-server" "$out_dir/build/bin/llama-bench" "$out_dir/bin/"
echo "$version" >"$out_dir/version"
log "built in $((end - start)) s with $jobs jobs: $out_dir/bin"
echo "$out_dir/bin/llama-server"
