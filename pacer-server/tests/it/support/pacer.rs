//! The real `pacer` binary as a child process: written configuration, port 0, readiness by
//! polling `/readyz`, stderr captured to a file (printed when a test fails), stopped with
//! SIGTERM or killed with SIGKILL, and its event log read back afterwards.

use pacer_domain::{Event, Recorded};
use pacer_store::{EventLog, RocksLog};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The webhook secret of every test Pacer.
pub const SECRET: &str = "It's a Secret to Everybody";

/// What a test Pacer is configured with.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Directory holding the config, key and data.
    pub dir: PathBuf,
    /// moto's URL.
    pub moto: String,
    /// The pricing stub's URL, if any.
    pub pricing: Option<String>,
    /// The fake GitHub's URL.
    pub github: String,
    /// Reaper period.
    pub reaper_seconds: u64,
    /// Missed-webhook recovery period (0 = off).
    pub redelivery_seconds: u64,
    /// Capacity backoff in seconds (Pacer's defaults when `None`).
    pub backoff_seconds: Option<Vec<u64>>,
    /// The lines under `auth:` (indented two spaces).
    pub auth: String,
    /// `server.addr` (port 0 unless a test needs to know it before the start).
    pub addr: String,
    /// More environment for `pacer` (configuration overrides).
    pub env: Vec<(String, String)>,
    /// Over TLS: the PEM certificate the test's HTTP client trusts (read once Pacer listens,
    /// so a certificate Pacer generates at its start can be named).
    pub tls_trust: Option<PathBuf>,
}

impl Setup {
    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The configuration file (written on first use).
    pub fn config_file(&self) -> PathBuf {
        let path = self.dir.join("pacer.yaml");
        let mut pricing =
            self.pricing.as_ref().map(|p| format!("  pricing_endpoint_url: {p}\n")).unwrap_or_default();
        // The test authority that plays AWS for instance identity documents.
        let authority = self.dir.join("identity.pem");
        if authority.exists() {
            pricing.push_str(&format!("  identity_certificates: [{}]\n", authority.display()));
        }
        let yaml = format!(
            "server:\n  addr: {addr}\nstorage:\n  path: {data}\n  snapshot_every: 50\naws:\n  region: us-east-1\n  endpoint_url: {moto}\n{pricing}github:\n  app_id: 4242\n  private_key_path: {key}\n  webhook_secret: \"{SECRET}\"\n  api_url: {github}\n  redelivery_interval_seconds: {redelivery}\nauth:\n{auth}dispatcher:\n  sweep_seconds: 1\n{backoff}reaper:\n  interval_seconds: {reaper}\n  orphan_grace_minutes: 0\nlogging:\n  level: info,pacer_server=debug\n",
            addr = self.addr,
            auth = self.auth,
            data = self.data().display(),
            moto = self.moto,
            key = self.dir.join("app.pem").display(),
            github = self.github,
            reaper = self.reaper_seconds,
            redelivery = self.redelivery_seconds,
            backoff = self
                .backoff_seconds
                .as_ref()
                .map(|b| format!("  capacity_backoff_seconds: {b:?}\n"))
                .unwrap_or_default(),
        );
        std::fs::write(&path, yaml).expect("write config");
        path
    }

    /// `pacer` with the environment every test run needs (dummy AWS credentials, no profile):
    /// this build's, or the one `PACER_BIN` names (a release build, for the figures the burst
    /// tests print).
    pub fn command(&self) -> Command {
        let binary = std::env::var_os("PACER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_pacer").into());
        let mut command = Command::new(binary);
        command
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("PACER_LOG")
            .env_remove("AWS_PROFILE")
            .envs(self.env.iter().cloned());
        command
    }

    /// Runs `pacer backup import` of `backup` (must succeed).
    pub fn import(&self, backup: &Value) {
        let file = self.dir.join("backup.json");
        std::fs::write(&file, backup.to_string()).expect("write backup");
        let output = self
            .command()
            .args(["backup", "import", "--config"])
            .arg(self.config_file())
            .arg(&file)
            .output()
            .expect("run pacer backup import");
        assert!(
            output.status.success(),
            "backup import failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts `pacer serve` and waits until it is ready.
    pub async fn start(&self) -> Pacer {
        let log = self.dir.join(format!(
            "pacer-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let mut child = self
            .command()
            .args(["serve", "--config"])
            .arg(self.config_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pacer");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).expect("log file");
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                if !sent && let Some(url) = line.strip_prefix("pacer: listening on ") {
                    let _ = tx.send(url.to_owned());
                    sent = true;
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("pacer did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        };
        let http = match &self.tls_trust {
            Some(pem) => trusting(&std::fs::read(pem).expect("the certificate to trust")),
            None => reqwest::Client::new(),
        };
        let pacer = Pacer { child: Some(child), url, log, http, data: self.data() };
        pacer
            .wait_for("/readyz is 200", Duration::from_secs(60), || async {
                pacer.http.get(format!("{}/readyz", pacer.url)).send().await.is_ok_and(|r| r.status() == 200)
            })
            .await;
        pacer
    }
}

/// An HTTP client that trusts only the PEM certificate `pem`.
pub fn trusting(pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem).expect("a PEM certificate")])
        .build()
        .expect("client")
}

/// A running `pacer serve`.
pub struct Pacer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (`https://` over TLS).
    pub url: String,
    log: PathBuf,
    /// An HTTP client.
    pub http: reqwest::Client,
    data: PathBuf,
}

impl Pacer {
    /// Its captured logs.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `check` every 100 ms until it holds, or fails with the logs after `timeout`.
    pub async fn wait_for<F, Fut>(&self, what: &str, timeout: Duration, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while !check().await {
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; pacer logs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Posts a webhook signed with [`SECRET`] (or `signature` when given): (status, body), or
    /// (0, the error) when no answer came at all.
    pub async fn webhook(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> (u16, Value) {
        let signature = signature
            .map(str::to_owned)
            .unwrap_or_else(|| pacer_server::webhook_signature(SECRET.as_bytes(), body));
        let response = self
            .http
            .post(format!("{}/api/webhook", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            // No answer at all (a Pacer killed mid-burst): status 0 and why.
            Err(error) => (0, Value::String(error.to_string())),
        }
    }

    /// Posts a workflow_job webhook.
    pub async fn workflow_job(&self, delivery: &str, body: &Value) -> (u16, Value) {
        self.webhook("workflow_job", delivery, body.to_string().as_bytes(), None).await
    }

    /// A runner callback with a bearer token.
    pub async fn callback(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/runner/{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("callback");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The value of a Prometheus sample, e.g. `pacer_jobs{status="running"}`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Waits until `count` jobs are in `status`.
    /// A GraphQL request (auth disabled, as the tests' configuration has it); the `data`, or a
    /// panic with the errors.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/graphql", self.url))
            .header("x-pacer-request", "1")
            .json(&serde_json::json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("graphql");
        let body: Value = response.json().await.expect("json");
        assert!(body["errors"].is_null(), "{query}: {body}");
        body["data"].clone()
    }

    pub async fn wait_jobs(&self, status: &str, count: usize, timeout: Duration) {
        let sample = format!("pacer_jobs{{status=\"{status}\"}}");
        self.wait_for(&format!("{count} {status} jobs"), timeout, || async {
            self.metric(&sample).await as usize == count
        })
        .await;
    }

    /// The process id of the running binary.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> Vec<Recorded> {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let status = wait_exit(&mut child, Duration::from_secs(90));
            assert!(
                status.is_some_and(|s| s.success()),
                "pacer did not exit cleanly ({status:?}):\n{}",
                self.logs()
            );
            assert_eq!(wal_bytes(&self.data), 0, "a clean stop leaves RocksDB's write-ahead log empty");
        }
        read_log(&self.data)
    }

    /// Kills the process with SIGKILL (it is reaped when this handle drops).
    pub fn kill_9(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").arg("-KILL").arg(child.id().to_string()).status();
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("---- pacer logs ----\n{}", self.logs());
            }
        }
    }
}

/// The bytes of RocksDB's write-ahead log files in a data directory: what the next start replays.
fn wal_bytes(data: &std::path::Path) -> u64 {
    std::fs::read_dir(data.join("db"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
                .filter_map(|entry| entry.metadata().ok())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every record in a (stopped) Pacer's data directory.
pub fn read_log(data: &Path) -> Vec<Recorded> {
    let log = RocksLog::open(data).expect("open the log");
    log.read(1, usize::MAX).expect("read the log")
}

/// A vault entry of a (stopped) Pacer's data directory, as JSON.
pub fn vault_entry(data: &Path, key: &str) -> Value {
    let log = RocksLog::open(data).expect("open the log");
    serde_json::from_slice(&log.vault_get(key).unwrap_or_else(|| panic!("no vault entry {key}")))
        .expect("json")
}

/// The current bootstrap key in the vault (every pool's token derives from it).
pub fn bootstrap_key(data: &Path) -> String {
    vault_entry(data, "bootstrap")[0]["token"].as_str().expect("token").to_owned()
}

/// The deliveries in `records` that were queued, in log order, each as often as it was.
pub fn queued_deliveries(records: &[Recorded]) -> Vec<&str> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobQueued(q) => Some(q.delivery_id.as_str()),
            _ => None,
        })
        .collect()
}

/// Names of the events in `records`.
pub fn names(records: &[Recorded]) -> Vec<&'static str> {
    records.iter().map(|r| r.event.name().as_str()).collect()
}

/// Records about job `job` (by Pacer id), in order.
pub fn of_job(records: &[Recorded], job: u64) -> Vec<&Recorded> {
    let subject = pacer_domain::Subject::Job(pacer_domain::JobId(job));
    records.iter().filter(|r| r.event.subjects().contains(&subject)).collect()
}

/// The first record matching `pick`.
pub fn find(records: &[Recorded], pick: impl Fn(&Event) -> bool) -> Option<&Recorded> {
    records.iter().find(|r| pick(&r.event))
}
