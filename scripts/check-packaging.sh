#!/usr/bin/env bash
# Static checks of packaging/ (no Docker, no build): the systemd unit passes
# `systemd-analyze verify` (when systemd-analyze is installed), the Dockerfile only copies what
# exists and what .dockerignore lets into the build context, its paths agree with the unit and
# the example configuration, and the example configuration passes `pacer check-config` (when a
# pacer binary is already built: $PACER_BIN, else $CARGO_TARGET_DIR/{release,debug}/pacer).
# What it cannot tell: whether the image builds and runs, and whether the sandbox lets Pacer run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PACER_ROOT"

UNIT=packaging/pacer.service
DOCKERFILE=packaging/Dockerfile
CONFIG=packaging/pacer.yaml
failures=0
fail() { echo "check-packaging: $*" >&2; failures=$((failures + 1)); }
# The value of `Key=` in the unit (first occurrence).
unit_value() { sed -n "s/^$1=//p" "$UNIT" | head -n 1; }

for file in "$UNIT" "$DOCKERFILE" "$CONFIG" .dockerignore; do
  [ -f "$file" ] || { echo "check-packaging: $file is missing" >&2; exit 1; }
done

# 1. The unit. Its binary is not installed on a build machine: that one complaint is expected.
say "systemd unit ($UNIT)"
exec_start="$(unit_value ExecStart)"
binary="${exec_start%% *}"
if command -v systemd-analyze >/dev/null; then
  output="$(systemd-analyze verify "$UNIT" 2>&1)" || true
  output="$(grep -v "Command $binary is not executable" <<<"$output" || true)"
  [ -z "$output" ] || fail "systemd-analyze verify $UNIT: $output"
else
  echo "systemd-analyze not installed: the unit is checked by the rules below only"
fi
[ "$(unit_value User)" = pacer ] || fail "$UNIT must run as User=pacer"
[ "$(unit_value ProtectSystem)" = strict ] || fail "$UNIT must have ProtectSystem=strict"
grep -q '^DynamicUser=yes' "$UNIT" && fail "$UNIT: DynamicUser would give the data directory a changing owner"

# 2. The Dockerfile against the repository and .dockerignore.
say "Dockerfile ($DOCKERFILE) and .dockerignore"
mapfile -t ignored < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's|^\*\*/||' -e '/^$/d' .dockerignore)
# Whether .dockerignore keeps PATH out of the context. Stricter than Docker: a pattern is
# matched against every component of the path, not only from the root.
excluded() {
  local component pattern components
  IFS=/ read -ra components <<<"$1"
  for component in "${components[@]}"; do
    for pattern in "${ignored[@]}"; do
      # shellcheck disable=SC2053 # the pattern is a glob on purpose
      [[ "$component" == $pattern ]] && return 0
    done
  done
  return 1
}
# COPY sources from the context (not --from=another stage) exist and are not ignored.
while read -r source; do
  [ -e "$source" ] || fail "$DOCKERFILE copies $source, which does not exist"
  [ "$source" = . ] || ! excluded "$source" || fail "$DOCKERFILE copies $source, which .dockerignore excludes"
done < <(awk '$1 == "COPY" && $2 !~ /^--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$DOCKERFILE")
# What `COPY . .` must bring for the build: the workspace's manifests and members, the
# toolchain file and the console build script. None of their files may be ignored.
members="$(sed -n 's/^members *= *\[\(.*\)\]/\1/p' Cargo.toml | tr -d '" ' | tr ',' ' ')"
# shellcheck disable=SC2086 # the members are separate paths
if git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t needed < <(git ls-files -- Cargo.toml Cargo.lock rust-toolchain.toml scripts $members)
else
  mapfile -t needed < <(find Cargo.toml Cargo.lock rust-toolchain.toml scripts $members -type f -not -path '*/target/*')
fi
[ "${#needed[@]}" -gt 0 ] || fail "found no workspace files to check against .dockerignore"
for file in "${needed[@]}"; do
  ! excluded "$file" || fail ".dockerignore excludes $file, which the image build needs"
done
# The toolchain the builder image brings is the one rust-toolchain.toml pins.
channel="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"
rust_version="$(sed -n 's/^ARG RUST_VERSION=//p' "$DOCKERFILE")"
[ "$rust_version" = "$channel" ] || fail "$DOCKERFILE builds with Rust $rust_version, rust-toolchain.toml pins $channel"
# The binary: built under the [[bin]] name, put where the runtime stage copies it from, copied
# to the unit's ExecStart path, and run by that name.
bin_name="$(awk '/^\[\[bin\]\]/ { bin = 1 } bin && /^name *=/ { gsub(/name *= *|"/, ""); print; exit }' pacer-server/Cargo.toml)"
grep -q -- "--bin $bin_name" "$DOCKERFILE" || fail "$DOCKERFILE does not build the [[bin]] $bin_name"
built="$(sed -n 's|.*install -D -m 0755 .*/release/'"$bin_name"' \(/[^ ]*\).*|\1|p' "$DOCKERFILE")"
read -r _ from copied_from copied_to < <(grep '^COPY --from=builder' "$DOCKERFILE")
[ -n "$built" ] && [ "$copied_from" = "$built" ] \
  || fail "$DOCKERFILE: the runtime copies ${copied_from:-nothing} but the builder installs ${built:-nothing}"
[ "$copied_to" = "$binary" ] || fail "$DOCKERFILE installs the binary at $copied_to, the unit runs $binary"
grep -q "^ENTRYPOINT \[\"$(basename "$binary")\"\]" "$DOCKERFILE" || fail "$DOCKERFILE's ENTRYPOINT is not $(basename "$binary")"
# Both run `serve` with the same configuration file, and both keep data at storage.path.
unit_config="$(sed -n 's/.*--config \([^ ]*\).*/\1/p' <<<"$exec_start")"
grep -q "^CMD \[\"serve\", \"--config\", \"$unit_config\"\]" "$DOCKERFILE" \
  || fail "$DOCKERFILE's CMD does not serve --config $unit_config as the unit does"
storage="$(awk '/^storage:/ { s = 1; next } s && /^  path:/ { print $2; exit }' "$CONFIG")"
[ "$(unit_value ReadWritePaths)" = "$storage" ] || fail "$UNIT's ReadWritePaths is not storage.path ($storage)"
grep -q "^VOLUME $storage\$" "$DOCKERFILE" || fail "$DOCKERFILE's VOLUME is not storage.path ($storage)"
port="$(sed -n 's/^ENV PACER_SERVER_ADDR=.*:\([0-9]*\)$/\1/p' "$DOCKERFILE")"
grep -q "^EXPOSE $port\$" "$DOCKERFILE" || fail "$DOCKERFILE listens on port ${port:-?} but does not EXPOSE it"

# 3. The example configuration, through the real loader, with a throwaway App key and secret.
say "example configuration ($CONFIG)"
pacer_bin="${PACER_BIN:-}"
for candidate in "$CARGO_TARGET_DIR/release/pacer" "$CARGO_TARGET_DIR/debug/pacer"; do
  [ -n "$pacer_bin" ] || [ ! -x "$candidate" ] || pacer_bin="$candidate"
done
if [ -n "$pacer_bin" ] && command -v openssl >/dev/null; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  openssl genrsa -out "$scratch/app.pem" 2048 2>/dev/null
  PACER_GITHUB_PRIVATE_KEY_PATH="$scratch/app.pem" PACER_GITHUB_WEBHOOK_SECRET=check-packaging-secret \
    "$pacer_bin" check-config --config "$CONFIG" >"$scratch/out" 2>&1 \
    || fail "$pacer_bin check-config $CONFIG: $(cat "$scratch/out")"
else
  echo "no pacer binary built (or no openssl): $CONFIG not checked by the loader"
fi

if [ "$failures" -gt 0 ]; then
  echo "check-packaging: $failures problem(s)" >&2
  exit 1
fi
say "packaging checks passed"
