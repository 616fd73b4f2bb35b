//! The user data every instance of a pool version boots with: a bash script that
//! reads the instance id and its AWS-signed identity document through IMDSv2, trades them and
//! the pool's bootstrap token for a per-instance callback token, downloads and checks the runner
//! when a version is pinned, runs the operator's `user_data_extra`, fetches its JIT config (a
//! warm instance waits there, in long polls, until a job takes it), runs the runner once, reports the
//! outcome (or the failing stage, exit code, line and the last 64 KiB of its log) and shuts
//! down, which terminates the instance. Secrets never reach a command line (which any process
//! on the instance can read): tokens go to curl as header files and bodies as files in a private
//! directory removed on exit, and the JIT config reaches the runner through its environment
//! (`ACTIONS_RUNNER_INPUT_JITCONFIG`). The endpoints it talks to can be redirected by
//! environment variables so tests can run it for real against local servers.

use pacer_domain::PoolSpec;

/// What the script needs beyond the pool.
#[derive(Clone, Debug)]
pub(crate) struct ScriptContext<'a> {
    /// Pacer's URL as instances reach it.
    pub public_url: &'a str,
    /// The bootstrap token (a secret; it ends up in the launch template's user data).
    pub bootstrap_token: &'a str,
    /// Base URL of runner releases (`…/releases/download`).
    pub runner_download_url: &'a str,
    /// `sha256//…` of Pacer's self-signed public key, checked instead of an authority.
    pub public_key_pin: Option<&'a str>,
}

const TEMPLATE: &str = r#"#!/bin/bash
# Pacer runner bootstrap for pool {{POOL}}; rendered by pacer {{VERSION}}.
set -Eeuo pipefail
umask 077

PACER_URL="${PACER_URL:-{{PUBLIC_URL}}}"
BOOTSTRAP_TOKEN='{{BOOTSTRAP_TOKEN}}'
# Set when Pacer's certificate is self-signed: curl trusts it by this public-key pin instead of
# a certificate authority (and refuses any other key).
PUBLIC_KEY_PIN='{{PUBLIC_KEY_PIN}}'
RUNNER_VERSION='{{RUNNER_VERSION}}'
RUNNER_USER='{{RUNNER_USER}}'
RUNNER_DOWNLOAD_URL="${PACER_RUNNER_DOWNLOAD_URL:-{{DOWNLOAD_URL}}}"
RUNNER_DIR="${PACER_RUNNER_DIR:-/opt/actions-runner}"
IMDS="${PACER_IMDS_URL:-http://169.254.169.254}"
SHUTDOWN="${PACER_SHUTDOWN_COMMAND:-shutdown -h now}"
LOG_FILE="${PACER_LOG_FILE:-/var/log/pacer-runner.log}"
RETRY_SECONDS="${PACER_RETRY_SECONDS:-5}"
HEARTBEAT_SECONDS="${PACER_HEARTBEAT_SECONDS:-{{HEARTBEAT_SECONDS}}}"
CLOUD_INSTANCE_DIR="${PACER_CLOUD_INSTANCE_DIR:-/var/lib/cloud/instance}"
# Where the callback token and this script (for every later boot) are kept: an instance of a
# pool's stopped warm capacity is stopped once ready and started again when a job takes it.
STATE_DIR="${PACER_STATE_DIR:-/var/lib/pacer}"
PER_BOOT_DIR="${PACER_PER_BOOT_DIR:-/var/lib/cloud/scripts/per-boot}"
STAGE=boot
CALLBACK_TOKEN=""
SECRETS=$(mktemp -d "${TMPDIR:-/tmp}/pacer.XXXXXX")
trap 'rm -rf "$SECRETS"' EXIT

mkdir -p "$(dirname "$LOG_FILE")"
exec > >(tee -a "$LOG_FILE") 2>&1

json_field() { sed -n "s/.*\"$1\":[ ]*\"\([^\"]*\)\".*/\1/p" | head -n 1; }
json_escape() { tr -d '\000-\010\013-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | awk 'BEGIN{ORS="\\n"} {print}'; }
finish() { sync || true; $SHUTDOWN; exit "${1:-0}"; }
# call PATH TOKEN BODY OUT [curl options…]: POSTs BODY to Pacer with TOKEN as bearer, both
# written by bash builtins to files only this script can read, so neither is on curl's argv;
# prints the HTTP status (000 when unreachable) and leaves the answer in OUT.
call() {
  local path=$1 token=$2 body=$3 out=$4 code tls=()
  shift 4
  if [ -n "$PUBLIC_KEY_PIN" ]; then tls=(--insecure --pinnedpubkey "$PUBLIC_KEY_PIN"); fi
  local headers="$SECRETS/headers.$BASHPID" data="$SECRETS/body.$BASHPID"
  printf 'Authorization: Bearer %s\nContent-Type: application/json\n' "$token" > "$headers"
  printf '%s' "$body" > "$data"
  code=$(curl -sS -o "$out" -w '%{http_code}' -X POST "$PACER_URL$path" -H @"$headers" \
    --data-binary @"$data" ${tls[@]+"${tls[@]}"} "$@") || true
  rm -f "$headers" "$data"
  printf '%s' "${code:-000}"
}

report_error() {
  local code=$1 line=$2
  trap - ERR
  echo "pacer: stage $STAGE failed with exit code $code at line $line"
  if [ -n "$CALLBACK_TOKEN" ]; then
    sleep 1 # let tee write what the failing command printed
    local tail_log
    tail_log=$(tail -c 65536 "$LOG_FILE" 2>/dev/null | json_escape || true)
    call /api/runner/error "$CALLBACK_TOKEN" \
      "{\"stage\":\"$STAGE\",\"exit_code\":$code,\"line\":$line,\"log\":\"$tail_log\"}" /dev/null \
      --max-time 30 --retry 5 --retry-all-errors >/dev/null || true
  fi
  finish "$code"
}
trap 'report_error $? $LINENO' ERR

STAGE=metadata
IMDS_TOKEN=$(curl -sSf --max-time 10 --retry 5 -X PUT "$IMDS/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')
INSTANCE_ID=$(curl -sSf --max-time 10 --retry 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/latest/meta-data/instance-id")
echo "pacer: instance $INSTANCE_ID"
# The instance's proof of identity: the document AWS signed for it, byte for byte, and the signature.
IDENTITY_DOCUMENT=$(curl -sSf --max-time 10 --retry 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/latest/dynamic/instance-identity/document" | base64 -w0)
IDENTITY_SIGNATURE=$(curl -sSf --max-time 10 --retry 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/latest/dynamic/instance-identity/signature" | tr -d '\n')

if [ -s "$STATE_DIR/callback-token" ]; then
  CALLBACK_TOKEN=$(cat "$STATE_DIR/callback-token")
  echo "pacer: started again; bootstrapped on the first boot"
else
  STAGE=bootstrap
  code=000
  for _ in $(seq 1 120); do
    code=$(call /api/runner/bootstrap "$BOOTSTRAP_TOKEN" \
      "{\"instance_id\":\"$INSTANCE_ID\",\"document\":\"$IDENTITY_DOCUMENT\",\"signature\":\"$IDENTITY_SIGNATURE\"}" \
      "$SECRETS/bootstrap.json" --max-time 15)
    case "$code" in
      200) break ;;
      409|000|429|502|503|504) sleep "$RETRY_SECONDS" ;;
      *) echo "pacer: bootstrap refused with HTTP $code"; finish 1 ;;
    esac
  done
  if [ "$code" != 200 ]; then echo "pacer: bootstrap gave up after HTTP $code"; finish 1; fi
  CALLBACK_TOKEN=$(json_field callback_token < "$SECRETS/bootstrap.json")
  rm -f "$SECRETS/bootstrap.json"
  mkdir -p "$STATE_DIR" "$PER_BOOT_DIR"
  printf '%s' "$CALLBACK_TOKEN" > "$STATE_DIR/callback-token"
  if [ -f "$CLOUD_INSTANCE_DIR/user-data.txt" ]; then
    sed "s/^BOOTSTRAP_TOKEN=.*/BOOTSTRAP_TOKEN=''/" "$CLOUD_INSTANCE_DIR/user-data.txt" > "$PER_BOOT_DIR/pacer-runner.sh"
    chmod 700 "$PER_BOOT_DIR/pacer-runner.sh"
  fi
  # cloud-init's copies of this user data hold the pool's bootstrap token: drop them (IMDS still
  # serves it; the token is useless without an unbootstrapped instance's own signed identity).
  rm -f "$CLOUD_INSTANCE_DIR"/user-data.txt* "$CLOUD_INSTANCE_DIR"/scripts/part-* 2>/dev/null || true
fi

installed() { [ -x "$RUNNER_DIR/config.sh" ] && [ "$(cd "$RUNNER_DIR" && ./config.sh --version | tr -d '[:space:]')" = "$RUNNER_VERSION" ]; }
if [ -n "$RUNNER_VERSION" ] && ! installed; then
  STAGE=download
  case "$(uname -m)" in
    x86_64) ARCH=x64 ;;
    aarch64|arm64) ARCH=arm64 ;;
    *) echo "pacer: unsupported architecture $(uname -m)"; false ;;
  esac
  mkdir -p "$RUNNER_DIR"
  curl -sSfL --max-time 300 --retry 5 -o /tmp/actions-runner.tar.gz \
    "$RUNNER_DOWNLOAD_URL/v$RUNNER_VERSION/actions-runner-linux-$ARCH-$RUNNER_VERSION.tar.gz"
  tar -xzf /tmp/actions-runner.tar.gz -C "$RUNNER_DIR"
  rm -f /tmp/actions-runner.tar.gz
  STAGE=verify
  found=$(cd "$RUNNER_DIR" && ./config.sh --version | tr -d '[:space:]')
  if [ "$found" != "$RUNNER_VERSION" ]; then echo "pacer: runner reports version $found, expected $RUNNER_VERSION"; false; fi
fi
test -x "$RUNNER_DIR/run.sh"

{{USER_DATA_EXTRA}}

STAGE=register
code=000
failures=0
while [ "$code" != 200 ]; do
  code=$(call /api/runner/register "$CALLBACK_TOKEN" '{}' "$SECRETS/register.json" --max-time 30)
  case "$code" in
    200) ;;
    # A warm instance waits for a job: Pacer holds each call until one takes it, or answers 409.
    409) failures=0; sleep 1 ;;
    204) echo "pacer: ready; Pacer stops this instance until a job needs it"; exit 0 ;;
    503|000|429|502|504)
      failures=$((failures + 1))
      if [ "$failures" -gt 60 ]; then echo "pacer: registration gave up after HTTP $code"; false; fi
      sleep $(( RETRY_SECONDS * (failures < 6 ? failures : 6) )) ;;
    *) echo "pacer: registration refused with HTTP $code: $(cat "$SECRETS/register.json" 2>/dev/null)"; false ;;
  esac
done
JIT_CONFIG=$(json_field encoded_jit_config < "$SECRETS/register.json")
rm -f "$SECRETS/register.json"

STAGE=run
# A heartbeat while the runner runs, for the console's "last seen" badge (each call writes its
# token and body to files of its own, so it never trips over the main script's calls).
( trap - ERR EXIT
  while true; do
    call /api/runner/heartbeat "$CALLBACK_TOKEN" '{}' /dev/null --max-time 10 >/dev/null || true
    sleep "$HEARTBEAT_SECONDS"
  done ) &
HEARTBEAT_PID=$!
# The runner reads any option from ACTIONS_RUNNER_INPUT_<NAME>: the JIT config stays off argv.
if [ -n "$RUNNER_USER" ]; then
  id "$RUNNER_USER" >/dev/null 2>&1 || useradd --create-home "$RUNNER_USER"
  chown -R "$RUNNER_USER" "$RUNNER_DIR"
  rc=0; (cd "$RUNNER_DIR" && ACTIONS_RUNNER_INPUT_JITCONFIG="$JIT_CONFIG" runuser -u "$RUNNER_USER" -- ./run.sh) || rc=$?
else
  export RUNNER_ALLOW_RUNASROOT=1
  rc=0; (cd "$RUNNER_DIR" && ACTIONS_RUNNER_INPUT_JITCONFIG="$JIT_CONFIG" ./run.sh) || rc=$?
fi
unset JIT_CONFIG
kill "$HEARTBEAT_PID" 2>/dev/null || true

STAGE=complete
trap - ERR
call /api/runner/complete "$CALLBACK_TOKEN" "{\"exit_code\":$rc}" /dev/null \
  --max-time 30 --retry 5 --retry-all-errors >/dev/null || true
echo "pacer: runner exited with $rc"
finish 0
"#;

/// Renders the user data of `pool`.
pub(crate) fn render(pool: &PoolSpec, context: &ScriptContext<'_>) -> String {
    let quoted = |value: &str| value.replace('\'', "'\\''");
    let extra = match &pool.user_data_extra {
        Some(extra) => format!(
            "STAGE=user_data_extra\n# --- user_data_extra of the pool ---\n{}\n# --- end of user_data_extra ---",
            extra.trim_end()
        ),
        None => String::new(),
    };
    TEMPLATE
        .replace("{{POOL}}", &pool.name.replace(['\n', '\r'], " "))
        .replace("{{VERSION}}", env!("CARGO_PKG_VERSION"))
        .replace(
            "{{PUBLIC_URL}}",
            &context.public_url.trim_end_matches('/').replace(['"', '$', '`', '\\'], ""),
        )
        .replace("{{BOOTSTRAP_TOKEN}}", &quoted(context.bootstrap_token))
        .replace("{{PUBLIC_KEY_PIN}}", &quoted(context.public_key_pin.unwrap_or_default()))
        .replace("{{RUNNER_VERSION}}", &quoted(pool.runner_version.as_deref().unwrap_or_default()))
        .replace("{{RUNNER_USER}}", &quoted(pool.runner_user.as_deref().unwrap_or_default()))
        .replace(
            "{{DOWNLOAD_URL}}",
            &context.runner_download_url.trim_end_matches('/').replace(['"', '$', '`', '\\'], ""),
        )
        .replace("{{HEARTBEAT_SECONDS}}", &crate::engine::HEARTBEAT_INTERVAL_SECONDS.to_string())
        .replace("{{USER_DATA_EXTRA}}", &extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolSpec {
        PoolSpec {
            name: "linux".into(),
            runner_version: Some("2.321.0".into()),
            runner_user: Some("runner".into()),
            user_data_extra: Some("apt-get install -y jq\n".into()),
            ..PoolSpec::default()
        }
    }

    #[test]
    fn renders_every_setting() {
        let script = render(
            &pool(),
            &ScriptContext {
                public_url: "https://pacer.example.com/",
                bootstrap_token: "tok'en",
                runner_download_url: "https://dl/",
                public_key_pin: Some("sha256//AAAA"),
            },
        );
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(script.contains(r#"PACER_URL="${PACER_URL:-https://pacer.example.com}""#));
        assert!(script.contains(r#"BOOTSTRAP_TOKEN='tok'\''en'"#));
        assert!(script.contains("RUNNER_VERSION='2.321.0'"));
        assert!(script.contains("PUBLIC_KEY_PIN='sha256//AAAA'"));
        assert!(script.contains("RUNNER_USER='runner'"));
        assert!(script.contains("apt-get install -y jq"));
        assert!(script.contains(r#"HEARTBEAT_SECONDS="${PACER_HEARTBEAT_SECONDS:-30}""#));
        assert!(script.contains("call /api/runner/heartbeat \"$CALLBACK_TOKEN\""));
        assert!(!script.contains("{{"), "every placeholder is filled");
        for line in script.lines().filter(|l| l.contains("curl ") || l.contains("run.sh")) {
            assert!(!line.contains("Bearer $"), "a token on curl's command line: {line}");
            assert!(!line.contains("--jitconfig"), "the JIT config on the runner's command line: {line}");
        }
        assert!(script.len() < 12 * 1024, "leaves room for user_data_extra under 16 KiB");
    }

    #[test]
    fn passes_bash_syntax_check() {
        let script = render(
            &pool(),
            &ScriptContext {
                public_url: "http://127.0.0.1:1",
                bootstrap_token: "t",
                runner_download_url: "http://127.0.0.1:1",
                public_key_pin: None,
            },
        );
        let status =
            std::process::Command::new("bash").args(["-n", "-c", &script]).status().expect("bash runs");
        assert!(status.success());
    }
}
