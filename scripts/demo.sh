#!/usr/bin/env bash
# The main job: installs what is missing, builds, brings up a local 3-of-5 testnet (five
# mpc-node processes, anvil, a LiteSVM Solana RPC, a regtest Bitcoin RPC over Bitcoin Core's
# interpreter), runs a DKG per scheme and one transfer per chain, each verified by chain
# software, prints a summary and writes demo-report.json; then stops everything.
# Extra arguments go to `testnet demo` (e.g. --nodes 7 --threshold 4); `KEEP=1` leaves the
# testnet up afterwards (`testnet status`, `testnet down`).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
phase() { echo "[demo +$(( $(date +%s) - started ))s] $*"; }

phase "installing what is missing (apt packages, anvil and LiteSVM from the npm lock file)"
bash scripts/install-deps.sh
source scripts/env.sh
phase "building mpc-node and testnet in release into $CARGO_TARGET_DIR (from nothing: about 12 min on 2 cores, half of it RocksDB's C++; a warm build takes seconds)"
# A line a minute while cargo is quiet (RocksDB's build script prints nothing for minutes).
build_log="$CARGO_TARGET_DIR/demo-build.log"
mkdir -p "$CARGO_TARGET_DIR"
# RocksDB's C++ is the longest step: count its objects in the newest build dir.
rocksdb_files() {
  local out
  out=$(ls -dt "$CARGO_TARGET_DIR"/release/build/librocksdb-sys-*/out 2>/dev/null | head -1)
  [ -n "$out" ] && echo ", RocksDB's C++ $(find "$out" -name '*.o' | wc -l) of 330 files"
}
( while sleep 60; do phase "still building ($(awk '/^ *Compiling/ {n++} END {print n+0}' "$build_log") of about 440 crates compiled$(rocksdb_files))"; done ) &
beat=$!
trap 'kill $beat 2>/dev/null || true' EXIT
cargo build --release -p node -p testnet 2>&1 | tee "$build_log"
kill $beat 2>/dev/null || true
phase "built; starting the testnet and running the demo"
down=--down
if [ "${KEEP:-0}" = 1 ]; then down=; fi
"$CARGO_TARGET_DIR/release/testnet" --dir .testnet demo --json demo-report.json $down "$@"
phase "demo finished: demo-report.json"
