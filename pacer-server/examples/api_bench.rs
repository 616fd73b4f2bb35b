//! GraphQL API benchmark (BENCHMARKS.md, "API"): a data directory holding JOBS synthetic job
//! lifecycles (six events each, so 1.7 M jobs make about 10 M events) is opened by a real Pacer
//! (FakeCompute, simulated GitHub, auth off), then:
//! - the jobs page (50, status filter), a 90-day stats window and the audit page filtered by
//!   action are each run many times through the schema, reporting p50 / p99;
//! - SUBSCRIBERS WebSocket clients (`graphql-transport-ws`) subscribe to `events` while signed
//!   webhooks arrive; every record's delivery latency (receipt − record time) is reported, and
//!   every subscriber must receive every record.
//!
//! Run: `cargo run --release -p pacer-server --example api_bench -- [JOBS] [SUBSCRIBERS] [WEBHOOKS]`
//! (defaults 1700000 1000 200). Needs `ulimit -n` ≥ 4 × SUBSCRIBERS.

#[path = "../../pacer-store/examples/synthetic/mod.rs"]
mod synthetic;

use futures::{SinkExt, StreamExt};
use pacer_aws::{Compute, FakeCompute, FakeSettings};
use pacer_domain::Actor;
use pacer_server::{
    Auth, EngineSettings, PacerSchema, Peers, Principal, Secret, ServerOptions, SimulatedGitHub, SystemClock,
    start,
};
use pacer_store::{Batch, EventLog, NewRecord, RocksLog};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "api benchmark webhook secret";

fn arg(n: usize, default: u64) -> u64 {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// (p50, p99, max) of `samples`.
fn percentiles(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        samples.get(((samples.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(0.0)
    };
    (at(0.50), at(0.99), samples.last().copied().unwrap_or(0.0))
}

/// Runs `query` `times` times; (p50, p99, max) in milliseconds.
async fn time_query(schema: &PacerSchema, query: &str, times: usize) -> (f64, f64, f64) {
    let mut samples = Vec::with_capacity(times);
    for _ in 0..times {
        let started = Instant::now();
        let response = schema.execute(async_graphql::Request::new(query).data(Principal::Operator)).await;
        samples.push(started.elapsed().as_secs_f64() * 1_000.0);
        assert!(response.errors.is_empty(), "{query}: {:?}", response.errors);
    }
    percentiles(samples)
}

fn write_log(dir: &std::path::Path, jobs: u64) {
    let log = RocksLog::open(dir).expect("open the log");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    for (at, event) in synthetic::job_events(jobs) {
        pending.push(NewRecord { at, actor: Actor::System, request_id: None, event });
        if pending.len() == 10_000 {
            log.append(Batch { records: std::mem::take(&mut pending), ..Batch::default() }).expect("append");
        }
    }
    log.append(Batch { records: pending, ..Batch::default() }).expect("append");
    println!(
        "log: {} records for {jobs} jobs written in {:.1} s",
        log.last_seq(),
        started.elapsed().as_secs_f64()
    );
}

/// One subscriber: connects, subscribes to every record from now, and returns the latency of
/// each record it received until it saw `last` (sent on the channel once known).
async fn subscriber(url: String, mut last: tokio::sync::watch::Receiver<u64>) -> Vec<f64> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("init");
    let subscribe =
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events { seq at } }"}});
    socket.send(Message::text(subscribe.to_string())).await.expect("subscribe");
    let mut latencies = Vec::new();
    let mut seen = 0u64;
    loop {
        let target = *last.borrow();
        if target != 0 && seen >= target {
            return latencies;
        }
        tokio::select! {
            message = socket.next() => {
                let Some(Ok(Message::Text(text))) = message else {
                    if message.is_none() { return latencies; }
                    continue;
                };
                let received = wall_ms();
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let event = &value["payload"]["data"]["events"];
                let (Some(seq), Some(at)) = (event["seq"].as_str(), event["at"].as_str()) else { continue };
                let at = pacer_domain::Timestamp::parse_rfc3339(at).map(|t| t.millis()).unwrap_or(received);
                latencies.push((received - at) as f64);
                seen = seq.parse().unwrap_or(seen);
            }
            _ = last.changed() => {}
        }
    }
}

fn webhook(i: u64) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/webhooks/workflow_job.05.queued.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut body: Value = serde_json::from_str(&text).expect("json");
    body["action"] = "queued".into();
    body["workflow_job"]["id"] = (30_000_000_000 + i).into();
    body["workflow_job"]["run_id"] = (40_000_000_000 + i).into();
    body["workflow_job"]["labels"] = json!(["self-hosted", "project-2", "pool-0"]);
    body["repository"]["full_name"] = "acme/repo-1".into();
    body["installation"] = json!({"id": 4242});
    body.to_string().into_bytes()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let jobs = arg(1, 1_700_000);
    let subscribers = arg(2, 1_000) as usize;
    let webhooks = arg(3, 200);
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), jobs);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let settings = EngineSettings {
        public_url: format!("http://{addr}"),
        runner_download_url: "https://github.com/actions/runner/releases/download".into(),
        max_concurrent_launches: 32,
        sweep: Duration::from_secs(5),
        reaper_interval: Duration::from_secs(3_600),
        orphan_grace: Duration::from_secs(3_600),
        redelivery_interval: Duration::ZERO,
        snapshot_every: u64::MAX,
        retry_policy: pacer_domain::RetryPolicy::default(),
        public_key_pin: None,
        data_dir: std::path::PathBuf::new(),
        retention: pacer_server::RetentionConfig::default(),
    };
    let auth = Arc::new(Auth::new(true, "admin@pacer.local".into(), 12, false, None));
    let github_app = std::sync::Arc::new(pacer_server::AppSetup::configured(Secret::new(SECRET)));
    let options = ServerOptions {
        github_app: github_app.clone(),
        auth: auth.clone(),
        trusted_proxies: Vec::new(),
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        tls: pacer_server::TlsConfig::default(),
        limits: pacer_server::ConnectionLimits::default(),
    };
    let fake = Arc::new(FakeCompute::new(FakeSettings::new(1)));
    let peers = Peers {
        compute: fake as Arc<dyn Compute>,
        github: Arc::new(SimulatedGitHub::default()),
        clock: Arc::new(SystemClock),
        identity: Arc::new(pacer_aws::IdentityVerifier::trusting("us-east-1", Vec::new())),
    };
    let started = Instant::now();
    let running = start(dir.path(), settings, options, peers, listener).await.expect("start");
    println!("start (replay from seq 0, no snapshot): {:.1} s", started.elapsed().as_secs_f64());
    let schema = pacer_server::schema(running.engine.clone(), auth, github_app);

    let first = "2026-05-28T00:00:00.000Z";
    let to = "2026-08-26T00:00:00.000Z";
    let queries = [
        ("jobs page of 50, status FAILED", "{ jobs(first: 50, filter: {statuses: [FAILED]}) { totalCount nodes { id repo sender status cost { formatted } } pageInfo { endCursor } } }".to_owned(), 5.0),
        ("jobs page of 50, no filter", "{ jobs(first: 50) { totalCount nodes { id repo sender status } } }".to_owned(), 5.0),
        ("stats, 90 days by project", format!("{{ stats(window: {{from: \"{first}\", to: \"{to}\"}}, groupBy: PROJECT) {{ totals {{ jobs runnerSeconds cost {{ micros }} }} rows {{ key jobs }} }} }}"), 10.0),
        ("stats, 90 days by repo", format!("{{ stats(window: {{from: \"{first}\", to: \"{to}\"}}, groupBy: REPO) {{ totals {{ jobs }} rows {{ key jobs }} }} }}"), 10.0),
        ("top senders, 90 days", format!("{{ topSenders(window: {{from: \"{first}\", to: \"{to}\"}}) {{ sender jobs }} }}"), 10.0),
        ("audit page of 50, action job.failed", "{ audit(first: 50, filter: {action: \"job.failed\"}) { failures entries { seq action actor payload } pageInfo { endCursor } } }".to_owned(), 10.0),
        ("audit page of 50, no filter", "{ audit(first: 50) { entries { seq action payload } } }".to_owned(), 10.0),
    ];
    println!("\n| query | p50 ms | p99 ms | max ms | goal p99 ms |\n|---|---|---|---|---|");
    for (name, query, goal) in &queries {
        let _ = time_query(&schema, query, 20).await; // warm-up
        let (p50, p99, max) = time_query(&schema, query, 500).await;
        println!("| {name} | {p50:.2} | {p99:.2} | {max:.2} | {goal} |");
    }

    // Live delivery to many WebSocket subscribers.
    let (last_tx, last_rx) = tokio::sync::watch::channel(0u64);
    let url = format!("ws://{addr}/graphql");
    let before = running.engine.app.log().last_seq();
    let clients: Vec<_> =
        (0..subscribers).map(|_| tokio::spawn(subscriber(url.clone(), last_rx.clone()))).collect();
    // Every subscriber is connected once the server has answered them all; give them time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let http = reqwest::Client::new();
    let posting = Instant::now();
    for i in 0..webhooks {
        let body = webhook(i);
        let response = http
            .post(format!("http://{addr}/api/webhook"))
            .header("content-type", "application/json")
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", format!("bench-{i}"))
            .header("x-hub-signature-256", pacer_server::webhook_signature(SECRET.as_bytes(), &body))
            .body(body)
            .send()
            .await
            .expect("webhook");
        assert!(response.status().is_success(), "webhook refused: {}", response.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Wait until the engine has finished what the webhooks started.
    let mut settled = running.engine.app.log().last_seq();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = running.engine.app.log().last_seq();
        if now == settled {
            break;
        }
        settled = now;
    }
    let _ = last_tx.send(settled);
    let expected = settled - before;
    let mut latencies = Vec::new();
    let mut complete = 0;
    for client in clients {
        if let Ok(Ok(received)) = tokio::time::timeout(Duration::from_secs(60), client).await {
            if received.len() as u64 >= expected {
                complete += 1;
            }
            latencies.extend(received);
        }
    }
    let delivered = latencies.len();
    let (p50, p99, max) = percentiles(latencies);
    println!(
        "\nlive: {subscribers} subscribers, {webhooks} webhooks over {:.1} s → {expected} records each; {complete} subscribers got every record; {delivered} deliveries; latency p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms (goal p99 < 100 ms)",
        posting.elapsed().as_secs_f64()
    );
    running.shutdown().await;
}
