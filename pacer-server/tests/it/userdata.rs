//! The user data script for real: taken from the launch template Pacer wrote to moto, run under
//! bash and curl against the running binary, with instance metadata and the runner download
//! served by local test servers. A good runner registers, runs and reports completion; a runner
//! of the wrong version fails its job at the `verify` stage with the log tail. Against a Pacer
//! with a self-signed certificate, the script trusts it by the public-key pin it carries.

use crate::support::instance::{Imds, VERSION, local_servers, run_script, runner_tarball};
use crate::support::pacer::find;
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::{Event, FailureStage};
use serde_json::json;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_script_bootstraps_registers_runs_and_reports() {
    let world = World::bare().await;
    world.setup.import(&world.backup(json!({"runner_version": VERSION})));
    let pacer = world.setup.start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let instance = Arc::new(Mutex::new(Imds::default()));
    let tarball = Arc::new(Mutex::new(runner_tarball(work.path(), VERSION)));
    let servers = local_servers(instance.clone(), tarball.clone()).await;
    let script = world.user_data(1).await;
    assert!(script.contains(&format!("RUNNER_VERSION='{VERSION}'")));

    pacer.workflow_job("d-1", &queued_job(401)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let first = world.managed_instances().await[0].clone();
    *instance.lock().unwrap_or_else(|p| p.into_inner()) = Imds::of(&world, &first).await;
    let good = work.path().join("good");
    let (ok, output) = tokio::task::spawn_blocking({
        let (script, servers, good) = (script.clone(), servers.clone(), good.clone());
        move || run_script(&script, &servers, &good)
    })
    .await
    .expect("join");
    assert!(ok, "the script failed:\n{output}\n{}", pacer.logs());
    let ran = std::fs::read_to_string(good.join("runner/ran.txt")).expect("run.sh ran");
    assert!(ran.starts_with("args=\njit=jit-config-for-"), "the JIT config in the environment only: {ran}");
    let curl_args = std::fs::read_to_string(good.join("curl-args.txt")).expect("curl ran");
    assert!(curl_args.contains("/api/runner/register"), "{curl_args}");
    for secret in ["Bearer", "jit-config-for-", &world.bootstrap_token().await] {
        assert!(!curl_args.contains(secret), "{secret} on curl's command line:\n{curl_args}");
    }
    let left: Vec<_> = std::fs::read_dir(good.join("tmp")).expect("tmp").collect();
    assert!(left.is_empty(), "the script removes its secrets directory: {left:?}");
    for copy in ["cloud/user-data.txt", "cloud/scripts/part-001"] {
        assert!(!good.join(copy).exists(), "cloud-init's {copy} (with the bootstrap token) is removed");
    }
    pacer.wait_jobs("running", 1, Duration::from_secs(10)).await;

    // A runner that is not the pinned version: the job fails at `verify` with the log tail.
    *tarball.lock().unwrap_or_else(|p| p.into_inner()) = runner_tarball(work.path(), "9.9.9");
    pacer.workflow_job("d-2", &queued_job(402)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let second = world.managed_instances().await.into_iter().find(|i| *i != first).expect("second instance");
    *instance.lock().unwrap_or_else(|p| p.into_inner()) = Imds::of(&world, &second).await;
    let bad = work.path().join("bad");
    let (ok, output) = tokio::task::spawn_blocking({
        let (script, servers, bad) = (script.clone(), servers.clone(), bad.clone());
        move || run_script(&script, &servers, &bad)
    })
    .await
    .expect("join");
    assert!(!ok, "a wrong runner version must fail:\n{output}");
    pacer.wait_jobs("failed", 1, Duration::from_secs(10)).await;

    let records = pacer.stop();
    assert!(
        find(&records, |e| matches!(e, Event::RunnerCompleted(c) if c.instance == first && c.exit_code == 0))
            .is_some()
    );
    let errored = find(&records, |e| matches!(e, Event::RunnerErrored(r) if r.instance == second))
        .expect("error reported");
    match &errored.event {
        Event::RunnerErrored(r) => {
            assert_eq!((r.stage.as_str(), r.exit_code), ("verify", 1));
            assert!(r.line > 0);
            assert_eq!(r.log_tail, "", "the log is kept beside the record, not in it");
        }
        other => panic!("{other:?}"),
    }
    // The failure log is in the vault's cold part, under the job and the instance.
    let log = pacer_store::RocksLog::open(&world.setup.data()).expect("open the log");
    let (_, kept) = pacer_store::EventLog::vault_scan(&log, "cold/failure:")
        .into_iter()
        .find(|(key, _)| key.ends_with(&format!(":{second}")))
        .expect("the failure log is kept");
    let kept: serde_json::Value = serde_json::from_slice(&kept).expect("json");
    assert!(kept["log"].as_str().is_some_and(|l| l.contains("runner reports version 9.9.9")), "{kept}");
    assert!(find(&records, |e| matches!(e, Event::JobFailed(f) if f.stage == FailureStage::Bootstrap && f.message.contains("verify"))).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_script_trusts_a_self_signed_pacer_by_its_pinned_key() {
    let mut world = World::bare().await;
    world.setup.import(&world.backup(json!({"runner_version": VERSION})));
    world.setup.env.push(("PACER_SERVER_TLS_MODE".into(), "self_signed".into()));
    world.setup.tls_trust = Some(world.setup.data().join("tls/self-signed.crt"));
    let pacer = world.setup.start().await;
    let pin = pacer
        .logs()
        .lines()
        .find_map(|line| line.strip_prefix("pacer: TLS public-key pin ").map(str::to_owned))
        .expect("the pin is printed");
    let script = world.user_data(1).await;
    assert!(script.contains(&format!("PUBLIC_KEY_PIN='{pin}'")), "the user data carries the pin");

    // curl refuses the certificate without the pin, and with another key's pin.
    let healthz = format!("{}/healthz", pacer.url);
    let curl = |args: &[&str]| {
        Command::new("curl").args(["-sS", "-o", "/dev/null"]).args(args).arg(&healthz).status()
    };
    assert!(curl(&[]).expect("curl").code() == Some(60), "an unknown authority is refused");
    let other = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(curl(&["--insecure", "--pinnedpubkey", other]).expect("curl").code(), Some(90));
    assert!(curl(&["--insecure", "--pinnedpubkey", &pin]).expect("curl").success());

    let work = tempfile::tempdir().expect("tempdir");
    let instance = Arc::new(Mutex::new(Imds::default()));
    let tarball = Arc::new(Mutex::new(runner_tarball(work.path(), VERSION)));
    let servers = local_servers(instance.clone(), tarball).await;
    pacer.workflow_job("tls-1", &queued_job(601)).await;
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let launched = world.managed_instances().await[0].clone();
    *instance.lock().unwrap_or_else(|p| p.into_inner()) = Imds::of(&world, &launched).await;
    let run = work.path().join("run");
    let (ok, output) = tokio::task::spawn_blocking({
        let (script, servers, run) = (script.clone(), servers.clone(), run.clone());
        move || run_script(&script, &servers, &run)
    })
    .await
    .expect("join");
    assert!(ok, "the script failed over TLS:\n{output}\n{}", pacer.logs());
    let curl_args = std::fs::read_to_string(run.join("curl-args.txt")).expect("curl ran");
    assert!(curl_args.contains(&format!("--pinnedpubkey {pin}")), "{curl_args}");
    let records = pacer.stop();
    assert!(
        find(
            &records,
            |e| matches!(e, Event::RunnerCompleted(c) if c.instance == launched && c.exit_code == 0)
        )
        .is_some()
    );
}
