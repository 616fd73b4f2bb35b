//! The API's own output and input types, built from domain views (the domain never derives
//! GraphQL traits). Cheap fields are filled from the folded state; the job details that live
//! only in the log (workflow, branch, commit, timeline, failure log, instance history) are read
//! on demand through the store's subject index.

use super::scalars::{BigInt, DateTime};
use super::summary::summary;
use super::{ErrorCode, error};
use crate::engine::{Engine, LaunchSlots};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Result, SimpleObject};
use pacer_domain::{
    AllocationStrategy, Event, Instance as LiveInstance, Job, JobQueued, JobStatus, Market, Micros, Pool,
    PoolSpec, Project, ProjectSpec, Recorded, RepoBinding, Scope, SpawnMethod, State, Subject, Tags,
    WaitReason, explain,
};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Where a job is in its life: QUEUED, CLAIMED, STARTING, RUNNING, then one terminal status
/// (COMPLETED, FAILED, CANCELLED, REAPED) that never changes again. CLAIMED, STARTING and
/// RUNNING are active: they count against the pool, project and repo caps.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "JobStatus")]
pub enum GqlJobStatus {
    /// Routed to a pool and waiting to be claimed; also after a capacity retry (see
    /// `nextRetryAt`) or after losing its instance to another job.
    Queued,
    /// Taken by the dispatcher, EC2 launch under way; back to QUEUED when no launch outcome
    /// arrives within 2 minutes.
    Claimed,
    /// Instance launched; its runner is not running the job yet.
    Starting,
    /// The job runs: its runner registered, or GitHub reported it in progress.
    Running,
    /// GitHub concluded anything but a failure or a cancellation (`success`, `skipped`,
    /// `neutral`, …).
    Completed,
    /// GitHub concluded `failure` or `timed_out`, or Pacer failed it (launch refused or retries
    /// exhausted, runner bootstrap error, instance lost, pool deleted); `failure` says where.
    Failed,
    /// Cancelled on GitHub.
    Cancelled,
    /// Its instance was terminated for running longer than the pool's `maxRuntimeMinutes`.
    Reaped,
}

impl From<JobStatus> for GqlJobStatus {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => Self::Queued,
            JobStatus::Claimed => Self::Claimed,
            JobStatus::Starting => Self::Starting,
            JobStatus::Running => Self::Running,
            JobStatus::Completed => Self::Completed,
            JobStatus::Failed => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
            JobStatus::Reaped => Self::Reaped,
        }
    }
}

impl From<GqlJobStatus> for JobStatus {
    fn from(s: GqlJobStatus) -> Self {
        match s {
            GqlJobStatus::Queued => Self::Queued,
            GqlJobStatus::Claimed => Self::Claimed,
            GqlJobStatus::Starting => Self::Starting,
            GqlJobStatus::Running => Self::Running,
            GqlJobStatus::Completed => Self::Completed,
            GqlJobStatus::Failed => Self::Failed,
            GqlJobStatus::Cancelled => Self::Cancelled,
            GqlJobStatus::Reaped => Self::Reaped,
        }
    }
}

macro_rules! mirror_enum {
    (
        $(#[$doc:meta])* $gql:ident, $name:literal, $domain:ty,
        { $($(#[$vdoc:meta])* $variant:ident),* $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        #[graphql(name = $name)]
        pub enum $gql {
            $(
                $(#[$vdoc])*
                $variant,
            )*
        }

        impl From<$domain> for $gql {
            fn from(v: $domain) -> Self {
                match v {
                    $(<$domain>::$variant => Self::$variant,)*
                }
            }
        }

        impl From<$gql> for $domain {
            fn from(v: $gql) -> Self {
                match v {
                    $($gql::$variant => Self::$variant,)*
                }
            }
        }
    };
}

mirror_enum!(
    /// The EC2 purchasing market of a launch.
    GqlMarket, "Market", Market, {
    /// On-demand capacity, priced from the AWS Pricing API's list price.
    OnDemand,
    /// Spot capacity (one-time requests, terminated on interruption), priced from the latest
    /// spot price of the instance type and zone.
    Spot,
});
mirror_enum!(
    /// How repos reach a project.
    GqlScope, "Scope", Scope, {
    /// Repos are bound one by one (`bindRepo`).
    Repo,
    /// Every repo of the GitHub org `orgName` is covered; no repo can be bound.
    Org,
});
mirror_enum!(
    /// How a pool asks EC2 for an instance.
    GqlSpawnMethod, "SpawnMethod", SpawnMethod, {
    /// One CreateFleet `instant` request over every instance type × subnet, choosing by the
    /// pool's `allocationStrategy`.
    Fleet,
    /// One RunInstances call per instance type, in order, in the first subnet only, until one
    /// succeeds; with nothing to allocate among, `allocationStrategy` must be COST.
    RunInstances,
});
mirror_enum!(
    /// How CreateFleet chooses among a pool's instance types × subnets (RUN_INSTANCES pools take
    /// COST).
    GqlAllocation, "AllocationStrategy", AllocationStrategy, {
    /// On-demand lowest-price, spot price-capacity-optimized.
    Cost,
    /// Lowest price in both markets.
    LowestPrice,
    /// On-demand lowest-price, spot capacity-optimized.
    Capacity,
    /// The order of `instanceTypes` decides (prioritized on-demand, capacity-optimized-prioritized
    /// spot).
    Priority,
});

/// An amount of US dollars, kept as integer micro-dollars (never floats).
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct Money {
    /// The exact amount in micro-dollars (millionths of a US dollar): 1500000 is $1.50.
    pub micros: BigInt,
    /// For display: `$1,234.56` from a cent up, four decimals below a cent (`$0.0042`),
    /// `<$0.0001` for less but not zero, `$0.00` for zero.
    pub formatted: String,
}

impl From<Micros> for Money {
    fn from(m: Micros) -> Self {
        Money { micros: BigInt(m.0), formatted: m.to_string() }
    }
}

/// A user tag for AWS resources; project tags, then pool tags, then repo tags override by key,
/// and Pacer's own `gha:` tags come last. At most 40 per project, pool or repo, and at most 44
/// once a project's, pool's and repo's are combined (AWS allows 50; Pacer adds six).
#[derive(SimpleObject, InputObject, Clone, Debug)]
#[graphql(input_name = "TagInput")]
pub(crate) struct Tag {
    /// Tag key, 1 to 128 characters; the prefixes `gha:` (Pacer's) and `aws:` (AWS's) are
    /// reserved in any case.
    pub key: String,
    /// Tag value, at most 256 characters; may be empty.
    pub value: String,
}

pub(crate) fn tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(key, value)| Tag { key: key.clone(), value: value.clone() }).collect()
}

pub(crate) fn tag_map(tags: Vec<Tag>) -> Tags {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// A project: a named group of pools and of the repos they serve, with a concurrency ceiling;
/// nothing EC2-shaped lives on a project.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Project")]
pub(crate) struct ProjectView {
    /// Pacer's project id, a decimal number assigned in creation order and never reused.
    pub id: ID,
    /// Unique name (case-insensitive), 1 to 128 characters; its sanitised form (lower case, each
    /// run of characters outside a-z, 0-9 and _ as one `-`) is a runner label of every pool of
    /// the project.
    pub name: String,
    /// Most active (claimed, starting, running) jobs across the project's pools at once; 0 = no
    /// project ceiling; at most 10,000.
    pub cap: i32,
    /// Tags on the project's launch templates, instances and volumes; pool and repo tags override
    /// them by key.
    pub tags: Vec<Tag>,
    /// How repos reach the project: bound one by one (REPO) or every repo of `orgName` (ORG).
    pub scope: GqlScope,
    /// The GitHub org login an ORG project covers (no other ORG project covers it); null for REPO
    /// scope.
    pub org_name: Option<String>,
    /// GitHub runner group the org runners join (ORG scope only); 0 = GitHub's default group, 1.
    pub runner_group_id: i32,
    /// A disabled project routes nothing: its webhooks are ignored (recorded as `job.ignored`)
    /// and its queued jobs wait.
    pub disabled: bool,
    /// The project's pools, by id.
    pub pools: Vec<PoolView>,
    /// The repos bound to the project, by lower-cased name; empty for ORG scope.
    pub repos: Vec<RepoView>,
    /// The project's jobs now claimed, starting or running (what `cap` limits).
    pub active_jobs: i32,
}

impl ProjectView {
    /// The view of `project`.
    pub(crate) fn of(state: &State, project: &Project) -> Self {
        let spec = &project.spec;
        ProjectView {
            id: ID(project.id.0.to_string()),
            name: spec.name.clone(),
            cap: int(spec.cap),
            tags: tags(&spec.tags),
            scope: spec.scope.into(),
            org_name: Some(spec.org_name.clone()).filter(|o| !o.is_empty()),
            runner_group_id: int(spec.runner_group_id),
            disabled: spec.disabled,
            pools: state.config.pools_of(project.id).map(|p| PoolView::of(state, p)).collect(),
            repos: state.config.repos_of(project.id).map(|r| RepoView::of(state, r)).collect(),
            active_jobs: int(state.jobs.active().in_project(project.id)),
        }
    }
}

/// A pool: one EC2 launch template shape inside a project, with the runner labels that select
/// it.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Pool", complex)]
pub(crate) struct PoolView {
    /// Pacer's pool id, a decimal number assigned in creation order and never reused.
    pub id: ID,
    /// Id of the project the pool belongs to, fixed at creation.
    pub project_id: ID,
    /// Name of that project.
    pub project_name: String,
    /// Name, 1 to 128 characters, unique within the project after sanitising (as the project's
    /// name); its sanitised form is one of the pool's runner labels.
    pub name: String,
    /// The project's catch-all pool, chosen when a job's labels name none of the matching pools;
    /// at most one per project.
    pub is_default: bool,
    /// Order among matching pools, lower wins; 0 to 10,000, default 100.
    pub priority: i32,
    /// The AMI instances boot (`ami-` and 8 to 17 lower-case hex digits), checked to exist before
    /// every save.
    pub ami_id: String,
    /// EC2 instance types (`family.size`, e.g. `m7i.large`) in preference order; 1 to 20.
    pub instance_types: Vec<String>,
    /// Subnets to launch in (`subnet-…`), 1 to 16; RUN_INSTANCES uses the first one only.
    pub subnet_ids: Vec<String>,
    /// Security groups of the instance's network interface (`sg-…`), 0 to 5.
    pub security_group_ids: Vec<String>,
    /// IAM instance profile (name or ARN) given to instances; null = none.
    pub iam_instance_profile: Option<String>,
    /// Root volume size in GiB (gp3, encrypted, deleted with the instance); 0 = the AMI's own
    /// size; at most 16,384.
    pub root_volume_gb: i32,
    /// Minutes an instance may run before the reaper terminates it and reaps its job; 1 to 10,080
    /// (one week), default 60.
    pub max_runtime_minutes: i32,
    /// Most active (claimed, starting, running) jobs in this pool at once; 1 to 10,000, default 5.
    pub cap: i32,
    /// Launch on the spot market (one-time requests, terminated on interruption); false =
    /// on-demand.
    pub spot: bool,
    /// Spot pools only: after a job's first spot capacity failure, retry it on-demand at once.
    pub on_demand_fallback: bool,
    /// After such a fallback the pool cools down: until then its jobs launch on-demand straight
    /// away (10 minutes after the fallback), and spot is tried again after. Null when no
    /// cool-down was recorded since the log's last record (compare with the time now).
    pub spot_cooldown_until: Option<DateTime>,
    /// How EC2 is asked for an instance.
    pub spawn_method: GqlSpawnMethod,
    /// How CreateFleet chooses among instance types × subnets; COST for RUN_INSTANCES pools
    /// (one recorded before that rule may show another, which its launches never used).
    pub allocation_strategy: GqlAllocation,
    /// Runner labels added after the derived ones (`self-hosted`, project, pool); 0 to 20, each
    /// at most 64 characters.
    pub extra_labels: Vec<String>,
    /// Tags on the pool's launch template, instances and volumes; they override the project's by
    /// key, and repo tags override them.
    pub tags: Vec<Tag>,
    /// Runner version the instance downloads and verifies (e.g. `2.321.0`); null = the runner
    /// already installed on the AMI.
    pub runner_version: Option<String>,
    /// POSIX user the runner runs as, created if missing; null = root.
    pub runner_user: Option<String>,
    /// Shell the user data runs before the runner registers, at most 8,192 bytes; null = nothing.
    pub user_data_extra: Option<String>,
    /// A disabled pool matches no new job, and its queued jobs are not claimed.
    pub disabled: bool,
    /// The pool's EC2 launch template (`lt-…`), stable across edits and renames; null until one
    /// is created.
    pub launch_template_id: Option<String>,
    /// The template version set as `$Default`, which launches use: a new one on every save and
    /// whenever the rendered user data changes (public URL, bootstrap token); null without a
    /// template.
    pub launch_template_version: Option<i32>,
    /// The line a workflow uses to land on this pool, e.g. `runs-on: [self-hosted, web, linux]`.
    pub runs_on: String,
    /// The pool's jobs now claimed, starting or running (what `cap` limits).
    pub active_jobs: i32,
}

impl PoolView {
    /// The view of `pool`.
    pub(crate) fn of(state: &State, pool: &Pool) -> Self {
        let spec: &PoolSpec = &pool.spec;
        PoolView {
            id: ID(pool.id.0.to_string()),
            project_id: ID(pool.project.0.to_string()),
            project_name: state.config.project(pool.project).map(|p| p.spec.name.clone()).unwrap_or_default(),
            name: spec.name.clone(),
            is_default: spec.is_default,
            priority: int(spec.priority),
            ami_id: spec.ami_id.clone(),
            instance_types: spec.instance_types.clone(),
            subnet_ids: spec.subnet_ids.clone(),
            security_group_ids: spec.security_group_ids.clone(),
            iam_instance_profile: spec.iam_instance_profile.clone(),
            root_volume_gb: int(spec.root_volume_gb),
            max_runtime_minutes: int(spec.max_runtime_minutes),
            cap: int(spec.cap),
            spot: spec.spot,
            on_demand_fallback: spec.on_demand_fallback,
            spot_cooldown_until: state
                .spot_cooldowns
                .get(&pool.id)
                .filter(|until| **until > state.last_at)
                .map(|until| (*until).into()),
            spawn_method: spec.spawn_method.into(),
            allocation_strategy: spec.allocation_strategy.into(),
            extra_labels: spec.extra_labels.clone(),
            tags: tags(&spec.tags),
            runner_version: spec.runner_version.clone(),
            runner_user: spec.runner_user.clone(),
            user_data_extra: spec.user_data_extra.clone(),
            disabled: spec.disabled,
            launch_template_id: pool.template.as_ref().map(|t| t.id.clone()),
            launch_template_version: pool.template.as_ref().map(|t| int(t.version)),
            runs_on: state.config.runs_on(pool),
            active_jobs: int(state.jobs.active().in_pool(pool.id)),
        }
    }
}

/// A repo bound to a REPO-scoped project: its jobs route there.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Repo")]
pub(crate) struct RepoView {
    /// `owner/repo` as on GitHub, matched case-insensitively; bound to one project at most.
    pub full_name: String,
    /// Id of the project its jobs route to.
    pub project_id: ID,
    /// Name of that project.
    pub project_name: String,
    /// Most active jobs of this repo at once, on top of the pool and project caps; null = no repo
    /// cap.
    pub cap: Option<i32>,
    /// Tags stamped on this repo's instances and volumes at launch (never on the launch template,
    /// which pools share); they override pool and project tags by key.
    pub tags: Vec<Tag>,
    /// The repo's jobs now claimed, starting or running.
    pub active_jobs: i32,
}

impl RepoView {
    /// The view of `binding`.
    pub(crate) fn of(state: &State, binding: &RepoBinding) -> Self {
        let active = state.strings.get(&binding.spec.full_name).map_or(0, |s| state.jobs.active().in_repo(s));
        RepoView {
            full_name: binding.spec.full_name.clone(),
            project_id: ID(binding.project.0.to_string()),
            project_name: state
                .config
                .project(binding.project)
                .map(|p| p.spec.name.clone())
                .unwrap_or_default(),
            cap: binding.spec.cap.map(int),
            tags: tags(&binding.spec.tags),
            active_jobs: int(active),
        }
    }
}

/// A project's settings for `createProject` and `updateProject`; an update replaces every field
/// (an omitted one takes its default). Bad fields are INVALID_INPUT errors whose
/// `extensions.field` is the snake_case name (`org_name`).
#[derive(InputObject, Clone, Debug)]
pub(crate) struct ProjectInput {
    /// Unique name (case-insensitive, and as a runner label), 1 to 128 characters after trimming,
    /// with at least one letter, digit or underscore and no control characters.
    pub name: String,
    /// Most active jobs across the project at once; 0 = no project ceiling; at most 10,000.
    #[graphql(default = 0)]
    pub cap: i32,
    /// Tags for the project's launch templates, instances and volumes.
    #[graphql(default)]
    pub tags: Vec<Tag>,
    /// How repos reach the project; switching a project to ORG needs every repo unbound first
    /// (CONFLICT otherwise).
    #[graphql(default_with = "GqlScope::Repo")]
    pub scope: GqlScope,
    /// The GitHub org login (1 to 39 characters), required for ORG scope and not covered by
    /// another ORG project; must be empty for REPO scope.
    pub org_name: Option<String>,
    /// GitHub runner group the org runners join, ORG scope only (must be 0 for REPO); 0 = GitHub's
    /// default group, 1.
    #[graphql(default = 0)]
    pub runner_group_id: i32,
    /// Route nothing to the project: its webhooks are ignored and its queued jobs wait.
    #[graphql(default = false)]
    pub disabled: bool,
}

/// A non-negative integer field, or its error.
pub(crate) fn natural(field: &str, value: i32, errors: &mut Vec<pacer_domain::FieldError>) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| {
        errors.push(pacer_domain::FieldError::new(field, "must not be negative"));
        0
    })
}

impl ProjectInput {
    /// The domain spec, or the fields that cannot even be converted.
    pub(crate) fn spec(self) -> std::result::Result<ProjectSpec, Vec<pacer_domain::FieldError>> {
        let mut errors = Vec::new();
        let cap = natural("cap", self.cap, &mut errors);
        let group = natural("runner_group_id", self.runner_group_id, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ProjectSpec {
            name: self.name,
            cap,
            tags: tag_map(self.tags),
            scope: self.scope.into(),
            org_name: self.org_name.unwrap_or_default(),
            runner_group_id: u64::from(group),
            disabled: self.disabled,
        })
    }
}

/// A pool's settings for `createPool` and `updatePool`; an update replaces every field (an
/// omitted one takes its default). Checked by Pacer's rules, then against AWS (the AMI, subnets,
/// security groups and instance profile must exist, the root volume must hold the AMI) before
/// anything is saved. Bad fields are INVALID_INPUT errors whose `extensions.field` is the
/// snake_case path (`instance_types[1]`).
#[derive(InputObject, Clone, Debug)]
pub(crate) struct PoolInput {
    /// Name, 1 to 128 characters after trimming, unique within the project as a runner label, with
    /// at least one letter, digit or underscore.
    pub name: String,
    /// Make this the project's catch-all pool; takes the mark from the project's other pools.
    #[graphql(default = false)]
    pub is_default: bool,
    /// Order among matching pools, lower wins; 0 to 10,000.
    #[graphql(default = 100)]
    pub priority: i32,
    /// AMI id (`ami-` and 8 to 17 lower-case hex digits) that exists in the region.
    pub ami_id: String,
    /// EC2 instance types (`family.size`, e.g. `m7i.large`) in preference order; 1 to 20, no
    /// duplicates.
    pub instance_types: Vec<String>,
    /// Subnet ids (`subnet-…`), 1 to 16, no duplicates; each must exist.
    pub subnet_ids: Vec<String>,
    /// Security group ids (`sg-…`), 0 to 5, no duplicates; each must exist.
    #[graphql(default)]
    pub security_group_ids: Vec<String>,
    /// IAM instance profile name or ARN, which must exist; null or empty = none.
    pub iam_instance_profile: Option<String>,
    /// Root volume size in GiB; 0 = the AMI's own size; otherwise at least the AMI's size and at
    /// most 16,384.
    #[graphql(default = 0)]
    pub root_volume_gb: i32,
    /// Minutes an instance may run before the reaper terminates it and reaps its job; 1 to
    /// 10,080.
    #[graphql(default = 60)]
    pub max_runtime_minutes: i32,
    /// Most active jobs in the pool at once; 1 to 10,000.
    #[graphql(default = 5)]
    pub cap: i32,
    /// Launch on the spot market instead of on-demand.
    #[graphql(default = false)]
    pub spot: bool,
    /// Retry a job on-demand after its first spot capacity failure; only with `spot`.
    #[graphql(default = false)]
    pub on_demand_fallback: bool,
    /// How EC2 is asked for an instance.
    #[graphql(default_with = "GqlSpawnMethod::Fleet")]
    pub spawn_method: GqlSpawnMethod,
    /// How CreateFleet chooses among instance types × subnets; must be COST with RUN_INSTANCES
    /// (INVALID_INPUT on `allocation_strategy` otherwise).
    #[graphql(default_with = "GqlAllocation::Cost")]
    pub allocation_strategy: GqlAllocation,
    /// Runner labels added to the derived ones; 0 to 20, each at most 64 characters with a letter,
    /// digit or underscore, no duplicates, no `gha:` prefix.
    #[graphql(default)]
    pub extra_labels: Vec<String>,
    /// Tags for the pool's launch template, instances and volumes.
    #[graphql(default)]
    pub tags: Vec<Tag>,
    /// Runner version to download and verify, `major.minor.patch` (e.g. `2.321.0`); null or
    /// empty for the runner installed on the AMI.
    pub runner_version: Option<String>,
    /// POSIX user the runner runs as (a lower-case letter or `_`, then up to 31 of a-z, 0-9, `_`,
    /// `-`); null or empty = root.
    pub runner_user: Option<String>,
    /// Shell the user data runs before the runner registers, at most 8,192 bytes, no NUL; null or
    /// blank = nothing.
    pub user_data_extra: Option<String>,
    /// Match no new job and claim none of the pool's queued jobs.
    #[graphql(default = false)]
    pub disabled: bool,
}

impl PoolInput {
    /// The domain spec, or the fields that cannot even be converted.
    pub(crate) fn spec(self) -> std::result::Result<PoolSpec, Vec<pacer_domain::FieldError>> {
        let mut errors = Vec::new();
        let priority = natural("priority", self.priority, &mut errors);
        let root_volume_gb = natural("root_volume_gb", self.root_volume_gb, &mut errors);
        let max_runtime_minutes = natural("max_runtime_minutes", self.max_runtime_minutes, &mut errors);
        let cap = natural("cap", self.cap, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PoolSpec {
            name: self.name,
            is_default: self.is_default,
            priority,
            ami_id: self.ami_id,
            instance_types: self.instance_types,
            subnet_ids: self.subnet_ids,
            security_group_ids: self.security_group_ids,
            iam_instance_profile: self.iam_instance_profile,
            root_volume_gb,
            max_runtime_minutes,
            cap,
            spot: self.spot,
            on_demand_fallback: self.on_demand_fallback,
            spawn_method: self.spawn_method.into(),
            allocation_strategy: self.allocation_strategy.into(),
            extra_labels: self.extra_labels,
            tags: tag_map(self.tags),
            runner_version: self.runner_version,
            runner_user: self.runner_user,
            user_data_extra: self.user_data_extra,
            disabled: self.disabled,
        })
    }
}

/// A repo binding for `bindRepo` and `updateRepo`. Bad fields are INVALID_INPUT errors whose
/// `extensions.field` is the snake_case name (`full_name`).
#[derive(InputObject, Clone, Debug)]
pub(crate) struct RepoInput {
    /// `owner/repo` as on GitHub, matched case-insensitively; for `updateRepo`, the binding to
    /// change.
    pub full_name: String,
    /// The REPO-scoped project the repo's jobs route to; `updateRepo` may move the binding to
    /// another project.
    pub project_id: ID,
    /// Most active jobs of this repo at once, 1 to 10,000, on top of the pool and project caps;
    /// null = no repo cap.
    pub cap: Option<i32>,
    /// Tags stamped on this repo's instances and volumes at launch.
    #[graphql(default)]
    pub tags: Vec<Tag>,
}

/// The EC2 instance launched for a job, as the job detail shows it: from the live state while
/// it runs, rebuilt from the log once it ended.
#[derive(SimpleObject, Clone, Debug, Default)]
#[graphql(name = "Instance")]
pub(crate) struct InstanceView {
    /// EC2 instance id (`i-…`).
    pub id: String,
    /// EC2 instance type, e.g. `m7i.large`; null when the log holds no launch record for it.
    pub instance_type: Option<String>,
    /// Availability zone, e.g. `eu-west-1a`; null when the log holds no launch record for it.
    pub availability_zone: Option<String>,
    /// Market it was launched on; null when the log holds no launch record for it.
    pub market: Option<GqlMarket>,
    /// When its launch was recorded; null when the log holds no launch record for it.
    pub launched_at: Option<DateTime>,
    /// When its runner registered with GitHub; null until then.
    pub registered_at: Option<DateTime>,
    /// When it was recorded terminated, lost or reaped; null while live.
    pub ended_at: Option<DateTime>,
    /// `live`; `terminated`; `lost` (vanished, stopped or interrupted outside Pacer); `reaped`
    /// (terminated at the pool's max runtime); or `unknown` when the log holds nothing about it.
    pub state: String,
}

impl InstanceView {
    fn live(state: &State, instance: &LiveInstance) -> Self {
        InstanceView {
            id: instance.id.to_string(),
            instance_type: Some(state.strings.resolve(instance.instance_type).to_owned()),
            availability_zone: Some(state.strings.resolve(instance.availability_zone).to_owned()),
            market: Some(instance.market.into()),
            launched_at: Some(instance.launched_at.into()),
            registered_at: instance.registered_at.map(Into::into),
            ended_at: None,
            state: "live".into(),
        }
    }

    fn from_history(id: &str, records: &[Recorded]) -> Self {
        let mut view = InstanceView { id: id.to_owned(), state: "unknown".into(), ..InstanceView::default() };
        for record in records {
            match &record.event {
                Event::JobSpawnLaunched(l) if l.instance.instance_id == id => {
                    view.instance_type = Some(l.instance.instance_type.clone());
                    view.availability_zone = Some(l.instance.availability_zone.clone());
                    view.market = Some(l.instance.market.into());
                    view.launched_at = Some(record.at.into());
                    view.state = "live".into();
                }
                Event::InstanceRegistered(_) => view.registered_at = Some(record.at.into()),
                Event::InstanceTerminated(_) => {
                    (view.ended_at, view.state) = (Some(record.at.into()), "terminated".into())
                }
                Event::InstanceLost(_) => {
                    (view.ended_at, view.state) = (Some(record.at.into()), "lost".into())
                }
                Event::InstanceReaped(_) => {
                    (view.ended_at, view.state) = (Some(record.at.into()), "reaped".into())
                }
                Event::InstanceOrphanFound(o) if o.terminated => {
                    (view.ended_at, view.state) = (Some(record.at.into()), "terminated".into())
                }
                _ => {}
            }
        }
        view
    }
}

/// Why a job failed or was reaped.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct JobFailure {
    /// Where it failed: `github` (GitHub concluded `failure`, `timed_out`, `startup_failure` or
    /// `action_required`), `spawn` (EC2 refused the launch, or every launch attempt the
    /// configuration allows met no capacity), `bootstrap` (the runner failed before the job ran),
    /// `ec2` (instance lost), `config` (its pool was deleted) or `max_runtime` (reaped).
    pub stage: String,
    /// What went wrong in one line, e.g. AWS's error or `ran longer than 60 minutes`.
    pub message: String,
    /// The end of the runner's log (at most 64 KiB) from its last error report; null when it sent
    /// none, and once deleted after the failure-log retention (`retention.failure_log_days`).
    pub log_tail: Option<String>,
}

/// One step of a job as GitHub reports it.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct JobStepView {
    /// Its number, from 1.
    pub number: i32,
    /// Its name, e.g. `Run actions/checkout@v4`.
    pub name: String,
    /// GitHub's status: `queued`, `in_progress` or `completed`.
    pub status: String,
    /// How it ended (`success`, `failure`, `skipped`, `cancelled`); null until it has.
    pub conclusion: Option<String>,
    /// When it started; null until it has.
    pub started_at: Option<DateTime>,
    /// When it ended; null until it has.
    pub completed_at: Option<DateTime>,
    /// Seconds from start to end (to now while it runs); null until it started.
    pub duration_seconds: Option<i32>,
}

/// A job's steps from GitHub, fetched with the App's installation token when asked and cached
/// (a finished job's for as long as the cache keeps them, a running job's for 10 seconds).
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct JobSteps {
    /// The steps, in order; empty when GitHub has none yet or could not be asked.
    pub nodes: Vec<JobStepView>,
    /// Why there are no steps from GitHub (no installation on the job, GitHub refused or did not
    /// answer in time); null when GitHub answered.
    pub unavailable: Option<String>,
}

/// One raw `workflow_job` webhook received for a job, as it arrived.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct JobWebhook {
    /// Its `X-GitHub-Delivery` GUID.
    pub delivery_id: String,
    /// The payload's `action` (`queued`, `in_progress`, `completed`).
    pub action: String,
    /// When Pacer recorded it.
    pub received_at: DateTime,
    /// The body as received (JSON text); empty when it was larger than 32 KiB.
    pub payload: String,
    /// The body's size in bytes.
    pub bytes: i32,
}

/// One record of a job's history.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct TimelineEntry {
    /// Position of the record in the log (from 1, without gaps).
    pub seq: BigInt,
    /// When it was recorded.
    pub at: DateTime,
    /// Event name, `noun.past_participle` (e.g. `job.claimed`); `actions` lists them all.
    pub action: String,
    /// Who caused it: `system`, `github`, an operator's email, or `runner:<instance-id>`.
    pub actor: String,
    /// One readable line about the record.
    pub summary: String,
}

/// A GitHub workflow job Pacer accepted: its routing, status, instance and cost. `runAttempt`,
/// `workflow`, `jobName`, `branch`, `sha`, `htmlUrl`, `instance`, `failure` and `timeline` are
/// read from the log when selected, one read per job.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Job", complex)]
pub(crate) struct JobView {
    /// Pacer's job id, a decimal number increasing in queue order; also the jobs paging cursor.
    pub id: ID,
    /// GitHub's job id.
    pub github_job_id: BigInt,
    /// GitHub's workflow run id.
    pub run_id: BigInt,
    /// `owner/repo` the job belongs to.
    pub repo: String,
    /// GitHub login of whoever triggered the run; empty when unknown.
    pub sender: String,
    /// The `runs-on` labels the job asked for, as GitHub sent them.
    pub labels: Vec<String>,
    /// Id of the project it was routed to.
    pub project_id: ID,
    /// Name of that project; empty once the project is deleted.
    pub project_name: String,
    /// Id of the pool it was routed to.
    pub pool_id: ID,
    /// Name of that pool; empty once the pool is deleted.
    pub pool_name: String,
    /// Where the job is in its life.
    pub status: GqlJobStatus,
    /// Launch attempts: the capacity failures so far (throttling does not count), plus one while a
    /// launch is under way or once one succeeded; the job fails after 12 capacity failures.
    pub attempts: i32,
    /// Market of the current or next launch: the pool's when queued, ON_DEMAND after a spot
    /// fallback, or that of the instance it took.
    pub market: GqlMarket,
    /// When it was queued (GitHub's `queued` webhook, routed to a pool).
    pub queued_at: DateTime,
    /// When the dispatcher last claimed it; null while it waits in the queue.
    pub claimed_at: Option<DateTime>,
    /// When its current instance was launched (cost runs from here); null without an instance.
    pub launched_at: Option<DateTime>,
    /// When it started running (runner registered or `in_progress` webhook); null until then, and
    /// cleared when it loses its instance.
    pub started_at: Option<DateTime>,
    /// When it reached its terminal status (retention counts from here); null until then.
    pub finished_at: Option<DateTime>,
    /// Whole seconds from `startedAt` (else `launchedAt`) to `finishedAt`, or to now while not
    /// finished; null before a launch.
    pub duration_seconds: Option<i32>,
    /// The EC2 instance (`i-…`) it waits for, runs on or ran on; null before a launch or after
    /// losing its instance.
    pub instance_id: Option<String>,
    /// The runner that runs or ran it (`pacer-<instance-id>` for Pacer's own, but GitHub may use
    /// another runner with the same labels); null until known.
    pub runner_name: Option<String>,
    /// Price per hour of its instance, quoted at launch (on-demand list price or spot price); null
    /// without an instance or when no quote was found (unpriced).
    pub price_per_hour: Option<Money>,
    /// Cost: what the instances billed to it cost, each its price × (terminated − launched),
    /// with a running estimate to now for those still up (`costEstimated`); null when it is
    /// without cost (no instance, or none with a price quote); zero when its instance went to
    /// another job.
    pub cost: Option<Money>,
    /// Whether `cost` is a running estimate: an instance billed to it is still up, so it grows
    /// until that instance's termination is recorded.
    pub cost_estimated: bool,
    /// Why a QUEUED, CLAIMED or STARTING job is not running yet (pool, project or repo cap full,
    /// retry time, pool or project disabled, launch under way, waiting for the runner, …); null
    /// in the other statuses.
    pub wait_reason: Option<String>,
    /// When a QUEUED job may be claimed again after a capacity or throttling failure; null when it
    /// may be claimed now or is not queued.
    pub next_retry_at: Option<DateTime>,
    #[graphql(skip)]
    job: pacer_domain::JobId,
    #[graphql(skip)]
    failure_seq: Option<u64>,
    #[graphql(skip)]
    history: Arc<OnceCell<Vec<Recorded>>>,
    /// Resolved by `job(id)`: only then are its steps asked of GitHub.
    #[graphql(skip)]
    detail: bool,
}

impl JobView {
    /// The view of `job` at `now`; a claimable job waits for a launch slot while `slots` are
    /// all busy.
    pub(crate) fn of(state: &State, job: &Job, now: pacer_domain::Timestamp, slots: LaunchSlots) -> Self {
        let pool = state.config.pool(job.pool);
        let end = job.finished_at.unwrap_or(now);
        let duration = job.started_at.or(job.launched_at).map(|from| int(end.millis_since(from) / 1_000));
        let waiting = matches!(job.status, JobStatus::Queued | JobStatus::Claimed | JobStatus::Starting);
        let cost = state.job_cost(job, now);
        JobView {
            id: ID(job.id.0.to_string()),
            github_job_id: job.github_job_id.into(),
            run_id: job.run_id.into(),
            repo: state.repo_name(job).to_owned(),
            sender: state.strings.resolve(job.sender).to_owned(),
            labels: state
                .strings
                .resolve(job.labels)
                .split(", ")
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            project_id: ID(job.project.0.to_string()),
            project_name: state.config.project(job.project).map(|p| p.spec.name.clone()).unwrap_or_default(),
            pool_id: ID(job.pool.0.to_string()),
            pool_name: pool.map(|p| p.spec.name.clone()).unwrap_or_default(),
            status: job.status.into(),
            attempts: int(
                job.attempts + u32::from(job.status == JobStatus::Claimed || job.launched_at.is_some())
            ),
            market: job.market.into(),
            queued_at: job.queued_at.into(),
            claimed_at: job.claimed_at.map(Into::into),
            launched_at: job.launched_at.map(Into::into),
            started_at: job.started_at.map(Into::into),
            finished_at: job.finished_at.map(Into::into),
            duration_seconds: duration,
            instance_id: job.instance.as_deref().map(str::to_owned),
            runner_name: job.runner.as_deref().map(str::to_owned),
            price_per_hour: job.price.map(|p| p.per_hour.into()),
            cost: cost.map(|c| c.amount.into()),
            cost_estimated: cost.is_some_and(|c| c.estimated),
            wait_reason: waiting.then(|| match explain(state, job, now) {
                WaitReason::Ready if slots.all_busy() => format!(
                    "ready: all {} launch slots are busy (dispatcher.max_concurrent_launches); claimed as one frees",
                    slots.max
                ),
                reason => reason.to_string(),
            }),
            next_retry_at: job
                .next_retry_at
                .filter(|at| *at > now && job.status == JobStatus::Queued)
                .map(Into::into),
            job: job.id,
            failure_seq: job.failure_seq,
            history: Arc::default(),
            detail: false,
        }
    }

    /// The view `job(id)` answers: its steps are asked of GitHub.
    pub(crate) fn detailed(self) -> JobView {
        JobView { detail: true, ..self }
    }

    async fn history(&self, ctx: &Context<'_>) -> Result<&Vec<Recorded>> {
        let engine = ctx.data::<Arc<Engine>>()?;
        let log = engine.app.log().clone();
        let job = self.job;
        self.history
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || log.subject(&Subject::Job(job), 0, 10_000))
                    .await
                    .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?
                    .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))
            })
            .await
    }

    /// What GitHub's webhooks said of the job, the latest of each ([`Event::JobGithubNoted`]).
    async fn github_noted(&self, ctx: &Context<'_>) -> Result<pacer_domain::JobGithubNoted> {
        let mut noted = pacer_domain::JobGithubNoted {
            job: self.job,
            delivery_id: String::new(),
            created_at: None,
            started_at: None,
            completed_at: None,
            sender_type: String::new(),
        };
        for record in self.history(ctx).await? {
            if let Event::JobGithubNoted(n) = &record.event {
                noted.created_at = n.created_at.or(noted.created_at);
                noted.started_at = n.started_at.or(noted.started_at);
                noted.completed_at = n.completed_at.or(noted.completed_at);
                if !n.sender_type.is_empty() {
                    noted.sender_type.clone_from(&n.sender_type);
                }
            }
        }
        Ok(noted)
    }

    async fn queued(&self, ctx: &Context<'_>) -> Result<Option<JobQueued>> {
        Ok(self.history(ctx).await?.iter().find_map(|r| match &r.event {
            Event::JobQueued(q) => Some(q.clone()),
            _ => None,
        }))
    }
}

#[ComplexObject]
impl JobView {
    /// GitHub's run attempt: 1 for the first run, more after re-runs; 1 when the log no longer
    /// holds the job's queue record.
    async fn run_attempt(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(self.queued(ctx).await?.map_or(1, |q| int(q.run_attempt)))
    }

    /// Workflow name; empty when unknown.
    async fn workflow(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.workflow).unwrap_or_default())
    }

    /// Job name as GitHub shows it; empty when unknown.
    async fn job_name(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.job_name).unwrap_or_default())
    }

    /// Branch the run is for; empty when unknown.
    async fn branch(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.branch).unwrap_or_default())
    }

    /// Commit SHA the run is for; empty when unknown.
    async fn sha(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.sha).unwrap_or_default())
    }

    /// The job's page on GitHub, as the webhook gave it, else built from `repo`, `runId` and
    /// `githubJobId`.
    async fn html_url(&self, ctx: &Context<'_>) -> Result<String> {
        let queued = self.queued(ctx).await?;
        Ok(match queued {
            Some(q) if !q.html_url.is_empty() => q.html_url,
            _ => format!(
                "https://github.com/{}/actions/runs/{}/job/{}",
                self.repo, self.run_id.0, self.github_job_id.0
            ),
        })
    }

    /// The EC2 instance it waits for, runs on or ran on; null when `instanceId` is null.
    async fn instance(&self, ctx: &Context<'_>) -> Result<Option<InstanceView>> {
        let Some(id) = &self.instance_id else { return Ok(None) };
        let engine = ctx.data::<Arc<Engine>>()?;
        if let Some(view) =
            engine.app.state().instances.get(id).map(|i| InstanceView::live(&engine.app.state(), i))
        {
            return Ok(Some(view));
        }
        let log = engine.app.log().clone();
        let subject = Subject::Instance(id.clone());
        let records = tokio::task::spawn_blocking(move || log.subject(&subject, 0, 1_000))
            .await
            .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?
            .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?;
        Ok(Some(InstanceView::from_history(id, &records)))
    }

    /// Why it failed or was reaped, with the runner's log tail when one was reported; null for
    /// jobs that did not fail.
    async fn failure(&self, ctx: &Context<'_>) -> Result<Option<JobFailure>> {
        let Some(seq) = self.failure_seq else { return Ok(None) };
        let history = self.history(ctx).await?;
        let engine = ctx.data::<Arc<Engine>>()?;
        let log = engine.app.log().clone();
        let job = self.job;
        let kept = tokio::task::spawn_blocking(move || crate::failure_logs::of_job(log.as_ref(), job))
            .await
            .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?;
        // Records of earlier versions hold the tail themselves.
        let log_tail = kept.or_else(|| {
            history.iter().rev().find_map(|r| match &r.event {
                Event::RunnerErrored(e) if !e.log_tail.is_empty() => Some(e.log_tail.clone()),
                _ => None,
            })
        });
        Ok(history.iter().find(|r| r.seq == seq).and_then(|r| match &r.event {
            Event::JobFailed(f) => Some(JobFailure {
                stage: f.stage.as_str().to_owned(),
                message: f.message.clone(),
                log_tail: log_tail.clone(),
            }),
            Event::JobReaped(r) => Some(JobFailure {
                stage: "max_runtime".into(),
                message: format!("ran longer than {} minutes", r.max_runtime_minutes),
                log_tail: log_tail.clone(),
            }),
            _ => None,
        }))
    }

    /// When GitHub created the job (`workflow_job.created_at`); null when no webhook said.
    async fn github_created_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        Ok(self.github_noted(ctx).await?.created_at.map(Into::into))
    }

    /// When a runner picked it up by GitHub's clock (`workflow_job.started_at`); null when no
    /// webhook said.
    async fn github_started_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        Ok(self.github_noted(ctx).await?.started_at.map(Into::into))
    }

    /// When it ended by GitHub's clock (`workflow_job.completed_at`); null until a webhook said.
    async fn github_completed_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        Ok(self.github_noted(ctx).await?.completed_at.map(Into::into))
    }

    /// The webhooks' `sender.type`: `User`, `Bot` or `Organization`; empty when none said.
    async fn sender_type(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.github_noted(ctx).await?.sender_type)
    }

    /// The raw `workflow_job` webhooks received for the job, oldest first, kept for 30 days
    /// after it finished.
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<JobWebhook>> {
        let engine = ctx.data::<Arc<Engine>>()?;
        Ok(crate::payloads::of_job(engine.app.log().as_ref(), self.job)
            .into_iter()
            .map(|kept| JobWebhook {
                delivery_id: kept.delivery_id,
                action: kept.action,
                received_at: kept.received_at.into(),
                payload: kept.payload,
                bytes: kept.bytes.try_into().unwrap_or(i32::MAX),
            })
            .collect())
    }

    /// When the runner on its instance last sent a heartbeat (every 30 s while it runs); null
    /// when it never has or the job has no instance. The console's badge: green within 60 s,
    /// amber within 180 s, red beyond or never.
    async fn last_seen_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime>> {
        let engine = ctx.data::<Arc<Engine>>()?;
        Ok(self.instance_id.as_deref().and_then(|id| engine.last_seen(id)).map(Into::into))
    }

    /// Its steps from GitHub (asked when this field is, then cached), through `job(id)` only (in
    /// lists: none, with the reason); GitHub's errors are the `unavailable` reason, never an
    /// error of the query.
    async fn steps(&self, ctx: &Context<'_>) -> Result<JobSteps> {
        if !self.detail {
            return Ok(JobSteps {
                nodes: Vec::new(),
                unavailable: Some("steps are asked of GitHub for one job at a time: query job(id)".into()),
            });
        }
        let engine = ctx.data::<Arc<Engine>>()?;
        let now = engine.app.now();
        let steps = engine.job_steps(self.job).await;
        Ok(JobSteps {
            nodes: steps
                .steps
                .into_iter()
                .map(|step| JobStepView {
                    number: int(step.number),
                    duration_seconds: step.started_at.map(|start| {
                        let end = step.completed_at.unwrap_or(now);
                        int(u32::try_from(end.millis_since(start).max(0) / 1_000).unwrap_or(u32::MAX))
                    }),
                    name: step.name,
                    status: step.status,
                    conclusion: step.conclusion,
                    started_at: step.started_at.map(Into::into),
                    completed_at: step.completed_at.map(Into::into),
                })
                .collect(),
            unavailable: steps.unavailable,
        })
    }

    /// Every record about the job, oldest first (at most 10,000).
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Vec<TimelineEntry>> {
        Ok(self
            .history(ctx)
            .await?
            .iter()
            .map(|r| TimelineEntry {
                seq: r.seq.into(),
                at: r.at.into(),
                action: r.event.name().as_str().to_owned(),
                actor: r.actor.to_string(),
                summary: summary(&r.event),
            })
            .collect())
    }
}

/// The head of the log's tamper-evident chain (see `auditChain`).
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct AuditChain {
    /// The last record's seq; 0 for an empty log.
    pub seq: BigInt,
    /// Its chain hash, 64 lower-case hex digits: SHA-256 of the chain hash before it and of its
    /// own canonical form. Null for an empty log, and while the last record was written before
    /// the chain existed (a log upgraded in place: the next record starts the chain).
    pub hash: Option<String>,
}

impl From<pacer_store::ChainLink> for AuditChain {
    fn from(head: pacer_store::ChainLink) -> Self {
        AuditChain { seq: head.seq.into(), hash: head.hash.map(|hash| hash.to_string()) }
    }
}
