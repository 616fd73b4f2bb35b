//! `pacer demo`: everything on this machine with no AWS or GitHub. EC2 is a
//! [`FakeCompute`] with realistic launch latency, boot, stop and start times, occasional
//! capacity errors and spot interruptions, called within EC2's documented rate limits as real EC2 is; GitHub is
//! simulated by a [`World`] that posts signed `workflow_job` webhooks over real HTTP to Pacer's
//! own endpoint, plays the runners on the fake instances (bootstrap, register, run a job,
//! report, shut down; one in ten fails in its boot script) through the real runner callbacks,
//! and mints JIT configs through [`SimulatedGitHub`]. The configuration is seeded with 3
//! projects, 5 pools (one holding hot instances, one stopped ones) and 4 repos the first time a
//! data directory is used.

use crate::app::Meta;
use crate::clock::{Clock, SystemClock};
use crate::config::Secret;
use crate::engine::{Engine, EngineSettings};
use crate::github::{GitHub, SimulatedGitHub};
use crate::http::webhook_signature;
use crate::serve::{Peers, Running, start};
use pacer_aws::{
    Compute, FakeCompute, FakeSettings, IdentitySigner, IdentityVerifier, InstanceIdentity, InstanceState,
    RateLimits, Throttled,
};
use pacer_domain::{
    Actor, AllocationStrategy, Command, JobStatus, PoolSpec, ProjectSpec, RepoSpec, SpawnMethod, Tags,
    Timestamp, WarmCounts, WarmSizing, WarmSpec, sanitize,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the demo runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Listen address.
    pub addr: SocketAddr,
    /// Data directory (a temporary one when `None`).
    pub data: Option<PathBuf>,
    /// Seconds between new workflow jobs, on average.
    pub job_interval: f64,
    /// Print a one-line summary this often (never when `None`).
    pub summary_every: Option<Duration>,
}

/// One of `items`, uniformly (the simulation's lists are constant and never empty).
fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// The seeded warm capacity, by pool name: `linux` keeps two hot instances (its jobs start in
/// moments), the data project's `default` two stopped ones (started for a job, in the time of a
/// boot without the launch).
fn seed_warm(pool: &str) -> Option<WarmSpec> {
    let counts = match pool {
        "linux" => WarmCounts { hot: 2, stopped: 0 },
        "default" => WarmCounts { hot: 0, stopped: 2 },
        _ => return None,
    };
    Some(WarmSpec { sizing: WarmSizing::Fixed(counts), max_age_minutes: 120 })
}

/// The seeded configuration.
fn seed_projects() -> Vec<(ProjectSpec, Vec<PoolSpec>, Vec<&'static str>)> {
    let pool = |name: &str, types: &[&str]| PoolSpec {
        name: name.into(),
        ami_id: "ami-0c55b159cbfafe1f0".into(),
        instance_types: types.iter().map(|t| t.to_string()).collect(),
        subnet_ids: vec!["subnet-0bb1c79de3e1a2b3c".into(), "subnet-0f3e2d1c0b9a87654".into()],
        security_group_ids: vec!["sg-0a1b2c3d4e5f67890".into()],
        ..PoolSpec::default()
    };
    let tags =
        |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Tags>();
    vec![
        (
            ProjectSpec {
                name: "platform".into(),
                cap: 20,
                tags: tags(&[("team", "platform"), ("cost-center", "cc-42")]),
                ..Default::default()
            },
            vec![
                PoolSpec {
                    is_default: true,
                    cap: 8,
                    tags: tags(&[("tier", "general")]),
                    ..pool("linux", &["m7i.large", "m6i.large", "m5.large"])
                },
                PoolSpec {
                    spot: true,
                    on_demand_fallback: true,
                    cap: 6,
                    priority: 50,
                    allocation_strategy: AllocationStrategy::Capacity,
                    ..pool("arm64", &["c7g.large", "c6g.large"])
                },
            ],
            vec!["acme/api", "acme/web"],
        ),
        (
            ProjectSpec {
                name: "data".into(),
                cap: 10,
                tags: tags(&[("team", "data")]),
                ..Default::default()
            },
            vec![
                PoolSpec {
                    is_default: true,
                    cap: 5,
                    root_volume_gb: 100,
                    ..pool("default", &["r7i.large", "r6i.large"])
                },
                PoolSpec {
                    priority: 10,
                    cap: 2,
                    max_runtime_minutes: 120,
                    spawn_method: SpawnMethod::RunInstances,
                    extra_labels: vec!["cuda".into()],
                    ..pool("gpu", &["g5.xlarge", "g4dn.xlarge"])
                },
            ],
            vec!["acme/etl"],
        ),
        (
            ProjectSpec { name: "mobile".into(), cap: 0, ..Default::default() },
            vec![PoolSpec {
                is_default: true,
                cap: 4,
                spot: true,
                // One minute: the demo's hung emulator jobs get reaped.
                max_runtime_minutes: 1,
                ..pool("android", &["c7i.2xlarge", "c6i.2xlarge"])
            }],
            vec!["acme/android"],
        ),
    ]
}

/// Seeds the configuration through the same engine paths as the console.
pub(crate) async fn seed(engine: &Engine) -> anyhow::Result<()> {
    if !engine.app.state().config.projects.is_empty() {
        return Ok(());
    }
    let meta = || Meta::by(Actor::User("demo@pacer.local".into()));
    for (project, pools, repos) in seed_projects() {
        let records = engine.app.execute(Command::CreateProject(project.clone()), meta()).await?;
        let id = records
            .iter()
            .find_map(|r| match &r.event {
                pacer_domain::Event::ProjectCreated(c) => Some(c.id),
                _ => None,
            })
            .ok_or_else(|| anyhow::anyhow!("project {} not created", project.name))?;
        for pool in pools {
            let warm = seed_warm(&pool.name);
            let records = engine.create_pool(meta(), id, pool).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let created = records.iter().find_map(|r| match &r.event {
                pacer_domain::Event::PoolCreated(c) => Some(c.id),
                _ => None,
            });
            if let (Some(pool), Some(warm)) = (created, warm) {
                engine.app.execute(Command::SetPoolWarm { pool, warm: Some(warm) }, meta()).await?;
            }
        }
        for repo in repos {
            let spec = RepoSpec { full_name: repo.into(), cap: None, tags: Tags::new() };
            engine.app.execute(Command::BindRepo { project: id, spec }, meta()).await?;
        }
    }
    Ok(())
}

/// One workflow job of the simulated GitHub.
#[derive(Clone, Debug)]
struct SimJob {
    id: u64,
    run_id: u64,
    repo: String,
    labels: Vec<String>,
    workflow: &'static str,
    name: &'static str,
    sender: &'static str,
    runner: Option<String>,
    /// When GitHub created it, and when a runner took it.
    created_at: Timestamp,
    started_at: Option<Timestamp>,
}

/// One in this many new jobs is followed by a cancellation (a steady, visible share).
const CANCEL_EVERY: u64 = 12;

/// One in this many instances fails in its pool's extra user data before its runner registers,
/// starting with the second, so a short demo shows a failed job with its stage and log tail.
const BOOT_FAILS_EVERY: u64 = 10;

/// The region the demo's simulated instances say they run in.
const DEMO_REGION: &str = "us-east-1";

/// The simulated GitHub and its runners.
pub(crate) struct World {
    http: reqwest::Client,
    /// The simulated GitHub, told how each job runs so it can serve the job's steps.
    github: Arc<SimulatedGitHub>,
    base: String,
    secret: Secret,
    engine: Arc<Engine>,
    compute: Arc<FakeCompute>,
    /// Plays AWS: signs the simulated instances' identity documents.
    identity: IdentitySigner,
    rng: Mutex<fastrand::Rng>,
    queued: Mutex<BTreeMap<u64, SimJob>>,
    runners: Mutex<HashSet<String>>,
    /// Callback tokens of the instances that bootstrapped, as their user data keeps them for a
    /// start after a stop.
    tokens: Mutex<HashMap<String, String>>,
    next_id: AtomicU64,
    delivery: AtomicU64,
    android_runs: AtomicU64,
    booted: AtomicU64,
    first_id: u64,
}

impl World {
    #[allow(clippy::too_many_arguments)]
    fn new(
        github: Arc<SimulatedGitHub>,
        base: String,
        secret: Secret,
        engine: Arc<Engine>,
        compute: Arc<FakeCompute>,
        identity: IdentitySigner,
        seed: u64,
    ) -> Arc<World> {
        let start = 40_000_000_000 + (seed % 1_000_000) * 1_000;
        Arc::new(World {
            http: reqwest::Client::new(),
            github,
            base,
            secret,
            engine,
            compute,
            identity,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            queued: Mutex::new(BTreeMap::new()),
            runners: Mutex::new(HashSet::new()),
            tokens: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(start),
            delivery: AtomicU64::new(1),
            android_runs: AtomicU64::new(0),
            booted: AtomicU64::new(0),
            first_id: start,
        })
    }

    fn roll(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64()
    }

    /// Posts a signed `workflow_job` webhook; Pacer's answer (`queued`, `ignored`, …), if any.
    async fn post_webhook(&self, action: &str, job: &SimJob, conclusion: Option<&str>) -> Option<String> {
        let (owner, _) = job.repo.split_once('/').unwrap_or(("acme", ""));
        let now = self.engine.app.now();
        let completed_at = (action == "completed").then_some(now);
        self.github.job_ran(job.id, job.started_at, completed_at, conclusion == Some("failure"), now);
        let time = |at: Option<Timestamp>| at.map(|t| t.to_string());
        let sender_type = if job.sender.ends_with("[bot]") { "Bot" } else { "User" };
        let body = serde_json::json!({
            "action": action,
            "workflow_job": {
                "id": job.id,
                "run_id": job.run_id,
                "run_attempt": 1,
                "workflow_name": job.workflow,
                "name": job.name,
                "head_branch": "main",
                "head_sha": format!("{:040x}", job.run_id),
                "labels": job.labels,
                "html_url": format!("https://github.com/{}/actions/runs/{}/job/{}", job.repo, job.run_id, job.id),
                "status": match action { "queued" => "queued", "in_progress" => "in_progress", _ => "completed" },
                "conclusion": conclusion,
                "runner_name": job.runner,
                "created_at": job.created_at.to_string(),
                "started_at": time(job.started_at),
                "completed_at": time(completed_at),
            },
            "repository": {"full_name": job.repo, "owner": {"login": owner}},
            "sender": {"login": job.sender, "type": sender_type},
            "installation": {"id": 4_242},
        })
        .to_string();
        let delivery = format!("demo-{:012}", self.delivery.fetch_add(1, Ordering::Relaxed));
        let response = self
            .http
            .post(format!("{}/api/webhook", self.base))
            .header("content-type", "application/json")
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                webhook_signature(self.secret.expose().as_bytes(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .ok()?;
        let answer: serde_json::Value = response.json().await.ok()?;
        answer["status"].as_str().map(str::to_owned)
    }

    fn new_job(&self) -> SimJob {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let roll = rng.f64();
        let first = id == self.first_id;
        let (repo, labels): (&str, Vec<&str>) = if first {
            // Open with an emulator job: it hangs and shows a reaping within the first minute.
            ("acme/android", vec!["self-hosted", "android"])
        } else if roll < 0.04 {
            ("acme/web", vec!["ubuntu-latest"])
        } else if roll < 0.07 {
            ("acme/website-legacy", vec!["self-hosted"])
        } else if roll < 0.09 {
            ("acme/api", vec!["self-hosted", "windows"])
        } else {
            let choices: [(&str, &[&str]); 7] = [
                ("acme/api", &["self-hosted"]),
                ("acme/api", &["self-hosted", "arm64"]),
                ("acme/web", &["self-hosted", "linux"]),
                ("acme/etl", &["self-hosted"]),
                ("acme/etl", &["self-hosted", "gpu"]),
                ("acme/android", &["self-hosted", "android"]),
                ("acme/web", &["self-hosted"]),
            ];
            let (repo, labels) = pick(&mut rng, &choices);
            (repo, labels.to_vec())
        };
        SimJob {
            id,
            run_id: 9_000_000_000 + id / 3,
            repo: repo.into(),
            labels: labels.into_iter().map(str::to_owned).collect(),
            workflow: pick(&mut rng, &["CI", "Release", "Nightly", "Lint"]),
            name: pick(&mut rng, &["build", "test (ubuntu)", "integration", "lint", "package"]),
            sender: pick(&mut rng, &["octocat", "hubot", "mona", "dependabot[bot]", "renovate[bot]"]),
            runner: None,
            created_at: self.engine.app.now(),
            started_at: None,
        }
    }

    /// Workflow traffic: a new job every `interval` seconds on average; after every
    /// [`CANCEL_EVERY`]th job GitHub cancels the oldest job Pacer queued that no runner has
    /// picked up yet, never the opening emulator job (on a slow machine its runner may not have
    /// taken it yet, and cancelling it would put the demo's first reaping off by minutes). Jobs
    /// Pacer ignores (GitHub-hosted labels, unbound repos, no matching pool) wait for no
    /// simulated runner, so they are not kept: cancelling one would show nothing.
    async fn traffic(self: Arc<Self>, interval: f64) {
        for posted in 1u64.. {
            let job = self.new_job();
            if self.post_webhook("queued", &job, None).await.as_deref() == Some("queued") {
                self.queued.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id, job);
            }
            if posted.is_multiple_of(CANCEL_EVERY) {
                let victim = {
                    let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
                    let id = queued.keys().copied().find(|id| *id != self.first_id);
                    id.and_then(|id| queued.remove(&id))
                };
                if let Some(job) = victim {
                    self.post_webhook("completed", &job, Some("cancelled")).await;
                }
            }
            let wait = interval * (0.3 + 1.4 * self.roll());
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// Starts a simulated runner on every fake instance that booted.
    async fn runners(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(instances) = self.compute.list_managed().await else { continue };
            for instance in instances.into_iter().filter(|i| i.state == InstanceState::Running) {
                let fresh = self
                    .runners
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(instance.instance_id.clone());
                if fresh {
                    tokio::spawn(self.clone().run_runner(instance.instance_id));
                }
            }
        }
    }

    async fn callback(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, u16> {
        let response = self
            .http
            .post(format!("{}/api/runner/{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|_| 0u16)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(status);
        }
        response.json().await.map_err(|_| 0)
    }

    /// Waits out a hung emulator's instance. When a spot interruption takes it before Pacer
    /// reaps it, the next emulator run hangs instead, so the demo still shows a reaping.
    async fn watch_hung(&self, instance: &str) {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let Ok(status) = self.compute.describe(&[instance.to_owned()]).await else { continue };
            let Some(status) = status.into_iter().next() else { return };
            if status.state.is_live() {
                continue;
            }
            if status.state_reason.is_some_and(|r| r.starts_with("Server.SpotInstanceTermination")) {
                self.android_runs.store(0, Ordering::Relaxed);
            }
            return;
        }
    }

    async fn alive(&self, instance: &str) -> bool {
        let status = self.compute.describe(&[instance.to_owned()]).await;
        status.ok().and_then(|s| s.into_iter().next()).is_some_and(|s| s.state.is_live())
    }

    /// One runner: what the user data script does on a real instance, on each of its boots.
    async fn run_runner(self: Arc<Self>, instance: String) {
        let kept = self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&instance).cloned();
        let token = match kept {
            // Started again after a stop: bootstrapped on the first boot.
            Some(token) => token,
            None => match self.bootstrap(&instance).await {
                Some(token) => token,
                None => return,
            },
        };
        self.serve(instance, token).await;
    }

    /// The bootstrap: the callback token, kept for later boots.
    async fn bootstrap(&self, instance: &str) -> Option<String> {
        let instance = instance.to_owned();
        let mut answer = None;
        let launched = self.compute.describe(std::slice::from_ref(&instance)).await.ok();
        let launched_at = launched.and_then(|s| s.into_iter().next()).and_then(|s| s.launched_at);
        let (document, signature) = self.identity.sign(&InstanceIdentity {
            instance_id: instance.clone(),
            account_id: pacer_aws::FAKE_ACCOUNT.into(),
            region: DEMO_REGION.into(),
            pending_time: launched_at.unwrap_or_else(|| self.engine.app.now()).to_string(),
        });
        let proof =
            serde_json::json!({"instance_id": instance, "document": document, "signature": signature});
        for _ in 0..60 {
            // The token of the pool it was launched from, as its user data carries it.
            let pool = self.engine.app.state().instances.get(&instance).map_or(0, |i| i.pool.0);
            let bootstrap_token = self.engine.secrets.pool_bootstrap_token(pool);
            match self.callback("bootstrap", &bootstrap_token, proof.clone()).await {
                Ok(body) => {
                    answer = Some(body);
                    break;
                }
                Err(409) | Err(0) | Err(503) => tokio::time::sleep(Duration::from_secs(2)).await,
                Err(_) => return None,
            }
        }
        let token = answer.and_then(|a| a["callback_token"].as_str().map(str::to_owned))?;
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(instance, token.clone());
        Some(token)
    }

    /// After the bootstrap: the pool's extra user data (which fails now and then), the
    /// registration (a warm instance waits there for a job; stopped capacity stands by to be
    /// stopped), the job, its report.
    async fn serve(self: Arc<Self>, instance: String, token: String) {
        // Emulator instances never fail to boot: the opening emulator job must hang and be reaped
        // whichever instance happens to boot second on a busy machine.
        let emulator = {
            let state = self.engine.app.state();
            state
                .instances
                .get(&instance)
                .and_then(|i| state.config.pool(i.pool))
                .is_some_and(|p| p.spec.name == "android")
        };
        if !emulator && self.booted.fetch_add(1, Ordering::Relaxed) % BOOT_FAILS_EVERY == 1 {
            // The boot script's error trap: the failing stage, exit code, line and log tail; then
            // the instance shuts down, and Pacer fails the job it was launched for.
            let log = "Reading package lists...\nE: Unable to locate package libvulkan-dev\n\
                       pacer: stage user_data_extra failed with exit code 100 at line 97";
            let report =
                serde_json::json!({"stage": "user_data_extra", "exit_code": 100, "line": 97, "log": log});
            let _ = self.callback("error", &token, report).await;
            let _ = self.compute.terminate(std::slice::from_ref(&instance)).await;
            return;
        }
        let mut config = None;
        while self.alive(&instance).await {
            match self.callback("register", &token, serde_json::json!({})).await {
                Ok(body) => {
                    config = Some(body);
                    break;
                }
                // Stopped capacity, ready: Pacer stops it; a start boots it again.
                Err(204) => {
                    self.runners.lock().unwrap_or_else(|p| p.into_inner()).remove(&instance);
                    return;
                }
                // A warm instance no job took yet (Pacer held the call), or a moment's trouble.
                Err(409) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(503) | Err(0) => tokio::time::sleep(Duration::from_secs(2)).await,
                Err(_) => {
                    let _ = self.compute.terminate(std::slice::from_ref(&instance)).await;
                    return;
                }
            }
        }
        let Some(labels) = config
            .and_then(|c| c["encoded_jit_config"].as_str().map(str::to_owned))
            .and_then(|c| jit_labels(&c))
        else {
            return;
        };
        let runner_name = format!("pacer-{instance}");
        // The job this instance was launched for, which the runner takes when it still waits
        // (so the opening emulator job hangs on the first emulator instance, and is reaped a
        // minute into the demo); else GitHub hands it the oldest queued job its labels satisfy.
        let own = {
            let state = self.engine.app.state();
            let launched_for = state.instances.get(&instance).and_then(|i| i.launched_for);
            launched_for.and_then(|id| state.jobs.get(id)).map(|j| j.github_job_id)
        };
        let mut job = None;
        for _ in 0..240 {
            if !self.alive(&instance).await {
                return;
            }
            let found = {
                let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
                let fits = |j: &&SimJob| {
                    j.labels.iter().all(|l| labels.contains(&sanitize(l))) && serves_repo(&labels, &j.repo)
                };
                let own = own.and_then(|id| queued.get(&id)).filter(fits).map(|j| j.id);
                let id = own.or_else(|| queued.values().find(fits).map(|j| j.id));
                id.and_then(|id| queued.remove(&id))
            };
            if let Some(found) = found {
                job = Some(found);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let Some(mut job) = job else { return };
        job.runner = Some(runner_name);
        job.started_at = Some(self.engine.app.now());
        // The user data's heartbeat while the runner runs; it stops with the instance.
        let heartbeat = tokio::spawn({
            let world = self.clone();
            let (instance, token) = (instance.clone(), token.clone());
            async move {
                while world.alive(&instance).await {
                    let _ = world.callback("heartbeat", &token, serde_json::json!({})).await;
                    tokio::time::sleep(Duration::from_secs(HEARTBEAT_SECONDS)).await;
                }
            }
        });
        let _stop_beating = AbortOnDrop(heartbeat);
        self.post_webhook("in_progress", &job, None).await;
        let hangs =
            job.repo == "acme/android" && self.android_runs.fetch_add(1, Ordering::Relaxed).is_multiple_of(3);
        if hangs {
            // A hung emulator: the job never ends; Pacer reaps the instance at max runtime.
            self.watch_hung(&instance).await;
            return;
        }
        let seconds =
            if job.repo == "acme/android" { 5.0 + 20.0 * self.roll() } else { 8.0 + 40.0 * self.roll() };
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        if !self.alive(&instance).await {
            // Interrupted: GitHub notices the runner is gone and fails the job.
            tokio::time::sleep(Duration::from_secs(5)).await;
            self.post_webhook("completed", &job, Some("failure")).await;
            return;
        }
        let roll = self.roll();
        let conclusion = if roll < 0.82 {
            "success"
        } else if roll < 0.95 {
            "failure"
        } else {
            "skipped"
        };
        self.post_webhook("completed", &job, Some(conclusion)).await;
        let _ = self.callback("complete", &token, serde_json::json!({"exit_code": 0})).await;
        let _ = self.compute.terminate(std::slice::from_ref(&instance)).await;
    }
}

/// How often a simulated runner sends its heartbeat (the user data's interval).
const HEARTBEAT_SECONDS: u64 = crate::engine::HEARTBEAT_INTERVAL_SECONDS as u64;

/// Aborts a task when dropped (a runner's heartbeat ends with the runner).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The labels inside a simulated JIT config.
fn jit_labels(encoded: &str) -> Option<Vec<String>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(value["labels"].as_array()?.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect())
}

/// A repo-scoped runner carries its repo's label and serves only that repo.
fn serves_repo(labels: &[String], repo: &str) -> bool {
    let repo_label = sanitize(repo);
    let has_repo_labels = labels.iter().any(|l| l.starts_with("acme-"));
    !has_repo_labels || labels.contains(&repo_label)
}

/// A line summarising the jobs.
pub(crate) fn summary(engine: &Engine) -> String {
    let state = engine.app.state();
    let counts: Vec<String> =
        JobStatus::ALL.iter().map(|s| format!("{} {}", state.jobs.count(*s), s.as_str())).collect();
    format!(
        "jobs: {} | instances: {} live | log seq {}",
        counts.join(", "),
        state.instances.len(),
        state.last_seq
    )
}

/// Runs the demo until `shutdown` resolves.
pub(crate) async fn run(
    options: DemoOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let temp;
    let data: PathBuf = match &options.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("pacer-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let running = start_demo(&options, &data).await?;
    let base = format!("http://{}", running.addr);
    eprintln!("pacer demo: console {base}  (sign in as admin@pacer.local with the password printed above)");
    eprintln!("pacer demo: GraphQL {base}/graphql   REST {base}/api/webhook  {base}/healthz  {base}/metrics");
    eprintln!("pacer demo: data in {}", data.display());
    let engine = running.engine.clone();
    let printer = options.summary_every.map(|every| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                eprintln!("pacer demo: {}", summary(&engine));
            }
        })
    });
    running.wait(shutdown).await;
    if let Some(printer) = printer {
        printer.abort();
    }
    Ok(())
}

/// Starts Pacer with fake EC2 and GitHub on `options.addr` and the simulated world.
pub async fn start_demo(options: &DemoOptions, data: &Path) -> anyhow::Result<Running> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secret_path = data.join("demo-webhook-secret");
    std::fs::create_dir_all(data)?;
    let secret = match std::fs::read_to_string(&secret_path) {
        Ok(secret) if secret.len() >= 16 => Secret::new(secret.trim()),
        _ => {
            let secret = crate::secrets::random_token();
            std::fs::write(&secret_path, &secret)?;
            Secret::new(secret)
        }
    };
    let fake = FakeSettings {
        start: clock.now(),
        launch_latency: Duration::from_millis(700),
        boot_time: Duration::from_secs(6),
        shutdown_time: Duration::from_secs(3),
        // A stopped instance boots again faster than a new one launches and boots.
        stop_time: Duration::from_secs(3),
        start_time: Duration::from_secs(4),
        capacity_error_rate: 0.08,
        spot_interruption_rate: 0.06,
        spot_interruption_window: Duration::from_secs(40),
        ..FakeSettings::new(clock.now().millis() as u64)
    };
    let compute = Arc::new(FakeCompute::new(fake));
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    let addr = listener.local_addr()?;
    let simulated = Arc::new(SimulatedGitHub::sending_webhooks_to(format!("http://{addr}/api/webhook")));
    let github: Arc<dyn GitHub> = simulated.clone();
    let settings = EngineSettings {
        public_url: format!("http://{addr}"),
        runner_download_url: "https://github.com/actions/runner/releases/download".into(),
        max_concurrent_launches: 32,
        sweep: Duration::from_secs(5),
        reaper_interval: Duration::from_secs(5),
        orphan_grace: Duration::from_secs(120),
        redelivery_interval: Duration::ZERO,
        snapshot_every: 10_000,
        retry_policy: pacer_domain::RetryPolicy::default(),
        public_key_pin: None,
        data_dir: std::path::PathBuf::new(),
        retention: crate::config::RetentionConfig::default(),
    };
    let signer = IdentitySigner::generate()?;
    let identity = Arc::new(IdentityVerifier::trusting(DEMO_REGION, vec![signer.public_key()]));
    // EC2's documented rate limits, as `pacer serve` keeps by default.
    let throttled: Arc<dyn Compute> = Arc::new(Throttled::new(compute.clone(), &RateLimits::default()));
    let peers = Peers { compute: throttled, github, clock: clock.clone(), identity };
    let auth = crate::auth::Auth::new(false, "admin@pacer.local".into(), 12, false, None);
    let server = crate::serve::ServerOptions {
        github_app: Arc::new(crate::app_setup::AppSetup::configured(secret.clone())),
        auth: Arc::new(auth),
        trusted_proxies: Vec::new(),
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        tls: crate::config::TlsConfig::default(),
        limits: crate::http::ConnectionLimits::default(),
    };
    let running = start(data, settings, server, peers, listener).await?;
    seed(&running.engine).await?;
    let world = World::new(
        simulated,
        format!("http://{addr}"),
        secret,
        running.engine.clone(),
        compute,
        signer,
        clock.now().millis() as u64,
    );
    tokio::spawn(world.clone().traffic(options.job_interval));
    tokio::spawn(world.runners());
    Ok(running)
}
