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
            ("job.github_noted", "github".to_owned()),
            ("job.claimed", "system".to_owned()),
            ("job.spawn_launched", "system".to_owned()),
            ("runner.bootstrapped", runner.clone()),
            ("instance.registered", runner.clone()),
            ("job.started", runner.clone()),
            ("webhook.absorbed", "github".to_owned()),
            ("job.github_noted", "github".to_owned()),
            ("runner.completed", runner.clone()),
            ("job.completed", "github".to_owned()),
            ("job.github_noted", "github".to_owned()),
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

fn micros(money: &serde_json::Value) -> i64 {
    money["micros"].as_str().and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("money: {money}"))
}

/// Now on this machine's clock, which the binary's is.
fn wall_now() -> pacer_domain::Timestamp {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    pacer_domain::Timestamp::from_millis(i64::try_from(since.as_millis()).expect("millis"))
}

/// Cost is the instance's, against moto: while the job runs its cost is a running estimate; once
/// the instance is torn down, the job, the stats and the month's spend hold price × (recorded
/// termination − recorded launch), an interval that lies within moto's own launch and
/// termination times as the calls ordered them; runner time is job end − instance launch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_costs_its_instance_from_launch_to_termination() {
    use crate::auth::gql;
    use pacer_domain::{Micros, SECOND_MS, Timestamp};
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let queued = queued_job(7_000_000_002);
    assert_eq!(pacer.workflow_job("d-queued", &queued).await.0, 200);
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instance = world.managed_instances().await.pop().expect("an instance");
    let (_, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(&instance).await).await;
    let token = boot["callback_token"].as_str().expect("callback token").to_owned();
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 200);
    pacer.wait_jobs("running", 1, Duration::from_secs(10)).await;

    // Running: an estimate to the moment the query was answered.
    let job_query = "{ jobs(first: 1) { nodes { id launchedAt finishedAt pricePerHour { micros } cost { micros } costEstimated } } }";
    let before = wall_now();
    let (status, answer) = gql(&pacer, None, job_query).await;
    let after = wall_now();
    assert_eq!(status, 200, "{answer}");
    let job = answer["data"]["jobs"]["nodes"][0].clone();
    let price = Micros(micros(&job["pricePerHour"]));
    let launched = job["launchedAt"].as_str().and_then(Timestamp::parse_rfc3339).expect("launchedAt");
    let estimate = micros(&job["cost"]);
    assert_eq!(job["costEstimated"], true, "{job}");
    assert!(
        Micros::for_duration(price, before.millis_since(launched)).0 <= estimate
            && estimate <= Micros::for_duration(price, after.millis_since(launched)).0,
        "price × (now − launch) with now between {before:?} and {after:?}: {job}"
    );

    let mut done = queued.clone();
    done["action"] = "completed".into();
    done["workflow_job"]["conclusion"] = "success".into();
    done["workflow_job"]["runner_name"] = format!("pacer-{instance}").into();
    assert_eq!(pacer.workflow_job("d-done", &done).await.0, 200);
    pacer.wait_jobs("completed", 1, Duration::from_secs(10)).await;
    pacer
        .wait_for("the instance's end", Duration::from_secs(30), || async {
            pacer.metric("pacer_instances").await == 0.0
        })
        .await;
    let (_, answer) = gql(&pacer, None, job_query).await;
    let job = answer["data"]["jobs"]["nodes"][0].clone();
    assert_eq!(job["costEstimated"], false, "settled: {job}");
    let (_, stats) = gql(
        &pacer,
        None,
        "{ stats(window: {days: 1}) { totals { jobs cost { micros } runnerSeconds unpriced } } }",
    )
    .await;
    let totals = stats["data"]["stats"]["totals"].clone();
    let (_, spend) =
        gql(&pacer, None, "{ spend(window: {monthToDate: true}) { from total { micros } jobs unpriced } }")
            .await;
    let spend = spend["data"]["spend"].clone();

    // The log's times: the launch, the job's end and the teardown.
    let records = pacer.stop();
    let at = |pick: fn(&Event) -> bool| find(&records, pick).map(|r| r.at).expect("recorded");
    let launched_at = at(|e| matches!(e, Event::JobSpawnLaunched(_)));
    let ended_at = at(|e| matches!(e, Event::JobCompleted(_)));
    let terminated_at = at(|e| matches!(e, Event::InstanceReaped(r) if r.reason == ReapReason::JobEnded));
    assert_eq!(launched, launched_at);
    let cost = Micros::for_duration(price, terminated_at.millis_since(launched_at)).0;
    assert_eq!(micros(&job["cost"]), cost, "price × (terminated − launched): {job}");
    assert!(cost >= estimate, "the settled cost covers what was estimated while it ran");
    assert_eq!(
        (&totals["jobs"], micros(&totals["cost"]), &totals["unpriced"]),
        (&json!(1), cost, &json!(0)),
        "{totals}"
    );
    let runner_seconds = ended_at.millis_since(launched_at) / SECOND_MS;
    assert_eq!(
        totals["runnerSeconds"],
        json!(runner_seconds.to_string()),
        "runner time: job end − instance launch"
    );
    let month_start = spend["from"].as_str().and_then(Timestamp::parse_rfc3339).expect("from");
    if ended_at >= month_start {
        assert_eq!((micros(&spend["total"]), &spend["jobs"]), (cost, &json!(1)), "{spend}");
    }

    // moto's times for the same instance: EC2 launched it before Pacer recorded the launch, and
    // terminated it after that and before Pacer recorded the teardown (moto keeps whole seconds).
    let described = world.ec2.describe_instances().instance_ids(&instance).send().await.expect("describe");
    let ec2 = described.reservations().iter().flat_map(|r| r.instances()).next().expect("moto keeps it");
    assert_eq!(ec2.state().and_then(|s| s.name()).map(|n| n.as_str()), Some("terminated"));
    let moto_launch =
        ec2.launch_time().and_then(|t| t.to_millis().ok()).map(Timestamp::from_millis).expect("launch time");
    let reason = ec2.state_transition_reason().unwrap_or_default();
    let moto_end = reason
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(" UTC)"))
        .and_then(|t| Timestamp::parse_rfc3339(&format!("{}Z", t.replace(' ', "T"))))
        .unwrap_or_else(|| panic!("moto's termination time in {reason:?}"));
    assert!(moto_launch <= launched_at, "EC2 launched at {moto_launch:?}, recorded at {launched_at:?}");
    assert!(
        launched_at < moto_end.plus_millis(SECOND_MS) && moto_end <= terminated_at,
        "EC2 terminated in the second of {moto_end:?}, between the launch and the teardown recorded at {terminated_at:?}"
    );
    let moto_lifetime = |from: Timestamp, to: Timestamp| Micros::for_duration(price, to.millis_since(from)).0;
    assert!(
        moto_lifetime(launched_at, moto_end) <= cost && cost <= moto_lifetime(moto_launch, terminated_at),
        "the billed lifetime is moto's, up to the recording of each end"
    );
}
