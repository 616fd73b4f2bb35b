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

/// Job status.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "JobStatus")]
pub enum GqlJobStatus {
    /// Waiting to be claimed.
    Queued,
    /// Launch under way.
    Claimed,
    /// Instance launched.
    Starting,
    /// Running.
    Running,
    /// Ended well.
    Completed,
    /// Ended badly.
    Failed,
    /// Cancelled on GitHub.
    Cancelled,
    /// Killed at max runtime.
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
    ($gql:ident, $name:literal, $domain:ty, { $($variant:ident),* $(,)? }) => {
        #[doc = concat!("Mirror of the domain's `", stringify!($domain), "`.")]
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        #[graphql(name = $name)]
        pub enum $gql {
            $(
                #[doc = stringify!($variant)]
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

mirror_enum!(GqlMarket, "Market", Market, { OnDemand, Spot });
mirror_enum!(GqlScope, "Scope", Scope, { Repo, Org });
mirror_enum!(GqlSpawnMethod, "SpawnMethod", SpawnMethod, { Fleet, RunInstances });
mirror_enum!(GqlAllocation, "AllocationStrategy", AllocationStrategy, { Cost, LowestPrice, Capacity, Priority });

/// Money.
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    /// Micro-dollars.
    pub micros: BigInt,
    /// Dollars; four decimals below a cent.
    pub formatted: String,
}

impl From<Micros> for Money {
    fn from(m: Micros) -> Self {
        Money { micros: BigInt(m.0), formatted: m.to_string() }
    }
}

/// A tag.
#[derive(SimpleObject, InputObject, Clone, Debug)]
#[graphql(input_name = "TagInput")]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
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

/// A project.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Project")]
pub struct ProjectView {
    /// Id.
    pub id: ID,
    /// Name.
    pub name: String,
    /// Concurrency cap (0 = none).
    pub cap: i32,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Scope.
    pub scope: GqlScope,
    /// Org (org scope).
    pub org_name: Option<String>,
    /// Runner group (org scope).
    pub runner_group_id: i32,
    /// Disabled.
    pub disabled: bool,
    /// Its pools.
    pub pools: Vec<PoolView>,
    /// Its repos.
    pub repos: Vec<RepoView>,
    /// Active jobs.
    pub active_jobs: i32,
}

impl ProjectView {
    /// The view of `project`.
    pub fn of(state: &State, project: &Project) -> Self {
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

/// A pool.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Pool")]
pub struct PoolView {
    /// Id.
    pub id: ID,
    /// Project id.
    pub project_id: ID,
    /// Project name.
    pub project_name: String,
    /// Name.
    pub name: String,
    /// The project's default pool.
    pub is_default: bool,
    /// Priority (lower wins).
    pub priority: i32,
    /// AMI.
    pub ami_id: String,
    /// Instance types in order.
    pub instance_types: Vec<String>,
    /// Subnets.
    pub subnet_ids: Vec<String>,
    /// Security groups.
    pub security_group_ids: Vec<String>,
    /// Instance profile.
    pub iam_instance_profile: Option<String>,
    /// Root volume GiB (0 = the AMI's).
    pub root_volume_gb: i32,
    /// Max runtime.
    pub max_runtime_minutes: i32,
    /// Concurrency cap.
    pub cap: i32,
    /// Spot.
    pub spot: bool,
    /// On-demand after a spot capacity failure.
    pub on_demand_fallback: bool,
    /// Spawn method.
    pub spawn_method: GqlSpawnMethod,
    /// Allocation strategy.
    pub allocation_strategy: GqlAllocation,
    /// Extra labels.
    pub extra_labels: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Pinned runner version.
    pub runner_version: Option<String>,
    /// Runner user.
    pub runner_user: Option<String>,
    /// Extra user data.
    pub user_data_extra: Option<String>,
    /// Disabled.
    pub disabled: bool,
    /// Launch template id.
    pub launch_template_id: Option<String>,
    /// Default version.
    pub launch_template_version: Option<i32>,
    /// The runs-on: line that selects this pool.
    pub runs_on: String,
    /// Active jobs.
    pub active_jobs: i32,
}

impl PoolView {
    /// The view of `pool`.
    pub fn of(state: &State, pool: &Pool) -> Self {
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

/// A repo binding.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Repo")]
pub struct RepoView {
    /// `owner/repo`.
    pub full_name: String,
    /// Project id.
    pub project_id: ID,
    /// Project name.
    pub project_name: String,
    /// Cap override.
    pub cap: Option<i32>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Active jobs.
    pub active_jobs: i32,
}

impl RepoView {
    /// The view of `binding`.
    pub fn of(state: &State, binding: &RepoBinding) -> Self {
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

/// Project input.
#[derive(InputObject, Clone, Debug)]
pub struct ProjectInput {
    /// Name.
    pub name: String,
    /// Concurrency cap (0 = none).
    #[graphql(default = 0)]
    pub cap: i32,
    /// Tags.
    #[graphql(default)]
    pub tags: Vec<Tag>,
    /// Scope.
    #[graphql(default_with = "GqlScope::Repo")]
    pub scope: GqlScope,
    /// Org (org scope).
    pub org_name: Option<String>,
    /// Runner group (org scope).
    #[graphql(default = 0)]
    pub runner_group_id: i32,
    /// Disabled.
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
    pub fn spec(self) -> std::result::Result<ProjectSpec, Vec<pacer_domain::FieldError>> {
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

/// Pool input.
#[derive(InputObject, Clone, Debug)]
pub struct PoolInput {
    /// Name.
    pub name: String,
    /// Default pool.
    #[graphql(default = false)]
    pub is_default: bool,
    /// Priority.
    #[graphql(default = 100)]
    pub priority: i32,
    /// AMI.
    pub ami_id: String,
    /// Instance types in order.
    pub instance_types: Vec<String>,
    /// Subnets.
    pub subnet_ids: Vec<String>,
    /// Security groups.
    #[graphql(default)]
    pub security_group_ids: Vec<String>,
    /// Instance profile.
    pub iam_instance_profile: Option<String>,
    /// Root volume GiB.
    #[graphql(default = 0)]
    pub root_volume_gb: i32,
    /// Max runtime.
    #[graphql(default = 60)]
    pub max_runtime_minutes: i32,
    /// Cap.
    #[graphql(default = 5)]
    pub cap: i32,
    /// Spot.
    #[graphql(default = false)]
    pub spot: bool,
    /// On-demand fallback.
    #[graphql(default = false)]
    pub on_demand_fallback: bool,
    /// Spawn method.
    #[graphql(default_with = "GqlSpawnMethod::Fleet")]
    pub spawn_method: GqlSpawnMethod,
    /// Allocation strategy.
    #[graphql(default_with = "GqlAllocation::Cost")]
    pub allocation_strategy: GqlAllocation,
    /// Extra labels.
    #[graphql(default)]
    pub extra_labels: Vec<String>,
    /// Tags.
    #[graphql(default)]
    pub tags: Vec<Tag>,
    /// Runner version.
    pub runner_version: Option<String>,
    /// Runner user.
    pub runner_user: Option<String>,
    /// Extra user data.
    pub user_data_extra: Option<String>,
    /// Disabled.
    #[graphql(default = false)]
    pub disabled: bool,
}

impl PoolInput {
    /// The domain spec, or the fields that cannot even be converted.
    pub fn spec(self) -> std::result::Result<PoolSpec, Vec<pacer_domain::FieldError>> {
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

/// Repo input.
#[derive(InputObject, Clone, Debug)]
pub struct RepoInput {
    /// `owner/repo`.
    pub full_name: String,
    /// Project.
    pub project_id: ID,
    /// Cap override.
    pub cap: Option<i32>,
    /// Tags.
    #[graphql(default)]
    pub tags: Vec<Tag>,
}

/// An instance as the job detail shows it.
#[derive(SimpleObject, Clone, Debug, Default)]
#[graphql(name = "Instance")]
pub struct InstanceView {
    /// Id.
    pub id: String,
    /// Type.
    pub instance_type: Option<String>,
    /// Zone.
    pub availability_zone: Option<String>,
    /// Market.
    pub market: Option<GqlMarket>,
    /// Launched.
    pub launched_at: Option<DateTime>,
    /// Runner registered.
    pub registered_at: Option<DateTime>,
    /// Ended.
    pub ended_at: Option<DateTime>,
    /// live, terminated, lost, reaped.
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

/// Why a job failed.
#[derive(SimpleObject, Clone, Debug)]
pub struct JobFailure {
    /// Stage.
    pub stage: String,
    /// Message.
    pub message: String,
    /// The runner's log tail, when it reported one.
    pub log_tail: Option<String>,
}

/// One step of a job's life.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimelineEntry {
    /// Seq.
    pub seq: BigInt,
    /// When.
    pub at: DateTime,
    /// Event name.
    pub action: String,
    /// Actor.
    pub actor: String,
    /// One line.
    pub summary: String,
}

/// A job.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Job", complex)]
pub struct JobView {
    /// Id.
    pub id: ID,
    /// GitHub job id.
    pub github_job_id: BigInt,
    /// GitHub run id.
    pub run_id: BigInt,
    /// `owner/repo`.
    pub repo: String,
    /// Sender.
    pub sender: String,
    /// Requested labels.
    pub labels: Vec<String>,
    /// Project id.
    pub project_id: ID,
    /// Project name.
    pub project_name: String,
    /// Pool id.
    pub pool_id: ID,
    /// Pool name.
    pub pool_name: String,
    /// Status.
    pub status: GqlJobStatus,
    /// Launch attempts made: the failed ones, plus the one in flight or that succeeded.
    pub attempts: i32,
    /// Market.
    pub market: GqlMarket,
    /// Queued.
    pub queued_at: DateTime,
    /// Claimed.
    pub claimed_at: Option<DateTime>,
    /// Launched.
    pub launched_at: Option<DateTime>,
    /// Started.
    pub started_at: Option<DateTime>,
    /// Ended.
    pub finished_at: Option<DateTime>,
    /// Seconds from start (or launch) to end, or to now while active.
    pub duration_seconds: Option<i32>,
    /// Its instance.
    pub instance_id: Option<String>,
    /// The runner that ran it.
    pub runner_name: Option<String>,
    /// Price per hour of its instance.
    pub price_per_hour: Option<Money>,
    /// Estimated cost.
    pub cost: Option<Money>,
    /// Why a job that is not running yet still waits.
    pub wait_reason: Option<String>,
    /// Next launch retry.
    pub next_retry_at: Option<DateTime>,
    #[graphql(skip)]
    job: pacer_domain::JobId,
    #[graphql(skip)]
    failure_seq: Option<u64>,
    #[graphql(skip)]
    history: Arc<OnceCell<Vec<Recorded>>>,
}

impl JobView {
    /// The view of `job` at `now`; a claimable job waits for a launch slot while `slots` are
    /// all busy.
    pub fn of(state: &State, job: &Job, now: pacer_domain::Timestamp, slots: LaunchSlots) -> Self {
        let pool = state.config.pool(job.pool);
        let end = job.finished_at.unwrap_or(now);
        let duration = job.started_at.or(job.launched_at).map(|from| int(end.millis_since(from) / 1_000));
        let waiting = matches!(job.status, JobStatus::Queued | JobStatus::Claimed | JobStatus::Starting);
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
            cost: job.cost.map(Into::into),
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
        }
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

    async fn queued(&self, ctx: &Context<'_>) -> Result<Option<JobQueued>> {
        Ok(self.history(ctx).await?.iter().find_map(|r| match &r.event {
            Event::JobQueued(q) => Some(q.clone()),
            _ => None,
        }))
    }
}

#[ComplexObject]
impl JobView {
    /// GitHub run attempt.
    async fn run_attempt(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(self.queued(ctx).await?.map_or(1, |q| int(q.run_attempt)))
    }

    /// Workflow name.
    async fn workflow(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.workflow).unwrap_or_default())
    }

    /// Job name.
    async fn job_name(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.job_name).unwrap_or_default())
    }

    /// Branch.
    async fn branch(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.branch).unwrap_or_default())
    }

    /// Commit SHA.
    async fn sha(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.queued(ctx).await?.map(|q| q.sha).unwrap_or_default())
    }

    /// Link to the job on GitHub.
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

    /// The instance it waits for, runs on or ran on.
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

    /// Why it failed, with the runner's log tail when one was reported.
    async fn failure(&self, ctx: &Context<'_>) -> Result<Option<JobFailure>> {
        let Some(seq) = self.failure_seq else { return Ok(None) };
        let history = self.history(ctx).await?;
        let log_tail = history.iter().rev().find_map(|r| match &r.event {
            Event::RunnerErrored(e) => Some(e.log_tail.clone()),
            _ => None,
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

    /// Every recorded step of the job, oldest first.
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
