//! Test peers: moto's EC2 server (patched for capacity faults by
//! `tools/aws/moto_faulty_server.py`) and the AWS Pricing stub, each started on a
//! free loopback port for one test and killed when dropped. moto records the requests it gets
//! once asked to (`/moto-api/recorder/start-recording`), the pricing stub always; both in
//! moto's recorder format. The Python venv comes from
//! `scripts/install-python-peers.sh`; when it is missing the test fails and says so. The
//! generic part (a child process serving HTTP, the venv) is pacer-store's, shared by path.

#[path = "../../../pacer-store/tests/it/peer.rs"]
mod peer;

pub use peer::Peer;
use peer::{free_port, python};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use pacer_aws::{Ec2Compute, Ec2Settings};
use std::path::PathBuf;
use std::process::Command;
use tempfile::TempDir;

/// The test region.
pub const REGION: &str = "us-east-1";

/// The repository's root (its `tools/`), read at run time: a test binary reused from another
/// checkout keeps its `env!` path.
fn repo_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("..")
}

fn script(name: &str) -> PathBuf {
    let path = repo_dir().join("tools/aws").join(name);
    assert!(path.exists(), "{} is missing: the repository's tools/aws should hold it", path.display());
    path
}

/// One moto server with its faults file, plus (optionally) a pricing stub.
pub struct Aws {
    /// moto.
    pub moto: Peer,
    /// The pricing stub, when started.
    pub pricing: Option<Peer>,
    faults: PathBuf,
    dir: TempDir,
}

impl Aws {
    /// Starts moto (with the capacity-fault patch) on a free port.
    pub fn start() -> Aws {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = dir.path().join("faults.json");
        std::fs::write(&faults, "{}").expect("write faults file");
        let port = free_port();
        let mut command = Command::new(python());
        command
            .arg(script("moto_faulty_server.py"))
            .arg("127.0.0.1")
            .arg(port.to_string())
            .env("MOTO_FAULTS_FILE", &faults)
            .env("MOTO_RECORDER_FILEPATH", dir.path().join("moto-recording.jsonl"))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let moto = Peer::start(dir.path(), "moto", command, port);
        Aws { moto, pricing: None, faults, dir }
    }

    /// Also starts the pricing stub with its default prices.
    pub fn with_pricing(mut self) -> Aws {
        let port = free_port();
        let mut command = Command::new(python());
        command
            .arg(script("pricing_stub.py"))
            .arg(port.to_string())
            .env("PRICING_STUB_RECORDING", self.pricing_recording());
        self.pricing = Some(Peer::start(self.dir.path(), "pricing", command, port));
        self
    }

    /// The file the pricing stub appends each request to (one JSON line each, as moto's
    /// recorder writes them); absent until the first request.
    pub fn pricing_recording(&self) -> PathBuf {
        self.dir.path().join("pricing-recording.jsonl")
    }

    /// Replaces the injected faults, e.g. `{"m5.large": "InsufficientInstanceCapacity"}`.
    pub fn set_faults(&self, faults: serde_json::Value) {
        std::fs::write(&self.faults, faults.to_string()).expect("write faults file");
    }

    /// The SDK configuration every client of this test uses: dummy credentials, us-east-1,
    /// moto's endpoint, no retries (so failures show at once).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "pacer-tests"))
            .endpoint_url(&self.moto.url)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .load()
            .await
    }

    /// The settings pointing every client at the peers.
    pub fn settings(&self) -> Ec2Settings {
        Ec2Settings {
            region: REGION.into(),
            endpoint_url: Some(self.moto.url.clone()),
            iam_endpoint_url: Some(self.moto.url.clone()),
            pricing_endpoint_url: self.pricing.as_ref().map(|p| p.url.clone()),
            ..Ec2Settings::new(REGION)
        }
    }

    /// The compute under test.
    pub async fn compute(&self) -> Ec2Compute {
        Ec2Compute::from_sdk_config(&self.sdk_config().await, self.settings())
    }

    /// A raw EC2 client for setting up and reading back.
    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config().await)
    }

    /// A raw IAM client.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config().await)
    }
}
