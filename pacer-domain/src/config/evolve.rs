//! How the configuration area's facts fold into [`Config`]. An update, delete or template of
//! something the configuration does not hold is an anomaly (the `Err` message); nothing here
//! refuses or panics.

use super::events::*;
use super::model::{Config, Pool, PoolId, Project, RepoBinding};
use crate::state::Folded;

impl Config {
    pub(crate) fn project_created(&mut self, e: &ProjectCreated) -> Folded {
        self.next_project = self.next_project.max(e.id.0 + 1);
        self.projects.insert(e.id, Project { id: e.id, spec: e.spec.clone() });
        Ok(())
    }

    pub(crate) fn project_updated(&mut self, e: &ProjectUpdated) -> Folded {
        let project = self.projects.get_mut(&e.id).ok_or_else(|| format!("update of unknown {}", e.id))?;
        project.spec = e.spec.clone();
        Ok(())
    }

    pub(crate) fn project_deleted(&mut self, e: &ProjectDeleted) -> Folded {
        self.projects.remove(&e.id).map(drop).ok_or_else(|| format!("delete of unknown {}", e.id))
    }

    pub(crate) fn pool_created(&mut self, e: &PoolCreated) -> Folded {
        self.next_pool = self.next_pool.max(e.id.0 + 1);
        let pool = Pool { id: e.id, project: e.project, spec: e.spec.clone(), template: None, warm: None };
        self.pools.insert(e.id, pool);
        self.keep_single_default(e.id);
        Ok(())
    }

    pub(crate) fn pool_updated(&mut self, e: &PoolUpdated) -> Folded {
        let pool = self.pools.get_mut(&e.id).ok_or_else(|| format!("update of unknown {}", e.id))?;
        pool.spec = e.spec.clone();
        self.keep_single_default(e.id);
        Ok(())
    }

    pub(crate) fn pool_deleted(&mut self, e: &PoolDeleted) -> Folded {
        self.pools.remove(&e.id).map(drop).ok_or_else(|| format!("delete of unknown {}", e.id))
    }

    pub(crate) fn template_materialized(&mut self, e: &PoolTemplateMaterialized) -> Folded {
        let pool = self.pools.get_mut(&e.pool).ok_or_else(|| format!("template for unknown {}", e.pool))?;
        pool.template = Some(e.template.clone());
        Ok(())
    }

    pub(crate) fn repo_bound(&mut self, e: &RepoBound) -> Folded {
        let binding = RepoBinding { project: e.project, spec: e.spec.clone() };
        self.repos.insert(e.spec.key(), binding);
        Ok(())
    }

    pub(crate) fn repo_updated(&mut self, e: &RepoUpdated) -> Folded {
        let binding = RepoBinding { project: e.project, spec: e.spec.clone() };
        match self.repos.insert(e.spec.key(), binding) {
            Some(_) => Ok(()),
            None => Err(format!("update of unbound repo {}", e.spec.full_name)),
        }
    }

    pub(crate) fn repo_unbound(&mut self, e: &RepoUnbound) -> Folded {
        match self.repos.remove(&e.full_name.to_ascii_lowercase()) {
            Some(_) => Ok(()),
            None => Err(format!("unbind of unbound repo {}", e.full_name)),
        }
    }

    /// A pool marked default takes the mark from every other pool of its project.
    fn keep_single_default(&mut self, pool: PoolId) {
        let Some(chosen) = self.pools.get(&pool) else { return };
        if !chosen.spec.is_default {
            return;
        }
        let project = chosen.project;
        for other in self.pools.values_mut() {
            if other.project == project && other.id != pool {
                other.spec.is_default = false;
            }
        }
    }
}
