//! Bursts of what writes the vault (issue 19): 200 runners bootstrapping at once and 100
//! sign-ins (four at a time, as many password checks as Pacer runs at once, each from an address
//! of its own behind a trusted proxy) while webhooks keep arriving. Every callback token and
//! session that was answered survives kill -9. The webhooks' latency before and during the
//! burst is printed (and kept in BENCHMARKS.md), not asserted: speed is for benchmarks.

use crate::auth::{ADMIN, gql, printed_password};
use crate::support::pacer::Pacer;
use crate::support::world::World;
use crate::support::{queued_job, webhook_example};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const RUNNERS: u64 = 200;
const SIGN_INS: usize = 100;

/// Sends a webhook every 10 ms until `stop`, answering each one's latency in order.
async fn probe(pacer: Arc<Pacer>, stop: Arc<AtomicBool>) -> Vec<Duration> {
    static SENT: AtomicU64 = AtomicU64::new(0);
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let n = SENT.fetch_add(1, Ordering::Relaxed);
        let body = webhook_example(
            "workflow_job.05.queued.json",
            "queued",
            7_300_000_000 + n,
            "octo/elsewhere",
            &["self-hosted"],
        );
        let started = Instant::now();
        assert_eq!(pacer.workflow_job(&format!("probe-{n}"), &body).await.0, 200);
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies
}

/// Runs `work` while [`probe`] sends webhooks beside it: its answer and their latencies.
async fn probed<T>(pacer: &Arc<Pacer>, work: impl std::future::Future<Output = T>) -> (T, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let probing = tokio::spawn(probe(pacer.clone(), stop.clone()));
    let answer = work.await;
    stop.store(true, Ordering::Relaxed);
    (answer, probing.await.expect("probe"))
}

fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    format!(
        "{} webhooks, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// A password sign-in from `address` (behind the trusted proxy): (status, session cookie).
async fn sign_in(pacer: &Pacer, address: &str, password: &str) -> (u16, Option<String>) {
    let response = pacer
        .http
        .post(format!("{}/auth/login", pacer.url))
        .header("x-pacer-request", "1")
        .header("x-forwarded-for", address)
        .json(&json!({"email": ADMIN, "password": password}))
        .send()
        .await
        .expect("login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .filter(|c| c.starts_with("pacer_session="))
        .map(str::to_owned);
    (response.status().as_u16(), cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_bootstraps_and_a_hundred_sign_ins_at_once_survive_kill_9() {
    let mut world = World::bare().await;
    world.setup.auth = format!("  local:\n    email: {ADMIN}\n");
    world.setup.env.push(("PACER_SERVER_TRUSTED_PROXIES".into(), "127.0.0.1".into()));
    world.setup.import(&world.backup(json!({ "cap": RUNNERS })));
    let pacer = Arc::new(world.setup.start().await);
    let password = printed_password(&pacer.logs()).expect("the bootstrap user's password");

    for n in 0..RUNNERS {
        let id = 7_200_000_000 + n;
        let queued = queued_job(id);
        assert_eq!(pacer.workflow_job(&format!("d-{id}"), &queued).await.0, 200);
    }
    pacer.wait_jobs("starting", RUNNERS as usize, Duration::from_secs(180)).await;
    let instances = world.managed_instances().await;
    assert_eq!(instances.len(), RUNNERS as usize, "one instance per job");
    let pool_token = world.bootstrap_token().await;
    let mut proofs = Vec::new();
    for instance in &instances {
        proofs.push(world.proof(instance).await);
    }

    let before = probed(&pacer, async { tokio::time::sleep(Duration::from_secs(3)).await }).await.1;

    // Every runner at once, with webhooks arriving.
    let ((tokens, took), during_bootstraps) = probed(&pacer, async {
        let started = Instant::now();
        let bootstraps: Vec<_> = proofs
            .into_iter()
            .map(|proof| {
                let (pacer, token) = (pacer.clone(), pool_token.clone());
                tokio::spawn(async move { pacer.callback("bootstrap", &token, proof).await })
            })
            .collect();
        let mut tokens = Vec::new();
        for bootstrap in bootstraps {
            let (status, answer) = bootstrap.await.expect("join");
            assert_eq!(status, 200, "{answer}");
            tokens.push(answer["callback_token"].as_str().expect("a callback token").to_owned());
        }
        (tokens, started.elapsed())
    })
    .await;
    println!(
        "during {RUNNERS} bootstraps at once ({:.1} s): {}",
        took.as_secs_f64(),
        summary(during_bootstraps)
    );

    // The sign-ins, four at a time, with webhooks arriving.
    let ((cookies, took), during_sign_ins) = probed(&pacer, async {
        let started = Instant::now();
        let mut cookies = Vec::new();
        for wave in 0..SIGN_INS / 4 {
            let answers: Vec<_> = (0..4)
                .map(|i| {
                    let (pacer, password) = (pacer.clone(), password.clone());
                    let address = format!("10.0.{wave}.{}", i + 1);
                    tokio::spawn(async move { sign_in(&pacer, &address, &password).await })
                })
                .collect();
            for answer in answers {
                let (status, cookie) = answer.await.expect("join");
                assert_eq!(status, 200, "sign-in {} of wave {wave}", cookies.len());
                cookies.push(cookie.expect("a session cookie"));
            }
        }
        (cookies, started.elapsed())
    })
    .await;
    println!("before the bursts: {}", summary(before));
    println!(
        "during {SIGN_INS} sign-ins, four at a time ({:.1} s): {}",
        took.as_secs_f64(),
        summary(during_sign_ins)
    );

    pacer.kill_9();
    drop(pacer);
    let pacer = world.setup.start().await;
    for token in &tokens {
        let (status, answer) = pacer.callback("register", token, json!({})).await;
        assert_eq!(status, 200, "a callback token answered before kill -9 still registers: {answer}");
    }
    for cookie in &cookies {
        let (status, body) = gql(&pacer, Some(cookie), "{ me { email } }").await;
        assert_eq!((status, body["data"]["me"]["email"].as_str()), (200, Some(ADMIN)), "{body}");
    }
    pacer.stop();
}
