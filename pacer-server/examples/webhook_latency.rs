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
//! - `queue`: queue time, from a job's webhook to its runner online, over the busiest half hour
//!   of a working day's arrivals ([`day_of_arrivals`]), cold (every job launches), from stopped
//!   warm capacity and from hot warm capacity, with the warm cost of each. FakeCompute and the
//!   simulated instances take EC2's and the runner's realistic times ([`Times`]), all divided by
//!   [`SCALE`] so a run takes minutes; the times reported are multiplied back (Pacer's own
//!   latency is thereby counted `SCALE` times: the numbers err on the slow side).
//!   Goal: hot p95 < 5 s, stopped p95 < 25 s.
//!
//! Run: `bash scripts/bench.sh server`, or after `cargo build --release --workspace --locked --bins
//! --examples`: `$CARGO_TARGET_DIR/release/examples/webhook_latency [latency|burst|queue|all]`

use async_trait::async_trait;
use futures::StreamExt;
use pacer_aws::{
    Compute, ComputeError, FAKE_ACCOUNT, FakeCompute, FakeSettings, IdentitySigner, ImageQuery, ImageSummary,
    InstanceIdentity, InstanceProfileSummary, InstanceState, InstanceStatus, Launched, PermissionCheck,
    RateLimits, SecurityGroupSummary, SubnetSummary, Throttled,
};
use pacer_domain::{
    Actor, Command, Event, JobStatus, LaunchSpec, Market, Micros, PoolSpec, PriceQuote, ProjectSpec,
    RepoSpec, Tags, TemplateRef, TemplateSpec, WarmCounts, WarmSizing, WarmSpec, Window,
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
        let fake = FakeSettings { launch_latency, ..FakeSettings::new(7) };
        Self::with(fake, max_concurrent_launches, rate_limited, None, None).await
    }

    /// A server over a FakeCompute of `fake`, whose pool holds `warm` capacity; `identity`
    /// signs the simulated instances' identity documents.
    async fn with(
        fake: FakeSettings,
        max_concurrent_launches: usize,
        rate_limited: bool,
        identity: Option<&IdentitySigner>,
        warm: Option<WarmSpec>,
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let rate_limits = rate_limited.then(RateLimits::default);
        let compute = Arc::new(TimedCompute::new(FakeSettings { rate_limits, ..fake }));
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
            identity: Arc::new(pacer_aws::IdentityVerifier::trusting(
                "us-east-1",
                identity.iter().map(|signer| signer.public_key()).collect(),
            )),
        };
        let running = start(dir.path(), settings, options, peers, listener).await.expect("start pacer");
        configure(&running, warm).await;
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

/// Project `platform` (no cap), pool `default` (cap 5,000) holding `warm` capacity, repo
/// `octo/hello`.
async fn configure(running: &Running, warm: Option<WarmSpec>) {
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
    if warm.is_some() {
        let command = Command::SetPoolWarm { pool: pacer_domain::PoolId(1), warm };
        engine.app.execute(command, meta()).await.expect("set warm capacity");
    }
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

/// The queue benchmark's time compression: every simulated duration is divided by it.
const SCALE: f64 = 5.0;

/// Realistic times, in seconds, before [`SCALE`]: EC2's and the runner's.
struct Times;

impl Times {
    /// A launch call's answer.
    const LAUNCH_CALL: f64 = 1.5;
    /// A new instance's boot, to its user data running.
    const BOOT: f64 = 20.0;
    /// The first boot's bootstrap, runner download and extra user data.
    const INSTALL: f64 = 8.0;
    /// A stopped instance's start, to its user data running again.
    const START: f64 = 12.0;
    /// A later boot's extra user data (the runner is installed).
    const REBOOT_SETUP: f64 = 2.0;
    /// The runner, its JIT config in hand, connecting to GitHub.
    const RUNNER_START: f64 = 3.0;
    /// A stop.
    const STOP: f64 = 5.0;
}

fn scaled(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds / SCALE)
}

/// A working day's arrivals (seconds after midnight, UTC): a trickle at night, office hours with
/// pushes that queue 1–8 jobs at once, a lunch dip; 1,400 jobs, deterministic. The busiest half
/// hour is what the queue benchmark replays.
fn day_of_arrivals() -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(20_261_206);
    let rate_per_hour = |hour: usize| -> f64 {
        [
            2., 1., 1., 1., 1., 2., 4., 10., 30., 48., 52., 44., 26., 36., 50., 46., 38., 24., 12., 8., 6.,
            4., 3., 2.,
        ][hour]
    };
    let mut arrivals = Vec::new();
    for hour in 0..24 {
        // Pushes per hour; each queues a workflow's jobs at once, a second apart at most.
        let pushes = (rate_per_hour(hour) / 3.0).round() as usize;
        for _ in 0..pushes {
            let at = hour as f64 * 3_600.0 + rng.f64() * 3_600.0;
            for job in 0..rng.usize(1..=8) {
                arrivals.push(at + job as f64 * rng.f64());
            }
        }
    }
    arrivals.sort_by(f64::total_cmp);
    arrivals
}

/// The busiest `window` seconds of `arrivals`, as offsets from its start.
fn busiest(arrivals: &[f64], window: f64) -> Vec<f64> {
    let mut best = (0, 0);
    let mut end = 0;
    for start in 0..arrivals.len() {
        while end < arrivals.len() && arrivals[end] < arrivals[start] + window {
            end += 1;
        }
        if end - start > best.1 - best.0 {
            best = (start, end);
        }
    }
    arrivals[best.0..best.1].iter().map(|at| at - arrivals[best.0]).collect()
}

/// The simulated instances of a queue run: each boot of each instance plays its user data
/// (bootstrap on the first boot, install, registration, the runner starting) through Pacer's
/// runner callbacks over HTTP, and notes when each job's runner came online.
struct Instances {
    server: Arc<Server>,
    signer: IdentitySigner,
    base: String,
    /// Callback tokens, kept across a stop.
    tokens: Mutex<HashMap<String, String>>,
    /// Instances whose current boot is being played.
    playing: Mutex<std::collections::HashSet<String>>,
    /// Pacer job id → when its runner came online.
    online: Mutex<HashMap<u64, Instant>>,
    /// Set once the run is measured: boots still under way end quietly.
    over: std::sync::atomic::AtomicBool,
}

impl Instances {
    async fn watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let Ok(live) = self.server.compute.inner.list_managed().await else { continue };
            for status in live.into_iter().filter(|s| s.state == InstanceState::Running) {
                if self.playing.lock().expect("not poisoned").insert(status.instance_id.clone()) {
                    tokio::spawn(self.clone().boot(status));
                }
            }
        }
    }

    async fn call(&self, path: &str, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .server
            .http
            .post(format!("{}/api/runner/{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("a runner callback");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// One boot of `status`'s instance.
    async fn boot(self: Arc<Self>, status: InstanceStatus) {
        let id = status.instance_id.clone();
        let kept = self.tokens.lock().expect("not poisoned").get(&id).cloned();
        let token = match kept {
            Some(token) => {
                tokio::time::sleep(scaled(Times::REBOOT_SETUP)).await;
                token
            }
            None => {
                let (document, signature) = self.signer.sign(&InstanceIdentity {
                    instance_id: id.clone(),
                    account_id: FAKE_ACCOUNT.into(),
                    region: "us-east-1".into(),
                    pending_time: status.launched_at.expect("a launch time").to_string(),
                });
                let bootstrap = self.server.running.engine.secrets.pool_bootstrap_token(1);
                let proof =
                    serde_json::json!({"instance_id": id, "document": document, "signature": signature});
                let (code, answer) = self.call("bootstrap", &bootstrap, proof).await;
                assert_eq!(code, 200, "bootstrap of {id}: {answer}");
                let token = answer["callback_token"].as_str().expect("a callback token").to_owned();
                self.tokens.lock().expect("not poisoned").insert(id.clone(), token.clone());
                tokio::time::sleep(scaled(Times::INSTALL)).await;
                token
            }
        };
        loop {
            match self.call("register", &token, serde_json::json!({})).await {
                (200, _) => break,
                // Stopped capacity, ready: stopped by Pacer; a start plays the next boot.
                (204, _) => {
                    tokio::time::sleep(scaled(Times::STOP)).await;
                    self.playing.lock().expect("not poisoned").remove(&id);
                    return;
                }
                (409, _) => {}
                // The run is over and its server stopping.
                _ if self.over.load(std::sync::atomic::Ordering::Relaxed) => return,
                (code, answer) => panic!("registration of {id}: {code} {answer}"),
            }
        }
        tokio::time::sleep(scaled(Times::RUNNER_START)).await;
        let job = self.server.running.engine.app.state().instances.get(&id).and_then(|i| i.job);
        if let Some(job) = job {
            self.online.lock().expect("not poisoned").insert(job.0, Instant::now());
        }
    }
}

/// The arrivals a queue run replays: the busiest half hour of [`day_of_arrivals`]
/// (`QUEUE_MINUTES` shortens it for a quick look), and its busiest 5 minutes' count, the warm
/// capacity a forecast at p100 would hold for it.
fn queue_arrivals() -> (Vec<f64>, u32) {
    let minutes: f64 = std::env::var("QUEUE_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(30.0);
    let arrivals = busiest(&day_of_arrivals(), minutes * 60.0);
    let peak = busiest(&arrivals, 300.0).len() as u32;
    (arrivals, peak)
}

/// One queue run: `arrivals` against a pool holding `warm`.
async fn queue(name: &str, arrivals: &[f64], warm: Option<WarmCounts>) {
    let fake = FakeSettings {
        // Instances' launch times as Pacer's clock has them, as their identity documents say.
        start: pacer_server::Clock::now(&SystemClock),
        launch_latency: scaled(Times::LAUNCH_CALL),
        boot_time: scaled(Times::BOOT),
        start_time: scaled(Times::START),
        stop_time: scaled(Times::STOP),
        ..FakeSettings::new(7)
    };
    let signer = IdentitySigner::generate().expect("a signing key");
    let spec = warm.map(|counts| WarmSpec { sizing: WarmSizing::Fixed(counts), max_age_minutes: 24 * 60 });
    // No API rate limits here (the burst measures those): the simulated instances watch the
    // fake's states through its API far more often than EC2 would allow.
    let server = Arc::new(Server::with(fake, 32, false, Some(&signer), spec).await);
    let base = server.url.trim_end_matches("/api/webhook").to_owned();
    let instances = Arc::new(Instances {
        server: server.clone(),
        signer,
        base,
        tokens: Mutex::default(),
        playing: Mutex::default(),
        online: Mutex::default(),
        over: Default::default(),
    });
    let watcher = tokio::spawn(instances.clone().watch());
    // Warm capacity ready before the first job (a real pool holds it ahead of the day).
    if let Some(counts) = warm {
        // Hot ones ready at registration, stopped ones at rest.
        let ready = |engine: &pacer_server::Engine| {
            let state = engine.app.state();
            let ready = |i: &&pacer_domain::Instance| i.warm.is_some_and(|w| w.ready_at.is_some());
            let idle =
                |stopped| state.instances.iter().filter(|i| i.is_idle_warm_of(stopped)).filter(ready).count();
            idle(false) >= counts.hot as usize && idle(true) >= counts.stopped as usize
        };
        assert!(
            wait_until(Duration::from_secs(120), || ready(&server.running.engine)).await,
            "warm capacity ready"
        );
    }
    let minutes = arrivals.last().map_or(0.0, |last| (last / 60.0).ceil());
    let posts = deliveries(70_000_000_000, arrivals.len() as u64);
    let started = Instant::now();
    let mut posted = HashMap::new();
    for (at, delivery) in arrivals.iter().zip(&posts) {
        tokio::time::sleep_until((started + Duration::from_secs_f64(at / SCALE)).into()).await;
        let before = Instant::now();
        let (job, _) = server.post(delivery).await;
        posted.insert(job, before);
    }
    let all_online = wait_until(Duration::from_secs(300), || {
        instances.online.lock().expect("not poisoned").len() >= posted.len()
    })
    .await;
    assert!(all_online, "every runner online");
    watcher.abort();
    let online = instances.online.lock().expect("not poisoned").clone();
    let mut waits: Vec<Duration> =
        posted.iter().map(|(job, at)| online[job].duration_since(*at).mul_f64(SCALE)).collect();
    waits.sort();
    if std::env::var("QUEUE_DEBUG").is_ok() {
        eprintln!("{waits:?}");
    }
    let engine = &server.running.engine;
    let now = engine.app.now();
    let counters = engine.app.state().stats_total(Window::last_days(now, 1), None, now);
    let job_cost: Micros = engine
        .app
        .state()
        .jobs
        .iter()
        .filter_map(|job| engine.app.state().job_cost(job, now).map(|c| c.amount))
        .fold(Micros::ZERO, |a, b| a + b);
    println!(
        "queue time, {name}: {} jobs over the busiest {minutes} minutes of a day, p50 {:.1} s, p95 {:.1} s, \
         max {:.1} s; warm cost {} (×{SCALE}: the real time's), jobs' instance cost so far {}",
        waits.len(),
        percentile(&waits, 0.50) / 1e3,
        percentile(&waits, 0.95) / 1e3,
        percentile(&waits, 1.0) / 1e3,
        Micros((counters.warm_cost.0 as f64 * SCALE) as i64),
        Micros((job_cost.0 as f64 * SCALE) as i64),
    );
    instances.over.store(true, std::sync::atomic::Ordering::Relaxed);
    server.running.engine.shutdown().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if what == "queue" || what == "all" {
        let (arrivals, peak) = queue_arrivals();
        queue("cold", &arrivals, None).await;
        queue(&format!("{peak} stopped"), &arrivals, Some(WarmCounts { hot: 0, stopped: peak })).await;
        queue(&format!("{peak} hot"), &arrivals, Some(WarmCounts { hot: peak, stopped: 0 })).await;
    }
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
