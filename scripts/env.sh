# Sourced by the scripts: one shared target dir outside the clone, so warm runs are quick.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mpc-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# RocksDB's and Bitcoin Core's C++ with Debian's clang (scripts/install-deps.sh): it compiled
# RocksDB in half gcc's time here (README, Build). C stays with gcc (GMP tests its own build).
if [ -z "${CXX_x86_64_unknown_linux_gnu:-}" ] && command -v clang++-14 >/dev/null; then
  export CXX_x86_64_unknown_linux_gnu=clang++-14
fi
