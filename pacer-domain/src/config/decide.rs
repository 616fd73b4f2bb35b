//! The configuration area's rules: each operator edit is checked (validation, unique names and
//! runner labels, the tag cascade's limit, what must be emptied before a delete) and answered
//! with its facts or a [`Rejection`]. Guards come first; the events are built only once every
//! guard passed.

use super::backup::{Backup, ImportPlan, plan_import};
use super::events::*;
use super::model::{
    MAX_CASCADED_TAGS, PoolId, PoolSpec, ProjectId, ProjectSpec, RepoSpec, Scope, Tags, TemplateRef,
    cascade_tags,
};
use crate::event::Event;
use crate::job::{FailureStage, JobFailed, JobStatus, job_end};
use crate::labels::sanitize;
use crate::rejection::{FieldError, Rejection};
use crate::state::State;
use crate::time::Timestamp;
use std::collections::BTreeMap;

pub(crate) fn create_project(state: &State, spec: ProjectSpec) -> Result<Vec<Event>, Rejection> {
    let spec = spec.normalized();
    let mut errors = spec.validate();
    check_project_unique(state, None, &spec, &mut errors);
    Rejection::check(errors)?;
    let id = ProjectId(state.config.next_project.max(1));
    Ok(vec![Event::ProjectCreated(ProjectCreated { id, spec })])
}

pub(crate) fn update_project(
    state: &State,
    id: ProjectId,
    spec: ProjectSpec,
) -> Result<Vec<Event>, Rejection> {
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

pub(crate) fn delete_project(state: &State, id: ProjectId) -> Result<Vec<Event>, Rejection> {
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
    project: &Tags,
    pool: &Tags,
    repos: impl Iterator<Item = &'a Tags>,
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

pub(crate) fn create_pool(
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

pub(crate) fn update_pool(
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

pub(crate) fn delete_pool(state: &State, id: PoolId, now: Timestamp) -> Result<Vec<Event>, Rejection> {
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

/// A new default version of a pool's launch template, re-versioned by the host because its
/// rendered data changed; refused when the pool uses another template.
pub(crate) fn record_template(
    state: &State,
    pool: PoolId,
    template: TemplateRef,
) -> Result<Vec<Event>, Rejection> {
    let current = state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
    if current.template.as_ref().is_some_and(|t| t.id != template.id) {
        return Err(Rejection::conflict(None, format!("{pool} uses another launch template")));
    }
    Ok(vec![Event::PoolTemplateMaterialized(PoolTemplateMaterialized { pool, template })])
}

/// `pool.bootstrap_token_rotated`, for a pool that exists (the host rotated its token).
pub(crate) fn rotate_pool_token(
    state: &State,
    pool: PoolId,
    previous_valid_until: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    state.config.pool(pool).ok_or_else(|| Rejection::not_found(pool))?;
    Ok(vec![Event::PoolBootstrapTokenRotated(PoolBootstrapTokenRotated { pool, previous_valid_until })])
}

pub(crate) fn bind_repo(
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

pub(crate) fn unbind_repo(state: &State, full_name: &str) -> Result<Vec<Event>, Rejection> {
    let binding =
        state.config.repo(full_name).ok_or_else(|| Rejection::not_found(format!("repo {full_name}")))?;
    Ok(vec![Event::RepoUnbound(RepoUnbound {
        full_name: binding.spec.full_name.clone(),
        project: binding.project,
    })])
}

pub(crate) fn import(
    state: &State,
    backup: &Backup,
    templates: &BTreeMap<(String, String), TemplateRef>,
) -> Result<Vec<Event>, Rejection> {
    let ImportPlan { events, counts, .. } = plan_import(state, backup, templates)?;
    let mut events = events;
    events.push(Event::ConfigImported(ConfigImported { counts }));
    Ok(events)
}
