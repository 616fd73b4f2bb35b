# Shared environment for Pacer's scripts: caches live outside the clone so repeated runs are
# incremental. Sourced, not executed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pacer/target}"
export PACER_PEERS_DIR="${PACER_PEERS_DIR:-$HOME/.cache/pacer/peers}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
PACER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PACER_ROOT


say() { printf '\n==> %s\n' "$*" >&2; }
