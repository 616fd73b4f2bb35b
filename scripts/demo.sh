#!/usr/bin/env bash
# Builds what the demo needs and starts Pacer in demo mode: simulated EC2 and GitHub on this
# machine, live at http://127.0.0.1:3000. Extra arguments go to `pacer demo` (see --help).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PACER_ROOT"

bash scripts/install-system-deps.sh
say "building the console"
bash scripts/build-console.sh
say "building pacer (first build compiles RocksDB and the AWS SDK; later builds are quick)"
# The same target selection as scripts/test.sh, so Cargo resolves the same features and the
# tests never rebuild RocksDB after a demo (or the other way round).
cargo build --locked --workspace --all-targets
exec "$CARGO_TARGET_DIR/debug/pacer" demo "$@"
