//! SPEC §14: kill -9 in the middle of a burst of 500 webhooks. After a restart every delivery
//! that got a 2xx is a job, and every instance tagged as Pacer's is accounted for (known to the
//! log, or found as an orphan and terminated).

use crate::support::pacer::read_log;
use crate::support::webhook_example;
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
                let body = webhook_example(
                    "workflow_job.05.queued.json",
                    "queued",
                    500_000 + n,
                    "octo/hello",
                    &["self-hosted"],
                );
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
    let queued: BTreeSet<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobQueued(q) => Some(q.delivery_id.clone()),
            _ => None,
        })
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|d| !queued.contains(*d)).collect();
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
