//! Faults at the EC2 boundary (issue 19): a launch call that never answers is cut off inside
//! its claim's life and retried with the same client token, and a job gets exactly one
//! instance.

use crate::support::faults::HangingProxy;
use crate::support::webhook_example;
use crate::support::world::World;
use pacer_domain::Event;
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
