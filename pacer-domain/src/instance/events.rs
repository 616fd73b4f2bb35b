//! The instance area's facts: what became of each launched instance, and what its runner
//! reported through the callbacks.

use crate::config::PoolId;
use crate::job::JobId;
use serde::{Deserialize, Serialize};

/// Why an instance was reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReapReason {
    /// It ran longer than its pool's `max_runtime_minutes`; its unfinished job is reaped.
    MaxRuntime,
    /// No job waits for or runs on it, and its runner has not finished by itself.
    Surplus,
    /// The job it ran has ended, or its runner reported done: torn down at once rather than at
    /// max runtime, so nothing that ran there outlives its job. GitHub's verdict on the job
    /// stands (no `job.reaped`).
    JobEnded,
    /// An idle warm instance beyond what its pool holds now (or of a pool that holds none).
    WarmSurplus,
    /// An idle warm instance older than its pool's `max_age_minutes`.
    WarmExpired,
    /// An idle warm instance launched from an older version of its pool's launch template.
    WarmOutdated,
}

impl ReapReason {
    /// Whether it is reaped for being unneeded (surplus, or idle warm capacity recycled), not
    /// for what it or its job did.
    pub fn is_unneeded(self) -> bool {
        matches!(
            self,
            ReapReason::Surplus
                | ReapReason::WarmSurplus
                | ReapReason::WarmExpired
                | ReapReason::WarmOutdated
        )
    }

    /// `max_runtime`, `surplus`, `job_ended`, `warm_surplus`, `warm_expired` or
    /// `warm_outdated`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReapReason::MaxRuntime => "max_runtime",
            ReapReason::Surplus => "surplus",
            ReapReason::JobEnded => "job_ended",
            ReapReason::WarmSurplus => "warm_surplus",
            ReapReason::WarmExpired => "warm_expired",
            ReapReason::WarmOutdated => "warm_outdated",
        }
    }
}

/// Why an instance may not register a runner: each registration hands out a JIT config, i.e.
/// a runner that picks up the repository's next jobs with their secrets, so an instance gets
/// exactly one, and none once its job or runner is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegisterRefusal {
    /// It already registered its runner.
    AlreadyRegistered,
    /// The job it was launched for or serves has ended.
    JobEnded,
    /// Its runner already reported completion or an error.
    RunnerDone,
    /// Another registration for it is under way.
    InFlight,
    /// The instance itself has ended (torn down, reaped, terminated or lost).
    InstanceEnded,
}

impl RegisterRefusal {
    /// `already_registered`, `job_ended`, `runner_done`, `in_flight` or `instance_ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterRefusal::AlreadyRegistered => "already_registered",
            RegisterRefusal::JobEnded => "job_ended",
            RegisterRefusal::RunnerDone => "runner_done",
            RegisterRefusal::InFlight => "in_flight",
            RegisterRefusal::InstanceEnded => "instance_ended",
        }
    }
}

/// Why a bootstrap was refused and recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BootstrapRefusal {
    /// The token is another pool's: a token read on one pool's instance reaches no other pool.
    WrongPool,
    /// The identity document is forged, altered, malformed or of another region.
    BadIdentity,
    /// The request names another instance than its identity document.
    InstanceMismatch,
    /// The document's launch time is not the launch Pacer recorded for that instance.
    LaunchMismatch,
    /// A genuine instance Pacer never launched (another account's, or long gone).
    UnknownInstance,
    /// The document's account is not the one that owns the instance.
    WrongAccount,
    /// The instance bootstrapped already; this is a replay.
    Replayed,
}

impl BootstrapRefusal {
    /// `wrong_pool`, `bad_identity`, `instance_mismatch`, `launch_mismatch`,
    /// `unknown_instance`, `wrong_account` or `replayed`.
    pub fn as_str(self) -> &'static str {
        match self {
            BootstrapRefusal::WrongPool => "wrong_pool",
            BootstrapRefusal::BadIdentity => "bad_identity",
            BootstrapRefusal::InstanceMismatch => "instance_mismatch",
            BootstrapRefusal::LaunchMismatch => "launch_mismatch",
            BootstrapRefusal::UnknownInstance => "unknown_instance",
            BootstrapRefusal::WrongAccount => "wrong_account",
            BootstrapRefusal::Replayed => "replayed",
        }
    }
}

/// `runner.bootstrap_refused`: a valid bootstrap token was presented without a valid proof of
/// identity, or for an instance it may not bootstrap (recorded once per instance, or per pool
/// for unverifiable documents, and reason while the token is valid).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerBootstrapRefused {
    /// The instance (`i-…`): the verified document's, else the one the request named (empty
    /// when it named none or no valid id).
    pub instance: String,
    /// The pool whose token was presented.
    pub pool: PoolId,
    /// Why.
    pub reason: BootstrapRefusal,
}

/// `runner.register_refused`: a holder of an instance's callback token asked for another
/// runner registration and was refused (recorded once per instance and reason while the token
/// is valid).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRegisterRefused {
    /// The instance (`i-…`) the callback token belongs to.
    pub instance: String,
    /// Its job, if it still has one.
    pub job: Option<JobId>,
    /// Why.
    pub reason: RegisterRefusal,
}

/// `instance.registered`: the instance's runner got its JIT config, i.e. registered with
/// GitHub; a job still waiting for it starts (`job.started`, source runner) in the same append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRegistered {
    /// The instance (`i-…`).
    pub instance: String,
    /// The job it is assigned to, else the one it was launched for.
    pub job: JobId,
    /// GitHub runner name, `pacer-<instance-id>`.
    pub runner_name: String,
    /// The runner id GitHub assigned (used to deregister it when reaping).
    pub runner_id: u64,
}

/// `instance.terminated`: the reaper saw an instance end with no unfinished job relying on it
/// (e.g. it shut down after its runner finished); it leaves the live instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTerminated {
    /// The instance (`i-…`).
    pub instance: String,
    /// The EC2 state observed (`stopped`, `terminated`, …), or `vanished`.
    pub state: String,
}

/// `instance.lost`: the reaper saw an instance end while an unfinished job relied on it and
/// its runner had not reported; the job fails (stage `ec2`) in the same append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLost {
    /// The instance (`i-…`).
    pub instance: String,
    /// The unfinished job that waited for or ran on it, failed in the same append.
    pub job: Option<JobId>,
    /// The EC2 state observed (`stopped`, `terminated`, `vanished`, …).
    pub state: String,
    /// EC2's state reason (e.g. a spot interruption); empty when EC2 gave none.
    pub reason: String,
}

/// `instance.reaped`: the reaper deregistered the instance's runner and terminated it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReaped {
    /// The instance (`i-…`).
    pub instance: String,
    /// Its unfinished job, reaped in the same append; `None` when it had none.
    pub job: Option<JobId>,
    /// Max runtime exceeded, surplus, or its job ended.
    pub reason: ReapReason,
}

/// `instance.orphan_found`: the orphan sweep found a live instance tagged
/// `gha:managed-by=pacer` that the live instances do not hold, past the host's grace period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOrphanFound {
    /// The instance (`i-…`).
    pub instance: String,
    /// Its `gha:job_id` tag (Pacer's job id); `None` when untagged.
    pub job_tag: Option<String>,
    /// Its EC2 state when found (`pending`, `running`, …).
    pub state: String,
    /// Whether the terminate call succeeded; if not, the next sweep finds it again.
    pub terminated: bool,
}

/// `runner.bootstrapped`: an instance exchanged the bootstrap token for its callback token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerBootstrapped {
    /// The instance (`i-…`); each bootstraps once.
    pub instance: String,
    /// The job it is assigned to, which its runner will register for.
    pub job: JobId,
}

/// `runner.register_failed`: GitHub refused to mint the runner's JIT config with a
/// non-retryable error (the callback got 424).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRegisterFailed {
    /// The instance (`i-…`) whose runner asked.
    pub instance: String,
    /// The job it is assigned to, else the one it was launched for.
    pub job: JobId,
    /// GitHub's HTTP status (0 when unreachable).
    pub status: u16,
    /// GitHub's message.
    pub message: String,
}

/// `runner.completed`: the runner process exited and reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerCompleted {
    /// The instance (`i-…`); it shuts down (and so terminates) by itself.
    pub instance: String,
    /// The job it was launched or assigned for.
    pub job: JobId,
    /// The runner process's exit code. The job's status comes from the webhook, not from this.
    pub exit_code: i32,
}

/// `runner.errored`: the bootstrap script or runner failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerErrored {
    /// The instance (`i-…`); it shuts down by itself.
    pub instance: String,
    /// The job it is assigned to, else the one it was launched for; failed (stage
    /// `bootstrap`) in the same append when it waited for this instance and had not ended.
    pub job: JobId,
    /// The stage the runner reported; the user-data script's are `boot`, `metadata`,
    /// `bootstrap`, `download`, `verify`, `user_data_extra`, `register`, `run`, `complete`.
    pub stage: String,
    /// Exit code of the failed command.
    pub exit_code: i32,
    /// Line of the user-data script that failed.
    pub line: u32,
    /// The end of the runner's log, at most [`crate::MAX_LOG_TAIL_BYTES`] (64 KiB; longer
    /// tails keep their last bytes). Empty when the host keeps the log beside the log instead
    /// (Pacer's server keeps it in its vault, deleted after the failure-log retention).
    pub log_tail: String,
}
