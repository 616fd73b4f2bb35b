//! The engine: everything Pacer does on its own around the [`App`] core. The dispatcher claims
//! and launches (and keeps pools' warm capacity filled, `warm`), the reaper watches instances, the redeliverer recovers missed webhooks, the
//! snapshotter bounds start time; configuration edits that touch EC2 (pools and their launch
//! templates) and runner callbacks live here too. Each loop is a tokio task that stops with the
//! engine's shutdown signal. When replicas share the log, the loops that act (the effects)
//! run only on the replica holding the effects lease (`lease`).

mod config_ops;
mod detail;
mod dispatcher;
pub(crate) mod lease;
mod prune;
pub(crate) mod reaper;
mod redelivery;
mod runner;
mod warm;

pub(crate) use config_ops::ConfigChangeError;
pub(crate) use detail::HEARTBEAT_INTERVAL_SECONDS;
pub(crate) use runner::{CallbackError, IdentityProof, RegisterAnswer};

use crate::app::{App, AppError, Meta};
use crate::github::GitHub;
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use pacer_aws::Compute;
use pacer_domain::{Actor, Command};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The engine's tunables.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Pacer's URL as instances reach it.
    pub public_url: String,
    /// Where runner releases are downloaded from.
    pub runner_download_url: String,
    /// Launch calls in flight at once.
    pub max_concurrent_launches: usize,
    /// Dispatcher safety sweep.
    pub sweep: Duration,
    /// Reaper period.
    pub reaper_interval: Duration,
    /// Tagged instances younger than this are never orphans.
    pub orphan_grace: Duration,
    /// Missed-webhook recovery period (zero = off).
    pub redelivery_interval: Duration,
    /// Write a snapshot after this many new records.
    pub snapshot_every: u64,
    /// How capacity failures are retried.
    pub retry_policy: pacer_domain::RetryPolicy,
    /// The `sha256//…` pin of the public key of Pacer's self-signed certificate, which the user
    /// data checks instead of a certificate authority (`None`: the system's authorities).
    pub public_key_pin: Option<String>,
    /// The data directory (set by [`crate::start`] to the one it opens; the doctor checks its
    /// free space).
    pub data_dir: std::path::PathBuf,
    /// The retention defaults (`retention.*`); [`crate::retention::days`] tells the days in
    /// force.
    pub retention: crate::config::RetentionConfig,
}

/// How many launch calls are under way, against the most allowed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchSlots {
    /// Launch calls under way.
    pub in_use: usize,
    /// `dispatcher.max_concurrent_launches`.
    pub max: usize,
}

impl LaunchSlots {
    /// Whether every slot is taken, so a claimable job waits for one to free.
    pub fn all_busy(self) -> bool {
        self.in_use >= self.max
    }
}

/// A running engine.
pub struct Engine {
    /// The core.
    pub app: Arc<App>,
    /// EC2.
    pub compute: Arc<dyn Compute>,
    /// GitHub.
    pub github: Arc<dyn GitHub>,
    /// Whose signature proves an instance's identity at bootstrap.
    pub identity: Arc<pacer_aws::IdentityVerifier>,
    /// Secret material.
    pub secrets: Arc<Secrets>,
    /// Metrics.
    pub metrics: Metrics,
    /// Tunables.
    pub settings: EngineSettings,
    /// One reaper pass at a time: the loop's and `reconcileNow`'s.
    reaper_pass: tokio::sync::Mutex<()>,
    /// Instances whose runner registration is under way (one at a time per instance).
    registering: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Runner refusals already recorded (instance, reason) and when, so a looping caller writes
    /// one record per instance and reason while its token is valid.
    refusals: std::sync::Mutex<std::collections::HashMap<(String, &'static str), pacer_domain::Timestamp>>,
    config_lock: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    launches: Arc<tokio::sync::Semaphore>,
    /// Writes the snapshots, from a state of its own that follows the log between them.
    snapshotter: std::sync::Mutex<pacer_store::Snapshotter>,
    /// The effects lease, when replicas share the log (set once, before the loops start).
    leadership: std::sync::OnceLock<Arc<lease::Leadership>>,
    /// The job detail's steps cache and runner heartbeats.
    detail: detail::Detail,
    /// When the retention pass last ran (see `prune.rs`).
    retention_ran_at: std::sync::Mutex<Option<pacer_domain::Timestamp>>,
    /// Claims whose launch this process has in hand (from spawning it until its outcome is
    /// recorded): every other current claim is launched by the next dispatcher pass.
    launching: std::sync::Mutex<std::collections::HashSet<pacer_domain::JobId>>,
    /// The client tokens of the launches in flight: their instances are not orphans before
    /// their outcomes are recorded.
    launch_tokens: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The warm launches in hand.
    warm: warm::WarmLaunches,
}

impl Engine {
    /// An engine over `app`; call [`Engine::spawn_loops`] to start its loops.
    pub fn new(
        app: Arc<App>,
        compute: Arc<dyn Compute>,
        github: Arc<dyn GitHub>,
        identity: Arc<pacer_aws::IdentityVerifier>,
        secrets: Arc<Secrets>,
        metrics: Metrics,
        settings: EngineSettings,
    ) -> Arc<Engine> {
        let (shutdown, _) = watch::channel(false);
        let launches = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_launches.max(1)));
        Arc::new(Engine {
            app,
            compute,
            github,
            identity,
            secrets,
            metrics,
            settings,
            reaper_pass: tokio::sync::Mutex::new(()),
            registering: std::sync::Mutex::default(),
            refusals: std::sync::Mutex::default(),
            config_lock: tokio::sync::Mutex::new(()),
            shutdown,
            tasks: std::sync::Mutex::new(Vec::new()),
            launches,
            snapshotter: std::sync::Mutex::default(),
            leadership: std::sync::OnceLock::new(),
            detail: detail::Detail::default(),
            retention_ran_at: std::sync::Mutex::new(None),
            launching: std::sync::Mutex::new(std::collections::HashSet::new()),
            launch_tokens: std::sync::Mutex::new(std::collections::HashSet::new()),
            warm: warm::WarmLaunches::default(),
        })
    }

    /// Runs the effects only while this replica holds the lease of `leadership` (replicas
    /// sharing the log). Call before [`Engine::spawn_loops`]; a second call changes nothing.
    pub fn share_effects(&self, leadership: Arc<lease::Leadership>) {
        let _ = self.leadership.set(leadership);
    }

    /// The effects lease, when replicas share the log.
    pub fn leadership(&self) -> Option<&Arc<lease::Leadership>> {
        self.leadership.get()
    }

    /// Where this Pacer stands among replicas, for `/metrics`.
    pub fn replication(&self) -> crate::metrics::Replication {
        crate::metrics::Replication {
            holds_lease: self.may_act(),
            lag: self.app.replication_lag(),
            races: self.app.races(),
        }
    }

    /// Whether this process may act on EC2 now: always on a single machine; on replicas only
    /// while it holds the effects lease.
    pub fn may_act(&self) -> bool {
        self.leadership.get().is_none_or(|l| l.holds())
    }

    /// The launch slots in use now.
    pub fn launch_slots(&self) -> LaunchSlots {
        let max = self.settings.max_concurrent_launches.max(1);
        LaunchSlots { in_use: max.saturating_sub(self.launches.available_permits()), max }
    }

    /// Starts the effects (dispatcher, reaper, redeliverer, snapshotter, preflight: at once on
    /// a single machine, under the lease on replicas) and storage recovery.
    pub fn spawn_loops(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        match self.leadership.get() {
            None => tasks.extend(self.spawn_effects(&self.shutdown)),
            Some(leadership) => tasks.extend([
                tokio::spawn(lease::run(self.clone(), leadership.clone(), self.shutdown.subscribe())),
                tokio::spawn(lease::beat(self.clone(), leadership.clone(), self.shutdown.subscribe())),
            ]),
        }
        tasks.push(tokio::spawn(recovery_loop(self.clone(), self.shutdown.subscribe())));
    }

    /// Starts the loops that act, each stopping when `stop` says so.
    fn spawn_effects(self: &Arc<Self>, stop: &watch::Sender<bool>) -> Vec<JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(dispatcher::run(self.clone(), stop.subscribe())),
            tokio::spawn(reaper::run(self.clone(), stop.subscribe())),
            tokio::spawn(snapshot_loop(self.clone(), stop.subscribe())),
            tokio::spawn(preflight_loop(self.clone(), stop.subscribe())),
        ];
        if !self.settings.redelivery_interval.is_zero() {
            tasks.push(tokio::spawn(redelivery::run(self.clone(), stop.subscribe())));
        }
        tasks
    }

    /// Runs `task` beside the loops: it gets the shutdown signal, and shutdown waits for it.
    pub(crate) fn spawn_task<F>(&self, task: impl FnOnce(watch::Receiver<bool>) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.shutdown.subscribe()));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|task| !task.is_finished());
        tasks.push(handle);
    }

    /// Runs a full reaper pass now and answers what it found (the `reconcileNow` mutation);
    /// on replicas only the lease holder may (`Err` names the holder otherwise).
    pub async fn reconcile_now(self: &Arc<Self>) -> Result<reaper::ReconcileReport, String> {
        if !self.may_act() {
            let holder = self.leadership().and_then(|l| l.seen()).map(|r| r.holder).filter(|h| !h.is_empty());
            return Err(match holder {
                Some(holder) => {
                    format!("this replica does not run the reaper: {holder} holds the effects lease")
                }
                None => "no replica holds the effects lease right now; try again in a moment".to_owned(),
            });
        }
        Ok(reaper::reconcile(self).await)
    }

    /// Executes a command as the system.
    pub async fn system(&self, command: Command) -> Result<Vec<pacer_domain::Recorded>, AppError> {
        self.app.execute(command, self.system_meta()).await
    }

    /// Pacer's own metadata: on replicas, as the replica under the term of the last lease it
    /// held (refused once another replica took the lease).
    fn system_meta(&self) -> Meta {
        match self.leadership.get().map(|l| (l, l.term())) {
            Some((leadership, term)) if term > 0 => {
                Meta { fence: Some(term), ..Meta::by(Actor::Replica { id: leadership.me.clone(), term }) }
            }
            _ => Meta::by(Actor::System),
        }
    }

    /// Deletes `gone` (vault entries of `kind` past their retention, dated before `before`) in
    /// the write that records `retention.swept`; how many.
    pub(crate) async fn sweep(
        &self,
        kind: pacer_domain::RetentionKind,
        gone: Vec<pacer_store::VaultWrite>,
        before: pacer_domain::Timestamp,
    ) -> Result<usize, AppError> {
        let count = gone.len();
        if count == 0 {
            return Ok(0);
        }
        let deleted = u32::try_from(count).unwrap_or(u32::MAX);
        let meta = Meta { vault: gone, ..self.system_meta() };
        self.app.execute(Command::RecordSweep { kind, deleted, before }, meta).await.map(|_| count)
    }

    /// Records a component's health (only changes are recorded).
    pub async fn health(&self, component: &str, result: Result<(), String>) {
        let (ok, message) = match result {
            Ok(()) => (true, String::new()),
            Err(message) => (false, message),
        };
        let command = Command::SetHealth { component: component.to_owned(), ok, message };
        if let Err(error) = self.system(command).await {
            tracing::warn!(component, %error, "could not record health");
        }
    }

    /// Stops the loops, waits for launches in flight, writes a final snapshot and stops the core.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        // Every launch permit back means no launch is in flight.
        let all = self.settings.max_concurrent_launches.max(1) as u32;
        let _ = tokio::time::timeout(Duration::from_secs(60), self.launches.acquire_many(all)).await;
        self.app.stop();
        if self.leadership.get().is_none() {
            self.write_snapshot();
        }
        // A clean stop leaves RocksDB nothing to replay, so the next start is quick.
        if let Err(error) = self.app.log().flush() {
            tracing::warn!(%error, "could not flush the event log's tables");
        }
    }

    /// Writes the snapshots with `snapshotter` (one following the log from the loaded state)
    /// instead of folding a state of their own at the first one.
    pub fn snapshot_from(&self, snapshotter: pacer_store::Snapshotter) {
        *self.snapshotter.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = snapshotter;
    }

    /// Writes a snapshot folded from the log (never from the live state, which stays unlocked),
    /// unless a write failed: a failed process writes none.
    fn write_snapshot(&self) {
        if let Some(reason) = self.app.failure() {
            tracing::warn!(%reason, "no snapshot written: the event log refused a write");
            return;
        }
        let mut snapshotter = self.snapshotter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match snapshotter.write(&**self.app.log()) {
            Ok(Some(written)) => tracing::info!(
                seq = written.seq,
                bytes = written.bytes,
                fold_ms = written.folded_in.as_millis() as u64,
                save_ms = written.saved_in.as_millis() as u64,
                "snapshot written"
            ),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not write a snapshot"),
        }
    }

    /// The longest an instance of any pool may live, in milliseconds: its max runtime plus, for
    /// a warm pool, the max age it may wait idle first (at least the default max runtime).
    fn longest_runtime_ms(&self) -> i64 {
        let state = self.app.state();
        let minutes = state
            .config
            .pools
            .values()
            .map(|p| p.spec.max_runtime_minutes + p.warm.as_ref().map_or(0, |w| w.max_age_minutes))
            .max()
            .unwrap_or(pacer_domain::DEFAULT_MAX_RUNTIME_MINUTES)
            .max(pacer_domain::DEFAULT_MAX_RUNTIME_MINUTES);
        i64::from(minutes) * pacer_domain::MINUTE_MS
    }
}

/// Writes a snapshot on a thread of its own at the lowest CPU priority, which the threads it
/// starts inherit: on a busy machine the snapshot waits, not the webhooks (a 10 M-event state
/// takes about 2 s of CPU to encode, see BENCHMARKS.md).
async fn write_snapshot_niced(engine: Arc<Engine>) {
    crate::background::run_niced("pacer-snapshot", crate::background::IDLE, move || engine.write_snapshot())
        .await;
}

async fn snapshot_loop(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut last = engine.app.state().last_seq;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        let seq = engine.app.state().last_seq;
        if seq >= last + engine.settings.snapshot_every {
            write_snapshot_niced(engine.clone()).await;
            last = seq;
        }
    }
}

/// How often a Pacer whose event log refused a write tries to reopen it.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// After a failed write (a full disk, a failing fsync), tries every [`RECOVERY_INTERVAL`] to
/// reopen the log and rebuild the state from it, so Pacer resumes by itself once the fault
/// clears; until then it answers 503 and `/readyz` names the reason.
async fn recovery_loop(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(RECOVERY_INTERVAL) => {}
        }
        if engine.app.failure().is_none() {
            continue;
        }
        let app = engine.app.clone();
        match tokio::task::spawn_blocking(move || app.recover()).await {
            Ok(Ok(())) => engine.app.dispatch_wake.notify_one(),
            Ok(Err(reason)) => tracing::warn!(%reason, "storage still refuses writes; retrying"),
            Err(error) => tracing::error!(%error, "storage recovery panicked"),
        }
    }
}

async fn preflight_loop(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let checks = engine.compute.preflight().await;
        let denied: Vec<String> = checks
            .iter()
            .filter(|c| c.verdict == pacer_aws::Verdict::Denied)
            .map(|c| format!("{} denied ({})", c.action, c.message))
            .collect();
        let result = if denied.is_empty() { Ok(()) } else { Err(denied.join("; ")) };
        engine.health("preflight", result).await;
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}
