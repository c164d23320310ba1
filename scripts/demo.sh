#!/usr/bin/env bash
# The main job for a newcomer: installs what is missing, builds ossa, and runs the bundled
# example task (examples/fix-bug) with real sandboxed tools on a scratch copy of a small crate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
cargo build --locked -p ossa
OSSA="$(pwd)/target/debug/ossa" exec examples/fix-bug/run.sh
