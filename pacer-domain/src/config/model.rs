//! Operator-edited configuration: projects, pools and repo bindings, their specs as
//! operators write them, the context-free validation shared with the console, and the tag
//! cascade with the reserved `gha:` prefix.

use crate::labels::{runner_labels, runs_on_line, sanitize};
use crate::rejection::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// User tags: key → value, ordered by key; keys 1..=128 characters, values at most 256, no
/// `gha:` or `aws:` key prefix, at most 40 (`MAX_TAGS_PER_ENTITY`) per project, pool or repo.
pub type Tags = BTreeMap<String, String>;

/// Most user tags on one project, pool or repo binding.
pub const MAX_TAGS_PER_ENTITY: usize = 40;
/// Most user tags after the cascade (AWS allows 50 per resource; Pacer adds six `gha:` tags).
pub const MAX_CASCADED_TAGS: usize = 44;
/// Longest name of a project or pool, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest pool max runtime, in minutes: one week.
pub const MAX_RUNTIME_MINUTES: u32 = 10_080;
/// Default pool max runtime, in minutes.
pub const DEFAULT_MAX_RUNTIME_MINUTES: u32 = 60;
/// Default pool concurrency cap (active jobs at once).
pub const DEFAULT_POOL_CAP: u32 = 5;
/// Default pool priority (lower wins).
pub const DEFAULT_PRIORITY: u32 = 100;
/// Largest concurrency cap of a project, pool or repo.
pub const MAX_CAP: u32 = 10_000;
/// Largest pool priority number (lower wins).
pub const MAX_PRIORITY: u32 = 10_000;
/// Most instance types in a pool.
pub const MAX_INSTANCE_TYPES: usize = 20;
/// Most subnets in a pool.
pub const MAX_SUBNETS: usize = 16;
/// Most security groups in a pool (per network interface).
pub const MAX_SECURITY_GROUPS: usize = 5;
/// Most extra runner labels in a pool.
pub const MAX_EXTRA_LABELS: usize = 20;
/// Longest extra runner label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Largest root volume (gp3 maximum, GiB).
pub const MAX_ROOT_VOLUME_GB: u32 = 16_384;
/// Largest `user_data_extra` in bytes (the LT's user data must stay under 16 KiB).
pub const MAX_USER_DATA_EXTRA_BYTES: usize = 8_192;
/// The reserved tag-key and label prefix.
pub const RESERVED_PREFIX: &str = "gha:";

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A project's id, assigned by the log in creation order.
    ProjectId,
    "project #"
);
id_type!(
    /// A pool's id, assigned by the log in creation order.
    PoolId,
    "pool #"
);

/// How repos reach a project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Repos are bound one by one.
    #[default]
    Repo,
    /// Every repo of the GitHub org `org_name` is covered.
    Org,
}

impl Scope {
    /// `repo` or `org`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Repo => "repo",
            Scope::Org => "org",
        }
    }

    /// Parses `repo` or `org` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "repo" => Some(Scope::Repo),
            "org" => Some(Scope::Org),
            _ => None,
        }
    }
}

/// How a pool asks EC2 for an instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpawnMethod {
    /// One CreateFleet `instant` request over every type × subnet.
    #[default]
    Fleet,
    /// One RunInstances per type, in order, first subnet only.
    RunInstances,
}

impl SpawnMethod {
    /// `fleet` or `run_instances`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpawnMethod::Fleet => "fleet",
            SpawnMethod::RunInstances => "run_instances",
        }
    }

    /// Parses `fleet` or `run_instances` (case-insensitive; `runinstances` too).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "fleet" => Some(SpawnMethod::Fleet),
            "run_instances" | "runinstances" => Some(SpawnMethod::RunInstances),
            _ => None,
        }
    }

    /// The one allocation strategy a pool of this method may have, and why; `None` when it
    /// may have any. `run_instances` tries the instance types one at a time, in order, so
    /// there is nothing to allocate among: it keeps the default, [`AllocationStrategy::Cost`].
    pub fn fixed_allocation(self) -> Option<(AllocationStrategy, &'static str)> {
        match self {
            SpawnMethod::Fleet => None,
            SpawnMethod::RunInstances => Some((
                AllocationStrategy::Cost,
                "run_instances tries the instance types one at a time in order, so there is no fleet to allocate",
            )),
        }
    }
}

/// How CreateFleet picks among a pool's overrides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllocationStrategy {
    /// On-demand lowest-price, spot price-capacity-optimized.
    #[default]
    Cost,
    /// Lowest price for both markets.
    LowestPrice,
    /// On-demand lowest-price, spot capacity-optimized.
    Capacity,
    /// The instance-type order decides (prioritized / capacity-optimized-prioritized).
    Priority,
}

impl AllocationStrategy {
    /// `cost`, `lowest_price`, `capacity` or `priority`, as in backups and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AllocationStrategy::Cost => "cost",
            AllocationStrategy::LowestPrice => "lowest_price",
            AllocationStrategy::Capacity => "capacity",
            AllocationStrategy::Priority => "priority",
        }
    }

    /// What the strategy does, in a line for the pool editor.
    pub fn describe(self) -> &'static str {
        match self {
            AllocationStrategy::Cost => {
                "the cheapest type and subnet on demand; on spot, cheap pools with spare capacity (price-capacity-optimized), so fewer interruptions"
            }
            AllocationStrategy::LowestPrice => {
                "the cheapest type and subnet in both markets; spot instances are interrupted more often"
            }
            AllocationStrategy::Capacity => {
                "the cheapest on demand; on spot, the pools with the most spare capacity (capacity-optimized), whatever the price"
            }
            AllocationStrategy::Priority => {
                "the instance types in the order listed, the first that has capacity (on spot, as far as capacity allows)"
            }
        }
    }

    /// Parses an [`Self::as_str`] name (case-insensitive; `lowest-price` too).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "cost" => Some(AllocationStrategy::Cost),
            "lowest_price" | "lowest-price" => Some(AllocationStrategy::LowestPrice),
            "capacity" => Some(AllocationStrategy::Capacity),
            "priority" => Some(AllocationStrategy::Priority),
            _ => None,
        }
    }
}

/// A project as an operator writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// Name, 1..=128 (`MAX_NAME_CHARS`) characters, unique case-insensitively and after
    /// [`sanitize`]; its sanitised form is a runner label of every pool of the project.
    pub name: String,
    /// Most active (claimed, starting, running) jobs across the project; 0 = no project
    /// ceiling; at most [`MAX_CAP`].
    pub cap: u32,
    /// Tags on the project's launch templates, instances and volumes; pool tags, then repo
    /// tags, override them by key.
    pub tags: Tags,
    /// How repos reach the project; default [`Scope::Repo`]. Switching to org scope needs
    /// every repo unbound first.
    pub scope: Scope,
    /// The GitHub org login for org scope (no other org-scoped project may cover it); empty
    /// for repo scope.
    pub org_name: String,
    /// The GitHub runner group org runners join (org scope only); 0 → GitHub's default group 1
    /// (see [`ProjectSpec::effective_runner_group`]).
    pub runner_group_id: u64,
    /// A disabled project routes nothing: its webhooks are ignored and its queued jobs wait.
    pub disabled: bool,
}

impl ProjectSpec {
    /// Trims names so equal-looking specs compare equal.
    pub fn normalized(mut self) -> Self {
        self.name = self.name.trim().to_owned();
        self.org_name = self.org_name.trim().to_owned();
        self
    }

    /// Context-free validation: every rule that needs no other state.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate_name("name", &self.name, &mut errors);
        if self.cap > MAX_CAP {
            errors.push(FieldError::new("cap", format!("must be at most {MAX_CAP}")));
        }
        validate_tags("tags", &self.tags, &mut errors);
        match self.scope {
            Scope::Org => {
                if self.org_name.is_empty() {
                    errors.push(FieldError::new("org_name", "required for org scope"));
                } else if !is_github_login(&self.org_name) {
                    errors.push(FieldError::new(
                        "org_name",
                        "must be a GitHub org login (1..=39 letters, digits or single hyphens)",
                    ));
                }
            }
            Scope::Repo => {
                if !self.org_name.is_empty() {
                    errors.push(FieldError::new("org_name", "only allowed with org scope"));
                }
                if self.runner_group_id != 0 {
                    errors.push(FieldError::new("runner_group_id", "only allowed with org scope"));
                }
            }
        }
        errors
    }

    /// The runner group GitHub should put org runners in.
    pub fn effective_runner_group(&self) -> u64 {
        if self.runner_group_id == 0 { 1 } else { self.runner_group_id }
    }
}

/// A pool as an operator writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Name, 1..=128 (`MAX_NAME_CHARS`) characters, unique within the project after
    /// [`sanitize`]; its sanitised form is one of the pool's runner labels.
    pub name: String,
    /// The project's catch-all pool: chosen among the matching pools when none is named in
    /// the job's labels; marking one takes the mark from the project's other pools.
    pub is_default: bool,
    /// Order among matching pools, lower wins; default [`DEFAULT_PRIORITY`], at most
    /// 10,000 (`MAX_PRIORITY`).
    pub priority: u32,
    /// The AMI instances boot (`ami-` and 8 to 17 lower-case hex digits); the host checks it
    /// exists before saving.
    pub ami_id: String,
    /// EC2 instance types (`family.size`, e.g. `m7i.large`) in preference order; 1 to
    /// 20 (`MAX_INSTANCE_TYPES`), no duplicates.
    pub instance_types: Vec<String>,
    /// Subnets to launch in (`subnet-…`), 1 to 16 (`MAX_SUBNETS`); `run_instances` launches
    /// in the first one only.
    pub subnet_ids: Vec<String>,
    /// Security groups of the instance's network interface (`sg-…`), 0 to
    /// 5 (`MAX_SECURITY_GROUPS`).
    pub security_group_ids: Vec<String>,
    /// IAM instance profile name or ARN given to instances; `None` = no profile.
    pub iam_instance_profile: Option<String>,
    /// Root volume size in GiB (gp3, encrypted); 0 = the AMI's own size; at most
    /// 16,384 (`MAX_ROOT_VOLUME_GB`).
    pub root_volume_gb: u32,
    /// Minutes an instance may run before the reaper terminates it and reaps its job;
    /// default [`DEFAULT_MAX_RUNTIME_MINUTES`], 1..=[`MAX_RUNTIME_MINUTES`].
    pub max_runtime_minutes: u32,
    /// Most active jobs in this pool at once; default [`DEFAULT_POOL_CAP`], 1..=[`MAX_CAP`].
    pub cap: u32,
    /// Launch on the spot market (one-time, terminated on interruption); default on-demand.
    pub spot: bool,
    /// Spot pools only: retry a job on-demand after its first spot capacity failure.
    pub on_demand_fallback: bool,
    /// How EC2 is asked for the instance; default [`SpawnMethod::Fleet`].
    pub spawn_method: SpawnMethod,
    /// How CreateFleet picks among type × subnet overrides; default
    /// [`AllocationStrategy::Cost`], the only one `run_instances` takes (it tries the types in
    /// order and has nothing to choose among).
    pub allocation_strategy: AllocationStrategy,
    /// Runner labels added after the derived ones, 0 to 20 (`MAX_EXTRA_LABELS`), each at most
    /// 64 (`MAX_LABEL_CHARS`) characters, no `gha:` prefix.
    pub extra_labels: Vec<String>,
    /// Tags on the pool's launch template, instances and volumes, overriding the project's by
    /// key; repo tags override them in turn.
    pub tags: Tags,
    /// Runner version the user data downloads and verifies (`2.321.0`); `None` = the runner
    /// already installed on the AMI.
    pub runner_version: Option<String>,
    /// POSIX user the runner runs as, created if missing (lower-case, at most 32 characters);
    /// `None` = root.
    pub runner_user: Option<String>,
    /// Shell the user data runs before registering the runner, at most
    /// 8,192 (`MAX_USER_DATA_EXTRA_BYTES`) bytes, no NUL; `None` = nothing extra.
    pub user_data_extra: Option<String>,
    /// A disabled pool matches no new job, and its queued jobs are not claimed.
    pub disabled: bool,
}

impl Default for PoolSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            is_default: false,
            priority: DEFAULT_PRIORITY,
            ami_id: String::new(),
            instance_types: Vec::new(),
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
            iam_instance_profile: None,
            root_volume_gb: 0,
            max_runtime_minutes: DEFAULT_MAX_RUNTIME_MINUTES,
            cap: DEFAULT_POOL_CAP,
            spot: false,
            on_demand_fallback: false,
            spawn_method: SpawnMethod::Fleet,
            allocation_strategy: AllocationStrategy::Cost,
            extra_labels: Vec::new(),
            tags: Tags::new(),
            runner_version: None,
            runner_user: None,
            user_data_extra: None,
            disabled: false,
        }
    }
}

impl PoolSpec {
    /// Trims text fields and turns empty optional strings into `None`.
    pub fn normalized(mut self) -> Self {
        fn opt(value: Option<String>) -> Option<String> {
            value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        }
        fn list(values: Vec<String>) -> Vec<String> {
            values.into_iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
        }
        self.name = self.name.trim().to_owned();
        self.ami_id = self.ami_id.trim().to_owned();
        self.instance_types = list(self.instance_types);
        self.subnet_ids = list(self.subnet_ids);
        self.security_group_ids = list(self.security_group_ids);
        self.extra_labels = list(self.extra_labels);
        self.iam_instance_profile = opt(self.iam_instance_profile);
        self.runner_version = opt(self.runner_version);
        self.runner_user = opt(self.runner_user);
        self.user_data_extra = self.user_data_extra.filter(|v| !v.trim().is_empty());
        self
    }

    /// Context-free validation: every rule that needs no other state or AWS.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let e = &mut errors;
        validate_name("name", &self.name, e);
        if self.priority > MAX_PRIORITY {
            e.push(FieldError::new("priority", format!("must be at most {MAX_PRIORITY}")));
        }
        if !is_aws_id(&self.ami_id, "ami-") {
            e.push(FieldError::new("ami_id", "must look like ami-0123456789abcdef0"));
        }
        validate_list("instance_types", &self.instance_types, 1, MAX_INSTANCE_TYPES, e, |t| {
            is_instance_type(t).then_some(()).ok_or("must look like family.size, e.g. m7i.large")
        });
        validate_list("subnet_ids", &self.subnet_ids, 1, MAX_SUBNETS, e, |s| {
            is_aws_id(s, "subnet-").then_some(()).ok_or("must look like subnet-0123456789abcdef0")
        });
        validate_list("security_group_ids", &self.security_group_ids, 0, MAX_SECURITY_GROUPS, e, |s| {
            is_aws_id(s, "sg-").then_some(()).ok_or("must look like sg-0123456789abcdef0")
        });
        if let Some(profile) = &self.iam_instance_profile
            && !is_instance_profile(profile)
        {
            e.push(FieldError::new(
                "iam_instance_profile",
                "must be an instance profile name (letters, digits, +=,.@_-) or its ARN",
            ));
        }
        if self.root_volume_gb > MAX_ROOT_VOLUME_GB {
            e.push(FieldError::new("root_volume_gb", format!("must be at most {MAX_ROOT_VOLUME_GB}")));
        }
        if !(1..=MAX_RUNTIME_MINUTES).contains(&self.max_runtime_minutes) {
            e.push(FieldError::new(
                "max_runtime_minutes",
                format!("must be between 1 and {MAX_RUNTIME_MINUTES}"),
            ));
        }
        if !(1..=MAX_CAP).contains(&self.cap) {
            e.push(FieldError::new("cap", format!("must be between 1 and {MAX_CAP}")));
        }
        if self.on_demand_fallback && !self.spot {
            e.push(FieldError::new("on_demand_fallback", "only applies to spot pools"));
        }
        if let Some((fixed, why)) = self.spawn_method.fixed_allocation()
            && self.allocation_strategy != fixed
        {
            e.push(FieldError::new(
                "allocation_strategy",
                format!("must be {} with {}: {why}", fixed.as_str(), self.spawn_method.as_str()),
            ));
        }
        validate_list("extra_labels", &self.extra_labels, 0, MAX_EXTRA_LABELS, e, |l| {
            if l.chars().count() > MAX_LABEL_CHARS {
                Err("must be at most 64 characters")
            } else if has_reserved_prefix(l) {
                Err("the gha: prefix is reserved for pacer")
            } else if sanitize(l).is_empty() {
                Err("must contain a letter, digit or underscore")
            } else {
                Ok(())
            }
        });
        validate_tags("tags", &self.tags, e);
        if let Some(version) = &self.runner_version
            && !is_runner_version(version)
        {
            e.push(FieldError::new("runner_version", "must be a version like 2.321.0"));
        }
        if let Some(user) = &self.runner_user
            && !is_posix_user(user)
        {
            e.push(FieldError::new(
                "runner_user",
                "must be a POSIX user name (lower-case letter or _, then up to 31 of a-z 0-9 _ -)",
            ));
        }
        if let Some(extra) = &self.user_data_extra {
            if extra.len() > MAX_USER_DATA_EXTRA_BYTES {
                e.push(FieldError::new(
                    "user_data_extra",
                    format!("must be at most {MAX_USER_DATA_EXTRA_BYTES} bytes"),
                ));
            } else if extra.contains('\0') {
                e.push(FieldError::new("user_data_extra", "must not contain NUL bytes"));
            }
        }
        errors
    }
}

/// A repo binding as an operator writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSpec {
    /// `owner/repo` as on GitHub; matched case-insensitively, bound to one project at most.
    pub full_name: String,
    /// Most active jobs of this repo at once, 1..=[`MAX_CAP`], on top of the pool and
    /// project caps; `None` = no repo cap.
    pub cap: Option<u32>,
    /// Tags stamped on this repo's instances and volumes at launch, overriding pool and
    /// project tags by key (never on the launch template, which pools share).
    pub tags: Tags,
}

impl RepoSpec {
    /// Trims the name.
    pub fn normalized(mut self) -> Self {
        self.full_name = self.full_name.trim().to_owned();
        self
    }

    /// Context-free validation: the name's shape, the cap's range and the tags.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if parse_full_name(&self.full_name).is_none() {
            errors.push(FieldError::new("full_name", "must be owner/repo as on GitHub"));
        }
        if let Some(cap) = self.cap
            && !(1..=MAX_CAP).contains(&cap)
        {
            errors.push(FieldError::new("cap", format!("must be between 1 and {MAX_CAP}")));
        }
        validate_tags("tags", &self.tags, &mut errors);
        errors
    }

    /// The case-insensitive key of the binding.
    pub fn key(&self) -> String {
        self.full_name.to_ascii_lowercase()
    }
}

/// A project in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// The id `project.created` assigned; never reused.
    pub id: ProjectId,
    /// The settings as last saved (normalised and validated).
    pub spec: ProjectSpec,
}

/// The launch template materialised for a pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TemplateRef {
    /// The EC2 launch template id (`lt-…`), stable for the pool's life, across renames too.
    pub id: String,
    /// The version set as the template's `$Default`, which launches use; a new one on every
    /// pool save and whenever the rendered user data changes.
    pub version: u64,
    /// [`crate::TemplateSpec::fingerprint`] of what that version holds, so a change of the
    /// rendered user data (public URL, bootstrap token, script) is noticed and re-versioned.
    pub fingerprint: String,
}

/// A pool in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The id `pool.created` assigned; never reused.
    pub id: PoolId,
    /// The project the pool belongs to, fixed at creation.
    pub project: ProjectId,
    /// The settings as last saved (normalised and validated).
    pub spec: PoolSpec,
    /// Its launch template; `None` until the host materialises one
    /// (`pool.template_materialized`).
    pub template: Option<TemplateRef>,
    /// Its warm capacity (`pool.warm_set`); `None` = none.
    pub warm: Option<crate::warm::WarmSpec>,
}

/// A repo bound to a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoBinding {
    /// The repo-scoped project the repo's jobs route to.
    pub project: ProjectId,
    /// The binding as last saved (normalised and validated).
    pub spec: RepoSpec,
}

/// The whole operator-edited configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Every project, by id.
    pub projects: BTreeMap<ProjectId, Project>,
    /// Every pool of every project, by id.
    pub pools: BTreeMap<PoolId, Pool>,
    /// Bindings by lower-cased `owner/repo`.
    pub repos: BTreeMap<String, RepoBinding>,
    /// The id the next `project.created` gets: one past the highest seen (0, before any, is
    /// read as 1).
    pub next_project: u64,
    /// The id the next `pool.created` gets (as `next_project`).
    pub next_pool: u64,
}

impl Config {
    /// A project by id.
    pub fn project(&self, id: ProjectId) -> Option<&Project> {
        self.projects.get(&id)
    }

    /// A pool by id.
    pub fn pool(&self, id: PoolId) -> Option<&Pool> {
        self.pools.get(&id)
    }

    /// A binding by `owner/repo` (case-insensitive).
    pub fn repo(&self, full_name: &str) -> Option<&RepoBinding> {
        self.repos.get(&full_name.to_ascii_lowercase())
    }

    /// A project by exact name (case-insensitive).
    pub fn project_named(&self, name: &str) -> Option<&Project> {
        self.projects.values().find(|p| p.spec.name.eq_ignore_ascii_case(name))
    }

    /// The pools of a project, by id.
    pub fn pools_of(&self, project: ProjectId) -> impl Iterator<Item = &Pool> {
        self.pools.values().filter(move |p| p.project == project)
    }

    /// The repos bound to a project, by name.
    pub fn repos_of(&self, project: ProjectId) -> impl Iterator<Item = &RepoBinding> {
        self.repos.values().filter(move |r| r.project == project)
    }

    /// The org-scoped project covering GitHub org `owner` (case-insensitive).
    pub fn org_project(&self, owner: &str) -> Option<&Project> {
        self.projects
            .values()
            .find(|p| p.spec.scope == Scope::Org && p.spec.org_name.eq_ignore_ascii_case(owner))
    }

    /// The runner labels of `pool` for a job of `repo`.
    pub fn runner_labels(&self, pool: &Pool, repo: &str) -> Vec<String> {
        let project = self.project(pool.project);
        let name = project.map_or("", |p| p.spec.name.as_str());
        let repo_label = match project.map(|p| p.spec.scope) {
            Some(Scope::Repo) => Some(repo),
            _ => None,
        };
        runner_labels(name, &pool.spec.name, repo_label, &pool.spec.extra_labels)
    }

    /// The `runs-on:` line selecting `pool`.
    pub fn runs_on(&self, pool: &Pool) -> String {
        let name = self.project(pool.project).map_or("", |p| p.spec.name.as_str());
        runs_on_line(name, &pool.spec.name, &pool.spec.extra_labels)
    }

    /// Project tags overridden by pool tags: what goes on the launch template.
    pub fn template_tags(&self, pool: &Pool) -> Tags {
        let mut tags = self.project(pool.project).map(|p| p.spec.tags.clone()).unwrap_or_default();
        tags.extend(pool.spec.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        tags
    }
}

/// Cascade project → pool → repo tags; later levels win on key conflict.
pub fn cascade_tags(levels: &[&Tags]) -> Tags {
    let mut out = Tags::new();
    for level in levels {
        out.extend(level.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// Whether `text` starts with the reserved `gha:` prefix in any case.
pub fn has_reserved_prefix(text: &str) -> bool {
    text.get(..RESERVED_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX))
}

/// Splits `owner/repo` after checking GitHub's character rules.
pub fn parse_full_name(full_name: &str) -> Option<(&str, &str)> {
    let (owner, repo) = full_name.split_once('/')?;
    let repo_ok = !repo.is_empty()
        && repo.len() <= 100
        && repo != "."
        && repo != ".."
        && repo.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    (is_github_login(owner) && repo_ok).then_some((owner, repo))
}

fn is_github_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && login.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn validate_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    let chars = name.chars().count();
    if chars == 0 {
        errors.push(FieldError::new(field, "required"));
    } else if chars > MAX_NAME_CHARS {
        errors.push(FieldError::new(field, format!("must be at most {MAX_NAME_CHARS} characters")));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "must not contain control characters"));
    } else if sanitize(name).is_empty() {
        errors.push(FieldError::new(field, "must contain a letter, digit or underscore"));
    }
}

fn validate_tags(field: &str, tags: &Tags, errors: &mut Vec<FieldError>) {
    if tags.len() > MAX_TAGS_PER_ENTITY {
        errors.push(FieldError::new(field, format!("at most {MAX_TAGS_PER_ENTITY} tags")));
    }
    for (key, value) in tags {
        let at = format!("{field}.{key}");
        if key.is_empty() || key.chars().count() > 128 {
            errors.push(FieldError::new(at, "tag keys must be 1..=128 characters"));
        } else if has_reserved_prefix(key) {
            errors.push(FieldError::new(at, "the gha: prefix is reserved for pacer-managed tags"));
        } else if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            errors.push(FieldError::new(at, "the aws: prefix is reserved by aws"));
        } else if key.chars().chain(value.chars()).any(char::is_control) {
            errors.push(FieldError::new(at, "tags must not contain control characters"));
        } else if value.chars().count() > 256 {
            errors.push(FieldError::new(at, "tag values must be at most 256 characters"));
        }
    }
}

fn validate_list(
    field: &str,
    values: &[String],
    min: usize,
    max: usize,
    errors: &mut Vec<FieldError>,
    check: impl Fn(&str) -> Result<(), &'static str>,
) {
    if values.len() < min {
        errors.push(FieldError::new(field, format!("at least {min} required")));
    }
    if values.len() > max {
        errors.push(FieldError::new(field, format!("at most {max} allowed")));
    }
    for (i, value) in values.iter().enumerate() {
        if let Err(message) = check(value) {
            errors.push(FieldError::new(format!("{field}[{i}]"), message));
        } else if values[..i].iter().any(|v| v.eq_ignore_ascii_case(value)) {
            errors.push(FieldError::new(format!("{field}[{i}]"), "duplicate"));
        }
    }
}

fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_instance_type(t: &str) -> bool {
    let ok_part = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    t.len() <= 32 && t.split_once('.').is_some_and(|(family, size)| ok_part(family) && ok_part(size))
}

fn is_instance_profile(profile: &str) -> bool {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 128
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    };
    match profile.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            matches!(parts.as_slice(), [partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("instance-profile/").is_some_and(|path| {
                    path.split('/').all(name_ok)
                }))
        }
        None => name_ok(profile),
    }
}

fn is_runner_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_posix_user(user: &str) -> bool {
    let mut bytes = user.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && user.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolSpec {
        PoolSpec {
            name: "default".into(),
            ami_id: "ami-0123456789abcdef0".into(),
            instance_types: vec!["m7i.large".into(), "c7i.large".into()],
            subnet_ids: vec!["subnet-0123456789abcdef0".into()],
            security_group_ids: vec!["sg-0123abcd".into()],
            ..PoolSpec::default()
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_sound_pool_passes() {
        assert_eq!(pool().validate(), vec![]);
    }

    #[test]
    fn run_instances_pools_allocate_by_cost_only() {
        let strategies = [
            AllocationStrategy::Cost,
            AllocationStrategy::LowestPrice,
            AllocationStrategy::Capacity,
            AllocationStrategy::Priority,
        ];
        for allocation_strategy in strategies {
            let fleet = PoolSpec { allocation_strategy, ..pool() };
            assert_eq!(fleet.validate(), vec![], "fleet takes {allocation_strategy:?}");
            let run = PoolSpec { spawn_method: SpawnMethod::RunInstances, allocation_strategy, ..pool() };
            let errors = run.validate();
            if allocation_strategy == AllocationStrategy::Cost {
                assert_eq!(errors, vec![]);
            } else {
                assert_eq!(fields(&errors), ["allocation_strategy"], "{allocation_strategy:?}");
                assert!(errors[0].message.starts_with("must be cost with run_instances"), "{errors:?}");
            }
        }
        assert_eq!(SpawnMethod::Fleet.fixed_allocation(), None);
        assert_eq!(
            SpawnMethod::RunInstances.fixed_allocation().map(|(a, _)| a),
            Some(AllocationStrategy::Cost)
        );
        let described: std::collections::BTreeSet<&str> = strategies.iter().map(|a| a.describe()).collect();
        assert_eq!(described.len(), strategies.len(), "each strategy has its own explanation");
    }

    #[test]
    fn pool_rules_name_their_field() {
        let mut p = pool();
        p.ami_id = "ami-xyz".into();
        p.instance_types = vec!["m7i.large".into(), "M7I.LARGE".into(), "big".into()];
        p.subnet_ids = vec![];
        p.max_runtime_minutes = 10_081;
        p.cap = 0;
        p.on_demand_fallback = true;
        p.extra_labels = vec!["GHA:gpu".into(), "!!!".into()];
        p.tags.insert("Gha:owner".into(), "x".into());
        p.tags.insert("aws:cloudformation".into(), "x".into());
        p.runner_version = Some("2.321".into());
        p.runner_user = Some("Root".into());
        p.iam_instance_profile = Some("bad profile".into());
        assert_eq!(
            fields(&p.validate()),
            [
                "ami_id",
                "instance_types[1]",
                "instance_types[2]",
                "subnet_ids",
                "iam_instance_profile",
                "max_runtime_minutes",
                "cap",
                "on_demand_fallback",
                "extra_labels[0]",
                "extra_labels[1]",
                "tags.Gha:owner",
                "tags.aws:cloudformation",
                "runner_version",
                "runner_user",
            ]
        );
    }

    #[test]
    fn instance_profiles_accept_names_and_arns() {
        assert!(is_instance_profile("pacer-runner"));
        assert!(is_instance_profile("arn:aws:iam::123456789012:instance-profile/ci/pacer-runner"));
        assert!(!is_instance_profile("arn:aws:iam::1234:instance-profile/x"));
        assert!(!is_instance_profile("arn:aws:iam::123456789012:role/x"));
    }

    #[test]
    fn project_scope_rules() {
        let org = ProjectSpec { name: "Platform".into(), scope: Scope::Org, ..Default::default() };
        assert_eq!(fields(&org.validate()), ["org_name"]);
        let repo = ProjectSpec {
            name: "p".into(),
            org_name: "acme".into(),
            runner_group_id: 3,
            ..Default::default()
        };
        assert_eq!(fields(&repo.validate()), ["org_name", "runner_group_id"]);
        let blank = ProjectSpec { name: "-/-".into(), ..Default::default() };
        assert_eq!(fields(&blank.validate()), ["name"]);
    }

    #[test]
    fn repo_names_follow_github() {
        assert!(parse_full_name("Octocat/Hello.World").is_some());
        assert!(parse_full_name("octocat").is_none());
        assert!(parse_full_name("-bad/repo").is_none());
        assert!(parse_full_name("ok/..").is_none());
        assert!(parse_full_name("ok/has space").is_none());
    }

    #[test]
    fn tags_cascade_with_later_levels_winning() {
        let project = Tags::from([("team".into(), "core".into()), ("env".into(), "prod".into())]);
        let pool = Tags::from([("env".into(), "ci".into())]);
        let repo = Tags::from([("team".into(), "web".into())]);
        let out = cascade_tags(&[&project, &pool, &repo]);
        assert_eq!(out, Tags::from([("env".into(), "ci".into()), ("team".into(), "web".into())]));
    }

    #[test]
    fn reserved_prefix_in_any_case() {
        assert!(has_reserved_prefix("gha:x"));
        assert!(has_reserved_prefix("GhA:x"));
        assert!(!has_reserved_prefix("gha-x"));
        assert!(!has_reserved_prefix("gh"));
    }
}
