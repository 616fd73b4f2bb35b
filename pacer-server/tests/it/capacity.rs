//! Capacity faults through moto's fault injection: every type faulted → the job waits
//! for its scheduled retry (30 s) and then launches once capacity is back; twelve faulted
//! attempts (with the backoff shortened by configuration) fail the job; a spot pool that falls
//! back launches on-demand at once, and the pool's next job goes on-demand straight away.

use crate::support::pacer::find;
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::{Event, Market};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_fault_retries_at_the_scheduled_time_then_launches() {
    let world = World::new().await;
    world.aws.set_faults(serde_json::json!({"m5.large": "InsufficientInstanceCapacity", "c5.large": "InsufficientInstanceCapacity"}));
    let pacer = world.setup.start().await;
    let body = queued_job(301);
    pacer.workflow_job("d-1", &body).await;
    pacer
        .wait_for("the first failed attempt", Duration::from_secs(30), || async {
            pacer
                .metric("pacer_aws_errors_total{call=\"launch\",code=\"InsufficientInstanceCapacity\"}")
                .await
                >= 1.0
        })
        .await;
    pacer.wait_jobs("queued", 1, Duration::from_secs(10)).await;
    world.aws.set_faults(serde_json::json!({}));
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let records = pacer.stop();
    let retry = find(&records, |e| matches!(e, Event::JobSpawnRetry(_))).expect("a retry was scheduled");
    let launched = find(&records, |e| matches!(e, Event::JobSpawnLaunched(_))).expect("launched");
    match (&retry.event, &launched.event) {
        (Event::JobSpawnRetry(r), Event::JobSpawnLaunched(l)) => {
            assert!(r.burns_attempt);
            assert_eq!(r.error.code, "InsufficientInstanceCapacity");
            assert_eq!(r.next_retry_at.millis() - retry.at.millis(), 30_000, "first backoff is 30 s");
            assert!(launched.at >= r.next_retry_at, "not before the scheduled time");
            assert_eq!(l.attempt, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_capacity_faults_fail_the_job() {
    let mut world = World::bare().await;
    world.setup.backoff_seconds = Some(vec![1]);
    world.setup.import(&world.backup(serde_json::json!({})));
    world.aws.set_faults(
        serde_json::json!({"m5.large": "InsufficientInstanceCapacity", "c5.large": "UnfulfillableCapacity"}),
    );
    let pacer = world.setup.start().await;
    let body = queued_job(302);
    pacer.workflow_job("d-1", &body).await;
    pacer.wait_jobs("failed", 1, Duration::from_secs(90)).await;
    assert!(world.managed_instances().await.is_empty(), "nothing was launched");
    let records = pacer.stop();
    let retries: Vec<u32> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobSpawnRetry(retry) => Some(retry.attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, (1..=11).collect::<Vec<_>>());
    let failed =
        find(&records, |e| matches!(e, Event::JobSpawnFailed(f) if f.attempt == 12)).expect("spawn failed");
    let message = records.iter().find_map(|r| match &r.event {
        Event::JobFailed(f) => Some(f.message.clone()),
        _ => None,
    });
    assert!(message.is_some_and(|m| m.contains("no capacity after 12 attempts")), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_capacity_fault_falls_back_to_on_demand_at_once_and_the_pool_cools_down() {
    let world = World::bare().await;
    world.setup.import(&world.backup(serde_json::json!({"spot": true, "on_demand_fallback": true})));
    world.aws.set_faults(serde_json::json!({
        "m5.large/spot": "InsufficientInstanceCapacity",
        "c5.large/spot": "InsufficientInstanceCapacity",
    }));
    let pacer = world.setup.start().await;
    pacer.workflow_job("d-1", &queued_job(303)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(20)).await;
    // The pool's next job skips spot while the pool cools down.
    pacer.workflow_job("d-2", &queued_job(304)).await;
    pacer.wait_jobs("starting", 2, Duration::from_secs(20)).await;
    let records = pacer.stop();
    let retry = find(&records, |e| matches!(e, Event::JobSpawnRetry(_))).expect("a fallback");
    let Event::JobSpawnRetry(fallback) = &retry.event else { unreachable!() };
    assert_eq!(
        (fallback.next_market, fallback.next_retry_at),
        (Market::OnDemand, retry.at),
        "no backoff first"
    );
    let launches: Vec<(u32, Market)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobSpawnLaunched(l) => Some((l.attempt, l.instance.market)),
            _ => None,
        })
        .collect();
    assert_eq!(launches, [(2, Market::OnDemand), (1, Market::OnDemand)]);
    let retries = records.iter().filter(|r| matches!(r.event, Event::JobSpawnRetry(_))).count();
    assert_eq!(retries, 1, "the second job never tried spot");
}
