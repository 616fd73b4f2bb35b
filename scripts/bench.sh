#!/usr/bin/env bash
# Reruns every measurement recorded in BENCHMARKS.md and writes what it printed to
# $BENCH_OUT/bench-<date>.txt (default $CARGO_TARGET_DIR/bench-results).
#
#   bash scripts/bench.sh [build] [domain] [store] [server] [wrk] [durable] [api] [console] ...   (default: all)
#
# - build:   the release build, once, with one feature set: `cargo bench --workspace --no-run`
#            and `cargo build --release --workspace --bins --examples` (dev-dependencies are on
#            in both, so RocksDB's C++ is compiled once and shared). The console is embedded
#            from $PACER_CONSOLE_DIR (default: this target dir's console/dist, else the test
#            cache's ~/.cache/pacer/target/console/dist, else built by scripts/build-console.sh).
# - domain:  pacer-domain benches `fold` (fold and decide throughput) and `memory` (bytes per
#            retained job).
# - store:   pacer-store criterion benches `log` and `append` (durable appends, 1/64/256
#            appenders), then the `replay_scale` example at 1 M and 10 M events (replay from seq
#            0, peak RSS, snapshot, start from the snapshot; each step its own process).
# - server:  the `webhook_latency` example (in process, FakeCompute): webhook → launch-call
#            latency, the 1,000-job burst at 200 ms per launch, and queue time cold, from
#            stopped and from hot warm capacity (≈ 20 minutes).
# - wrk:     the release `pacer serve` (no project configured, so every delivery is durably
#            recorded as `job.ignored`; AWS and GitHub point at closed loopback ports) under Debian's
#            wrk with signed deliveries (tools/load/gen-signed-webhooks.py and
#            pacer-server/benches/webhooks.lua), then the `webhook_load` example at a fixed 5,000/s.
#            A single run's rate varies by ±20 % on the reference VM, so the 64-connection wrk run
#            and the 5,000/s run are repeated (BENCH_WRK_RUNS, default 5), each on a fresh server,
#            and summed up as every run's figure and the median.
# - durable: the 5,000/s load with a GraphQL reader polling beside it (webhook p99 and the
#            reader's latency: readers see only durable records), and the same load for 60 s
#            over a 10 M-event log while a snapshot is written (replay_scale makes the log, its
#            1.67 M jobs within the retention, so every snapshot holds all of them).
# - api:     the `api_bench` example (GraphQL pages over 1.7 M jobs, 1,000 WebSocket subscribers).
# - console: the size of the embedded console's wasm (raw, gzip -9), and, when Node, Chromium
#            and playwright-core are installed (scripts/install-node-peers.sh), first-render and
#            live-update timings against `pacer demo` (pacer-server/benches/console_timing.mjs).
#
# Examples run from the build step's binaries (`cargo run -p <crate>` would resolve another
# feature set and rebuild RocksDB), benches with `cargo bench --workspace --bench <name>`.
# Uses its own target dir so a concurrent `cargo test` is not blocked; heavy steps run under
# `nice -n 10`. All traffic stays on 127.0.0.1. Needs: wrk (apt-get install -y wrk), openssl,
# python3, curl; node + chromium for the console timings.
set -euo pipefail
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pacer/target-bench}"
source "$(dirname "$0")/env.sh"
cd "$PACER_ROOT"

if [ -z "${PACER_CONSOLE_DIR:-}" ]; then
  if [ -f "$CARGO_TARGET_DIR/console/dist/index.html" ]; then
    PACER_CONSOLE_DIR="$CARGO_TARGET_DIR/console/dist"
  elif [ -f "$HOME/.cache/pacer/target/console/dist/index.html" ]; then
    PACER_CONSOLE_DIR="$HOME/.cache/pacer/target/console/dist"
  else
    say "building the console (embedded into the pacer binary)"
    nice -n 10 bash scripts/build-console.sh
    PACER_CONSOLE_DIR="$CARGO_TARGET_DIR/console/dist"
  fi
fi
export PACER_CONSOLE_DIR

BENCH_OUT="${BENCH_OUT:-$CARGO_TARGET_DIR/bench-results}"
mkdir -p "$BENCH_OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pacer-bench.XXXXXX")"
RESULTS="$BENCH_OUT/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Another build's binaries for an A/B comparison: BENCH_RELEASE=DIR (a copy of a release/ directory).
RELEASE="${BENCH_RELEASE:-$CARGO_TARGET_DIR/release}"
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(build domain store server wrk durable api console)
wants() { local s; for s in "${STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
record() { tee -a "$RESULTS"; }
heading() { printf '\n## %s\n' "$*" | record; }

{
  echo "# pacer benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -r)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | record

# Waits for "pacer: listening on URL" in a log file; prints the URL.
listening_url() {
  local log="$1" i
  for i in $(seq 1 600); do
    if grep -q '^pacer: listening on ' "$log" 2>/dev/null; then
      sed -n 's/^pacer: listening on //p' "$log" | head -1
      return 0
    fi
    sleep 0.1
  done
  echo "pacer did not start; its log:" >&2
  cat "$log" >&2
  return 1
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

if wants build; then
  say "release build (benches, then binaries and examples)"
  nice -n 10 cargo bench --workspace --locked --no-run
  nice -n 10 cargo build --release --workspace --locked --bins --examples
fi

if wants domain; then
  heading "domain: fold and decide throughput (cargo bench --workspace --bench fold)"
  nice -n 10 cargo bench --workspace --locked --bench fold 2>/dev/null | grep -E '^(fold|decide)' | record
  heading "domain: memory per retained job (cargo bench --workspace --bench memory)"
  nice -n 10 cargo bench --workspace --locked --bench memory 2>/dev/null | grep -E '^memory' | record
fi

if wants store; then
  for bench in log append; do
    heading "store: criterion bench $bench (cargo bench --workspace --bench $bench)"
    nice -n 10 cargo bench --workspace --locked --bench "$bench" 2>/dev/null \
      | grep -E '^[a-z_]+/|time:|thrpt:' | record
  done
  for events in 1000000 10000000; do
    heading "store: replay_scale $events ($CARGO_TARGET_DIR/release/examples/replay_scale $events DIR)"
    "$RELEASE/examples/replay_scale" "$events" "$WORK/replay-$events" 2>&1 | record
    rm -rf "$WORK/replay-$events"
  done
fi

if wants server; then
  heading "server: webhook → launch call, the 1,000-job burst, queue time ($CARGO_TARGET_DIR/release/examples/webhook_latency all)"
  "$RELEASE/examples/webhook_latency" all 2>/dev/null | record
fi

SECRET="benchmark secret for wrk runs"
# Writes $1/pacer.yaml: a `pacer serve` on the data directory $1/data with no project (every
# delivery is durably recorded as `job.ignored`), AWS and GitHub on closed loopback ports.
serve_config() {
  mkdir -p "$1"
  [ -f "$1/app.pem" ] || openssl genrsa -traditional -out "$1/app.pem" 2048 2>/dev/null
  cat >"$1/pacer.yaml" <<EOF
server:
  addr: 127.0.0.1:0
storage:
  path: $1/data
  snapshot_every: 10000
aws:
  region: us-east-1
  endpoint_url: http://127.0.0.1:9
  pricing_endpoint_url: http://127.0.0.1:9
github:
  app_id: 4242
  private_key_path: $1/app.pem
  webhook_secret: "$SECRET"
  api_url: http://127.0.0.1:9
  redelivery_interval_seconds: 0
auth:
  disabled: true
reaper:
  interval_seconds: 3600
logging:
  level: warn
EOF
}
# Starts `pacer serve` with $1/pacer.yaml (stopping the one before, and emptying the data
# directory first unless $2 is `keep`); sets URL and PACER_PID.
serve_start() {
  if [ -n "${PACER_PID:-}" ]; then stop_pid "$PACER_PID"; fi
  [ "${2:-}" = keep ] || rm -rf "$1/data"
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true PACER_LOG="${PACER_LOG:-warn}" \
    "$RELEASE/pacer" serve --config "$1/pacer.yaml" >/dev/null 2>"$1/pacer.log" &
  PACER_PID=$!
  PIDS+=("$PACER_PID")
  URL="$(listening_url "$1/pacer.log")"
}
# The median of the numbers on stdin.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
RUNS="${BENCH_WRK_RUNS:-5}"

if wants wrk; then
  DIR="$WORK/serve"
  serve_config "$DIR"
  serve_fresh() { serve_start "$DIR"; }
  # CPU time (user + system) the server has used so far, in 10 ms ticks.
  server_ticks() { awk '{print $14 + $15}' "/proc/$PACER_PID/stat"; }
  # Enough that no run repeats one (a 10 s run at 32,000/s takes 320,000; ~7.5 KB each on disk).
  DELIVERIES="${BENCH_WRK_DELIVERIES:-420000}"
  say "signing $DELIVERIES deliveries for wrk"
  python3 "$PACER_ROOT/tools/load/gen-signed-webhooks.py" "$SECRET" "$DELIVERIES" \
    "$PACER_ROOT/testdata/webhooks/workflow_job.05.queued.json" "$DIR/deliveries.tsv"
  # Write the ~1.7 GB file back now: its writeback would otherwise slow the server's fsyncs.
  sync
  heading "wrk: signed webhooks against the release pacer serve (no project: every delivery is a durable job.ignored)"
  acks=()
  for connections in 64 16; do
    runs=1
    if [ "$connections" = 64 ]; then runs="$RUNS"; fi
    for _ in $(seq "$runs"); do
      serve_fresh
      echo "load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t2 -c$connections -d10s --latency -s pacer-server/benches/webhooks.lua URL/api/webhook -- 2" | record
      before="$(server_ticks)"
      out="$(WEBHOOKS_TSV="$DIR/deliveries.tsv" wrk -t2 -c"$connections" -d10s --latency \
        -s pacer-server/benches/webhooks.lua "$URL/api/webhook" -- 2 2>&1)"
      echo "$out" | record
      if [ "$connections" = 64 ]; then acks+=("$(echo "$out" | sed -n 's/^Requests\/sec: *//p')"); fi
      echo "server CPU during the run: $(( $(server_ticks) - before ))0 ms; outcomes (/metrics):" | record
      curl -s "$URL/metrics" | grep -E '^pacer_(webhooks_total|log_last_seq)' | record
    done
  done
  echo "64 connections, $RUNS runs: acks/s ${acks[*]}; median $(printf '%s\n' "${acks[@]}" | median)" | record
  p99s=()
  for rate in 2000 $(printf '5000 %.0s' $(seq "$RUNS")); do
    serve_fresh
    heading "fixed rate: $rate webhooks/s for 10 s (release/examples/webhook_load URL SECRET $rate 10), load $(cut -d' ' -f1-3 /proc/loadavg)"
    out="$("$RELEASE/examples/webhook_load" "$URL/api/webhook" "$SECRET" "$rate" 10 2>&1 || true)"
    echo "$out" | record
    if [ "$rate" = 5000 ]; then
      p99s+=("$(echo "$out" | sed -n 's/.*latency from due time:.* p99 \([0-9.]*\) ms,.*/\1/p')")
    fi
  done
  echo "5,000/s, $RUNS runs: p99 from the due time (ms) ${p99s[*]}; median $(printf '%s\n' "${p99s[@]}" | median)" | record
  stop_pid "$PACER_PID"
fi

if wants durable; then
  DIR="$WORK/durable"
  serve_config "$DIR"
  # A GraphQL reader polling as fast as it can beside the load: readers wait for the group
  # being written (they see only durable records), the webhooks should not.
  reads() { while :; do curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' \
    --data '{"query":"{ jobs(first: 50) { totalCount } }"}' "$URL/graphql"; done; }
  p99s=()
  for _ in $(seq "$RUNS"); do
    serve_start "$DIR"
    heading "5,000/s for 10 s with a GraphQL reader beside it, load $(cut -d' ' -f1-3 /proc/loadavg)"
    reads >"$DIR/reads.txt" & READER=$!
    out="$("$RELEASE/examples/webhook_load" "$URL/api/webhook" "$SECRET" 5000 10 2>&1 || true)"
    kill "$READER" 2>/dev/null || true; wait "$READER" 2>/dev/null || true
    echo "$out" | record
    p99s+=("$(echo "$out" | sed -n 's/.*latency from due time:.* p99 \([0-9.]*\) ms,.*/\1/p')")
    sort -n "$DIR/reads.txt" | awk '{v[NR] = $1 * 1000} END {printf "reader: %d reads, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", NR, v[int(NR * 0.5)], v[int(NR * 0.99)], v[NR]}' | record
  done
  echo "5,000/s with a reader, $RUNS runs: p99 from the due time (ms) ${p99s[*]}; median $(printf '%s\n' "${p99s[@]}" | median)" | record

  # The same load while snapshots of a 10 M-event state are written (from the log, on their own
  # thread): the snapshot loop looks every 30 s, so a 90 s run holds two or three.
  heading "5,000/s for 90 s over a 10 M-event log, a snapshot written during it (replay_scale 10000000, then snapshot_every 10000)"
  stop_pid "$PACER_PID"
  rm -rf "$DIR/data"
  PACER_SYNTHETIC_RECENT=1 "$RELEASE/examples/replay_scale" 10000000 "$DIR/data" 2>&1 | tail -3 | record
  # The freshly written log still being written back to disk would stall fsyncs by itself.
  sync
  PACER_LOG=info serve_start "$DIR" keep
  out="$("$RELEASE/examples/webhook_load" "$URL/api/webhook" "$SECRET" 5000 90 2>&1 || true)"
  echo "$out" | record
  # To line the per-second p99s up with the snapshots: when the load began (webhook_load says
  # when its first request was due) and when each snapshot was written.
  grep -E 'snapshot written|state loaded' "$DIR/pacer.log" | record
  stop_pid "$PACER_PID"
fi

if wants api; then
  heading "api: GraphQL pages and live delivery (release/examples/api_bench 1700000 1000 200)"
  ( ulimit -n 8192 2>/dev/null || true; "$RELEASE/examples/api_bench" 1700000 1000 200 2>&1 ) | record
fi

if wants console; then
  WASM="$PACER_CONSOLE_DIR/pacer-web_bg.wasm"
  heading "console: wasm size ($WASM)"
  if [ -f "$WASM" ]; then
    echo "raw $(stat -c %s "$WASM") bytes; gzip -9 $(gzip -9 -c "$WASM" | wc -c) bytes; JS glue $(stat -c %s "$PACER_CONSOLE_DIR/pacer-web.js") bytes raw, $(gzip -9 -c "$PACER_CONSOLE_DIR/pacer-web.js" | wc -c) gzipped" | record
  else
    echo "no built console at $PACER_CONSOLE_DIR" | record
  fi
  if command -v node >/dev/null && [ -x "${PACER_CHROMIUM:-/usr/bin/chromium}" ] \
    && [ -d "$PACER_PEERS_DIR/node/node_modules/playwright-core" ]; then
    DEMO="$WORK/demo"
    mkdir -p "$DEMO"
    "$RELEASE/pacer" demo --addr 127.0.0.1:0 --data "$DEMO/data" --job-interval 3600 >/dev/null 2>"$DEMO/pacer.log" &
    DEMO_PID=$!
    PIDS+=("$DEMO_PID")
    URL="$(listening_url "$DEMO/pacer.log")"
    PASSWORD="$(sed -n 's/^pacer: created the bootstrap user .* with password //p' "$DEMO/pacer.log" | head -1)"
    heading "console: timings in headless Chromium against pacer demo (node pacer-server/benches/console_timing.mjs URL PASSWORD DATA)"
    node pacer-server/benches/console_timing.mjs "$URL" "$PASSWORD" "$DEMO/data" 5 2>&1 | record
    stop_pid "$DEMO_PID"
  else
    echo "console timings skipped: node, chromium or playwright-core missing (scripts/install-node-peers.sh)" | record
  fi
fi

say "results: $RESULTS"
