//! Faults at the boundaries (issue 19): a launch call that never answers is cut off inside its
//! claim's life and retried with the same client token, so a job gets exactly one instance;
//! a full disk is answered with 503, loses nothing acknowledged, and Pacer resumes by itself
//! once space is freed.

use crate::support::faults::{HangingProxy, SmallDisk};
use crate::support::webhook_example;
use crate::support::world::World;
use pacer_domain::Event;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_call_that_hangs_ends_in_one_instance_for_one_job() {
    let mut world = World::new().await;
    let proxy = HangingProxy::start(&world.setup.moto, &["CreateFleet", "RunInstances"], 1).await;
    world.setup.moto = proxy.url.clone();
    world.setup.env.push(("PACER_AWS_OPERATION_TIMEOUT_SECONDS".into(), "2".into()));
    let pacer = world.setup.start().await;
    let body = webhook_example("workflow_job.05.queued.json", "queued", 401, "octo/hello", &["self-hosted"]);
    pacer.workflow_job("d-hang", &body).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    assert_eq!(proxy.chosen_calls(), 2, "the hung call, then its retry");
    assert_eq!(world.managed_instances().await.len(), 1, "one instance");
    let records = pacer.stop();
    let retries: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobSpawnRetry(retry) => Some((retry.error.code.clone(), retry.burns_attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [("TimeoutError".to_owned(), false)],
        "cut off by the operation timeout, no attempt burned"
    );
    let launched: Vec<u32> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobSpawnLaunched(l) => Some(l.attempt),
            _ => None,
        })
        .collect();
    assert_eq!(launched, [1], "one launch recorded, on the first attempt (the same client token)");
}

/// Sends queued webhooks `ids`, returning the deliveries acknowledged and the first status
/// that was not a 2xx.
async fn send(pacer: &crate::support::pacer::Pacer, ids: std::ops::Range<u64>) -> (Vec<String>, Option<u16>) {
    let mut acked = Vec::new();
    for id in ids {
        let delivery = format!("d-{id}");
        let body =
            webhook_example("workflow_job.05.queued.json", "queued", id, "octo/hello", &["self-hosted"]);
        match pacer.workflow_job(&delivery, &body).await.0 {
            200..=299 => acked.push(delivery),
            status => return (acked, Some(status)),
        }
    }
    (acked, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_acknowledged_and_pacer_resumes_once_space_is_freed() {
    let world = World::bare().await;
    let disk = SmallDisk::mount(&world.setup.data(), "16m");
    world.setup.import(&world.backup(serde_json::json!({})));
    let pacer = world.setup.start().await;
    let (mut acked, refused) = send(&pacer, 1_000..1_020).await;
    assert_eq!((acked.len(), refused), (20, None));

    disk.fill();
    let (more, refused) = send(&pacer, 2_000..2_500).await;
    acked.extend(more);
    assert_eq!(refused, Some(503), "a full disk refuses webhooks with 503");
    let ready = pacer.http.get(format!("{}/readyz", pacer.url)).send().await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    let reason: serde_json::Value = ready.json().await.expect("json");
    assert!(reason["message"].as_str().is_some_and(|m| m.contains("No space left")), "{reason}");

    disk.free();
    pacer
        .wait_for("storage recovered", Duration::from_secs(30), || async {
            let ready = pacer.http.get(format!("{}/readyz", pacer.url)).send().await;
            ready.is_ok_and(|r| r.status().is_success())
        })
        .await;
    let (resumed, refused) = send(&pacer, 3_000..3_020).await;
    assert_eq!((resumed.len(), refused), (20, None), "webhooks are taken again");
    acked.extend(resumed);

    let records = pacer.stop();
    let queued: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobQueued(q) => Some(q.delivery_id.as_str()),
            _ => None,
        })
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|d| !queued.contains(d.as_str())).collect();
    assert!(lost.is_empty(), "acknowledged deliveries lost: {lost:?}");
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>(), "no gap and no seq given twice");

    let replay =
        world.setup.command().args(["replay", "--data"]).arg(world.setup.data()).output().expect("replay");
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success() && said.contains("matches the rebuilt state"), "{said}");
    let again = world.setup.start().await;
    assert!(!again.logs().contains("snapshot not used"), "{}", again.logs());
    again.stop();
    drop(disk);
}
