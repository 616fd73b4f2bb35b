//! A fixed-rate (open-loop) load of signed `workflow_job` webhooks against a running Pacer
//! (BENCHMARKS.md, issue 4), for the latency at a given offered load, which wrk (closed-loop)
//! cannot hold steady. Every delivery is distinct (its own `X-GitHub-Delivery` and
//! `workflow_job.id`) and signed with the given secret; they are all made before the clock
//! starts. Request `i` is due at `start + i / RATE`; its latency is measured from when it was
//! due (so a stall is not hidden by requests that were never sent: no coordinated omission)
//! and, for comparison, from when it was actually sent. Every answer's HTTP status and
//! `status` field are counted; anything but 2xx is reported. Against Pacer it also prints the
//! server's own answer time over the run, from `pacer_webhook_duration_seconds` on `/metrics`.
//!
//! Run (`bash scripts/bench.sh wrk` does, against `pacer serve`), after `cargo build --release
//! --workspace --locked --bins --examples`:
//! `$CARGO_TARGET_DIR/release/examples/webhook_load URL SECRET RATE SECONDS [TEMPLATE]`,
//! e.g. `webhook_load http://127.0.0.1:3000/api/webhook 'the secret' 5000 10`
//! (TEMPLATE defaults to `testdata/webhooks/workflow_job.05.queued.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One signed delivery, ready to post.
struct Delivery {
    id: String,
    signature: String,
    body: bytes::Bytes,
}

/// What one request gave.
struct Outcome {
    due: Instant,
    sent: Instant,
    done: Instant,
    status: u16,
    answer: String,
}

fn default_template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/webhooks/workflow_job.05.queued.json")
}

/// Deliveries `first..first + count`: the template with `workflow_job.id`/`run_id` replaced (through
/// a placeholder in the serialised text, so making them is cheap), each signed.
fn deliveries(template: &PathBuf, secret: &str, first: u64, count: u64) -> Vec<Delivery> {
    let text = std::fs::read_to_string(template).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    let mut body: serde_json::Value = serde_json::from_str(&text).expect("the template is JSON");
    body["workflow_job"]["id"] = 987_654_321_012_345_u64.into();
    body["workflow_job"]["run_id"] = 987_654_321_054_321_u64.into();
    let text = body.to_string();
    assert!(text.matches("987654321012345").count() == 1 && text.matches("987654321054321").count() == 1);
    let run = std::process::id() as u64 * 1_000_000_000;
    (first..first + count)
        .map(|i| {
            let job = 70_000_000_000 + run + i;
            let body = text
                .replace("987654321012345", &job.to_string())
                .replace("987654321054321", &(job / 4).to_string())
                .into_bytes();
            let signature = pacer_server::webhook_signature(secret.as_bytes(), &body);
            Delivery { id: format!("load-{}-{i}", std::process::id()), signature, body: body.into() }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

fn report(name: &str, mut values: Vec<Duration>) {
    values.sort();
    println!(
        "  {name}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(&values, 0.50),
        percentile(&values, 0.90),
        percentile(&values, 0.99),
        percentile(&values, 0.999),
        percentile(&values, 1.0)
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, secret, rate, seconds, rest @ ..] = args.as_slice() else {
        eprintln!("usage: webhook_load URL SECRET RATE SECONDS [TEMPLATE]");
        std::process::exit(2);
    };
    let rate: u64 = rate.parse().expect("RATE: requests per second");
    let seconds: u64 = seconds.parse().expect("SECONDS: duration");
    let template = rest.first().map(PathBuf::from).unwrap_or_else(default_template);
    let count = rate * seconds;
    let made = Instant::now();
    let posts = deliveries(&template, secret, 0, count);
    eprintln!("made {count} signed deliveries in {:.1} s", made.elapsed().as_secs_f64());
    let http = reqwest::Client::builder().pool_max_idle_per_host(1_024).build().expect("http client");
    let url: Arc<str> = url.as_str().into();
    // One unmeasured request opens a connection and checks the secret.
    let warm = deliveries(&template, secret, count, 1).pop().expect("one delivery");
    let status = post(&http, &url, &warm).await.0;
    assert!((200..300).contains(&status), "the warm-up webhook answered {status}");

    let answer_times_before = answer_time_buckets(&http, &url).await;

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (day_ms, s) = (wall.as_millis() % 86_400_000, wall.as_secs() % 86_400);
    eprintln!(
        "first request due at {:02}:{:02}:{:02}.{:03} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60,
        day_ms % 1000
    );
    let mut tasks = Vec::with_capacity(posts.len());
    for (i, delivery) in posts.into_iter().enumerate() {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let (status, answer) = post(&http, &url, &delivery).await;
            Outcome { due, sent, done: Instant::now(), status, answer }
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("a request task"));
    }
    let elapsed = outcomes.iter().map(|o| o.done).max().map_or(Duration::ZERO, |d| d.duration_since(started));
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in &outcomes {
        *statuses.entry(format!("{} {}", outcome.status, outcome.answer)).or_default() += 1;
    }
    let non_2xx = outcomes.iter().filter(|o| !(200..300).contains(&o.status)).count();
    println!(
        "offered {rate}/s for {seconds} s: {} requests answered in {:.2} s = {:.0}/s; non-2xx {non_2xx}; answers {statuses:?}",
        outcomes.len(),
        elapsed.as_secs_f64(),
        outcomes.len() as f64 / elapsed.as_secs_f64()
    );
    report("latency from due time", outcomes.iter().map(|o| o.done.duration_since(o.due)).collect());
    report("latency from send", outcomes.iter().map(|o| o.done.duration_since(o.sent)).collect());
    // Whether the tail is spread over the run or a stall of a few moments.
    let mut by_second: Vec<Vec<Duration>> = vec![Vec::new(); seconds as usize + 1];
    for o in &outcomes {
        let second = (o.due.duration_since(started).as_secs() as usize).min(seconds as usize);
        by_second[second].push(o.done.duration_since(o.due));
    }
    let p99s: Vec<String> = by_second
        .iter_mut()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.sort();
            format!("{:.1}", percentile(v, 0.99))
        })
        .collect();
    println!("  p99 from due time per second of the run (ms): {}", p99s.join(" "));
    if let (Some(before), Some(after)) = (answer_times_before, answer_time_buckets(&http, &url).await) {
        report_answer_times(&before, &after);
    }
    if non_2xx > 0 {
        std::process::exit(1);
    }
}

/// The cumulative buckets (upper bound in seconds, count) of `pacer_webhook_duration_seconds` at
/// the `/metrics` of the Pacer behind `url`: how long the server took from a body received to
/// its answer ready, which leaves out the client, the kernel and the sockets.
async fn answer_time_buckets(http: &reqwest::Client, url: &str) -> Option<Vec<(f64, u64)>> {
    let base = url.strip_suffix("/api/webhook")?;
    let text = http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    let buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|line| {
            let (le, count) =
                line.strip_prefix("pacer_webhook_duration_seconds_bucket{le=\"")?.split_once("\"} ")?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    (!buckets.is_empty()).then_some(buckets)
}

/// The server's answer-time quantiles over the run, as the bucket bounds they fall under.
fn report_answer_times(before: &[(f64, u64)], after: &[(f64, u64)]) {
    let during: Vec<(f64, u64)> =
        after.iter().zip(before).map(|(&(le, now), &(_, then))| (le, now.saturating_sub(then))).collect();
    let total = during.last().map_or(0, |&(_, count)| count);
    let bound = |p: f64| {
        during
            .iter()
            .find(|&&(_, count)| count as f64 >= p * total as f64)
            .map_or("?".to_owned(), |&(le, _)| format!("{}", le * 1e3))
    };
    println!(
        "  server-side answer time (pacer_webhook_duration_seconds, {total} webhooks): p50 ≤ {} ms, p99 ≤ {} ms, p99.9 ≤ {} ms",
        bound(0.5),
        bound(0.99),
        bound(0.999)
    );
}

/// Posts one delivery: (HTTP status, the answer's `status` field or the transport error).
async fn post(http: &reqwest::Client, url: &str, delivery: &Delivery) -> (u16, String) {
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", "workflow_job")
        .header("x-github-delivery", &delivery.id)
        .header("x-hub-signature-256", &delivery.signature)
        .body(delivery.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            (status, answer["status"].as_str().unwrap_or("?").to_owned())
        }
        Err(error) => (0, format!("transport error: {error}")),
    }
}
