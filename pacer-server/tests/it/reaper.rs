//! The reaper against moto: a job past its pool's max runtime is reaped (runner deregistered,
//! instance terminated); an instance that vanishes fails its job (stage ec2); a tagged instance
//! the log does not know is found and terminated; stopped instances, known or not, are
//! terminated too (their volumes cost money), and `reconcileNow` says what its pass did.

use crate::support::pacer::find;
use crate::support::queued_job;
use crate::support::world::World;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use pacer_domain::{Event, FailureStage};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overstays_losses_and_orphans_are_handled() {
    let world = World::bare().await;
    world.setup.import(&world.backup(json!({"max_runtime_minutes": 1})));
    let pacer = world.setup.start().await;

    // An orphan: tagged like Pacer's, unknown to its log.
    let orphan = run_orphan(&world, Some("999")).await;

    // Job 1 will overstay; job 2 will lose its instance.
    let job = |id: u64| queued_job(id);
    pacer.workflow_job("d-1", &job(201)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let overstaying = world.managed_instances().await.into_iter().find(|i| *i != orphan).expect("instance");
    let (_, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(&overstaying).await).await;
    let token = boot["callback_token"].as_str().expect("token").to_owned();
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 200);
    pacer.wait_jobs("running", 1, Duration::from_secs(10)).await;

    pacer.workflow_job("d-2", &job(202)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let lost = world
        .managed_instances()
        .await
        .into_iter()
        .find(|i| *i != orphan && *i != overstaying)
        .expect("second instance");
    world.terminate(&lost).await;

    pacer.wait_jobs("failed", 1, Duration::from_secs(30)).await;
    pacer
        .wait_for("the orphan's termination", Duration::from_secs(30), || async {
            !world.managed_instances().await.contains(&orphan)
        })
        .await;
    pacer.wait_jobs("reaped", 1, Duration::from_secs(90)).await;
    assert!(
        !world.managed_instances().await.contains(&overstaying),
        "the overstaying instance is terminated"
    );
    let deleted = world.github.calls_to("DELETE /repos/octo/hello/actions/runners/");
    assert_eq!(deleted.len(), 1, "the reaped runner is deregistered");

    let records = pacer.stop();
    assert!(find(&records, |e| matches!(e, Event::InstanceOrphanFound(o) if o.instance == orphan && o.terminated && o.job_tag.as_deref() == Some("999"))).is_some());
    assert!(find(&records, |e| matches!(e, Event::InstanceLost(l) if l.instance == lost)).is_some());
    assert!(
        find(
            &records,
            |e| matches!(e, Event::JobFailed(f) if f.stage == FailureStage::Ec2 && f.message.contains(&lost))
        )
        .is_some()
    );
    assert!(find(&records, |e| matches!(e, Event::InstanceReaped(r) if r.instance == overstaying)).is_some());
    assert!(
        find(
            &records,
            |e| matches!(e, Event::JobReaped(r) if r.max_runtime_minutes == 1 && r.end.cost.is_some())
        )
        .is_some()
    );
}

/// Runs an instance tagged like Pacer's (with `job_tag` as its job when given) that the log
/// does not know; its id.
async fn run_orphan(world: &World, job_tag: Option<&str>) -> String {
    let mut tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key("gha:managed-by").value("pacer").build());
    if let Some(job) = job_tag {
        tags = tags.tags(Tag::builder().key("gha:job_id").value(job).build());
    }
    let run = world
        .ec2
        .run_instances()
        .image_id(&world.ami)
        .min_count(1)
        .max_count(1)
        .tag_specifications(tags.build());
    let out = run.send().await.expect("run an orphan");
    out.instances()[0].instance_id().expect("id").to_owned()
}

/// The state EC2 (moto) reports for `id`.
async fn state_of(world: &World, id: &str) -> String {
    let described = world.ec2.describe_instances().instance_ids(id).send().await.expect("describe");
    let instance = described.reservations()[0].instances()[0].clone();
    instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_instances_are_terminated_and_reconcile_now_reports_its_pass() {
    let world = World::bare().await;
    world.setup.import(&world.backup(json!({})));
    let pacer = world.setup.start().await;
    pacer.workflow_job("d-1", &queued_job(301)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let known = world.managed_instances().await.pop().expect("the job's instance");
    let orphan = run_orphan(&world, None).await;
    world.ec2.stop_instances().instance_ids(&known).instance_ids(&orphan).send().await.expect("stop both");
    for id in [&known, &orphan] {
        assert_eq!(state_of(&world, id).await, "stopped");
    }

    let (_, answer) = crate::auth::gql(
        &pacer,
        None,
        "mutation { reconcileNow { checked reaped gone stoppedTerminated orphans problems } }",
    )
    .await;
    let report = &answer["data"]["reconcileNow"];
    assert_eq!(
        report,
        &json!({"checked": 1, "reaped": 0, "gone": 1, "stoppedTerminated": 2, "orphans": 1, "problems": []}),
        "{answer}"
    );
    for id in [&known, &orphan] {
        let state = state_of(&world, id).await;
        assert!(state == "terminated" || state == "shutting-down", "{id} is {state}");
    }
    pacer.wait_jobs("failed", 1, Duration::from_secs(10)).await;
    let records = pacer.stop();
    assert!(find(&records, |e| matches!(e, Event::InstanceLost(l) if l.instance == known)).is_some());
    assert!(
        find(&records, |e| matches!(e, Event::InstanceOrphanFound(o) if o.instance == orphan && o.terminated && o.state == "stopped"))
            .is_some()
    );
}
