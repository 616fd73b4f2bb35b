//! Commands and `decide`: the only place that refuses anything. `decide(&State, Command, now)`
//! checks a command against the state and answers with the events to append, or a
//! [`Rejection`] that changes nothing. Each command's rules live in its area (`config`, `job`,
//! `instance`, `auth`, `settings`); this module is the catalogue of commands and the
//! dispatcher.

use crate::auth::{self, AuthRecord};
use crate::config::{
    self, Backup, ConfigCounts, ConfigExported, PoolId, PoolSpec, ProjectId, ProjectSpec, RepoSpec,
    TemplateRef,
};
use crate::event::Event;
use crate::instance::{self, InstanceOrphanFound, Observation, ReapReason};
use crate::job::{self, JobId, LaunchOutcome, WebhookPayload};
use crate::rejection::Rejection;
use crate::settings;
use crate::state::State;
use crate::time::Timestamp;
use std::collections::BTreeMap;

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

/// Checks `command` against `state` at `now`; the events to append, or why not.
pub fn decide(state: &State, command: Command, now: Timestamp) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::CreateProject(spec) => config::create_project(state, spec),
        Command::UpdateProject { id, spec } => config::update_project(state, id, spec),
        Command::DeleteProject { id } => config::delete_project(state, id),
        Command::CreatePool { project, spec, template } => {
            config::create_pool(state, project, spec, template)
        }
        Command::UpdatePool { id, spec, template } => config::update_pool(state, id, spec, template),
        Command::RecordTemplate { pool, template } => config::record_template(state, pool, template),
        Command::DeletePool { id } => config::delete_pool(state, id, now),
        Command::BindRepo { project, spec } => config::bind_repo(state, project, spec, false),
        Command::UpdateRepo { project, spec } => config::bind_repo(state, project, spec, true),
        Command::UnbindRepo { full_name } => config::unbind_repo(state, &full_name),
        Command::ImportBackup { backup, templates } => config::import(state, &backup, &templates),
        Command::RecordExport(counts) => Ok(vec![Event::ConfigExported(ConfigExported { counts })]),
        Command::Webhook { delivery_id, payload } => Ok(job::webhook(state, delivery_id, payload, now)),
        Command::ClaimJobs(ids) => Ok(job::claim(state, &ids, now)),
        Command::ExpireClaims => Ok(job::expire_claims(state, now)),
        Command::RecordLaunch { job, attempt, outcome } => {
            Ok(job::record_launch(state, job, attempt, outcome, now))
        }
        Command::RunnerBootstrap { instance } => instance::runner_bootstrap(state, instance),
        Command::RunnerRegistered { instance, runner_id } => {
            instance::runner_registered(state, instance, runner_id)
        }
        Command::RunnerRegisterFailed { instance, status, message } => {
            instance::runner_register_failed(state, instance, status, message)
        }
        Command::RunnerCompleted { instance, exit_code } => {
            instance::runner_completed(state, instance, exit_code)
        }
        Command::RunnerErrored { instance, stage, exit_code, line, log_tail } => {
            instance::runner_errored(state, instance, stage, exit_code, line, log_tail, now)
        }
        Command::ObserveInstances(observations) => Ok(instance::observe(state, &observations, now)),
        Command::ReapInstance { instance, reason } => instance::reap(state, &instance, reason, now),
        Command::RecordOrphan(found) => Ok(vec![Event::InstanceOrphanFound(found)]),
        Command::SetHealth { component, ok, message } => {
            Ok(settings::set_health(state, component, ok, message))
        }
        Command::RecordAuth(record) => auth::record(state, record),
        Command::RotateBootstrapToken { fingerprint, previous_valid_until } => {
            settings::rotate_bootstrap_token(fingerprint, previous_valid_until)
        }
        Command::SetRetention { days } => settings::set_retention(days),
    }
}
