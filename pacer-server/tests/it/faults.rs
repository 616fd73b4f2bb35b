//! Faults at the boundaries (issue 19): a launch call that never answers is cut off inside its
//! claim's life and retried with the same client token, so a job gets exactly one instance;
//! a full disk is answered with 503, loses nothing acknowledged, and Pacer resumes by itself
//! once space is freed; a group whose fsync fails in the middle of a burst (injected by the
//! test build's `fault-injection` feature of pacer-store) answers none of its callers with a 2xx
//! and leaves no snapshot that a restart could trust beyond the log.

use crate::support::faults::{HangingProxy, SmallDisk};
use crate::support::pacer::{queued_deliveries, read_log};
use crate::support::queued_job;
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
    let body = queued_job(401);
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

/// Issue 23: a burst's claims launch as one batch; a crash while EC2 starts the batch (its answer
/// never arrives) and a restart resume the same batch with the same client token, which finds
/// the instances the interrupted call started: no job gets a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_a_batched_launch_launches_no_job_twice() {
    let mut world = World::new().await;
    let moto = world.setup.moto.clone();
    // The first launch is held (holding the only permit) until four more jobs are queued; then
    // they are claimed in one round and launched in one call that EC2 carries out but never
    // answers.
    let batch_of_four = "TotalTargetCapacity=4";
    let proxy = HangingProxy::swallowing(&moto, &["CreateFleet"], batch_of_four).await;
    world.setup.moto = proxy.url.clone();
    world.setup.env.extend([
        // Longer than the held first call can take on a loaded machine.
        ("PACER_AWS_OPERATION_TIMEOUT_SECONDS".to_owned(), "60".to_owned()),
        ("PACER_DISPATCHER_MAX_CONCURRENT_LAUNCHES".to_owned(), "1".to_owned()),
        // The batch's instances are not orphans while it is resumed.
        ("PACER_REAPER_ORPHAN_GRACE_MINUTES".to_owned(), "10".to_owned()),
    ]);
    let pacer = world.setup.start().await;
    for id in 501..=505 {
        assert_eq!(pacer.workflow_job(&format!("d-batch-{id}"), &queued_job(id)).await.0, 200);
        if id == 501 {
            pacer
                .wait_for("the first launch", Duration::from_secs(30), || async { proxy.chosen_calls() == 1 })
                .await;
        }
    }
    pacer.wait_jobs("queued", 4, Duration::from_secs(30)).await;
    proxy.release_first();
    // EC2 (moto) carries the batch's call out; the answer stays in the proxy.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while world.managed_instances().await.len() < 5 {
        assert!(std::time::Instant::now() < deadline, "the five instances never came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.managed_instances().await.len(), 5, "the first job's and the batch's four");
    pacer.kill_9();
    drop(pacer);

    world.setup.moto = moto;
    let pacer = world.setup.start().await;
    pacer.wait_jobs("starting", 5, Duration::from_secs(60)).await;
    let live: BTreeSet<String> = world.managed_instances().await.into_iter().collect();
    let records = pacer.stop();
    let mut per_job: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for record in &records {
        if let Event::JobSpawnLaunched(l) = &record.event {
            per_job.entry(l.job.0).or_default().push(l.instance.instance_id.clone());
        }
    }
    assert_eq!(per_job.len(), 5, "{per_job:?}");
    assert!(per_job.values().all(|i| i.len() == 1), "a job launched twice: {per_job:?}");
    let launched: BTreeSet<String> = per_job.into_values().flatten().collect();
    assert_eq!(live, launched, "every live instance is a job's, none started twice");
}

/// Sends queued webhooks `ids`, returning the deliveries acknowledged and the first status
/// that was not a 2xx.
async fn send(pacer: &crate::support::pacer::Pacer, ids: std::ops::Range<u64>) -> (Vec<String>, Option<u16>) {
    let mut acked = Vec::new();
    for id in ids {
        let delivery = format!("d-{id}");
        let body = queued_job(id);
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
    let queued: BTreeSet<&str> = queued_deliveries(&records).into_iter().collect();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_mid_burst_answers_no_2xx_for_its_group_and_a_restart_trusts_only_the_log() {
    let mut world = World::new().await;
    // The group holding the 40th record after the import fails its fsync, once.
    let fail_at = read_log(&world.setup.data()).len() + 40;
    world.setup.env.push(("PACER_STORE_FAIL_SYNC_AT_SEQ".into(), fail_at.to_string()));
    let pacer = world.setup.start().await;

    // A burst from eight senders at once, so the failing group holds several callers' records.
    // The first sender refused asks /readyz at once (Pacer retries its log every 5 s).
    let ready = tokio::sync::OnceCell::new();
    let senders = (0..8u64).map(|sender| {
        let (pacer, ready) = (&pacer, &ready);
        async move {
            let mut answers = Vec::new();
            for id in (0..25).map(|i| 5_000 + sender * 25 + i) {
                let delivery = format!("d-{id}");
                let body = queued_job(id);
                let status = pacer.workflow_job(&delivery, &body).await.0;
                if status == 503 {
                    ready
                        .get_or_init(|| async {
                            let answer =
                                pacer.http.get(format!("{}/readyz", pacer.url)).send().await.expect("readyz");
                            (
                                answer.status().as_u16(),
                                answer.json::<serde_json::Value>().await.unwrap_or_default(),
                            )
                        })
                        .await;
                }
                answers.push((delivery, status));
            }
            answers
        }
    });
    let answers: Vec<(String, u16)> =
        futures::future::join_all(senders).await.into_iter().flatten().collect();
    let refused: Vec<&String> = answers.iter().filter(|(_, s)| *s == 503).map(|(d, _)| d).collect();
    assert!(answers.iter().all(|(_, s)| *s == 200 || *s == 503), "{answers:?}");
    assert!(!refused.is_empty(), "the failed group's callers are refused");
    let (status, reason) = ready.get().expect("/readyz asked after the first refusal");
    assert_eq!(*status, 503, "{reason}");
    assert!(reason["message"].as_str().is_some_and(|m| m.contains("fsync failed")), "{reason}");

    // Stopped while its log may still be failed: it writes no snapshot the log does not back.
    let records = pacer.stop();
    let queued = queued_deliveries(&records);
    let acked: Vec<&String> = answers.iter().filter(|(_, s)| *s == 200).map(|(d, _)| d).collect();
    let lost: Vec<&&String> = acked.iter().filter(|d| !queued.contains(&d.as_str())).collect();
    assert!(lost.is_empty(), "acknowledged deliveries lost: {lost:?}");
    let replay =
        world.setup.command().args(["replay", "--data"]).arg(world.setup.data()).output().expect("replay");
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{said}");

    // Restarted (without the fault), it uses no snapshot the log contradicts, and GitHub's
    // redelivery of what was refused is taken, each delivery exactly once.
    world.setup.env.retain(|(name, _)| name != "PACER_STORE_FAIL_SYNC_AT_SEQ");
    let again = world.setup.start().await;
    assert!(!again.logs().contains("snapshot not used"), "{}", again.logs());
    for delivery in &refused {
        let id: u64 = delivery.trim_start_matches("d-").parse().expect("an id");
        let body = queued_job(id);
        assert_eq!(again.workflow_job(delivery, &body).await.0, 200, "{delivery} redelivered");
    }
    let records = again.stop();
    let mut queued = queued_deliveries(&records);
    queued.sort_unstable();
    let expected: Vec<String> = (5_000..5_200).map(|id| format!("d-{id}")).collect();
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(queued, expected, "every delivery is one job");
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>(), "no gap and no seq given twice");
}
