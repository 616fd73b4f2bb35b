//! The user data script for real: taken from the launch template Pacer wrote to moto, run under
//! bash and curl against the running binary, with instance metadata and the runner download
//! served by local test servers. A good runner registers, runs and reports completion; a runner
//! of the wrong version fails its job at the `verify` stage with the log tail. Against a Pacer
//! with a self-signed certificate, the script trusts it by the public-key pin it carries.

use crate::support::pacer::find;
use crate::support::queued_job;
use crate::support::world::{World, sign_document};
use pacer_domain::{Event, FailureStage};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::Filter;

const VERSION: &str = "2.321.0";

/// A runner tarball whose `config.sh --version` prints `version` and whose `run.sh` records
/// its arguments and the JIT config it was given through its environment next to itself.
fn runner_tarball(dir: &Path, version: &str) -> Vec<u8> {
    let src = dir.join(format!("runner-{version}"));
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("config.sh"), format!("#!/bin/bash\necho {version}\n")).expect("config.sh");
    std::fs::write(
        src.join("run.sh"),
        "#!/bin/bash\necho \"runner started with $*\"\n\
         printf 'args=%s\\njit=%s\\n' \"$*\" \"${ACTIONS_RUNNER_INPUT_JITCONFIG:-}\" > \"$(dirname \"$0\")/ran.txt\"\n",
    )
    .expect("run.sh");
    let tarball = dir.join(format!("runner-{version}.tar.gz"));
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("chmod +x '{0}'/*.sh && tar -czf '{1}' -C '{0}' .", src.display(), tarball.display()))
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::read(tarball).expect("read tarball")
}

/// What the fake instance metadata answers: the instance id, its identity document and the
/// test authority's signature of it (standing in for AWS's).
#[derive(Clone, Default)]
struct Imds {
    instance: String,
    document: String,
    signature: String,
}

impl Imds {
    /// The metadata of `instance` as EC2 would serve it.
    async fn of(world: &World, instance: &str) -> Imds {
        let document = world.identity_document(instance).await;
        let signature = sign_document(&document, &world.setup.dir.join("identity.key"));
        Imds { instance: instance.to_owned(), document, signature }
    }
}

/// Instance metadata (IMDSv2) answering from `imds`, and the runner download.
async fn local_servers(imds: Arc<Mutex<Imds>>, tarball: Arc<Mutex<Vec<u8>>>) -> String {
    let token = warp::put().and(warp::path!("latest" / "api" / "token")).map(|| "imds-token");
    let read = move |pick: fn(&Imds) -> String| {
        let imds = imds.clone();
        move || pick(&imds.lock().unwrap_or_else(|p| p.into_inner()))
    };
    let metadata = warp::get().and(warp::header::exact("x-aws-ec2-metadata-token", "imds-token"));
    let id =
        metadata.and(warp::path!("latest" / "meta-data" / "instance-id")).map(read(|m| m.instance.clone()));
    let document = metadata
        .and(warp::path!("latest" / "dynamic" / "instance-identity" / "document"))
        .map(read(|m| m.document.clone()));
    let signature = metadata
        .and(warp::path!("latest" / "dynamic" / "instance-identity" / "signature"))
        .map(read(|m| m.signature.clone()));
    let download = warp::get().and(warp::path!("runner" / String / String)).map(
        move |_version: String, _file: String| tarball.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(warp::serve(token.or(id).or(document).or(signature).or(download)).incoming(listener).run());
    url
}

/// Runs the script with a `curl` on the PATH that logs its arguments (to `curl-args.txt`)
/// before running the real one, and its temporary files in `tmp/`.
fn run_script(script: &str, servers: &str, work: &Path) -> (bool, String) {
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    // cloud-init's copies of the user data, as on a real instance.
    std::fs::create_dir_all(work.join("cloud/scripts")).expect("cloud");
    std::fs::write(work.join("cloud/user-data.txt"), script).expect("user data copy");
    std::fs::write(work.join("cloud/scripts/part-001"), script).expect("script copy");
    std::fs::create_dir_all(work.join("tmp")).expect("tmp");
    let real = Command::new("bash").args(["-c", "command -v curl"]).output().expect("which curl");
    let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
    let log = work.join("curl-args.txt");
    std::fs::write(
        bin.join("curl"),
        format!("#!/bin/bash\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{real}' \"$@\"\n", log.display()),
    )
    .expect("curl shim");
    let chmod = Command::new("chmod").arg("+x").arg(bin.join("curl")).status().expect("chmod");
    assert!(chmod.success());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("PACER_IMDS_URL", servers)
        .env("PACER_RUNNER_DOWNLOAD_URL", format!("{servers}/runner"))
        .env("PACER_RUNNER_DIR", work.join("runner"))
        .env("PACER_SHUTDOWN_COMMAND", "true")
        .env("PACER_LOG_FILE", work.join("runner.log"))
        .env("PACER_RETRY_SECONDS", "1")
        .env("PATH", path)
        .env("PACER_CLOUD_INSTANCE_DIR", work.join("cloud"))
        .env("TMPDIR", work.join("tmp"))
        .output()
        .expect("run bash");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

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
