//! An instance's side, for running the user data script for real: a fake instance metadata
//! service (IMDSv2) serving an instance's signed identity document, a runner download, and the
//! script run under bash with its endpoints pointed at them.

use crate::support::world::{World, sign_document};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use warp::Filter;

/// The runner version the tarballs report.
pub const VERSION: &str = "2.321.0";

/// A runner tarball whose `config.sh --version` prints `version` and whose `run.sh` records
/// its arguments and the JIT config it was given through its environment next to itself.
pub fn runner_tarball(dir: &Path, version: &str) -> Vec<u8> {
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
pub struct Imds {
    instance: String,
    document: String,
    signature: String,
}

impl Imds {
    /// The metadata of `instance` as EC2 would serve it.
    pub async fn of(world: &World, instance: &str) -> Imds {
        let document = world.identity_document(instance).await;
        let signature = sign_document(&document, &world.setup.dir.join("identity.key"));
        Imds { instance: instance.to_owned(), document, signature }
    }
}

/// Instance metadata (IMDSv2) answering from `imds`, and the runner download.
pub async fn local_servers(imds: Arc<Mutex<Imds>>, tarball: Arc<Mutex<Vec<u8>>>) -> String {
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

/// The script the first boot left for every later boot (cloud-init's per-boot copy).
pub fn per_boot_script(work: &Path) -> String {
    std::fs::read_to_string(work.join("per-boot/pacer-runner.sh")).expect("the per-boot copy")
}

/// Runs the script with a `curl` on the PATH that logs its arguments (to `curl-args.txt`)
/// before running the real one, and its temporary files in `tmp/`.
pub fn run_script(script: &str, servers: &str, work: &Path) -> (bool, String) {
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
        .env("PACER_STATE_DIR", work.join("state"))
        .env("PACER_PER_BOOT_DIR", work.join("per-boot"))
        .env("TMPDIR", work.join("tmp"))
        .output()
        .expect("run bash");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
