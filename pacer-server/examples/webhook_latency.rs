//! Webhook → launch-call latency and a 1,000-job burst (BENCHMARKS.md, issue 4), in process:
//! the whole server (`serve::start`: RocksDB with fsync, the decider, the dispatcher, warp on a
//! loopback port) with `FakeCompute` behind a wrapper that timestamps every `launch` call, a
//! project `platform` with pool `default` (cap 5,000) and repo `octo/hello`, and signed
//! `workflow_job` deliveries made from `testdata/webhooks/workflow_job.05.queued.json`
//! posted over HTTP by a client in the same process.
//!
//! - `latency`: FakeCompute answers at once; webhooks are posted open-loop at a fixed rate and
//!   each job's latency is the time from just before its POST to the start of its `launch`
//!   call (the effect leaving the process), and to its HTTP answer (the durable ack).
//!   Goal: p99 < 50 ms.
//! - `burst`: FakeCompute takes 200 ms per launch call and enforces EC2's default API rate limits
//!   (a call beyond them is refused with `RequestLimitExceeded`), Pacer keeps to them at its
//!   default settings (`Throttled`); 1,000 deliveries are posted at once (64 in flight) and the
//!   time is taken until every launch call has returned and until every job's
//!   `job.spawn_launched` is recorded, for several `dispatcher.max_concurrent_launches`, with the
//!   number of launch calls (batches) and of calls EC2 refused.
//!   Goal: all launched in < 3 s with no call refused.
//!
//! Run: `bash scripts/bench.sh server`, or after `cargo build --release --workspace --locked --bins
//! --examples`: `$CARGO_TARGET_DIR/release/examples/webhook_latency [latency|burst|all]`

use async_trait::async_trait;
use futures::StreamExt;
use pacer_aws::{
    Compute, ComputeError, FakeCompute, FakeSettings, ImageQuery, ImageSummary, InstanceProfileSummary,
    InstanceStatus, Launched, PermissionCheck, RateLimits, SecurityGroupSummary, SubnetSummary, Throttled,
};
use pacer_domain::{
    Actor, Command, Event, JobStatus, LaunchSpec, Market, PoolSpec, PriceQuote, ProjectSpec, RepoSpec, Tags,
    TemplateRef, TemplateSpec,
};
use pacer_server::{
    Auth, EngineSettings, Meta, Peers, Running, Secret, ServerOptions, SimulatedGitHub, SystemClock, start,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "benchmark webhook secret";

/// `FakeCompute` with the time of the first `launch` call of each job (and of its return).
struct TimedCompute {
    inner: FakeCompute,
    called: Mutex<HashMap<u64, Instant>>,
    returned: Mutex<HashMap<u64, Instant>>,
}

impl TimedCompute {
    fn new(settings: FakeSettings) -> Self {
        Self { inner: FakeCompute::new(settings), called: Mutex::default(), returned: Mutex::default() }
    }

    fn called(&self) -> HashMap<u64, Instant> {
        self.called.lock().expect("not poisoned").clone()
    }

    fn returned(&self) -> HashMap<u64, Instant> {
        self.returned.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl Compute for TimedCompute {
    async fn validate_pool(&self, pool: &PoolSpec) -> Result<(), ComputeError> {
        self.inner.validate_pool(pool).await
    }

    async fn create_template(
        &self,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        self.inner.create_template(spec, user_data).await
    }

    async fn create_template_version(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        self.inner.create_template_version(template_id, spec, user_data).await
    }

    async fn set_default_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        self.inner.set_default_version(template_id, version).await
    }

    async fn delete_template_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        self.inner.delete_template_version(template_id, version).await
    }

    async fn delete_template(&self, template_id: &str) -> Result<(), ComputeError> {
        self.inner.delete_template(template_id).await
    }

    async fn launch_batch(&self, spec: &LaunchSpec) -> Launched {
        let stamp = |times: &Mutex<HashMap<u64, Instant>>| {
            let mut times = times.lock().expect("not poisoned");
            for job in &spec.jobs {
                times.entry(*job).or_insert_with(Instant::now);
            }
        };
        stamp(&self.called);
        let launched = self.inner.launch_batch(spec).await;
        stamp(&self.returned);
        launched
    }

    async fn describe(&self, instance_ids: &[String]) -> Result<Vec<InstanceStatus>, ComputeError> {
        self.inner.describe(instance_ids).await
    }

    async fn list_managed(&self) -> Result<Vec<InstanceStatus>, ComputeError> {
        self.inner.list_managed().await
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.inner.terminate(instance_ids).await
    }

    async fn stop(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.inner.stop(instance_ids).await
    }

    async fn start(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.inner.start(instance_ids).await
    }

    async fn preflight(&self) -> Vec<PermissionCheck> {
        self.inner.preflight().await
    }

    async fn price(
        &self,
        instance_type: &str,
        availability_zone: &str,
        market: Market,
    ) -> Option<PriceQuote> {
        self.inner.price(instance_type, availability_zone, market).await
    }

    async fn list_images(&self, query: &ImageQuery) -> Result<Vec<ImageSummary>, ComputeError> {
        self.inner.list_images(query).await
    }

    async fn list_subnets(&self) -> Result<Vec<SubnetSummary>, ComputeError> {
        self.inner.list_subnets().await
    }

    async fn list_security_groups(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupSummary>, ComputeError> {
        self.inner.list_security_groups(vpc_id).await
    }

    async fn list_instance_profiles(&self) -> Result<Vec<InstanceProfileSummary>, ComputeError> {
        self.inner.list_instance_profiles().await
    }
}

/// A running in-process Pacer with its timed compute.
struct Server {
    running: Running,
    compute: Arc<TimedCompute>,
    http: reqwest::Client,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// With `rate_limited`, the fake enforces EC2's default API rate limits and Pacer keeps to
    /// them (`Throttled` at the default settings, as `pacer serve` runs).
    async fn start(launch_latency: Duration, max_concurrent_launches: usize, rate_limited: bool) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let rate_limits = rate_limited.then(RateLimits::default);
        let compute =
            Arc::new(TimedCompute::new(FakeSettings { launch_latency, rate_limits, ..FakeSettings::new(7) }));
        let peer: Arc<dyn Compute> = if rate_limited {
            Arc::new(Throttled::new(compute.clone(), &RateLimits::default()))
        } else {
            compute.clone()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let settings = EngineSettings {
            public_url: format!("http://{addr}"),
            runner_download_url: "https://github.com/actions/runner/releases/download".into(),
            max_concurrent_launches,
            sweep: Duration::from_secs(5),
            reaper_interval: Duration::from_secs(600),
            orphan_grace: Duration::from_secs(600),
            redelivery_interval: Duration::ZERO,
            snapshot_every: 100_000,
            retry_policy: pacer_domain::RetryPolicy::default(),
            public_key_pin: None,
            data_dir: std::path::PathBuf::new(),
            retention: pacer_server::RetentionConfig::default(),
        };
        let options = ServerOptions {
            github_app: std::sync::Arc::new(pacer_server::AppSetup::configured(Secret::new(SECRET))),
            auth: Arc::new(Auth::new(true, "admin@pacer.local".into(), 12, false, None)),
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            tls: pacer_server::TlsConfig::default(),
            limits: pacer_server::ConnectionLimits::default(),
        };
        let peers = Peers {
            compute: peer,
            github: Arc::new(SimulatedGitHub::default()),
            clock: Arc::new(SystemClock),
            identity: Arc::new(pacer_aws::IdentityVerifier::trusting("us-east-1", Vec::new())),
        };
        let running = start(dir.path(), settings, options, peers, listener).await.expect("start pacer");
        configure(&running).await;
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("http client");
        Server { running, compute, http, url: format!("http://{addr}/api/webhook"), _dir: dir }
    }

    /// Posts one delivery; (its Pacer job id, when the answer came).
    async fn post(&self, delivery: &Delivery) -> (u64, Instant) {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", &delivery.id)
            .header("x-hub-signature-256", &delivery.signature)
            .body(delivery.body.clone())
            .send()
            .await
            .expect("post the webhook");
        let status = response.status();
        let answer: serde_json::Value = response.json().await.expect("a JSON answer");
        let acked = Instant::now();
        assert!(status.is_success() && answer["status"] == "queued", "webhook answered {status}: {answer}");
        (answer["job_id"].as_u64().expect("the queued job's id"), acked)
    }

    /// Jobs whose `job.spawn_launched` is recorded (they stay `starting`: nothing plays runners).
    fn launched_jobs(&self) -> usize {
        self.running.engine.app.state().jobs.count(JobStatus::Starting)
    }
}

/// Project `platform` (no cap), pool `default` (cap 5,000), repo `octo/hello`.
async fn configure(running: &Running) {
    let engine = &running.engine;
    let meta = || Meta::by(Actor::User("bench@pacer.local".into()));
    let project = ProjectSpec { name: "platform".into(), ..ProjectSpec::default() };
    let records = engine.app.execute(Command::CreateProject(project), meta()).await.expect("create project");
    let project = records
        .iter()
        .find_map(|r| match &r.event {
            Event::ProjectCreated(c) => Some(c.id),
            _ => None,
        })
        .expect("project created");
    let pool = PoolSpec {
        name: "default".into(),
        is_default: true,
        ami_id: "ami-0123456789abcdef0".into(),
        instance_types: vec!["m5.large".into(), "c5.large".into()],
        subnet_ids: vec!["subnet-0aaaaaaaaaaaaaaaa".into()],
        security_group_ids: vec!["sg-0bbbbbbbbbbbbbbbb".into()],
        cap: 5_000,
        ..PoolSpec::default()
    };
    engine.create_pool(meta(), project, pool).await.expect("create pool");
    let repo = RepoSpec { full_name: "octo/hello".into(), cap: None, tags: Tags::new() };
    engine.app.execute(Command::BindRepo { project, spec: repo }, meta()).await.expect("bind repo");
}

/// One signed delivery, ready to post.
struct Delivery {
    id: String,
    signature: String,
    body: Vec<u8>,
}

/// `count` queued deliveries for `octo/hello` (labels `self-hosted`), GitHub job ids from `first`.
fn deliveries(first: u64, count: u64) -> Vec<Delivery> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/webhooks/workflow_job.05.queued.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let template: serde_json::Value = serde_json::from_str(&text).expect("the example is JSON");
    (first..first + count)
        .map(|id| {
            let mut body = template.clone();
            body["action"] = "queued".into();
            body["workflow_job"]["id"] = id.into();
            body["workflow_job"]["run_id"] = (id / 4 + 1_000_000).into();
            body["workflow_job"]["labels"] = serde_json::json!(["self-hosted"]);
            body["workflow_job"]["runner_name"] = serde_json::Value::Null;
            body["workflow_job"]["conclusion"] = serde_json::Value::Null;
            body["repository"]["full_name"] = "octo/hello".into();
            body["installation"] = serde_json::json!({"id": 4242});
            let body = body.to_string().into_bytes();
            let signature = pacer_server::webhook_signature(SECRET.as_bytes(), &body);
            Delivery { id: format!("bench-{id}"), signature, body }
        })
        .collect()
}

/// The `p`-th percentile (0..=1) of sorted `values`, in ms.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

fn summary(name: &str, mut values: Vec<Duration>) {
    values.sort();
    println!(
        "  {name}: n={} p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        values.len(),
        percentile(&values, 0.50),
        percentile(&values, 0.90),
        percentile(&values, 0.99),
        percentile(&values, 1.0)
    );
}

/// Waits until `done` holds, polling every 2 ms, for at most `limit`; whether it held.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// Open-loop: `count` deliveries at `rate` per second (each posted at its own scheduled time,
/// whatever earlier ones are doing); launch-call and ack latencies per job.
async fn latency(rate: u64, count: u64) {
    let server = Arc::new(Server::start(Duration::ZERO, 32, false).await);
    let posts = deliveries(50_000_000_000, count);
    // Warm the connection pool and the code paths; not counted.
    for delivery in deliveries(60_000_000_000, 20) {
        server.post(&delivery).await;
    }
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(posts.len());
    for (i, delivery) in posts.into_iter().enumerate() {
        let at = started + interval * i as u32;
        tokio::time::sleep_until(at.into()).await;
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let (job, acked) = server.post(&delivery).await;
            (job, sent, acked)
        }));
    }
    let mut posted = Vec::with_capacity(tasks.len());
    for task in tasks {
        posted.push(task.await.expect("a post task"));
    }
    let all = wait_until(Duration::from_secs(60), || {
        let called = server.compute.called();
        posted.iter().all(|(job, _, _)| called.contains_key(job))
    })
    .await;
    assert!(all, "not every job got a launch call within 60 s");
    let called = server.compute.called();
    let to_launch: Vec<Duration> =
        posted.iter().map(|(job, sent, _)| called[job].duration_since(*sent)).collect();
    let to_ack: Vec<Duration> = posted.iter().map(|(_, sent, acked)| acked.duration_since(*sent)).collect();
    println!(
        "latency at {rate} webhooks/s ({count} jobs, FakeCompute without latency, max_concurrent_launches 32):"
    );
    summary("webhook POST → durable ack", to_ack);
    summary("webhook POST → launch call", to_launch);
    match Arc::try_unwrap(server) {
        Ok(server) => server.running.shutdown().await,
        Err(_) => eprintln!("a post task still holds the server; not shut down cleanly"),
    }
}

/// 1,000 deliveries at once against 200 ms launches with `max_concurrent_launches` permits.
async fn burst(max_concurrent_launches: usize) {
    const JOBS: u64 = 1_000;
    let server = Arc::new(Server::start(Duration::from_millis(200), max_concurrent_launches, true).await);
    for delivery in deliveries(61_000_000_000, 1) {
        server.post(&delivery).await;
    }
    assert!(wait_until(Duration::from_secs(10), || server.launched_jobs() == 1).await, "warm-up launched");
    let posts = deliveries(51_000_000_000, JOBS);
    let started = Instant::now();
    let acks: Vec<(u64, Instant)> =
        futures::stream::iter(posts.iter().map(|d| server.post(d))).buffer_unordered(64).collect().await;
    let all_acked = started.elapsed();
    let jobs: Vec<u64> = acks.iter().map(|(job, _)| *job).collect();
    let recorded = wait_until(Duration::from_secs(120), || server.launched_jobs() == JOBS as usize + 1).await;
    let all_recorded = started.elapsed();
    assert!(recorded, "not every job launched within 120 s");
    let returned = server.compute.returned();
    let called = server.compute.called();
    let last_return = jobs.iter().map(|j| returned[j]).max().expect("1,000 launches");
    let first_call = jobs.iter().map(|j| called[j]).min().expect("1,000 launches");
    println!(
        "burst of {JOBS} jobs, 200 ms per launch, EC2's default rate limits, max_concurrent_launches {max_concurrent_launches}: \
         all acked {:.2} s, first launch call {:.3} s, last launch returned {:.2} s, all job.spawn_launched recorded {:.2} s, \
         {} launch calls, {} refused by EC2's rate limits",
        all_acked.as_secs_f64(),
        first_call.duration_since(started).as_secs_f64(),
        last_return.duration_since(started).as_secs_f64(),
        all_recorded.as_secs_f64(),
        server.compute.inner.launches().len(),
        server.compute.inner.rate_refusals()
    );
    match Arc::try_unwrap(server) {
        Ok(server) => server.running.shutdown().await,
        Err(_) => eprintln!("the server is still shared; not shut down cleanly"),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if what == "latency" || what == "all" {
        latency(50, 500).await;
        latency(500, 2_000).await;
    }
    if what == "burst" || what == "all" {
        for permits in [32, 64, 128, 256] {
            burst(permits).await;
        }
    }
}
