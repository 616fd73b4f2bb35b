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
use crate::instance::{
    self, InstanceOrphanFound, Observation, ReapReason, RegisterRefusal, RunnerBootstrapRefused,
};
use crate::job::{self, JobId, LaunchOutcome, WebhookPayload};
use crate::rejection::Rejection;
use crate::settings;
use crate::state::State;
use crate::time::Timestamp;
use crate::warm;
use std::collections::BTreeMap;

/// Everything that can be asked of Pacer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Create a project; its id is [`Config::next_project`](crate::Config::next_project).
    CreateProject(ProjectSpec),
    /// Replace a project's settings.
    UpdateProject {
        /// The project to change.
        id: ProjectId,
        /// Its new settings, whole; refused as org scope while repos are bound.
        spec: ProjectSpec,
    },
    /// Delete a project (no pools, no repos).
    DeleteProject {
        /// The project to delete.
        id: ProjectId,
    },
    /// Create a pool; `template` is the LT the host materialised for it.
    CreatePool {
        /// The project the pool belongs to.
        project: ProjectId,
        /// The pool's settings (normalised and validated here).
        spec: PoolSpec,
        /// The launch template created for it; `None` records none yet (the host's dry run).
        template: Option<TemplateRef>,
    },
    /// Replace a pool's settings; `template` is its new LT version.
    UpdatePool {
        /// The pool to change.
        id: PoolId,
        /// Its new settings, whole.
        spec: PoolSpec,
        /// The new default version of its launch template (same id); `None` to leave it.
        template: Option<TemplateRef>,
    },
    /// Record a new default version of a pool's launch template (the host re-versioned it
    /// because its rendered data changed).
    RecordTemplate {
        /// The pool whose template was re-versioned.
        pool: PoolId,
        /// The template (same id as the pool's) with its new default version and fingerprint.
        template: TemplateRef,
    },
    /// Record that one pool's bootstrap token was rotated (the host keeps the token).
    RotatePoolBootstrapToken {
        /// The pool.
        pool: PoolId,
        /// Until when its previous token stays valid.
        previous_valid_until: Timestamp,
    },
    /// Delete a pool (no active jobs; queued ones fail).
    DeletePool {
        /// The pool to delete.
        id: PoolId,
    },
    /// Bind a repo to a repo-scoped project.
    BindRepo {
        /// The repo-scoped project to bind to.
        project: ProjectId,
        /// The binding; refused when the repo is already bound.
        spec: RepoSpec,
    },
    /// Replace a binding (possibly moving it to another project).
    UpdateRepo {
        /// The repo-scoped project it is bound to afterwards.
        project: ProjectId,
        /// The new binding, whole; the repo must already be bound.
        spec: RepoSpec,
    },
    /// Unbind a repo.
    UnbindRepo {
        /// `owner/repo`, case-insensitive.
        full_name: String,
    },
    /// Import a backup; `templates` holds the LT materialised per (project, pool) name.
    ImportBackup {
        /// The backup document, version [`crate::BACKUP_VERSION`].
        backup: Backup,
        /// LTs by (project name, pool name), lower-cased.
        templates: BTreeMap<(String, String), TemplateRef>,
    },
    /// Record an export and what it held.
    RecordExport(ConfigCounts),
    /// A webhook delivery.
    Webhook {
        /// The delivery's `X-GitHub-Delivery` GUID.
        delivery_id: String,
        /// The delivery as the host parsed it, after checking its signature and idempotency.
        payload: WebhookPayload,
    },
    /// Claim these queued jobs (those no longer claimable are skipped).
    ClaimJobs(Vec<JobId>),
    /// Return claims older than [`crate::CLAIM_TIMEOUT_MS`] with no launch outcome to the queue.
    ExpireClaims,
    /// The outcome of launching `job`'s `attempt`.
    RecordLaunch {
        /// The job the launch was for.
        job: JobId,
        /// The attempt launched, 1-based; an outcome for an attempt the job is no longer on
        /// records only the instance, if one started.
        attempt: u32,
        /// What EC2 answered.
        outcome: LaunchOutcome,
    },
    /// An instance exchanges its pool's bootstrap token and its verified identity document for
    /// a callback token.
    RunnerBootstrap {
        /// The instance (`i-…`) its identity document names; until it is live with a job, the
        /// answer is retry later.
        instance: String,
        /// The pool whose token it presented; another pool's instance is refused (recorded).
        pool: PoolId,
        /// When EC2 says it was launched (the document's `pendingTime`).
        launched_at: Timestamp,
    },
    /// A bootstrap refused before the state could be asked (an unverifiable identity, an
    /// instance other than the document's), recorded for the audit.
    RefuseBootstrap(RunnerBootstrapRefused),
    /// The instance's runner was registered with GitHub.
    RunnerRegistered {
        /// The instance (`i-…`) the callback token belongs to.
        instance: String,
        /// The runner id GitHub assigned.
        runner_id: u64,
    },
    /// GitHub refused to register the runner.
    RunnerRegisterFailed {
        /// The instance (`i-…`) the callback token belongs to.
        instance: String,
        /// GitHub's HTTP status (0 when unreachable).
        status: u16,
        /// GitHub's error message.
        message: String,
    },
    /// A registration was refused before GitHub was asked (recorded for the audit).
    RefuseRegister {
        /// The instance (`i-…`) the callback token belongs to.
        instance: String,
        /// Why.
        reason: RegisterRefusal,
    },
    /// The runner finished.
    RunnerCompleted {
        /// The instance (`i-…`) the callback token belongs to.
        instance: String,
        /// The runner process's exit code.
        exit_code: i32,
    },
    /// The bootstrap script or runner failed.
    RunnerErrored {
        /// The instance (`i-…`) the callback token belongs to.
        instance: String,
        /// The user-data script's stage that failed (`download`, `register`, `run`, …).
        stage: String,
        /// Exit code of the failed command.
        exit_code: i32,
        /// Line of the user-data script that failed.
        line: u32,
        /// The end of the runner's log; cut to its last [`crate::MAX_LOG_TAIL_BYTES`].
        log_tail: String,
    },
    /// What the reaper saw of live instances; ended ones become `instance.terminated`, or
    /// `instance.lost` and a failed job when a job relied on them.
    ObserveInstances(Vec<Observation>),
    /// The reaper terminated an instance.
    ReapInstance {
        /// The live instance (`i-…`) terminated.
        instance: String,
        /// Max runtime exceeded, surplus, or its job ended.
        reason: ReapReason,
    },
    /// The orphan sweep found a tagged instance the log does not account for.
    RecordOrphan(InstanceOrphanFound),
    /// A component's health, recorded only when it changes.
    SetHealth {
        /// The component (`reaper`, `preflight`, `dispatcher`, `github`, `storage`).
        component: String,
        /// Whether it works now.
        ok: bool,
        /// What is wrong; dropped when `ok`.
        message: String,
    },
    /// An authentication fact (user created, sign-in, failed sign-in, sign-out, OIDC denial).
    RecordAuth(AuthRecord),
    /// The bootstrap token was rotated.
    RotateBootstrapToken {
        /// A short fingerprint of the new token (never the token); must not be empty.
        fingerprint: String,
        /// Until when the previous token stays valid (the host allows the longest pool max
        /// runtime plus a margin).
        previous_valid_until: Timestamp,
    },
    /// Pacer's GitHub App was created from its manifest.
    RecordGitHubApp(crate::GithubAppCreated),
    /// A replica took the effects lease under a new term.
    AcquireLease {
        /// The replica's id; must not be empty.
        holder: String,
        /// Its term; must be above the recorded one.
        term: u64,
    },
    /// Override one retention, or go back to the configuration's default.
    SetRetention {
        /// The retention to change.
        kind: crate::RetentionKind,
        /// Days, 1..=[`crate::MAX_RETENTION_DAYS`]; `None` = the default.
        days: Option<u32>,
    },
    /// The host deletes `deleted` entries of `kind` past their retention (dated before
    /// `before`) in the same write: `retention.swept`.
    RecordSweep {
        /// Raw webhook payloads or failure logs.
        kind: crate::RetentionKind,
        /// How many.
        deleted: u32,
        /// The cutoff.
        before: Timestamp,
    },
    /// Set (or, `None`, switch off) a pool's warm capacity.
    SetPoolWarm {
        /// The pool.
        pool: PoolId,
        /// Its warm capacity, checked against the pool's cap.
        warm: Option<crate::WarmSpec>,
    },
    /// EC2 started these instances for a pool's warm capacity.
    RecordWarmLaunch {
        /// The pool.
        pool: PoolId,
        /// What EC2 started, each with its price (instances recorded already are skipped).
        launched: Vec<(crate::LaunchedInstance, Option<crate::PriceQuote>)>,
        /// The pool's launch template version the launch used.
        template_version: u64,
        /// For the pool's stopped capacity (else hot).
        stopped: bool,
        /// Why the pool holds warm instances ([`crate::WarmTarget::reason`]).
        reason: String,
    },
    /// A hot warm instance's runner is ready (its first registration call); records nothing
    /// for any other instance or a second time.
    RecordWarmReady {
        /// The instance (`i-…`).
        instance: String,
    },
    /// Pacer stopped a warm instance of its pool's stopped capacity (its runner was ready).
    RecordWarmStop {
        /// The instance (`i-…`).
        instance: String,
    },
    /// Pacer started (or could not start) a stopped warm instance a job took.
    RecordWarmStart {
        /// The instance (`i-…`).
        instance: String,
        /// What EC2 answered.
        outcome: Result<(), crate::LaunchError>,
    },
    /// The host pruned the log's records through `last_seq` (after archiving them, when it
    /// archives): `audit.pruned` of the records after the last prune through `last_seq`.
    RecordPrune {
        /// The last deleted record's seq; above the last prune's, and in the log.
        last_seq: u64,
        /// When that record was recorded.
        through: Timestamp,
        /// The archive file's name, when the records were archived first.
        archive: Option<String>,
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
        Command::RotatePoolBootstrapToken { pool, previous_valid_until } => {
            config::rotate_pool_token(state, pool, previous_valid_until)
        }
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
        Command::RunnerBootstrap { instance, pool, launched_at } => {
            instance::runner_bootstrap(state, instance, pool, launched_at, now)
        }
        Command::RefuseBootstrap(refused) => Ok(vec![Event::RunnerBootstrapRefused(refused)]),
        Command::RunnerRegistered { instance, runner_id } => {
            instance::runner_registered(state, instance, runner_id)
        }
        Command::RunnerRegisterFailed { instance, status, message } => {
            instance::runner_register_failed(state, instance, status, message)
        }
        Command::RefuseRegister { instance, reason } => {
            Ok(instance::refuse_register(state, instance, reason))
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
        Command::SetRetention { kind, days } => settings::set_retention(kind, days),
        Command::RecordSweep { kind, deleted, before } => settings::record_sweep(kind, deleted, before),
        Command::RecordPrune { last_seq, through, archive } => {
            settings::record_prune(state, last_seq, through, archive)
        }
        Command::RecordGitHubApp(app) => settings::record_github_app(app),
        Command::AcquireLease { holder, term } => settings::acquire_lease(state, holder, term),
        Command::SetPoolWarm { pool, warm } => warm::set_pool_warm(state, pool, warm),
        Command::RecordWarmLaunch { pool, launched, template_version, stopped, reason } => {
            warm::record_warm_launch(state, pool, launched, template_version, stopped, reason)
        }
        Command::RecordWarmStop { instance } => warm::record_warm_stop(state, instance),
        Command::RecordWarmReady { instance } => Ok(warm::record_warm_ready(state, instance)),
        Command::RecordWarmStart { instance, outcome } => warm::record_warm_start(state, instance, outcome),
    }
}
