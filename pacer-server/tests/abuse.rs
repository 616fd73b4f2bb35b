//! A stranger at full speed against the real binary: for 60 seconds, eight clients loop over
//! every door open without a session (password sign-in with ever new emails, SSO start and
//! callback with the flow cookie and an error, every runner callback with made-up tokens,
//! GraphQL without a session) while GitHub's pings keep arriving. The data directory may grow
//! by less than 1 MiB and every ping must be answered; the pings' latency before and during the
//! hammering is printed, not asserted (BENCHMARKS.md keeps the measurements). A test binary of
//! its own, so its full-speed minute never runs beside the timing-sensitive end-to-end tests.

#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

const ADMIN: &str = "admin@example.test";

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::oidc::{Provider, free_port};
use support::world::World;

/// How long the stranger hammers.
const HAMMER: Duration = Duration::from_secs(60);
/// Clients hammering at once.
const CLIENTS: usize = 8;

/// Bytes in the files below `dir` (apparent sizes: what was written, not what was preallocated).
fn bytes_below(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => bytes_below(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One stranger's round over every door; requests answered.
async fn round(http: &reqwest::Client, base: &str, n: u64) -> u64 {
    let mut answered = 0;
    let mut count = |response: reqwest::Result<reqwest::Response>| answered += u64::from(response.is_ok());
    let email = format!("stranger-{n}-{}@example.test", "x".repeat(200));
    count(
        http.post(format!("{base}/auth/login"))
            .header("x-pacer-request", "1")
            .json(&json!({"email": email, "password": "guess"}))
            .send()
            .await,
    );
    // SSO: start a flow, then come back with its cookie and a provider error.
    let start = http.get(format!("{base}/auth/oidc/start")).send().await;
    let flow = start.as_ref().ok().and_then(|r| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("pacer_oidc_state="))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
    });
    count(start);
    let state =
        flow.as_deref().and_then(|c| c.strip_prefix("pacer_oidc_state=")).unwrap_or("none").to_owned();
    let mut url = url::Url::parse(&format!("{base}/auth/oidc/callback")).expect("url");
    url.query_pairs_mut().append_pair("state", &state).append_pair("error", &"access_denied ".repeat(500));
    let mut callback = http.get(url);
    if let Some(flow) = &flow {
        callback = callback.header("cookie", flow);
    }
    count(callback.send().await);
    for path in ["bootstrap", "register", "complete", "error"] {
        count(
            http.post(format!("{base}/api/runner/{path}"))
                .bearer_auth(format!("pb1.1.0.{n:064x}"))
                .json(&json!({"instance_id": "i-0123456789abcdef0", "document": "e30=", "signature": "AAAA", "exit_code": 1, "stage": "x", "line": 1, "log": "y".repeat(60_000)}))
                .send()
                .await,
        );
    }
    count(
        http.post(format!("{base}/graphql"))
            .header("x-pacer-request", "1")
            .json(&json!({"query": "mutation { createProject(input: {name: \"x\"}) { id } }"}))
            .send()
            .await,
    );
    answered
}

/// Pings GitHub-style until `until`; the answer times, all of which must be 200.
async fn pings(pacer: &support::pacer::Pacer, prefix: &str, until: Instant) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let body = json!({"zen": "Keep it logically awesome.", "hook_id": 1}).to_string();
        let sent = Instant::now();
        let (status, _) = pacer.webhook("ping", &format!("{prefix}-{n}"), body.as_bytes(), None).await;
        times.push(sent.elapsed());
        assert_eq!(status, 200, "ping {n} answered");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    times
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort_unstable();
    times.get(((times.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stranger_at_full_speed_cannot_make_pacer_write() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&format!("{base}/auth/oidc/callback")).await;
    let mut world = World::bare().await;
    world.setup.addr = format!("127.0.0.1:{port}");
    world.setup.auth = format!(
        "  local:\n    email: {ADMIN}\n  oidc:\n    enabled: true\n    issuer: {}\n    client_id: console\n    allowed_emails: [alice@example.test]\n",
        provider.url
    );
    let pacer = world.setup.start().await;
    let baseline_until = Instant::now() + Duration::from_secs(5);
    let mut baseline = pings(&pacer, "before", baseline_until).await;
    let before = bytes_below(&world.setup.data());

    let answered = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + HAMMER;
    let strangers: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (base, answered) = (base.clone(), answered.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                let mut n = client as u64 * 1_000_000;
                while Instant::now() < until {
                    n += 1;
                    answered.fetch_add(round(&http, &base, n).await, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut during = pings(&pacer, "during", until).await;
    for stranger in strangers {
        stranger.await.expect("stranger");
    }
    let grown = bytes_below(&world.setup.data()).saturating_sub(before);
    let requests = answered.load(Ordering::Relaxed);
    eprintln!(
        "abuse: {requests} stranger requests in {HAMMER:?}; data directory grew {grown} bytes; ping p50/p99 before {:?}/{:?}, during {:?}/{:?}",
        percentile(&mut baseline, 0.5),
        percentile(&mut baseline, 0.99),
        percentile(&mut during, 0.5),
        percentile(&mut during, 0.99),
    );
    assert!(requests > 1_000, "the stranger was served at full speed: {requests} requests");
    assert!(grown < 1024 * 1024, "a stranger made Pacer write {grown} bytes in {HAMMER:?}");
    let records = pacer.stop();
    let by_stranger = records
        .iter()
        .filter(|r| matches!(r.event.name().as_str(), "auth.login_failed" | "auth.oidc.login_denied"))
        .count();
    assert!(by_stranger <= 2 * 30 + 2, "bounded records: {by_stranger}");
}
