//! The instance area's facts: what became of each launched instance, and what its runner
//! reported through the callbacks.

use crate::job::JobId;
use serde::{Deserialize, Serialize};

/// Why an instance was reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReapReason {
    /// It ran longer than its pool's max runtime.
    MaxRuntime,
    /// No job needs it any more.
    Surplus,
}

impl ReapReason {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReapReason::MaxRuntime => "max_runtime",
            ReapReason::Surplus => "surplus",
        }
    }
}

/// `instance.registered`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRegistered {
    /// Instance.
    pub instance: String,
    /// The job it was registered for.
    pub job: JobId,
    /// GitHub runner name (`pacer-<instance>`).
    pub runner_name: String,
    /// GitHub runner id.
    pub runner_id: u64,
}

/// `instance.terminated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTerminated {
    /// Instance.
    pub instance: String,
    /// The EC2 state observed.
    pub state: String,
}

/// `instance.lost`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLost {
    /// Instance.
    pub instance: String,
    /// The job that lost it, if it was serving or waiting for one.
    pub job: Option<JobId>,
    /// The EC2 state observed (`stopped`, `terminated`, `vanished`, …).
    pub state: String,
    /// EC2's state reason, when given (e.g. a spot interruption).
    pub reason: String,
}

/// `instance.reaped`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReaped {
    /// Instance.
    pub instance: String,
    /// The job affected, if any.
    pub job: Option<JobId>,
    /// Why.
    pub reason: ReapReason,
}

/// `instance.orphan_found`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOrphanFound {
    /// Instance.
    pub instance: String,
    /// Its `gha:job_id` tag, when present.
    pub job_tag: Option<String>,
    /// Its EC2 state when found.
    pub state: String,
    /// Whether Pacer terminated it.
    pub terminated: bool,
}

/// `runner.bootstrapped`: an instance exchanged the bootstrap token for its callback token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerBootstrapped {
    /// Instance.
    pub instance: String,
    /// The job it will register for.
    pub job: JobId,
}

/// `runner.register_failed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRegisterFailed {
    /// Instance.
    pub instance: String,
    /// The job.
    pub job: JobId,
    /// GitHub's HTTP status (0 when unreachable).
    pub status: u16,
    /// GitHub's message.
    pub message: String,
}

/// `runner.completed`: the runner process exited and reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerCompleted {
    /// Instance.
    pub instance: String,
    /// The job it was launched or assigned for.
    pub job: JobId,
    /// The runner's exit code.
    pub exit_code: i32,
}

/// `runner.errored`: the bootstrap script or runner failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerErrored {
    /// Instance.
    pub instance: String,
    /// The job.
    pub job: JobId,
    /// Script stage (`bootstrap`, `download`, `register`, `run`, …).
    pub stage: String,
    /// Exit code of the failed command.
    pub exit_code: i32,
    /// Script line.
    pub line: u32,
    /// Up to 64 KiB of log tail.
    pub log_tail: String,
}
