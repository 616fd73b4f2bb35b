//! The event catalogue (SPEC §2): every fact Pacer records, named `noun.past_participle`, each
//! variant the same words in UpperCamel with a payload struct, plus the record envelope.
//! Payloads are encoded one by one through a [`PayloadCodec`] chosen by the store, so the
//! domain stays free of any wire format, and adding a variant never breaks old records.

use crate::config::{PoolId, PoolSpec, ProjectId, ProjectSpec, RepoSpec, TemplateRef};
use crate::launch::{LaunchError, LaunchedInstance, Market};
use crate::money::{Micros, PriceQuote};
use crate::time::Timestamp;
use serde::de::DeserializeOwned;
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

/// Who caused a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Actor {
    /// Pacer itself (dispatcher, reaper, reconciler).
    System,
    /// A GitHub webhook.
    GitHub,
    /// A signed-in operator, by email.
    User(String),
    /// A runner callback, by instance id.
    Runner(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::GitHub => f.write_str("github"),
            Actor::User(email) => f.write_str(email),
            Actor::Runner(instance) => write!(f, "runner:{instance}"),
        }
    }
}

/// One event as it sits in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded<E = Event> {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded (UTC, never decreasing along the log).
    pub at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// The request that caused it, when there was one.
    pub request_id: Option<String>,
    /// The fact.
    pub event: E,
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

/// How a user signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// Email and password.
    Local,
    /// OpenID Connect.
    Oidc,
}

/// The counts of an import or export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCounts {
    /// Projects created (import) or exported.
    pub projects_created: u32,
    /// Projects updated (import).
    pub projects_updated: u32,
    /// Pools created (import) or exported.
    pub pools_created: u32,
    /// Pools updated (import).
    pub pools_updated: u32,
    /// Repos created (import) or exported.
    pub repos_created: u32,
    /// Repos updated (import).
    pub repos_updated: u32,
}

/// `project.created`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCreated {
    /// New id.
    pub id: ProjectId,
    /// Settings.
    pub spec: ProjectSpec,
}

/// `project.updated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectUpdated {
    /// Project.
    pub id: ProjectId,
    /// New settings (whole).
    pub spec: ProjectSpec,
}

/// `project.deleted`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeleted {
    /// Project.
    pub id: ProjectId,
    /// Its name when deleted.
    pub name: String,
}

/// `pool.created`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCreated {
    /// New id.
    pub id: PoolId,
    /// Owning project.
    pub project: ProjectId,
    /// Settings.
    pub spec: PoolSpec,
}

/// `pool.updated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUpdated {
    /// Pool.
    pub id: PoolId,
    /// New settings (whole).
    pub spec: PoolSpec,
}

/// `pool.deleted`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDeleted {
    /// Pool.
    pub id: PoolId,
    /// Owning project.
    pub project: ProjectId,
    /// Its name when deleted.
    pub name: String,
    /// Its launch template, deleted with it.
    pub template: Option<TemplateRef>,
}

/// `pool.template_materialized`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolTemplateMaterialized {
    /// Pool.
    pub pool: PoolId,
    /// The LT and its new default version.
    pub template: TemplateRef,
}

/// `repo.bound`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoBound {
    /// Project it is bound to.
    pub project: ProjectId,
    /// Settings.
    pub spec: RepoSpec,
}

/// `repo.updated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUpdated {
    /// Project it is bound to now.
    pub project: ProjectId,
    /// New settings (whole).
    pub spec: RepoSpec,
}

/// `repo.unbound`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUnbound {
    /// `owner/repo`.
    pub full_name: String,
    /// Project it was bound to.
    pub project: ProjectId,
}

/// `config.imported` (after the creates and updates of the same import, in the same append)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigImported {
    /// What changed.
    pub counts: ConfigCounts,
}

/// `config.exported`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigExported {
    /// What was exported.
    pub counts: ConfigCounts,
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

/// `user.created`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// Email.
    pub email: String,
    /// Local or OIDC.
    pub method: AuthMethod,
}

/// `auth.login_succeeded`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLoginSucceeded {
    /// Email.
    pub email: String,
    /// Method.
    pub method: AuthMethod,
    /// Client address.
    pub ip: String,
}

/// `auth.login_failed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLoginFailed {
    /// Email as typed.
    pub email: String,
    /// Method.
    pub method: AuthMethod,
    /// Client address.
    pub ip: String,
    /// Why (`bad_credentials`, `throttled`, `disabled`, …).
    pub reason: String,
}

/// `auth.logout`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLogout {
    /// Email.
    pub email: String,
}

/// `auth.oidc.login_denied`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthOidcLoginDenied {
    /// Email claim, when present.
    pub email: String,
    /// Why (`not_allowed`, `email_unverified`, `bad_state`, …).
    pub reason: String,
    /// Client address.
    pub ip: String,
}

/// `settings.bootstrap_token_rotated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsBootstrapTokenRotated {
    /// A short fingerprint of the new token (never the token).
    pub fingerprint: String,
    /// Until when the previous token stays valid.
    pub previous_valid_until: Timestamp,
}

/// `settings.retention_changed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRetentionChanged {
    /// Days a finished job stays in the jobs view.
    pub days: u32,
}

/// `health.changed`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChanged {
    /// Component (`reaper`, `preflight`, `dispatcher`, `github`, `storage`).
    pub component: String,
    /// Healthy now?
    pub ok: bool,
    /// What is wrong (empty when ok).
    pub message: String,
}

/// Encodes and decodes payload structs; the store provides one (bincode).
pub trait PayloadCodec {
    /// The codec's error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Encodes a payload.
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, Self::Error>;
    /// Decodes a payload.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, Self::Error>;
}

/// Why a stored payload could not become an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError<E: std::error::Error + 'static> {
    /// No event has this name and version.
    #[error("unknown event {name} v{version}")]
    Unknown {
        /// Stored name.
        name: String,
        /// Stored version.
        version: u16,
    },
    /// The payload bytes do not decode.
    #[error("corrupt payload of {name}: {source}")]
    Corrupt {
        /// Stored name.
        name: String,
        /// Codec error.
        source: E,
    },
}

macro_rules! catalogue {
    ($($variant:ident($payload:ty) = $name:literal;)*) => {
        /// Every fact Pacer records.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Event {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($payload),
            )*
        }

        /// The name of an event, for filters and indexes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum EventName {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl EventName {
            /// Every name, in catalogue order.
            pub const ALL: &'static [EventName] = &[$(EventName::$variant),*];

            /// The stored name, `noun.past_participle`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventName::$variant => $name,)*
                }
            }

            /// The name for a stored string.
            pub fn parse(name: &str) -> Option<EventName> {
                match name {
                    $($name => Some(EventName::$variant),)*
                    _ => None,
                }
            }
        }

        impl Event {
            /// This event's name.
            pub fn name(&self) -> EventName {
                match self {
                    $(Event::$variant(_) => EventName::$variant,)*
                }
            }

            /// The payload encoded by `codec`.
            pub fn encode_payload<C: PayloadCodec>(&self, codec: &C) -> Result<Vec<u8>, C::Error> {
                match self {
                    $(Event::$variant(payload) => codec.encode(payload),)*
                }
            }

            /// The event stored as (`name`, `version`, `bytes`). Old versions are upcast here.
            pub fn decode_payload<C: PayloadCodec>(
                codec: &C,
                name: &str,
                version: u16,
                bytes: &[u8],
            ) -> Result<Event, DecodeError<C::Error>> {
                let corrupt = |source| DecodeError::Corrupt { name: name.to_owned(), source };
                match (name, version) {
                    $(($name, EVENT_VERSION) => codec.decode(bytes).map(Event::$variant).map_err(corrupt),)*
                    _ => Err(DecodeError::Unknown { name: name.to_owned(), version }),
                }
            }
        }
    };
}

/// The payload version every event is written with today.
pub const EVENT_VERSION: u16 = 1;

catalogue! {
    ProjectCreated(ProjectCreated) = "project.created";
    ProjectUpdated(ProjectUpdated) = "project.updated";
    ProjectDeleted(ProjectDeleted) = "project.deleted";
    PoolCreated(PoolCreated) = "pool.created";
    PoolUpdated(PoolUpdated) = "pool.updated";
    PoolDeleted(PoolDeleted) = "pool.deleted";
    PoolTemplateMaterialized(PoolTemplateMaterialized) = "pool.template_materialized";
    RepoBound(RepoBound) = "repo.bound";
    RepoUpdated(RepoUpdated) = "repo.updated";
    RepoUnbound(RepoUnbound) = "repo.unbound";
    ConfigImported(ConfigImported) = "config.imported";
    ConfigExported(ConfigExported) = "config.exported";
    WebhookPinged(WebhookPinged) = "webhook.pinged";
    WebhookIgnored(WebhookIgnored) = "webhook.ignored";
    WebhookDuplicate(WebhookDuplicate) = "webhook.duplicate";
    WebhookAbsorbed(WebhookAbsorbed) = "webhook.absorbed";
    JobQueued(JobQueued) = "job.queued";
    JobIgnored(JobIgnored) = "job.ignored";
    JobNoPoolMatch(JobNoPoolMatch) = "job.no_pool_match";
    JobClaimed(JobClaimed) = "job.claimed";
    JobClaimExpired(JobClaimExpired) = "job.claim_expired";
    JobSpawnLaunched(JobSpawnLaunched) = "job.spawn_launched";
    JobSpawnRetry(JobSpawnRetry) = "job.spawn_retry";
    JobSpawnFailed(JobSpawnFailed) = "job.spawn_failed";
    JobStarted(JobStarted) = "job.started";
    JobRunnerRebound(JobRunnerRebound) = "job.runner_rebound";
    JobInstanceReassigned(JobInstanceReassigned) = "job.instance_reassigned";
    JobCompleted(JobCompleted) = "job.completed";
    JobFailed(JobFailed) = "job.failed";
    JobCancelled(JobCancelled) = "job.cancelled";
    JobReaped(JobReaped) = "job.reaped";
    InstanceRegistered(InstanceRegistered) = "instance.registered";
    InstanceTerminated(InstanceTerminated) = "instance.terminated";
    InstanceLost(InstanceLost) = "instance.lost";
    InstanceReaped(InstanceReaped) = "instance.reaped";
    InstanceOrphanFound(InstanceOrphanFound) = "instance.orphan_found";
    RunnerBootstrapped(RunnerBootstrapped) = "runner.bootstrapped";
    RunnerRegisterFailed(RunnerRegisterFailed) = "runner.register_failed";
    RunnerCompleted(RunnerCompleted) = "runner.completed";
    RunnerErrored(RunnerErrored) = "runner.errored";
    UserCreated(UserCreated) = "user.created";
    AuthLoginSucceeded(AuthLoginSucceeded) = "auth.login_succeeded";
    AuthLoginFailed(AuthLoginFailed) = "auth.login_failed";
    AuthLogout(AuthLogout) = "auth.logout";
    AuthOidcLoginDenied(AuthOidcLoginDenied) = "auth.oidc.login_denied";
    SettingsBootstrapTokenRotated(SettingsBootstrapTokenRotated) = "settings.bootstrap_token_rotated";
    SettingsRetentionChanged(SettingsRetentionChanged) = "settings.retention_changed";
    HealthChanged(HealthChanged) = "health.changed";
}

/// What an event is about, for the store's subject index (job timelines, instance history).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// A job.
    Job(JobId),
    /// An instance.
    Instance(String),
    /// A project.
    Project(ProjectId),
    /// A pool.
    Pool(PoolId),
    /// A repo binding (lower-cased `owner/repo`).
    Repo(String),
    /// A user (email).
    User(String),
}

impl fmt::Display for Subject {
    /// `job/12`, `instance/i-0abc`, `project/3`, `pool/7`, `repo/octo/hello`, `user/a@b.c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Job(id) => write!(f, "job/{}", id.0),
            Subject::Instance(id) => write!(f, "instance/{id}"),
            Subject::Project(id) => write!(f, "project/{}", id.0),
            Subject::Pool(id) => write!(f, "pool/{}", id.0),
            Subject::Repo(name) => write!(f, "repo/{}", name.to_ascii_lowercase()),
            Subject::User(email) => write!(f, "user/{}", email.to_ascii_lowercase()),
        }
    }
}

impl Event {
    /// The things this event is about.
    pub fn subjects(&self) -> Vec<Subject> {
        use Subject as S;
        let job = |id: JobId| S::Job(id);
        let inst = |id: &str| S::Instance(id.to_owned());
        match self {
            Event::ProjectCreated(e) => vec![S::Project(e.id)],
            Event::ProjectUpdated(e) => vec![S::Project(e.id)],
            Event::ProjectDeleted(e) => vec![S::Project(e.id)],
            Event::PoolCreated(e) => vec![S::Pool(e.id), S::Project(e.project)],
            Event::PoolUpdated(e) => vec![S::Pool(e.id)],
            Event::PoolDeleted(e) => vec![S::Pool(e.id), S::Project(e.project)],
            Event::PoolTemplateMaterialized(e) => vec![S::Pool(e.pool)],
            Event::RepoBound(e) => vec![S::Repo(e.spec.key()), S::Project(e.project)],
            Event::RepoUpdated(e) => vec![S::Repo(e.spec.key()), S::Project(e.project)],
            Event::RepoUnbound(e) => vec![S::Repo(e.full_name.to_ascii_lowercase()), S::Project(e.project)],
            Event::ConfigImported(_) | Event::ConfigExported(_) => vec![],
            Event::WebhookPinged(_) | Event::WebhookIgnored(_) => vec![],
            Event::WebhookDuplicate(e) => e.job.map(job).into_iter().collect(),
            Event::WebhookAbsorbed(e) => vec![job(e.job)],
            Event::JobQueued(e) => vec![job(e.job)],
            Event::JobIgnored(_) | Event::JobNoPoolMatch(_) => vec![],
            Event::JobClaimed(e) => vec![job(e.job)],
            Event::JobClaimExpired(e) => vec![job(e.job)],
            Event::JobSpawnLaunched(e) => vec![job(e.job), inst(&e.instance.instance_id)],
            Event::JobSpawnRetry(e) => vec![job(e.job)],
            Event::JobSpawnFailed(e) => vec![job(e.job)],
            Event::JobStarted(e) => vec![job(e.job)],
            Event::JobRunnerRebound(e) => {
                let mut subjects = vec![job(e.job), inst(&e.instance)];
                subjects.extend(e.displaced.map(job));
                subjects
            }
            Event::JobInstanceReassigned(e) => {
                let mut subjects = vec![job(e.job)];
                subjects.extend(e.instance.as_deref().map(inst));
                subjects
            }
            Event::JobCompleted(JobCompleted { end })
            | Event::JobFailed(JobFailed { end, .. })
            | Event::JobCancelled(JobCancelled { end })
            | Event::JobReaped(JobReaped { end, .. }) => {
                let mut subjects = vec![job(end.job)];
                subjects.extend(end.instance.as_deref().map(inst));
                subjects
            }
            Event::InstanceRegistered(e) => vec![inst(&e.instance), job(e.job)],
            Event::InstanceTerminated(e) => vec![inst(&e.instance)],
            Event::InstanceLost(e) => {
                let mut subjects = vec![inst(&e.instance)];
                subjects.extend(e.job.map(job));
                subjects
            }
            Event::InstanceReaped(e) => {
                let mut subjects = vec![inst(&e.instance)];
                subjects.extend(e.job.map(job));
                subjects
            }
            Event::InstanceOrphanFound(e) => vec![inst(&e.instance)],
            Event::RunnerBootstrapped(e) => vec![inst(&e.instance), job(e.job)],
            Event::RunnerRegisterFailed(e) => vec![inst(&e.instance), job(e.job)],
            Event::RunnerCompleted(e) => vec![inst(&e.instance), job(e.job)],
            Event::RunnerErrored(e) => vec![inst(&e.instance), job(e.job)],
            Event::UserCreated(e) => vec![S::User(e.email.clone())],
            Event::AuthLoginSucceeded(e) => vec![S::User(e.email.clone())],
            Event::AuthLoginFailed(e) => vec![S::User(e.email.clone())],
            Event::AuthLogout(e) => vec![S::User(e.email.clone())],
            Event::AuthOidcLoginDenied(e) => vec![S::User(e.email.clone())],
            Event::SettingsBootstrapTokenRotated(_)
            | Event::SettingsRetentionChanged(_)
            | Event::HealthChanged(_) => vec![],
        }
    }

    /// Whether the audit view counts this event as a failure.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Event::JobFailed(_)
                | Event::JobReaped(_)
                | Event::JobSpawnFailed(_)
                | Event::JobSpawnRetry(_)
                | Event::JobNoPoolMatch(_)
                | Event::InstanceLost(_)
                | Event::InstanceOrphanFound(_)
                | Event::RunnerRegisterFailed(_)
                | Event::RunnerErrored(_)
                | Event::AuthLoginFailed(_)
                | Event::AuthOidcLoginDenied(_)
        ) || matches!(self, Event::HealthChanged(h) if !h.ok)
    }
}
