#!/usr/bin/env bash
# Builds the operator console (pacer-web) into a static site without dx:
#   ${CARGO_TARGET_DIR}/console/dist/{index.html,boot.js,pacer-web.js,pacer-web_bg.wasm,pacer.css,favicon.svg,snippets/}
# The pacer server embeds that folder at compile time and serves it with an SPA fallback.
#
# Idempotent: installs the wasm target only when missing; the wasm-bindgen step is a small host
# tool (pacer-web/bindgen) built once into ~/.cache/pacer/tools. No wasm-opt: measured on this
# crate, -Oz after opt-level "z" + LTO saves 9 % raw and nothing gzipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

TOOLS_DIR="${PACER_TOOLS_DIR:-$HOME/.cache/pacer/tools}"
DIST="$CARGO_TARGET_DIR/console/dist"
WEB="$PACER_ROOT/pacer-web"
TARGET=wasm32-unknown-unknown
PROFILE=wasm-release

cd "$PACER_ROOT"

# 1. The wasm target for the toolchain rust-toolchain.toml pins (rustup will not add it by itself).
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  say "adding the $TARGET target"
  rustup target add "$TARGET"
fi

# 2. The wasm, with the workspace's [profile.wasm-release] (size-optimised, LTO, abort).
say "building pacer-web for $TARGET ($PROFILE)"
cargo build --locked -p pacer-web --bin pacer-web --target "$TARGET" --profile "$PROFILE"
WASM="$CARGO_TARGET_DIR/$TARGET/$PROFILE/pacer-web.wasm"

# 3. The JavaScript glue, by wasm-bindgen's own library (pacer-web/bindgen, a small host tool
#    with its own lock file) at the version Cargo.lock pins for the wasm-bindgen crate.
lock_version() { awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$2"; }
BINDGEN_VERSION="$(lock_version wasm-bindgen Cargo.lock)"
TOOL_VERSION="$(lock_version wasm-bindgen-cli-support "$WEB/bindgen/Cargo.lock")"
if [ -z "$BINDGEN_VERSION" ] || [ "$BINDGEN_VERSION" != "$TOOL_VERSION" ]; then
  echo "build-console: Cargo.lock has wasm-bindgen '$BINDGEN_VERSION' but pacer-web/bindgen uses" \
    "wasm-bindgen-cli-support '$TOOL_VERSION'; pin the same version in pacer-web/bindgen/Cargo.toml" >&2
  exit 1
fi
say "building pacer-bindgen (wasm-bindgen $BINDGEN_VERSION) into $TOOLS_DIR"
CARGO_TARGET_DIR="$TOOLS_DIR/bindgen-target" \
  cargo build --release --locked --manifest-path "$WEB/bindgen/Cargo.toml"
BINDGEN="$TOOLS_DIR/bindgen-target/release/pacer-bindgen"

STAGE="$CARGO_TARGET_DIR/console/stage"
rm -rf "$STAGE"
mkdir -p "$STAGE"
say "wasm-bindgen $BINDGEN_VERSION"
"$BINDGEN" "$WASM" "$STAGE"

# 4. The static site: swap it in whole so the server never embeds a half-written folder.
cp "$WEB/assets/index.html" "$WEB/assets/boot.js" "$WEB/assets/pacer.css" "$WEB/assets/favicon.svg" "$STAGE/"
# Gzip copies of the large files; the server sends them to clients that accept gzip.
gzip -9 -k -n "$STAGE/pacer-web_bg.wasm" "$STAGE/pacer-web.js"
rm -rf "$DIST"
mkdir -p "$(dirname "$DIST")"
mv "$STAGE" "$DIST"

raw=$(wc -c <"$DIST/pacer-web_bg.wasm")
gz=$(gzip -9 -c "$DIST/pacer-web_bg.wasm" | wc -c)
say "console ready in $DIST (wasm ${raw} bytes, ${gz} gzipped)"
