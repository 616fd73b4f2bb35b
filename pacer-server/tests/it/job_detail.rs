//! The job detail (issue 22): GitHub's steps of the job through the installation token,
//! the raw webhooks received for it, GitHub's own times and sender type, and the runner's
//! heartbeat, which survives a restart; a heartbeat without the instance's callback token is
//! refused and writes nothing.

use crate::auth::gql;
use crate::support::pacer::Pacer;
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::{Event, Timestamp};
use pacer_store::{EventLog, RocksLog};
use serde_json::{Value, json};
use std::time::Duration;

const STEPS: &str = "GET /repos/octo/hello/actions/jobs/";

/// Queues job `id` and bootstraps its instance: (instance, callback token, webhook).
async fn booted(world: &World, pacer: &Pacer, id: u64) -> (String, String, Value) {
    let queued = queued_job(id);
    assert_eq!(pacer.workflow_job(&format!("d-{id}-queued"), &queued).await.0, 200);
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instance = world.managed_instances().await.into_iter().next().expect("an instance");
    let (status, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(&instance).await).await;
    assert_eq!(status, 200, "{boot}");
    (instance, boot["callback_token"].as_str().expect("callback token").to_owned(), queued)
}

fn on(body: &Value, action: &str, instance: &str) -> Value {
    let mut body = body.clone();
    body["action"] = action.into();
    body["workflow_job"]["runner_name"] = format!("pacer-{instance}").into();
    body["workflow_job"]["started_at"] = "2021-09-13T02:21:20Z".into();
    if action == "completed" {
        body["workflow_job"]["conclusion"] = "success".into();
        body["workflow_job"]["completed_at"] = "2021-09-13T02:25:00Z".into();
    }
    body
}

const DETAIL: &str = r#"{ job(id: "1") { githubCreatedAt githubStartedAt githubCompletedAt senderType lastSeenAt
    webhooks { deliveryId action receivedAt payload bytes }
    steps { nodes { number name status conclusion startedAt completedAt durationSeconds } unavailable } } }"#;

async fn detail(pacer: &Pacer) -> Value {
    let (status, body) = gql(pacer, None, DETAIL).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["job"].clone()
}

fn time(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(Timestamp::parse_rfc3339)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_detail_shows_steps_webhooks_githubs_times_and_a_heartbeat_that_survives_a_restart() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let (instance, token, queued) = booted(&world, &pacer, 7_300_000_001).await;

    // Before any heartbeat the badge has nothing to show.
    assert_eq!(detail(&pacer).await["lastSeenAt"], Value::Null);
    let (status, answer) = pacer.callback("heartbeat", &token, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(pacer.workflow_job("d-1-in-progress", &on(&queued, "in_progress", &instance)).await.0, 200);

    let job = detail(&pacer).await;
    let seen = time(&job["lastSeenAt"]).expect("last seen after a heartbeat");
    assert_eq!(time(&job["githubCreatedAt"]), Timestamp::parse_rfc3339("2021-09-13T02:21:13Z"));
    assert_eq!(time(&job["githubStartedAt"]), Timestamp::parse_rfc3339("2021-09-13T02:21:20Z"));
    assert_eq!(job["githubCompletedAt"], Value::Null);
    assert_eq!(job["senderType"], "User");
    // GitHub's steps through an installation token, with their durations.
    let steps = job["steps"]["nodes"].as_array().expect("steps");
    assert_eq!(job["steps"]["unavailable"], Value::Null, "{job}");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["Set up job", "Run actions/checkout@v4", "Build"]);
    assert_eq!(
        (steps[1]["conclusion"].as_str(), steps[1]["durationSeconds"].as_i64()),
        (Some("success"), Some(9))
    );
    assert_eq!((steps[2]["status"].as_str(), &steps[2]["conclusion"]), (Some("in_progress"), &Value::Null));
    assert!(world.github.calls_to(STEPS).iter().all(|c| c.route.ends_with("/7300000001")));
    // In a list, steps are not asked of GitHub.
    let asked = world.github.calls_to(STEPS).len();
    let (_, list) =
        gql(&pacer, None, "{ jobs(first: 5) { nodes { steps { nodes { name } unavailable } } } }").await;
    assert!(
        list["data"]["jobs"]["nodes"][0]["steps"]["unavailable"]
            .as_str()
            .is_some_and(|r| r.contains("job(id)")),
        "{list}"
    );
    assert_eq!(world.github.calls_to(STEPS).len(), asked);

    // The heartbeat's last-seen time survives a restart. GitHub failing meanwhile: the steps
    // say why (the cache went with the restart), the query does not fail.
    pacer.stop();
    world.github.fail_jobs_with(Some(502));
    let pacer = world.setup.start().await;
    let job = detail(&pacer).await;
    assert_eq!(time(&job["lastSeenAt"]), Some(seen), "the badge survives a restart");
    assert_eq!(job["steps"]["nodes"], json!([]));
    assert!(job["steps"]["unavailable"].as_str().is_some_and(|r| r.contains("502")), "{job}");
    world.github.fail_jobs_with(None);

    // The end: GitHub's completion time, and every raw webhook in order.
    assert_eq!(pacer.workflow_job("d-1-completed", &on(&queued, "completed", &instance)).await.0, 200);
    let job = detail(&pacer).await;
    assert_eq!(time(&job["githubCompletedAt"]), Timestamp::parse_rfc3339("2021-09-13T02:25:00Z"));
    let webhooks = job["webhooks"].as_array().expect("webhooks");
    let kept: Vec<(&str, &str)> = webhooks
        .iter()
        .map(|w| (w["deliveryId"].as_str().unwrap_or_default(), w["action"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        kept,
        [
            ("d-7300000001-queued", "queued"),
            ("d-1-in-progress", "in_progress"),
            ("d-1-completed", "completed")
        ]
    );
    let payload: Value =
        serde_json::from_str(webhooks[2]["payload"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(payload["workflow_job"]["id"], 7_300_000_001u64);
    assert_eq!(webhooks[2]["bytes"].as_u64(), webhooks[2]["payload"].as_str().map(|p| p.len() as u64));
    assert!(time(&webhooks[0]["receivedAt"]).is_some());
    // A finished job's steps are cached: asked of GitHub once more, then never again.
    let asked = world.github.calls_to(STEPS).len();
    detail(&pacer).await;
    detail(&pacer).await;
    assert_eq!(world.github.calls_to(STEPS).len(), asked);
    let records = pacer.stop();
    let noted = records.iter().filter(|r| matches!(r.event, Event::JobGithubNoted(_))).count();
    assert_eq!(noted, 3, "one note per delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_without_the_instances_callback_token_is_refused_and_writes_nothing() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let (instance, token, _) = booted(&world, &pacer, 7_300_000_002).await;
    let raw = |auth: Option<String>| {
        let mut request = pacer.http.post(format!("{}/api/runner/heartbeat", pacer.url)).json(&json!({}));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request
    };
    let forged = [
        None,
        Some("Bearer ".to_owned()),
        Some("Bearer nope".to_owned()),
        Some(format!("Bearer {token}x")),
        Some(format!("Basic {token}")),
        Some(format!("Bearer {}", world.bootstrap_token().await)),
    ];
    for auth in forged {
        let response = raw(auth.clone()).send().await.expect("heartbeat");
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
    }
    assert_eq!(detail(&pacer).await["lastSeenAt"], Value::Null, "no heartbeat seen");
    let records = pacer.stop();
    let by_runner = records
        .iter()
        .filter(|r| r.actor == pacer_domain::Actor::Runner(instance.clone()))
        .map(|r| r.event.name().as_str())
        .collect::<Vec<_>>();
    assert_eq!(by_runner, ["runner.bootstrapped"], "no record from the refused heartbeats");
    let log = RocksLog::open(&world.setup.data()).expect("open the log");
    assert_eq!(log.vault_scan("heartbeat:"), Vec::<(String, Vec<u8>)>::new(), "no heartbeat kept");
}
