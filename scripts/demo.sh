#!/usr/bin/env bash
# The main job until the local testnet lands: a 3-of-5 DKG and one signing for each scheme,
# in process, each printed as one JSON line and checked by the example itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
cargo build --release -p protocol --example ceremony
digest=$(printf 'mpc-node demo' | sha256sum | cut -d' ' -f1)
for scheme in frost-ed25519 frost-secp256k1-tr cggmp24; do
  echo "== $scheme (3-of-5)" >&2
  "$CARGO_TARGET_DIR/release/examples/ceremony" --scheme "$scheme" -t 3 -n 5 --message "$digest" --json
done
