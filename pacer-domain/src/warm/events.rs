//! The warm area's facts: a pool's warm settings, and the life of a warm instance from its
//! launch (no job yet) through its bootstrap to the job that takes it.

use super::sizing::WarmSizing;
use crate::config::PoolId;
use crate::job::JobId;
use crate::launch::{LaunchError, LaunchedInstance};
use crate::money::{Micros, PriceQuote};
use serde::{Deserialize, Serialize};

/// The shortest `max_age_minutes` a pool may set.
pub const MIN_WARM_MAX_AGE_MINUTES: u32 = 10;
/// The longest `max_age_minutes` a pool may set (a week).
pub const MAX_WARM_MAX_AGE_MINUTES: u32 = 7 * 24 * 60;
/// The `max_age_minutes` the console proposes.
pub const DEFAULT_WARM_MAX_AGE_MINUTES: u32 = 240;

/// A pool's warm capacity: how it is sized, and how long an idle warm instance may wait for
/// a job before it is recycled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmSpec {
    /// Fixed counts, a schedule or a forecast.
    pub sizing: WarmSizing,
    /// An idle warm instance older than this is terminated and replaced
    /// ([`MIN_WARM_MAX_AGE_MINUTES`]–[`MAX_WARM_MAX_AGE_MINUTES`]).
    pub max_age_minutes: u32,
}

/// `pool.warm_set`: an operator set (or, `None`, switched off) a pool's warm capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolWarmSet {
    /// The pool.
    pub pool: PoolId,
    /// Its warm capacity; `None` = none.
    pub warm: Option<WarmSpec>,
}

/// `warm.launched`: an instance launched for a pool's warm capacity, with no job yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmLaunched {
    /// The pool it waits in.
    pub pool: PoolId,
    /// What EC2 started.
    pub instance: LaunchedInstance,
    /// Its price per hour; `None` when unpriced.
    pub price: Option<PriceQuote>,
    /// The pool's launch template version it was launched from; once the pool's template
    /// moves on, it is recycled while idle.
    pub template_version: u64,
    /// For the pool's stopped capacity: stopped once its runner is ready (else hot).
    pub stopped: bool,
    /// Why the pool holds warm instances (the sizing's reason at the launch).
    pub reason: String,
}

/// `warm.bootstrapped`: a warm instance exchanged the bootstrap token for its callback token
/// before any job took it; its runner registers once one does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmBootstrapped {
    /// The instance (`i-…`).
    pub instance: String,
}

/// `warm.taken`: a queued job took an idle warm instance of its pool (no launch); the job is
/// billed for the instance from here, and what it cost while idle goes to the pool as warm
/// cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmTaken {
    /// The job.
    pub job: JobId,
    /// The warm instance (`i-…`).
    pub instance: String,
    /// What it cost while it waited (price × idle time); `None` when unpriced.
    pub warm_cost: Option<Micros>,
}

/// `warm.ready`: a hot warm instance's runner is installed and waits for a job (its first
/// registration call); jobs take ready instances first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmReady {
    /// The instance (`i-…`).
    pub instance: String,
}

/// `warm.stopped`: Pacer stopped a warm instance of the pool's stopped capacity once its
/// runner was ready; it costs no compute until a job needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmStopped {
    /// The instance (`i-…`).
    pub instance: String,
}

/// `warm.started`: Pacer started a stopped warm instance for the job that took it; it boots
/// again and its runner registers for that job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmStarted {
    /// The instance (`i-…`).
    pub instance: String,
    /// The job that took it.
    pub job: JobId,
}

/// `warm.start_failed`: EC2 would not start a stopped warm instance for the job that took it:
/// the job goes back to the queue (it launches or takes another) and the instance is torn
/// down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmStartFailed {
    /// The instance (`i-…`).
    pub instance: String,
    /// The job that took it.
    pub job: JobId,
    /// What EC2 answered.
    pub error: LaunchError,
}

/// `warm.errored`: the bootstrap script of a warm instance failed before any job took it;
/// it shuts down by itself and is replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmErrored {
    /// The instance (`i-…`).
    pub instance: String,
    /// The stage that failed (`download`, `user_data_extra`, …).
    pub stage: String,
    /// Exit code of the failed command.
    pub exit_code: i32,
    /// Line of the user-data script that failed.
    pub line: u32,
    /// The end of its log, at most [`crate::MAX_LOG_TAIL_BYTES`].
    pub log_tail: String,
}
