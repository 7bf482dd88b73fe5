#!/usr/bin/env bash
# Fails if a crate the binaries use is built with other features for the tests. Such a crate is
# a second artifact, and so is everything above it: the test command, run after the demo, would
# recompile most of the tree. Fix a difference by asking for the feature in a normal dependency
# (see "Build parity" in the workspace Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
features() { cargo tree "$@" -f '{p} [{f}]' --prefix none | sed 's/ (\*)$//' | sort -u; }
bins=$(features -p node -p testnet -e normal,build)
tests=$(features --workspace -e normal,build,dev)
# A package can appear twice (once for build scripts and proc macros): compare whole lines.
only_tests=$(comm -13 <(echo "$bins") <(echo "$tests"))
only_bins=$(comm -23 <(echo "$bins") <(echo "$tests"))
names() { sed -E 's/ \[.*$//' | sort -u; }
shared=$(comm -12 <(echo "$bins" | names) <(echo "$only_tests" | names))
if [ -n "$shared" ] || [ -n "$only_bins" ]; then
  echo "built with other features for the tests than for the binaries:"
  { echo "$only_bins" | sed 's/^/  binaries: /'; echo "$only_tests" | grep -F -f <(echo "$shared") | sed 's/^/  tests:    /'; } | grep -v '^  [a-z]*: *$' | sort -k2
  exit 1
fi
echo "build parity: every crate the binaries use is built with the same features for the tests"
