//! EC2's rate limits in the real binary: a launch EC2 throttles is tried again by Pacer's rate
//! limiter itself, after the SDK's own retries, so the job gets its instance without a
//! `job.spawn_retry` (no attempt spent, no retry scheduled); and `/metrics` shows every bucket,
//! as configured: its tokens, its refill (halved by the throttle), its throttles and waits.

use crate::support::faults::ThrottlingProxy;
use crate::support::pacer::{Pacer, of_job};
use crate::support::queued_job;
use crate::support::world::World;
use pacer_aws::Bucket;
use pacer_domain::Event;
use std::time::Duration;

const SERIES: [&str; 4] = [
    "pacer_aws_rate_limit_tokens",
    "pacer_aws_rate_limit_refill_per_second",
    "pacer_aws_rate_limit_throttles_total",
    "pacer_aws_rate_limit_waits_total",
];

async fn metrics(pacer: &Pacer) -> String {
    let response = pacer.http.get(format!("{}/metrics", pacer.url)).send().await.expect("GET /metrics");
    response.text().await.expect("metrics text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_launch_costs_no_attempt_and_metrics_show_every_bucket() {
    let mut world = World::new().await;
    // The SDK tries a call three times before it gives up; the first three CreateFleet calls
    // are throttled, so Pacer sees one throttle and its own retry gets the instance.
    let proxy = ThrottlingProxy::start(&world.setup.moto, &["CreateFleet"], 3).await;
    world.setup.moto = proxy.url.clone();
    world.setup.env.extend(
        [
            ("AWS_RETRY_MODE", "standard"),
            ("AWS_MAX_ATTEMPTS", "3"),
            ("PACER_AWS_RATE_LIMITS_DESCRIBE", "40/8"),
            ("PACER_AWS_RATE_LIMITS_INSTANCES_LAUNCHED", "10/1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let pacer = world.setup.start().await;

    // Every series of every bucket is there from the start.
    let text = metrics(&pacer).await;
    for bucket in Bucket::ALL {
        for series in SERIES {
            let sample = format!("\n{series}{{bucket=\"{}\"}} ", bucket.name());
            assert!(text.contains(&sample), "{sample:?} missing:\n{text}");
        }
    }
    assert!(text.contains("# TYPE pacer_aws_rate_limit_throttles_total counter\n"), "{text}");

    pacer.workflow_job("d-throttled", &queued_job(501)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let fleet = |series: &str| format!("{series}{{bucket=\"create_fleet\"}}");
    assert_eq!(pacer.metric(&fleet("pacer_aws_rate_limit_throttles_total")).await, 1.0);
    assert_eq!(pacer.metric(&fleet("pacer_aws_rate_limit_waits_total")).await, 1.0, "the retry waited");
    let refill = pacer.metric(&fleet("pacer_aws_rate_limit_refill_per_second")).await;
    assert!((2.5..5.0).contains(&refill), "halved from 5 per second, climbing back: {refill}");
    assert_eq!(proxy.chosen_calls(), 4, "three throttled calls (the SDK's tries), then Pacer's retry");
    assert_eq!(world.managed_instances().await.len(), 1, "one instance");
    // The configured limits, as the configuration set them.
    let describe = pacer.metric("pacer_aws_rate_limit_refill_per_second{bucket=\"describe\"}").await;
    assert_eq!(describe, 8.0);
    let launched = pacer.metric("pacer_aws_rate_limit_tokens{bucket=\"instances_launched\"}").await;
    assert!((9.0..=10.0).contains(&launched), "one of 10 taken, refilling at 1 per second: {launched}");

    let records = pacer.stop();
    let job = records
        .iter()
        .find_map(|r| match &r.event {
            Event::JobSpawnLaunched(e) => Some(e.job.0),
            _ => None,
        })
        .expect("the job launched");
    let spawns: Vec<&'static str> = of_job(&records, job)
        .iter()
        .map(|r| r.event.name().as_str())
        .filter(|name| name.starts_with("job.spawn"))
        .collect();
    assert_eq!(spawns, ["job.spawn_launched"], "no retry recorded, no attempt spent");
}
