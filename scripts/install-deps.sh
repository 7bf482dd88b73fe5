#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing this workspace.
# A fresh machine has the Rust toolchain, cargo-nextest, gcc, Python 3.11 and Node 20.
# libsecp256k1 builds with gcc; GMP (CGGMP24's big integers) builds from source with m4.
set -euo pipefail
cd "$(dirname "$0")/.."

# libclang-dev: RocksDB's bindings are generated at build time. clang-14: RocksDB's C++ (half
# gcc's compile time, scripts/env.sh). m4: GMP's build.
# procps: `kill`, with which the testnet stops its processes.
APT_PACKAGES=(libclang-dev clang-14 m4 procps)
# With --for-tests: Debian's Chromium (the console's browser test) and PostgreSQL's server (the
# archive's tests start their own on a loopback port); the demo needs neither.
if [ "${1:-}" = --for-tests ]; then
  APT_PACKAGES+=(chromium postgresql)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# Real chain software for the tests, pinned by testnet/js/package-lock.json: anvil (Ethereum dev
# node, the binary ships in @foundry-rs/anvil-linux-amd64) and LiteSVM (Solana runtime, prebuilt).
# `npm install` honours the lock file; `npm ci` cannot be used because litesvm 1.5.0 names
# platform packages (darwin, musl) that were never published at 1.5.0, which its sync check
# reports as a stale lock.
if [ ! -x testnet/js/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] || [ ! -d testnet/js/node_modules/litesvm ]; then
  (cd testnet/js && npm install --no-audit --no-fund --loglevel=error)
fi

command -v cargo >/dev/null || { echo "cargo is required (install the Rust toolchain)"; exit 1; }
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
