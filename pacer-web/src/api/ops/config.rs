//! The configuration pages' operations: projects, pools (with their warm capacity) and repo
//! bindings (read, create, update, delete) and the backup import. The inputs are built from the
//! domain specs the editors check ([`pacer_domain::PoolSpec`], [`WarmSpec`], …), so what is
//! sent is what was validated.

use super::{AllocationStrategy, DateTime, Id, ImportAction, Scope, SpawnMethod, Tag, schema};
use cynic::{MutationBuilder, Operation, QueryBuilder};
use pacer_domain::{PoolSpec, ProjectSpec, RepoSpec, Tags, WarmCounts as Counts, WarmSizing, WarmSpec};

/// A count as the API's `Int` takes it; one past `i32::MAX` is sent as `i32::MAX` for the server
/// to refuse (the editors' own checks stop such values first).
fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// A user tag as input.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct TagInput {
    pub key: String,
    pub value: String,
}

fn tags_input(tags: &Tags) -> Vec<TagInput> {
    tags.iter().map(|(key, value)| TagInput { key: key.clone(), value: value.clone() }).collect()
}

/// Just an id.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Pool")]
pub(crate) struct PoolId {
    pub id: Id,
}

/// Just a repo name.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Repo")]
pub(crate) struct RepoName {
    pub full_name: String,
}

/// A project as the Projects page shows it.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Project {
    pub id: Id,
    pub name: String,
    pub cap: i32,
    pub tags: Vec<Tag>,
    pub scope: Scope,
    pub org_name: Option<String>,
    pub runner_group_id: i32,
    pub disabled: bool,
    pub active_jobs: i32,
    pub pools: Vec<PoolId>,
    pub repos: Vec<RepoName>,
}

/// The answer to [`projects`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct ProjectsData {
    pub projects: Vec<Project>,
}

/// The answer to [`project_refs`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct ProjectRefsData {
    pub projects: Vec<ProjectRef>,
}

/// Every project's id and name, for the scope switcher.
pub(crate) fn project_refs() -> Operation<ProjectRefsData, ()> {
    ProjectRefsData::build(())
}

/// Projects with what the table shows.
pub(crate) fn projects() -> Operation<ProjectsData, ()> {
    ProjectsData::build(())
}

/// A project's settings as input.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct ProjectInput {
    pub name: String,
    pub cap: i32,
    pub tags: Vec<TagInput>,
    pub scope: Scope,
    pub org_name: Option<String>,
    pub runner_group_id: i32,
    pub disabled: bool,
}

impl From<&ProjectSpec> for ProjectInput {
    fn from(spec: &ProjectSpec) -> Self {
        let org = spec.scope == pacer_domain::Scope::Org;
        Self {
            name: spec.name.clone(),
            cap: int(spec.cap),
            tags: tags_input(&spec.tags),
            scope: spec.scope.into(),
            org_name: org.then(|| spec.org_name.clone()),
            runner_group_id: int(spec.runner_group_id),
            disabled: spec.disabled,
        }
    }
}

/// What a project mutation returns.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Project")]
pub(crate) struct ProjectSaved {
    pub id: Id,
    pub name: String,
}

/// The variables of [`create_project`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct CreateProjectVars {
    /// The new project's settings.
    pub input: ProjectInput,
}

/// The answer to [`create_project`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "CreateProjectVars")]
pub(crate) struct CreateProjectData {
    #[arguments(input: $input)]
    pub create_project: ProjectSaved,
}

/// Creates a project.
pub(crate) fn create_project(spec: &ProjectSpec) -> Operation<CreateProjectData, CreateProjectVars> {
    CreateProjectData::build(CreateProjectVars { input: spec.into() })
}

/// The variables of [`update_project`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct UpdateProjectVars {
    /// The project replaced.
    pub id: Id,
    /// Its new settings.
    pub input: ProjectInput,
}

/// The answer to [`update_project`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "UpdateProjectVars")]
pub(crate) struct UpdateProjectData {
    #[arguments(id: $id, input: $input)]
    pub update_project: ProjectSaved,
}

/// Replaces a project's settings.
pub(crate) fn update_project(
    id: &str,
    spec: &ProjectSpec,
) -> Operation<UpdateProjectData, UpdateProjectVars> {
    UpdateProjectData::build(UpdateProjectVars { id: id.into(), input: spec.into() })
}

/// The variables of the deletes by id.
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct IdVars {
    /// The item.
    pub id: Id,
}

/// The answer to [`delete_project`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "IdVars")]
pub(crate) struct DeleteProjectData {
    #[arguments(id: $id)]
    pub delete_project: bool,
}

/// Deletes a project.
pub(crate) fn delete_project(id: &str) -> Operation<DeleteProjectData, IdVars> {
    DeleteProjectData::build(IdVars { id: id.into() })
}

/// A project as a picker shows it.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Project")]
pub(crate) struct ProjectRef {
    pub id: Id,
    pub name: String,
    pub scope: Scope,
}

/// A pool in full.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Pool {
    pub id: Id,
    pub project_id: Id,
    pub project_name: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    pub ami_id: String,
    pub instance_types: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub iam_instance_profile: Option<String>,
    pub root_volume_gb: i32,
    pub max_runtime_minutes: i32,
    pub cap: i32,
    pub spot: bool,
    pub on_demand_fallback: bool,
    pub spot_cooldown_until: Option<DateTime>,
    pub spawn_method: SpawnMethod,
    pub allocation_strategy: AllocationStrategy,
    pub extra_labels: Vec<String>,
    pub tags: Vec<Tag>,
    pub runner_version: Option<String>,
    pub runner_user: Option<String>,
    pub user_data_extra: Option<String>,
    pub disabled: bool,
    pub launch_template_id: Option<String>,
    pub launch_template_version: Option<i32>,
    pub runs_on: String,
    pub active_jobs: i32,
    pub warm: Option<WarmCapacity>,
}

/// How a pool sizes its warm capacity.
#[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WarmMode {
    /// Always the same counts.
    Fixed,
    /// By time-of-week windows.
    Schedule,
    /// From the pool's own arrivals.
    Forecast,
}

/// A day of the week.
#[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Weekday {
    #[allow(missing_docs)]
    Mon,
    #[allow(missing_docs)]
    Tue,
    #[allow(missing_docs)]
    Wed,
    #[allow(missing_docs)]
    Thu,
    #[allow(missing_docs)]
    Fri,
    #[allow(missing_docs)]
    Sat,
    #[allow(missing_docs)]
    Sun,
}

/// The days in order, Monday first (bit 0 of [`pacer_domain::WarmWindow::days`]).
pub(crate) const WEEKDAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

/// Warm instance counts.
#[derive(cynic::QueryFragment, Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct WarmCounts {
    pub hot: i32,
    pub stopped: i32,
}

/// A schedule's window.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct WarmWindow {
    pub days: Vec<Weekday>,
    pub from: String,
    pub to: String,
    pub counts: WarmCounts,
}

/// A pool's warm capacity: its settings, what they ask for now and why, and what it holds.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct WarmCapacity {
    pub mode: WarmMode,
    pub fixed: Option<WarmCounts>,
    pub zone: Option<String>,
    pub windows: Vec<WarmWindow>,
    pub otherwise: Option<WarmCounts>,
    pub quantile: Option<i32>,
    pub weeks: Option<i32>,
    pub max_age_minutes: i32,
    pub target: WarmCounts,
    pub reason: String,
    pub wanted: WarmCounts,
    pub idle: WarmCounts,
}

/// The answer to [`pools`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct PoolsData {
    pub pools: Vec<Pool>,
    pub projects: Vec<ProjectRef>,
}

/// Pools with the projects they can belong to.
pub(crate) fn pools() -> Operation<PoolsData, ()> {
    PoolsData::build(())
}

/// A pool's settings as input.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct PoolInput {
    pub name: String,
    pub is_default: bool,
    pub priority: i32,
    pub ami_id: String,
    pub instance_types: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub iam_instance_profile: Option<String>,
    pub root_volume_gb: i32,
    pub max_runtime_minutes: i32,
    pub cap: i32,
    pub spot: bool,
    pub on_demand_fallback: bool,
    pub spawn_method: SpawnMethod,
    pub allocation_strategy: AllocationStrategy,
    pub extra_labels: Vec<String>,
    pub tags: Vec<TagInput>,
    pub runner_version: Option<String>,
    pub runner_user: Option<String>,
    pub user_data_extra: Option<String>,
    pub disabled: bool,
}

impl From<&PoolSpec> for PoolInput {
    fn from(spec: &PoolSpec) -> Self {
        Self {
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
            tags: tags_input(&spec.tags),
            runner_version: spec.runner_version.clone(),
            runner_user: spec.runner_user.clone(),
            user_data_extra: spec.user_data_extra.clone(),
            disabled: spec.disabled,
        }
    }
}

/// The variables of [`create_pool`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct CreatePoolVars {
    /// The project the pool goes into.
    pub project_id: Id,
    /// The new pool's settings.
    pub input: PoolInput,
}

/// The answer to [`create_pool`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "CreatePoolVars")]
pub(crate) struct CreatePoolData {
    #[arguments(projectId: $project_id, input: $input)]
    pub create_pool: Pool,
}

/// Creates (and materialises) a pool in project `project_id`.
pub(crate) fn create_pool(project_id: &str, spec: &PoolSpec) -> Operation<CreatePoolData, CreatePoolVars> {
    CreatePoolData::build(CreatePoolVars { project_id: project_id.into(), input: spec.into() })
}

/// The variables of [`update_pool`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct UpdatePoolVars {
    /// The pool replaced.
    pub id: Id,
    /// Its new settings.
    pub input: PoolInput,
}

/// The answer to [`update_pool`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "UpdatePoolVars")]
pub(crate) struct UpdatePoolData {
    #[arguments(id: $id, input: $input)]
    pub update_pool: Pool,
}

/// Replaces a pool's settings (re-versions its launch template).
pub(crate) fn update_pool(id: &str, spec: &PoolSpec) -> Operation<UpdatePoolData, UpdatePoolVars> {
    UpdatePoolData::build(UpdatePoolVars { id: id.into(), input: spec.into() })
}

/// The variables of [`copy_pool`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct CopyPoolVars {
    /// The pool copied.
    pub id: Id,
    /// The copy's name (the server picks one when `None`).
    pub name: Option<String>,
}

/// The answer to [`copy_pool`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "CopyPoolVars")]
pub(crate) struct CopyPoolData {
    #[arguments(id: $id, name: $name)]
    pub copy_pool: Pool,
}

/// Clones a pool under a new name.
pub(crate) fn copy_pool(id: &str, name: Option<String>) -> Operation<CopyPoolData, CopyPoolVars> {
    CopyPoolData::build(CopyPoolVars { id: id.into(), name })
}

/// Warm counts as input.
#[derive(cynic::InputObject, Clone, Copy, Debug, PartialEq)]
pub(crate) struct WarmCountsInput {
    pub hot: i32,
    pub stopped: i32,
}

impl From<Counts> for WarmCountsInput {
    fn from(c: Counts) -> Self {
        Self { hot: int(c.hot), stopped: int(c.stopped) }
    }
}

/// A schedule's window as input.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct WarmWindowInput {
    pub days: Vec<Weekday>,
    pub from: String,
    pub to: String,
    pub counts: WarmCountsInput,
}

/// A SCHEDULE sizing as input.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct WarmScheduleInput {
    pub zone: String,
    pub windows: Vec<WarmWindowInput>,
    pub otherwise: WarmCountsInput,
}

/// A FORECAST sizing as input.
#[derive(cynic::InputObject, Clone, Copy, Debug, PartialEq)]
pub(crate) struct WarmForecastInput {
    pub quantile: i32,
    pub weeks: i32,
}

/// A pool's warm capacity as input: exactly one sizing is sent.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct WarmInput {
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<WarmCountsInput>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<WarmScheduleInput>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<WarmForecastInput>,
    pub max_age_minutes: i32,
}

/// Minutes after midnight as `HH:MM` (1440 as `24:00`).
fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl From<&WarmSpec> for WarmInput {
    fn from(spec: &WarmSpec) -> Self {
        let mut input =
            Self { fixed: None, schedule: None, forecast: None, max_age_minutes: int(spec.max_age_minutes) };
        match &spec.sizing {
            WarmSizing::Fixed(counts) => input.fixed = Some((*counts).into()),
            WarmSizing::Schedule { zone, windows, otherwise } => {
                let windows = windows
                    .iter()
                    .map(|w| WarmWindowInput {
                        days: (0..7).filter(|d| w.days & (1 << d) != 0).map(|d| WEEKDAYS[d]).collect(),
                        from: clock(w.from_minute),
                        to: clock(w.to_minute),
                        counts: w.counts.into(),
                    })
                    .collect();
                input.schedule =
                    Some(WarmScheduleInput { zone: zone.clone(), windows, otherwise: (*otherwise).into() });
            }
            WarmSizing::Forecast { quantile, weeks } => {
                input.forecast =
                    Some(WarmForecastInput { quantile: i32::from(*quantile), weeks: i32::from(*weeks) });
            }
        }
        input
    }
}

/// The variables of [`set_pool_warm`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct SetPoolWarmVars {
    /// The pool.
    pub id: Id,
    /// Its warm capacity; `None` switches it off.
    pub warm: Option<WarmInput>,
}

/// The answer to [`set_pool_warm`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "SetPoolWarmVars")]
pub(crate) struct SetPoolWarmData {
    #[arguments(id: $id, warm: $warm)]
    pub set_pool_warm: Pool,
}

/// Sets a pool's warm capacity, or with `None` switches it off.
pub(crate) fn set_pool_warm(
    id: &str,
    warm: Option<&WarmSpec>,
) -> Operation<SetPoolWarmData, SetPoolWarmVars> {
    SetPoolWarmData::build(SetPoolWarmVars { id: id.into(), warm: warm.map(WarmInput::from) })
}

/// The answer to [`rotate_pool_bootstrap_token`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "IdVars")]
pub(crate) struct RotatePoolTokenData {
    #[arguments(id: $id)]
    pub rotate_pool_bootstrap_token: Pool,
}

/// Rotates one pool's bootstrap token (its template gets a new version).
pub(crate) fn rotate_pool_bootstrap_token(id: &str) -> Operation<RotatePoolTokenData, IdVars> {
    RotatePoolTokenData::build(IdVars { id: id.into() })
}

/// The answer to [`delete_pool`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "IdVars")]
pub(crate) struct DeletePoolData {
    #[arguments(id: $id)]
    pub delete_pool: bool,
}

/// Deletes a pool.
pub(crate) fn delete_pool(id: &str) -> Operation<DeletePoolData, IdVars> {
    DeletePoolData::build(IdVars { id: id.into() })
}

/// A repo binding.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Repo {
    pub full_name: String,
    pub project_id: Id,
    pub project_name: String,
    pub cap: Option<i32>,
    pub tags: Vec<Tag>,
    pub active_jobs: i32,
}

/// The answer to [`repos`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct ReposData {
    pub repos: Vec<Repo>,
    pub projects: Vec<ProjectRef>,
}

/// Repo bindings with the projects they can be bound to.
pub(crate) fn repos() -> Operation<ReposData, ()> {
    ReposData::build(())
}

/// A binding as input.
#[derive(cynic::InputObject, Clone, Debug, PartialEq)]
pub(crate) struct RepoInput {
    pub full_name: String,
    pub project_id: Id,
    pub cap: Option<i32>,
    pub tags: Vec<TagInput>,
}

impl RepoInput {
    /// The input binding `spec` to project `project_id`.
    pub(crate) fn new(project_id: &str, spec: &RepoSpec) -> Self {
        Self {
            full_name: spec.full_name.clone(),
            project_id: project_id.trim().into(),
            cap: spec.cap.map(int),
            tags: tags_input(&spec.tags),
        }
    }
}

/// What a repo mutation returns.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Repo")]
pub(crate) struct RepoSaved {
    pub full_name: String,
    pub project_name: String,
}

/// The variables of [`bind_repo`] and [`update_repo`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct RepoVars {
    /// The binding.
    pub input: RepoInput,
}

/// The answer to [`bind_repo`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "RepoVars")]
pub(crate) struct BindRepoData {
    #[arguments(input: $input)]
    pub bind_repo: RepoSaved,
}

/// Binds a repo to a project.
pub(crate) fn bind_repo(input: RepoInput) -> Operation<BindRepoData, RepoVars> {
    BindRepoData::build(RepoVars { input })
}

/// The answer to [`update_repo`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "RepoVars")]
pub(crate) struct UpdateRepoData {
    #[arguments(input: $input)]
    pub update_repo: RepoSaved,
}

/// Changes a binding's project, cap or tags.
pub(crate) fn update_repo(input: RepoInput) -> Operation<UpdateRepoData, RepoVars> {
    UpdateRepoData::build(RepoVars { input })
}

/// The variables of [`unbind_repo`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct UnbindRepoVars {
    /// `owner/repo`.
    pub full_name: String,
}

/// The answer to [`unbind_repo`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "UnbindRepoVars")]
pub(crate) struct UnbindRepoData {
    #[arguments(fullName: $full_name)]
    pub unbind_repo: bool,
}

/// Removes a binding.
pub(crate) fn unbind_repo(full_name: &str) -> Operation<UnbindRepoData, UnbindRepoVars> {
    UnbindRepoData::build(UnbindRepoVars { full_name: full_name.to_owned() })
}

/// One row an import would create, update or leave.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct ImportItem {
    pub kind: String,
    pub name: String,
    pub action: ImportAction,
}

/// One field error.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct FieldErrorView {
    pub field: String,
    pub message: String,
}

/// The outcome of an import (or its dry run).
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct ImportResult {
    pub dry_run: bool,
    pub applied: bool,
    pub items: Vec<ImportItem>,
    pub projects_created: i32,
    pub projects_updated: i32,
    pub pools_created: i32,
    pub pools_updated: i32,
    pub repos_created: i32,
    pub repos_updated: i32,
    pub errors: Vec<FieldErrorView>,
}

/// The variables of [`import_backup`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct ImportBackupVars {
    /// The backup document.
    pub json: String,
    /// Preview only.
    pub dry_run: bool,
}

/// The answer to [`import_backup`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "ImportBackupVars")]
pub(crate) struct ImportBackupData {
    #[arguments(json: $json, dryRun: $dry_run)]
    pub import_backup: ImportResult,
}

/// Previews (`dry_run`) or applies a backup.
pub(crate) fn import_backup(json: String, dry_run: bool) -> Operation<ImportBackupData, ImportBackupVars> {
    ImportBackupData::build(ImportBackupVars { json, dry_run })
}

/// A test pool `big` (cap 6) of project `platform`, with `warm` as the API sends it.
#[cfg(test)]
pub(crate) fn test_pool(warm: serde_json::Value) -> Pool {
    serde_json::from_value(serde_json::json!({"id":"3","projectId":"1","projectName":"platform","name":"big",
        "isDefault":false,"priority":100,"amiId":"ami-0123456789abcdef0","instanceTypes":["m7i.large"],
        "subnetIds":[],"securityGroupIds":[],"iamInstanceProfile":null,"rootVolumeGb":0,
        "maxRuntimeMinutes":60,"cap":6,"spot":false,"onDemandFallback":false,"spotCooldownUntil":null,
        "spawnMethod":"FLEET","allocationStrategy":"COST","extraLabels":[],"tags":[],"runnerVersion":null,
        "runnerUser":null,"userDataExtra":null,"disabled":false,"launchTemplateId":null,
        "launchTemplateVersion":null,"runsOn":"runs-on: [self-hosted, platform, big]","activeJobs":0,
        "warm":warm}))
    .expect("pool")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_use_the_api_spelling() {
        let spec = PoolSpec {
            spawn_method: pacer_domain::SpawnMethod::RunInstances,
            allocation_strategy: pacer_domain::AllocationStrategy::LowestPrice,
            tags: Tags::from([("team".to_owned(), "infra".to_owned())]),
            ..PoolSpec::default()
        };
        let vars = serde_json::to_value(update_pool("7", &spec).variables).expect("variables");
        assert_eq!(vars["id"], "7");
        assert_eq!(vars["input"]["spawnMethod"], "RUN_INSTANCES");
        assert_eq!(vars["input"]["allocationStrategy"], "LOWEST_PRICE");
        assert_eq!(vars["input"]["tags"], serde_json::json!([{ "key": "team", "value": "infra" }]));
        assert_eq!(vars["input"]["iamInstanceProfile"], serde_json::Value::Null);
    }

    #[test]
    fn a_pool_token_rotation_names_its_pool() {
        let op = rotate_pool_bootstrap_token("3");
        assert!(op.query.contains("rotatePoolBootstrapToken(id: $id)"), "{}", op.query);
        assert_eq!(serde_json::to_value(&op.variables).expect("variables"), serde_json::json!({ "id": "3" }));
    }

    #[test]
    fn warm_capacity_is_read_with_the_pools_and_set_apart() {
        let query = pools().query;
        for field in ["warm {", "mode", "windows {", "maxAgeMinutes", "reason", "wanted {", "idle {"] {
            assert!(query.contains(field), "{field}: {query}");
        }
        let spec = WarmSpec { sizing: WarmSizing::Fixed(Counts { hot: 2, stopped: 0 }), max_age_minutes: 90 };
        let op = set_pool_warm("7", Some(&spec));
        assert!(op.query.contains("setPoolWarm(id: $id, warm: $warm)"), "{}", op.query);
        assert_eq!(
            serde_json::to_value(&op.variables).expect("variables"),
            serde_json::json!({ "id": "7", "warm": { "fixed": { "hot": 2, "stopped": 0 }, "maxAgeMinutes": 90 } })
        );
        let off = serde_json::to_value(set_pool_warm("7", None).variables).expect("variables");
        assert_eq!(off, serde_json::json!({ "id": "7", "warm": null }), "null switches it off");
    }

    #[test]
    fn org_name_is_sent_only_for_org_projects() {
        let repo_scoped =
            ProjectSpec { name: "p".into(), org_name: "stale".into(), ..ProjectSpec::default() };
        assert_eq!(ProjectInput::from(&repo_scoped).org_name, None);
        let org = ProjectSpec { scope: pacer_domain::Scope::Org, ..repo_scoped };
        let input = ProjectInput::from(&org);
        assert_eq!((input.scope, input.org_name.as_deref()), (Scope::Org, Some("stale")));
    }

    #[test]
    fn counts_past_the_api_int_are_sent_for_the_server_to_refuse() {
        let spec = ProjectSpec { runner_group_id: u64::MAX, ..ProjectSpec::default() };
        assert_eq!(ProjectInput::from(&spec).runner_group_id, i32::MAX);
    }
}
