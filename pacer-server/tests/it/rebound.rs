//! Runner rebinding: GitHub runs job A on the runner launched for job B. Both complete and
//! nothing stays active: B takes A's instance.

use crate::support::pacer::{Pacer, names};
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::Event;
use serde_json::json;
use std::time::Duration;

async fn register(world: &World, pacer: &Pacer, instance: &str) -> String {
    let (status, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(instance).await).await;
    assert_eq!(status, 200, "{boot}");
    let token = boot["callback_token"].as_str().expect("token").to_owned();
    let (status, answer) = pacer.callback("register", &token, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_on_another_jobs_runner_leaves_nothing_stuck() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let job = |id: u64| queued_job(id);
    let (a, b) = (job(101), job(102));
    assert_eq!(pacer.workflow_job("d-a", &a).await.1["status"], "queued");
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let first = world.managed_instances().await;
    assert_eq!(pacer.workflow_job("d-b", &b).await.1["status"], "queued");
    pacer.wait_jobs("starting", 2, Duration::from_secs(60)).await;
    let all = world.managed_instances().await;
    let instance_a = first[0].clone();
    let instance_b = all.iter().find(|i| **i != instance_a).expect("B's instance").clone();

    // B's runner registers first and GitHub hands it job A.
    let token_b = register(&world, &pacer, &instance_b).await;
    let on = |body: &serde_json::Value, action: &str, runner: &str, conclusion: Option<&str>| {
        let mut body = body.clone();
        body["action"] = action.into();
        body["workflow_job"]["runner_name"] = format!("pacer-{runner}").into();
        body["workflow_job"]["conclusion"] = conclusion.map(Into::into).unwrap_or(serde_json::Value::Null);
        body
    };
    assert_eq!(pacer.workflow_job("d-a-progress", &on(&a, "in_progress", &instance_b, None)).await.0, 200);
    // A's runner registers and takes job B.
    let token_a = register(&world, &pacer, &instance_a).await;
    assert_eq!(pacer.workflow_job("d-b-progress", &on(&b, "in_progress", &instance_a, None)).await.0, 200);
    pacer.wait_jobs("running", 2, Duration::from_secs(10)).await;
    assert_eq!(world.managed_instances().await.len(), 2, "no extra instance was launched");
    // Both runners exit and report, then GitHub concludes both jobs.
    assert_eq!(pacer.callback("complete", &token_a, json!({"exit_code": 0})).await.0, 200);
    assert_eq!(pacer.callback("complete", &token_b, json!({"exit_code": 0})).await.0, 200);
    assert_eq!(
        pacer.workflow_job("d-a-done", &on(&a, "completed", &instance_b, Some("success"))).await.0,
        200
    );
    assert_eq!(
        pacer.workflow_job("d-b-done", &on(&b, "completed", &instance_a, Some("success"))).await.0,
        200
    );
    pacer.wait_jobs("completed", 2, Duration::from_secs(10)).await;
    for (status, count) in [("queued", 0), ("claimed", 0), ("starting", 0), ("running", 0)] {
        pacer.wait_jobs(status, count, Duration::from_secs(10)).await;
    }

    let records = pacer.stop();
    let rebound: Vec<(u64, String)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobRunnerRebound(e) => Some((e.job.0, e.instance.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rebound,
        [(1, instance_b.clone())],
        "only A was rebound; B then ran on the instance handed to it: {:?}",
        names(&records)
    );
    let ends: Vec<(u64, Option<String>)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobCompleted(c) => Some((c.end.job.0, c.end.instance.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [(1, Some(instance_b)), (2, Some(instance_a))],
        "each job's cost comes from where it ran"
    );
}
