//! GitHub's side of the callbacks: registration answers 503 while GitHub is temporarily unavailable
//! (the script retries) and 424 with `runner.register_failed` when GitHub refuses; missed
//! webhooks are redelivered through the App's delivery log, once, and only those Pacer never
//! recorded. A storm of 5xx and 429 on every GitHub call writes nothing per attempt, and Pacer
//! carries on once it passes.

use crate::support::pacer::find;
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::Event;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_failures_and_missed_webhooks() {
    let mut world = World::bare().await;
    world.setup.redelivery_seconds = 1;
    world.setup.import(&world.backup(json!({})));
    let pacer = world.setup.start().await;
    pacer.workflow_job("d-known", &queued_job(601)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instance = world.managed_instances().await[0].clone();
    let (_, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(&instance).await).await;
    let token = boot["callback_token"].as_str().expect("token").to_owned();

    world.github.fail_jit_with(Some(502));
    let (status, answer) = pacer.callback("register", &token, json!({})).await;
    assert_eq!((status, answer["error"].as_str()), (503, Some("github_unavailable")), "{answer}");
    world.github.fail_jit_with(Some(403));
    let (status, answer) = pacer.callback("register", &token, json!({})).await;
    assert_eq!((status, answer["error"].as_str()), (424, Some("github_refused")), "{answer}");
    let (status, _) = pacer.callback("register", "v1.1.i-0.0.forged", json!({})).await;
    assert_eq!(status, 401);
    world.github.fail_jit_with(None);
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 200, "a retry succeeds");

    // The App's delivery log: one delivery Pacer recorded, one that never arrived, one that
    // failed but was later delivered again successfully.
    world.github.set_deliveries(vec![
        json!({"id": 1, "guid": "d-known", "delivered_at": "2099-01-01T00:00:00Z", "redelivery": false, "status_code": 502, "event": "workflow_job", "action": "queued"}),
        json!({"id": 2, "guid": "d-missed", "delivered_at": "2099-01-01T00:00:00Z", "redelivery": false, "status_code": 0, "event": "workflow_job", "action": "queued"}),
        json!({"id": 3, "guid": "d-late", "delivered_at": "2099-01-01T00:00:00Z", "redelivery": false, "status_code": 503, "event": "workflow_job", "action": "queued"}),
        json!({"id": 4, "guid": "d-late", "delivered_at": "2099-01-01T00:00:01Z", "redelivery": true, "status_code": 200, "event": "workflow_job", "action": "queued"}),
    ]);
    pacer
        .wait_for("a redelivery request", Duration::from_secs(20), || async {
            !world.github.calls_to("POST /app/hook/deliveries/").is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let asked: Vec<String> =
        world.github.calls_to("POST /app/hook/deliveries/").into_iter().map(|c| c.route).collect();
    assert_eq!(asked, ["POST /app/hook/deliveries/2/attempts"], "only the missed one, once");
    assert_eq!(world.github.violations(), Vec::<String>::new());

    let records = pacer.stop();
    let failed = find(&records, |e| matches!(e, Event::RunnerRegisterFailed(f) if f.status == 403));
    assert!(failed.is_some(), "the refusal is recorded");
    assert_eq!(
        records.iter().filter(|r| matches!(r.event, Event::RunnerRegisterFailed(_))).count(),
        1,
        "temporary failures are not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_5xx_and_429_writes_nothing_per_attempt_and_passes() {
    let mut world = World::bare().await;
    world.setup.redelivery_seconds = 1;
    world.setup.import(&world.backup(json!({})));
    let pacer = world.setup.start().await;
    let body = queued_job(701);
    pacer.workflow_job("d-storm", &body).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instance = world.managed_instances().await[0].clone();
    let (_, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(&instance).await).await;
    let token = boot["callback_token"].as_str().expect("token").to_owned();

    let seq_before = pacer.metric("pacer_log_last_seq").await;
    for status in [500, 502, 503, 429] {
        world.github.storm(Some(status));
        for _ in 0..10 {
            let (answer, body) = pacer.callback("register", &token, json!({})).await;
            assert_eq!(
                (answer, body["error"].as_str()),
                (503, Some("github_unavailable")),
                "{status}: {body}"
            );
        }
    }
    // The redelivery loop met the storm too (one listing a second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written = pacer.metric("pacer_log_last_seq").await - seq_before;
    assert!(written <= 2.0, "40 refused registrations and the redelivery passes wrote {written} records");
    assert!(
        pacer.metric("pacer_github_errors_total{call=\"generate_jitconfig\",status=\"429\"}").await >= 10.0
    );

    world.github.storm(None);
    assert_eq!(
        pacer.callback("register", &token, json!({})).await.0,
        200,
        "registration works once it passes"
    );
    world.github.set_deliveries(vec![
        json!({"id": 9, "guid": "d-missed-in-storm", "delivered_at": "2099-01-01T00:00:00Z", "redelivery": false, "status_code": 0, "event": "workflow_job", "action": "queued"}),
    ]);
    pacer
        .wait_for("redelivery resumes", Duration::from_secs(20), || async {
            !world.github.calls_to("POST /app/hook/deliveries/9").is_empty()
        })
        .await;
    assert_eq!(world.github.violations(), Vec::<String>::new());
    pacer.stop();
}
