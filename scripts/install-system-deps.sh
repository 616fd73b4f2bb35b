#!/usr/bin/env bash
# Installs the Debian packages and Rust components the build needs (libclang for RocksDB, curl
# for GraphiQL's tarballs); with --tests also what the tests drive (openssl for keys, Chromium
# for the console; curl also runs the user-data script).
# Idempotent and quick when everything is present.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# curl fetches GraphiQL's pinned npm tarballs for the console build.
packages=(libclang-dev curl ca-certificates)
if [ "${1:-}" = "--tests" ]; then
  # Node.js comes from scripts/install-node-peers.sh, which keeps a Node that is already there.
  packages+=(openssl chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}" \
    || { "${sudo_cmd[@]}" apt-get update && "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

toolchain="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$PACER_ROOT/rust-toolchain.toml")"
if ! rustup target list --installed --toolchain "$toolchain" 2>/dev/null | grep -q wasm32-unknown-unknown \
  || ! rustup component list --installed --toolchain "$toolchain" 2>/dev/null | grep -q clippy; then
  say "installing Rust $toolchain with rustfmt, clippy and the wasm32 target"
  rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy --target wasm32-unknown-unknown
fi
