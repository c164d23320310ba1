#!/usr/bin/env bash
# Reproduces ossa-nano from nothing on a 2-core CPU: vocabulary, training data (tasks
# played through ossa's own agent loop with real sandboxed tools), training, GGUF,
# and the check that llama.cpp computes the trainer's logits.
#
#   tests/nano/train.sh [WORK_DIR]          (default: target/nano)
#
# Writes tests/nano/ossa-nano.gguf and tests/nano/reference/ (the parity test's inputs).
# Needs what scripts/test.sh installs, plus PyTorch for CPU from PyPI (a virtual
# environment under WORK_DIR; the default torch wheel is large, about 5 GB with its CUDA
# libraries, which are never used here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work="${1:-target/nano}"
seed=0
mkdir -p "$work"

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%H:%M:%S)" >&2; }

step "PyTorch"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  torch==2.15.0 numpy==2.4.6

step "ossa-nano (the data generator and packer)"
cargo build --locked -p ossa-nano
nano=target/debug/ossa-nano

step "vocabulary"
"$nano" vocab --out "$work" --seed "$seed"

step "training data"
"$nano" data --dir "$work" --train 24000 --heldout 500 --check-every 32 --seed "$seed"

step "training"
# A curriculum: until step 2,400 only the prefix's last 96 tokens (the end of the
# developer message) precede each episode, so copying (induction) forms without 3,300
# prefix keys diluting every attention row of the full-attention layers, at a third of
# the cost per step; the last 800 steps see the whole prompt ossa sends. One cosine
# schedule over the 3,200 steps.
py="$work/venv/bin/python"
"$py" tests/nano/train.py --data "$work" --out "$work/run" --steps 3200 \
  --short-prefix-until 2400 --short-prefix 96 --eval-every 250 --eval-groups 8 \
  --seed "$seed" --threads 2

step "GGUF and parity with llama.cpp"
"$nano" pack --dir "$work" --weights "$work/run" --out tests/nano/ossa-nano.gguf
mkdir -p tests/nano/reference
cp "$work/run/reference.json" "$work/run/reference.bin" tests/nano/reference/
"$nano" parity --model tests/nano/ossa-nano.gguf --reference tests/nano/reference
