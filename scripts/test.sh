#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test of the workspace.
# Everything builds in one profile (release): debug crypto is far too slow, and a second
# profile would double the cold build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --for-tests
source scripts/env.sh
cargo nextest run --release --workspace --no-fail-fast "$@"
