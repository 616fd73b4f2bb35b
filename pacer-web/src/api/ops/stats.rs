//! The read-only pages' operations: the overview tiles (also live), the daily series, spend,
//! the stats roll-ups and the audit log.

use super::{BigInt, DateTime, Id, Json, Money, PageInfo, schema};
use cynic::{Operation, QueryBuilder, StreamingOperation, SubscriptionBuilder};

/// The overview tiles.
#[derive(cynic::QueryFragment, Clone, Debug, Default, PartialEq)]
pub(crate) struct Overview {
    pub window_days: i32,
    pub projects: i32,
    pub bound_repos: i32,
    pub queued_or_starting: i32,
    pub running: i32,
    pub completed: i32,
    pub failed_or_reaped: i32,
    pub last_seq: BigInt,
}

/// The variables of [`overview`] and [`overview_changed`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct OverviewVars {
    /// Days the completed and failed tiles count.
    pub window_days: i32,
    /// Only this project (all when `None`).
    pub project_id: Option<Id>,
}

/// The answer to [`overview`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "OverviewVars")]
pub(crate) struct OverviewData {
    #[arguments(windowDays: $window_days, projectId: $project_id)]
    pub overview: Overview,
}

/// The overview tiles once, of every project or of `project`'s.
pub(crate) fn overview(window_days: i32, project: Option<String>) -> Operation<OverviewData, OverviewVars> {
    OverviewData::build(OverviewVars { window_days, project_id: project.as_deref().map(Id::from) })
}

/// One answer of [`overview_changed`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Subscription", variables = "OverviewVars")]
pub(crate) struct OverviewChangedData {
    #[arguments(windowDays: $window_days, projectId: $project_id)]
    pub overview_changed: Overview,
}

/// The overview tiles whenever they change, of every project or of `project`'s.
pub(crate) fn overview_changed(
    window_days: i32,
    project: Option<String>,
) -> StreamingOperation<OverviewChangedData, OverviewVars> {
    OverviewChangedData::build(OverviewVars { window_days, project_id: project.as_deref().map(Id::from) })
}

/// One day of the daily series (cancelled jobs are counted apart; the chart leaves them out).
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct DayPoint {
    pub date: String,
    pub completed: i32,
    pub failed_or_reaped: i32,
}

/// The variables of the operations that narrow to one project.
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct ProjectVars {
    /// Only this project (all when `None`).
    pub project_id: Option<Id>,
}

/// The answer to [`daily_series`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "ProjectVars")]
pub(crate) struct DailySeriesData {
    #[arguments(projectId: $project_id)]
    pub daily_series: Vec<DayPoint>,
}

/// Completed vs failed/reaped per day of the current month, of every project or of `project`'s.
pub(crate) fn daily_series(project: Option<String>) -> Operation<DailySeriesData, ProjectVars> {
    DailySeriesData::build(ProjectVars { project_id: project.as_deref().map(Id::from) })
}

/// A stats window: the last `days`, `[from, to)`, or the current month so far.
#[derive(cynic::InputObject, Clone, Debug, Default, PartialEq)]
pub(crate) struct StatsWindow {
    /// The last N days.
    pub days: Option<i32>,
    /// Start (inclusive).
    pub from: Option<DateTime>,
    /// End (exclusive).
    pub to: Option<DateTime>,
    /// The current UTC month so far.
    pub month_to_date: Option<bool>,
}

/// One row of the spend card.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct SpendRow {
    pub name: String,
    pub jobs: i32,
    pub cost: Money,
}

/// Spend over a window: the total, the jobs without cost, what warm instances cost while idle
/// (apart from the total), and the top projects and repos.
#[derive(cynic::QueryFragment, Clone, Debug, Default, PartialEq)]
pub(crate) struct Spend {
    pub from: DateTime,
    pub total: Money,
    pub jobs: i32,
    pub unpriced: i32,
    pub warm_cost: Money,
    pub projects: Vec<SpendRow>,
    pub repos: Vec<SpendRow>,
}

/// The variables of [`spend`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct SpendVars {
    /// The window.
    pub window: Option<StatsWindow>,
    /// Rows per list.
    pub limit: i32,
    /// Only this project (all when `None`).
    pub project_id: Option<Id>,
}

/// The answer to [`spend`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "SpendVars")]
pub(crate) struct SpendData {
    #[arguments(window: $window, limit: $limit, projectId: $project_id)]
    pub spend: Spend,
}

/// Spend of the current UTC month so far: the total, the jobs without cost and the top
/// `limit` projects and repos, of every project or of `project`'s.
pub(crate) fn spend_month_to_date(limit: i32, project: Option<String>) -> Operation<SpendData, SpendVars> {
    SpendData::build(SpendVars {
        window: Some(StatsWindow { month_to_date: Some(true), ..StatsWindow::default() }),
        limit,
        project_id: project.as_deref().map(Id::from),
    })
}

/// How the stats rows are grouped.
#[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatsGroup {
    /// By project.
    Project,
    /// By pool.
    Pool,
    /// By repository.
    Repo,
    /// By runner label.
    Label,
}

impl StatsGroup {
    /// Every grouping, in display order.
    pub(crate) const ALL: [StatsGroup; 4] =
        [StatsGroup::Project, StatsGroup::Pool, StatsGroup::Repo, StatsGroup::Label];

    /// The word the picker shows.
    pub(crate) fn label(self) -> &'static str {
        match self {
            StatsGroup::Project => "Project",
            StatsGroup::Pool => "Pool",
            StatsGroup::Repo => "Repo",
            StatsGroup::Label => "Runner label",
        }
    }
}

/// One stats row (a group, or the totals); `warm_cost` (idle warm instances, apart from
/// `cost`) is 0 but in the totals and by project or pool.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct StatsRow {
    pub key: String,
    pub label: String,
    pub jobs: i32,
    pub completed: i32,
    pub failed: i32,
    pub cancelled: i32,
    pub reaped: i32,
    pub runner_seconds: BigInt,
    pub cost: Money,
    pub unpriced: i32,
    pub warm_cost: Money,
}

/// Roll-ups over a window.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Stats {
    pub from: DateTime,
    pub to: DateTime,
    pub group_by: StatsGroup,
    pub totals: StatsRow,
    pub rows: Vec<StatsRow>,
}

/// A sender and its terminal jobs.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct SenderCount {
    pub sender: String,
    pub jobs: i32,
}

/// The variables of [`stats`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct StatsVars {
    /// The window.
    pub window: StatsWindow,
    /// The grouping.
    pub group_by: StatsGroup,
    /// Only this project (all when `None`).
    pub project_id: Option<Id>,
}

/// The answer to [`stats`]: roll-ups with the top senders of the same window.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "Query", variables = "StatsVars")]
pub(crate) struct StatsData {
    #[arguments(window: $window, groupBy: $group_by, projectId: $project_id)]
    pub stats: Stats,
    #[arguments(window: $window, limit: 5, projectId: $project_id)]
    pub top_senders: Vec<SenderCount>,
}

/// Roll-ups over `window` grouped by `group_by`, with the top 5 senders, of every project or
/// of `project`'s.
pub(crate) fn stats(
    window: StatsWindow,
    group_by: StatsGroup,
    project: Option<String>,
) -> Operation<StatsData, StatsVars> {
    StatsData::build(StatsVars { window, group_by, project_id: project.as_deref().map(Id::from) })
}

/// One audit record.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AuditEntry {
    pub seq: BigInt,
    pub at: DateTime,
    pub action: String,
    pub actor: String,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
    pub outcome: Option<String>,
    pub failure: bool,
    pub summary: String,
    pub payload: Json,
}

/// A page of the audit log.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub failures: i32,
    pub page_info: PageInfo,
}

/// Which records an audit page lists.
#[derive(cynic::InputObject, Clone, Debug, Default, PartialEq)]
pub(crate) struct AuditFilter {
    /// Exactly this event name.
    pub action: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime>,
    /// Recorded before.
    pub to: Option<DateTime>,
    /// The actor contains this (ignoring case).
    pub actor: Option<String>,
    /// A target's name contains this (ignoring case).
    pub target: Option<String>,
    /// The record contains this anywhere (ignoring case).
    pub text: Option<String>,
}

/// The variables of [`audit`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct AuditVars {
    /// Which records.
    pub filter: Option<AuditFilter>,
    /// Page size.
    pub first: i32,
    /// The cursor the page starts after.
    pub after: Option<String>,
}

/// The answer to [`audit`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "AuditVars")]
pub(crate) struct AuditData {
    #[arguments(filter: $filter, first: $first, after: $after)]
    pub audit: AuditPage,
}

/// One page of the audit log, newest first.
pub(crate) fn audit(
    filter: AuditFilter,
    first: usize,
    after: Option<String>,
) -> Operation<AuditData, AuditVars> {
    AuditData::build(AuditVars {
        filter: Some(filter),
        first: i32::try_from(first).unwrap_or(i32::MAX),
        after,
    })
}

/// The head of the log's tamper-evident chain.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AuditChain {
    pub seq: BigInt,
    pub hash: Option<String>,
}

/// The answer to [`audit_chain`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct AuditChainData {
    pub audit_chain: AuditChain,
}

/// The chain head, for the audit page.
pub(crate) fn audit_chain() -> Operation<AuditChainData, ()> {
    AuditChainData::build(())
}

/// Counts over what an audit filter matches.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AuditSummary {
    pub events: i32,
    pub actors: i32,
    pub actions: i32,
    pub failures: i32,
    pub complete: bool,
}

/// The variables of [`audit_summary`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct AuditSummaryVars {
    /// Which records.
    pub filter: Option<AuditFilter>,
}

/// The answer to [`audit_summary`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "AuditSummaryVars")]
pub(crate) struct AuditSummaryData {
    #[arguments(filter: $filter)]
    pub audit_summary: AuditSummary,
}

/// The audit tiles' counts for `filter`.
pub(crate) fn audit_summary(filter: AuditFilter) -> Operation<AuditSummaryData, AuditSummaryVars> {
    AuditSummaryData::build(AuditSummaryVars { filter: Some(filter) })
}

/// The answer to [`actions`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct ActionsData {
    pub actions: Vec<String>,
}

/// Every event name, for the audit filter.
pub(crate) fn actions() -> Operation<ActionsData, ()> {
    ActionsData::build(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spend_card_asks_for_the_month_so_far() {
        let op = spend_month_to_date(5, None);
        assert!(
            op.query.contains("spend(window: $window, limit: $limit, projectId: $projectId)"),
            "{}",
            op.query
        );
        assert!(op.query.contains("total") && op.query.contains("unpriced"), "{}", op.query);
        assert!(op.query.contains("warmCost {"), "{}", op.query);
        let vars = serde_json::to_value(&op.variables).expect("variables");
        assert_eq!(vars["window"]["monthToDate"], true);
        assert_eq!(vars["window"]["days"], serde_json::Value::Null);
    }

    #[test]
    fn stats_ask_for_the_top_senders_of_the_same_window() {
        let op = stats(
            StatsWindow { days: Some(7), ..StatsWindow::default() },
            StatsGroup::Repo,
            Some("3".into()),
        );
        assert!(
            op.query.contains("topSenders(window: $window, limit: 5, projectId: $projectId)"),
            "{}",
            op.query
        );
        assert_eq!(op.query.matches("warmCost {").count(), 2, "totals and rows: {}", op.query);
        let vars = serde_json::to_value(&op.variables).expect("variables");
        assert_eq!(vars["groupBy"], "REPO");
        assert_eq!(vars["window"]["days"], 7);
        assert_eq!(vars["projectId"], "3", "the project scope narrows stats and senders alike");
    }
}
