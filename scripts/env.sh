# Shared environment for Pacer's scripts: caches live outside the clone so repeated runs are
# incremental. Sourced, not executed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pacer/target}"
export PACER_PEERS_DIR="${PACER_PEERS_DIR:-$HOME/.cache/pacer/peers}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
PACER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PACER_ROOT

# The shared test data and tools sit beside the clone (../shared) unless told otherwise.
if [ -z "${PACER_SHARED_DIR:-}" ]; then
  for candidate in "$PACER_ROOT/../shared" "$PACER_ROOT/../../shared"; do
    if [ -d "$candidate/testdata" ]; then
      PACER_SHARED_DIR="$(cd "$candidate" && pwd)"
      break
    fi
  done
fi
export PACER_SHARED_DIR="${PACER_SHARED_DIR:-$PACER_ROOT/../shared}"

say() { printf '\n==> %s\n' "$*" >&2; }
