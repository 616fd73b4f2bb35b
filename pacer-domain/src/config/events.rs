//! The configuration area's facts: projects, pools, launch templates and repo bindings created,
//! changed and removed, and config imports and exports.

use super::{PoolId, PoolSpec, ProjectId, ProjectSpec, RepoSpec, TemplateRef};
use serde::{Deserialize, Serialize};

/// The counts of an import or export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCounts {
    /// Projects created (import) or exported.
    pub projects_created: u32,
    /// Projects updated (import).
    pub projects_updated: u32,
    /// Pools created (import) or exported.
    pub pools_created: u32,
    /// Pools updated (import).
    pub pools_updated: u32,
    /// Repos created (import) or exported.
    pub repos_created: u32,
    /// Repos updated (import).
    pub repos_updated: u32,
}

/// `project.created`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCreated {
    /// New id.
    pub id: ProjectId,
    /// Settings.
    pub spec: ProjectSpec,
}

/// `project.updated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectUpdated {
    /// Project.
    pub id: ProjectId,
    /// New settings (whole).
    pub spec: ProjectSpec,
}

/// `project.deleted`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeleted {
    /// Project.
    pub id: ProjectId,
    /// Its name when deleted.
    pub name: String,
}

/// `pool.created`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCreated {
    /// New id.
    pub id: PoolId,
    /// Owning project.
    pub project: ProjectId,
    /// Settings.
    pub spec: PoolSpec,
}

/// `pool.updated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUpdated {
    /// Pool.
    pub id: PoolId,
    /// New settings (whole).
    pub spec: PoolSpec,
}

/// `pool.deleted`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDeleted {
    /// Pool.
    pub id: PoolId,
    /// Owning project.
    pub project: ProjectId,
    /// Its name when deleted.
    pub name: String,
    /// Its launch template, deleted with it.
    pub template: Option<TemplateRef>,
}

/// `pool.template_materialized`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolTemplateMaterialized {
    /// Pool.
    pub pool: PoolId,
    /// The LT and its new default version.
    pub template: TemplateRef,
}

/// `repo.bound`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoBound {
    /// Project it is bound to.
    pub project: ProjectId,
    /// Settings.
    pub spec: RepoSpec,
}

/// `repo.updated`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUpdated {
    /// Project it is bound to now.
    pub project: ProjectId,
    /// New settings (whole).
    pub spec: RepoSpec,
}

/// `repo.unbound`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoUnbound {
    /// `owner/repo`.
    pub full_name: String,
    /// Project it was bound to.
    pub project: ProjectId,
}

/// `config.imported` (after the creates and updates of the same import, in the same append)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigImported {
    /// What changed.
    pub counts: ConfigCounts,
}

/// `config.exported`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigExported {
    /// What was exported.
    pub counts: ConfigCounts,
}
