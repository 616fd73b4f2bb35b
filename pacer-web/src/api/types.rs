//! Response shapes: plain serde structs mirroring the selections in [`super::queries`]. Ids,
//! 64-bit integers and money micros arrive as strings; instants as RFC 3339 strings.

use pacer_domain::JobStatus;
use serde::{Deserialize, Deserializer};

fn de_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<JobStatus, D::Error> {
    let text = String::deserialize(deserializer)?;
    JobStatus::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown job status {text}")))
}

/// The overview tiles.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Overview {
    pub window_days: i64,
    pub projects: i64,
    pub bound_repos: i64,
    pub queued_or_starting: i64,
    pub running: i64,
    pub completed: i64,
    pub failed_or_reaped: i64,
    pub last_seq: String,
}

/// Data of [`super::queries::OVERVIEW`].
#[derive(Deserialize)]
pub(crate) struct OverviewData {
    pub overview: Overview,
}

/// Data of [`super::queries::OVERVIEW_CHANGED`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OverviewChangedData {
    pub overview_changed: Overview,
}

/// One day of the daily series.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DayPoint {
    pub date: String,
    pub completed: i64,
    pub failed_or_reaped: i64,
}

/// Data of [`super::queries::DAILY_SERIES`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DailySeriesData {
    pub daily_series: Vec<DayPoint>,
}

/// An amount of money.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct Money {
    pub micros: String,
}

/// One row of the spend card.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct SpendRow {
    pub name: String,
    pub jobs: i64,
    pub cost: Money,
}

/// Top projects and repos by spend.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct Spend {
    pub projects: Vec<SpendRow>,
    pub repos: Vec<SpendRow>,
}

/// Data of [`super::queries::SPEND`].
#[derive(Deserialize)]
pub(crate) struct SpendData {
    pub spend: Spend,
}

/// Cursor paging.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// A job as the table shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobRow {
    pub id: String,
    pub github_job_id: String,
    pub repo: String,
    pub workflow: String,
    pub job_name: String,
    pub sender: String,
    #[serde(deserialize_with = "de_status")]
    pub status: JobStatus,
    pub project_name: String,
    pub pool_name: String,
    pub queued_at: String,
    pub launched_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_seconds: Option<i64>,
    pub instance_id: Option<String>,
    pub cost: Option<Money>,
}

/// A page of jobs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobConnection {
    pub nodes: Vec<JobRow>,
    pub total_count: i64,
    pub page_info: PageInfo,
}

/// Data of [`super::queries::JOBS`].
#[derive(Deserialize)]
pub(crate) struct JobsData {
    pub jobs: JobConnection,
}

/// Data of [`super::queries::JOB_CHANGED`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobChangedData {
    pub job_changed: JobRow,
}

/// The instance a job was launched on.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Instance {
    pub id: String,
    pub instance_type: Option<String>,
    pub availability_zone: Option<String>,
    pub market: Option<String>,
    pub launched_at: Option<String>,
    pub registered_at: Option<String>,
    pub ended_at: Option<String>,
    pub state: String,
}

/// Why a job failed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobFailure {
    pub stage: String,
    pub message: String,
    pub log_tail: Option<String>,
}

/// One transition of a job.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct TimelineEntry {
    pub seq: String,
    pub at: String,
    pub action: String,
    pub actor: String,
    pub summary: String,
}

/// Everything known about one job.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobDetail {
    pub id: String,
    pub github_job_id: String,
    pub run_id: String,
    pub run_attempt: i64,
    pub repo: String,
    pub workflow: String,
    pub job_name: String,
    pub branch: String,
    pub sha: String,
    pub sender: String,
    pub labels: Vec<String>,
    pub html_url: String,
    pub project_id: String,
    pub project_name: String,
    pub pool_id: String,
    pub pool_name: String,
    #[serde(deserialize_with = "de_status")]
    pub status: JobStatus,
    pub attempts: i64,
    pub market: String,
    pub queued_at: String,
    pub claimed_at: Option<String>,
    pub launched_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_seconds: Option<i64>,
    pub instance_id: Option<String>,
    pub instance: Option<Instance>,
    pub runner_name: Option<String>,
    pub price_per_hour: Option<Money>,
    pub cost: Option<Money>,
    pub failure: Option<JobFailure>,
    pub wait_reason: Option<String>,
    pub next_retry_at: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

/// Data of [`super::queries::JOB`].
#[derive(Deserialize)]
pub(crate) struct JobData {
    pub job: Option<JobDetail>,
}

/// Data of [`super::queries::JOB_DETAIL_CHANGED`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobDetailChangedData {
    pub job_changed: JobDetail,
}

/// One stats row (a group, or the totals).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatsRow {
    pub key: String,
    pub label: String,
    pub jobs: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub reaped: i64,
    pub runner_seconds: String,
    pub cost: Money,
    pub unpriced: i64,
}

/// Roll-ups over a window.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stats {
    pub from: String,
    pub to: String,
    pub group_by: String,
    pub totals: StatsRow,
    pub rows: Vec<StatsRow>,
}

/// A sender and its terminal jobs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct SenderCount {
    pub sender: String,
    pub jobs: i64,
}

/// Data of [`super::queries::STATS`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatsData {
    pub stats: Stats,
    pub top_senders: Vec<SenderCount>,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntry {
    pub seq: String,
    pub at: String,
    pub action: String,
    pub actor: String,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub failure: bool,
    pub summary: String,
    pub payload: serde_json::Value,
}

/// A page of the audit log.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub failures: i64,
    pub page_info: PageInfo,
}

/// Data of [`super::queries::AUDIT`].
#[derive(Deserialize)]
pub(crate) struct AuditData {
    pub audit: AuditPage,
}

/// Data of [`super::queries::ACTIONS`].
#[derive(Deserialize)]
pub(crate) struct ActionsData {
    pub actions: Vec<String>,
}

/// A user tag.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct Tag {
    pub key: String,
    pub value: String,
}

/// Just an id.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct IdOnly {
    pub id: String,
}

/// Just a repo name.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoName {
    pub full_name: String,
}

/// A project as the Projects page shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub cap: i64,
    pub tags: Vec<Tag>,
    pub scope: String,
    pub org_name: Option<String>,
    pub runner_group_id: i64,
    pub disabled: bool,
    pub active_jobs: i64,
    pub pools: Vec<IdOnly>,
    pub repos: Vec<RepoName>,
}

/// Data of [`super::queries::PROJECTS`].
#[derive(Deserialize)]
pub(crate) struct ProjectsData {
    pub projects: Vec<Project>,
}

/// A project as a picker shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct ProjectRef {
    pub id: String,
    pub name: String,
    pub scope: String,
}

/// Data of project mutations.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct ProjectSaved {
    pub id: String,
    pub name: String,
}

/// Data of [`super::queries::CREATE_PROJECT`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateProjectData {
    pub create_project: ProjectSaved,
}

/// Data of [`super::queries::UPDATE_PROJECT`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateProjectData {
    pub update_project: ProjectSaved,
}

/// Data of [`super::queries::DELETE_PROJECT`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteProjectData {
    pub delete_project: bool,
}

/// A pool in full.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pool {
    pub id: String,
    pub project_id: String,
    pub project_name: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i64,
    pub ami_id: String,
    pub instance_types: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub iam_instance_profile: Option<String>,
    pub root_volume_gb: i64,
    pub max_runtime_minutes: i64,
    pub cap: i64,
    pub spot: bool,
    pub on_demand_fallback: bool,
    pub spawn_method: String,
    pub allocation_strategy: String,
    pub extra_labels: Vec<String>,
    pub tags: Vec<Tag>,
    pub runner_version: Option<String>,
    pub runner_user: Option<String>,
    pub user_data_extra: Option<String>,
    pub disabled: bool,
    pub launch_template_id: Option<String>,
    pub launch_template_version: Option<i64>,
    pub runs_on: String,
    pub active_jobs: i64,
}

/// Data of [`super::queries::POOLS`].
#[derive(Deserialize)]
pub(crate) struct PoolsData {
    pub pools: Vec<Pool>,
    pub projects: Vec<ProjectRef>,
}

/// Data of [`super::queries::CREATE_POOL`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatePoolData {
    pub create_pool: Pool,
}

/// Data of [`super::queries::UPDATE_POOL`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdatePoolData {
    pub update_pool: Pool,
}

/// Data of [`super::queries::COPY_POOL`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CopyPoolData {
    pub copy_pool: Pool,
}

/// Data of [`super::queries::DELETE_POOL`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeletePoolData {
    pub delete_pool: bool,
}

/// A repo binding.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Repo {
    pub full_name: String,
    pub project_id: String,
    pub project_name: String,
    pub cap: Option<i64>,
    pub tags: Vec<Tag>,
    pub active_jobs: i64,
}

/// Data of [`super::queries::REPOS`].
#[derive(Deserialize)]
pub(crate) struct ReposData {
    pub repos: Vec<Repo>,
    pub projects: Vec<ProjectRef>,
}

/// What a repo mutation returns.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoSaved {
    pub full_name: String,
    pub project_name: String,
}

/// Data of [`super::queries::BIND_REPO`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BindRepoData {
    pub bind_repo: RepoSaved,
}

/// Data of [`super::queries::UPDATE_REPO`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateRepoData {
    pub update_repo: RepoSaved,
}

/// Data of [`super::queries::UNBIND_REPO`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnbindRepoData {
    pub unbind_repo: bool,
}

/// One row an import would create, update or leave.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct ImportItem {
    pub kind: String,
    pub name: String,
    pub action: String,
}

/// One field error.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(crate) struct FieldErrorView {
    pub field: String,
    pub message: String,
}

/// The outcome of an import (or its dry run).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportResult {
    pub dry_run: bool,
    pub applied: bool,
    pub items: Vec<ImportItem>,
    pub projects_created: i64,
    pub projects_updated: i64,
    pub pools_created: i64,
    pub pools_updated: i64,
    pub repos_created: i64,
    pub repos_updated: i64,
    pub errors: Vec<FieldErrorView>,
}

/// Data of [`super::queries::IMPORT_BACKUP`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportBackupData {
    pub import_backup: ImportResult,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_row_decodes_from_the_api_shape() {
        let json = r#"{"jobChanged":{"id":"12","githubJobId":"29679449","repo":"octo/hello","workflow":"CI",
            "jobName":"build","sender":"octocat","status":"RUNNING","projectName":"platform","poolName":"default",
            "queuedAt":"2026-11-29T00:46:07.123Z","launchedAt":"2026-11-29T00:46:09.000Z","startedAt":null,
            "finishedAt":null,"durationSeconds":42,"instanceId":"i-0abc","cost":null}}"#;
        let data: JobChangedData = serde_json::from_str(json).expect("decodes");
        assert_eq!(data.job_changed.status, JobStatus::Running);
        assert_eq!(data.job_changed.github_job_id, "29679449");
        assert_eq!(data.job_changed.cost, None);
        let bad = json.replace("RUNNING", "SLEEPING");
        assert!(serde_json::from_str::<JobChangedData>(&bad).is_err());
    }
}
