//! The job area's facts: webhook deliveries and what they did, and every step of a job's life
//! from `job.queued` to its one terminal event.

use crate::config::{PoolId, ProjectId};
use crate::launch::{LaunchError, LaunchedInstance, Market};
use crate::money::{Micros, PriceQuote};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Pacer's id of an accepted job, assigned in queue order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job #{}", self.0)
    }
}

/// Why a webhook's job is not ours.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IgnoreReason {
    /// Its labels do not include `self-hosted`.
    NotSelfHosted,
    /// No binding and no org-scoped project covers the repo.
    UnboundRepo,
    /// The project covering the repo is disabled.
    ProjectDisabled,
    /// A workflow_job action Pacer does not act on (e.g. `waiting`).
    Action(String),
}

impl IgnoreReason {
    /// Stable snake-case reason.
    pub fn as_str(&self) -> &str {
        match self {
            IgnoreReason::NotSelfHosted => "not_self_hosted",
            IgnoreReason::UnboundRepo => "unbound_repo",
            IgnoreReason::ProjectDisabled => "project_disabled",
            IgnoreReason::Action(action) => action,
        }
    }
}

/// Why no pool took a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoMatchReason {
    /// The project has no enabled pool.
    NoPools,
    /// No enabled pool carries every requested label.
    NoMatch,
}

impl NoMatchReason {
    /// `no_pools` or `no_match`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoMatchReason::NoPools => "no_pools",
            NoMatchReason::NoMatch => "no_match",
        }
    }
}

/// Where a failed job failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureStage {
    /// GitHub reported the job failed or timed out.
    GitHub,
    /// EC2 refused the launch (permanent error or retries exhausted).
    Spawn,
    /// The runner failed before the job ran.
    Bootstrap,
    /// The instance was lost (stopped, terminated, vanished, interrupted).
    Ec2,
    /// The configuration changed under the job (its pool was deleted).
    Config,
}

impl FailureStage {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureStage::GitHub => "github",
            FailureStage::Spawn => "spawn",
            FailureStage::Bootstrap => "bootstrap",
            FailureStage::Ec2 => "ec2",
            FailureStage::Config => "config",
        }
    }
}

/// What moved a job to running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartSource {
    /// The `in_progress` webhook.
    Webhook,
    /// The runner registered with GitHub.
    Runner,
}

/// `webhook.pinged`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPinged {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The hook's id, when given.
    pub hook_id: Option<u64>,
}

/// `webhook.ignored`: an event type Pacer does not handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookIgnored {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`, when present.
    pub action: Option<String>,
}

/// `webhook.duplicate`: a delivery seen before, or a new delivery of a job already queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDuplicate {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The GitHub job id, for workflow_job deliveries.
    pub github_job_id: Option<u64>,
    /// The job it refers to, when known.
    pub job: Option<JobId>,
}

/// `webhook.absorbed`: a late or repeated workflow_job webhook that changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAbsorbed {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The job.
    pub job: JobId,
    /// The webhook's action.
    pub action: String,
    /// Why it changes nothing (e.g. `job already completed`).
    pub reason: String,
}

/// `job.queued`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobQueued {
    /// New id.
    pub job: JobId,
    /// The delivery that brought it.
    pub delivery_id: String,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// GitHub's run id.
    pub run_id: u64,
    /// GitHub's run attempt.
    pub run_attempt: u32,
    /// The GitHub App installation, when given.
    pub installation_id: Option<u64>,
    /// `owner/repo`.
    pub repo: String,
    /// Workflow name.
    pub workflow: String,
    /// Job name.
    pub job_name: String,
    /// Branch, when given.
    pub branch: String,
    /// Commit SHA.
    pub sha: String,
    /// Who triggered it.
    pub sender: String,
    /// Requested labels as GitHub sent them.
    pub labels: Vec<String>,
    /// Link to the job on GitHub.
    pub html_url: String,
    /// Routed project.
    pub project: ProjectId,
    /// Routed pool.
    pub pool: PoolId,
    /// Queued from an `in_progress`/`completed` webhook of a job whose `queued` never came.
    pub recovered: bool,
}

/// `job.ignored`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIgnored {
    /// The delivery.
    pub delivery_id: String,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// `owner/repo`.
    pub repo: String,
    /// The webhook's action.
    pub action: String,
    /// Requested labels.
    pub labels: Vec<String>,
    /// Why.
    pub reason: IgnoreReason,
}

/// `job.no_pool_match`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNoPoolMatch {
    /// The delivery.
    pub delivery_id: String,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// `owner/repo`.
    pub repo: String,
    /// The project that covers the repo.
    pub project: ProjectId,
    /// Requested labels.
    pub labels: Vec<String>,
    /// Why.
    pub reason: NoMatchReason,
}

/// `job.claimed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaimed {
    /// Job.
    pub job: JobId,
    /// Attempt about to be launched (1-based).
    pub attempt: u32,
    /// Market of that attempt.
    pub market: Market,
}

/// `job.claim_expired`: a claim whose launch outcome never arrived returns to the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaimExpired {
    /// Job.
    pub job: JobId,
    /// The attempt (not burned).
    pub attempt: u32,
}

/// `job.spawn_launched`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpawnLaunched {
    /// Job.
    pub job: JobId,
    /// Attempt.
    pub attempt: u32,
    /// What EC2 started.
    pub instance: LaunchedInstance,
    /// Price quote at launch; `None` = unpriced.
    pub price: Option<PriceQuote>,
}

/// `job.spawn_retry`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpawnRetry {
    /// Job.
    pub job: JobId,
    /// The attempt that failed.
    pub attempt: u32,
    /// Why.
    pub error: LaunchError,
    /// Not before.
    pub next_retry_at: Timestamp,
    /// Market of the next attempt.
    pub next_market: Market,
    /// Whether this failure counted as an attempt (throttling does not).
    pub burns_attempt: bool,
}

/// `job.spawn_failed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpawnFailed {
    /// Job.
    pub job: JobId,
    /// The last attempt.
    pub attempt: u32,
    /// Why.
    pub error: LaunchError,
}

/// `job.started`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStarted {
    /// Job.
    pub job: JobId,
    /// What told us.
    pub source: StartSource,
    /// The runner's name, when known.
    pub runner_name: Option<String>,
    /// The delivery, for webhook starts.
    pub delivery_id: Option<String>,
}

/// `job.runner_rebound`: GitHub ran the job on another Pacer runner than the one launched for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRunnerRebound {
    /// Job.
    pub job: JobId,
    /// The instance it actually runs on.
    pub instance: String,
    /// The job that instance was launched or assigned for, which lost it.
    pub displaced: Option<JobId>,
}

/// `job.instance_reassigned`: a waiting job gets a free instance, or loses its instance and
/// returns to the queue (`instance: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInstanceReassigned {
    /// Job.
    pub job: JobId,
    /// Its new instance, or none (back to queued).
    pub instance: Option<String>,
}

/// What every terminal job event carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnd {
    /// Job.
    pub job: JobId,
    /// GitHub's conclusion, when the webhook decided.
    pub conclusion: Option<String>,
    /// The delivery, when a webhook decided.
    pub delivery_id: Option<String>,
    /// The runner that ran it, when known.
    pub runner_name: Option<String>,
    /// The Pacer instance it ran on (or was launched for), when any.
    pub instance: Option<String>,
    /// Estimated cost (instance launch → job end at the quoted price); `None` = unpriced or
    /// no instance.
    pub cost: Option<Micros>,
    /// Milliseconds from start (running) to end; 0 when it never ran.
    pub runner_ms: i64,
}

/// `job.completed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCompleted {
    /// The end.
    pub end: JobEnd,
}

/// `job.failed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailed {
    /// The end.
    pub end: JobEnd,
    /// Where it failed.
    pub stage: FailureStage,
    /// Why.
    pub message: String,
}

/// `job.cancelled`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCancelled {
    /// The end.
    pub end: JobEnd,
}

/// `job.reaped`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReaped {
    /// The end.
    pub end: JobEnd,
    /// The max runtime it exceeded, in minutes.
    pub max_runtime_minutes: u32,
}
