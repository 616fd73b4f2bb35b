//! Commands and `decide`: the only place that refuses anything. `decide(&State, Command, now)`
//! checks a command against the state and answers with the events to append, or a
//! [`Rejection`] that changes nothing.

use crate::backup::{Backup, ImportPlan, plan_import};
use crate::config::{
    MAX_CASCADED_TAGS, PoolId, PoolSpec, ProjectId, ProjectSpec, RepoSpec, Scope, TemplateRef, cascade_tags,
};
use crate::event::*;
use crate::jobs::{Instance, Job, JobStatus, NewJob, instance_of_runner, runner_name};
use crate::labels::sanitize;
use crate::launch::{ErrorClass, LaunchError, LaunchedInstance, Market, RetryPolicy};
use crate::money::{Micros, PriceQuote};
use crate::rejection::{FieldError, Rejection};
use crate::routing::{Route, route};
use crate::schedule::{Pending, claimable, stale_claims, waiting_job_for};
use crate::state::{MAX_RETENTION_DAYS, State};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// A `workflow_job` webhook, as parsed by the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkflowJobHook {
    /// `queued`, `in_progress`, `completed`, `waiting`.
    pub action: String,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// Run id.
    pub run_id: u64,
    /// Run attempt.
    pub run_attempt: u32,
    /// App installation.
    pub installation_id: Option<u64>,
    /// `owner/repo`.
    pub repo: String,
    /// Workflow name.
    pub workflow: String,
    /// Job name.
    pub job_name: String,
    /// Branch.
    pub branch: String,
    /// Commit.
    pub sha: String,
    /// Sender login.
    pub sender: String,
    /// Requested labels.
    pub labels: Vec<String>,
    /// Link to the job.
    pub html_url: String,
    /// Conclusion (completed only).
    pub conclusion: Option<String>,
    /// Runner that took the job (in_progress / completed).
    pub runner_name: Option<String>,
}

/// What a delivery carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookPayload {
    /// `ping`.
    Ping {
        /// The hook.
        hook_id: Option<u64>,
    },
    /// `workflow_job`.
    WorkflowJob(Box<WorkflowJobHook>),
    /// Any other event type.
    Other {
        /// `X-GitHub-Event`.
        event: String,
        /// Its action.
        action: Option<String>,
    },
    /// A delivery id the log already holds (the host checked its idempotency keys).
    Redelivery {
        /// `X-GitHub-Event`.
        event: String,
        /// The GitHub job id, for workflow_job.
        github_job_id: Option<u64>,
    },
}

/// How a launch call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// EC2 started an instance.
    Launched {
        /// The instance.
        instance: LaunchedInstance,
        /// Its price quote, if any.
        price: Option<PriceQuote>,
    },
    /// EC2 refused; `throttle_retry_at` is when to retry a throttled call (the host adds jitter).
    Failed {
        /// Why.
        error: LaunchError,
        /// For throttling: when to retry.
        throttle_retry_at: Timestamp,
        /// How capacity failures are retried.
        policy: RetryPolicy,
    },
}

/// What the reaper saw of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Instance.
    pub instance: String,
    /// Still pending or running.
    pub alive: bool,
    /// EC2 state name, or `vanished`.
    pub state: String,
    /// EC2 state reason, if any.
    pub reason: String,
}

/// An authentication fact to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthRecord {
    /// A user was created.
    UserCreated(UserCreated),
    /// A sign-in succeeded.
    LoginSucceeded(AuthLoginSucceeded),
    /// A sign-in failed.
    LoginFailed(AuthLoginFailed),
    /// A user signed out.
    Logout(AuthLogout),
    /// An OIDC sign-in was refused.
    OidcDenied(AuthOidcLoginDenied),
}

/// Everything that can be asked of Pacer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Create a project.
    CreateProject(ProjectSpec),
    /// Replace a project's settings.
    UpdateProject {
        /// Project.
        id: ProjectId,
        /// New settings.
        spec: ProjectSpec,
    },
    /// Delete a project (no pools, no repos).
    DeleteProject {
        /// Project.
        id: ProjectId,
    },
    /// Create a pool; `template` is the LT the host materialised for it.
    CreatePool {
        /// Project.
        project: ProjectId,
        /// Settings.
        spec: PoolSpec,
        /// Materialised LT.
        template: Option<TemplateRef>,
    },
    /// Replace a pool's settings; `template` is its new LT version.
    UpdatePool {
        /// Pool.
        id: PoolId,
        /// New settings.
        spec: PoolSpec,
        /// New LT version.
        template: Option<TemplateRef>,
    },
    /// Record a new default version of a pool's launch template (the host re-versioned it
    /// because its rendered data changed).
    RecordTemplate {
        /// Pool.
        pool: PoolId,
        /// The new version.
        template: TemplateRef,
    },
    /// Delete a pool (no active jobs; queued ones fail).
    DeletePool {
        /// Pool.
        id: PoolId,
    },
    /// Bind a repo to a repo-scoped project.
    BindRepo {
        /// Project.
        project: ProjectId,
        /// Binding.
        spec: RepoSpec,
    },
    /// Replace a binding (possibly moving it to another project).
    UpdateRepo {
        /// Project.
        project: ProjectId,
        /// Binding.
        spec: RepoSpec,
    },
    /// Unbind a repo.
    UnbindRepo {
        /// `owner/repo`.
        full_name: String,
    },
    /// Import a backup; `templates` holds the LT materialised per (project, pool) name.
    ImportBackup {
        /// The document.
        backup: Backup,
        /// LTs by (project name, pool name), lower-cased.
        templates: BTreeMap<(String, String), TemplateRef>,
    },
    /// Record an export.
    RecordExport(ConfigCounts),
    /// A webhook delivery.
    Webhook {
        /// `X-GitHub-Delivery`.
        delivery_id: String,
        /// Its content.
        payload: WebhookPayload,
    },
    /// Claim these queued jobs (those no longer claimable are skipped).
    ClaimJobs(Vec<JobId>),
    /// Return stale claims to the queue.
    ExpireClaims,
    /// The outcome of launching `job`'s `attempt`.
    RecordLaunch {
        /// Job.
        job: JobId,
        /// Attempt.
        attempt: u32,
        /// Outcome.
        outcome: LaunchOutcome,
    },
    /// An instance exchanges the bootstrap token for a callback token.
    RunnerBootstrap {
        /// Instance.
        instance: String,
    },
    /// The instance's runner was registered with GitHub.
    RunnerRegistered {
        /// Instance.
        instance: String,
        /// GitHub runner id.
        runner_id: u64,
    },
    /// GitHub refused to register the runner.
    RunnerRegisterFailed {
        /// Instance.
        instance: String,
        /// GitHub's status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// The runner finished.
    RunnerCompleted {
        /// Instance.
        instance: String,
        /// Exit code.
        exit_code: i32,
    },
    /// The bootstrap script or runner failed.
    RunnerErrored {
        /// Instance.
        instance: String,
        /// Stage.
        stage: String,
        /// Exit code.
        exit_code: i32,
        /// Script line.
        line: u32,
        /// Log tail (truncated to 64 KiB).
        log_tail: String,
    },
    /// What the reaper saw.
    ObserveInstances(Vec<Observation>),
    /// The reaper terminated an instance.
    ReapInstance {
        /// Instance.
        instance: String,
        /// Why.
        reason: ReapReason,
    },
    /// The orphan sweep found a tagged instance the log does not account for.
    RecordOrphan(InstanceOrphanFound),
    /// A component's health, recorded only when it changes.
    SetHealth {
        /// Component.
        component: String,
        /// Healthy?
        ok: bool,
        /// What is wrong.
        message: String,
    },
    /// An authentication fact.
    RecordAuth(AuthRecord),
    /// The bootstrap token was rotated.
    RotateBootstrapToken {
        /// Fingerprint of the new token.
        fingerprint: String,
        /// Until when the previous token stays valid.
        previous_valid_until: Timestamp,
    },
    /// Change job retention.
    SetRetention {
        /// Days.
        days: u32,
    },
}

/// Largest runner log tail kept in the log.
pub const MAX_LOG_TAIL_BYTES: usize = 64 * 1024;

/// Checks `command` against `state` at `now`; the events to append, or why not.
pub fn decide(state: &State, command: Command, now: Timestamp) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::CreateProject(spec) => create_project(state, spec),
        Command::UpdateProject { id, spec } => update_project(state, id, spec),
        Command::DeleteProject { id } => delete_project(state, id),
        Command::CreatePool { project, spec, template } => create_pool(state, project, spec, template),
        Command::UpdatePool { id, spec, template } => update_pool(state, id, spec, template),
        Command::RecordTemplate { pool, template } => {
            let current = state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
            if current.template.as_ref().is_some_and(|t| t.id != template.id) {
                return Err(Rejection::conflict(None, format!("{pool} uses another launch template")));
            }
            Ok(vec![Event::PoolTemplateMaterialized(PoolTemplateMaterialized { pool, template })])
        }
        Command::DeletePool { id } => delete_pool(state, id, now),
        Command::BindRepo { project, spec } => bind_repo(state, project, spec, false),
        Command::UpdateRepo { project, spec } => bind_repo(state, project, spec, true),
        Command::UnbindRepo { full_name } => {
            let binding = state
                .config
                .repo(&full_name)
                .ok_or_else(|| Rejection::not_found(format!("repo {full_name}")))?;
            Ok(vec![Event::RepoUnbound(RepoUnbound {
                full_name: binding.spec.full_name.clone(),
                project: binding.project,
            })])
        }
        Command::ImportBackup { backup, templates } => import(state, &backup, &templates),
        Command::RecordExport(counts) => Ok(vec![Event::ConfigExported(ConfigExported { counts })]),
        Command::Webhook { delivery_id, payload } => Ok(webhook(state, delivery_id, payload, now)),
        Command::ClaimJobs(ids) => Ok(claim(state, &ids, now)),
        Command::ExpireClaims => Ok(stale_claims(state, now)
            .into_iter()
            .filter_map(|id| state.jobs.get(id))
            .map(|job| Event::JobClaimExpired(JobClaimExpired { job: job.id, attempt: job.attempts + 1 }))
            .collect()),
        Command::RecordLaunch { job, attempt, outcome } => {
            Ok(record_launch(state, job, attempt, outcome, now))
        }
        Command::RunnerBootstrap { instance } => runner_bootstrap(state, instance),
        Command::RunnerRegistered { instance, runner_id } => {
            let (inst, job) = live_instance_job(state, &instance)?;
            let mut events = vec![Event::InstanceRegistered(InstanceRegistered {
                instance: instance.clone(),
                job: job.id,
                runner_name: inst.runner_name(),
                runner_id,
            })];
            if job.status == JobStatus::Starting && job.instance.as_deref() == Some(&*inst.id) {
                events.push(Event::JobStarted(JobStarted {
                    job: job.id,
                    source: StartSource::Runner,
                    runner_name: Some(inst.runner_name()),
                    delivery_id: None,
                }));
            }
            Ok(events)
        }
        Command::RunnerRegisterFailed { instance, status, message } => {
            let (_, job) = live_instance_job(state, &instance)?;
            Ok(vec![Event::RunnerRegisterFailed(RunnerRegisterFailed {
                instance,
                job: job.id,
                status,
                message,
            })])
        }
        Command::RunnerCompleted { instance, exit_code } => {
            let (_, job) = live_instance_job(state, &instance)?;
            Ok(vec![Event::RunnerCompleted(RunnerCompleted { instance, job: job.id, exit_code })])
        }
        Command::RunnerErrored { instance, stage, exit_code, line, log_tail } => {
            runner_errored(state, instance, stage, exit_code, line, log_tail, now)
        }
        Command::ObserveInstances(observations) => Ok(observe(state, &observations, now)),
        Command::ReapInstance { instance, reason } => reap(state, &instance, reason, now),
        Command::RecordOrphan(found) => Ok(vec![Event::InstanceOrphanFound(found)]),
        Command::SetHealth { component, ok, message } => {
            let message = if ok { String::new() } else { message };
            let unchanged = state.health.get(&component).is_some_and(|h| h.ok == ok && h.message == message);
            let first_ok = ok && !state.health.contains_key(&component);
            if unchanged || first_ok {
                Ok(vec![])
            } else {
                Ok(vec![Event::HealthChanged(HealthChanged { component, ok, message })])
            }
        }
        Command::RecordAuth(record) => Ok(vec![match record {
            AuthRecord::UserCreated(e) => {
                if state.users.contains_key(&e.email.to_ascii_lowercase()) {
                    return Err(Rejection::conflict(Some("email"), "a user with this email exists"));
                }
                Event::UserCreated(e)
            }
            AuthRecord::LoginSucceeded(e) => Event::AuthLoginSucceeded(e),
            AuthRecord::LoginFailed(e) => Event::AuthLoginFailed(e),
            AuthRecord::Logout(e) => Event::AuthLogout(e),
            AuthRecord::OidcDenied(e) => Event::AuthOidcLoginDenied(e),
        }]),
        Command::RotateBootstrapToken { fingerprint, previous_valid_until } => {
            if fingerprint.is_empty() {
                return Err(Rejection::field("fingerprint", "required"));
            }
            Ok(vec![Event::SettingsBootstrapTokenRotated(SettingsBootstrapTokenRotated {
                fingerprint,
                previous_valid_until,
            })])
        }
        Command::SetRetention { days } => {
            if !(1..=MAX_RETENTION_DAYS).contains(&days) {
                return Err(Rejection::field("days", format!("must be between 1 and {MAX_RETENTION_DAYS}")));
            }
            Ok(vec![Event::SettingsRetentionChanged(SettingsRetentionChanged { days })])
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration

fn create_project(state: &State, spec: ProjectSpec) -> Result<Vec<Event>, Rejection> {
    let spec = spec.normalized();
    let mut errors = spec.validate();
    check_project_unique(state, None, &spec, &mut errors);
    Rejection::check(errors)?;
    let id = ProjectId(state.config.next_project.max(1));
    Ok(vec![Event::ProjectCreated(ProjectCreated { id, spec })])
}

fn update_project(state: &State, id: ProjectId, spec: ProjectSpec) -> Result<Vec<Event>, Rejection> {
    let current = state.config.project(id).ok_or_else(|| Rejection::not_found(id))?;
    let spec = spec.normalized();
    let mut errors = spec.validate();
    check_project_unique(state, Some(id), &spec, &mut errors);
    Rejection::check(errors)?;
    if current.spec.scope == Scope::Repo && spec.scope == Scope::Org {
        let bound = state.config.repos_of(id).count();
        if bound > 0 {
            return Err(Rejection::conflict(
                Some("scope"),
                format!("unbind the project's {bound} repo(s) before switching it to org scope"),
            ));
        }
    }
    for pool in state.config.pools_of(id) {
        check_cascade(&spec.tags, &pool.spec.tags, state.config.repos_of(id).map(|r| &r.spec.tags), "tags")?;
    }
    Ok(vec![Event::ProjectUpdated(ProjectUpdated { id, spec })])
}

fn delete_project(state: &State, id: ProjectId) -> Result<Vec<Event>, Rejection> {
    let project = state.config.project(id).ok_or_else(|| Rejection::not_found(id))?;
    let pools = state.config.pools_of(id).count();
    if pools > 0 {
        return Err(Rejection::conflict(None, format!("delete the project's {pools} pool(s) first")));
    }
    let repos = state.config.repos_of(id).count();
    if repos > 0 {
        return Err(Rejection::conflict(None, format!("unbind the project's {repos} repo(s) first")));
    }
    Ok(vec![Event::ProjectDeleted(ProjectDeleted { id, name: project.spec.name.clone() })])
}

fn check_project_unique(
    state: &State,
    own: Option<ProjectId>,
    spec: &ProjectSpec,
    errors: &mut Vec<FieldError>,
) {
    let label = sanitize(&spec.name);
    for other in state.config.projects.values().filter(|p| Some(p.id) != own) {
        if other.spec.name.eq_ignore_ascii_case(&spec.name) {
            errors.push(FieldError::new("name", "a project with this name exists"));
        } else if !label.is_empty() && sanitize(&other.spec.name) == label {
            errors.push(FieldError::new(
                "name",
                format!("its runner label `{label}` is already used by project {}", other.spec.name),
            ));
        }
        if spec.scope == Scope::Org
            && other.spec.scope == Scope::Org
            && other.spec.org_name.eq_ignore_ascii_case(&spec.org_name)
        {
            errors.push(FieldError::new(
                "org_name",
                format!("org {} is already covered by project {}", spec.org_name, other.spec.name),
            ));
        }
    }
}

fn check_cascade<'a>(
    project: &crate::Tags,
    pool: &crate::Tags,
    repos: impl Iterator<Item = &'a crate::Tags>,
    field: &str,
) -> Result<(), Rejection> {
    let base = cascade_tags(&[project, pool]);
    let worst = repos.map(|r| cascade_tags(&[&base, r]).len()).max().unwrap_or(0).max(base.len());
    if worst > MAX_CASCADED_TAGS {
        return Err(Rejection::field(
            field,
            format!(
                "project, pool and repo tags together would be {worst} tags; at most {MAX_CASCADED_TAGS}"
            ),
        ));
    }
    Ok(())
}

fn validate_pool(
    state: &State,
    project: ProjectId,
    own: Option<PoolId>,
    spec: &PoolSpec,
) -> Result<(), Rejection> {
    let project_spec = &state.config.project(project).ok_or_else(|| Rejection::not_found(project))?.spec;
    let mut errors = spec.validate();
    let label = sanitize(&spec.name);
    if state.config.pools_of(project).any(|p| Some(p.id) != own && sanitize(&p.spec.name) == label) {
        errors.push(FieldError::new(
            "name",
            format!("another pool of this project has runner label `{label}`"),
        ));
    }
    Rejection::check(errors)?;
    check_cascade(
        &project_spec.tags,
        &spec.tags,
        state.config.repos_of(project).map(|r| &r.spec.tags),
        "tags",
    )
}

fn create_pool(
    state: &State,
    project: ProjectId,
    spec: PoolSpec,
    template: Option<TemplateRef>,
) -> Result<Vec<Event>, Rejection> {
    let spec = spec.normalized();
    validate_pool(state, project, None, &spec)?;
    let id = PoolId(state.config.next_pool.max(1));
    let mut events = vec![Event::PoolCreated(PoolCreated { id, project, spec })];
    events
        .extend(template.map(|template| {
            Event::PoolTemplateMaterialized(PoolTemplateMaterialized { pool: id, template })
        }));
    Ok(events)
}

fn update_pool(
    state: &State,
    id: PoolId,
    spec: PoolSpec,
    template: Option<TemplateRef>,
) -> Result<Vec<Event>, Rejection> {
    let pool = state.config.pool(id).ok_or_else(|| Rejection::not_found(id))?;
    let spec = spec.normalized();
    validate_pool(state, pool.project, Some(id), &spec)?;
    if let (Some(new), Some(old)) = (&template, &pool.template)
        && new.id != old.id
    {
        return Err(Rejection::conflict(
            None,
            format!("pool {} already uses launch template {}", pool.spec.name, old.id),
        ));
    }
    let mut events = vec![Event::PoolUpdated(PoolUpdated { id, spec })];
    events
        .extend(template.map(|template| {
            Event::PoolTemplateMaterialized(PoolTemplateMaterialized { pool: id, template })
        }));
    Ok(events)
}

fn delete_pool(state: &State, id: PoolId, now: Timestamp) -> Result<Vec<Event>, Rejection> {
    let pool = state.config.pool(id).ok_or_else(|| Rejection::not_found(id))?;
    let active = state.jobs.active().in_pool(id);
    if active > 0 {
        return Err(Rejection::conflict(None, format!("pool {} has {active} active job(s)", pool.spec.name)));
    }
    let mut events: Vec<Event> = state
        .jobs
        .in_status(JobStatus::Queued)
        .filter(|job| job.pool == id)
        .map(|job| {
            Event::JobFailed(JobFailed {
                end: job_end(job, now, None, None),
                stage: FailureStage::Config,
                message: format!("pool {} was deleted", pool.spec.name),
            })
        })
        .collect();
    events.push(Event::PoolDeleted(PoolDeleted {
        id,
        project: pool.project,
        name: pool.spec.name.clone(),
        template: pool.template.clone(),
    }));
    Ok(events)
}

fn bind_repo(
    state: &State,
    project: ProjectId,
    spec: RepoSpec,
    update: bool,
) -> Result<Vec<Event>, Rejection> {
    let spec = spec.normalized();
    Rejection::check(spec.validate())?;
    let target = state.config.project(project).ok_or_else(|| Rejection::not_found(project))?;
    if target.spec.scope == Scope::Org {
        return Err(Rejection::conflict(
            Some("project"),
            format!(
                "project {} is org-scoped and covers every repo of {}",
                target.spec.name, target.spec.org_name
            ),
        ));
    }
    match (state.config.repo(&spec.full_name), update) {
        (Some(existing), false) => {
            let owner =
                state.config.project(existing.project).map_or("another project", |p| p.spec.name.as_str());
            return Err(Rejection::conflict(Some("full_name"), format!("already bound to project {owner}")));
        }
        (None, true) => return Err(Rejection::not_found(format!("repo {}", spec.full_name))),
        _ => {}
    }
    for pool in state.config.pools_of(project) {
        check_cascade(&target.spec.tags, &pool.spec.tags, std::iter::once(&spec.tags), "tags")?;
    }
    Ok(vec![if update {
        Event::RepoUpdated(RepoUpdated { project, spec })
    } else {
        Event::RepoBound(RepoBound { project, spec })
    }])
}

fn import(
    state: &State,
    backup: &Backup,
    templates: &BTreeMap<(String, String), TemplateRef>,
) -> Result<Vec<Event>, Rejection> {
    let ImportPlan { events, counts, .. } = plan_import(state, backup, templates)?;
    let mut events = events;
    events.push(Event::ConfigImported(ConfigImported { counts }));
    Ok(events)
}

// ---------------------------------------------------------------------------------------
// Webhooks

fn webhook(state: &State, delivery_id: String, payload: WebhookPayload, now: Timestamp) -> Vec<Event> {
    match payload {
        WebhookPayload::Ping { hook_id } => {
            vec![Event::WebhookPinged(WebhookPinged { delivery_id, hook_id })]
        }
        WebhookPayload::Other { event, action } => {
            vec![Event::WebhookIgnored(WebhookIgnored { delivery_id, event, action })]
        }
        WebhookPayload::Redelivery { event, github_job_id } => {
            let job = github_job_id.and_then(|id| state.jobs.by_github_id(id)).map(|j| j.id);
            vec![Event::WebhookDuplicate(WebhookDuplicate { delivery_id, event, github_job_id, job })]
        }
        WebhookPayload::WorkflowJob(hook) => workflow_job(state, delivery_id, *hook, now),
    }
}

fn workflow_job(state: &State, delivery_id: String, hook: WorkflowJobHook, now: Timestamp) -> Vec<Event> {
    let action = hook.action.as_str();
    if !matches!(action, "queued" | "in_progress" | "completed") {
        return vec![ignored(&delivery_id, &hook, IgnoreReason::Action(hook.action.clone()))];
    }
    if let Some(job) = state.jobs.by_github_id(hook.github_job_id) {
        return known_job(state, job, delivery_id, &hook, now);
    }
    // Unknown job: route it. A job whose `queued` we missed is recovered from a later action.
    let (project, pool) = match route(&state.config, &hook.repo, &hook.labels) {
        Route::Pool { project, pool } => (project, pool),
        Route::Ignored(reason) => return vec![ignored(&delivery_id, &hook, reason)],
        Route::NoPoolMatch { project, reason } => {
            return vec![Event::JobNoPoolMatch(JobNoPoolMatch {
                delivery_id,
                github_job_id: hook.github_job_id,
                repo: hook.repo,
                project,
                labels: hook.labels,
                reason,
            })];
        }
    };
    let job_id = state.jobs.next_id();
    let queued = Event::JobQueued(JobQueued {
        job: job_id,
        delivery_id: delivery_id.clone(),
        github_job_id: hook.github_job_id,
        run_id: hook.run_id,
        run_attempt: hook.run_attempt,
        installation_id: hook.installation_id,
        repo: hook.repo.clone(),
        workflow: hook.workflow.clone(),
        job_name: hook.job_name.clone(),
        branch: hook.branch.clone(),
        sha: hook.sha.clone(),
        sender: hook.sender.clone(),
        labels: hook.labels.clone(),
        html_url: hook.html_url.clone(),
        project,
        pool,
        recovered: action != "queued",
    });
    if action == "queued" {
        return vec![queued];
    }
    // Recovered: fold a synthetic view of the just-queued job to decide the rest.
    let job = Job::queued(NewJob {
        id: job_id,
        github_job_id: hook.github_job_id,
        run_id: hook.run_id,
        installation: hook.installation_id,
        repo: state.strings.get(&hook.repo).unwrap_or(crate::intern::Sym(u32::MAX)),
        sender: crate::intern::Sym(u32::MAX),
        labels: crate::intern::Sym(u32::MAX),
        project,
        pool,
        market: Market::OnDemand,
        queued_at: now,
    });
    let mut events = vec![queued];
    events.extend(known_job(state, &job, delivery_id, &hook, now));
    events
}

fn ignored(delivery_id: &str, hook: &WorkflowJobHook, reason: IgnoreReason) -> Event {
    Event::JobIgnored(JobIgnored {
        delivery_id: delivery_id.to_owned(),
        github_job_id: hook.github_job_id,
        repo: hook.repo.clone(),
        action: hook.action.clone(),
        labels: hook.labels.clone(),
        reason,
    })
}

fn absorbed(delivery_id: String, job: &Job, hook: &WorkflowJobHook, reason: impl Into<String>) -> Vec<Event> {
    vec![Event::WebhookAbsorbed(WebhookAbsorbed {
        delivery_id,
        job: job.id,
        action: hook.action.clone(),
        reason: reason.into(),
    })]
}

fn known_job(
    state: &State,
    job: &Job,
    delivery_id: String,
    hook: &WorkflowJobHook,
    now: Timestamp,
) -> Vec<Event> {
    match hook.action.as_str() {
        "queued" => vec![Event::WebhookDuplicate(WebhookDuplicate {
            delivery_id,
            event: "workflow_job".into(),
            github_job_id: Some(hook.github_job_id),
            job: Some(job.id),
        })],
        _ if job.status.is_terminal() => {
            absorbed(delivery_id, job, hook, format!("job already {}", job.status.as_str()))
        }
        "in_progress" => {
            let same_runner = job.runner.as_deref() == hook.runner_name.as_deref();
            if job.status == JobStatus::Running && (same_runner || hook.runner_name.is_none()) {
                return absorbed(delivery_id, job, hook, "job already running");
            }
            let mut events = rebind(state, job, hook.runner_name.as_deref());
            events.push(Event::JobStarted(JobStarted {
                job: job.id,
                source: StartSource::Webhook,
                runner_name: hook.runner_name.clone(),
                delivery_id: Some(delivery_id),
            }));
            events
        }
        _ => {
            // completed
            let mut events = rebind(state, job, hook.runner_name.as_deref());
            let rebound = !events.is_empty();
            let ran_on = hook
                .runner_name
                .as_deref()
                .and_then(instance_of_runner)
                .filter(|id| state.instances.get(id).is_some());
            let (instance, price, launched_at) = match ran_on {
                Some(id) => {
                    let inst = state.instances.get(id);
                    (Some(id.to_owned()), inst.and_then(|i| i.price), inst.map(|i| i.launched_at))
                }
                None => (job.instance.as_deref().map(str::to_owned), job.price, job.launched_at),
            };
            let runner_ms = job.started_at.map_or(0, |s| now.millis_since(s));
            let cost = match (price, launched_at) {
                (Some(quote), Some(from)) => {
                    Some(Micros::for_duration(quote.per_hour, now.millis_since(from)))
                }
                _ => None,
            };
            let end = JobEnd {
                job: job.id,
                conclusion: hook.conclusion.clone(),
                delivery_id: Some(delivery_id),
                runner_name: hook.runner_name.clone().filter(|n| !n.is_empty()),
                instance,
                cost,
                runner_ms,
            };
            events.push(match hook.conclusion.as_deref() {
                Some("failure") | Some("timed_out") | Some("startup_failure") | Some("action_required") => {
                    let conclusion = hook.conclusion.as_deref().unwrap_or_default();
                    Event::JobFailed(JobFailed {
                        end,
                        stage: FailureStage::GitHub,
                        message: format!("GitHub concluded the job: {conclusion}"),
                    })
                }
                Some("cancelled") => Event::JobCancelled(JobCancelled { end }),
                _ => Event::JobCompleted(JobCompleted { end }),
            });
            // Its own instance, when GitHub ran it elsewhere, goes to a waiting job.
            if !rebound {
                let own = job.instance.as_deref().and_then(|id| state.instances.get(id));
                if let Some(own) = own.filter(|o| o.job == Some(job.id) && !o.serving)
                    && hook.runner_name.as_deref() != Some(own.runner_name().as_str())
                {
                    events.extend(give_away(state, own, &[job.id]));
                }
            }
            events
        }
    }
}

/// Events for a job GitHub ran on `runner` when that is another Pacer instance than its own.
fn rebind(state: &State, job: &Job, runner: Option<&str>) -> Vec<Event> {
    let Some(target) = runner.and_then(instance_of_runner).and_then(|id| state.instances.get(id)) else {
        return vec![];
    };
    if job.instance.as_deref() == Some(&*target.id) {
        return vec![];
    }
    let displaced = target
        .job
        .filter(|other| *other != job.id && !target.serving)
        .and_then(|other| state.jobs.get(other))
        .filter(|other| !other.status.is_terminal());
    let mut events = vec![Event::JobRunnerRebound(JobRunnerRebound {
        job: job.id,
        instance: target.id.to_string(),
        displaced: displaced.map(|d| d.id),
    })];
    let freed = job
        .instance
        .as_deref()
        .and_then(|id| state.instances.get(id))
        .filter(|i| i.job == Some(job.id) && !i.serving);
    let mut skip = vec![job.id];
    let mut freed_used = false;
    if let Some(displaced) = displaced {
        skip.push(displaced.id);
        let same_audience = freed.is_some_and(|f| {
            f.pool == displaced.pool && f.repo == state.audience_repo(displaced.project, displaced.repo)
        });
        let instance = if same_audience { freed.map(|f| f.id.to_string()) } else { None };
        freed_used = instance.is_some();
        events.push(Event::JobInstanceReassigned(JobInstanceReassigned { job: displaced.id, instance }));
    }
    if let Some(freed) = freed.filter(|_| !freed_used) {
        events.extend(give_away(state, freed, &skip));
    }
    events
}

/// Hands a freed instance to the oldest waiting job of its audience, if any.
fn give_away(state: &State, instance: &Instance, skip: &[JobId]) -> Option<Event> {
    waiting_job_for(state, instance.pool, instance.repo, skip).map(|job| {
        Event::JobInstanceReassigned(JobInstanceReassigned { job, instance: Some(instance.id.to_string()) })
    })
}

// ---------------------------------------------------------------------------------------
// Dispatching

fn claim(state: &State, ids: &[JobId], now: Timestamp) -> Vec<Event> {
    let mut pending = Pending::default();
    let mut events = Vec::new();
    let mut claimed = std::collections::BTreeSet::new();
    for id in ids {
        let Some(job) = state.jobs.get(*id).filter(|j| j.status == JobStatus::Queued) else { continue };
        if claimable(state, job, now, &pending).is_err() || !claimed.insert(*id) {
            continue;
        }
        pending.add(job);
        events.push(Event::JobClaimed(JobClaimed {
            job: job.id,
            attempt: job.attempts + 1,
            market: job.market,
        }));
    }
    events
}

fn record_launch(
    state: &State,
    id: JobId,
    attempt: u32,
    outcome: LaunchOutcome,
    now: Timestamp,
) -> Vec<Event> {
    let Some(job) = state.jobs.get(id) else { return vec![] };
    let current = job.status == JobStatus::Claimed && job.attempts + 1 == attempt;
    match outcome {
        LaunchOutcome::Launched { instance, price } => {
            // An instance exists whatever happened to the claim: record it, and when the job no
            // longer wants it, hand it to a waiting job (or leave it to the reaper as surplus).
            let mut events = vec![Event::JobSpawnLaunched(JobSpawnLaunched {
                job: id,
                attempt,
                instance: instance.clone(),
                price,
            })];
            if !current {
                let repo = state.audience_repo(job.project, job.repo);
                events.extend(waiting_job_for(state, job.pool, repo, &[id]).map(|taker| {
                    Event::JobInstanceReassigned(JobInstanceReassigned {
                        job: taker,
                        instance: Some(instance.instance_id.clone()),
                    })
                }));
            }
            events
        }
        LaunchOutcome::Failed { .. } if !current => vec![],
        LaunchOutcome::Failed { error, throttle_retry_at, policy } => match error.class {
            ErrorClass::Throttling => vec![Event::JobSpawnRetry(JobSpawnRetry {
                job: id,
                attempt,
                error,
                next_retry_at: throttle_retry_at,
                next_market: job.market,
                burns_attempt: false,
            })],
            ErrorClass::Capacity if attempt < policy.max_attempts => {
                let fallback = job.market == Market::Spot
                    && state.config.pool(job.pool).is_some_and(|p| p.spec.on_demand_fallback);
                vec![Event::JobSpawnRetry(JobSpawnRetry {
                    job: id,
                    attempt,
                    error,
                    next_retry_at: now.plus_millis(policy.delay_ms(attempt)),
                    next_market: if fallback { Market::OnDemand } else { job.market },
                    burns_attempt: true,
                })]
            }
            class => {
                let message = if class == ErrorClass::Capacity {
                    format!("no capacity after {attempt} attempts: {error}")
                } else {
                    error.to_string()
                };
                vec![
                    Event::JobSpawnFailed(JobSpawnFailed { job: id, attempt, error }),
                    Event::JobFailed(JobFailed {
                        end: job_end(job, now, None, None),
                        stage: FailureStage::Spawn,
                        message,
                    }),
                ]
            }
        },
    }
}

/// The end of `job` at `now` with no webhook involved.
fn job_end(job: &Job, now: Timestamp, conclusion: Option<String>, delivery_id: Option<String>) -> JobEnd {
    let cost = match (job.price, job.launched_at) {
        (Some(quote), Some(from)) => Some(Micros::for_duration(quote.per_hour, now.millis_since(from))),
        _ => None,
    };
    JobEnd {
        job: job.id,
        conclusion,
        delivery_id,
        runner_name: job.runner.as_deref().map(str::to_owned),
        instance: job.instance.as_deref().map(str::to_owned),
        cost,
        runner_ms: job.started_at.map_or(0, |s| now.millis_since(s)),
    }
}

// ---------------------------------------------------------------------------------------
// Runner callbacks

fn live_instance_job<'a>(state: &'a State, instance: &str) -> Result<(&'a Instance, &'a Job), Rejection> {
    let inst =
        state.instances.get(instance).ok_or_else(|| Rejection::not_found(format!("instance {instance}")))?;
    let job_id = inst.job.unwrap_or(inst.launched_for);
    let job = state.jobs.get(job_id).ok_or_else(|| Rejection::not_found(job_id))?;
    Ok((inst, job))
}

fn runner_bootstrap(state: &State, instance: String) -> Result<Vec<Event>, Rejection> {
    let Some(inst) = state.instances.get(&instance) else {
        return Err(Rejection::try_later(format!("instance {instance} is not known yet; retry")));
    };
    if inst.bootstrapped {
        return Err(Rejection::gone(format!("instance {instance} already bootstrapped")));
    }
    let Some(job) = inst.job else {
        return Err(Rejection::try_later(format!("instance {instance} has no job yet; retry")));
    };
    Ok(vec![Event::RunnerBootstrapped(RunnerBootstrapped { instance, job })])
}

fn runner_errored(
    state: &State,
    instance: String,
    stage: String,
    exit_code: i32,
    line: u32,
    mut log_tail: String,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let (inst, job) = live_instance_job(state, &instance)?;
    if log_tail.len() > MAX_LOG_TAIL_BYTES {
        let mut cut = log_tail.len() - MAX_LOG_TAIL_BYTES;
        while !log_tail.is_char_boundary(cut) {
            cut += 1;
        }
        log_tail.drain(..cut);
    }
    let fails_job = !job.status.is_terminal() && !inst.serving && inst.job == Some(job.id);
    let message = format!("runner {stage} failed with exit code {exit_code} at line {line}");
    let mut events =
        vec![Event::RunnerErrored(RunnerErrored { instance, job: job.id, stage, exit_code, line, log_tail })];
    if fails_job {
        events.push(Event::JobFailed(JobFailed {
            end: job_end(job, now, None, None),
            stage: FailureStage::Bootstrap,
            message,
        }));
    }
    Ok(events)
}

// ---------------------------------------------------------------------------------------
// Reaper

fn observe(state: &State, observations: &[Observation], now: Timestamp) -> Vec<Event> {
    let mut events = Vec::new();
    for obs in observations.iter().filter(|o| !o.alive) {
        let Some(inst) = state.instances.get(&obs.instance) else { continue };
        let job = inst.job.and_then(|id| state.jobs.get(id)).filter(|j| !j.status.is_terminal());
        match job {
            Some(job) if !inst.runner_done => {
                events.push(Event::InstanceLost(InstanceLost {
                    instance: obs.instance.clone(),
                    job: Some(job.id),
                    state: obs.state.clone(),
                    reason: obs.reason.clone(),
                }));
                let why = if obs.reason.is_empty() { String::new() } else { format!(" ({})", obs.reason) };
                events.push(Event::JobFailed(JobFailed {
                    end: job_end(job, now, None, None),
                    stage: FailureStage::Ec2,
                    message: format!("instance {} {}{why}", obs.instance, obs.state),
                }));
            }
            _ => events.push(Event::InstanceTerminated(InstanceTerminated {
                instance: obs.instance.clone(),
                state: obs.state.clone(),
            })),
        }
    }
    events
}

fn reap(state: &State, instance: &str, reason: ReapReason, now: Timestamp) -> Result<Vec<Event>, Rejection> {
    let inst =
        state.instances.get(instance).ok_or_else(|| Rejection::not_found(format!("instance {instance}")))?;
    let job = inst.job.and_then(|id| state.jobs.get(id)).filter(|j| !j.status.is_terminal());
    let mut events = vec![Event::InstanceReaped(InstanceReaped {
        instance: instance.to_owned(),
        job: job.map(|j| j.id),
        reason,
    })];
    if let Some(job) = job {
        let max_runtime_minutes = state
            .config
            .pool(inst.pool)
            .map_or(crate::config::DEFAULT_MAX_RUNTIME_MINUTES, |p| p.spec.max_runtime_minutes);
        let mut end = job_end(job, now, None, None);
        end.runner_name = Some(runner_name(instance));
        events.push(Event::JobReaped(JobReaped { end, max_runtime_minutes }));
    }
    Ok(events)
}
