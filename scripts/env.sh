# Sourced by the scripts: one shared target dir outside the clone, so warm runs are quick.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mpc-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
