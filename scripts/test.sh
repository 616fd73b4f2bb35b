#!/usr/bin/env bash
# The whole test suite, installing what the tests need: format check, clippy with warnings
# denied, the console built to wasm, every test of the workspace (real RocksDB, moto, Node's
# graphql-ws and oidc-provider, the pacer binary, headless Chromium on the console), every fuzz
# target for a bounded time (scripts/fuzz.sh), and the domain built for wasm32. CI runs exactly this (.ci/run).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PACER_ROOT"

started=$(date +%s)
bash scripts/install-system-deps.sh --tests
bash scripts/install-python-peers.sh
bash scripts/install-node-peers.sh

say "building the console (embedded into the pacer binary)"
bash scripts/build-console.sh

say "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path pacer-web/bindgen/Cargo.toml -- --check

say "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test"
cargo test --workspace --locked

say "packaging: systemd unit, Dockerfile, example configuration"
bash scripts/check-packaging.sh

say "fuzz targets, a bounded run each over the committed corpus"
bash scripts/fuzz.sh

say "pacer-domain builds for wasm32-unknown-unknown"
cargo check --locked --target wasm32-unknown-unknown -p pacer-domain

say "all green in $(( $(date +%s) - started )) s"
