//! Crash safety: kill -9 in the middle of a burst of 500 webhooks. After a restart every delivery
//! that got a 2xx is a job, and every instance tagged as Pacer's is accounted for (known to the
//! log, or found as an orphan and terminated).

use crate::support::pacer::{queued_deliveries, read_log};
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::Event;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_burst_loses_no_acknowledged_delivery() {
    let world = World::new().await;
    let pacer = Arc::new(world.setup.start().await);
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut senders = Vec::new();
    for lane in 0..16u64 {
        let (pacer, acked) = (pacer.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..32u64 {
                let n = lane * 32 + i;
                if n >= 500 {
                    break;
                }
                let delivery = format!("burst-{n}");
                let body = queued_job(500_000 + n);
                let sent = pacer
                    .http
                    .post(format!("{}/api/webhook", pacer.url))
                    .header("x-github-event", "workflow_job")
                    .header("x-github-delivery", &delivery)
                    .header(
                        "x-hub-signature-256",
                        pacer_server::webhook_signature(
                            crate::support::pacer::SECRET.as_bytes(),
                            body.to_string().as_bytes(),
                        ),
                    )
                    .body(body.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().unwrap_or_else(|p| p.into_inner()).insert(delivery);
                    }
                    _ => break, // the process is gone
                }
            }
        }));
    }
    // Kill once about half the burst is acknowledged.
    while acked.lock().unwrap_or_else(|p| p.into_inner()).len() < 250 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pacer.kill_9();
    for sender in senders {
        let _ = sender.await;
    }
    drop(pacer);
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();

    // Restart, let the reaper sweep once, stop, and check.
    let pacer = world.setup.start().await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let live = world.managed_instances().await;
    let records = pacer.stop();
    let queued: BTreeSet<&str> = queued_deliveries(&records).into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|d| !queued.contains(d.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged deliveries lost: {lost:?}", lost.len());
    assert!(acked.len() >= 250);
    let known: BTreeSet<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobSpawnLaunched(l) => Some(l.instance.instance_id.clone()),
            _ => None,
        })
        .collect();
    let unaccounted: Vec<&String> = live.iter().filter(|i| !known.contains(*i)).collect();
    assert!(unaccounted.is_empty(), "live instances the log does not know: {unaccounted:?}");
    assert_eq!(read_log(&world.setup.data()).len(), records.len());
}

/// Issue 19: a reader polling the jobs API during a burst never sees a job that a kill -9 then
/// loses, because readers see only durable records. Twenty rounds, each killed mid-burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_a_reader_saw_survives_kill_9() {
    // The pool's cap (5) keeps all but a few jobs queued: few instances for moto to start.
    let world = World::new().await;
    let mut seen_in_all: BTreeSet<u64> = BTreeSet::new();
    for round in 0..20u64 {
        let pacer = Arc::new(world.setup.start().await);
        let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut senders = Vec::new();
        for lane in 0..8u64 {
            let (pacer, acked) = (pacer.clone(), acked.clone());
            senders.push(tokio::spawn(async move {
                for i in 0..25u64 {
                    let id = 10_000_000 + round * 1_000 + lane * 25 + i;
                    let body = queued_job(id);
                    match pacer.workflow_job(&format!("r-{id}"), &body).await.0 {
                        200..=299 => acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                        _ => break,
                    };
                }
            }));
        }
        let reader = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                let mut seen = BTreeSet::new();
                let query = serde_json::json!({"query": "{ jobs(first: 500) { nodes { githubJobId } } }"});
                loop {
                    let Ok(answer) =
                        pacer.http.post(format!("{}/graphql", pacer.url)).json(&query).send().await
                    else {
                        return seen;
                    };
                    let Ok(body) = answer.json::<serde_json::Value>().await else { return seen };
                    let nodes = body["data"]["jobs"]["nodes"].as_array().cloned().unwrap_or_default();
                    let id = |n: &serde_json::Value| {
                        let id = &n["githubJobId"];
                        id.as_u64().or_else(|| id.as_str()?.parse().ok())
                    };
                    seen.extend(nodes.iter().filter_map(id));
                }
            })
        };
        while acked.load(std::sync::atomic::Ordering::SeqCst) < 100 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        pacer.kill_9();
        for sender in senders {
            let _ = sender.await;
        }
        let seen = reader.await.expect("reader");
        drop(pacer);
        seen_in_all.extend(seen.iter().copied().filter(|id| *id >= 10_000_000));
        let restarted = world.setup.start().await;
        let records = restarted.stop();
        let known: BTreeSet<u64> = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::JobQueued(q) => Some(q.github_job_id),
                _ => None,
            })
            .collect();
        let lost: Vec<&u64> = seen_in_all.iter().filter(|id| !known.contains(id)).collect();
        assert!(lost.is_empty(), "round {round}: the reader saw jobs the restart does not have: {lost:?}");
    }
    assert!(seen_in_all.len() >= 20 * 50, "the reader saw jobs in every round ({})", seen_in_all.len());
}
