//! Test peers: moto's EC2 server (patched for capacity faults by
//! `tools/aws/moto_faulty_server.py`) and the AWS Pricing stub, each started on a
//! free loopback port for one test and killed when dropped. moto records the requests it gets
//! once asked to (`/moto-api/recorder/start-recording`), the pricing stub always; both in
//! moto's recorder format. The Python venv comes from
//! `scripts/install-python-peers.sh`; when it is missing the test fails and says so.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use pacer_aws::{Ec2Compute, Ec2Settings};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The test region.
pub const REGION: &str = "us-east-1";

fn peers_dir() -> PathBuf {
    match std::env::var_os("PACER_PEERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/pacer/peers"),
    }
}

/// The repository's root (its `tools/`), read at run time: a test binary reused from another
/// checkout keeps its `env!` path.
fn repo_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("..")
}

fn python() -> PathBuf {
    let python = peers_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "the Python test peers are not installed ({} is missing): run scripts/install-python-peers.sh",
        python.display()
    );
    python
}

fn script(name: &str) -> PathBuf {
    let path = repo_dir().join("tools/aws").join(name);
    assert!(path.exists(), "{} is missing: the repository's tools/aws should hold it", path.display());
    path
}

/// A loopback port nobody listens on, never handed out twice in this test process (so two
/// tests cannot race for the same port between this probe and the peer's own bind).
fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

/// Whether an HTTP server answers on `addr`. A bare TCP connect is not proof: on Linux a
/// connect to an unbound loopback port in the ephemeral range can connect to itself (TCP
/// simultaneous open), which would echo our own bytes back instead of an HTTP status line.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    if stream.local_addr().ok() == stream.peer_addr().ok() {
        return false;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// A child process serving HTTP on a loopback port, killed on drop.
pub struct Peer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
}

impl Peer {
    fn start(dir: &Path, name: &str, mut command: Command, port: u16) -> Peer {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create peer log");
        let err = out.try_clone().expect("clone peer log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        let mut peer = Peer { child, url: format!("http://127.0.0.1:{port}"), log };
        peer.wait_ready(name, port);
        peer
    }

    fn wait_ready(&mut self, name: &str, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited with {status} before listening:\n{}", self.log_text());
            }
            if answers_http(addr) {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("{name} exited with {status} (port {port} taken?):\n{}", self.log_text());
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {port} within 60 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the peer now (the next calls to it fail to connect).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
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
