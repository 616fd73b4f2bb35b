//! The Jobs page's operations: a page of rows, one job in full, and both kept live.

use super::{BigInt, DateTime, Id, JobStatus, Market, Money, PageInfo, schema};
use cynic::{Operation, QueryBuilder, StreamingOperation, SubscriptionBuilder};

/// A job as the table shows it.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Job")]
pub(crate) struct JobRow {
    pub id: Id,
    pub github_job_id: BigInt,
    pub repo: String,
    pub workflow: String,
    pub job_name: String,
    pub sender: String,
    pub status: JobStatus,
    pub project_name: String,
    pub pool_name: String,
    pub queued_at: DateTime,
    pub launched_at: Option<DateTime>,
    pub started_at: Option<DateTime>,
    pub finished_at: Option<DateTime>,
    pub duration_seconds: Option<i32>,
    pub instance_id: Option<String>,
    pub cost: Option<Money>,
    pub cost_estimated: bool,
}

/// A page of jobs.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct JobConnection {
    pub nodes: Vec<JobRow>,
    pub total_count: i32,
    pub page_info: PageInfo,
}

/// Which jobs a page lists.
#[derive(cynic::InputObject, Clone, Debug, Default, PartialEq)]
pub(crate) struct JobFilter {
    /// Only jobs in one of these statuses (all when `None`).
    pub statuses: Option<Vec<JobStatus>>,
    /// Only jobs of this project (all when `None`).
    pub project_id: Option<Id>,
}

/// The variables of [`jobs`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct JobsVars {
    /// Which jobs.
    pub filter: Option<JobFilter>,
    /// Page size.
    pub first: i32,
    /// The cursor the page starts after.
    pub after: Option<String>,
}

/// The answer to [`jobs`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "JobsVars")]
pub(crate) struct JobsData {
    #[arguments(filter: $filter, first: $first, after: $after)]
    pub jobs: JobConnection,
}

/// One page of jobs, newest first: `first` of them after the cursor `after`, only `status`
/// and only `project`'s when given.
pub(crate) fn jobs(
    status: Option<pacer_domain::JobStatus>,
    project: Option<String>,
    first: usize,
    after: Option<String>,
) -> Operation<JobsData, JobsVars> {
    let filter =
        JobFilter { statuses: status.map(|s| vec![s.into()]), project_id: project.as_deref().map(Id::from) };
    JobsData::build(JobsVars { filter: Some(filter), first: i32::try_from(first).unwrap_or(i32::MAX), after })
}

/// One answer of [`job_changed`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Subscription")]
pub(crate) struct JobChangedData {
    pub job_changed: JobRow,
}

/// Every job change, for the live table.
pub(crate) fn job_changed() -> StreamingOperation<JobChangedData, ()> {
    JobChangedData::build(())
}

/// The instance a job was launched on.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Instance {
    pub id: String,
    pub instance_type: Option<String>,
    pub availability_zone: Option<String>,
    pub market: Option<Market>,
    pub launched_at: Option<DateTime>,
    pub registered_at: Option<DateTime>,
    pub ended_at: Option<DateTime>,
    pub state: String,
}

/// Why a job failed.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct JobFailure {
    pub stage: String,
    pub message: String,
    pub log_tail: Option<String>,
}

/// One transition of a job.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct TimelineEntry {
    pub seq: BigInt,
    pub at: DateTime,
    pub action: String,
    pub actor: String,
    pub summary: String,
}

/// Everything known about one job.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Job")]
pub(crate) struct JobDetail {
    pub id: Id,
    pub github_job_id: BigInt,
    pub run_id: BigInt,
    pub run_attempt: i32,
    pub repo: String,
    pub workflow: String,
    pub job_name: String,
    pub branch: String,
    pub sha: String,
    pub sender: String,
    pub labels: Vec<String>,
    pub html_url: String,
    pub project_id: Id,
    pub project_name: String,
    pub pool_id: Id,
    pub pool_name: String,
    pub status: JobStatus,
    pub attempts: i32,
    pub market: Market,
    pub queued_at: DateTime,
    pub claimed_at: Option<DateTime>,
    pub launched_at: Option<DateTime>,
    pub started_at: Option<DateTime>,
    pub finished_at: Option<DateTime>,
    pub duration_seconds: Option<i32>,
    pub instance_id: Option<String>,
    pub instance: Option<Instance>,
    pub runner_name: Option<String>,
    pub price_per_hour: Option<Money>,
    pub cost: Option<Money>,
    pub cost_estimated: bool,
    pub failure: Option<JobFailure>,
    pub wait_reason: Option<String>,
    pub next_retry_at: Option<DateTime>,
    pub timeline: Vec<TimelineEntry>,
}

/// One of a job's steps as GitHub reports them.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "JobStepView")]
pub(crate) struct JobStep {
    pub number: i32,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<DateTime>,
    pub completed_at: Option<DateTime>,
    pub duration_seconds: Option<i32>,
}

/// A job's steps, or why there are none.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct JobSteps {
    pub nodes: Vec<JobStep>,
    pub unavailable: Option<String>,
}

/// A raw webhook received for a job.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct JobWebhook {
    pub delivery_id: String,
    pub action: String,
    pub received_at: DateTime,
    pub payload: String,
    pub bytes: i32,
}

/// What the details modal asks besides the job itself, once when it opens and then every 30
/// seconds (the steps from GitHub, the raw webhooks, GitHub's times, the runner's heartbeat).
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Job")]
pub(crate) struct JobGithub {
    pub github_created_at: Option<DateTime>,
    pub github_started_at: Option<DateTime>,
    pub github_completed_at: Option<DateTime>,
    pub sender_type: String,
    pub last_seen_at: Option<DateTime>,
    pub steps: JobSteps,
    pub webhooks: Vec<JobWebhook>,
}

/// The answer to [`job_github`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "JobVars")]
pub(crate) struct JobGithubData {
    #[arguments(id: $id)]
    pub job: Option<JobGithub>,
}

/// One job's steps, raw webhooks, GitHub times and heartbeat.
pub(crate) fn job_github(id: &str) -> Operation<JobGithubData, JobVars> {
    JobGithubData::build(JobVars { id: id.into() })
}

/// The variables of [`job`] and [`job_detail_changed`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct JobVars {
    /// The job's id.
    pub id: Id,
}

/// The answer to [`job`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "JobVars")]
pub(crate) struct JobData {
    #[arguments(id: $id)]
    pub job: Option<JobDetail>,
}

/// One job in full.
pub(crate) fn job(id: &str) -> Operation<JobData, JobVars> {
    JobData::build(JobVars { id: id.into() })
}

/// One answer of [`job_detail_changed`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Subscription", variables = "JobVars")]
pub(crate) struct JobDetailChangedData {
    #[arguments(id: $id)]
    pub job_changed: JobDetail,
}

/// Changes of one job in full, for the open details modal.
pub(crate) fn job_detail_changed(id: &str) -> StreamingOperation<JobDetailChangedData, JobVars> {
    JobDetailChangedData::build(JobVars { id: id.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_row_decodes_from_the_api_shape() {
        let json = r#"{"jobChanged":{"id":"12","githubJobId":"29679449","repo":"octo/hello","workflow":"CI",
            "jobName":"build","sender":"octocat","status":"RUNNING","projectName":"platform","poolName":"default",
            "queuedAt":"2026-11-29T00:46:07.123Z","launchedAt":"2026-11-29T00:46:09.000Z","startedAt":null,
            "finishedAt":null,"durationSeconds":42,"instanceId":"i-0abc","cost":null,"costEstimated":false}}"#;
        let data: JobChangedData = serde_json::from_str(json).expect("decodes");
        assert_eq!(data.job_changed.status, JobStatus::Running);
        assert_eq!(&*data.job_changed.github_job_id, "29679449");
        assert_eq!(data.job_changed.cost, None);
        let bad = json.replace("RUNNING", "SLEEPING");
        assert!(serde_json::from_str::<JobChangedData>(&bad).is_err());
    }

    #[test]
    fn the_status_and_project_filters_are_sent_in_the_api_spelling() {
        let op = jobs(Some(pacer_domain::JobStatus::Failed), Some("7".into()), 50, None);
        let vars = serde_json::to_value(&op.variables).expect("variables");
        assert_eq!(
            vars,
            serde_json::json!({ "filter": { "statuses": ["FAILED"], "projectId": "7" }, "first": 50, "after": null })
        );
        assert!(op.query.contains("jobs(filter: $filter, first: $first, after: $after)"));
    }
}
