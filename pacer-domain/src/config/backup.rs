//! Backups: the version-1 JSON document of operator-edited config, its export from
//! the state, and the import plan. An import upserts by stable name (project by name, pool by
//! project + name, repo by full name) and is all-or-nothing: every row is checked by the same
//! `decide` rules as a console edit, against the configuration as the import would leave it,
//! and any error rejects the whole file with every error listed. The Go Pacer names caps
//! `max_concurrent_runners`: an export writes every cap under both names, so the Go Pacer reads
//! Pacer's files, and an import takes either name (`cap` when it has both), so the Go Pacer's
//! files import unchanged. The Go Pacer also stores an allocation strategy for `run_instances`
//! pools, where it does nothing; Pacer holds those pools to `cost` (see
//! [`SpawnMethod::fixed_allocation`]), so such a row imports with `cost`.

use super::events::ConfigCounts;
use crate::config::{
    AllocationStrategy, Config, PoolSpec, ProjectSpec, RepoSpec, Scope, SpawnMethod, Tags, TemplateRef,
};
use crate::decide::{Command, decide};
use crate::event::{Actor, Event, Recorded};
use crate::rejection::{FieldError, Rejection};
use crate::state::State;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only backup format version (also the Go Pacer's); any other is refused.
pub const BACKUP_VERSION: u32 = 1;

/// A backup document: operator-edited config only, no ids, jobs, users or secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Format version, [`BACKUP_VERSION`]; an import of any other is refused.
    pub version: u32,
    /// RFC 3339 time of the export (ignored on import).
    #[serde(default)]
    pub exported_at: String,
    /// Every project with its pools and repos, sorted by name on export.
    #[serde(default)]
    pub projects: Vec<BackupProject>,
}

/// A project row: a [`ProjectSpec`] in the file's shape, checked by the same rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupProject {
    /// Name, the upsert key (matched case-insensitively); see [`ProjectSpec::name`].
    pub name: String,
    /// Project concurrency ceiling, 0 = none; default 0. Read from either name; `cap`
    /// counts when both are given.
    #[serde(default)]
    pub cap: Option<u32>,
    /// `cap` under the Go Pacer's name, written alike so the Go Pacer reads it.
    #[serde(default)]
    pub max_concurrent_runners: Option<u32>,
    /// Project tags, cascaded to pools, instances and volumes; default none.
    #[serde(default)]
    pub tags: Tags,
    /// `repo` (default, also when empty) or `org`, case-insensitive.
    #[serde(default)]
    pub scope: String,
    /// GitHub org login for org scope; empty for repo scope.
    #[serde(default)]
    pub org_name: String,
    /// GitHub runner group for org scope; 0 (default) → group 1.
    #[serde(default)]
    pub runner_group_id: u64,
    /// Whether the project routes nothing; default false.
    #[serde(default)]
    pub disabled: bool,
    /// The project's pools, upserted by name within the project.
    #[serde(default)]
    pub pools: Vec<BackupPool>,
    /// The repos bound to the project, upserted by full name.
    #[serde(default)]
    pub repos: Vec<BackupRepo>,
}

fn default_priority() -> u32 {
    crate::config::DEFAULT_PRIORITY
}
fn default_runtime() -> u32 {
    crate::config::DEFAULT_MAX_RUNTIME_MINUTES
}

/// The cap a row gives under either name: `cap` when the file holds it (absent and null alike
/// count as not held), else `max_concurrent_runners`, the Go Pacer's name for it. An edit of
/// `cap` in an exported file thus counts without a matching edit of the other name.
fn either_cap(cap: Option<u32>, go: Option<u32>) -> Option<u32> {
    cap.or(go)
}

/// A pool row: a [`PoolSpec`] in the file's shape (empty strings for absent options), checked
/// by the same rules; absent fields take the [`PoolSpec`] defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPool {
    /// Name, the upsert key within the project (case-insensitive).
    pub name: String,
    /// The project's catch-all pool; default false.
    #[serde(default)]
    pub is_default: bool,
    /// Lower wins among matching pools; default [`crate::DEFAULT_PRIORITY`].
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// AMI id (`ami-…`); required.
    #[serde(default)]
    pub ami_id: String,
    /// EC2 instance types in preference order; at least one.
    #[serde(default)]
    pub instance_types: Vec<String>,
    /// Subnet ids (`subnet-…`); at least one.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Security group ids (`sg-…`); default none.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// IAM instance profile name or ARN; empty = none.
    #[serde(default)]
    pub iam_instance_profile: String,
    /// Root volume size in GiB; 0 (default) = the AMI's size.
    #[serde(default)]
    pub root_volume_gb: u32,
    /// Minutes before the reaper terminates an instance; default
    /// [`crate::DEFAULT_MAX_RUNTIME_MINUTES`].
    #[serde(default = "default_runtime")]
    pub max_runtime_minutes: u32,
    /// Most active jobs in the pool; default [`crate::DEFAULT_POOL_CAP`]. Read from either
    /// name; `cap` counts when both are given.
    #[serde(default)]
    pub cap: Option<u32>,
    /// `cap` under the Go Pacer's name, written alike so the Go Pacer reads it.
    #[serde(default)]
    pub max_concurrent_runners: Option<u32>,
    /// Launch on the spot market; default false (on-demand).
    #[serde(default)]
    pub spot: bool,
    /// Spot pools: retry on-demand after a spot capacity failure; default false.
    #[serde(default)]
    pub on_demand_fallback: bool,
    /// `fleet` (default, also when empty) or `run_instances`, case-insensitive.
    #[serde(default)]
    pub spawn_method: String,
    /// `cost` (default, also when empty), `lowest_price`, `capacity` or `priority`; a
    /// `run_instances` pool takes `cost` whatever the file says.
    #[serde(default)]
    pub allocation_strategy: String,
    /// Runner labels added after the derived ones; default none.
    #[serde(default)]
    pub extra_labels: Vec<String>,
    /// Pool tags, overriding the project's by key; default none.
    #[serde(default)]
    pub tags: Tags,
    /// Pinned runner version (`2.321.0`); empty = the runner already on the AMI.
    #[serde(default)]
    pub runner_version: String,
    /// POSIX user the runner runs as; empty = root.
    #[serde(default)]
    pub runner_user: String,
    /// Shell the user data runs before registering the runner; empty = none.
    #[serde(default)]
    pub user_data_extra: String,
    /// Whether the pool matches no job; default false.
    #[serde(default)]
    pub disabled: bool,
    /// Its warm capacity (`{"sizing": {"fixed": {"hot": 2, "stopped": 0}}, "max_age_minutes":
    /// 240}`); absent or null = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<crate::warm::WarmSpec>,
}

/// A repo row: a [`RepoSpec`] in the file's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRepo {
    /// `owner/repo`, the upsert key (case-insensitive); a repo bound elsewhere moves here.
    pub full_name: String,
    /// Most active jobs of the repo, 1..=[`crate::MAX_CAP`]; absent, null or 0 = no repo cap.
    /// Read from either name; `cap` counts when both are given.
    #[serde(default)]
    pub cap: Option<u32>,
    /// `cap` under the Go Pacer's name, written alike so the Go Pacer reads it.
    #[serde(default)]
    pub max_concurrent_runners: Option<u32>,
    /// Repo tags, stamped on instances at launch; default none.
    #[serde(default)]
    pub tags: Tags,
}

impl Backup {
    /// The backup of `config`, sorted by name.
    pub fn export(config: &Config, exported_at: Timestamp) -> Backup {
        let mut projects: Vec<BackupProject> = config
            .projects
            .values()
            .map(|project| {
                let spec = &project.spec;
                let mut pools: Vec<BackupPool> = config
                    .pools_of(project.id)
                    .map(|p| BackupPool { warm: p.warm.clone(), ..BackupPool::from(&p.spec) })
                    .collect();
                pools.sort_by(|a, b| a.name.cmp(&b.name));
                let repos = config
                    .repos_of(project.id)
                    .map(|r| BackupRepo {
                        full_name: r.spec.full_name.clone(),
                        cap: r.spec.cap,
                        max_concurrent_runners: r.spec.cap,
                        tags: r.spec.tags.clone(),
                    })
                    .collect();
                BackupProject {
                    name: spec.name.clone(),
                    cap: Some(spec.cap),
                    max_concurrent_runners: Some(spec.cap),
                    tags: spec.tags.clone(),
                    scope: spec.scope.as_str().to_owned(),
                    org_name: spec.org_name.clone(),
                    runner_group_id: spec.runner_group_id,
                    disabled: spec.disabled,
                    pools,
                    repos,
                }
            })
            .collect();
        projects.sort_by(|a, b| a.name.cmp(&b.name));
        Backup { version: BACKUP_VERSION, exported_at: exported_at.to_string(), projects }
    }

    /// Counts of what the document holds.
    pub fn counts(&self) -> ConfigCounts {
        ConfigCounts {
            projects_created: self.projects.len() as u32,
            pools_created: self.projects.iter().map(|p| p.pools.len() as u32).sum(),
            repos_created: self.projects.iter().map(|p| p.repos.len() as u32).sum(),
            ..ConfigCounts::default()
        }
    }
}

impl From<&PoolSpec> for BackupPool {
    fn from(spec: &PoolSpec) -> Self {
        BackupPool {
            name: spec.name.clone(),
            is_default: spec.is_default,
            priority: spec.priority,
            ami_id: spec.ami_id.clone(),
            instance_types: spec.instance_types.clone(),
            subnet_ids: spec.subnet_ids.clone(),
            security_group_ids: spec.security_group_ids.clone(),
            iam_instance_profile: spec.iam_instance_profile.clone().unwrap_or_default(),
            root_volume_gb: spec.root_volume_gb,
            max_runtime_minutes: spec.max_runtime_minutes,
            cap: Some(spec.cap),
            max_concurrent_runners: Some(spec.cap),
            spot: spec.spot,
            on_demand_fallback: spec.on_demand_fallback,
            spawn_method: spec.spawn_method.as_str().to_owned(),
            allocation_strategy: spec.allocation_strategy.as_str().to_owned(),
            extra_labels: spec.extra_labels.clone(),
            tags: spec.tags.clone(),
            runner_version: spec.runner_version.clone().unwrap_or_default(),
            runner_user: spec.runner_user.clone().unwrap_or_default(),
            user_data_extra: spec.user_data_extra.clone().unwrap_or_default(),
            disabled: spec.disabled,
            warm: None,
        }
    }
}

impl BackupProject {
    fn spec(&self) -> Result<ProjectSpec, Vec<FieldError>> {
        let scope = if self.scope.trim().is_empty() {
            Scope::Repo
        } else {
            Scope::parse(self.scope.trim())
                .ok_or_else(|| vec![FieldError::new("scope", "must be repo or org")])?
        };
        Ok(ProjectSpec {
            name: self.name.clone(),
            cap: either_cap(self.cap, self.max_concurrent_runners).unwrap_or_default(),
            tags: self.tags.clone(),
            scope,
            org_name: self.org_name.clone(),
            runner_group_id: self.runner_group_id,
            disabled: self.disabled,
        })
    }
}

impl BackupPool {
    fn spec(&self) -> Result<PoolSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let spawn_method = if self.spawn_method.trim().is_empty() {
            SpawnMethod::Fleet
        } else {
            SpawnMethod::parse(self.spawn_method.trim()).unwrap_or_else(|| {
                errors.push(FieldError::new("spawn_method", "must be fleet or run_instances"));
                SpawnMethod::Fleet
            })
        };
        let allocation_strategy = if self.allocation_strategy.trim().is_empty() {
            AllocationStrategy::Cost
        } else {
            AllocationStrategy::parse(self.allocation_strategy.trim()).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "allocation_strategy",
                    "must be cost, lowest_price, capacity or priority",
                ));
                AllocationStrategy::Cost
            })
        };
        // The Go Pacer keeps a strategy for run_instances pools too, where it does nothing.
        let allocation_strategy =
            spawn_method.fixed_allocation().map_or(allocation_strategy, |(fixed, _)| fixed);
        if !errors.is_empty() {
            return Err(errors);
        }
        let opt = |s: &str| Some(s.to_owned()).filter(|s| !s.trim().is_empty());
        Ok(PoolSpec::normalized(PoolSpec {
            name: self.name.clone(),
            is_default: self.is_default,
            priority: self.priority,
            ami_id: self.ami_id.clone(),
            instance_types: self.instance_types.clone(),
            subnet_ids: self.subnet_ids.clone(),
            security_group_ids: self.security_group_ids.clone(),
            iam_instance_profile: opt(&self.iam_instance_profile),
            root_volume_gb: self.root_volume_gb,
            max_runtime_minutes: self.max_runtime_minutes,
            cap: either_cap(self.cap, self.max_concurrent_runners).unwrap_or(crate::config::DEFAULT_POOL_CAP),
            spot: self.spot,
            on_demand_fallback: self.on_demand_fallback,
            spawn_method,
            allocation_strategy,
            extra_labels: self.extra_labels.clone(),
            tags: self.tags.clone(),
            runner_version: opt(&self.runner_version),
            runner_user: opt(&self.runner_user),
            user_data_extra: opt(&self.user_data_extra),
            disabled: self.disabled,
        }))
    }
}

/// What an import does to one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportAction {
    /// A new row.
    Create,
    /// An existing row changes.
    Update,
    /// An existing row stays as it is.
    Unchanged,
}

/// One row of an import plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportItem {
    /// `project`, `pool` or `repo`.
    pub kind: &'static str,
    /// Project name, `project/pool` or `owner/repo`, as the file spells it (trimmed).
    pub name: String,
    /// Whether the row creates, updates or leaves its entity unchanged.
    pub action: ImportAction,
}

/// What an import would do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportPlan {
    /// The events, in order (without the closing `config.imported`).
    pub events: Vec<Event>,
    /// Creates and updates per kind (unchanged rows not counted).
    pub counts: ConfigCounts,
    /// Every valid row and its action, in file order, for the dry-run preview.
    pub items: Vec<ImportItem>,
    /// Every pool of the file as (project name, pool name), lower-cased: the LTs to
    /// (re-)materialise, with the pool's spec as it will be.
    pub pools: Vec<((String, String), PoolSpec)>,
}

/// Plans importing `backup` into `state`; `templates` are the LTs materialised per pool.
pub fn plan_import(
    state: &State,
    backup: &Backup,
    templates: &BTreeMap<(String, String), TemplateRef>,
) -> Result<ImportPlan, Rejection> {
    if backup.version != BACKUP_VERSION {
        return Err(Rejection::field(
            "version",
            format!("unsupported backup version {} (expected 1)", backup.version),
        ));
    }
    let mut sim =
        Simulation { state: State { config: state.config.clone(), ..State::default() }, events: Vec::new() };
    let mut errors: Vec<FieldError> = Vec::new();
    let mut counts = ConfigCounts::default();
    let mut items = Vec::new();
    let mut pools = Vec::new();
    let mut seen_projects: Vec<String> = Vec::new();
    let mut seen_repos: Vec<String> = Vec::new();

    for (i, row) in backup.projects.iter().enumerate() {
        let at = format!("projects[{i}]");
        let lower = row.name.trim().to_ascii_lowercase();
        if seen_projects.contains(&lower) {
            errors.push(FieldError::new(format!("{at}.name"), "this project appears twice in the file"));
            continue;
        }
        seen_projects.push(lower.clone());
        let project_id = match row.spec() {
            Err(errs) => {
                errors.extend(errs.into_iter().map(|e| e.under(&at)));
                None
            }
            Ok(spec) => {
                let existing =
                    sim.state.config.project_named(spec.name.trim()).map(|p| (p.id, p.spec.clone()));
                let (command, action) = match existing {
                    Some((_, current)) if current == spec.clone().normalized() => {
                        (None, ImportAction::Unchanged)
                    }
                    Some((id, _)) => (Some(Command::UpdateProject { id, spec }), ImportAction::Update),
                    None => (Some(Command::CreateProject(spec)), ImportAction::Create),
                };
                let applied = match command {
                    Some(command) => sim.apply(command, &at, &mut errors),
                    None => true,
                };
                if applied {
                    tally(&mut counts.projects_created, &mut counts.projects_updated, action);
                    items.push(ImportItem { kind: "project", name: row.name.trim().to_owned(), action });
                }
                sim.state.config.project_named(row.name.trim()).map(|p| p.id).filter(|_| applied)
            }
        };

        let mut seen_pools: Vec<String> = Vec::new();
        for (j, pool_row) in row.pools.iter().enumerate() {
            let at = format!("{at}.pools[{j}]");
            let pool_lower = pool_row.name.trim().to_ascii_lowercase();
            if seen_pools.contains(&pool_lower) {
                errors.push(FieldError::new(format!("{at}.name"), "this pool appears twice in the project"));
                continue;
            }
            seen_pools.push(pool_lower.clone());
            let spec = match pool_row.spec() {
                Ok(spec) => spec,
                Err(errs) => {
                    errors.extend(errs.into_iter().map(|e| e.under(&at)));
                    continue;
                }
            };
            let Some(project) = project_id else {
                // The project row is invalid: still report this row's own mistakes.
                errors.extend(spec.validate().into_iter().map(|e| e.under(&at)));
                continue;
            };
            let key = (lower.clone(), pool_lower);
            let template = templates.get(&key).cloned();
            let existing = sim
                .state
                .config
                .pools_of(project)
                .find(|p| p.spec.name.eq_ignore_ascii_case(spec.name.trim()))
                .map(|p| (p.id, p.spec.clone()));
            let (command, action) = match existing {
                Some((id, current)) if current == spec => match template.clone() {
                    Some(template) => (
                        Some(Command::UpdatePool { id, spec: spec.clone(), template: Some(template) }),
                        ImportAction::Unchanged,
                    ),
                    None => (None, ImportAction::Unchanged),
                },
                Some((id, _)) => {
                    (Some(Command::UpdatePool { id, spec: spec.clone(), template }), ImportAction::Update)
                }
                None => (
                    Some(Command::CreatePool { project, spec: spec.clone(), template }),
                    ImportAction::Create,
                ),
            };
            let mut action = action;
            let mut applied = match command {
                Some(Command::UpdatePool { id, template: Some(template), .. })
                    if action == ImportAction::Unchanged =>
                {
                    sim.record(Event::PoolTemplateMaterialized(super::events::PoolTemplateMaterialized {
                        pool: id,
                        template,
                    }));
                    true
                }
                Some(command) => sim.apply(command, &at, &mut errors),
                None => true,
            };
            // Its warm capacity, as the file says (none when it says nothing).
            let saved = sim
                .state
                .config
                .pools_of(project)
                .find(|p| p.spec.name.eq_ignore_ascii_case(spec.name.trim()));
            if applied && let Some(saved) = saved.filter(|p| p.warm != pool_row.warm) {
                let command = Command::SetPoolWarm { pool: saved.id, warm: pool_row.warm.clone() };
                applied = sim.apply(command, &format!("{at}.warm"), &mut errors);
                if action == ImportAction::Unchanged {
                    action = ImportAction::Update;
                }
            }
            if applied {
                tally(&mut counts.pools_created, &mut counts.pools_updated, action);
                items.push(ImportItem {
                    kind: "pool",
                    name: format!("{}/{}", row.name.trim(), spec.name),
                    action,
                });
                pools.push((key, spec));
            }
        }

        for (k, repo_row) in row.repos.iter().enumerate() {
            let at = format!("{at}.repos[{k}]");
            let spec = RepoSpec {
                full_name: repo_row.full_name.clone(),
                cap: either_cap(repo_row.cap, repo_row.max_concurrent_runners).filter(|c| *c > 0),
                tags: repo_row.tags.clone(),
            }
            .normalized();
            let key = spec.key();
            if seen_repos.contains(&key) {
                errors
                    .push(FieldError::new(format!("{at}.full_name"), "this repo appears twice in the file"));
                continue;
            }
            seen_repos.push(key);
            let Some(project) = project_id else {
                errors.extend(spec.validate().into_iter().map(|e| e.under(&at)));
                continue;
            };
            let existing = sim.state.config.repo(&spec.full_name).cloned();
            let (command, action) = match existing {
                Some(b) if b.project == project && b.spec == spec => (None, ImportAction::Unchanged),
                Some(_) => (Some(Command::UpdateRepo { project, spec: spec.clone() }), ImportAction::Update),
                None => (Some(Command::BindRepo { project, spec: spec.clone() }), ImportAction::Create),
            };
            let applied = match command {
                Some(command) => sim.apply(command, &at, &mut errors),
                None => true,
            };
            if applied {
                tally(&mut counts.repos_created, &mut counts.repos_updated, action);
                items.push(ImportItem { kind: "repo", name: spec.full_name.clone(), action });
            }
        }
    }
    if !errors.is_empty() {
        return Err(Rejection::invalid(errors));
    }
    Ok(ImportPlan { events: sim.events, counts, items, pools })
}

fn tally(created: &mut u32, updated: &mut u32, action: ImportAction) {
    match action {
        ImportAction::Create => *created += 1,
        ImportAction::Update => *updated += 1,
        ImportAction::Unchanged => {}
    }
}

/// The configuration as the import leaves it, advanced row by row.
struct Simulation {
    state: State,
    events: Vec<Event>,
}

impl Simulation {
    fn apply(&mut self, command: Command, at: &str, errors: &mut Vec<FieldError>) -> bool {
        match decide(&self.state, command, Timestamp::default()) {
            Ok(events) => {
                for event in events {
                    self.record(event);
                }
                true
            }
            Err(rejection) if rejection.fields.is_empty() => {
                errors.push(FieldError::new(at, rejection.message));
                false
            }
            Err(rejection) => {
                errors.extend(rejection.fields.into_iter().map(|e| e.under(at)));
                false
            }
        }
    }

    fn record(&mut self, event: Event) {
        let seq = self.state.last_seq + 1;
        let record =
            Recorded { seq, at: Timestamp::default(), actor: Actor::System, request_id: None, event };
        self.state.evolve(&record);
        self.events.push(record.event);
    }
}
