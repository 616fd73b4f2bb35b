//! Mutations, thin: build a command (or call the engine's EC2-aware edit), record it as the
//! signed-in user, return the view.

use super::query::{
    ConsoleUser, GqlRetentionKind, PoolReversion, ReconcileReport, Settings, TokenRotation, settings,
};
use super::types::*;
use super::warm::WarmInput;
use super::{
    ErrorCode, WithField, app_error, config_error, engine, error, invalid, parse_id, principal, rejected,
};
use crate::app::Meta;
use crate::auth::{self, Auth, UserChangeError};
use async_graphql::{Context, Enum, ID, MergedObject, Object, Result, SimpleObject};
use pacer_domain::{Backup, Command, Event, ImportAction, PoolId, ProjectId, RepoSpec};
use std::sync::Arc;

/// Every mutation; edits are recorded in the log as the signed-in user. Each needs a session
/// unless auth is disabled; a refusal is a GraphQL error with `extensions.code`: INVALID_INPUT
/// (one error per bad field, named in `extensions.field`), NOT_FOUND, CONFLICT, AWS_ERROR or
/// UNAVAILABLE.
#[derive(MergedObject, Default)]
pub struct Mutation(ConfigMutation, SystemMutation);

fn meta(ctx: &Context<'_>) -> Result<Meta> {
    Ok(Meta::by(principal(ctx)?.actor()))
}

fn created_project(records: &[pacer_domain::Recorded]) -> Option<ProjectId> {
    records.iter().find_map(|r| match &r.event {
        Event::ProjectCreated(e) => Some(e.id),
        _ => None,
    })
}

fn created_pool(records: &[pacer_domain::Recorded]) -> Option<PoolId> {
    records.iter().find_map(|r| match &r.event {
        Event::PoolCreated(e) => Some(e.id),
        _ => None,
    })
}

/// What an import does to one row.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(name = "ImportAction")]
pub enum GqlImportAction {
    /// The entity does not exist yet and is created.
    Create,
    /// The entity exists and its settings change.
    Update,
    /// The entity exists with exactly these settings.
    Unchanged,
}

/// One row of an import.
#[derive(SimpleObject)]
pub(super) struct ImportItem {
    /// `project`, `pool` or `repo`.
    pub kind: String,
    /// The project name, `project/pool` or `owner/repo`, as the file spells it (trimmed).
    pub name: String,
    /// What the import does to it.
    pub action: GqlImportAction,
}

/// One bad field of an import, and why.
#[derive(SimpleObject)]
pub(super) struct FieldErrorView {
    /// Path of the field in the backup, e.g. `projects[0].pools[2].ami_id`; `json` when the text
    /// is not a Pacer backup; empty for an error about the whole file.
    pub field: String,
    /// Why the field is wrong, e.g. `must be between 1 and 10000`.
    pub message: String,
}

/// The outcome of an import or its dry run.
#[derive(SimpleObject)]
pub(super) struct ImportResult {
    /// Whether this was a dry run that only planned.
    pub dry_run: bool,
    /// Whether the import was recorded; false for a dry run and whenever `errors` is not empty.
    pub applied: bool,
    /// One row per project, pool and repo in the file, in file order; empty when there are errors.
    pub items: Vec<ImportItem>,
    /// Projects the import creates.
    pub projects_created: i32,
    /// Projects whose settings it changes.
    pub projects_updated: i32,
    /// Pools it creates.
    pub pools_created: i32,
    /// Pools whose settings it changes.
    pub pools_updated: i32,
    /// Repo bindings it creates.
    pub repos_created: i32,
    /// Repo bindings it changes.
    pub repos_updated: i32,
    /// Every error found; when there is any, nothing changed and every count is 0.
    pub errors: Vec<FieldErrorView>,
}

impl ImportResult {
    fn of(plan: &pacer_domain::ImportPlan, dry_run: bool) -> Self {
        let c = plan.counts;
        let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        ImportResult {
            dry_run,
            applied: !dry_run,
            items: plan
                .items
                .iter()
                .map(|i| ImportItem {
                    kind: i.kind.to_owned(),
                    name: i.name.clone(),
                    action: match i.action {
                        ImportAction::Create => GqlImportAction::Create,
                        ImportAction::Update => GqlImportAction::Update,
                        ImportAction::Unchanged => GqlImportAction::Unchanged,
                    },
                })
                .collect(),
            projects_created: n(c.projects_created),
            projects_updated: n(c.projects_updated),
            pools_created: n(c.pools_created),
            pools_updated: n(c.pools_updated),
            repos_created: n(c.repos_created),
            repos_updated: n(c.repos_updated),
            errors: Vec::new(),
        }
    }

    fn rejected(dry_run: bool, errors: Vec<pacer_domain::FieldError>) -> Self {
        ImportResult {
            dry_run,
            applied: false,
            items: Vec::new(),
            projects_created: 0,
            projects_updated: 0,
            pools_created: 0,
            pools_updated: 0,
            repos_created: 0,
            repos_updated: 0,
            errors: errors
                .into_iter()
                .map(|e| FieldErrorView { field: e.field, message: e.message })
                .collect(),
        }
    }
}

/// Edits of projects, pools and repo bindings, and backup imports.
#[derive(Default)]
pub(super) struct ConfigMutation;

#[Object]
impl ConfigMutation {
    /// Creates a project. INVALID_INPUT for bad or taken fields (a name or runner label in use, an
    /// org already covered).
    async fn create_project(&self, ctx: &Context<'_>, input: ProjectInput) -> Result<ProjectView> {
        let engine = engine(ctx)?;
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        let records = engine
            .app
            .execute(Command::CreateProject(spec), meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        let id =
            created_project(&records).ok_or_else(|| error(ErrorCode::Unavailable, "project not created"))?;
        let state = engine.app.state();
        state
            .config
            .project(id)
            .map(|p| ProjectView::of(&state, p))
            .ok_or_else(|| error(ErrorCode::NotFound, "project vanished"))
    }

    /// Replaces a project's settings; a tag change gives its pools' launch templates a new
    /// version at once. NOT_FOUND for an unknown id; INVALID_INPUT for bad or taken fields, or
    /// tags that would exceed 44 with a pool's and repo's; CONFLICT when switching to ORG scope
    /// with repos still bound.
    async fn update_project(&self, ctx: &Context<'_>, id: ID, input: ProjectInput) -> Result<ProjectView> {
        let engine = engine(ctx)?;
        let id = ProjectId(parse_id("id", &id)?);
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        engine.update_project(meta(ctx)?, id, spec).await.map_err(|e| config_error(ctx, e))?;
        let state = engine.app.state();
        state
            .config
            .project(id)
            .map(|p| ProjectView::of(&state, p))
            .ok_or_else(|| error(ErrorCode::NotFound, "project vanished"))
    }

    /// Deletes a project; true once recorded. NOT_FOUND for an unknown id; CONFLICT while it still
    /// has pools or bound repos.
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let engine = engine(ctx)?;
        let id = ProjectId(parse_id("id", &id)?);
        engine.app.execute(Command::DeleteProject { id }, meta(ctx)?).await.map_err(|e| app_error(ctx, e))?;
        Ok(true)
    }

    /// Creates a pool in a project: checked by the rules and against AWS, its launch template
    /// created, then recorded. NOT_FOUND for an unknown project; INVALID_INPUT for bad fields
    /// (AWS's findings included); AWS_ERROR when an AWS call fails.
    async fn create_pool(&self, ctx: &Context<'_>, project_id: ID, input: PoolInput) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let project = ProjectId(parse_id("project_id", &project_id)?);
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        let records =
            engine.create_pool(meta(ctx)?, project, spec).await.map_err(|e| config_error(ctx, e))?;
        let id = created_pool(&records).ok_or_else(|| error(ErrorCode::Unavailable, "pool not created"))?;
        pool_view(engine, id)
    }

    /// Replaces a pool's settings: checked by the rules and against AWS, a new default launch
    /// template version, recorded. NOT_FOUND, INVALID_INPUT or AWS_ERROR as `createPool`.
    async fn update_pool(&self, ctx: &Context<'_>, id: ID, input: PoolInput) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("id", &id)?);
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        engine.update_pool(meta(ctx)?, id, spec).await.map_err(|e| config_error(ctx, e))?;
        pool_view(engine, id)
    }

    /// Copies a pool into the same project, with its own launch template and never as the default
    /// pool. `name` defaults to the first free of `<name>-copy`, `<name>-copy-2`, …; errors as
    /// `createPool`.
    async fn copy_pool(&self, ctx: &Context<'_>, id: ID, name: Option<String>) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("id", &id)?);
        let records = engine.copy_pool(meta(ctx)?, id, name).await.map_err(|e| config_error(ctx, e))?;
        let id = created_pool(&records).ok_or_else(|| error(ErrorCode::Unavailable, "pool not created"))?;
        pool_view(engine, id)
    }

    /// Deletes a pool, fails its queued jobs (stage `config`), then deletes its launch template;
    /// true once recorded. NOT_FOUND for an unknown id; CONFLICT while it has active jobs.
    async fn delete_pool(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("id", &id)?);
        engine.delete_pool(meta(ctx)?, id).await.map_err(|e| config_error(ctx, e))?;
        Ok(true)
    }

    /// Sets a pool's warm capacity (instances booted before any job asks, so a job starts on
    /// one in seconds), or switches it off (`warm: null`; its idle warm instances are then
    /// terminated). NOT_FOUND for an unknown id; INVALID_INPUT for bad fields (counts beyond the
    /// pool's cap, an unknown time zone, …).
    async fn set_pool_warm(&self, ctx: &Context<'_>, id: ID, warm: Option<WarmInput>) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let pool = PoolId(parse_id("id", &id)?);
        let warm = warm.map(WarmInput::spec).transpose().map_err(|fields| invalid(ctx, fields))?;
        engine
            .app
            .execute(Command::SetPoolWarm { pool, warm }, meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        engine.app.dispatch_wake.notify_one();
        pool_view(engine, pool)
    }

    /// Rotates one pool's bootstrap token (after an instance of it may have leaked it): its
    /// previous token stays valid for the longest pool max runtime plus 15 minutes, other pools
    /// keep theirs, and its launch template gets a new version. NOT_FOUND for an unknown id;
    /// UNAVAILABLE when the token cannot be stored or recorded.
    async fn rotate_pool_bootstrap_token(&self, ctx: &Context<'_>, id: ID) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("id", &id)?);
        engine.rotate_pool_bootstrap_token(meta(ctx)?, id).await.map_err(|e| config_error(ctx, e))?;
        pool_view(engine, id)
    }

    /// Binds a repo to a REPO-scoped project. INVALID_INPUT for bad fields; NOT_FOUND for an
    /// unknown project; CONFLICT when the repo is bound already or the project is ORG-scoped.
    async fn bind_repo(&self, ctx: &Context<'_>, input: RepoInput) -> Result<RepoView> {
        repo_edit(ctx, input, false).await
    }

    /// Changes a binding's cap, tags or project. NOT_FOUND for an unbound repo or an unknown
    /// project; INVALID_INPUT for bad fields; CONFLICT when the project is ORG-scoped.
    async fn update_repo(&self, ctx: &Context<'_>, input: RepoInput) -> Result<RepoView> {
        repo_edit(ctx, input, true).await
    }

    /// Unbinds a repo (`owner/repo`, case-insensitive); its later jobs no longer route to the
    /// project. True once recorded; NOT_FOUND when it is not bound.
    async fn unbind_repo(&self, ctx: &Context<'_>, full_name: String) -> Result<bool> {
        let engine = engine(ctx)?;
        engine
            .app
            .execute(Command::UnbindRepo { full_name }, meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        Ok(true)
    }

    /// Imports a backup (version 1, Pacer's or the Go Pacer's), upserting projects by name, pools
    /// by project and name, repos by name. A dry run (the default) lists what would be created
    /// and updated; applying checks every pool against AWS, re-materialises every pool's launch
    /// template and records it all at once, or changes nothing and lists every error in
    /// `errors`. AWS_ERROR or UNAVAILABLE when AWS or the log fails while applying.
    async fn import_backup(
        &self,
        ctx: &Context<'_>,
        json: String,
        #[graphql(default = true)] dry_run: bool,
    ) -> Result<ImportResult> {
        let engine = engine(ctx)?;
        let backup: Backup = match serde_json::from_str(&json) {
            Ok(backup) => backup,
            Err(e) => {
                return Ok(ImportResult::rejected(
                    dry_run,
                    vec![pacer_domain::FieldError::new("json", format!("not a Pacer backup: {e}"))],
                ));
            }
        };
        if dry_run {
            return Ok(match engine.plan_backup(&backup) {
                Ok(plan) => ImportResult::of(&plan, true),
                Err(rejection) => ImportResult::rejected(true, rejection_fields(rejection)),
            });
        }
        match engine.import_backup(meta(ctx)?, backup).await {
            Ok((plan, _)) => Ok(ImportResult::of(&plan, false)),
            Err(crate::engine::ConfigChangeError::Rejected(rejection)) => {
                Ok(ImportResult::rejected(false, rejection_fields(rejection)))
            }
            Err(other) => Err(config_error(ctx, other)),
        }
    }
}

fn rejection_fields(rejection: pacer_domain::Rejection) -> Vec<pacer_domain::FieldError> {
    if rejection.fields.is_empty() {
        vec![pacer_domain::FieldError::new("", rejection.message)]
    } else {
        rejection.fields
    }
}

async fn repo_edit(ctx: &Context<'_>, input: RepoInput, update: bool) -> Result<RepoView> {
    let engine = engine(ctx)?;
    let project = ProjectId(parse_id("project_id", &input.project_id)?);
    let mut errors = Vec::new();
    let cap = input.cap.map(|c| natural("cap", c, &mut errors));
    if !errors.is_empty() {
        return Err(invalid(ctx, errors));
    }
    let spec = RepoSpec { full_name: input.full_name, cap, tags: tag_map(input.tags) };
    let key = spec.full_name.trim().to_ascii_lowercase();
    let command =
        if update { Command::UpdateRepo { project, spec } } else { Command::BindRepo { project, spec } };
    engine.app.execute(command, meta(ctx)?).await.map_err(|e| app_error(ctx, e))?;
    let state = engine.app.state();
    state
        .config
        .repos
        .get(&key)
        .map(|r| RepoView::of(&state, r))
        .ok_or_else(|| error(ErrorCode::NotFound, "repo vanished"))
}

/// Pool `id` as the API shows it, once a mutation recorded it.
fn pool_view(engine: &crate::engine::Engine, id: PoolId) -> Result<PoolView> {
    let state = engine.app.state();
    state
        .config
        .pool(id)
        .map(|p| PoolView::of(&state, p))
        .ok_or_else(|| error(ErrorCode::NotFound, "pool vanished"))
}

/// Settings and the caller's session.
/// A GitHub App creation for the browser to post to GitHub.
#[derive(SimpleObject)]
pub(super) struct GitHubAppCreation {
    /// Where to post the form (GitHub's new-App page, with the one-time `state`).
    pub url: String,
    /// The form field `manifest`: the App's manifest as JSON text.
    pub manifest: String,
}

#[derive(Default)]
pub(super) struct SystemMutation;

#[Object]
impl SystemMutation {
    /// Rotates every pool's bootstrap token (each pool's instances carry their pool's token
    /// only): the previous ones stay valid for the longest pool max runtime plus 15 minutes, and
    /// every pool's launch template gets a new version with its new token; the answer says per
    /// pool whether that worked (a pool whose template could not be re-versioned keeps its
    /// previous token until it is saved again). UNAVAILABLE when the key cannot be stored or
    /// recorded.
    async fn rotate_bootstrap_token(&self, ctx: &Context<'_>) -> Result<TokenRotation> {
        let engine = engine(ctx)?;
        let pools = engine.rotate_bootstrap_token(meta(ctx)?).await.map_err(|e| config_error(ctx, e))?;
        Ok(TokenRotation {
            settings: settings(engine),
            pools: pools
                .into_iter()
                .map(|p| PoolReversion {
                    pool_id: ID(p.pool.0.to_string()),
                    pool_name: p.name,
                    template_version: p.outcome.as_ref().ok().map(|&v| i32::try_from(v).unwrap_or(i32::MAX)),
                    error: p.outcome.err(),
                })
                .collect(),
        })
    }

    /// Starts creating Pacer's GitHub App from its manifest (webhook, the `workflow_job` event
    /// and exactly the permissions Pacer uses): the browser posts `manifest` as the form field
    /// `manifest` to `url`, GitHub asks the operator to confirm and sends them back to
    /// `/setup/github-app`, where Pacer keeps the App's key and webhook secret and starts using
    /// it. `name` is the App's name on GitHub (1 to 34 characters, unique there);
    /// `organization` owns it (the signed-in GitHub user without). The `state` in `url` is good
    /// for one use within an hour. INVALID_INPUT for a bad name or organization; CONFLICT when
    /// the App is set in the configuration or was created already.
    #[graphql(name = "beginGitHubAppCreation")]
    async fn begin_github_app_creation(
        &self,
        ctx: &Context<'_>,
        name: String,
        organization: Option<String>,
    ) -> Result<GitHubAppCreation> {
        let name = name.trim();
        let mut errors = Vec::new();
        if name.is_empty() || name.chars().count() > 34 {
            errors.push(pacer_domain::FieldError::new("name", "must be 1 to 34 characters"));
        }
        let organization = organization.map(|o| o.trim().to_owned()).filter(|o| !o.is_empty());
        let login = |o: &str| {
            o.len() <= 39 && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !o.starts_with('-')
        };
        if organization.as_deref().is_some_and(|o| !login(o)) {
            errors.push(pacer_domain::FieldError::new("organization", "must be a GitHub organization login"));
        }
        if !errors.is_empty() {
            return Err(invalid(ctx, errors));
        }
        let email = match principal(ctx)?.actor() {
            pacer_domain::Actor::User(email) => email,
            other => other.to_string(),
        };
        let public_url = &engine(ctx)?.settings.public_url;
        let creation = super::github_app(ctx)?
            .begin(&email, public_url, name, organization.as_deref())
            .map_err(|e| error(ErrorCode::Conflict, e.to_string()))?;
        Ok(GitHubAppCreation { url: creation.url, manifest: creation.manifest })
    }

    /// Overrides one retention with `days` (1 to 3,650, else INVALID_INPUT on `days`), or with
    /// `days` null goes back to its default from the configuration; recorded as
    /// `settings.retention_set` even when the value is already in force. Answers the settings.
    async fn set_retention(
        &self,
        ctx: &Context<'_>,
        kind: GqlRetentionKind,
        days: Option<i32>,
    ) -> Result<Settings> {
        let engine = engine(ctx)?;
        let mut errors = Vec::new();
        let days = days.map(|days| natural("days", days, &mut errors));
        if !errors.is_empty() {
            return Err(invalid(ctx, errors));
        }
        engine
            .app
            .execute(Command::SetRetention { kind: kind.into(), days }, meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        Ok(settings(engine))
    }

    /// Runs a full reaper pass now instead of at its next one (`reaper.interval_seconds`,
    /// default 60) and answers what it found: instances whose work is over or past max runtime
    /// are reaped, vanished ones recorded lost, stopped ones and untracked ones terminated.
    /// Takes as long as the pass (EC2 calls). UNAVAILABLE on a replica that does not hold the
    /// effects lease (the message names the holder).
    async fn reconcile_now(&self, ctx: &Context<'_>) -> Result<ReconcileReport> {
        let report = engine(ctx)?.reconcile_now().await.map_err(|e| error(ErrorCode::Unavailable, e))?;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(ReconcileReport {
            checked: count(report.checked),
            reaped: count(report.reaped),
            gone: count(report.gone),
            stopped_terminated: count(report.stopped_terminated),
            orphans: count(report.orphans),
            problems: report.problems,
        })
    }

    /// Disables a user (`user.disabled`): every session of theirs ends at once, open WebSockets
    /// are closed, and they cannot sign in (password or SSO) until `enableUser`. NOT_FOUND for
    /// an unknown email; CONFLICT when already disabled or when it is the caller's own account.
    async fn disable_user(&self, ctx: &Context<'_>, email: String) -> Result<ConsoleUser> {
        set_user_disabled(ctx, &email, true).await
    }

    /// Enables a disabled user again (`user.enabled`); they sign in anew. NOT_FOUND for an
    /// unknown email; CONFLICT when not disabled.
    async fn enable_user(&self, ctx: &Context<'_>, email: String) -> Result<ConsoleUser> {
        set_user_disabled(ctx, &email, false).await
    }

    /// Ends the caller's session: it is revoked and recorded (`auth.logout`), and its cookie and
    /// live subscriptions stop working; nothing to end when auth is disabled. Always true.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let engine = engine(ctx)?;
        let auth = ctx.data::<Arc<Auth>>()?;
        auth.logout(engine, principal(ctx)?).await;
        Ok(true)
    }
}

async fn set_user_disabled(ctx: &Context<'_>, email: &str, disabled: bool) -> Result<ConsoleUser> {
    let engine = engine(ctx)?;
    let by = principal(ctx)?.actor();
    auth::set_user_disabled(&engine.app, &engine.secrets, email, disabled, by).await.map_err(
        |e| match e {
            UserChangeError::Rejected(rejection) => rejected(ctx, rejection),
            UserChangeError::Yourself => error(ErrorCode::Conflict, e.to_string()).extend_with_field("email"),
            UserChangeError::Unavailable(message) => error(ErrorCode::Unavailable, message),
        },
    )?;
    let state = engine.app.state();
    let user = state.users.get(&email.trim().to_ascii_lowercase());
    user.map(ConsoleUser::from).ok_or_else(|| error(ErrorCode::NotFound, format!("user {email} not found")))
}
