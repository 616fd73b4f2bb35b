//! Warm launches: after every dispatcher pass, each pool short of the warm instances its sizing
//! asks for ([`warm_launches`]: within its cap, not while its jobs wait for launches) gets one
//! launch for the difference, on a launch permit like a job's batch. The instances are recorded
//! with the sizing's reason (`warm.launched`); a launch that started fewer than asked holds the
//! pool back for [`WARM_BACKOFF`] before it tries again. A warm launch's client token names its
//! pool, the log position it was planned at and its count, so a launch repeated after a crash
//! before its record finds what it started; the orphan sweep spares its instances while it is
//! in flight, and terminates them once the grace has passed if it never recorded them.

use super::Engine;
use super::dispatcher::priced;
use crate::metrics::AwsCall;
use pacer_domain::{
    Command, Event, LAUNCH_BATCH_MAX, LaunchSpec, Market, PoolId, WarmLaunch, warm_launches, warm_token,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a pool whose warm launch came up short waits before the next.
pub(crate) const WARM_BACKOFF: Duration = Duration::from_secs(30);

/// The warm launches this process has in hand.
#[derive(Default)]
pub(super) struct WarmLaunches {
    /// Instances being launched, per pool.
    in_flight: Mutex<BTreeMap<PoolId, u32>>,
    /// Pools whose last warm launch came up short, until when they wait.
    backoff: Mutex<BTreeMap<PoolId, Instant>>,
}

/// Starts a launch for every pool short of warm instances (and not backing off).
pub(super) fn launch_deficits(engine: &Arc<Engine>) {
    if !engine.may_act() {
        return;
    }
    let now = engine.app.now();
    let plans = {
        let state = engine.app.state();
        let in_flight = engine.warm.in_flight.lock().unwrap_or_else(PoisonError::into_inner).clone();
        warm_launches(&state, now, &in_flight)
    };
    let backoff = engine.warm.backoff.lock().unwrap_or_else(PoisonError::into_inner).clone();
    for mut plan in plans {
        if backoff.get(&plan.pool).is_some_and(|until| Instant::now() < *until) {
            continue;
        }
        plan.count = plan.count.min(LAUNCH_BATCH_MAX as u32);
        *engine
            .warm
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(plan.pool)
            .or_default() += plan.count;
        let engine = engine.clone();
        tokio::spawn(async move {
            let (pool, count) = (plan.pool, plan.count);
            launch(&engine, plan).await;
            let mut in_flight = engine.warm.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = in_flight.get_mut(&pool) {
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
        let market = if pool.spec.spot && !cooling { Market::Spot } else { Market::OnDemand };
        let token = warm_token(pool.id, state.last_seq, plan.count);
        (LaunchSpec::warm(&state.config, pool, plan.count, token, market), template.version)
    };
    if !engine.may_act() {
        return;
    }
    let token = spec.client_token.clone();
    engine.launch_tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone());
    let started = Instant::now();
    let mut launched = engine.compute.launch_batch(&spec).await;
    engine.metrics.launch_latency(started.elapsed());
    if let Some(error) = &launched.shortfall {
        engine.metrics.aws_error(AwsCall::Launch, &error.code);
        tracing::warn!(pool = %plan.pool, count = plan.count, started = launched.instances.len(), %error, "warm launch came up short; retried after a pause");
        engine
            .warm
            .backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(plan.pool, Instant::now() + WARM_BACKOFF);
    }
    launched.instances.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    if !launched.instances.is_empty() {
        let launched = priced(engine, launched.instances).await;
        let command =
            Command::RecordWarmLaunch { pool: plan.pool, launched, template_version, reason: plan.reason };
        match engine.system(command).await {
            Ok(records) => {
                for record in records {
                    if let Event::WarmLaunched(e) = &record.event {
                        tracing::info!(pool = %e.pool, instance = %e.instance.instance_id, reason = %e.reason, "warm instance launched");
                    }
                }
            }
            Err(error) => {
                tracing::error!(pool = %plan.pool, %error, "warm launch not recorded; its instances are orphans")
            }
        }
    }
    engine.launch_tokens.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
}
