//! Query roots, one per area, merged into [`Query`]: jobs, stats, audit, configuration, and the
//! system (health, settings, who am I).

use super::scalars::{BigInt, DateTime};
use super::summary::{payload, summary};
use super::types::*;
use super::{ErrorCode, WithField, engine, error, parse_id, principal};
use crate::auth::{Auth, Principal};
use async_graphql::{Context, Enum, ID, InputObject, MergedObject, Object, Result, SimpleObject};
use pacer_domain::{
    Date, EventName, GroupBy, GroupKey, JobFilter, PoolId, ProjectId, State, Timestamp, Window, days_in_month,
};
use pacer_store::AuditQuery;
use std::sync::Arc;

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(JobsQuery, StatsQuery, AuditLogQuery, ConfigQuery, SystemQuery);

fn page_size(first: i32) -> Result<usize> {
    if (1..=500).contains(&first) {
        Ok(first as usize)
    } else {
        Err(error(ErrorCode::InvalidInput, "first must be between 1 and 500").extend_with_field("first"))
    }
}

/// Jobs list filter.
#[derive(InputObject, Default)]
#[graphql(name = "JobFilter")]
pub struct JobFilterInput {
    /// Only these statuses.
    pub statuses: Option<Vec<GqlJobStatus>>,
    /// Only this project.
    pub project_id: Option<ID>,
    /// Only this pool.
    pub pool_id: Option<ID>,
    /// Only this repo (`owner/repo`).
    pub repo: Option<String>,
    /// Only this sender.
    pub sender: Option<String>,
}

/// Paging.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// More after this page.
    pub has_next_page: bool,
    /// Cursor of the last item.
    pub end_cursor: Option<String>,
}

/// A page of jobs, newest first.
#[derive(SimpleObject)]
pub struct JobConnection {
    /// Jobs.
    pub nodes: Vec<JobView>,
    /// All matching jobs.
    pub total_count: i32,
    /// Paging.
    pub page_info: PageInfo,
}

/// Jobs.
#[derive(Default)]
pub struct JobsQuery;

#[Object]
impl JobsQuery {
    /// Jobs newest first, filtered, with cursor paging.
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
            statuses: filter.statuses.unwrap_or_default().into_iter().map(Into::into).collect(),
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

    /// One job with everything the detail view shows.
    async fn job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<JobView>> {
        let engine = engine(ctx)?;
        let id = pacer_domain::JobId(parse_id("id", &id)?);
        let state = engine.app.state();
        Ok(state.jobs.get(id).map(|job| JobView::of(&state, job, engine.app.now(), engine.launch_slots())))
    }
}

/// A stats window: the last `days` days, or a custom `[from, to)`.
#[derive(InputObject, Clone, Copy)]
pub struct StatsWindow {
    /// 1, 7, 30 or 90 (any 1..=366).
    pub days: Option<i32>,
    /// Custom start.
    pub from: Option<DateTime>,
    /// Custom end (exclusive).
    pub to: Option<DateTime>,
}

impl StatsWindow {
    fn window(self, now: Timestamp) -> Result<Window> {
        let bad =
            |message: &str| error(ErrorCode::InvalidInput, message.to_owned()).extend_with_field("window");
        match (self.days, self.from, self.to) {
            (Some(days), None, None) if (1..=366).contains(&days) => Ok(Window::last_days(now, days as u32)),
            (Some(_), None, None) => Err(bad("days must be between 1 and 366")),
            (None, Some(from), Some(to)) if to.0 > from.0 => {
                if to.0.millis() - from.0.millis() > 400 * pacer_domain::DAY_MS {
                    return Err(bad("a custom window spans at most 400 days"));
                }
                Ok(Window::custom(from.0, to.0))
            }
            (None, Some(_), Some(_)) => Err(bad("to must be after from")),
            _ => Err(bad("give either days, or from and to")),
        }
    }
}

/// What stats are grouped by.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum StatsGroup {
    /// Per project.
    Project,
    /// Per pool.
    Pool,
    /// Per repo.
    Repo,
    /// Per runner label set.
    Label,
}

/// One row of stats.
#[derive(SimpleObject, Clone)]
pub struct StatsRow {
    /// Group key.
    pub key: String,
    /// Group label.
    pub label: String,
    /// Terminal jobs.
    pub jobs: i32,
    /// Completed.
    pub completed: i32,
    /// Failed.
    pub failed: i32,
    /// Cancelled.
    pub cancelled: i32,
    /// Reaped.
    pub reaped: i32,
    /// Runner seconds.
    pub runner_seconds: BigInt,
    /// Estimated cost.
    pub cost: Money,
    /// Unpriced jobs.
    pub unpriced: i32,
}

fn row(key: String, label: String, c: &pacer_domain::Counters) -> StatsRow {
    let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    StatsRow {
        key,
        label,
        jobs: n(c.jobs),
        completed: n(c.completed),
        failed: n(c.failed),
        cancelled: n(c.cancelled),
        reaped: n(c.reaped),
        runner_seconds: BigInt(c.runner_ms / 1_000),
        cost: c.cost.into(),
        unpriced: n(c.unpriced),
    }
}

/// Stats over a window.
#[derive(SimpleObject)]
pub struct Stats {
    /// Start.
    pub from: DateTime,
    /// End (exclusive).
    pub to: DateTime,
    /// Grouping.
    pub group_by: StatsGroup,
    /// Totals.
    pub totals: StatsRow,
    /// Per group, by jobs descending.
    pub rows: Vec<StatsRow>,
}

/// Completed vs failed/reaped on one day.
#[derive(SimpleObject)]
pub struct DayPoint {
    /// YYYY-MM-DD
    pub date: String,
    /// Completed.
    pub completed: i32,
    /// Failed or reaped.
    pub failed_or_reaped: i32,
}

/// Jobs per sender.
#[derive(SimpleObject)]
pub struct SenderCount {
    /// GitHub login.
    pub sender: String,
    /// Terminal jobs.
    pub jobs: i32,
}

/// Spend ranking.
#[derive(SimpleObject)]
pub struct Spend {
    /// Top projects.
    pub projects: Vec<SpendRow>,
    /// Top repos.
    pub repos: Vec<SpendRow>,
}

/// One spend row.
#[derive(SimpleObject)]
pub struct SpendRow {
    /// Name.
    pub name: String,
    /// Estimated cost.
    pub cost: Money,
    /// Terminal jobs.
    pub jobs: i32,
}

/// The overview tiles.
#[derive(SimpleObject, Clone, PartialEq)]
pub struct Overview {
    /// Window of the completed / failed tiles.
    pub window_days: i32,
    /// Projects.
    pub projects: i32,
    /// Bound repos.
    pub bound_repos: i32,
    /// Queued, claimed or starting.
    pub queued_or_starting: i32,
    /// Running.
    pub running: i32,
    /// Completed in the window.
    pub completed: i32,
    /// Failed or reaped in the window.
    pub failed_or_reaped: i32,
    /// Seq of the last record folded.
    pub last_seq: BigInt,
}

/// The overview of `state` at `now` over `days`.
pub(crate) fn overview(state: &State, now: Timestamp, days: i32) -> Overview {
    use pacer_domain::JobStatus as S;
    let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    let total = state.rollups.total(Window::last_days(now, days.clamp(1, 366) as u32));
    Overview {
        window_days: days,
        projects: n(state.config.projects.len()),
        bound_repos: n(state.config.repos.len()),
        queued_or_starting: n(state.jobs.count(S::Queued)
            + state.jobs.count(S::Claimed)
            + state.jobs.count(S::Starting)),
        running: n(state.jobs.count(S::Running)),
        completed: i32::try_from(total.completed).unwrap_or(i32::MAX),
        failed_or_reaped: i32::try_from(total.failed_or_reaped()).unwrap_or(i32::MAX),
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

fn ranked(state: &State, window: Window, group: GroupBy) -> Vec<(String, String, pacer_domain::Counters)> {
    let mut rows: Vec<_> = state
        .rollups
        .sum(window, group)
        .into_iter()
        .map(|(key, counters)| {
            let (key, label) = group_label(state, key);
            (key, label, counters)
        })
        .collect();
    rows.sort_by(|a, b| b.2.jobs.cmp(&a.2.jobs).then_with(|| a.1.cmp(&b.1)));
    rows
}

/// Stats.
#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The overview tiles (completed and failed over the last `windowDays`).
    async fn overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] window_days: i32,
    ) -> Result<Overview> {
        let engine = engine(ctx)?;
        Ok(overview(&engine.app.state(), engine.app.now(), window_days))
    }

    /// Jobs run, runner time, cost and unpriced jobs over a window, grouped.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        window: StatsWindow,
        #[graphql(default_with = "StatsGroup::Project")] group_by: StatsGroup,
    ) -> Result<Stats> {
        let engine = engine(ctx)?;
        let range = window.window(engine.app.now())?;
        let state = engine.app.state();
        let group = match group_by {
            StatsGroup::Project => GroupBy::Project,
            StatsGroup::Pool => GroupBy::Pool,
            StatsGroup::Repo => GroupBy::Repo,
            StatsGroup::Label => GroupBy::Label,
        };
        let totals = state.rollups.total(range);
        Ok(Stats {
            from: range.from.into(),
            to: range.to.into(),
            group_by,
            totals: row("total".into(), "Total".into(), &totals),
            rows: ranked(&state, range, group).into_iter().map(|(k, l, c)| row(k, l, &c)).collect(),
        })
    }

    /// Completed vs failed/reaped per day of a month (default: the current month, UTC).
    async fn daily_series(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
        month: Option<i32>,
    ) -> Result<Vec<DayPoint>> {
        let engine = engine(ctx)?;
        let today = engine.app.now().date();
        let year = year.unwrap_or(today.year);
        let month = month.map_or(today.month, |m| m.clamp(0, 13) as u32);
        let first = Date::new(year, month, 1)
            .ok_or_else(|| error(ErrorCode::InvalidInput, "no such month").extend_with_field("month"))?;
        let from = first.to_day();
        let to = from + days_in_month(year, month) as i32;
        let state = engine.app.state();
        Ok(state
            .rollups
            .daily_totals(from, to)
            .into_iter()
            .map(|(day, c)| DayPoint {
                date: Date::from_day(day).to_string(),
                completed: i32::try_from(c.completed).unwrap_or(i32::MAX),
                failed_or_reaped: i32::try_from(c.failed_or_reaped()).unwrap_or(i32::MAX),
            })
            .collect())
    }

    /// Senders by terminal jobs in a window.
    async fn top_senders(
        &self,
        ctx: &Context<'_>,
        window: StatsWindow,
        #[graphql(default = 5)] limit: i32,
    ) -> Result<Vec<SenderCount>> {
        let engine = engine(ctx)?;
        let range = window.window(engine.app.now())?;
        let state = engine.app.state();
        Ok(ranked(&state, range, GroupBy::Sender)
            .into_iter()
            .take(limit.clamp(1, 100) as usize)
            .map(|(_, sender, c)| SenderCount { sender, jobs: i32::try_from(c.jobs).unwrap_or(i32::MAX) })
            .collect())
    }

    /// Top projects and repos by estimated spend (default window: 30 days).
    async fn spend(
        &self,
        ctx: &Context<'_>,
        window: Option<StatsWindow>,
        #[graphql(default = 5)] limit: i32,
    ) -> Result<Spend> {
        let engine = engine(ctx)?;
        let now = engine.app.now();
        let range = match window {
            Some(w) => w.window(now)?,
            None => Window::last_days(now, 30),
        };
        let state = engine.app.state();
        let top = |group| {
            let mut rows = ranked(&state, range, group);
            rows.sort_by(|a, b| b.2.cost.cmp(&a.2.cost).then_with(|| a.1.cmp(&b.1)));
            rows.into_iter()
                .filter(|(_, _, c)| c.jobs > 0)
                .take(limit.clamp(1, 100) as usize)
                .map(|(_, name, c)| SpendRow {
                    name,
                    cost: c.cost.into(),
                    jobs: i32::try_from(c.jobs).unwrap_or(i32::MAX),
                })
                .collect()
        };
        Ok(Spend { projects: top(GroupBy::Project), repos: top(GroupBy::Repo) })
    }
}

/// Audit filter.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    /// Exact action name.
    pub action: Option<String>,
    /// From.
    pub from: Option<DateTime>,
    /// To (exclusive).
    pub to: Option<DateTime>,
}

/// One audit row.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// Seq.
    pub seq: BigInt,
    /// When.
    pub at: DateTime,
    /// Event name.
    pub action: String,
    /// Who.
    pub actor: String,
    /// What it is about.
    pub target: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Counts as a failure.
    pub failure: bool,
    /// One line.
    pub summary: String,
    /// Full payload.
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
            failure: record.event.is_failure(),
            summary: summary(&record.event),
            payload: async_graphql::Json(payload(&record.event)),
        }
    }
}

/// An audit page.
#[derive(SimpleObject)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Failures among these entries.
    pub failures: i32,
    /// Paging.
    pub page_info: PageInfo,
}

/// The audit log.
#[derive(Default)]
pub struct AuditLogQuery;

#[Object]
impl AuditLogQuery {
    /// The log, newest first, by exact action and time range.
    async fn audit(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<AuditPage> {
        let engine = engine(ctx)?;
        let first = page_size(first)?;
        let filter = filter.unwrap_or_default();
        let action = match filter.action.filter(|a| !a.trim().is_empty()) {
            Some(name) => Some(EventName::parse(name.trim()).ok_or_else(|| {
                error(ErrorCode::InvalidInput, format!("unknown action {name}")).extend_with_field("action")
            })?),
            None => None,
        };
        let before_seq = match after {
            Some(cursor) => Some(cursor.parse().map_err(|_| {
                error(ErrorCode::InvalidInput, "after is not a cursor").extend_with_field("after")
            })?),
            None => None,
        };
        let query = AuditQuery {
            action,
            from: filter.from.map(|d| d.0),
            to: filter.to.map(|d| d.0),
            before_seq,
            limit: first + 1,
        };
        let log = engine.app.log().clone();
        let mut records = tokio::task::spawn_blocking(move || log.audit(&query))
            .await
            .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?
            .map_err(|e| error(ErrorCode::Unavailable, e.to_string()))?;
        let has_next_page = records.len() > first;
        records.truncate(first);
        let entries: Vec<AuditEntry> = records.iter().map(AuditEntry::of).collect();
        Ok(AuditPage {
            failures: entries.iter().filter(|e| e.failure).count() as i32,
            page_info: PageInfo { has_next_page, end_cursor: records.last().map(|r| r.seq.to_string()) },
            entries,
        })
    }

    /// Every event name, for the audit filter.
    async fn actions(&self) -> Vec<String> {
        EventName::ALL.iter().map(|n| n.as_str().to_owned()).collect()
    }
}

/// Configuration.
#[derive(Default)]
pub struct ConfigQuery;

#[Object]
impl ConfigQuery {
    /// Every project.
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<ProjectView>> {
        let engine = engine(ctx)?;
        let state = engine.app.state();
        let mut projects: Vec<ProjectView> =
            state.config.projects.values().map(|p| ProjectView::of(&state, p)).collect();
        projects.sort_by_key(|p| p.name.to_ascii_lowercase());
        Ok(projects)
    }

    /// One project.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProjectView>> {
        let engine = engine(ctx)?;
        let id = ProjectId(parse_id("id", &id)?);
        let state = engine.app.state();
        Ok(state.config.project(id).map(|p| ProjectView::of(&state, p)))
    }

    /// Pools, of one project or all.
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

    /// One pool.
    async fn pool(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PoolView>> {
        let engine = engine(ctx)?;
        let id = PoolId(parse_id("id", &id)?);
        let state = engine.app.state();
        Ok(state.config.pool(id).map(|p| PoolView::of(&state, p)))
    }

    /// Repo bindings, of one project or all.
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

    /// The `runs-on:` line that selects a pool.
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
pub struct HealthComponent {
    /// Name.
    pub name: String,
    /// Healthy?
    pub ok: bool,
    /// What is wrong.
    pub message: String,
    /// Since when.
    pub since: Option<DateTime>,
}

/// Overall health.
#[derive(SimpleObject)]
pub struct Health {
    /// Everything healthy.
    pub ok: bool,
    /// Per component.
    pub components: Vec<HealthComponent>,
}

/// Settings.
#[derive(SimpleObject)]
pub struct Settings {
    /// Days a finished job stays in the jobs view.
    pub retention_days: i32,
    /// Fingerprint of the current bootstrap token.
    pub bootstrap_token_fingerprint: Option<String>,
    /// The previous token is accepted until then.
    pub previous_token_valid_until: Option<DateTime>,
    /// Pacer's URL as instances reach it.
    pub public_url: String,
}

/// The signed-in user.
#[derive(SimpleObject)]
pub struct User {
    /// Email.
    pub email: String,
    /// local or oidc.
    pub method: String,
}

/// How sign-in works here.
#[derive(SimpleObject)]
pub struct AuthInfo {
    /// No sign-in at all.
    pub disabled: bool,
    /// Email + password.
    pub local_enabled: bool,
    /// Sign in with SSO.
    pub oidc_enabled: bool,
    /// The caller has a session.
    pub signed_in: bool,
}

pub(crate) fn settings(engine: &crate::engine::Engine) -> Settings {
    let state = engine.app.state();
    Settings {
        retention_days: i32::try_from(state.settings.retention_days).unwrap_or(i32::MAX),
        bootstrap_token_fingerprint: Some(
            state
                .settings
                .bootstrap_fingerprint
                .clone()
                .unwrap_or_else(|| crate::secrets::fingerprint(&engine.secrets.bootstrap_token())),
        ),
        previous_token_valid_until: state.settings.previous_token_valid_until.map(Into::into),
        public_url: engine.settings.public_url.clone(),
    }
}

/// Health, settings, identity.
#[derive(Default)]
pub struct SystemQuery;

#[Object]
impl SystemQuery {
    /// Health per component (storage included).
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

    /// Settings.
    async fn settings(&self, ctx: &Context<'_>) -> Result<Settings> {
        Ok(settings(engine(ctx)?))
    }

    /// Who is signed in.
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

    /// How sign-in works (the only query open without a session).
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
