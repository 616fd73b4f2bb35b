//! Webhook routing: which project covers a repo, and which of its pools takes
//! a job with the given labels.

use crate::config::{Config, Pool, PoolId, ProjectId};
use crate::job::{IgnoreReason, NoMatchReason};
use crate::labels::{sanitize, wants_self_hosted};

/// Where a `workflow_job` webhook's job goes, decided by [`route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Queue it in this pool.
    Pool {
        /// The project covering the repo (by binding, else by org).
        project: ProjectId,
        /// The chosen pool of that project.
        pool: PoolId,
    },
    /// Not ours (not `self-hosted`, no project covers the repo, or the project is disabled).
    Ignored(IgnoreReason),
    /// Ours, but no enabled pool of the project offers every label the job asks for.
    NoPoolMatch {
        /// The project covering the repo.
        project: ProjectId,
        /// Whether the project has no enabled pool or none matches.
        reason: NoMatchReason,
    },
}

/// Routes a job of `repo` (`owner/repo`) asking for `labels`.
pub fn route(config: &Config, repo: &str, labels: &[String]) -> Route {
    if !wants_self_hosted(labels) {
        return Route::Ignored(IgnoreReason::NotSelfHosted);
    }
    let owner = repo.split_once('/').map_or(repo, |(owner, _)| owner);
    let project = match config.repo(repo) {
        Some(binding) => config.project(binding.project),
        None => config.org_project(owner),
    };
    let Some(project) = project else {
        return Route::Ignored(IgnoreReason::UnboundRepo);
    };
    if project.spec.disabled {
        return Route::Ignored(IgnoreReason::ProjectDisabled);
    }
    let enabled: Vec<&Pool> = config.pools_of(project.id).filter(|p| !p.spec.disabled).collect();
    if enabled.is_empty() {
        return Route::NoPoolMatch { project: project.id, reason: NoMatchReason::NoPools };
    }
    let wanted: Vec<String> = labels.iter().map(|l| sanitize(l)).filter(|l| !l.is_empty()).collect();
    let candidates: Vec<&Pool> = enabled
        .into_iter()
        .filter(|pool| {
            let offered = config.runner_labels(pool, repo);
            wanted.iter().all(|w| offered.contains(w))
        })
        .collect();
    let by_priority = |pools: &mut Vec<&Pool>| pools.sort_by_key(|p| (p.spec.priority, p.id));
    let mut named: Vec<&Pool> =
        candidates.iter().copied().filter(|p| wanted.contains(&sanitize(&p.spec.name))).collect();
    by_priority(&mut named);
    let chosen =
        named.first().copied().or_else(|| candidates.iter().copied().find(|p| p.spec.is_default)).or_else(
            || {
                let mut all = candidates.clone();
                by_priority(&mut all);
                all.first().copied()
            },
        );
    match chosen {
        Some(pool) => Route::Pool { project: project.id, pool: pool.id },
        None => Route::NoPoolMatch { project: project.id, reason: NoMatchReason::NoMatch },
    }
}
