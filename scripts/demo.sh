#!/usr/bin/env bash
# The main job for a newcomer: installs what is missing, builds ossa, then runs ossa-nano (a
# tiny real model shipped in tests/nano) on the tasks of examples/nano, and the bundled
# example task (examples/fix-bug) with real sandboxed tools on a scratch copy of a small crate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
cargo build --locked -p ossa
export OSSA="$(pwd)/target/debug/ossa"
examples/nano/run.sh
exec examples/fix-bug/run.sh
