//! The event catalogue: every fact Pacer records, named `noun.past_participle`, each
//! variant the same words in UpperCamel with a payload struct, plus the record envelope. The
//! payload structs live with their area (`config`, `job`, `instance`, `auth`, `settings`).
//! Payloads are encoded one by one through a [`PayloadCodec`] chosen by the store, so the
//! domain stays free of any wire format, and adding a variant never breaks old records.

use crate::auth::*;
use crate::config::*;
use crate::instance::*;
use crate::job::*;
use crate::settings::*;
use crate::time::Timestamp;
use crate::warm::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// Pacer itself on the replica holding the effects lease (replicas sharing a log), under
    /// the lease term it acted in.
    Replica {
        /// The replica's id.
        id: String,
        /// The lease term.
        term: u64,
    },
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::GitHub => f.write_str("github"),
            Actor::User(email) => f.write_str(email),
            Actor::Runner(instance) => write!(f, "runner:{instance}"),
            Actor::Replica { id, term } => write!(f, "replica:{id}#{term}"),
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
    /// The id of the request that caused it (for webhooks, the `X-GitHub-Delivery` GUID);
    /// `None` when none was given.
    pub request_id: Option<String>,
    /// The fact itself, with its payload.
    pub event: E,
}

/// Encodes and decodes payload structs; the store provides one (bincode).
pub trait PayloadCodec {
    /// Why a payload did not encode or decode.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The bytes of `value`, as stored in the log.
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, Self::Error>;
    /// The payload stored as `bytes`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, Self::Error>;
}

/// Why a stored payload could not become an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError<E: std::error::Error + 'static> {
    /// No event has this name and version.
    #[error("unknown event {name} v{version}")]
    Unknown {
        /// The event name as stored (`noun.past_participle`).
        name: String,
        /// The payload version as stored ([`EVENT_VERSION`] today).
        version: u16,
    },
    /// The payload bytes do not decode.
    #[error("corrupt payload of {name}: {source}")]
    Corrupt {
        /// The event name as stored.
        name: String,
        /// What the codec reported.
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

// New events go at the end: the store's committed fixture log holds the released ones in this
// order (`pacer-store/tests/it/catalogue.rs`).
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
    RunnerRegisterRefused(RunnerRegisterRefused) = "runner.register_refused";
    RunnerBootstrapRefused(RunnerBootstrapRefused) = "runner.bootstrap_refused";
    PoolBootstrapTokenRotated(PoolBootstrapTokenRotated) = "pool.bootstrap_token_rotated";
    UserDisabled(UserDisabled) = "user.disabled";
    UserEnabled(UserEnabled) = "user.enabled";
    GithubAppCreated(GithubAppCreated) = "github_app.created";
    LeaseAcquired(LeaseAcquired) = "lease.acquired";
    JobGithubNoted(JobGithubNoted) = "job.github_noted";
    SettingsRetentionSet(SettingsRetentionSet) = "settings.retention_set";
    AuditPruned(AuditPruned) = "audit.pruned";
    RetentionSwept(RetentionSwept) = "retention.swept";
    PoolWarmSet(PoolWarmSet) = "pool.warm_set";
    WarmLaunched(WarmLaunched) = "warm.launched";
    WarmBootstrapped(WarmBootstrapped) = "warm.bootstrapped";
    WarmTaken(WarmTaken) = "warm.taken";
    WarmErrored(WarmErrored) = "warm.errored";
    WarmStopped(WarmStopped) = "warm.stopped";
    WarmStarted(WarmStarted) = "warm.started";
    WarmStartFailed(WarmStartFailed) = "warm.start_failed";
    WarmReady(WarmReady) = "warm.ready";
}

/// What an event is about, for the store's subject index (job timelines, instance history).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// A job, by Pacer's id.
    Job(JobId),
    /// An instance, by EC2 id (`i-…`).
    Instance(String),
    /// A project, by id.
    Project(ProjectId),
    /// A pool, by id.
    Pool(PoolId),
    /// A repo binding (lower-cased `owner/repo`).
    Repo(String),
    /// A user, by email (lower-cased when displayed).
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
            Event::JobGithubNoted(e) => vec![job(e.job)],
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
            Event::RunnerBootstrapRefused(e) => vec![inst(&e.instance), S::Pool(e.pool)],
            Event::PoolBootstrapTokenRotated(e) => vec![S::Pool(e.pool)],
            Event::RunnerRegisterRefused(e) => {
                let mut subjects = vec![inst(&e.instance)];
                subjects.extend(e.job.map(job));
                subjects
            }
            Event::PoolWarmSet(e) => vec![S::Pool(e.pool)],
            Event::WarmLaunched(e) => vec![inst(&e.instance.instance_id), S::Pool(e.pool)],
            Event::WarmBootstrapped(e) => vec![inst(&e.instance)],
            Event::WarmTaken(e) => vec![job(e.job), inst(&e.instance)],
            Event::WarmErrored(e) => vec![inst(&e.instance)],
            Event::WarmStopped(e) => vec![inst(&e.instance)],
            Event::WarmReady(e) => vec![inst(&e.instance)],
            Event::WarmStarted(e) => vec![inst(&e.instance), job(e.job)],
            Event::WarmStartFailed(e) => vec![inst(&e.instance), job(e.job)],
            Event::UserCreated(e) => vec![S::User(e.email.clone())],
            Event::AuthLoginSucceeded(e) => vec![S::User(e.email.clone())],
            Event::AuthLoginFailed(e) => vec![S::User(e.email.clone())],
            Event::AuthLogout(e) => vec![S::User(e.email.clone())],
            Event::AuthOidcLoginDenied(e) => vec![S::User(e.email.clone())],
            Event::UserDisabled(e) => vec![S::User(e.email.clone())],
            Event::UserEnabled(e) => vec![S::User(e.email.clone())],
            Event::SettingsBootstrapTokenRotated(_)
            | Event::SettingsRetentionChanged(_)
            | Event::SettingsRetentionSet(_)
            | Event::AuditPruned(_)
            | Event::RetentionSwept(_)
            | Event::GithubAppCreated(_)
            | Event::LeaseAcquired(_)
            | Event::HealthChanged(_) => vec![],
        }
    }

    /// Whether this fact ends the work of an instance: its job reached a terminal state or its
    /// runner reported done (the instance is then torn down, [`crate::finished_instances`]).
    pub fn ends_instance_work(&self) -> bool {
        matches!(
            self,
            Event::JobCompleted(_)
                | Event::JobFailed(_)
                | Event::JobCancelled(_)
                | Event::JobReaped(_)
                | Event::RunnerCompleted(_)
                | Event::RunnerErrored(_)
                | Event::WarmErrored(_)
                | Event::WarmStartFailed(_)
        )
    }

    /// The client address the record keeps (sign-ins: the caller's IP), for the audit view.
    pub fn client_address(&self) -> Option<&str> {
        match self {
            Event::AuthLoginSucceeded(e) => Some(e.ip.as_str()),
            Event::AuthLoginFailed(e) => Some(e.ip.as_str()),
            Event::AuthOidcLoginDenied(e) => Some(e.ip.as_str()),
            _ => None,
        }
        .filter(|ip| !ip.is_empty())
    }

    /// The outcome the record states, for the audit view: a sign-in's (`succeeded`, or why it
    /// was refused), a job end's (GitHub's conclusion, the failure stage, `reaped`), a launch
    /// or warm start error's AWS code, why no pool matched, why a runner was refused or failed,
    /// and a health change (`ok`, `failing`); `None` for records that state none.
    pub fn outcome(&self) -> Option<String> {
        let end = |end: &crate::JobEnd, otherwise: &str| {
            end.conclusion.clone().unwrap_or_else(|| otherwise.to_owned())
        };
        Some(match self {
            Event::AuthLoginSucceeded(_) => "succeeded".to_owned(),
            Event::AuthLoginFailed(e) => e.reason.clone(),
            Event::AuthOidcLoginDenied(e) => e.reason.split(':').next().unwrap_or_default().to_owned(),
            Event::JobCompleted(e) => end(&e.end, "success"),
            Event::JobCancelled(e) => end(&e.end, "cancelled"),
            Event::JobFailed(e) => format!("{}: {}", e.stage.as_str(), end(&e.end, "failure")),
            Event::JobReaped(_) => "reaped".to_owned(),
            Event::JobSpawnRetry(e) => e.error.code.clone(),
            Event::JobSpawnFailed(e) => e.error.code.clone(),
            Event::JobNoPoolMatch(e) => e.reason.as_str().to_owned(),
            Event::RunnerRegisterRefused(e) => e.reason.as_str().to_owned(),
            Event::RunnerBootstrapRefused(e) => e.reason.as_str().to_owned(),
            Event::RunnerRegisterFailed(e) => format!("github {}", e.status),
            Event::RunnerErrored(e) => format!("{} exit {}", e.stage, e.exit_code),
            Event::WarmErrored(e) => format!("{} exit {}", e.stage, e.exit_code),
            Event::WarmStartFailed(e) => e.error.code.clone(),
            Event::HealthChanged(e) => if e.ok { "ok" } else { "failing" }.to_owned(),
            _ => return None,
        })
        .filter(|o| !o.is_empty())
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
                | Event::WarmErrored(_)
                | Event::WarmStartFailed(_)
                | Event::RunnerRegisterRefused(_)
                | Event::RunnerBootstrapRefused(_)
                | Event::AuthLoginFailed(_)
                | Event::AuthOidcLoginDenied(_)
        ) || matches!(self, Event::HealthChanged(h) if !h.ok)
    }
}
