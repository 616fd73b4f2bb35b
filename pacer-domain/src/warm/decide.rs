//! The warm area's rules: what a pool's warm settings may be, which warm launches a pool
//! needs now (its target within its cap, none while its jobs wait for launches), which idle
//! warm instances are recycled (beyond the target, past `max_age`, launched from an older
//! template, or of a pool that no longer wants them), and which idle instance a job takes.

use super::events::*;
use super::sizing::{MAX_FORECAST_WEEKS, WarmCounts, WarmSizing, WarmTarget, warm_target};
use crate::config::{Pool, PoolId};
use crate::event::Event;
use crate::instance::{Instance, ReapReason};
use crate::job::JobStatus;
use crate::launch::LaunchedInstance;
use crate::money::PriceQuote;
use crate::rejection::{FieldError, Rejection};
use crate::state::State;
use crate::time::{MINUTE_MS, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// Most windows a warm schedule may hold.
pub const MAX_WARM_WINDOWS: usize = 50;

/// Where a pool's warm capacity stands at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmStatus {
    /// What its sizing asks for, and why.
    pub target: WarmTarget,
    /// The hot instances it holds for that target within its cap: the target, less what the
    /// cap leaves after its active jobs; 0 while the pool or its project is disabled.
    pub wanted: u32,
    /// Idle warm instances it holds now.
    pub idle: u32,
}

/// The field errors of `spec` for a pool whose cap is `cap`.
pub fn validate_warm(spec: &WarmSpec, cap: u32) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !(MIN_WARM_MAX_AGE_MINUTES..=MAX_WARM_MAX_AGE_MINUTES).contains(&spec.max_age_minutes) {
        errors.push(FieldError::new(
            "max_age_minutes",
            format!("must be {MIN_WARM_MAX_AGE_MINUTES}–{MAX_WARM_MAX_AGE_MINUTES} minutes"),
        ));
    }
    let counts = |field: String, counts: &WarmCounts, errors: &mut Vec<FieldError>| {
        if counts.hot.saturating_add(counts.stopped) > cap {
            errors.push(FieldError::new(
                field,
                format!("warm instances may not exceed the pool's cap of {cap}"),
            ));
        }
    };
    match &spec.sizing {
        WarmSizing::Fixed(fixed) => counts("sizing.fixed".into(), fixed, &mut errors),
        WarmSizing::Schedule { zone, windows, otherwise } => {
            if jiff::tz::TimeZone::get(zone).is_err() {
                errors.push(FieldError::new("sizing.zone", format!("unknown time zone {zone:?}")));
            }
            if windows.len() > MAX_WARM_WINDOWS {
                errors.push(FieldError::new("sizing.windows", format!("at most {MAX_WARM_WINDOWS} windows")));
            }
            for (i, window) in windows.iter().enumerate() {
                let field = |name: &str| format!("sizing.windows[{i}].{name}");
                if window.days == 0 || window.days >= 1 << 7 {
                    errors.push(FieldError::new(field("days"), "must name at least one day of the week"));
                }
                if window.from_minute >= 24 * 60 {
                    errors.push(FieldError::new(field("from_minute"), "must be 0–1439"));
                }
                if window.to_minute > 24 * 60 {
                    errors.push(FieldError::new(field("to_minute"), "must be 0–1440"));
                }
                counts(field("counts"), &window.counts, &mut errors);
            }
            counts("sizing.otherwise".into(), otherwise, &mut errors);
        }
        WarmSizing::Forecast { quantile, weeks } => {
            if !(1..=100).contains(quantile) {
                errors.push(FieldError::new("sizing.quantile", "must be 1–100"));
            }
            if !(1..=MAX_FORECAST_WEEKS).contains(weeks) {
                errors.push(FieldError::new("sizing.weeks", format!("must be 1–{MAX_FORECAST_WEEKS}")));
            }
        }
    }
    errors
}

/// `pool.warm_set`, once `warm` is valid for the pool.
pub(crate) fn set_pool_warm(
    state: &State,
    pool: PoolId,
    warm: Option<WarmSpec>,
) -> Result<Vec<Event>, Rejection> {
    let current = state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
    if let Some(spec) = &warm {
        Rejection::check(validate_warm(spec, current.spec.cap))?;
    }
    Ok(vec![Event::PoolWarmSet(PoolWarmSet { pool, warm })])
}

/// `warm.launched` for each instance EC2 started for `pool`'s warm capacity that is not
/// recorded yet.
pub(crate) fn record_warm_launch(
    state: &State,
    pool: PoolId,
    launched: Vec<(LaunchedInstance, Option<PriceQuote>)>,
    template_version: u64,
    reason: String,
) -> Result<Vec<Event>, Rejection> {
    state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
    Ok(launched
        .into_iter()
        .filter(|(instance, _)| state.instances.get(&instance.instance_id).is_none())
        .map(|(instance, price)| {
            Event::WarmLaunched(WarmLaunched {
                pool,
                instance,
                price,
                template_version,
                reason: reason.clone(),
            })
        })
        .collect())
}

/// Idle warm instances per pool.
pub(crate) fn idle_warm(state: &State) -> BTreeMap<PoolId, u32> {
    let mut idle = BTreeMap::new();
    for instance in state.instances.iter().filter(|i| i.is_idle_warm()) {
        *idle.entry(instance.pool).or_default() += 1;
    }
    idle
}

/// The idle warm instance of `pool` a job takes next, skipping `taken`: bootstrapped ones
/// first (their runner is ready), then the oldest.
pub(crate) fn warm_instance_for<'a>(
    state: &'a State,
    pool: PoolId,
    taken: &[String],
) -> Option<&'a Instance> {
    state
        .instances
        .iter()
        .filter(|i| i.pool == pool && i.is_idle_warm() && !taken.iter().any(|t| **t == *i.id))
        .min_by_key(|i| (!i.bootstrapped, i.launched_at, i.id.clone()))
}

/// `warm.taken` of `instance` by `job` at `now`, with what the instance cost while it waited.
pub(crate) fn take(job: crate::job::JobId, instance: &Instance, now: Timestamp) -> Event {
    Event::WarmTaken(WarmTaken {
        job,
        instance: instance.id.to_string(),
        warm_cost: instance.warm_cost_until(now),
    })
}

/// Where `pool`'s warm capacity stands at `now`; `None` when it has none.
pub fn warm_status(state: &State, pool: &Pool, now: Timestamp) -> Option<WarmStatus> {
    let spec = pool.warm.as_ref()?;
    let history = state.arrivals.get(&pool.id).cloned().unwrap_or_default();
    let target = warm_target(&spec.sizing, &history, now);
    let enabled = !pool.spec.disabled
        && state.config.project(pool.project).is_some_and(|p| !p.spec.disabled)
        && pool.template.is_some();
    let active = state.jobs.active().in_pool(pool.id);
    let idle = idle_warm(state).get(&pool.id).copied().unwrap_or(0);
    let room = pool.spec.cap.saturating_sub(active);
    let wanted = if enabled { target.counts.hot.min(room) } else { 0 };
    Some(WarmStatus { target, wanted, idle })
}

/// A warm launch a pool needs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmLaunch {
    /// The pool.
    pub pool: PoolId,
    /// How many instances to launch.
    pub count: u32,
    /// Why the pool holds warm instances.
    pub reason: String,
}

/// The warm launches pools need at `now`, `in_flight` instances per pool already being
/// launched: up to each pool's wanted count, none for a pool whose jobs wait to be launched
/// (they come first, and take the instances the launches bring).
pub fn warm_launches(state: &State, now: Timestamp, in_flight: &BTreeMap<PoolId, u32>) -> Vec<WarmLaunch> {
    let waiting: BTreeSet<PoolId> = [JobStatus::Queued, JobStatus::Claimed]
        .into_iter()
        .flat_map(|status| state.jobs.in_status(status).map(|j| j.pool))
        .collect();
    state
        .config
        .pools
        .values()
        .filter_map(|pool| {
            let status = warm_status(state, pool, now)?;
            let flying = in_flight.get(&pool.id).copied().unwrap_or(0);
            let count = status.wanted.saturating_sub(status.idle + flying);
            (count > 0 && !waiting.contains(&pool.id)).then_some(WarmLaunch {
                pool: pool.id,
                count,
                reason: status.target.reason,
            })
        })
        .collect()
}

/// Idle warm instances to terminate at `now`, each with why: of a pool that no longer holds
/// warm capacity (deleted, switched off or disabled) or beyond its wanted count (the oldest
/// go first), past the pool's `max_age_minutes`, or launched from an older version of the
/// pool's template.
pub fn warm_recycling(state: &State, now: Timestamp) -> Vec<(&Instance, ReapReason)> {
    let mut idle: BTreeMap<PoolId, Vec<&Instance>> = BTreeMap::new();
    for instance in state.instances.iter().filter(|i| i.is_idle_warm()) {
        idle.entry(instance.pool).or_default().push(instance);
    }
    let mut recycled = Vec::new();
    for (pool_id, mut instances) in idle {
        instances.sort_by_key(|i| (i.launched_at, i.id.clone()));
        let pool = state.config.pool(pool_id);
        let status = pool.and_then(|p| warm_status(state, p, now));
        let (Some(pool), Some(spec), Some(status)) = (pool, pool.and_then(|p| p.warm.as_ref()), status)
        else {
            recycled.extend(instances.into_iter().map(|i| (i, ReapReason::WarmSurplus)));
            continue;
        };
        let max_age_ms = i64::from(spec.max_age_minutes) * MINUTE_MS;
        let version = pool.template.as_ref().map(|t| t.version);
        let mut kept = Vec::new();
        for instance in instances {
            if now.millis_since(instance.launched_at) > max_age_ms {
                recycled.push((instance, ReapReason::WarmExpired));
            } else if instance.warm.map(|w| w.template_version) != version {
                recycled.push((instance, ReapReason::WarmOutdated));
            } else {
                kept.push(instance);
            }
        }
        let beyond = kept.len().saturating_sub(status.wanted as usize);
        recycled.extend(kept.into_iter().take(beyond).map(|i| (i, ReapReason::WarmSurplus)));
    }
    recycled
}
