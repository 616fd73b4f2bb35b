//! Warm capacity's effects. After every dispatcher pass:
//! - each pool short of the warm instances its sizing asks for ([`warm_launches`]: within its
//!   cap, not while its jobs wait for launches) gets one launch per kind (hot, stopped) for the
//!   difference, on a launch permit like a job's batch, recorded with the sizing's reason
//!   (`warm.launched`); a launch that started fewer than asked holds that pool and kind back
//!   for [`WARM_BACKOFF`];
//! - each stopped warm instance a job took is started (`warm.started`; one still stopping is
//!   started once stopped; if EC2 refuses, `warm.start_failed` returns the job to the queue).
//!
//! An instance of stopped capacity is stopped by its own registration call once its runner is
//! ready ([`Engine::park`], `warm.stopped`). A warm launch's client token names its pool, kind,
//! the log position it was planned at and its count, so a launch repeated after a crash before
//! its record finds what it started; the orphan sweep spares its instances while it is in
//! flight, and terminates them once the grace has passed if it never recorded them.

use super::Engine;
use super::dispatcher::priced;
use crate::Meta;
use crate::metrics::AwsCall;
use pacer_domain::{
    Actor, Command, Event, LAUNCH_BATCH_MAX, LaunchError, LaunchSpec, Market, PoolId, WarmLaunch,
    warm_launches, warm_token,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a pool whose warm launch came up short waits before the next of that kind.
pub(crate) const WARM_BACKOFF: Duration = Duration::from_secs(30);
/// How long the start of a warm instance a job took waits for it to finish stopping.
const STOPPING_WAIT: Duration = Duration::from_secs(120);
/// How often that start is tried again meanwhile.
const STOPPING_RETRY: Duration = Duration::from_millis(500);

/// The warm launches and starts this process has in hand.
#[derive(Default)]
pub(super) struct WarmLaunches {
    /// Instances being launched, per pool and kind (stopped or not).
    in_flight: Mutex<BTreeMap<(PoolId, bool), u32>>,
    /// Pools and kinds whose last warm launch came up short, until when they wait.
    backoff: Mutex<BTreeMap<(PoolId, bool), Instant>>,
    /// Stopped instances being started.
    starting: Mutex<BTreeSet<String>>,
}

/// What a runner's own call records is recorded as that runner's doing.
fn by_runner(instance: &str) -> Meta {
    Meta::by(Actor::Runner(instance.to_owned()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a launch for every pool and kind short of warm instances (and not backing off), and
/// the start of every stopped instance a job took.
pub(super) fn act(engine: &Arc<Engine>) {
    if !engine.may_act() {
        return;
    }
    let now = engine.app.now();
    let (plans, to_start) = {
        let state = engine.app.state();
        let in_flight = lock(&engine.warm.in_flight).clone();
        let to_start: Vec<String> =
            state.instances.iter().filter(|i| i.needs_start()).map(|i| i.id.to_string()).collect();
        (warm_launches(&state, now, &in_flight), to_start)
    };
    for instance in to_start {
        if lock(&engine.warm.starting).insert(instance.clone()) {
            let engine = engine.clone();
            tokio::spawn(async move {
                start(&engine, &instance).await;
                lock(&engine.warm.starting).remove(&instance);
            });
        }
    }
    let backoff = lock(&engine.warm.backoff).clone();
    for mut plan in plans {
        let key = (plan.pool, plan.stopped);
        if backoff.get(&key).is_some_and(|until| Instant::now() < *until) {
            continue;
        }
        plan.count = plan.count.min(LAUNCH_BATCH_MAX as u32);
        *lock(&engine.warm.in_flight).entry(key).or_default() += plan.count;
        let engine = engine.clone();
        tokio::spawn(async move {
            let count = plan.count;
            launch(&engine, plan).await;
            if let Some(n) = lock(&engine.warm.in_flight).get_mut(&key) {
                *n = n.saturating_sub(count);
            }
        });
    }
}

/// Launches `plan` and records what started.
async fn launch(engine: &Engine, plan: WarmLaunch) {
    let Ok(_permit) = engine.launches.clone().acquire_owned().await else { return };
    let (spec, template_version) = {
        let state = engine.app.state();
        let Some(pool) = state.config.pool(plan.pool) else { return };
        let Some(template) = &pool.template else { return };
        let cooling = state.spot_cooldowns.get(&pool.id).is_some_and(|until| engine.app.now() < *until);
        // EC2 cannot stop instances of one-time spot requests: stopped capacity is on-demand.
        let market =
            if pool.spec.spot && !cooling && !plan.stopped { Market::Spot } else { Market::OnDemand };
        let token = warm_token(pool.id, plan.stopped, state.last_seq, plan.count);
        (LaunchSpec::warm(&state.config, pool, plan.count, token, market), template.version)
    };
    if !engine.may_act() {
        return;
    }
    let token = spec.client_token.clone();
    lock(&engine.launch_tokens).insert(token.clone());
    let started = Instant::now();
    let mut launched = engine.compute.launch_batch(&spec).await;
    engine.metrics.launch_latency(started.elapsed());
    if let Some(error) = &launched.shortfall {
        engine.metrics.aws_error(AwsCall::Launch, &error.code);
        tracing::warn!(pool = %plan.pool, count = plan.count, started = launched.instances.len(), %error, "warm launch came up short; retried after a pause");
        lock(&engine.warm.backoff).insert((plan.pool, plan.stopped), Instant::now() + WARM_BACKOFF);
    }
    launched.instances.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    if !launched.instances.is_empty() {
        let launched = priced(engine, launched.instances).await;
        let (pool, stopped, reason) = (plan.pool, plan.stopped, plan.reason);
        let command = Command::RecordWarmLaunch { pool, launched, template_version, stopped, reason };
        match engine.system(command).await {
            Ok(records) => {
                for record in records {
                    if let Event::WarmLaunched(e) = &record.event {
                        tracing::info!(pool = %e.pool, instance = %e.instance.instance_id, stopped = e.stopped, reason = %e.reason, "warm instance launched");
                    }
                }
            }
            Err(error) => {
                tracing::error!(pool = %plan.pool, %error, "warm launch not recorded; its instances are orphans")
            }
        }
    }
    lock(&engine.launch_tokens).remove(&token);
}

/// Starts `instance`, a stopped warm instance a job took, and records the outcome.
async fn start(engine: &Engine, instance: &str) {
    let Ok(_permit) = engine.launches.clone().acquire_owned().await else { return };
    if !engine.may_act() {
        return;
    }
    // An instance still stopping cannot be started yet (EC2's `IncorrectInstanceState`): the
    // start is tried again until it is stopped, for up to `STOPPING_WAIT`.
    let deadline = Instant::now() + STOPPING_WAIT;
    let outcome = loop {
        match engine.compute.start(&[instance.to_owned()]).await {
            Ok(()) => break Ok(()),
            Err(error) if error.code() == Some("IncorrectInstanceState") && Instant::now() < deadline => {
                tokio::time::sleep(STOPPING_RETRY).await;
            }
            Err(error) => {
                engine.metrics.aws_error(AwsCall::Start, error.code().unwrap_or("other"));
                break Err(LaunchError::new(error.code().unwrap_or("StartFailed"), error.to_string()));
            }
        }
    };
    match engine.system(Command::RecordWarmStart { instance: instance.to_owned(), outcome }).await {
        Ok(records) => {
            for record in records {
                match &record.event {
                    Event::WarmStarted(e) => {
                        tracing::info!(%instance, job = e.job.0, "stopped warm instance started")
                    }
                    Event::WarmStartFailed(e) => {
                        tracing::warn!(%instance, job = e.job.0, error = %e.error, "stopped warm instance would not start; its job goes back to the queue")
                    }
                    _ => {}
                }
            }
        }
        Err(error) => {
            tracing::error!(%instance, %error, "warm start not recorded; started again by the next pass")
        }
    }
}

impl Engine {
    /// For the registration of `instance`: when it is an idle hot warm instance not yet ready,
    /// records that its runner is ready (jobs take ready instances first). A failure to record
    /// only leaves it ranked as still booting.
    pub(super) async fn mark_ready(&self, instance: &str) {
        let first = self
            .app
            .state()
            .instances
            .get(instance)
            .is_some_and(|i| i.is_idle_warm_of(false) && i.warm.is_some_and(|w| w.ready_at.is_none()));
        if first
            && let Err(error) = self
                .app
                .execute(Command::RecordWarmReady { instance: instance.to_owned() }, by_runner(instance))
                .await
        {
            tracing::warn!(%instance, %error, "could not record a warm instance ready");
        }
    }

    /// For the registration of `instance`: when it is a running instance of its pool's stopped
    /// capacity that no job has taken (its runner is ready), stops it and records that, and
    /// answers true (the caller tells the instance to stand by). False for any other instance.
    /// Like every runner callback it runs on whichever replica the call reached, and records
    /// as the runner (not fenced by the effects lease: a former holder records the stop too).
    pub(super) async fn park(&self, instance: &str) -> Result<bool, super::CallbackError> {
        let parkable = self
            .app
            .state()
            .instances
            .get(instance)
            .is_some_and(|i| i.is_idle_warm_of(true) && i.warm.is_some_and(|w| w.stopped_at.is_none()));
        if !parkable {
            return Ok(false);
        }
        let unavailable = |what: String| super::CallbackError::Unavailable(what);
        self.compute.stop(&[instance.to_owned()]).await.map_err(|e| {
            self.metrics.aws_error(AwsCall::Stop, e.code().unwrap_or("other"));
            unavailable(format!("cannot stop {instance} yet: {e}"))
        })?;
        self.app
            .execute(Command::RecordWarmStop { instance: instance.to_owned() }, by_runner(instance))
            .await
            .map_err(|e| unavailable(format!("cannot record the stop of {instance}: {e}")))?;
        tracing::info!(%instance, "warm instance ready and stopped");
        Ok(true)
    }
}
