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

# 4. GraphiQL for GET /graphql, served by Pacer itself (no CDN, so it works offline under a
#    strict CSP): npm's tarballs at pinned versions, checked against pinned SHA-512 digests,
#    cached in $TOOLS_DIR/graphiql. Only the browser builds are embedded; nothing is committed.
GRAPHIQL_CACHE="$TOOLS_DIR/graphiql"
mkdir -p "$GRAPHIQL_CACHE" "$STAGE/graphiql"
npm_file() { # package version sha512 path-in-tarball
  local name="$1" version="$2" digest="$3" inner="$4"
  local tarball="$GRAPHIQL_CACHE/$name-$version.tgz"
  if ! echo "$digest  $tarball" | sha512sum -c --status 2>/dev/null; then
    say "fetching $name@$version from the npm registry"
    curl -fsSL --retry 3 -o "$tarball.part" "https://registry.npmjs.org/$name/-/$name-$version.tgz"
    echo "$digest  $tarball.part" | sha512sum -c --status \
      || { echo "build-console: $name-$version.tgz does not match its pinned SHA-512" >&2; rm -f "$tarball.part"; exit 1; }
    mv "$tarball.part" "$tarball"
  fi
  tar -xzf "$tarball" -O "package/$inner" >"$STAGE/graphiql/$(basename "$inner")"
}
npm_file react 18.3.1 c12fa1020252851d0a844bcf240adfb8f54dd7e1f3d6dd18ea7e632eb1906e46f8bab80f13fd11bdefb590c075bffa16807826e1621c57e8bb176a53563fb689 umd/react.production.min.js
npm_file react-dom 18.3.1 e66e2740aa7ead945bd3d2cd1f9f463380714e1f76e75ff295b2886e97bb4e91b17c9fbd92fe812e42c15c88e3b296e06e720136a948db7b519d3593d2c9d423 umd/react-dom.production.min.js
npm_file graphql-ws 5.16.2 135b9c72c671b7ff7a8c7fcec262cfb973000882ecefaa4a1768b75bceb52e9281098b462323d01ad58bb812e4343e28c752879ecef47bcdcf4b8b5ee749ef3d umd/graphql-ws.min.js
npm_file graphiql 3.8.3 72e3c362d5d5295f3a3eee4f1c15fae3639d8bfb95104db2d49c6ae6b18efd0cb51b6951a7b659edafd3df4473c61b8b496a3dcd46f3ab43f7538f7ffc7d1483 graphiql.min.js
npm_file graphiql 3.8.3 72e3c362d5d5295f3a3eee4f1c15fae3639d8bfb95104db2d49c6ae6b18efd0cb51b6951a7b659edafd3df4473c61b8b496a3dcd46f3ab43f7538f7ffc7d1483 graphiql.min.css
cp "$WEB/assets/graphiql/index.html" "$WEB/assets/graphiql/boot.js" "$WEB/assets/graphiql/page.css" "$STAGE/graphiql/"
gzip -9 -k -n "$STAGE/graphiql/graphiql.min.js" "$STAGE/graphiql/react-dom.production.min.js"

# 5. The static site: swap it in whole so the server never embeds a half-written folder.
cp "$WEB/assets/index.html" "$WEB/assets/boot.js" "$WEB/assets/pacer.css" "$WEB/assets/favicon.svg" "$STAGE/"
# Gzip copies of the large files; the server sends them to clients that accept gzip.
gzip -9 -k -n "$STAGE/pacer-web_bg.wasm" "$STAGE/pacer-web.js"
rm -rf "$DIST"
mkdir -p "$(dirname "$DIST")"
mv "$STAGE" "$DIST"

raw=$(wc -c <"$DIST/pacer-web_bg.wasm")
gz=$(gzip -9 -c "$DIST/pacer-web_bg.wasm" | wc -c)
say "console ready in $DIST (wasm ${raw} bytes, ${gz} gzipped)"
