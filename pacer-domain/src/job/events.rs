//! The job area's facts: webhook deliveries and what they did, and every step of a job's life
//! from `job.queued` to its one terminal event.

use crate::config::{PoolId, ProjectId};
use crate::launch::{LaunchError, LaunchedInstance, Market};
use crate::money::{Micros, PriceQuote};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Pacer's id of an accepted job, assigned in queue order from 1 and never reused (unlike
/// GitHub's job id, which it maps to one-to-one).
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
    /// `not_self_hosted`, `unbound_repo`, `project_disabled`, or the ignored action itself.
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
    /// GitHub concluded the job `failure`, `timed_out`, `startup_failure` or
    /// `action_required`.
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
    /// Every stage, in declaration order (README lists each; a test holds it to this).
    pub const ALL: [FailureStage; 5] = [
        FailureStage::GitHub,
        FailureStage::Spawn,
        FailureStage::Bootstrap,
        FailureStage::Ec2,
        FailureStage::Config,
    ];

    /// `github`, `spawn`, `bootstrap`, `ec2` or `config`.
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
    /// The runner callback said it registered with GitHub.
    Runner,
}

/// `webhook.pinged`: GitHub's `ping`, sent when the webhook is set up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPinged {
    /// The delivery's `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// The payload's `hook_id`; `None` when the payload has none.
    pub hook_id: Option<u64>,
}

/// `webhook.ignored`: an event type Pacer does not handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookIgnored {
    /// The delivery's `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// The delivery's `X-GitHub-Event` (e.g. `push`).
    pub event: String,
    /// The payload's `action`; `None` when it has none.
    pub action: Option<String>,
}

/// `webhook.duplicate`: a delivery seen before, or a new delivery of a job already queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDuplicate {
    /// The delivery's `X-GitHub-Delivery` GUID (a repeat, or new for a redelivered `queued`).
    pub delivery_id: String,
    /// The delivery's `X-GitHub-Event`.
    pub event: String,
    /// GitHub's job id for `workflow_job` deliveries; `None` for other events.
    pub github_job_id: Option<u64>,
    /// The retained job with that GitHub id; `None` when there is none (or it was evicted).
    pub job: Option<JobId>,
}

/// `webhook.absorbed`: a late or repeated workflow_job webhook that changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAbsorbed {
    /// The delivery's `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// The job the webhook is about.
    pub job: JobId,
    /// The webhook's action as GitHub spells it (`in_progress`, `completed`).
    pub action: String,
    /// Why it changes nothing (e.g. `job already completed`).
    pub reason: String,
}

/// `job.queued`: a `workflow_job` webhook routed a new job to a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobQueued {
    /// The new job's id, [`crate::Jobs::next_id`] at the time.
    pub job: JobId,
    /// The `X-GitHub-Delivery` GUID of the webhook that brought it.
    pub delivery_id: String,
    /// GitHub's job id (`workflow_job.id`), unique among retained jobs.
    pub github_job_id: u64,
    /// GitHub's workflow run id.
    pub run_id: u64,
    /// GitHub's run attempt, from 1 (1 when the payload has none).
    pub run_attempt: u32,
    /// The GitHub App installation that sent the webhook; `None` when the payload has none.
    pub installation_id: Option<u64>,
    /// `owner/repo` as GitHub spells it.
    pub repo: String,
    /// Workflow name; empty when the payload has none.
    pub workflow: String,
    /// Job name; empty when the payload has none.
    pub job_name: String,
    /// The run's head branch; empty when the payload has none.
    pub branch: String,
    /// The run's head commit SHA; empty when the payload has none.
    pub sha: String,
    /// Login of the GitHub user whose action triggered the delivery; empty when absent.
    pub sender: String,
    /// The job's `runs-on` labels as GitHub sent them (not sanitised).
    pub labels: Vec<String>,
    /// Link to the job on GitHub; empty when the payload has none.
    pub html_url: String,
    /// The project covering the repo (by binding, else by org).
    pub project: ProjectId,
    /// The pool [`crate::route`] chose.
    pub pool: PoolId,
    /// Queued from an `in_progress`/`completed` webhook of a job whose `queued` never came.
    pub recovered: bool,
}

/// `job.ignored`: a `workflow_job` webhook about a job that is not Pacer's, or with an action
/// Pacer does not act on; nothing is queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIgnored {
    /// The delivery's `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// `owner/repo` as GitHub spells it.
    pub repo: String,
    /// The webhook's action as GitHub spells it.
    pub action: String,
    /// The job's `runs-on` labels as GitHub sent them.
    pub labels: Vec<String>,
    /// Why it is not Pacer's.
    pub reason: IgnoreReason,
}

/// `job.no_pool_match`: a job of a covered repo that no enabled pool of its project can take;
/// nothing is queued (a later delivery of the same job is routed afresh).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNoPoolMatch {
    /// The delivery's `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// `owner/repo` as GitHub spells it.
    pub repo: String,
    /// The project that covers the repo.
    pub project: ProjectId,
    /// The job's `runs-on` labels as GitHub sent them.
    pub labels: Vec<String>,
    /// `no_pools` (no enabled pool) or `no_match` (none offers every label).
    pub reason: NoMatchReason,
}

/// `job.claimed`: the dispatcher took a queued job within its caps and is launching for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaimed {
    /// The job claimed.
    pub job: JobId,
    /// Attempt about to be launched, 1-based (the job's burned attempts + 1).
    pub attempt: u32,
    /// Market of that attempt: the pool's, or on-demand after a spot fallback.
    pub market: Market,
}

/// `job.claim_expired`: a claim whose launch outcome never arrived returns to the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaimExpired {
    /// The job returned to the queue.
    pub job: JobId,
    /// The attempt whose outcome never came; not burned, the next claim launches it again.
    pub attempt: u32,
}

/// `job.spawn_launched`: EC2 started an instance for a job's attempt. The instance is recorded
/// even when the job no longer waits for it (then it goes to a waiting job, or is surplus).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpawnLaunched {
    /// The job the instance was launched for.
    pub job: JobId,
    /// The attempt that launched it, 1-based.
    pub attempt: u32,
    /// What EC2 started: id, type, zone, subnet, market.
    pub instance: LaunchedInstance,
    /// Price per hour at launch; `None` = unpriced (no quote could be had).
    pub price: Option<PriceQuote>,
}

/// `job.spawn_retry`: a launch failed with a capacity or throttling error; the job returns to
/// the queue until `next_retry_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpawnRetry {
    /// The job going back to the queue.
    pub job: JobId,
    /// The attempt that failed, 1-based.
    pub attempt: u32,
    /// AWS's error, classed [`crate::ErrorClass::Capacity`] or
    /// [`crate::ErrorClass::Throttling`].
    pub error: LaunchError,
    /// The job is not claimed before this: the [`crate::RetryPolicy`] backoff for capacity,
    /// the host's jittered delay for throttling.
    pub next_retry_at: Timestamp,
    /// Market of the next attempt: on-demand after a spot failure when the pool has
    /// `on_demand_fallback`, else unchanged.
    pub next_market: Market,
    /// Whether this failure counted as an attempt (throttling does not).
    pub burns_attempt: bool,
}

/// `job.spawn_failed`: a launch failed for good (a permanent error, or capacity after
/// [`crate::MAX_LAUNCH_ATTEMPTS`]); a `job.failed` (stage `spawn`) follows in the same append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpawnFailed {
    /// The job that fails.
    pub job: JobId,
    /// The last attempt, 1-based.
    pub attempt: u32,
    /// AWS's error code and message.
    pub error: LaunchError,
}

/// `job.started`: the job runs, as the `in_progress` webhook or its runner's registration said
/// (whichever came first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStarted {
    /// The job now running.
    pub job: JobId,
    /// Whether the webhook or the runner callback told us.
    pub source: StartSource,
    /// The GitHub runner running it (`pacer-<instance-id>` for Pacer's); `None` when the
    /// webhook named none.
    pub runner_name: Option<String>,
    /// The webhook's `X-GitHub-Delivery` GUID; `None` for runner starts.
    pub delivery_id: Option<String>,
}

/// `job.github_noted`: what a `workflow_job` webhook about a Pacer job says of it in GitHub's
/// own words: GitHub's times (`workflow_job.created_at`, `started_at`, `completed_at`) and who
/// sent it (`sender.type`). Recorded after the delivery's other events, for the job detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobGithubNoted {
    /// The job the webhook is about.
    pub job: JobId,
    /// The delivery's `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// When GitHub created the job; `None` when the payload has none.
    pub created_at: Option<Timestamp>,
    /// When a runner picked it up, by GitHub's clock; `None` when the payload has none.
    pub started_at: Option<Timestamp>,
    /// When it ended, by GitHub's clock; `None` when the payload has none.
    pub completed_at: Option<Timestamp>,
    /// `sender.type` (`User`, `Bot`, `Organization`); empty when the payload has none.
    pub sender_type: String,
}

/// `job.runner_rebound`: GitHub ran the job on another Pacer runner than the one launched for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRunnerRebound {
    /// The job that runs elsewhere.
    pub job: JobId,
    /// The Pacer instance (`i-…`) it actually runs on.
    pub instance: String,
    /// The job that instance was launched or assigned for, which lost it; `None` when no
    /// unfinished job waited for it.
    pub displaced: Option<JobId>,
}

/// `job.instance_reassigned`: a waiting job gets a free instance, or loses its instance and
/// returns to the queue (`instance: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInstanceReassigned {
    /// The job that gains or loses an instance.
    pub job: JobId,
    /// Its new instance, or none (back to queued).
    pub instance: Option<String>,
}

/// What every terminal job event carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnd {
    /// The job that ends.
    pub job: JobId,
    /// GitHub's conclusion as GitHub spells it (`success`, `failure`, …); `None` when Pacer
    /// ended the job, or the `completed` webhook carried none.
    pub conclusion: Option<String>,
    /// The `completed` webhook's `X-GitHub-Delivery` GUID; `None` when Pacer ended the job.
    pub delivery_id: Option<String>,
    /// The GitHub runner that ran it; `None` when it never ran or no one said where.
    pub runner_name: Option<String>,
    /// The Pacer instance (`i-…`) it ran on, or waited for; `None` when it had none.
    pub instance: Option<String>,
    /// The estimate at the job's end, in micro-dollars: its instance's price per hour × (job
    /// end − instance launch); `None` when unpriced or without an instance. Kept for the audit
    /// trail: the job's cost is its instances', settled when they end (see `cost.rs`).
    pub cost: Option<Micros>,
    /// Milliseconds from start (running) to end; 0 when it never ran. The stats' runner time is
    /// job end − instance launch instead, derived from the records' times.
    pub runner_ms: i64,
}

/// `job.completed`: GitHub concluded the job with anything but a failure or a cancellation
/// (`success`, `skipped`, `neutral`, none, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCompleted {
    /// How it ended: conclusion, runner, instance, cost and runner time.
    pub end: JobEnd,
}

/// `job.failed`: GitHub concluded a failure, or Pacer failed the job (launch, bootstrap,
/// instance lost, pool deleted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailed {
    /// How it ended: conclusion, runner, instance, cost and runner time.
    pub end: JobEnd,
    /// Where it failed.
    pub stage: FailureStage,
    /// What went wrong, for the operator (e.g. AWS's error, the runner's exit code and line).
    pub message: String,
}

/// `job.cancelled`: GitHub concluded `cancelled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCancelled {
    /// How it ended: conclusion, runner, instance, cost and runner time.
    pub end: JobEnd,
}

/// `job.reaped`: the reaper terminated the job's instance after the pool's max runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReaped {
    /// How it ended: runner, instance, cost and runner time (no conclusion).
    pub end: JobEnd,
    /// The max runtime it exceeded, in minutes.
    pub max_runtime_minutes: u32,
}
