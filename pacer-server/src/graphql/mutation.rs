//! Mutations, thin: build a command (or call the engine's EC2-aware edit), record it as the
//! signed-in user, return the view.

use super::query::{Settings, settings};
use super::types::*;
use super::{app_error, config_error, engine, error, invalid, principal};
use crate::app::Meta;
use crate::auth::Auth;
use async_graphql::{Context, Enum, ID, MergedObject, Object, Result, SimpleObject};
use pacer_domain::{Backup, Command, Event, ImportAction, PoolId, ProjectId, RepoSpec};
use std::sync::Arc;

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(ConfigMutation, SystemMutation);

fn meta(ctx: &Context<'_>) -> Result<Meta> {
    Ok(Meta::by(principal(ctx)?.actor()))
}

fn id_of(field: &str, id: &ID) -> Result<u64> {
    use async_graphql::ErrorExtensions;
    let field = field.to_owned();
    id.parse::<u64>().map_err(|_| {
        error("INVALID_INPUT", format!("{field} must be a numeric id"))
            .extend_with(move |_, e| e.set("field", field.clone()))
    })
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
    /// New.
    Create,
    /// Changed.
    Update,
    /// As it was.
    Unchanged,
}

/// One row of an import.
#[derive(SimpleObject)]
pub struct ImportItem {
    /// project, pool or repo.
    pub kind: String,
    /// Name.
    pub name: String,
    /// What happens.
    pub action: GqlImportAction,
}

/// A field error.
#[derive(SimpleObject)]
pub struct FieldErrorView {
    /// Path of the field.
    pub field: String,
    /// Why.
    pub message: String,
}

/// The outcome of an import or its dry run.
#[derive(SimpleObject)]
pub struct ImportResult {
    /// Only planned.
    pub dry_run: bool,
    /// Recorded.
    pub applied: bool,
    /// Every row.
    pub items: Vec<ImportItem>,
    /// Counts.
    pub projects_created: i32,
    /// Counts.
    pub projects_updated: i32,
    /// Counts.
    pub pools_created: i32,
    /// Counts.
    pub pools_updated: i32,
    /// Counts.
    pub repos_created: i32,
    /// Counts.
    pub repos_updated: i32,
    /// Every error (nothing changed when any).
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

/// Projects, pools, repos, backups.
#[derive(Default)]
pub struct ConfigMutation;

#[Object]
impl ConfigMutation {
    /// Creates a project.
    async fn create_project(&self, ctx: &Context<'_>, input: ProjectInput) -> Result<ProjectView> {
        let engine = engine(ctx)?;
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        let records = engine
            .app
            .execute(Command::CreateProject(spec), meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        let id = created_project(&records).ok_or_else(|| error("UNAVAILABLE", "project not created"))?;
        let state = engine.app.state();
        state
            .config
            .project(id)
            .map(|p| ProjectView::of(&state, p))
            .ok_or_else(|| error("NOT_FOUND", "project vanished"))
    }

    /// Replaces a project's settings.
    async fn update_project(&self, ctx: &Context<'_>, id: ID, input: ProjectInput) -> Result<ProjectView> {
        let engine = engine(ctx)?;
        let id = ProjectId(id_of("id", &id)?);
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        engine
            .app
            .execute(Command::UpdateProject { id, spec }, meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        let state = engine.app.state();
        state
            .config
            .project(id)
            .map(|p| ProjectView::of(&state, p))
            .ok_or_else(|| error("NOT_FOUND", "project vanished"))
    }

    /// Deletes a project (it must have no pools and no repos).
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let engine = engine(ctx)?;
        let id = ProjectId(id_of("id", &id)?);
        engine.app.execute(Command::DeleteProject { id }, meta(ctx)?).await.map_err(|e| app_error(ctx, e))?;
        Ok(true)
    }

    /// Creates a pool: validated against AWS, its launch template created, then recorded.
    async fn create_pool(&self, ctx: &Context<'_>, project_id: ID, input: PoolInput) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let project = ProjectId(id_of("project_id", &project_id)?);
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        let records =
            engine.create_pool(meta(ctx)?, project, spec).await.map_err(|e| config_error(ctx, e))?;
        let id = created_pool(&records).ok_or_else(|| error("UNAVAILABLE", "pool not created"))?;
        let state = engine.app.state();
        state
            .config
            .pool(id)
            .map(|p| PoolView::of(&state, p))
            .ok_or_else(|| error("NOT_FOUND", "pool vanished"))
    }

    /// Updates a pool: validated against AWS, a new default template version, recorded.
    async fn update_pool(&self, ctx: &Context<'_>, id: ID, input: PoolInput) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let id = PoolId(id_of("id", &id)?);
        let spec = input.spec().map_err(|fields| invalid(ctx, fields))?;
        engine.update_pool(meta(ctx)?, id, spec).await.map_err(|e| config_error(ctx, e))?;
        let state = engine.app.state();
        state
            .config
            .pool(id)
            .map(|p| PoolView::of(&state, p))
            .ok_or_else(|| error("NOT_FOUND", "pool vanished"))
    }

    /// Copies a pool (name defaults to `<name>-copy`).
    async fn copy_pool(&self, ctx: &Context<'_>, id: ID, name: Option<String>) -> Result<PoolView> {
        let engine = engine(ctx)?;
        let id = PoolId(id_of("id", &id)?);
        let records = engine.copy_pool(meta(ctx)?, id, name).await.map_err(|e| config_error(ctx, e))?;
        let id = created_pool(&records).ok_or_else(|| error("UNAVAILABLE", "pool not created"))?;
        let state = engine.app.state();
        state
            .config
            .pool(id)
            .map(|p| PoolView::of(&state, p))
            .ok_or_else(|| error("NOT_FOUND", "pool vanished"))
    }

    /// Deletes a pool (no active jobs) and its launch template.
    async fn delete_pool(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let engine = engine(ctx)?;
        let id = PoolId(id_of("id", &id)?);
        engine.delete_pool(meta(ctx)?, id).await.map_err(|e| config_error(ctx, e))?;
        Ok(true)
    }

    /// Binds a repo to a repo-scoped project.
    async fn bind_repo(&self, ctx: &Context<'_>, input: RepoInput) -> Result<RepoView> {
        repo_edit(ctx, input, false).await
    }

    /// Changes a binding (cap, tags, or its project).
    async fn update_repo(&self, ctx: &Context<'_>, input: RepoInput) -> Result<RepoView> {
        repo_edit(ctx, input, true).await
    }

    /// Unbinds a repo.
    async fn unbind_repo(&self, ctx: &Context<'_>, full_name: String) -> Result<bool> {
        let engine = engine(ctx)?;
        engine
            .app
            .execute(Command::UnbindRepo { full_name }, meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        Ok(true)
    }

    /// Imports a backup (version 1, Pacer's or the Go Pacer's): a dry run lists what would be
    /// created and updated; applying re-materialises every pool's launch template and records it
    /// all at once, or changes nothing and lists every error.
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
    let project = ProjectId(id_of("project_id", &input.project_id)?);
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
        .ok_or_else(|| error("NOT_FOUND", "repo vanished"))
}

/// Settings and session.
#[derive(Default)]
pub struct SystemMutation;

#[Object]
impl SystemMutation {
    /// Rotates the bootstrap token; the previous one stays valid for the longest max runtime,
    /// and every pool's launch template gets the new one.
    async fn rotate_bootstrap_token(&self, ctx: &Context<'_>) -> Result<Settings> {
        let engine = engine(ctx)?;
        engine.rotate_bootstrap_token(meta(ctx)?).await.map_err(|e| config_error(ctx, e))?;
        Ok(settings(engine))
    }

    /// Sets how many days finished jobs stay in the jobs view.
    async fn set_retention(&self, ctx: &Context<'_>, days: i32) -> Result<Settings> {
        let engine = engine(ctx)?;
        let mut errors = Vec::new();
        let days = natural("days", days, &mut errors);
        if !errors.is_empty() {
            return Err(invalid(ctx, errors));
        }
        engine
            .app
            .execute(Command::SetRetention { days }, meta(ctx)?)
            .await
            .map_err(|e| app_error(ctx, e))?;
        Ok(settings(engine))
    }

    /// Runs the reaper now.
    async fn reconcile_now(&self, ctx: &Context<'_>) -> Result<bool> {
        engine(ctx)?.reconcile_now();
        Ok(true)
    }

    /// Ends the caller's session.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let engine = engine(ctx)?;
        let auth = ctx.data::<Arc<Auth>>()?;
        auth.logout(engine, principal(ctx)?).await;
        Ok(true)
    }
}
