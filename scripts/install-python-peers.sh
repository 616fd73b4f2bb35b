#!/usr/bin/env bash
# Installs the Python test peers Pacer's AWS tests start (moto's EC2 server, patched by
# tools/aws/moto_faulty_server.py; moto's DynamoDB and S3, for the DynamoDB log's tests; and
# tools/aws/pricing_stub.py, which needs only the standard library) into a cached virtualenv:
#
#   ${PACER_PEERS_DIR:-$HOME/.cache/pacer/peers}/venv
#
# Idempotent: when the venv already holds exactly these requirements it returns at once.
# Needs python3 (>= 3.9) with either the venv module and ensurepip, or pip (Debian's
# python3-pip / python3-venv); as root on Debian it installs python3-venv when both are missing.
# Env: PACER_PEERS_DIR (cache folder), PACER_PYTHON (interpreter, default python3).
set -euo pipefail

REQUIREMENTS=("moto[server,ec2,dynamodb,s3]==5.2.5")
PEERS_DIR="${PACER_PEERS_DIR:-$HOME/.cache/pacer/peers}"
VENV="$PEERS_DIR/venv"
PYTHON="${PACER_PYTHON:-python3}"
STAMP="$VENV/.pacer-requirements"
WANT="$(printf '%s\n' "${REQUIREMENTS[@]}")"

log() { printf 'install-python-peers: %s\n' "$*" >&2; }

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] \
    && "$VENV/bin/python" -c 'import moto' 2>/dev/null; then
    log "up to date in $VENV"
    exit 0
fi

command -v "$PYTHON" >/dev/null || { log "$PYTHON not found; install python3 (>= 3.9)"; exit 1; }
mkdir -p "$PEERS_DIR"
rm -rf "$VENV"

# 1. the normal way: a venv with its own pip
if "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    PIP=("$VENV/bin/python" -m pip)
else
    rm -rf "$VENV"
    # 2. Debian without python3-venv: make it available when we may, else bring pip from outside
    if ! "$PYTHON" -c 'import ensurepip' 2>/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing Debian's python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; } || true
    fi
    if "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        PIP=("$VENV/bin/python" -m pip)
    else
        rm -rf "$VENV"
        "$PYTHON" -m venv --without-pip "$VENV"
        "$PYTHON" -m pip --version >/dev/null 2>&1 \
            || { log "neither ensurepip nor pip is available for $PYTHON; install python3-venv or python3-pip"; exit 1; }
        PIP=("$PYTHON" -m pip --python "$VENV/bin/python")
    fi
fi

log "installing ${REQUIREMENTS[*]} into $VENV (a few minutes the first time)"
"${PIP[@]}" install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
"$VENV/bin/python" -c 'import moto.server, moto.ec2, moto.iam, moto.dynamodb, moto.s3' \
    || { log "moto did not import after installing"; exit 1; }
printf '%s\n' "${REQUIREMENTS[@]}" >"$STAMP"
log "done: $VENV"
