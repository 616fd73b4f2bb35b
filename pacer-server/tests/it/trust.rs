//! The runner trust chain as a hostile job sees it (issue 17): a job reads its own instance's
//! callback token and tries to mint more runners, to report again and again, and to keep its
//! instance after its job ended. Each attempt is refused with 410, the refusal recorded once,
//! and the instance is torn down within one reaper interval of its job's end.

use crate::support::pacer::{Pacer, names};
use crate::support::world::World;
use crate::support::{queued_job, webhook_example};
use pacer_domain::{BootstrapRefusal, Event, ReapReason, RegisterRefusal};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const JIT: &str = "POST /repos/octo/hello/actions/runners/generate-jitconfig";

/// Queues job `id`, waits for its instance (one not in `known`) and bootstraps it: (instance,
/// callback token, webhook).
async fn booted(world: &World, pacer: &Pacer, id: u64, known: &[&str]) -> (String, String, Value) {
    let queued = queued_job(id);
    assert_eq!(pacer.workflow_job(&format!("d-{id}"), &queued).await.0, 200);
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instances = world.managed_instances().await;
    let fresh: Vec<&String> = instances.iter().filter(|i| !known.contains(&i.as_str())).collect();
    assert_eq!(fresh.len(), 1, "one instance for the job: {instances:?}");
    let instance = fresh[0].clone();
    let (status, boot) =
        pacer.callback("bootstrap", &world.bootstrap_token().await, world.proof(&instance).await).await;
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
    assert!(
        refused.iter().any(|(i, r)| *i == second
            && matches!(r, RegisterRefusal::RunnerDone | RegisterRefusal::InstanceEnded)),
        "the registration after the runner's report is recorded: {refused:?}"
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
    // EC2 terminates it first, then Pacer records the reaping: wait for Pacer's own view.
    pacer
        .wait_for("the reaping recorded", Duration::from_secs(30), || async {
            pacer.metric("pacer_instances").await == 0.0
        })
        .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_token_bootstraps_its_own_pool_only_and_rotates_alone() {
    let world = World::bare().await;
    let mut backup = world.backup(json!({}));
    let mut gpu = backup["projects"][0]["pools"][0].clone();
    gpu["name"] = "gpu".into();
    gpu["is_default"] = false.into();
    backup["projects"][0]["pools"].as_array_mut().expect("pools").push(gpu);
    world.setup.import(&backup);
    let pacer = world.setup.start().await;
    let job = |id: u64, labels: &[&str]| {
        webhook_example("workflow_job.05.queued.json", "queued", id, "octo/hello", labels)
    };
    assert_eq!(pacer.workflow_job("d-1", &job(7_300_000_001, &["self-hosted"])).await.0, 200);
    assert_eq!(pacer.workflow_job("d-2", &job(7_300_000_002, &["self-hosted", "gpu"])).await.0, 200);
    pacer.wait_jobs("starting", 2, Duration::from_secs(60)).await;
    let (default_token, gpu_token) = (world.bootstrap_token_of(1).await, world.bootstrap_token_of(2).await);
    assert_ne!(default_token, gpu_token, "each pool's user data carries its own token");

    // The default pool's token bootstraps the default pool's instance and no other.
    let instances = world.managed_instances().await;
    let mut answers = Vec::new();
    for instance in &instances {
        let body = world.proof(instance).await;
        answers.push((pacer.callback("bootstrap", &default_token, body).await.0, instance.clone()));
    }
    answers.sort();
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 403], "{answers:?}");
    let gpu_instance = answers[1].1.clone();
    let again = pacer.callback("bootstrap", &default_token, world.proof(&gpu_instance).await).await;
    assert_eq!(again.0, 403, "{}", again.1);
    let own = pacer.callback("bootstrap", &gpu_token, world.proof(&gpu_instance).await).await;
    assert_eq!(own.0, 200, "its own pool's token still works: {}", own.1);

    // Rotating one pool: a new token in its user data, the other pool's unchanged, the old one
    // valid for its grace, and a token naming a generation never issued refused.
    let rotate = pacer
        .http
        .post(format!("{}/graphql", pacer.url))
        .header("x-pacer-request", "1")
        .json(&json!({"query": "mutation { rotatePoolBootstrapToken(id: \"1\") { id launchTemplateVersion } }"}))
        .send()
        .await
        .expect("graphql");
    let answer: Value = rotate.json().await.expect("json");
    assert_eq!(answer["data"]["rotatePoolBootstrapToken"]["id"], "1", "{answer}");
    let rotated = world.bootstrap_token_of(1).await;
    assert_ne!(rotated, default_token);
    assert_eq!(world.bootstrap_token_of(2).await, gpu_token, "other pools keep their token");
    assert_eq!(pacer.workflow_job("d-3", &job(7_300_000_003, &["self-hosted"])).await.0, 200);
    pacer.wait_jobs("starting", 3, Duration::from_secs(60)).await;
    let third =
        world.managed_instances().await.into_iter().find(|i| !instances.contains(i)).expect("a new one");
    let forged = rotated.replacen("pb1.1.1.", "pb1.1.7.", 1);
    assert_eq!(pacer.callback("bootstrap", &forged, world.proof(&third).await).await.0, 401);
    let late = pacer.callback("bootstrap", &default_token, world.proof(&third).await).await;
    assert_eq!(late.0, 200, "the previous token in its grace: {}", late.1);

    let records = pacer.stop();
    let refused: Vec<(String, BootstrapRefusal)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunnerBootstrapRefused(e) => Some((e.instance.clone(), e.reason)),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [(gpu_instance, BootstrapRefusal::WrongPool)], "recorded once");
    let rotations = records.iter().filter(|r| matches!(r.event, Event::PoolBootstrapTokenRotated(_))).count();
    assert_eq!(rotations, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_instance_s_own_signed_identity_bootstraps_it() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    for (id, delivery) in [(7_400_000_001_u64, "d-1"), (7_400_000_002, "d-2")] {
        let queued = queued_job(id);
        assert_eq!(pacer.workflow_job(delivery, &queued).await.0, 200);
    }
    pacer.wait_jobs("starting", 2, Duration::from_secs(60)).await;
    let instances = world.managed_instances().await;
    let (a, b) = (&instances[0], &instances[1]);
    let token = world.bootstrap_token().await;
    let bootstrap = |body: Value| {
        let (pacer, token) = (&pacer, token.clone());
        async move { pacer.callback("bootstrap", &token, body).await }
    };

    // A job on A that can list pending instances tries to take B's callback token.
    let a_document = world.identity_document(a).await;
    let key = world.setup.dir.join("identity.key");
    let mut claim_b = world.proof_of(a, &a_document, &key);
    claim_b["instance_id"] = b.as_str().into();
    let (status, answer) = bootstrap(claim_b).await;
    assert_eq!(status, 403, "A's document names A, not B: {answer}");
    assert!(answer.to_string().contains("instance_mismatch"), "{answer}");
    let (status, _) = bootstrap(json!({"instance_id": b})).await;
    assert_eq!(status, 400, "an instance id alone proves nothing");

    // Forged (another key), altered (a genuine signature over other bytes), another account's.
    let forger = world.setup.dir.join("forger.key");
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&forger)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    let b_document = world.identity_document(b).await;
    let (status, answer) = bootstrap(world.proof_of(b, &b_document, &forger)).await;
    assert_eq!(status, 403, "forged: {answer}");
    let mut altered = world.proof(b).await;
    altered["document"] =
        world.proof_of(b, &b_document.replace("m7i.large", "m7i.metal"), &key)["document"].clone();
    assert_eq!(bootstrap(altered).await.0, 403, "altered");
    let mut other_account: Value = serde_json::from_str(&b_document).expect("json");
    other_account["accountId"] = "999999999999".into();
    let other_account = serde_json::to_string_pretty(&other_account).expect("json");
    let (status, answer) = bootstrap(world.proof_of(b, &other_account, &key)).await;
    assert_eq!(status, 403, "EC2 says another account owns B: {answer}");
    assert!(answer.to_string().contains("wrong_account"), "{answer}");
    let stranger = "i-0123456789abcdef9";
    let mut elsewhere: Value = serde_json::from_str(&b_document).expect("json");
    elsewhere["instanceId"] = stranger.into();
    elsewhere["accountId"] = "999999999999".into();
    elsewhere["pendingTime"] = "2026-01-01T00:00:00Z".into();
    let elsewhere = serde_json::to_string_pretty(&elsewhere).expect("json");
    let (status, answer) = bootstrap(world.proof_of(stranger, &elsewhere, &key)).await;
    assert_eq!(status, 403, "an instance Pacer never launched: {answer}");
    assert!(answer.to_string().contains("unknown_instance"), "{answer}");

    // B itself, then a replay of B's exact request.
    let own = world.proof(b).await;
    let (status, answer) = bootstrap(own.clone()).await;
    assert_eq!(status, 200, "B's own identity: {answer}");
    assert_eq!(bootstrap(own).await.0, 410, "a replayed document bootstraps nothing");

    let records = pacer.stop();
    let refused: Vec<BootstrapRefusal> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunnerBootstrapRefused(e) => Some(e.reason),
            _ => None,
        })
        .collect();
    for reason in [
        BootstrapRefusal::InstanceMismatch,
        BootstrapRefusal::BadIdentity,
        BootstrapRefusal::WrongAccount,
        BootstrapRefusal::UnknownInstance,
        BootstrapRefusal::Replayed,
    ] {
        assert!(refused.contains(&reason), "{reason:?} recorded: {refused:?}");
    }
    let bad = refused.iter().filter(|r| **r == BootstrapRefusal::BadIdentity).count();
    assert_eq!(bad, 1, "forgeries are recorded once per pool: {refused:?}");
}
