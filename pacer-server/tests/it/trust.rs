//! The runner trust chain as a hostile job sees it (issue 17): a job reads its own instance's
//! callback token and tries to mint more runners, to report again and again, and to keep its
//! instance after its job ended. Each attempt is refused with 410, the refusal recorded once,
//! and the instance is torn down within one reaper interval of its job's end.

use crate::support::pacer::{Pacer, names};
use crate::support::webhook_example;
use crate::support::world::World;
use pacer_domain::{Event, ReapReason, RegisterRefusal};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const JIT: &str = "POST /repos/octo/hello/actions/runners/generate-jitconfig";

/// Queues job `id`, waits for its instance (one not in `known`) and bootstraps it: (instance,
/// callback token, webhook).
async fn booted(world: &World, pacer: &Pacer, id: u64, known: &[&str]) -> (String, String, Value) {
    let queued = webhook_example("workflow_job.05.queued.json", "queued", id, "octo/hello", &["self-hosted"]);
    assert_eq!(pacer.workflow_job(&format!("d-{id}"), &queued).await.0, 200);
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instances = world.managed_instances().await;
    let fresh: Vec<&String> = instances.iter().filter(|i| !known.contains(&i.as_str())).collect();
    assert_eq!(fresh.len(), 1, "one instance for the job: {instances:?}");
    let instance = fresh[0].clone();
    let (status, boot) =
        pacer.callback("bootstrap", &pacer.bootstrap_token(), json!({"instance_id": instance})).await;
    assert_eq!(status, 200, "{boot}");
    let token = boot["callback_token"].as_str().expect("callback token").to_owned();
    (instance, token, queued)
}

fn on(body: &Value, action: &str, instance: &str, conclusion: Option<&str>) -> Value {
    let mut body = body.clone();
    body["action"] = action.into();
    body["workflow_job"]["runner_name"] = format!("pacer-{instance}").into();
    body["workflow_job"]["conclusion"] = conclusion.map(Into::into).unwrap_or(Value::Null);
    body
}

fn refusals(records: &[pacer_domain::Recorded]) -> Vec<(String, RegisterRefusal)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunnerRegisterRefused(e) => Some((e.instance.clone(), e.reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_token_registers_one_runner_and_reports_once() {
    let world = World::new().await;
    let pacer = world.setup.start().await;

    // One registration; every later one is refused and recorded once, without asking GitHub.
    let (first, token, _) = booted(&world, &pacer, 7_100_000_001, &[]).await;
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 200);
    for _ in 0..3 {
        let (status, answer) = pacer.callback("register", &token, json!({})).await;
        assert_eq!(status, 410, "{answer}");
        assert!(answer.to_string().contains("already_registered"), "{answer}");
    }
    assert_eq!(world.github.calls_to(JIT).len(), 1, "GitHub minted one runner");

    // A report flood: the first report counts, the rest get 410 and store nothing.
    let tail = "x".repeat(60 * 1024);
    let mut answers = Vec::new();
    for _ in 0..50 {
        let body = json!({"stage": "run", "exit_code": 1, "line": 9, "log_tail": tail});
        answers.push(pacer.callback("error", &token, body).await.0);
    }
    assert_eq!(answers.iter().filter(|s| **s == 200).count(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 410).count(), 49, "{answers:?}");
    assert_eq!(pacer.callback("complete", &token, json!({"exit_code": 0})).await.0, 410);
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 410);

    // A runner that reported done gets no runner at all.
    let (second, token, _) = booted(&world, &pacer, 7_100_000_002, &[&first]).await;
    assert_eq!(pacer.callback("complete", &token, json!({"exit_code": 0})).await.0, 200);
    assert_eq!(pacer.callback("complete", &token, json!({"exit_code": 0})).await.0, 410);
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 410);
    assert_eq!(world.github.calls_to(JIT).len(), 1, "still one runner");

    let records = pacer.stop();
    let errored = records.iter().filter(|r| matches!(r.event, Event::RunnerErrored(_))).count();
    let completed = records.iter().filter(|r| matches!(r.event, Event::RunnerCompleted(_))).count();
    assert_eq!((errored, completed), (1, 1), "{:?}", names(&records));
    let refused = refusals(&records);
    assert!(refused.contains(&(first.clone(), RegisterRefusal::AlreadyRegistered)), "{refused:?}");
    assert_eq!(
        refused.iter().filter(|(i, r)| *i == first && *r == RegisterRefusal::AlreadyRegistered).count(),
        1,
        "a looping caller writes one record per reason"
    );
    assert!(
        refused.iter().all(|(i, _)| *i == first || *i == second),
        "refusals name the instance: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_job_ended_registers_nothing_and_is_gone_within_a_reaper_interval() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let (instance, token, queued) = booted(&world, &pacer, 7_200_000_001, &[]).await;
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 200);
    assert_eq!(pacer.workflow_job("d-progress", &on(&queued, "in_progress", &instance, None)).await.0, 200);
    pacer.wait_jobs("running", 1, Duration::from_secs(10)).await;

    // GitHub concludes the job; the job's own runner is gone, its token still in the job's hands.
    let ended = Instant::now();
    let done = on(&queued, "completed", &instance, Some("success"));
    assert_eq!(pacer.workflow_job("d-done", &done).await.0, 200);
    let (status, answer) = pacer.callback("register", &token, json!({})).await;
    assert_eq!(status, 410, "no runner after the job ended: {answer}");
    pacer
        .wait_for("the instance's teardown", Duration::from_secs(30), || async {
            world.managed_instances().await.is_empty()
        })
        .await;
    let took = ended.elapsed();
    let interval = Duration::from_secs(world.setup.reaper_seconds);
    assert!(took < interval, "terminated {took:?} after its job ended; the reaper interval is {interval:?}");
    assert_eq!(world.github.calls_to(JIT).len(), 1);
    let (status, _) = pacer.callback("complete", &token, json!({"exit_code": 0})).await;
    assert!(matches!(status, 401 | 410), "the token died with the instance (gone, then revoked): {status}");

    let records = pacer.stop();
    let reaped = records.iter().any(|r| {
        matches!(&r.event, Event::InstanceReaped(e)
            if e.instance == instance && e.reason == ReapReason::JobEnded && e.job.is_none())
    });
    let ends: Vec<&Event> =
        records.iter().map(|r| &r.event).filter(|e| matches!(e, Event::InstanceReaped(_))).collect();
    assert!(reaped, "{ends:?}");
    let refused: Vec<RegisterRefusal> =
        refusals(&records).into_iter().filter(|(i, _)| *i == instance).map(|(_, r)| r).collect();
    assert!(
        matches!(refused[..], [RegisterRefusal::JobEnded | RegisterRefusal::InstanceEnded]),
        "the late registration is recorded once: {refused:?}"
    );
}
