#!/usr/bin/env bash
# Installs the Node.js test peers into a cached folder (never globally):
#   ${PACER_PEERS_DIR:-$HOME/.cache/pacer/peers}/node/node_modules
# graphql + graphql-ws + ws (the graphql-transport-ws client), oidc-provider (the OIDC test
# provider) and playwright-core (drives Debian's Chromium; it never downloads a browser).
# Tests copy the .mjs tools of tools/ next to this node_modules so their imports resolve.
# Idempotent: returns at once when the pinned versions are installed.
set -euo pipefail
source "$(dirname "$0")/env.sh"

NODE_DIR="$PACER_PEERS_DIR/node"
PACKAGES=(graphql@16.15.0 graphql-ws@6.4.2 ws@8.23.0 oidc-provider@9.13.3 playwright-core@1.65.1)
STAMP="$NODE_DIR/.pacer-packages"
WANT="${PACKAGES[*]}"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing Node.js and npm from Debian"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends nodejs npm \
    || { "${sudo_cmd[@]}" apt-get update && "${sudo_cmd[@]}" apt-get install -y --no-install-recommends nodejs npm; }
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -d "$NODE_DIR/node_modules/graphql-ws" ]; then
  exit 0
fi
mkdir -p "$NODE_DIR"
cd "$NODE_DIR"
[ -f package.json ] || printf '{ "name": "pacer-test-peers", "private": true, "type": "module" }\n' > package.json
say "installing Node test peers into $NODE_DIR: ${PACKAGES[*]}"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error "${PACKAGES[@]}"
printf '%s' "$WANT" > "$STAMP"
