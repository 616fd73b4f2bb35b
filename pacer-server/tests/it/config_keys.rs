//! Configuration keys that reach outside the process, against the real binary: `logging.output`
//! appending to a file (and a file that cannot be opened stopping the start), `aws.profile`
//! giving every AWS client Pacer builds (EC2, DynamoDB, S3) a named profile's credentials from
//! the shared files `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` name.

use crate::support::queued_job;
use crate::support::world::World;
use serde_json::json;
use std::time::Duration;

/// Runs `pacer serve` with `world`'s configuration and `env`, expecting it to refuse to start:
/// its exit code and stderr.
fn refused_start(world: &World, env: &[(&str, String)]) -> (Option<i32>, String) {
    let output = world
        .setup
        .command()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["serve", "--config"])
        .arg(world.setup.config_file())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run pacer serve");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_output_appends_to_a_file_and_a_file_that_cannot_be_opened_stops_the_start() {
    let mut world = World::new().await;
    let logs = world.setup.dir.join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let file = logs.join("pacer.log");
    world.setup.env.push(("PACER_LOGGING_OUTPUT".into(), file.display().to_string()));

    let pacer = world.setup.start().await;
    let written = std::fs::read_to_string(&file).expect("the log file is created");
    assert!(written.contains("effective configuration") && written.contains("pacer listening"), "{written}");
    assert!(!written.contains("\u{1b}["), "no terminal colours in a file: {written}");
    let stderr = pacer.logs();
    assert!(stderr.contains("pacer: listening on"), "the address line stays on stderr: {stderr}");
    assert!(!stderr.contains("effective configuration"), "the log lines went to the file only: {stderr}");
    pacer.stop();

    // A second start appends.
    let pacer = world.setup.start().await;
    pacer.stop();
    let written = std::fs::read_to_string(&file).expect("the log file");
    assert_eq!(written.matches("pacer listening").count(), 2, "both starts, appended: {written}");

    // A file Pacer cannot open (a link into a directory that does not exist) stops the start,
    // and so does a directory that does not exist (found by validation, before anything runs).
    let dangling = logs.join("dangling.log");
    std::os::unix::fs::symlink(world.setup.dir.join("gone/pacer.log"), &dangling).expect("symlink");
    let (code, stderr) = refused_start(&world, &[("PACER_LOGGING_OUTPUT", dangling.display().to_string())]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("logging.output: cannot open") && stderr.contains("dangling.log"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    let missing = world.setup.dir.join("missing/pacer.log").display().to_string();
    let (code, stderr) = refused_start(&world, &[("PACER_LOGGING_OUTPUT", missing)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("logging.output: its directory does not exist"), "{stderr}");
}

/// The access key of the profile: what tells its requests in moto's recording.
const PROFILE_KEY: &str = "AKIAPACERPROFILE0001";

/// Whether `recording` (moto's, one JSON request per line) holds a request to `service`
/// signed with [`PROFILE_KEY`] in us-east-1.
fn signed_with_the_profile(recording: &str, service: &str) -> bool {
    let scope = format!("/us-east-1/{service}/aws4_request");
    recording.split(&format!("Credential={PROFILE_KEY}/")).skip(1).any(|rest| {
        // The scope follows the key: `<date>/<region>/<service>/aws4_request`.
        rest.get(8..8 + scope.len()) == Some(scope.as_str())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_profile_gives_every_aws_client_the_profiles_credentials() {
    let mut world = World::bare().await;
    let dir = world.setup.dir.clone();
    std::fs::write(dir.join("aws-config"), "[profile pacer-ci]\nregion = us-east-1\n").expect("config file");
    std::fs::write(
        dir.join("aws-credentials"),
        format!("[pacer-ci]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = testing\n"),
    )
    .expect("credentials file");
    let table = format!("pacer-profile-{}", std::process::id());
    world.setup.env.extend(
        [
            // No keys in the environment: credentials come from the files only.
            ("AWS_ACCESS_KEY_ID", String::new()),
            ("AWS_SECRET_ACCESS_KEY", String::new()),
            ("AWS_CONFIG_FILE", dir.join("aws-config").display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials").display().to_string()),
            // The shared log, so DynamoDB and S3 are among the clients.
            ("PACER_STORAGE_BACKEND", "dynamodb".into()),
            ("PACER_STORAGE_DYNAMODB_TABLE", table.clone()),
            ("PACER_STORAGE_DYNAMODB_BUCKET", format!("{table}-snapshots")),
            ("PACER_STORAGE_DYNAMODB_ENDPOINT_URL", world.aws.moto.url.clone()),
            ("PACER_STORAGE_DYNAMODB_CREATE", "true".into()),
            ("PACER_STORAGE_DYNAMODB_LEASE_SECONDS", "3".into()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let backup = world.setup.dir.join("backup.json");
    std::fs::write(&backup, world.backup(json!({})).to_string()).expect("backup file");

    // Without the profile Pacer finds no credentials: the import fails and writes nothing.
    let output = world
        .setup
        .command()
        .args(["backup", "import", "--config"])
        .arg(world.setup.config_file())
        .arg(&backup)
        .output()
        .expect("run pacer backup import");
    assert!(!output.status.success(), "no credentials, yet the import ran");

    // A profile the files do not define stops the start, naming the key.
    let (code, stderr) = {
        let output = world
            .setup
            .command()
            .env("PACER_AWS_PROFILE", "pacer-prod")
            .args(["check-config", "--config"])
            .arg(world.setup.config_file())
            .output()
            .expect("run pacer check-config");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("aws.profile: no profile `pacer-prod`"), "{stderr}");

    // With it, every client signs with the profile's key.
    let http = reqwest::Client::new();
    let recorder = |verb: &str| format!("{}/moto-api/recorder/{verb}", world.aws.moto.url);
    assert!(http.post(recorder("start-recording")).send().await.expect("record").status().is_success());
    world.setup.env.push(("PACER_AWS_PROFILE".into(), "pacer-ci".into()));
    world.setup.import(&world.backup(json!({})));
    let pacer = world.setup.start().await;
    let (status, answer) = pacer.workflow_job("profile-queued", &queued_job(9_100_000_001)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")), "{answer}");
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    assert_eq!(world.managed_instances().await.len(), 1, "the job's instance, launched with the profile");
    let recording = http.get(recorder("download-recording")).send().await.expect("download");
    let recording = recording.text().await.expect("recording");
    for service in ["ec2", "dynamodb", "s3"] {
        assert!(signed_with_the_profile(&recording, service), "no {service} request signed with the profile");
    }
    drop(pacer);
}
