#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing this workspace.
# A fresh machine has the Rust toolchain, cargo-nextest, gcc, Python 3.11 and Node 20.
# libsecp256k1 builds with gcc; GMP (CGGMP24's big integers) builds from source with m4.
set -euo pipefail

# libclang-dev: RocksDB's bindings are generated at build time. m4: GMP's build.
APT_PACKAGES=(libclang-dev m4)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "cargo is required (install the Rust toolchain)"; exit 1; }
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
