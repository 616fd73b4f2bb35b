//! The whole folded state and `evolve`, the only function that changes it. `evolve` never
//! fails and never panics on a record that is already in the log: a transition that should be
//! impossible is counted as an anomaly and otherwise ignored.

use crate::config::{Config, Pool, Project, RepoBinding, Scope, TemplateRef};
use crate::event::{Event, JobCancelled, JobCompleted, JobEnd, JobFailed, JobId, JobReaped, Recorded};
use crate::intern::{Interner, Sym};
use crate::jobs::{Instance, Instances, Job, JobStatus, Jobs, NewJob, instance_of_runner};
use crate::launch::Market;
use crate::stats::{Ending, Rollups};
use crate::time::{DAY_MS, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Days a finished job stays in the jobs view unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// How far past the next job id a queued job's id may be before it is an anomaly.
pub const MAX_JOB_ID_JUMP: u64 = 1 << 20;
/// Longest retention.
pub const MAX_RETENTION_DAYS: u32 = 3_650;
/// How many anomalies are kept for inspection (all are counted).
const KEPT_ANOMALIES: usize = 100;

/// One component's health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Healthy?
    pub ok: bool,
    /// What is wrong.
    pub message: String,
    /// Since when.
    pub since: Timestamp,
}

/// Settings changed through the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Days a finished job stays in the jobs view.
    pub retention_days: u32,
    /// Fingerprint of the current bootstrap token, once rotated.
    pub bootstrap_fingerprint: Option<String>,
    /// The previous bootstrap token is accepted until then.
    pub previous_token_valid_until: Option<Timestamp>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
            bootstrap_fingerprint: None,
            previous_token_valid_until: None,
        }
    }
}

/// A console user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Email.
    pub email: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last successful sign-in.
    pub last_login_at: Option<Timestamp>,
}

/// A transition `evolve` refused to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The record.
    pub seq: u64,
    /// What was wrong.
    pub message: String,
}

/// Everything folded from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Projects, pools, repo bindings.
    pub config: Config,
    /// Retained jobs. Not part of the state's serialized form: a snapshot stores them on their
    /// own ([`Jobs`] serializes itself, or its rows in chunks through [`Jobs::iter`] and
    /// [`crate::JobsLoader`]), so that large tables can be decoded on another thread.
    #[serde(skip)]
    pub jobs: Jobs,
    /// Live instances.
    pub instances: Instances,
    /// Interned strings of jobs and instances.
    pub strings: Interner,
    /// Stats roll-ups.
    pub rollups: Rollups,
    /// Health per component.
    pub health: BTreeMap<String, Health>,
    /// Settings.
    pub settings: Settings,
    /// Users by lower-cased email.
    pub users: BTreeMap<String, User>,
    /// Number of anomalies seen.
    pub anomaly_count: u64,
    /// The latest anomalies.
    pub anomalies: Vec<Anomaly>,
    /// Seq of the last folded record.
    pub last_seq: u64,
    /// Time of the last folded record.
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
    pub fn audience_repo(&self, project: crate::ProjectId, repo: Sym) -> Option<Sym> {
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
        match &record.event {
            Event::ProjectCreated(e) => {
                self.config.next_project = self.config.next_project.max(e.id.0 + 1);
                self.config.projects.insert(e.id, Project { id: e.id, spec: e.spec.clone() });
            }
            Event::ProjectUpdated(e) => match self.config.projects.get_mut(&e.id) {
                Some(project) => project.spec = e.spec.clone(),
                None => self.anomaly(seq, format!("update of unknown {}", e.id)),
            },
            Event::ProjectDeleted(e) => {
                if self.config.projects.remove(&e.id).is_none() {
                    self.anomaly(seq, format!("delete of unknown {}", e.id));
                }
            }
            Event::PoolCreated(e) => {
                self.config.next_pool = self.config.next_pool.max(e.id.0 + 1);
                let pool = Pool { id: e.id, project: e.project, spec: e.spec.clone(), template: None };
                self.config.pools.insert(e.id, pool);
                self.keep_single_default(e.id);
            }
            Event::PoolUpdated(e) => match self.config.pools.get_mut(&e.id) {
                Some(pool) => {
                    pool.spec = e.spec.clone();
                    self.keep_single_default(e.id);
                }
                None => self.anomaly(seq, format!("update of unknown {}", e.id)),
            },
            Event::PoolDeleted(e) => {
                if self.config.pools.remove(&e.id).is_none() {
                    self.anomaly(seq, format!("delete of unknown {}", e.id));
                }
            }
            Event::PoolTemplateMaterialized(e) => match self.config.pools.get_mut(&e.pool) {
                Some(pool) => pool.template = Some(e.template.clone()),
                None => self.anomaly(seq, format!("template for unknown {}", e.pool)),
            },
            Event::RepoBound(e) => {
                let binding = RepoBinding { project: e.project, spec: e.spec.clone() };
                self.config.repos.insert(e.spec.key(), binding);
            }
            Event::RepoUpdated(e) => {
                let binding = RepoBinding { project: e.project, spec: e.spec.clone() };
                if self.config.repos.insert(e.spec.key(), binding).is_none() {
                    self.anomaly(seq, format!("update of unbound repo {}", e.spec.full_name));
                }
            }
            Event::RepoUnbound(e) => {
                if self.config.repos.remove(&e.full_name.to_ascii_lowercase()).is_none() {
                    self.anomaly(seq, format!("unbind of unbound repo {}", e.full_name));
                }
            }
            Event::ConfigImported(_)
            | Event::ConfigExported(_)
            | Event::WebhookPinged(_)
            | Event::WebhookIgnored(_)
            | Event::WebhookDuplicate(_)
            | Event::WebhookAbsorbed(_)
            | Event::JobIgnored(_)
            | Event::JobNoPoolMatch(_)
            | Event::JobSpawnFailed(_)
            | Event::InstanceOrphanFound(_)
            | Event::RunnerRegisterFailed(_) => {}
            Event::JobQueued(e) => {
                if self.jobs.get(e.job).is_some() || self.jobs.by_github_id(e.github_job_id).is_some() {
                    self.anomaly(seq, format!("{} queued twice", e.job));
                    return;
                }
                // Ids are handed out in sequence; a far jump is a damaged record, and the dense
                // job table would have to grow to it.
                if e.job.0 > self.jobs.next_id().0.saturating_add(MAX_JOB_ID_JUMP) {
                    self.anomaly(
                        seq,
                        format!("{} jumps far past the next job id {}", e.job, self.jobs.next_id()),
                    );
                    return;
                }
                let market = match self.config.pool(e.pool) {
                    Some(pool) if pool.spec.spot => Market::Spot,
                    _ => Market::OnDemand,
                };
                let job = Job::queued(NewJob {
                    id: e.job,
                    github_job_id: e.github_job_id,
                    run_id: e.run_id,
                    installation: e.installation_id,
                    repo: self.strings.intern(&e.repo),
                    sender: self.strings.intern(&e.sender),
                    labels: self.strings.intern_joined(&e.labels, ", "),
                    project: e.project,
                    pool: e.pool,
                    market,
                    queued_at: at,
                });
                self.jobs.insert(job);
            }
            Event::JobClaimed(e) => {
                self.change_job(seq, e.job, |job| {
                    (job.status == JobStatus::Queued).then(|| {
                        job.status = JobStatus::Claimed;
                        job.claimed_at = Some(at);
                        job.market = e.market;
                    })
                });
            }
            Event::JobClaimExpired(e) => {
                self.change_job(seq, e.job, |job| {
                    (job.status == JobStatus::Claimed).then(|| {
                        job.status = JobStatus::Queued;
                        job.claimed_at = None;
                    })
                });
            }
            Event::JobSpawnLaunched(e) => {
                let Some((status, project, pool, repo)) =
                    self.jobs.get(e.job).map(|job| (job.status, job.project, job.pool, job.repo))
                else {
                    self.anomaly(seq, format!("launch for unknown {}", e.job));
                    return;
                };
                let takes_it = status == JobStatus::Claimed;
                let instance = Instance {
                    id: e.instance.instance_id.as_str().into(),
                    launched_for: e.job,
                    job: takes_it.then_some(e.job),
                    serving: false,
                    project,
                    pool,
                    repo: self.audience_repo(project, repo),
                    instance_type: self.strings.intern(&e.instance.instance_type),
                    availability_zone: self.strings.intern(&e.instance.availability_zone),
                    market: e.instance.market,
                    price: e.price,
                    launched_at: at,
                    bootstrapped: false,
                    registered_at: None,
                    runner_id: None,
                    runner_done: false,
                };
                self.instances.insert(instance);
                if takes_it {
                    self.jobs.update(e.job, |job| {
                        job.status = JobStatus::Starting;
                        job.instance = Some(e.instance.instance_id.as_str().into());
                        job.launched_at = Some(at);
                        job.price = e.price;
                        job.market = e.instance.market;
                    });
                }
            }
            Event::JobSpawnRetry(e) => {
                self.change_job(seq, e.job, |job| {
                    (job.status == JobStatus::Claimed).then(|| {
                        job.status = JobStatus::Queued;
                        job.claimed_at = None;
                        job.attempts += u32::from(e.burns_attempt);
                        job.next_retry_at = Some(e.next_retry_at);
                        job.market = e.next_market;
                    })
                });
            }
            Event::JobStarted(e) => {
                let runner = e.runner_name.as_deref();
                let from_webhook = e.source == crate::event::StartSource::Webhook;
                let changed = self.change_job(seq, e.job, |job| {
                    (!job.status.is_terminal()).then(|| {
                        job.status = JobStatus::Running;
                        job.started_at.get_or_insert(at);
                        set_runner(job, runner);
                    })
                });
                if changed && from_webhook {
                    self.mark_serving(e.job, runner);
                }
            }
            Event::JobRunnerRebound(e) => {
                let Some(target) = self.instances.get(&e.instance).cloned() else {
                    self.anomaly(seq, format!("rebound to unknown instance {}", e.instance));
                    return;
                };
                // Free the instance the job waited for, if any.
                if let Some(old) = self.jobs.get(e.job).and_then(|j| j.instance.clone())
                    && *old != *e.instance
                {
                    self.instances.release(&old, e.job);
                }
                if let Some(displaced) = e.displaced {
                    self.jobs.update(displaced, |job| job.instance = None);
                }
                self.jobs.update(e.job, |job| {
                    job.instance = Some(target.id.clone());
                    job.launched_at = Some(target.launched_at);
                    job.price = target.price;
                    job.market = target.market;
                });
                if let Some(instance) = self.instances.get_mut(&e.instance) {
                    instance.job = Some(e.job);
                    instance.serving = true;
                }
            }
            Event::JobInstanceReassigned(e) => match &e.instance {
                Some(id) => {
                    let Some(target) = self.instances.get(id).cloned() else {
                        self.anomaly(seq, format!("reassignment to unknown instance {id}"));
                        return;
                    };
                    self.change_job(seq, e.job, |job| {
                        (!job.status.is_terminal()).then(|| {
                            job.status = JobStatus::Starting;
                            job.instance = Some(target.id.clone());
                            job.launched_at = Some(target.launched_at);
                            job.price = target.price;
                            job.market = target.market;
                            job.started_at = None;
                            job.next_retry_at = None;
                        })
                    });
                    if let Some(instance) = self.instances.get_mut(id) {
                        instance.job = Some(e.job);
                        instance.serving = false;
                    }
                }
                None => {
                    self.change_job(seq, e.job, |job| {
                        (!job.status.is_terminal()).then(|| {
                            job.status = JobStatus::Queued;
                            job.generation += 1;
                            job.instance = None;
                            job.claimed_at = None;
                            job.launched_at = None;
                            job.started_at = None;
                            job.price = None;
                        })
                    });
                }
            },
            Event::JobCompleted(JobCompleted { end }) => self.end_job(seq, at, end, JobStatus::Completed),
            Event::JobFailed(JobFailed { end, .. }) => self.end_job(seq, at, end, JobStatus::Failed),
            Event::JobCancelled(JobCancelled { end }) => self.end_job(seq, at, end, JobStatus::Cancelled),
            Event::JobReaped(JobReaped { end, .. }) => self.end_job(seq, at, end, JobStatus::Reaped),
            Event::InstanceRegistered(e) => match self.instances.get_mut(&e.instance) {
                Some(instance) => {
                    instance.registered_at = Some(at);
                    instance.runner_id = Some(e.runner_id);
                }
                None => self.anomaly(seq, format!("registration of unknown instance {}", e.instance)),
            },
            Event::InstanceTerminated(e) => self.drop_instance(seq, &e.instance),
            Event::InstanceLost(e) => self.drop_instance(seq, &e.instance),
            Event::InstanceReaped(e) => self.drop_instance(seq, &e.instance),
            Event::RunnerBootstrapped(e) => match self.instances.get_mut(&e.instance) {
                Some(instance) => instance.bootstrapped = true,
                None => self.anomaly(seq, format!("bootstrap of unknown instance {}", e.instance)),
            },
            Event::RunnerCompleted(e) => {
                if let Some(instance) = self.instances.get_mut(&e.instance) {
                    instance.runner_done = true;
                }
            }
            Event::RunnerErrored(e) => {
                if let Some(instance) = self.instances.get_mut(&e.instance) {
                    instance.runner_done = true;
                }
            }
            Event::UserCreated(e) => {
                let user = User { email: e.email.clone(), created_at: at, last_login_at: None };
                self.users.entry(e.email.to_ascii_lowercase()).or_insert(user);
            }
            Event::AuthLoginSucceeded(e) => {
                if let Some(user) = self.users.get_mut(&e.email.to_ascii_lowercase()) {
                    user.last_login_at = Some(at);
                }
            }
            Event::AuthLoginFailed(_) | Event::AuthLogout(_) | Event::AuthOidcLoginDenied(_) => {}
            Event::SettingsBootstrapTokenRotated(e) => {
                self.settings.bootstrap_fingerprint = Some(e.fingerprint.clone());
                self.settings.previous_token_valid_until = Some(e.previous_valid_until);
            }
            Event::SettingsRetentionChanged(e) => self.settings.retention_days = e.days,
            Event::HealthChanged(e) => {
                let health = Health { ok: e.ok, message: e.message.clone(), since: at };
                self.health.insert(e.component.clone(), health);
            }
        }
        let retention = i64::from(self.settings.retention_days) * DAY_MS;
        self.jobs.evict_finished_before(at.plus_millis(-retention));
    }

    fn anomaly(&mut self, seq: u64, message: String) {
        self.anomaly_count += 1;
        if self.anomalies.len() == KEPT_ANOMALIES {
            self.anomalies.remove(0);
        }
        self.anomalies.push(Anomaly { seq, message });
    }

    /// Applies `change` to a job; `change` returns `None` to refuse. Refusals and unknown jobs
    /// are anomalies. Returns whether the job changed.
    fn change_job(&mut self, seq: u64, id: JobId, change: impl FnOnce(&mut Job) -> Option<()>) -> bool {
        let mut refused = false;
        let mut status = None;
        let known = self.jobs.update(id, |job| {
            status = Some(job.status);
            refused = change(job).is_none();
        });
        if !known {
            self.anomaly(seq, format!("event for unknown {id}"));
        } else if refused {
            let from = status.map_or("?", JobStatus::as_str);
            self.anomaly(seq, format!("{id}: transition refused from {from}"));
        }
        known && !refused
    }

    fn end_job(&mut self, seq: u64, at: Timestamp, end: &JobEnd, status: JobStatus) {
        let changed = self.change_job(seq, end.job, |job| {
            (!job.status.is_terminal()).then(|| {
                job.status = status;
                job.finished_at = Some(at);
                job.cost = end.cost;
                set_runner(job, end.runner_name.as_deref());
                if matches!(status, JobStatus::Failed | JobStatus::Reaped) {
                    job.failure_seq = Some(seq);
                }
            })
        });
        if !changed {
            return;
        }
        let Some(job) = self.jobs.get(end.job) else { return };
        // Release the instance the job waited for but never ran on.
        if let Some(instance) = job.instance.as_deref()
            && self.instances.get(instance).is_some_and(|i| !i.serving)
        {
            self.instances.release(instance, job.id);
        }
        self.rollups.record(&Ending {
            at,
            status,
            runner_ms: end.runner_ms,
            cost: end.cost,
            unpriced: end.instance.is_some() && job.price.is_none(),
            project: job.project,
            pool: job.pool,
            repo: job.repo,
            labels: job.labels,
            sender: job.sender,
        });
    }

    fn mark_serving(&mut self, job: JobId, runner: Option<&str>) {
        let Some(id) = runner.and_then(instance_of_runner) else { return };
        if let Some(instance) = self.instances.get_mut(id)
            && instance.job == Some(job)
        {
            instance.serving = true;
        }
    }

    fn drop_instance(&mut self, seq: u64, id: &str) {
        if self.instances.remove(id).is_none() {
            self.anomaly(seq, format!("end of unknown instance {id}"));
        }
    }

    fn keep_single_default(&mut self, pool: crate::PoolId) {
        let Some(chosen) = self.config.pools.get(&pool) else { return };
        if !chosen.spec.is_default {
            return;
        }
        let project = chosen.project;
        for other in self.config.pools.values_mut() {
            if other.project == project && other.id != pool {
                other.spec.is_default = false;
            }
        }
    }

    /// The template of a pool, if materialised.
    pub fn template(&self, pool: crate::PoolId) -> Option<&TemplateRef> {
        self.config.pool(pool).and_then(|p| p.template.as_ref())
    }
}

/// Records the runner a job runs on, allocating only when it changed.
fn set_runner(job: &mut Job, runner: Option<&str>) {
    if let Some(name) = runner
        && job.runner.as_deref() != Some(name)
    {
        job.runner = Some(name.into());
    }
}
