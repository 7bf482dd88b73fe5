#!/usr/bin/env bash
# The main job: installs what is missing, builds, brings up a local 3-of-5 testnet (five
# mpc-node processes, anvil, a LiteSVM Solana RPC, a regtest Bitcoin RPC over Bitcoin Core's
# interpreter), runs a DKG per scheme and one transfer per chain, each verified by chain
# software, prints a summary and writes demo-report.json; then stops everything.
# Extra arguments go to `testnet demo` (e.g. --nodes 7 --threshold 4); `KEEP=1` leaves the
# testnet up afterwards (`testnet status`, `testnet down`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
cargo build --release -p node -p testnet
down=--down
if [ "${KEEP:-0}" = 1 ]; then down=; fi
"$CARGO_TARGET_DIR/release/testnet" --dir .testnet demo --json demo-report.json $down "$@"
