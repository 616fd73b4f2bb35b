//! The whole folded state and `evolve`, the only function that changes it. `evolve` never
//! fails and never panics on a record that is already in the log: a transition that should be
//! impossible is counted as an anomaly and otherwise ignored. How each fact folds lives in its
//! area (`config`, `job`, `instance`, `auth`, `settings`); `evolve` dispatches to it.

use crate::auth::User;
use crate::config::{Config, PoolId, ProjectId, Scope, TemplateRef};
use crate::event::{Event, Recorded};
use crate::instance::Instances;
use crate::intern::{Interner, Sym};
use crate::job::{Job, JobCancelled, JobCompleted, JobFailed, JobReaped, JobStatus, Jobs};
use crate::settings::{Health, Leadership, Settings};
use crate::stats::Rollups;
use crate::time::Timestamp;
use crate::warm::ArrivalHistory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many anomalies are kept for inspection (all are counted).
const KEPT_ANOMALIES: usize = 100;

/// What folding one fact found: `Err` holds the anomaly's message.
pub(crate) type Folded = Result<(), String>;

/// A transition `evolve` refused to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The seq of the record that could not fold.
    pub seq: u64,
    /// What was wrong (e.g. `job #3: transition refused from completed`).
    pub message: String,
}

/// Everything folded from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Projects, pools and repo bindings as operators last saved them.
    pub config: Config,
    /// Retained jobs. Not part of the state's serialized form: a snapshot stores them on their
    /// own ([`Jobs`] serializes itself, or its rows in chunks through [`Jobs::iter`] and
    /// [`crate::JobsLoader`]), so that large tables can be decoded on another thread.
    #[serde(skip)]
    pub jobs: Jobs,
    /// Instances Pacer launched that have not yet ended (terminated, lost or reaped).
    pub instances: Instances,
    /// Interned strings of jobs and instances (repos, senders, label sets, types, zones).
    pub strings: Interner,
    /// Hourly and daily stats roll-ups of ended jobs.
    pub rollups: Rollups,
    /// Health per component (`reaper`, `github`, `storage`, …); absent = never unhealthy.
    pub health: BTreeMap<String, Health>,
    /// Retention overrides and bootstrap-token rotation, as the Settings page last changed
    /// them, and the log's last prune.
    pub settings: Settings,
    /// Console users by lower-cased email.
    pub users: BTreeMap<String, User>,
    /// The replica holding the effects lease, when replicas share the log.
    pub leadership: Option<Leadership>,
    /// Each pool's job arrivals (queue times) in 5-minute windows over the last weeks, for
    /// warm sizing by forecast.
    pub arrivals: BTreeMap<PoolId, ArrivalHistory>,
    /// Spot pools whose spot launch just failed for capacity and fell back to on-demand: until
    /// then (the failure plus [`crate::SPOT_COOLDOWN_MS`]) their jobs launch on-demand at once.
    pub spot_cooldowns: BTreeMap<PoolId, Timestamp>,
    /// Number of records that folded as anomalies since the log began.
    pub anomaly_count: u64,
    /// The latest anomalies, oldest first, at most 100.
    pub anomalies: Vec<Anomaly>,
    /// Seq of the last folded record; 0 before any.
    pub last_seq: u64,
    /// The latest record time folded so far (never decreases).
    pub last_at: Timestamp,
}

impl State {
    /// A state folded from `records`.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Recorded>) -> Self {
        let mut state = State::default();
        for record in records {
            state.evolve(record);
        }
        state
    }

    /// The repo symbol a job's runner audience is keyed by: the repo for repo-scoped
    /// projects (runners register to the repo), none for org scope.
    pub fn audience_repo(&self, project: ProjectId, repo: Sym) -> Option<Sym> {
        match self.config.project(project).map(|p| p.spec.scope) {
            Some(Scope::Org) => None,
            _ => Some(repo),
        }
    }

    /// The `owner/repo` of a job.
    pub fn repo_name(&self, job: &Job) -> &str {
        self.strings.resolve(job.repo)
    }

    /// Applies one record.
    pub fn evolve(&mut self, record: &Recorded) {
        if record.seq <= self.last_seq && self.last_seq != 0 {
            self.anomaly(record.seq, format!("record {} folded after {}", record.seq, self.last_seq));
            return;
        }
        self.last_seq = record.seq;
        self.last_at = self.last_at.max(record.at);
        self.rollups.advance(record.at);
        let (seq, at) = (record.seq, record.at);
        let folded = match &record.event {
            Event::ProjectCreated(e) => self.config.project_created(e),
            Event::ProjectUpdated(e) => self.config.project_updated(e),
            Event::ProjectDeleted(e) => self.config.project_deleted(e),
            Event::PoolCreated(e) => self.config.pool_created(e),
            Event::PoolUpdated(e) => self.config.pool_updated(e),
            Event::PoolDeleted(e) => {
                self.arrivals.remove(&e.id);
                self.config.pool_deleted(e)
            }
            Event::PoolTemplateMaterialized(e) => self.config.template_materialized(e),
            Event::RepoBound(e) => self.config.repo_bound(e),
            Event::RepoUpdated(e) => self.config.repo_updated(e),
            Event::RepoUnbound(e) => self.config.repo_unbound(e),
            Event::JobQueued(e) => {
                self.arrivals.entry(e.pool).or_default().record(at);
                self.job_queued(e, at)
            }
            Event::JobClaimed(e) => self.job_claimed(e, at),
            Event::JobClaimExpired(e) => self.job_claim_expired(e),
            Event::JobSpawnLaunched(e) => self.job_spawn_launched(e, at),
            Event::JobSpawnRetry(e) => self.job_spawn_retry(e, at),
            Event::JobStarted(e) => self.job_started(e, at),
            Event::JobRunnerRebound(e) => self.job_runner_rebound(e),
            Event::JobInstanceReassigned(e) => self.job_instance_reassigned(e),
            Event::JobCompleted(JobCompleted { end }) => self.job_ended(seq, at, end, JobStatus::Completed),
            Event::JobFailed(JobFailed { end, .. }) => self.job_ended(seq, at, end, JobStatus::Failed),
            Event::JobCancelled(JobCancelled { end }) => self.job_ended(seq, at, end, JobStatus::Cancelled),
            Event::JobReaped(JobReaped { end, .. }) => self.job_ended(seq, at, end, JobStatus::Reaped),
            Event::InstanceRegistered(e) => self.instance_registered(e, at),
            Event::InstanceTerminated(e) => self.instance_ended(&e.instance, at),
            Event::InstanceLost(e) => self.instance_ended(&e.instance, at),
            Event::InstanceReaped(e) => self.instance_ended(&e.instance, at),
            Event::RunnerBootstrapped(e) => self.runner_bootstrapped(e),
            Event::RunnerCompleted(e) => self.runner_done(&e.instance),
            Event::RunnerErrored(e) => self.runner_done(&e.instance),
            Event::UserCreated(e) => self.user_created(e, at),
            Event::AuthLoginSucceeded(e) => self.login_succeeded(e, at),
            Event::UserDisabled(e) => self.user_disabled(&e.email, true),
            Event::UserEnabled(e) => self.user_disabled(&e.email, false),
            Event::SettingsBootstrapTokenRotated(e) => self.bootstrap_token_rotated(e, at),
            Event::SettingsRetentionChanged(e) => self.retention_changed(e),
            Event::SettingsRetentionSet(e) => self.retention_set(e),
            Event::AuditPruned(e) => self.audit_pruned(e, at),
            Event::HealthChanged(e) => self.health_changed(e, at),
            Event::LeaseAcquired(e) => self.lease_acquired(e, at),
            Event::PoolWarmSet(e) => self.pool_warm_set(e),
            Event::WarmLaunched(e) => self.warm_launched(e, at),
            Event::WarmBootstrapped(e) => self.warm_bootstrapped(e),
            Event::WarmTaken(e) => self.warm_taken(e, at),
            Event::WarmErrored(e) => self.warm_errored(e),
            Event::WarmStopped(e) => self.warm_stopped(e, at),
            Event::WarmReady(e) => self.warm_ready(e, at),
            Event::WarmStarted(e) => self.warm_started(e, at),
            Event::WarmStartFailed(e) => self.warm_start_failed(e),
            // Facts for the audit trail only.
            Event::ConfigImported(_)
            | Event::RetentionSwept(_)
            | Event::ConfigExported(_)
            | Event::WebhookPinged(_)
            | Event::WebhookIgnored(_)
            | Event::WebhookDuplicate(_)
            | Event::WebhookAbsorbed(_)
            | Event::JobGithubNoted(_)
            | Event::JobIgnored(_)
            | Event::JobNoPoolMatch(_)
            | Event::JobSpawnFailed(_)
            | Event::InstanceOrphanFound(_)
            | Event::RunnerRegisterFailed(_)
            | Event::RunnerRegisterRefused(_)
            | Event::RunnerBootstrapRefused(_)
            | Event::PoolBootstrapTokenRotated(_)
            | Event::GithubAppCreated(_)
            | Event::AuthLoginFailed(_)
            | Event::AuthLogout(_)
            | Event::AuthOidcLoginDenied(_) => Ok(()),
        };
        if let Err(message) = folded {
            self.anomaly(seq, message);
        }
    }

    fn anomaly(&mut self, seq: u64, message: String) {
        self.anomaly_count += 1;
        if self.anomalies.len() == KEPT_ANOMALIES {
            self.anomalies.remove(0);
        }
        self.anomalies.push(Anomaly { seq, message });
    }

    /// The fencing term of the effects lease as recorded (0 before any replica took it).
    pub fn lease_term(&self) -> u64 {
        self.leadership.as_ref().map_or(0, |l| l.term)
    }

    /// The seq of the last record the log's prunes deleted (0 before the first prune).
    pub fn pruned_through(&self) -> u64 {
        self.settings.last_prune.as_ref().map_or(0, |p| p.last_seq)
    }

    /// The template of a pool, if materialised.
    pub fn template(&self, pool: PoolId) -> Option<&TemplateRef> {
        self.config.pool(pool).and_then(|p| p.template.as_ref())
    }
}
