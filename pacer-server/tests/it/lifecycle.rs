//! The happy path: a signed webhook becomes a launched instance, a registered runner, a running
//! job and a completed, costed job; the instance is torn down as soon as its work is over and
//! its end recorded; every transition is in the log with its actor.

use crate::support::pacer::{find, names, of_job};
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::{Actor, Event, ReapReason};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_becomes_a_runner_and_a_costed_completed_job() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let queued = queued_job(7_000_000_001);
    let (status, answer) = pacer.workflow_job("d-queued", &queued).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")), "{answer}");
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instances = world.managed_instances().await;
    assert_eq!(instances.len(), 1, "one instance for one job");
    let instance = &instances[0];

    // The runner on the instance: bootstrap (once), register, and GitHub's webhooks.
    let (status, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(instance).await).await;
    assert_eq!(status, 200, "{boot}");
    let token = boot["callback_token"].as_str().expect("callback token").to_owned();
    assert_eq!(boot["runner_name"], format!("pacer-{instance}"));
    let (again, _) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(instance).await).await;
    assert_eq!(again, 410, "bootstrap is single use");
    let (bad, _) = pacer.callback("bootstrap", "wrong-token", world.proof(instance).await).await;
    assert_eq!(bad, 401);
    let (status, registration) = pacer.callback("register", &token, json!({})).await;
    assert_eq!(status, 200, "{registration}");
    assert!(registration["encoded_jit_config"].as_str().is_some_and(|c| c.starts_with("jit-config-for-")));
    let jit = world.github.calls_to("POST /repos/octo/hello/actions/runners/generate-jitconfig");
    assert_eq!(jit.len(), 1);
    assert_eq!(jit[0].body["name"], format!("pacer-{instance}"));
    assert_eq!(jit[0].body["labels"], json!(["self-hosted", "platform", "default", "octo-hello"]));
    assert_eq!(jit[0].body["runner_group_id"], 1);
    assert_eq!(world.github.violations(), Vec::<String>::new(), "requests match GitHub's schemas");
    pacer.wait_jobs("running", 1, Duration::from_secs(10)).await;

    let mut progress = queued.clone();
    progress["action"] = "in_progress".into();
    progress["workflow_job"]["runner_name"] = format!("pacer-{instance}").into();
    assert_eq!(pacer.workflow_job("d-progress", &progress).await.0, 200);
    // The runner exits and reports (once), then GitHub concludes the job.
    assert_eq!(pacer.callback("complete", &token, json!({"exit_code": 0})).await.0, 200);
    let mut done = progress.clone();
    done["action"] = "completed".into();
    done["workflow_job"]["conclusion"] = "success".into();
    assert_eq!(pacer.workflow_job("d-done", &done).await.0, 200);
    pacer.wait_jobs("completed", 1, Duration::from_secs(10)).await;
    // Its work over, the reaper tears the instance down without waiting for its next pass.
    pacer
        .wait_for("the instance's end", Duration::from_secs(30), || async {
            pacer.metric("pacer_instances").await == 0.0
        })
        .await;

    let records = pacer.stop();
    let job = find(&records, |e| matches!(e, Event::JobQueued(_))).map(|r| match &r.event {
        Event::JobQueued(q) => q.job.0,
        _ => 0,
    });
    let timeline = of_job(&records, job.expect("queued"));
    let steps: Vec<(&str, String)> =
        timeline.iter().map(|r| (r.event.name().as_str(), r.actor.to_string())).collect();
    let runner = format!("runner:{instance}");
    assert_eq!(
        steps,
        [
            ("job.queued", "github".to_owned()),
            ("job.claimed", "system".to_owned()),
            ("job.spawn_launched", "system".to_owned()),
            ("runner.bootstrapped", runner.clone()),
            ("instance.registered", runner.clone()),
            ("job.started", runner.clone()),
            ("webhook.absorbed", "github".to_owned()),
            ("runner.completed", runner.clone()),
            ("job.completed", "github".to_owned()),
        ],
        "all: {:?}",
        names(&records)
    );
    let completed = timeline.iter().find_map(|r| match &r.event {
        Event::JobCompleted(c) => Some(c.end.clone()),
        _ => None,
    });
    let completed = completed.expect("completed");
    assert!(completed.cost.is_some_and(|c| c.0 > 0), "cost from the pricing stub: {completed:?}");
    assert_eq!(completed.instance.as_deref(), Some(instance.as_str()));
    let launched = find(&records, |e| matches!(e, Event::JobSpawnLaunched(_)));
    assert!(matches!(&launched.map(|r| &r.event), Some(Event::JobSpawnLaunched(l)) if l.price.is_some()));
    assert!(
        find(&records, |e| matches!(e, Event::InstanceReaped(r)
            if &r.instance == instance && r.reason == ReapReason::JobEnded && r.job.is_none()))
        .is_some(),
        "torn down, the verdict left to GitHub: {:?}",
        names(&records)
    );
    let queued_actor = timeline.first().map(|r| (&r.actor, r.request_id.as_deref()));
    assert_eq!(queued_actor, Some((&Actor::GitHub, Some("d-queued"))), "the delivery id is the request id");
}
