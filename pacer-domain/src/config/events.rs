//! The configuration area's facts: projects, pools, launch templates and repo bindings created,
//! changed and removed, and config imports and exports.

use super::{PoolId, PoolSpec, ProjectId, ProjectSpec, RepoSpec, TemplateRef};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The counts of an import (what it created and updated) or an export (what the file holds,
/// in the `*_created` fields; the `*_updated` fields stay 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCounts {
    /// Projects the import created, or the export wrote.
    pub projects_created: u32,
    /// Existing projects the import changed (unchanged rows are not counted).
    pub projects_updated: u32,
    /// Pools the import created, or the export wrote.
    pub pools_created: u32,
    /// Existing pools the import changed.
    pub pools_updated: u32,
    /// Repo bindings the import created, or the export wrote.
    pub repos_created: u32,
    /// Existing repo bindings the import changed (possibly moving them to another project).
    pub repos_updated: u32,
}

/// `project.created`: an operator created a project (console, API or backup import).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCreated {
    /// The new project's id, [`crate::Config::next_project`] at the time.
    pub id: ProjectId,
    /// Its settings, normalised and validated.
    pub spec: ProjectSpec,
}

/// `project.updated`: an operator replaced a project's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectUpdated {
    /// The project changed.
    pub id: ProjectId,
    /// Its new settings, whole (not a patch), normalised and validated.
    pub spec: ProjectSpec,
}

/// `project.deleted`: an operator deleted a project that had no pools and no repos left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeleted {
    /// The project removed; its id is never reused.
    pub id: ProjectId,
    /// Its name when deleted, for the audit log.
    pub name: String,
}

/// `pool.created`: an operator created a pool (console, API or backup import); its launch
/// template follows in a `pool.template_materialized` of the same append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCreated {
    /// The new pool's id, [`crate::Config::next_pool`] at the time.
    pub id: PoolId,
    /// The project it belongs to, for its whole life.
    pub project: ProjectId,
    /// Its settings, normalised and validated.
    pub spec: PoolSpec,
}

/// `pool.updated`: an operator replaced a pool's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUpdated {
    /// The pool changed.
    pub id: PoolId,
    /// Its new settings, whole (not a patch), normalised and validated.
    pub spec: PoolSpec,
}

/// `pool.deleted`: an operator deleted a pool with no active jobs (its queued jobs failed in
/// the same append).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDeleted {
    /// The pool removed; its id is never reused.
    pub id: PoolId,
    /// The project it belonged to.
    pub project: ProjectId,
    /// Its name when deleted, for the audit log.
    pub name: String,
    /// Its launch template, which the host deletes with it; `None` if none was materialised.
    pub template: Option<TemplateRef>,
}

/// `pool.template_materialized`: the host created a pool's launch template or a new default
/// version of it (on pool save and import, and when its rendered user data changed, e.g.
/// after a bootstrap-token rotation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolTemplateMaterialized {
    /// The pool the template belongs to.
    pub pool: PoolId,
    /// The LT and its new default version.
    pub template: TemplateRef,
}

/// `pool.bootstrap_token_rotated`: an operator rotated one pool's bootstrap token (the token
/// itself lives beside the log, never in it); its template is re-versioned after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolBootstrapTokenRotated {
    /// The pool.
    pub pool: PoolId,
    /// Until when its previous token stays valid.
    pub previous_valid_until: Timestamp,
}

/// `repo.bound`: an operator bound a repo to a repo-scoped project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoBound {
    /// The repo-scoped project its jobs now route to.
    pub project: ProjectId,
    /// The binding, normalised and validated.
    pub spec: RepoSpec,
}

/// `repo.updated`: an operator replaced a binding, possibly moving it to another project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUpdated {
    /// The repo-scoped project it is bound to now.
    pub project: ProjectId,
    /// The new binding, whole (not a patch), normalised and validated.
    pub spec: RepoSpec,
}

/// `repo.unbound`: an operator removed a binding; the repo's new jobs are no longer routed
/// (unless an org-scoped project covers its owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUnbound {
    /// `owner/repo` as it was bound (original case).
    pub full_name: String,
    /// The project it was bound to.
    pub project: ProjectId,
}

/// `config.imported`: a backup was imported (after the creates and updates of the same
/// import, in the same append).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigImported {
    /// How many projects, pools and repos the import created and updated.
    pub counts: ConfigCounts,
}

/// `config.exported`: a backup was exported (console download or `pacer backup export`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigExported {
    /// How many projects, pools and repos the file holds (in the `*_created` fields).
    pub counts: ConfigCounts,
}
