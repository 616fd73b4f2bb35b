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
use crate::launch::{LaunchError, LaunchedInstance};
use crate::money::PriceQuote;
use crate::rejection::{FieldError, Rejection};
use crate::state::State;
use crate::time::{MINUTE_MS, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// Most windows a warm schedule may hold.
pub const MAX_WARM_WINDOWS: usize = 50;

/// How long a pool keeps idle warm instances its target no longer asks for (see
/// [`warm_recycling`]): a dip shorter than this terminates nothing it would launch again.
pub const WARM_SCALE_DOWN_DELAY_MS: i64 = 15 * MINUTE_MS;

/// Where a pool's warm capacity stands at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmStatus {
    /// What its sizing asks for, and why.
    pub target: WarmTarget,
    /// The warm instances it holds for that target within its cap: hot first, then stopped, as
    /// far as the cap leaves room after its active jobs; none while the pool or its project is
    /// disabled.
    pub wanted: WarmCounts,
    /// Idle warm instances it holds now, of each kind.
    pub idle: WarmCounts,
}

/// The field errors of `spec` for a pool whose cap is `cap`, but for its time zone, which
/// needs the time zone database ([`warm_zone_error`]; the console leaves that to the server).
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
        WarmSizing::Schedule { windows, otherwise, .. } => {
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

/// The error of a schedule's time zone that the time zone database does not know.
pub fn warm_zone_error(spec: &WarmSpec) -> Option<FieldError> {
    match &spec.sizing {
        WarmSizing::Schedule { zone, .. } if jiff::tz::TimeZone::get(zone).is_err() => {
            Some(FieldError::new("sizing.zone", format!("unknown time zone {zone:?}")))
        }
        _ => None,
    }
}

/// `pool.warm_set`, once `warm` is valid for the pool.
pub(crate) fn set_pool_warm(
    state: &State,
    pool: PoolId,
    warm: Option<WarmSpec>,
) -> Result<Vec<Event>, Rejection> {
    let current = state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
    if let Some(spec) = &warm {
        let mut errors = validate_warm(spec, current.spec.cap);
        errors.extend(warm_zone_error(spec));
        Rejection::check(errors)?;
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
    stopped: bool,
    reason: String,
) -> Result<Vec<Event>, Rejection> {
    state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
    Ok(launched
        .into_iter()
        .filter(|(instance, _)| state.instances.get(&instance.instance_id).is_none())
        .map(|(instance, price)| {
            let reason = reason.clone();
            Event::WarmLaunched(WarmLaunched { pool, instance, price, template_version, stopped, reason })
        })
        .collect())
}

/// `warm.stopped`: Pacer stopped `instance`, a running warm instance of its pool's stopped
/// capacity (taken meanwhile or not: a taken one is started again for its job).
pub(crate) fn record_warm_stop(state: &State, instance: String) -> Result<Vec<Event>, Rejection> {
    let live =
        state.instances.get(&instance).ok_or_else(|| Rejection::not_found(format!("instance {instance}")))?;
    match live.warm {
        Some(warm) if warm.stopped && warm.stopped_at.is_none() && !live.runner_done => {
            Ok(vec![Event::WarmStopped(WarmStopped { instance })])
        }
        _ => Err(Rejection::conflict(None, format!("{instance} is no running instance of stopped capacity"))),
    }
}

/// `warm.ready` of `instance`, an idle hot warm instance not ready before; nothing otherwise
/// (its registration calls repeat while it waits).
pub(crate) fn record_warm_ready(state: &State, instance: String) -> Vec<Event> {
    let first = state
        .instances
        .get(&instance)
        .is_some_and(|i| i.is_idle_warm_of(false) && i.warm.is_some_and(|w| w.ready_at.is_none()));
    if first { vec![Event::WarmReady(WarmReady { instance })] } else { vec![] }
}

/// `warm.started`, or when EC2 would not start it `warm.start_failed` (the job back to the
/// queue): the start of `instance`, a stopped warm instance a job took.
pub(crate) fn record_warm_start(
    state: &State,
    instance: String,
    outcome: Result<(), LaunchError>,
) -> Result<Vec<Event>, Rejection> {
    let live =
        state.instances.get(&instance).ok_or_else(|| Rejection::not_found(format!("instance {instance}")))?;
    let (Some(job), true) = (live.job, live.needs_start()) else {
        return Err(Rejection::conflict(None, format!("{instance} waits for no start")));
    };
    Ok(vec![match outcome {
        Ok(()) => Event::WarmStarted(WarmStarted { instance, job }),
        Err(error) => Event::WarmStartFailed(WarmStartFailed { instance, job, error }),
    }])
}

/// Idle warm instances per pool.
pub(crate) fn idle_warm(state: &State) -> BTreeMap<PoolId, u32> {
    let mut idle = BTreeMap::new();
    for instance in state.instances.iter().filter(|i| i.is_idle_warm()) {
        *idle.entry(instance.pool).or_default() += 1;
    }
    idle
}

/// The idle warm instance of `pool` a job takes next, skipping `taken`: hot ones first (ready
/// before those still booting or installing), then stopped ones (at rest before those still
/// booting), oldest first.
pub(crate) fn warm_instance_for<'a>(
    state: &'a State,
    pool: PoolId,
    taken: &[String],
) -> Option<&'a Instance> {
    let rank = |i: &Instance| match i.warm {
        Some(w) if !w.stopped => u8::from(w.ready_at.is_none()),
        Some(w) if w.at_rest() => 2,
        _ => 3,
    };
    state
        .instances
        .iter()
        .filter(|i| i.pool == pool && i.is_idle_warm() && !taken.iter().any(|t| **t == *i.id))
        .min_by_key(|i| (rank(i), i.launched_at, i.id.clone()))
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
    let wanted = within_room(target.counts, warm_room(state, pool));
    let of = |stopped| {
        let idle = state.instances.iter().filter(|i| i.pool == pool.id && i.is_idle_warm_of(stopped)).count();
        u32::try_from(idle).unwrap_or(u32::MAX)
    };
    Some(WarmStatus { target, wanted, idle: WarmCounts { hot: of(false), stopped: of(true) } })
}

/// How many warm instances `pool` has room for: its cap less its active jobs; none while it or
/// its project is disabled or it has no launch template.
fn warm_room(state: &State, pool: &Pool) -> u32 {
    let enabled = !pool.spec.disabled
        && state.config.project(pool.project).is_some_and(|p| !p.spec.disabled)
        && pool.template.is_some();
    let active = state.jobs.active().in_pool(pool.id);
    if enabled { pool.spec.cap.saturating_sub(active) } else { 0 }
}

/// `counts` within `room`: hot first, then stopped.
fn within_room(counts: WarmCounts, room: u32) -> WarmCounts {
    let hot = counts.hot.min(room);
    WarmCounts { hot, stopped: counts.stopped.min(room - hot) }
}

/// What idle warm capacity `pool` keeps at `now`: the most its sizing asked for of each kind
/// over the last [`WARM_SCALE_DOWN_DELAY_MS`] (its settings as they are now), within the room
/// it has now. So a target that drops (a schedule's window ends, a forecast's quieter hour)
/// recycles instances only once it has stayed lower that long, while a cap filled by active
/// jobs, a change of settings or a disabled pool take effect at once.
fn warm_held(state: &State, pool: &Pool, spec: &WarmSpec, now: Timestamp) -> WarmCounts {
    let history = state.arrivals.get(&pool.id).cloned().unwrap_or_default();
    let mut most = WarmCounts { hot: 0, stopped: 0 };
    for minutes in 0..=WARM_SCALE_DOWN_DELAY_MS / MINUTE_MS {
        let counts = warm_target(&spec.sizing, &history, now.plus_millis(-minutes * MINUTE_MS)).counts;
        most = WarmCounts { hot: most.hot.max(counts.hot), stopped: most.stopped.max(counts.stopped) };
    }
    within_room(most, warm_room(state, pool))
}

/// A warm launch a pool needs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmLaunch {
    /// The pool.
    pub pool: PoolId,
    /// How many instances to launch.
    pub count: u32,
    /// For its stopped capacity (else hot).
    pub stopped: bool,
    /// Why the pool holds warm instances.
    pub reason: String,
}

/// The warm launches pools need at `now`, `in_flight` instances per pool and kind (stopped or
/// not) already being launched: up to each pool's wanted counts, none for a pool whose jobs
/// wait to be launched (they come first, and take the instances the launches bring).
pub fn warm_launches(
    state: &State,
    now: Timestamp,
    in_flight: &BTreeMap<(PoolId, bool), u32>,
) -> Vec<WarmLaunch> {
    let waiting: BTreeSet<PoolId> = [JobStatus::Queued, JobStatus::Claimed]
        .into_iter()
        .flat_map(|status| state.jobs.in_status(status).map(|j| j.pool))
        .collect();
    let mut launches = Vec::new();
    for pool in state.config.pools.values().filter(|p| !waiting.contains(&p.id)) {
        let Some(status) = warm_status(state, pool, now) else { continue };
        for (stopped, wanted, idle) in
            [(false, status.wanted.hot, status.idle.hot), (true, status.wanted.stopped, status.idle.stopped)]
        {
            let flying = in_flight.get(&(pool.id, stopped)).copied().unwrap_or(0);
            let count = wanted.saturating_sub(idle + flying);
            if count > 0 {
                let reason = status.target.reason.clone();
                launches.push(WarmLaunch { pool: pool.id, count, stopped, reason });
            }
        }
    }
    launches
}

/// Idle warm instances to terminate at `now`, each with why: of a pool that no longer holds
/// warm capacity (deleted, switched off or disabled) or beyond what it keeps (the oldest go
/// first; a lower target counts once it has held for [`WARM_SCALE_DOWN_DELAY_MS`]), past the
/// pool's `max_age_minutes`, or launched from an older version of the pool's template.
pub fn warm_recycling(state: &State, now: Timestamp) -> Vec<(&Instance, ReapReason)> {
    let mut idle: BTreeMap<(PoolId, bool), Vec<&Instance>> = BTreeMap::new();
    for instance in state.instances.iter().filter(|i| i.is_idle_warm()) {
        let stopped = instance.warm.is_some_and(|w| w.stopped);
        idle.entry((instance.pool, stopped)).or_default().push(instance);
    }
    let mut recycled = Vec::new();
    for ((pool_id, stopped), mut instances) in idle {
        instances.sort_by_key(|i| (i.launched_at, i.id.clone()));
        let pool = state.config.pool(pool_id);
        let (Some(pool), Some(spec)) = (pool, pool.and_then(|p| p.warm.as_ref())) else {
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
        let held = warm_held(state, pool, spec, now);
        let held = if stopped { held.stopped } else { held.hot };
        let beyond = kept.len().saturating_sub(held as usize);
        recycled.extend(kept.into_iter().take(beyond).map(|i| (i, ReapReason::WarmSurplus)));
    }
    recycled
}
