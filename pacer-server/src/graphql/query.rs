//! Query roots, one per area, merged into [`Query`]: jobs, stats, audit, configuration, and the
//! system (health, settings, who am I).

use super::scalars::{BigInt, DateTime};
use super::summary::{payload, summary};
use super::types::*;
use super::{ErrorCode, WithField, bounded, engine, error, parse_id, principal};
use crate::auth::{Auth, Principal};
use async_graphql::{Context, Enum, ID, InputObject, MergedObject, Object, Result, SimpleObject};
use pacer_domain::{
    Date, EventName, GroupBy, GroupKey, JobFilter, PoolId, ProjectId, RetentionKind, State, Timestamp,
    Window, days_in_month,
};
use pacer_store::AuditQuery;
use std::collections::HashSet;
use std::sync::Arc;

/// Every query. Each needs a session unless auth is disabled (`authInfo` excepted); a refusal
/// is a GraphQL error with `extensions.code` (INVALID_INPUT, with the argument in
/// `extensions.field`; NOT_FOUND; UNAVAILABLE).
#[derive(MergedObject, Default)]
pub struct Query(JobsQuery, StatsQuery, AuditLogQuery, ConfigQuery, SystemQuery, super::InventoryQuery);

/// Rows a page holds at most.
const MAX_PAGE: i32 = 500;

/// What a page of `first` rows costs against the complexity limit: its selection once per row
/// (a `first` out of range costs a full page and is then refused by [`page_size`]).
fn page_cost(first: i32, child_complexity: usize) -> usize {
    usize::try_from(first.clamp(1, MAX_PAGE)).unwrap_or(1).saturating_mul(child_complexity)
}

fn page_size(first: i32) -> Result<usize> {
    if (1..=MAX_PAGE).contains(&first) {
        Ok(first as usize)
    } else {
        Err(error(ErrorCode::InvalidInput, "first must be between 1 and 500").extend_with_field("first"))
    }
}

/// Jobs list filter: every criterion given must match; a repo or sender Pacer never saw matches
/// nothing.
#[derive(InputObject, Default)]
#[graphql(name = "JobFilter")]
pub(super) struct JobFilterInput {
    /// Only jobs in one of these statuses; null or empty = any.
    pub statuses: Option<Vec<GqlJobStatus>>,
    /// Only jobs routed to this project (a numeric id, else INVALID_INPUT).
    pub project_id: Option<ID>,
    /// Only jobs routed to this pool (a numeric id, else INVALID_INPUT).
    pub pool_id: Option<ID>,
    /// Only jobs of this `owner/repo`, spelt as GitHub does or in lower case.
    pub repo: Option<String>,
    /// Only jobs triggered by this GitHub login, spelt as GitHub does or in lower case.
    pub sender: Option<String>,
}

/// Where a page ends: pass `endCursor` as `after` for the next page.
#[derive(SimpleObject)]
pub(super) struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Cursor of the last item on this page; null when the page is empty.
    pub end_cursor: Option<String>,
}

/// A page of retained jobs, newest (highest id) first.
#[derive(SimpleObject)]
pub(super) struct JobConnection {
    /// At most `first` jobs.
    pub nodes: Vec<JobView>,
    /// Retained jobs matching the filter, across every page.
    pub total_count: i32,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// The jobs list and one job's detail.
#[derive(Default)]
pub(super) struct JobsQuery;

#[Object]
impl JobsQuery {
    /// Retained jobs (finished ones stay until the audit retention prunes their records), newest
    /// first, filtered: `first` per page (1 to 500), from after `after`, a previous `endCursor`.
    /// INVALID_INPUT for another `first`, a bad cursor or a non-numeric id in the filter.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilterInput>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<JobConnection> {
        let engine = engine(ctx)?;
        let first = page_size(first)?;
        let filter = filter.unwrap_or_default();
        let before = match after {
            Some(cursor) => Some(pacer_domain::JobId(cursor.parse().map_err(|_| {
                error(ErrorCode::InvalidInput, "after is not a cursor").extend_with_field("after")
            })?)),
            None => None,
        };
        let state = engine.app.state();
        let now = engine.app.now();
        let nothing = || JobConnection {
            nodes: vec![],
            total_count: 0,
            page_info: PageInfo { has_next_page: false, end_cursor: None },
        };
        let symbol = |text: Option<String>| -> std::result::Result<Option<pacer_domain::Sym>, ()> {
            match text {
                None => Ok(None),
                Some(t) => state
                    .strings
                    .get(&t)
                    .or_else(|| state.strings.get(&t.to_ascii_lowercase()))
                    .map(Some)
                    .ok_or(()),
            }
        };
        let (Ok(repo), Ok(sender)) = (symbol(filter.repo), symbol(filter.sender)) else {
            return Ok(nothing());
        };
        let domain_filter = JobFilter {
            statuses: bounded(
                "filter.statuses",
                filter.statuses.unwrap_or_default(),
                pacer_domain::JobStatus::ALL.len(),
            )?
            .into_iter()
            .map(Into::into)
            .collect(),
            project: filter
                .project_id
                .as_ref()
                .map(|id| parse_id("project_id", id).map(ProjectId))
                .transpose()?,
            pool: filter.pool_id.as_ref().map(|id| parse_id("pool_id", id).map(PoolId)).transpose()?,
            repo,
            sender,
        };
        let page = state.jobs.page(&domain_filter, before, first);
        let slots = engine.launch_slots();
        let nodes: Vec<JobView> = page.jobs.iter().map(|job| JobView::of(&state, job, now, slots)).collect();
        let end_cursor = page.jobs.last().map(|j| j.id.0.to_string());
        Ok(JobConnection {
            nodes,
            total_count: page.total.try_into().unwrap_or(i32::MAX),
            page_info: PageInfo { has_next_page: page.has_more, end_cursor },
        })
    }

    /// One retained job by id, with everything the detail view shows; null when no such job is
    /// retained; INVALID_INPUT for a non-numeric id.
    async fn job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<JobView>> {
        let engine = engine(ctx)?;
        let id = pacer_domain::JobId(parse_id("id", &id)?);
        let state = engine.app.state();
        let now = engine.app.now();
        Ok(state.jobs.get(id).map(|job| JobView::of(&state, job, now, engine.launch_slots()).detailed()))
    }
}

/// A stats window: `days` (the last `days` × 24 hours, ending with the current UTC hour), both
/// `from` and `to` (widened to whole UTC hours), or `monthToDate: true` (from the start of the
/// current UTC month to the end of the current hour); anything else is INVALID_INPUT with
/// `extensions.field` `window`.
#[derive(InputObject, Clone, Copy)]
pub(super) struct StatsWindow {
    /// Days, 1 to 366; the console offers 1, 7, 30 and 90.
    pub days: Option<i32>,
    /// Start of a custom window, inclusive.
    pub from: Option<DateTime>,
    /// End of a custom window, exclusive: after `from` and at most 400 days later.
    pub to: Option<DateTime>,
    /// The current UTC month so far (the Overview's spend card); only `true` is a window.
    pub month_to_date: Option<bool>,
}

impl StatsWindow {
    fn window(self, now: Timestamp) -> Result<Window> {
        let bad =
            |message: &str| error(ErrorCode::InvalidInput, message.to_owned()).extend_with_field("window");
        match (self.days, self.from, self.to, self.month_to_date) {
            (Some(days), None, None, None) if (1..=366).contains(&days) => {
                Ok(Window::last_days(now, days as u32))
            }
            (Some(_), None, None, None) => Err(bad("days must be between 1 and 366")),
            (None, Some(from), Some(to), None) if to.0 > from.0 => {
                if to.0.millis() - from.0.millis() > 400 * pacer_domain::DAY_MS {
                    return Err(bad("a custom window spans at most 400 days"));
                }
                Ok(Window::custom(from.0, to.0))
            }
            (None, Some(_), Some(_), None) => Err(bad("to must be after from")),
            (None, None, None, Some(true)) => {
                let today = now.date();
                let first = Date::new(today.year, today.month, 1).map_or(now, Date::start);
                Ok(Window::custom(first, now.plus_millis(1)))
            }
            _ => Err(bad("give either days, from and to, or monthToDate: true")),
        }
    }
}

/// The project a `projectId` argument narrows to (a numeric id, else INVALID_INPUT naming
/// `projectId`); a project that never had jobs, or was deleted, matches what it still has.
fn project_filter(id: Option<&ID>) -> Result<Option<ProjectId>> {
    id.map(|id| parse_id("projectId", id).map(ProjectId)).transpose()
}

/// What stats rows are grouped by.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum StatsGroup {
    /// One row per project the jobs were routed to.
    Project,
    /// One row per pool, labelled `project/pool`.
    Pool,
    /// One row per `owner/repo`.
    Repo,
    /// One row per requested label set (the job's labels joined by `, `).
    Label,
}

/// Sums over the jobs that ended (reached a terminal status) in the window: one group's, or the
/// totals.
#[derive(SimpleObject, Clone)]
pub(super) struct StatsRow {
    /// Stable key of the group: the project or pool id, an opaque number for a repo or label set,
    /// `total` for the totals.
    pub key: String,
    /// What to show: the project name, `project/pool`, `owner/repo`, the label set, or `Total`; a
    /// deleted project or pool shows as `project #3 (deleted)`.
    pub label: String,
    /// Jobs that ended: completed + failed + cancelled + reaped.
    pub jobs: i32,
    /// Of which completed.
    pub completed: i32,
    /// Of which failed.
    pub failed: i32,
    /// Of which cancelled.
    pub cancelled: i32,
    /// Of which reaped.
    pub reaped: i32,
    /// Runner time in whole seconds: Σ (job end − launch of the instance it had); a job that
    /// never had an instance adds nothing.
    pub runner_seconds: BigInt,
    /// Cost: Σ price × (terminated − launched) of the instances billed to these jobs, with a
    /// running estimate to now for those still up; jobs without cost add nothing.
    pub cost: Money,
    /// Jobs without cost: none of their instances had a price quote, or they never had one (the
    /// launch failed, or they ended before one was launched).
    pub unpriced: i32,
    /// What warm instances cost while they waited for a job (price × idle time), not part of
    /// `cost`: filed when a job took one or one ended untaken, plus the idle ones so far when
    /// the window holds now. Only in the totals and by project or pool (0 in other groupings).
    pub warm_cost: Money,
}

fn count(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn row(key: String, label: String, c: &pacer_domain::Counters) -> StatsRow {
    StatsRow {
        key,
        label,
        jobs: count(c.jobs),
        completed: count(c.completed),
        failed: count(c.failed),
        cancelled: count(c.cancelled),
        reaped: count(c.reaped),
        runner_seconds: BigInt(c.runner_ms / 1_000),
        cost: c.cost.into(),
        unpriced: count(c.unpriced),
        warm_cost: c.warm_cost.into(),
    }
}

/// Stats over a window, summed from hourly and daily roll-ups.
#[derive(SimpleObject)]
pub(super) struct Stats {
    /// Start of the window, inclusive, on a whole UTC hour.
    pub from: DateTime,
    /// End of the window, exclusive, on a whole UTC hour.
    pub to: DateTime,
    /// What `rows` are grouped by.
    pub group_by: StatsGroup,
    /// Every job that ended in the window (of the project asked for), in one row (key `total`).
    pub totals: StatsRow,
    /// One row per group, highest cost first, then most jobs (ties by label).
    pub rows: Vec<StatsRow>,
}

/// Jobs that ended on one UTC day.
#[derive(SimpleObject)]
pub(super) struct DayPoint {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Jobs completed that day.
    pub completed: i32,
    /// Jobs failed or reaped that day.
    pub failed_or_reaped: i32,
    /// Jobs cancelled that day.
    pub cancelled: i32,
}

/// Jobs per sender over a window.
#[derive(SimpleObject)]
pub(super) struct SenderCount {
    /// GitHub login of whoever triggered the jobs; empty for jobs whose sender is unknown.
    pub sender: String,
    /// Their jobs that ended in the window.
    pub jobs: i32,
}

/// Spend over a window: the total and the top spenders.
#[derive(SimpleObject)]
pub(super) struct Spend {
    /// Start of the window, inclusive, on a whole UTC hour.
    pub from: DateTime,
    /// End of the window, exclusive, on a whole UTC hour.
    pub to: DateTime,
    /// Cost of every job that ended in the window (of the project asked for), as `stats`
    /// counts it.
    pub total: Money,
    /// Jobs that ended in the window.
    pub jobs: i32,
    /// Of which without cost (as `StatsRow.unpriced`).
    pub unpriced: i32,
    /// What warm instances cost in the window while they waited for a job (as
    /// `StatsRow.warmCost`), on top of `total`.
    pub warm_cost: Money,
    /// Projects with jobs that ended in the window, highest cost first, then most jobs (ties by
    /// name).
    pub projects: Vec<SpendRow>,
    /// Repos with jobs that ended in the window, highest cost first, then most jobs (ties by
    /// name).
    pub repos: Vec<SpendRow>,
}

/// One project or repo in the spend ranking.
#[derive(SimpleObject)]
pub(super) struct SpendRow {
    /// Project name or `owner/repo`.
    pub name: String,
    /// Cost of its jobs that ended in the window.
    pub cost: Money,
    /// Its jobs that ended in the window.
    pub jobs: i32,
}

/// The overview tiles: current load, and jobs ended over the last `windowDays`.
#[derive(SimpleObject, Clone, PartialEq)]
pub(super) struct Overview {
    /// Days `completed` and `failedOrReaped` cover, as asked (counted as 1 to 366).
    pub window_days: i32,
    /// Projects configured.
    pub projects: i32,
    /// Repos bound to projects.
    pub bound_repos: i32,
    /// Jobs now queued, claimed or starting.
    pub queued_or_starting: i32,
    /// Jobs now running.
    pub running: i32,
    /// Jobs completed in the last `windowDays` × 24 hours (up to the end of the current UTC hour).
    pub completed: i32,
    /// Jobs failed or reaped in the same window.
    pub failed_or_reaped: i32,
    /// Seq of the last log record these numbers include.
    pub last_seq: BigInt,
}

/// The overview of `state` at `now` over `days`, of every project or of `project`'s alone.
pub(crate) fn overview(state: &State, now: Timestamp, days: i32, project: Option<ProjectId>) -> Overview {
    use pacer_domain::JobStatus as S;
    let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    let total = state.rollups.total(Window::last_days(now, days.clamp(1, 366) as u32), project);
    let in_scope = |status: S| match project {
        None => state.jobs.count(status),
        Some(p) => state.jobs.in_status(status).filter(|j| j.project == p).count(),
    };
    Overview {
        window_days: days,
        projects: n(match project {
            None => state.config.projects.len(),
            Some(p) => usize::from(state.config.project(p).is_some()),
        }),
        bound_repos: n(state
            .config
            .repos
            .values()
            .filter(|r| project.is_none_or(|p| r.project == p))
            .count()),
        queued_or_starting: n(in_scope(S::Queued) + in_scope(S::Claimed) + in_scope(S::Starting)),
        running: n(in_scope(S::Running)),
        completed: count(total.completed),
        failed_or_reaped: count(total.failed_or_reaped()),
        last_seq: state.last_seq.into(),
    }
}

fn group_label(state: &State, key: GroupKey) -> (String, String) {
    match key {
        GroupKey::Total => ("total".into(), "Total".into()),
        GroupKey::Project(p) => (
            p.0.to_string(),
            state
                .config
                .project(p)
                .map_or_else(|| format!("project #{} (deleted)", p.0), |p| p.spec.name.clone()),
        ),
        GroupKey::Pool(p) => (
            p.0.to_string(),
            state.config.pool(p).map_or_else(
                || format!("pool #{} (deleted)", p.0),
                |pool| {
                    let project = state.config.project(pool.project).map_or("?", |p| p.spec.name.as_str());
                    format!("{project}/{}", pool.spec.name)
                },
            ),
        ),
        GroupKey::Repo(s) | GroupKey::Label(s) | GroupKey::Sender(s) => {
            (s.0.to_string(), state.strings.resolve(s).to_owned())
        }
    }
}

/// How a ranking orders its rows (ties by label either way).
#[derive(Clone, Copy)]
enum Rank {
    /// Highest cost first, then most jobs.
    Cost,
    /// Most jobs first.
    Jobs,
}

/// The groups of `group` over `window` (of `project`'s jobs, or every job), costs estimated to
/// `now`, as (key, label, counters) in `rank` order.
fn ranked(
    state: &State,
    window: Window,
    group: GroupBy,
    project: Option<ProjectId>,
    now: Timestamp,
    rank: Rank,
) -> Vec<(String, String, pacer_domain::Counters)> {
    let mut rows: Vec<_> = state
        .stats(window, group, project, now)
        .into_iter()
        .map(|(key, counters)| {
            let (key, label) = group_label(state, key);
            (key, label, counters)
        })
        .collect();
    rows.sort_by(|a, b| {
        let jobs = b.2.jobs.cmp(&a.2.jobs);
        match rank {
            Rank::Cost => b.2.cost.cmp(&a.2.cost).then(jobs),
            Rank::Jobs => jobs,
        }
        .then_with(|| a.1.cmp(&b.1))
    });
    rows
}

/// The UTC days `dailySeries` covers: a month (`year` and `month`, each defaulting to the
/// current one), or every day `window` touches; `[from, to)` day numbers.
fn series_days(
    now: Timestamp,
    year: Option<i32>,
    month: Option<i32>,
    window: Option<StatsWindow>,
) -> Result<(i32, i32)> {
    if let Some(window) = window {
        if year.is_some() || month.is_some() {
            return Err(error(ErrorCode::InvalidInput, "give either year and month, or window")
                .extend_with_field("window"));
        }
        let range = window.window(now)?;
        return Ok((range.from.day(), range.to.plus_millis(-1).day() + 1));
    }
    let today = now.date();
    let year = year.unwrap_or(today.year);
    let month = month.map_or(today.month, |m| m.clamp(0, 13) as u32);
    let first = Date::new(year, month, 1)
        .ok_or_else(|| error(ErrorCode::InvalidInput, "no such month").extend_with_field("month"))?;
    let from = first.to_day();
    Ok((from, from + days_in_month(year, month) as i32))
}

/// The overview tiles, stats, daily series, top senders and spend. Costs are as the stats
/// count them: settled when an instance ends, estimated to now while it is up.
#[derive(Default)]
pub(super) struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The overview tiles, of every project or of one (`projectId`); `completed` and
    /// `failedOrReaped` cover the last `windowDays` days (counted as 1 to 366). INVALID_INPUT
    /// for a non-numeric `projectId`.
    async fn overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] window_days: i32,
        project_id: Option<ID>,
    ) -> Result<Overview> {
        let engine = engine(ctx)?;
        let project = project_filter(project_id.as_ref())?;
        Ok(overview(&engine.app.state(), engine.app.now(), window_days, project))
    }

    /// Jobs that ended, runner time, cost and jobs without cost over a window, in total and per
    /// group, of every job or of one project's (`projectId`); INVALID_INPUT for a bad window or
    /// a non-numeric `projectId`.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        window: StatsWindow,
        #[graphql(default_with = "StatsGroup::Project")] group_by: StatsGroup,
        project_id: Option<ID>,
    ) -> Result<Stats> {
        let engine = engine(ctx)?;
        let now = engine.app.now();
        let range = window.window(now)?;
        let project = project_filter(project_id.as_ref())?;
        let state = engine.app.state();
        let group = match group_by {
            StatsGroup::Project => GroupBy::Project,
            StatsGroup::Pool => GroupBy::Pool,
            StatsGroup::Repo => GroupBy::Repo,
            StatsGroup::Label => GroupBy::Label,
        };
        let totals = state.stats_total(range, project, now);
        Ok(Stats {
            from: range.from.into(),
            to: range.to.into(),
            group_by,
            totals: row("total".into(), "Total".into(), &totals),
            rows: ranked(&state, range, group, project, now, Rank::Cost)
                .into_iter()
                .map(|(k, l, c)| row(k, l, &c))
                .collect(),
        })
    }

    /// Completed, failed/reaped and cancelled jobs per UTC day, one point per day, of every job
    /// or of one project's (`projectId`): the days of a month (`year` defaults to the current
    /// one, `month`, 1 to 12, to the current month), or every day a `window` touches (each day
    /// counted whole). INVALID_INPUT for a bad month or window, both, or a non-numeric
    /// `projectId`.
    async fn daily_series(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
        month: Option<i32>,
        window: Option<StatsWindow>,
        project_id: Option<ID>,
    ) -> Result<Vec<DayPoint>> {
        let engine = engine(ctx)?;
        let (from, to) = series_days(engine.app.now(), year, month, window)?;
        let project = project_filter(project_id.as_ref())?;
        let state = engine.app.state();
        Ok(state
            .rollups
            .daily_totals(from, to, project)
            .into_iter()
            .map(|(day, c)| DayPoint {
                date: Date::from_day(day).to_string(),
                completed: count(c.completed),
                failed_or_reaped: count(c.failed_or_reaped()),
                cancelled: count(c.cancelled),
            })
            .collect())
    }

    /// Senders by jobs that ended in a window (of every job, or of one project's), most first
    /// (ties by login); `limit` is clamped to 1 to 100. INVALID_INPUT for a bad window or a
    /// non-numeric `projectId`.
    async fn top_senders(
        &self,
        ctx: &Context<'_>,
        window: StatsWindow,
        #[graphql(default = 5)] limit: i32,
        project_id: Option<ID>,
    ) -> Result<Vec<SenderCount>> {
        let engine = engine(ctx)?;
        let now = engine.app.now();
        let range = window.window(now)?;
        let project = project_filter(project_id.as_ref())?;
        let state = engine.app.state();
        Ok(ranked(&state, range, GroupBy::Sender, project, now, Rank::Jobs)
            .into_iter()
            .take(limit.clamp(1, 100) as usize)
            .map(|(_, sender, c)| SenderCount { sender, jobs: count(c.jobs) })
            .collect())
    }

    /// Spend over a window (default: the last 30 days), of every job or of one project's
    /// (`projectId`): the total, the jobs and those without cost, and the top projects and
    /// repos, `limit` rows per list, clamped to 1 to 100. INVALID_INPUT for a bad window or a
    /// non-numeric `projectId`.
    async fn spend(
        &self,
        ctx: &Context<'_>,
        window: Option<StatsWindow>,
        #[graphql(default = 5)] limit: i32,
        project_id: Option<ID>,
    ) -> Result<Spend> {
        let engine = engine(ctx)?;
        let now = engine.app.now();
        let range = match window {
            Some(w) => w.window(now)?,
            None => Window::last_days(now, 30),
        };
        let project = project_filter(project_id.as_ref())?;
        let state = engine.app.state();
        let top = |group| {
            ranked(&state, range, group, project, now, Rank::Cost)
                .into_iter()
                .filter(|(_, _, c)| c.jobs > 0)
                .take(limit.clamp(1, 100) as usize)
                .map(|(_, name, c)| SpendRow { name, cost: c.cost.into(), jobs: count(c.jobs) })
                .collect()
        };
        let total = state.stats_total(range, project, now);
        Ok(Spend {
            from: range.from.into(),
            to: range.to.into(),
            total: total.cost.into(),
            jobs: count(total.jobs),
            unpriced: count(total.unpriced),
            warm_cost: total.warm_cost.into(),
            projects: top(GroupBy::Project),
            repos: top(GroupBy::Repo),
        })
    }
}

/// Audit log filter: every criterion given must match.
#[derive(InputObject, Default)]
pub(super) struct AuditFilter {
    /// Only records of this event name (exact, e.g. `pool.updated`; `actions` lists them); blank =
    /// any; an unknown name is INVALID_INPUT.
    pub action: Option<String>,
    /// Only records at or after this time.
    pub from: Option<DateTime>,
    /// Only records before this time.
    pub to: Option<DateTime>,
    /// Only records whose actor contains this text (ignoring case: `alice`, `runner:`,
    /// `system`); blank = any.
    pub actor: Option<String>,
    /// Only records about a thing whose name contains this text (ignoring case: `job/12`,
    /// `i-0abc`, `repo/octo/`); blank = any.
    pub target: Option<String>,
    /// Only records containing this text anywhere (ignoring case): action, actor, targets,
    /// request id, client address, outcome, summary or payload; blank = any.
    pub text: Option<String>,
}

/// The most records one page of `audit` reads looking for matches of `actor`, `target` or
/// `text`; a page that runs out of them before it is full ends there, and `endCursor` goes on
/// from the last record read.
const AUDIT_SCAN_PER_PAGE: usize = 20_000;
/// The most records `auditSummary` reads.
const AUDIT_SCAN_FOR_SUMMARY: usize = 100_000;
/// Records read from the store at a time while filtering.
const AUDIT_READ_CHUNK: usize = 1_000;

/// An [`AuditFilter`] checked: what the store filters, and what is matched on each record.
struct AuditSearch {
    query: AuditQuery,
    actor: Option<String>,
    target: Option<String>,
    text: Option<String>,
}

impl AuditSearch {
    fn parse(filter: AuditFilter) -> Result<AuditSearch> {
        let action = match filter.action.filter(|a| !a.trim().is_empty()) {
            Some(name) => Some(EventName::parse(name.trim()).ok_or_else(|| {
                error(ErrorCode::InvalidInput, format!("unknown action {name}")).extend_with_field("action")
            })?),
            None => None,
        };
        let needle = |field: Option<String>, name: &str| -> Result<Option<String>> {
            match field.map(|f| f.trim().to_lowercase()).filter(|f| !f.is_empty()) {
                Some(f) if f.chars().count() > 200 => {
                    Err(error(ErrorCode::InvalidInput, format!("{name} is longer than 200 characters"))
                        .extend_with_field(name))
                }
                other => Ok(other),
            }
        };
        Ok(AuditSearch {
            query: AuditQuery {
                action,
                from: filter.from.map(|d| d.0),
                to: filter.to.map(|d| d.0),
                before_seq: None,
                limit: AUDIT_READ_CHUNK,
            },
            actor: needle(filter.actor, "actor")?,
            target: needle(filter.target, "target")?,
            text: needle(filter.text, "text")?,
        })
    }

    /// Whether every record the store answers matches (nothing to check per record).
    fn store_only(&self) -> bool {
        self.actor.is_none() && self.target.is_none() && self.text.is_none()
    }

    fn matches(&self, entry: &AuditEntry, record: &pacer_domain::Recorded) -> bool {
        let contains = |hay: &str, needle: &str| hay.to_lowercase().contains(needle);
        if self.actor.as_deref().is_some_and(|n| !contains(&entry.actor, n)) {
            return false;
        }
        if let Some(n) = self.target.as_deref()
            && !record.event.subjects().iter().any(|s| contains(&s.to_string(), n))
        {
            return false;
        }
        self.text.as_deref().is_none_or(|n| {
            [&entry.action, &entry.actor, &entry.summary].iter().any(|f| contains(f, n))
                || [&entry.request_id, &entry.client_address, &entry.outcome]
                    .iter()
                    .any(|f| f.as_deref().is_some_and(|f| contains(f, n)))
                || record.event.subjects().iter().any(|s| contains(&s.to_string(), n))
                || contains(&entry.payload.0.to_string(), n)
        })
    }

    /// Reads the log newest first below `before_seq`, reading at most `budget` records, until
    /// `wanted` entries matched; calls `found` with each match. Whether the log below the last
    /// record read holds more (to read on from [`AuditScan::last_read`]).
    fn scan(
        &mut self,
        log: &dyn pacer_store::EventLog,
        before_seq: Option<u64>,
        budget: usize,
        wanted: usize,
        mut found: impl FnMut(AuditEntry),
    ) -> Result<AuditScan, pacer_store::StoreError> {
        let mut scan = AuditScan { read: 0, matched: 0, last_read: None, more: true };
        self.query.before_seq = before_seq;
        while scan.matched < wanted && scan.read < budget {
            self.query.limit = if self.store_only() {
                (wanted - scan.matched).min(AUDIT_READ_CHUNK)
            } else {
                AUDIT_READ_CHUNK.min(budget - scan.read)
            };
            let records = log.audit(&self.query)?;
            scan.more = records.len() == self.query.limit;
            for record in &records {
                scan.read += 1;
                scan.last_read = Some(record.seq);
                let entry = AuditEntry::of(record);
                if self.matches(&entry, record) {
                    scan.matched += 1;
                    found(entry);
                    if scan.matched == wanted {
                        scan.more = true;
                        return Ok(scan);
                    }
                }
            }
            if !scan.more {
                break;
            }
            self.query.before_seq = scan.last_read;
        }
        Ok(scan)
    }
}

/// How far an [`AuditSearch::scan`] went.
struct AuditScan {
    read: usize,
    matched: usize,
    last_read: Option<u64>,
    more: bool,
}

/// One record of the log, as the audit view shows it.
#[derive(SimpleObject)]
pub(super) struct AuditEntry {
    /// Position in the log (from 1, without gaps); also the paging cursor.
    pub seq: BigInt,
    /// When it was recorded.
    pub at: DateTime,
    /// Event name, `noun.past_participle` (e.g. `job.claimed`).
    pub action: String,
    /// Who caused it: `system`, `github`, an operator's email, or `runner:<instance-id>`.
    pub actor: String,
    /// The first thing it is about: `job/12`, `instance/i-0abc…`, `project/3`, `pool/7`,
    /// `repo/owner/name` or `user/email`; null when it is about none of these.
    pub target: Option<String>,
    /// Id of the request that caused it (for webhooks, the `X-GitHub-Delivery` GUID); null when
    /// none was given.
    pub request_id: Option<String>,
    /// The client's address, for records that keep one (sign-ins); null otherwise.
    pub client_address: Option<String>,
    /// The outcome the record states: a sign-in's (`succeeded` or why it was refused), a job
    /// end's (GitHub's conclusion, failure stage, `reaped`), a launch error's AWS code, why no
    /// pool matched, why a runner was refused or failed, a health change (`ok`, `failing`);
    /// null for records that state none.
    pub outcome: Option<String>,
    /// Whether the audit view counts it as a failure: a job failed, reaped, unmatched or whose
    /// launch failed or is retried, an instance lost or orphaned, a runner error, a refused
    /// sign-in, or a component turning unhealthy.
    pub failure: bool,
    /// One readable line about the record.
    pub summary: String,
    /// The event's full payload as JSON (never secrets).
    pub payload: async_graphql::Json<serde_json::Value>,
}

impl AuditEntry {
    pub(crate) fn of(record: &pacer_domain::Recorded) -> Self {
        AuditEntry {
            seq: record.seq.into(),
            at: record.at.into(),
            action: record.event.name().as_str().to_owned(),
            actor: record.actor.to_string(),
            target: record.event.subjects().first().map(ToString::to_string),
            request_id: record.request_id.clone(),
            client_address: record.event.client_address().map(str::to_owned),
            outcome: record.event.outcome(),
            failure: record.event.is_failure(),
            summary: summary(&record.event),
            payload: async_graphql::Json(payload(&record.event)),
        }
    }
}

/// A page of the audit log.
#[derive(SimpleObject)]
pub(super) struct AuditPage {
    /// At most `first` records, newest first.
    pub entries: Vec<AuditEntry>,
    /// How many of these entries count as failures.
    pub failures: i32,
    /// Where the next page starts (the cursor is a seq). With `actor`, `target` or `text`, a
    /// page reads at most 20,000 records: one that found fewer than `first` matches in them
    /// still has a next page while older records remain.
    pub page_info: PageInfo,
}

/// Counts over the records an audit filter matches.
#[derive(SimpleObject)]
pub(super) struct AuditSummary {
    /// Records matched.
    pub events: i32,
    /// Distinct actors among them.
    pub actors: i32,
    /// Distinct actions among them.
    pub actions: i32,
    /// How many count as failures.
    pub failures: i32,
    /// False when the newest 100,000 records in range were read and older ones remain: the
    /// counts are then lower bounds.
    pub complete: bool,
}

/// Runs `work` with the log on a blocking thread, a store failure as UNAVAILABLE.
async fn with_log<T: Send + 'static>(
    engine: &crate::engine::Engine,
    work: impl FnOnce(&dyn pacer_store::EventLog) -> Result<T, pacer_store::StoreError> + Send + 'static,
) -> Result<T> {
    let log = engine.app.log().clone();
    tokio::task::spawn_blocking(move || work(&*log))
        .await
        .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?
        .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))
}

/// The audit log: the event log itself, filtered.
#[derive(Default)]
pub(super) struct AuditLogQuery;

#[Object]
impl AuditLogQuery {
    /// The log, newest first, filtered by exact action, time range, actor, target and text:
    /// `first` per page (1 to 500), from after `after`, a previous `endCursor`. INVALID_INPUT
    /// for another `first`, a bad cursor, an unknown action or a search text over 200
    /// characters; UNAVAILABLE when the log cannot be read.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn audit(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<AuditPage> {
        let engine = engine(ctx)?;
        let first = page_size(first)?;
        let mut search = AuditSearch::parse(filter.unwrap_or_default())?;
        let before_seq = match after {
            Some(cursor) => Some(cursor.parse().map_err(|_| {
                error(ErrorCode::InvalidInput, "after is not a cursor").extend_with_field("after")
            })?),
            None => None,
        };
        let (entries, scan) = with_log(engine, move |log| {
            let mut entries = Vec::new();
            let scan = search.scan(log, before_seq, AUDIT_SCAN_PER_PAGE, first + 1, |e| entries.push(e))?;
            Ok((entries, scan))
        })
        .await?;
        let mut entries = entries;
        let has_next_page = entries.len() > first || (scan.more && scan.read > 0);
        entries.truncate(first);
        let end_cursor = if entries.len() == first || !scan.more {
            entries.last().map(|e| e.seq.0.to_string())
        } else {
            scan.last_read.map(|seq| seq.to_string())
        };
        Ok(AuditPage {
            failures: entries.iter().filter(|e| e.failure).count() as i32,
            page_info: PageInfo { has_next_page, end_cursor },
            entries,
        })
    }

    /// Counts over what `filter` matches (the audit page's tiles): records, distinct actors and
    /// actions, failures. Reads at most the newest 100,000 records in range (`complete` says
    /// whether that was all). Errors as `audit`.
    async fn audit_summary(&self, ctx: &Context<'_>, filter: Option<AuditFilter>) -> Result<AuditSummary> {
        let engine = engine(ctx)?;
        let mut search = AuditSearch::parse(filter.unwrap_or_default())?;
        with_log(engine, move |log| {
            let (mut actors, mut actions) = (HashSet::new(), HashSet::new());
            let mut failures = 0;
            let scan = search.scan(log, None, AUDIT_SCAN_FOR_SUMMARY, usize::MAX, |entry| {
                failures += i32::from(entry.failure);
                actions.insert(entry.action);
                actors.insert(entry.actor);
            })?;
            Ok(AuditSummary {
                events: scan.matched as i32,
                actors: actors.len() as i32,
                actions: actions.len() as i32,
                failures,
                complete: !scan.more,
            })
        })
        .await
    }

    /// The head of the log's tamper-evident chain: its last record and that record's chain hash.
    /// Noted somewhere else, it lets anyone check the log (`pacer verify`) or an export
    /// (`GET /api/audit/export`) against it later. Errors as `audit`.
    async fn audit_chain(&self, ctx: &Context<'_>) -> Result<AuditChain> {
        Ok(with_log(engine(ctx)?, pacer_store::chain_head).await?.into())
    }

    /// Every event name (`noun.past_participle`), for the audit filter and the `events`
    /// subscription.
    async fn actions(&self) -> Vec<String> {
        EventName::ALL.iter().map(|n| n.as_str().to_owned()).collect()
    }
}

/// Projects, pools and repo bindings.
#[derive(Default)]
pub(super) struct ConfigQuery;

#[Object]
impl ConfigQuery {
    /// Every project, by name (case-insensitive).
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<ProjectView>> {
        let engine = engine(ctx)?;
        let state = engine.app.state();
        let mut projects: Vec<ProjectView> =
            state.config.projects.values().map(|p| ProjectView::of(&state, p)).collect();
        projects.sort_by_key(|p| p.name.to_ascii_lowercase());
        Ok(projects)
    }

    /// One project by id; null when none has it; INVALID_INPUT for a non-numeric id.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProjectView>> {
        let engine = engine(ctx)?;
        let id = ProjectId(parse_id("id", &id)?);
        let state = engine.app.state();
        Ok(state.config.project(id).map(|p| ProjectView::of(&state, p)))
    }

    /// Pools by id: of one project, or of all without `projectId`.
    async fn pools(&self, ctx: &Context<'_>, project_id: Option<ID>) -> Result<Vec<PoolView>> {
        let engine = engine(ctx)?;
        let project = project_id.as_ref().map(|id| parse_id("project_id", id).map(ProjectId)).transpose()?;
        let state = engine.app.state();
        Ok(state
            .config
            .pools
            .values()
            .filter(|p| project.is_none_or(|id| p.project == id))
            .map(|p| PoolView::of(&state, p))
            .collect())
    }

    /// One pool by id; null when none has it; INVALID_INPUT for a non-numeric id.
    async fn pool(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PoolView>> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("id", &id)?);
        let state = engine.app.state();
        Ok(state.config.pool(id).map(|p| PoolView::of(&state, p)))
    }

    /// Repo bindings by lower-cased name: of one project, or of all without `projectId`.
    async fn repos(&self, ctx: &Context<'_>, project_id: Option<ID>) -> Result<Vec<RepoView>> {
        let engine = engine(ctx)?;
        let project = project_id.as_ref().map(|id| parse_id("project_id", id).map(ProjectId)).transpose()?;
        let state = engine.app.state();
        Ok(state
            .config
            .repos
            .values()
            .filter(|r| project.is_none_or(|id| r.project == id))
            .map(|r| RepoView::of(&state, r))
            .collect())
    }

    /// The `runs-on:` line that selects a pool, e.g. `runs-on: [self-hosted, web, linux]`;
    /// NOT_FOUND for an unknown pool.
    async fn runs_on(&self, ctx: &Context<'_>, pool_id: ID) -> Result<String> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("pool_id", &pool_id)?);
        let state = engine.app.state();
        let pool =
            state.config.pool(id).ok_or_else(|| error(ErrorCode::NotFound, format!("{id} not found")))?;
        Ok(state.config.runs_on(pool))
    }
}

/// Health of one component.
#[derive(SimpleObject)]
pub(super) struct HealthComponent {
    /// `dispatcher`, `reaper`, `preflight`, `github`, `templates` or `storage`.
    pub name: String,
    /// Whether it works.
    pub ok: bool,
    /// What is wrong; empty when ok.
    pub message: String,
    /// When its health last changed; null for `storage`.
    pub since: Option<DateTime>,
}

/// Pacer's health, overall and per component.
#[derive(SimpleObject)]
pub(super) struct Health {
    /// Whether every component is ok (the console shows a red banner otherwise).
    pub ok: bool,
    /// Every component that has reported a problem at least once, then `storage`.
    pub components: Vec<HealthComponent>,
}

/// What a retention removes once it is old enough.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "RetentionKind")]
pub(super) enum GqlRetentionKind {
    /// Log records older than this are deleted from the log below a verified snapshot (archived
    /// first with `retention.archive_dir`); finished jobs leave the jobs view with their records.
    Audit,
    /// Raw webhook payloads kept for the job detail are deleted this many days after their job
    /// finished.
    Webhook,
    /// The log output a failed runner sent (the job detail's failure log) is deleted this many
    /// days after it arrived.
    FailureLog,
}

impl From<RetentionKind> for GqlRetentionKind {
    fn from(kind: RetentionKind) -> Self {
        match kind {
            RetentionKind::Audit => Self::Audit,
            RetentionKind::Webhook => Self::Webhook,
            RetentionKind::FailureLog => Self::FailureLog,
        }
    }
}

impl From<GqlRetentionKind> for RetentionKind {
    fn from(kind: GqlRetentionKind) -> Self {
        match kind {
            GqlRetentionKind::Audit => Self::Audit,
            GqlRetentionKind::Webhook => Self::Webhook,
            GqlRetentionKind::FailureLog => Self::FailureLog,
        }
    }
}

/// One retention: the days in force, from the configuration or overridden in the console.
#[derive(SimpleObject)]
pub(super) struct RetentionSetting {
    /// What it removes.
    pub kind: GqlRetentionKind,
    /// The days in force: the override, else the default.
    pub days: i32,
    /// The configuration's default (`retention.audit_days`, `retention.webhook_days`,
    /// `retention.failure_log_days`).
    pub default_days: i32,
    /// Whether `setRetention` overrode the default.
    pub overridden: bool,
}

/// The log's last prune (`audit.pruned`).
#[derive(SimpleObject)]
pub(super) struct LogPrune {
    /// The first deleted record's seq.
    pub first_seq: BigInt,
    /// The last deleted record's seq.
    pub last_seq: BigInt,
    /// When the last deleted record was recorded.
    pub through: DateTime,
    /// When the prune was recorded.
    pub at: DateTime,
    /// The archive file the records were written to before deletion (in
    /// `retention.archive_dir`); null when not archived.
    pub archive: Option<String>,
}

/// Settings changed from the console, and the URL instances use.
#[derive(SimpleObject)]
pub(super) struct Settings {
    /// Every retention, audit, webhook and failure log in this order.
    pub retention: Vec<RetentionSetting>,
    /// The log's last prune; null before the first.
    pub last_prune: Option<LogPrune>,
    /// A short fingerprint of the current bootstrap token, to tell tokens apart (never the token).
    pub bootstrap_token_fingerprint: Option<String>,
    /// Until when the previous bootstrap token is still accepted after a rotation; null before
    /// the first rotation.
    pub previous_token_valid_until: Option<DateTime>,
    /// Pacer's URL as instances reach it (`server.public_url`).
    pub public_url: String,
    /// The bootstrap key's first characters, the rest masked: enough to tell keys apart.
    pub bootstrap_token_masked: String,
    /// When the bootstrap token was last rotated; null before the first rotation.
    pub bootstrap_token_rotated_at: Option<DateTime>,
}

/// What `reconcileNow`'s reaper pass found and did.
#[derive(SimpleObject)]
pub(super) struct ReconcileReport {
    /// Instances the log holds as live, described at EC2.
    pub checked: i32,
    /// Terminated because their work was over, they ran past their pool's max runtime, or no
    /// job needed them.
    pub reaped: i32,
    /// Found no longer running (terminated, stopped or unknown to EC2), recorded.
    pub gone: i32,
    /// Stopped or stopping instances terminated (their volumes still cost money).
    pub stopped_terminated: i32,
    /// Tagged instances the log does not account for, found and terminated.
    pub orphans: i32,
    /// What went wrong; the pass still did what it could.
    pub problems: Vec<String>,
}

/// What `rotateBootstrapToken` did.
#[derive(SimpleObject)]
pub(super) struct TokenRotation {
    /// The settings after it.
    pub settings: Settings,
    /// Each pool's launch template.
    pub pools: Vec<PoolReversion>,
}

/// Whether a rotation re-materialised one pool's launch template.
#[derive(SimpleObject)]
pub(super) struct PoolReversion {
    /// The pool.
    pub pool_id: ID,
    /// Its name.
    pub pool_name: String,
    /// The template's new default version; null when it was not re-materialised.
    pub template_version: Option<i32>,
    /// Why it was not (the pool keeps its previous token, valid for the grace, until saved);
    /// null when it was.
    pub error: Option<String>,
}

/// Where this Pacer stands among the replicas sharing its log (`storage.backend: dynamodb`).
#[derive(SimpleObject)]
pub(super) struct Replication {
    /// This replica's id (`storage.dynamodb.replica_id`).
    pub me: String,
    /// The replica holding the effects lease, as last read; null while none does.
    pub lease_holder: Option<String>,
    /// The lease's fencing term, as last read (0 before any replica took it).
    pub term: BigInt,
    /// How long a silent holder keeps the lease (`storage.dynamodb.lease_seconds`).
    pub lease_seconds: f64,
    /// Seconds the last record another replica appended took to reach this replica's state.
    pub lag_seconds: f64,
    /// Groups this replica decided again since it started, because another appended first.
    pub races: BigInt,
    /// Every replica heard from in the last day (a replica stopped cleanly leaves at once), by id.
    pub replicas: Vec<Replica>,
}

/// One replica, as its last heartbeat said.
#[derive(SimpleObject)]
pub(super) struct Replica {
    /// Its id.
    pub id: String,
    /// When it last said so, by its own clock.
    pub seen_at: DateTime,
    /// Whether it has been silent for longer than the lease (it may have stopped or lost
    /// touch with the table).
    pub silent: bool,
    /// The last record folded into its state.
    pub last_seq: BigInt,
    /// Its replication lag in seconds.
    pub lag_seconds: f64,
    /// Whether it held the effects lease.
    pub holds_lease: bool,
    /// Its Pacer version.
    pub version: String,
}

/// [`Replication`] as `leadership` last saw it, at `now`.
fn replication(engine: &crate::engine::Engine, leadership: &crate::engine::lease::Leadership) -> Replication {
    let now = engine.app.now();
    let row = leadership.seen();
    let silent_after = leadership.duration.as_millis() as i64;
    Replication {
        me: leadership.me.clone(),
        lease_holder: row.as_ref().map(|r| r.holder.clone()).filter(|h| !h.is_empty()),
        term: row.as_ref().map_or(0, |r| r.term).into(),
        lease_seconds: leadership.duration.as_secs_f64(),
        lag_seconds: engine.app.replication_lag().as_secs_f64(),
        races: engine.app.races().into(),
        replicas: leadership
            .replicas()
            .into_iter()
            .map(|b| Replica {
                seen_at: pacer_domain::Timestamp::from_millis(b.at_ms).into(),
                silent: now.millis() - b.at_ms > silent_after,
                last_seq: b.seq.into(),
                lag_seconds: b.lag_ms as f64 / 1_000.0,
                holds_lease: b.term > 0,
                version: b.version,
                id: b.replica,
            })
            .collect(),
    }
}

/// What the doctor says of a shared log this replica reads and writes.
fn shared_log_detail(
    engine: &crate::engine::Engine,
    leadership: &crate::engine::lease::Leadership,
) -> String {
    let holder = leadership.seen().filter(|r| !r.holder.is_empty());
    format!(
        "folded to seq {}, {} replica(s) heard from; {}",
        engine.app.state().last_seq,
        leadership.replicas().len(),
        holder.map_or_else(
            || "no replica holds the effects lease".to_owned(),
            |r| format!("{} holds the effects lease under term {}", r.holder, r.term)
        )
    )
}

/// Where Pacer's GitHub App comes from.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(super) enum GitHubAppSource {
    /// `github.app_id`, `private_key_path` and `webhook_secret` in the configuration.
    Config,
    /// Created from its manifest in the console; kept in the vault.
    Manifest,
    /// None yet: webhooks are refused until one is created (`beginGitHubAppCreation`).
    None,
}

/// Pacer's GitHub App.
#[derive(SimpleObject)]
#[graphql(name = "GitHubApp")]
pub(super) struct GitHubAppView {
    /// Where it comes from.
    pub source: GitHubAppSource,
    /// The App's id (when created here).
    pub app_id: Option<String>,
    /// Its URL name (when created here).
    pub slug: Option<String>,
    /// The account owning it (when created here).
    pub owner: Option<String>,
    /// Its page on GitHub, where it is installed (when created here).
    pub html_url: Option<String>,
}

/// How a check of `doctor` went.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(super) enum CheckStatus {
    /// Works.
    Ok,
    /// Works, but not as it should, or could not be fully checked.
    Warning,
    /// Broken until fixed.
    Failed,
    /// Not checked (the detail says why).
    Skipped,
}

/// One check of `doctor`.
#[derive(SimpleObject)]
pub(super) struct DoctorCheck {
    /// What was checked.
    pub name: String,
    /// How it went.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do about it (empty when nothing).
    pub fix: String,
}

/// Who the caller is.
#[derive(SimpleObject)]
pub(super) struct User {
    /// The signed-in user's email; `operator` when auth is disabled.
    pub email: String,
    /// How they signed in: `local` (email and password) or `oidc`; `none` when auth is disabled.
    pub method: String,
}

/// A console user, as an operator manages them.
#[derive(SimpleObject)]
pub(super) struct ConsoleUser {
    /// The user's email (users are told apart by it, case-insensitively).
    pub email: String,
    /// When the user was created: the bootstrap user at first start, an SSO user at first
    /// sign-in.
    pub created_at: DateTime,
    /// The last successful sign-in; null before the first.
    pub last_login_at: Option<DateTime>,
    /// Disabled by an operator (`disableUser`): no session and no sign-in until enabled again.
    pub disabled: bool,
}

impl From<&pacer_domain::User> for ConsoleUser {
    fn from(user: &pacer_domain::User) -> Self {
        ConsoleUser {
            email: user.email.clone(),
            created_at: user.created_at.into(),
            last_login_at: user.last_login_at.map(Into::into),
            disabled: user.disabled,
        }
    }
}

/// How sign-in works here.
#[derive(SimpleObject)]
pub(super) struct AuthInfo {
    /// Auth is off (`auth.disabled`): no sign-in, and every caller acts as the operator.
    pub disabled: bool,
    /// Email and password sign-in is offered (`POST /auth/login`).
    pub local_enabled: bool,
    /// Sign in with SSO (OIDC, from `/auth/oidc/start`) is offered.
    pub oidc_enabled: bool,
    /// Whether the caller may use the API: it has a session, or auth is disabled.
    pub signed_in: bool,
}

pub(crate) fn settings(engine: &crate::engine::Engine) -> Settings {
    let state = engine.app.state();
    let days = |days: u32| i32::try_from(days).unwrap_or(i32::MAX);
    let retention = RetentionKind::ALL
        .into_iter()
        .map(|kind| RetentionSetting {
            kind: kind.into(),
            days: days(crate::retention::days(&state, &engine.settings.retention, kind)),
            default_days: days(engine.settings.retention.default_days(kind)),
            overridden: state.settings.retention.get(kind).is_some(),
        })
        .collect();
    let last_prune = state.settings.last_prune.as_ref().map(|p| LogPrune {
        first_seq: p.first_seq.into(),
        last_seq: p.last_seq.into(),
        through: p.through.into(),
        at: p.at.into(),
        archive: p.archive.clone(),
    });
    Settings {
        retention,
        last_prune,
        bootstrap_token_fingerprint: Some(
            state
                .settings
                .bootstrap_fingerprint
                .clone()
                .unwrap_or_else(|| engine.secrets.bootstrap_fingerprint()),
        ),
        previous_token_valid_until: state.settings.previous_token_valid_until.map(Into::into),
        public_url: engine.settings.public_url.clone(),
        bootstrap_token_masked: engine.secrets.bootstrap_masked(),
        bootstrap_token_rotated_at: state.settings.bootstrap_rotated_at.map(Into::into),
    }
}

/// Health, settings, who the caller is and how sign-in works.
#[derive(Default)]
pub(super) struct SystemQuery;

#[Object]
impl SystemQuery {
    /// Health per component, storage included.
    async fn health(&self, ctx: &Context<'_>) -> Result<Health> {
        let engine = engine(ctx)?;
        let state = engine.app.state();
        let mut components: Vec<HealthComponent> = state
            .health
            .iter()
            .map(|(name, h)| HealthComponent {
                name: name.clone(),
                ok: h.ok,
                message: h.message.clone(),
                since: Some(h.since.into()),
            })
            .collect();
        let storage = engine.app.failure();
        components.push(HealthComponent {
            name: "storage".into(),
            ok: storage.is_none(),
            message: storage.unwrap_or_default(),
            since: None,
        });
        Ok(Health { ok: components.iter().all(|c| c.ok), components })
    }

    /// The replicas sharing this Pacer's log, the effects lease and the replication lag; null
    /// on a single machine (`storage.backend: rocksdb`).
    async fn replication(&self, ctx: &Context<'_>) -> Result<Option<Replication>> {
        let engine = engine(ctx)?;
        Ok(engine.leadership().map(|l| replication(engine, l)))
    }

    /// The current settings.
    async fn settings(&self, ctx: &Context<'_>) -> Result<Settings> {
        Ok(settings(engine(ctx)?))
    }

    /// Everything Pacer needs from the outside, checked now (as `pacer doctor`): AWS
    /// credentials, each permission (DryRun), prices; the GitHub App's key, events,
    /// permissions, webhook URL, recent deliveries, the clock against GitHub's, an installation
    /// for every bound repository and organization; the public URL and free disk. Takes a few
    /// seconds (it calls AWS and GitHub).
    async fn doctor(&self, ctx: &Context<'_>) -> Result<Vec<DoctorCheck>> {
        let engine = engine(ctx)?;
        let has_app = !super::github_app(ctx)?.webhook_secret().is_empty();
        let subject = crate::doctor::Subject {
            compute: &*engine.compute,
            github: has_app.then_some(&*engine.github),
            public_url: &engine.settings.public_url,
            self_signed: engine.settings.public_key_pin.is_some(),
            log: match engine.leadership() {
                None => crate::doctor::LogPlace::Disk(&engine.settings.data_dir),
                Some(leadership) => crate::doctor::LogPlace::Shared(match engine.app.failure() {
                    Some(failure) => Err(failure),
                    None => Ok(shared_log_detail(engine, leadership)),
                }),
            },
            served: Ok(crate::doctor::Served::of(&engine.app.state().config)),
            now: engine.app.now(),
        };
        let checks = crate::doctor::run(&subject).await;
        Ok(checks
            .into_iter()
            .map(|c| DoctorCheck {
                name: c.name,
                status: match c.status {
                    crate::doctor::Status::Ok => CheckStatus::Ok,
                    crate::doctor::Status::Warning => CheckStatus::Warning,
                    crate::doctor::Status::Failed => CheckStatus::Failed,
                    crate::doctor::Status::Skipped => CheckStatus::Skipped,
                },
                detail: c.detail,
                fix: c.fix,
            })
            .collect())
    }

    /// Pacer's GitHub App: from the configuration, created here, or none yet.
    async fn github_app(&self, ctx: &Context<'_>) -> Result<GitHubAppView> {
        let setup = super::github_app(ctx)?;
        let created = setup.created();
        let source = match (&created, setup.is_configured()) {
            (_, true) => GitHubAppSource::Config,
            (Some(_), false) => GitHubAppSource::Manifest,
            (None, false) => GitHubAppSource::None,
        };
        Ok(GitHubAppView {
            source,
            app_id: created.as_ref().map(|app| app.id.to_string()),
            slug: created.as_ref().map(|app| app.slug.clone()),
            owner: created.as_ref().map(|app| app.owner.clone()),
            html_url: created.map(|app| app.html_url),
        })
    }

    /// Who the caller is; null without a session.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(match principal(ctx)? {
            Principal::User { email, method, .. } => Some(User {
                email: email.clone(),
                method: if *method == pacer_domain::AuthMethod::Oidc { "oidc" } else { "local" }.into(),
            }),
            Principal::Operator => Some(User { email: "operator".into(), method: "none".into() }),
            Principal::Anonymous => None,
        })
    }

    /// Every console user, by email.
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<ConsoleUser>> {
        Ok(engine(ctx)?.app.state().users.values().map(ConsoleUser::from).collect())
    }

    /// How sign-in works; the only query open without a session.
    async fn auth_info(&self, ctx: &Context<'_>) -> Result<AuthInfo> {
        let auth = ctx.data::<Arc<Auth>>()?;
        let principal = principal(ctx)?;
        Ok(AuthInfo {
            disabled: auth.disabled,
            local_enabled: !auth.disabled,
            oidc_enabled: !auth.disabled && auth.oidc.is_some(),
            signed_in: principal.allowed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::{Actor, Event, HealthChanged, Timestamp};
    use pacer_store::{Batch, EventLog, MemoryLog};

    fn search(text: &str) -> AuditSearch {
        AuditSearch::parse(AuditFilter { text: Some(text.into()), ..AuditFilter::default() }).expect("filter")
    }

    #[test]
    fn a_search_reads_at_most_its_budget_and_goes_on_from_the_last_record_read() {
        let log = MemoryLog::new();
        let health = |i: u64| {
            let component = if i == 5 { "needle".to_owned() } else { format!("c{i}") };
            Event::HealthChanged(HealthChanged { component, ok: true, message: String::new() })
        };
        log.append(Batch::of(Timestamp::from_millis(1), Actor::System, (1..=2_500).map(health)))
            .expect("append");
        let mut found = Vec::new();
        let mut search = search("NEEDLE");
        let first = search.scan(&log, None, 1_200, 2, |e| found.push(e.seq.0)).expect("scan");
        assert_eq!((first.read, first.matched, first.last_read, first.more), (1_200, 0, Some(1_301), true));
        let second = search.scan(&log, first.last_read, 1_200, 2, |e| found.push(e.seq.0)).expect("scan");
        assert_eq!((second.read, second.matched, second.last_read), (1_200, 0, Some(101)));
        let last = search.scan(&log, second.last_read, 1_200, 2, |e| found.push(e.seq.0)).expect("scan");
        assert_eq!((last.read, last.matched, last.more), (100, 1, false), "the start of the log ends it");
        assert_eq!(found, [5]);
    }
}
