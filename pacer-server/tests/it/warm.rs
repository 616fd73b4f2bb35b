//! Warm pools end to end, on moto with the real user data: a hot instance boots and bootstraps
//! with no job and waits at registration; a job takes it in a moment (no launch), its runner
//! registers for that job and runs; the taken instance is replaced; and when the pool's launch
//! template moves on, the idle replacement is recycled and a new one launched from the new
//! version. An instance of stopped capacity is stopped once ready, started for the job that
//! takes it, and on that second boot its script (cloud-init's per-boot copy) registers and
//! completes without bootstrapping again.

use crate::support::instance::{Imds, VERSION, local_servers, per_boot_script, run_script, runner_tarball};
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::{Event, ReapReason};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_runner_takes_a_job_is_replaced_and_idle_ones_are_recycled_on_a_template_change() {
    let mut world = World::bare().await;
    let warm = json!({"sizing": {"fixed": {"hot": 1}}, "max_age_minutes": 60});
    world.setup.import(&world.backup(json!({"runner_version": VERSION, "warm": warm})));
    world.setup.env.push(("PACER_REAPER_INTERVAL_SECONDS".into(), "5".into()));
    let pacer = world.setup.start().await;
    let live = || async { world.managed_instances().await };
    pacer.wait_for("a hot instance", Duration::from_secs(30), || async { live().await.len() == 1 }).await;
    let hot = live().await[0].clone();

    // Its user data runs: it bootstraps with no job and waits at registration.
    let work = tempfile::tempdir().expect("tempdir");
    let tarball = Arc::new(Mutex::new(runner_tarball(work.path(), VERSION)));
    let imds = Arc::new(Mutex::new(Imds::of(&world, &hot).await));
    let servers = local_servers(imds, tarball).await;
    let script = world.user_data(1).await;
    let dir = work.path().join("hot");
    let runner = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run_script(&script, &servers, &dir)
    });
    let warm_view = "{ pools { warm { mode reason target { hot stopped } idle { hot } wanted { hot } } } }";
    pacer
        .wait_for("the hot instance waiting at registration", Duration::from_secs(60), || async {
            let calls = std::fs::read_to_string(dir.join("curl-args.txt")).unwrap_or_default();
            calls.contains("/api/runner/register")
        })
        .await;
    let pools = pacer.graphql(warm_view, json!({})).await;
    assert_eq!(
        pools["pools"][0]["warm"],
        json!({
            "mode": "FIXED",
            "reason": "fixed: 1 hot, 0 stopped",
            "target": {"hot": 1, "stopped": 0},
            "idle": {"hot": 1},
            "wanted": {"hot": 1}
        })
    );

    // A job arrives and takes it: the runner registers for it, runs and reports.
    assert_eq!(pacer.workflow_job("d-warm-1", &queued_job(701)).await.0, 200);
    let (ok, output) = runner.await.expect("join");
    assert!(ok, "the hot instance's script failed:\n{output}\n{}", pacer.logs());
    let ran = std::fs::read_to_string(dir.join("runner/ran.txt")).expect("run.sh ran");
    assert!(ran.contains("jit=jit-config-for-"), "{ran}");

    // The taken instance is replaced.
    pacer
        .wait_for("a replacement", Duration::from_secs(30), || async {
            live().await.iter().any(|id| *id != hot)
        })
        .await;
    let replacement = live().await.into_iter().find(|id| *id != hot).expect("replacement");

    // A new template version (a rotated bootstrap token): the idle replacement is recycled and
    // a new hot instance launched from the new version.
    let rotated = pacer
        .graphql("mutation { rotatePoolBootstrapToken(id: \"1\") { launchTemplateVersion } }", json!({}))
        .await;
    let version = rotated["rotatePoolBootstrapToken"]["launchTemplateVersion"].as_u64().expect("version");
    pacer
        .wait_for("the replacement recycled and replaced", Duration::from_secs(60), || async {
            let now = live().await;
            !now.contains(&replacement) && now.iter().any(|id| *id != hot && *id != replacement)
        })
        .await;

    let records = pacer.stop();
    let events: Vec<&Event> = records.iter().map(|r| &r.event).collect();
    let launched: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::WarmLaunched(l) => Some((l.instance.instance_id.clone(), l.template_version)),
            _ => None,
        })
        .collect();
    assert_eq!(launched.len(), 3, "the first, its replacement, and one from the new template: {launched:?}");
    assert_eq!(launched[2].1, version, "the last from the new version");
    assert!(events.iter().any(|e| matches!(e, Event::WarmBootstrapped(b) if b.instance == hot)));
    assert!(
        events.iter().any(|e| matches!(e, Event::WarmTaken(t) if t.instance == hot)),
        "taken, not launched"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::JobClaimed(_))), "no cold launch for the job");
    assert!(events.iter().any(|e| matches!(e, Event::InstanceRegistered(r) if r.instance == hot)));
    assert!(
        events.iter().any(|e| matches!(e, Event::InstanceReaped(r) if r.instance == replacement && r.reason == ReapReason::WarmOutdated)),
        "the idle replacement recycled as outdated"
    );
}

/// The EC2 state of `instance` (`pending`, `running`, `stopping`, `stopped`, …).
async fn state_of(world: &World, instance: &str) -> String {
    let described = world.ec2.describe_instances().instance_ids(instance).send().await.expect("describe");
    let state = described.reservations().iter().flat_map(|r| r.instances()).find_map(|i| i.state().cloned());
    state.and_then(|s| s.name().map(|n| n.as_str().to_owned())).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_warm_instance_is_started_for_a_job_boots_again_registers_and_completes() {
    let mut world = World::bare().await;
    let warm = json!({"sizing": {"fixed": {"stopped": 1}}, "max_age_minutes": 60});
    world.setup.import(&world.backup(json!({"runner_version": VERSION, "warm": warm})));
    world.setup.env.push(("PACER_REAPER_INTERVAL_SECONDS".into(), "5".into()));
    let pacer = world.setup.start().await;
    pacer
        .wait_for("an instance of stopped capacity", Duration::from_secs(30), || async {
            world.managed_instances().await.len() == 1
        })
        .await;
    let instance = world.managed_instances().await[0].clone();

    // First boot: it bootstraps, installs the runner, and once ready Pacer stops it.
    let work = tempfile::tempdir().expect("tempdir");
    let tarball = Arc::new(Mutex::new(runner_tarball(work.path(), VERSION)));
    let imds = Arc::new(Mutex::new(Imds::of(&world, &instance).await));
    let servers = local_servers(imds, tarball).await;
    let script = world.user_data(1).await;
    let dir = work.path().join("instance");
    let first = tokio::task::spawn_blocking({
        let (script, servers, dir) = (script.clone(), servers.clone(), dir.clone());
        move || run_script(&script, &servers, &dir)
    });
    let (ok, output) = first.await.expect("join");
    assert!(ok && output.contains("ready; Pacer stops this instance"), "{output}\n{}", pacer.logs());
    assert_eq!(state_of(&world, &instance).await, "stopped");
    let per_boot = per_boot_script(&dir);
    assert!(per_boot.contains("BOOTSTRAP_TOKEN=''"), "the per-boot copy keeps no bootstrap token");
    assert!(!per_boot.contains(&world.bootstrap_token().await));
    let pools =
        pacer.graphql("{ pools { warm { idle { hot stopped } wanted { hot stopped } } } }", json!({})).await;
    assert_eq!(
        pools["pools"][0]["warm"],
        json!({"idle": {"hot": 0, "stopped": 1}, "wanted": {"hot": 0, "stopped": 1}})
    );

    // Resting stopped is not an end: a full reaper pass later it is still there.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(state_of(&world, &instance).await, "stopped", "the reaper leaves resting capacity alone");

    // A job takes it: Pacer starts it; on its second boot the per-boot script registers for the
    // job, runs and reports, without bootstrapping again.
    assert_eq!(pacer.workflow_job("d-stopped-1", &queued_job(801)).await.0, 200);
    pacer
        .wait_for("the instance started", Duration::from_secs(30), || async {
            matches!(state_of(&world, &instance).await.as_str(), "pending" | "running")
        })
        .await;
    let second = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run_script(&per_boot, &servers, &dir)
    });
    let (ok, output) = second.await.expect("join");
    assert!(ok, "the second boot failed:\n{output}\n{}", pacer.logs());
    assert!(output.contains("started again; bootstrapped on the first boot"), "{output}");
    let calls = std::fs::read_to_string(dir.join("curl-args.txt")).expect("curl log");
    assert_eq!(calls.matches("/api/runner/bootstrap").count(), 1, "one bootstrap, on the first boot");
    let ran = std::fs::read_to_string(dir.join("runner/ran.txt")).expect("run.sh ran");
    assert!(ran.contains("jit=jit-config-for-"), "{ran}");

    let records = pacer.stop();
    let names: Vec<&str> = records
        .iter()
        .filter(|r| r.event.subjects().contains(&pacer_domain::Subject::Instance(instance.clone())))
        .map(|r| r.event.name().as_str())
        .collect();
    assert_eq!(
        names[..8],
        [
            "warm.launched",
            "warm.bootstrapped",
            "warm.stopped",
            "warm.taken",
            "warm.started",
            "instance.registered",
            "runner.completed",
            "instance.reaped"
        ],
        "{names:?}"
    );
    assert!(!records.iter().any(|r| matches!(r.event, Event::JobClaimed(_))), "no cold launch");
}
