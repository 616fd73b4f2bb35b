//! Stats roll-ups: per UTC hour and per UTC day, for the total and for each
//! project, pool, repo, runner label set and sender, the terminal jobs, their outcomes,
//! runner time, cost and the jobs without cost. Every counter is also kept per project, so any
//! grouping can be narrowed to one project. Maintained incrementally as jobs end (and as the
//! instances billed to ended jobs end, which settles their cost into the bucket of the job's
//! end), so any window up to 90 days is answered by summing at most a few thousand buckets,
//! never by scanning jobs. Hourly buckets are kept for [`HOURLY_RETENTION_DAYS`]; daily ones
//! forever.
//!
//! [`State::stats`] adds what the roll-ups cannot hold: a running estimate, to the `now` the
//! caller passes, for ended jobs whose instance is still up.

use crate::FastMap;
use crate::config::{PoolId, ProjectId};
use crate::intern::Sym;
use crate::job::{Job, JobStatus};
use crate::money::Micros;
use crate::state::State;
use crate::time::{DAY_MS, HOUR_MS, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Hourly buckets older than this many days (behind the newest event) are dropped.
pub const HOURLY_RETENTION_DAYS: i64 = 92;

/// What a window is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupBy {
    /// Everything in one row.
    Total,
    /// One row per project the jobs were routed to.
    Project,
    /// One row per pool the jobs were routed to.
    Pool,
    /// One row per `owner/repo`.
    Repo,
    /// One row per requested label set (the job's labels joined by `, `).
    Label,
    /// One row per GitHub login that triggered the jobs.
    Sender,
}

/// The value of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupKey {
    /// The single total row.
    Total,
    /// A project's row, by id.
    Project(ProjectId),
    /// A pool's row, by id.
    Pool(PoolId),
    /// A repo's row, by interned `owner/repo`.
    Repo(Sym),
    /// A label set's row, by interned labels joined by `, `.
    Label(Sym),
    /// A sender's row, by interned GitHub login.
    Sender(Sym),
}

impl GroupKey {
    fn encode(self) -> (GroupBy, u64) {
        match self {
            GroupKey::Total => (GroupBy::Total, 0),
            GroupKey::Project(p) => (GroupBy::Project, p.0),
            GroupKey::Pool(p) => (GroupBy::Pool, p.0),
            GroupKey::Repo(s) => (GroupBy::Repo, u64::from(s.0)),
            GroupKey::Label(s) => (GroupBy::Label, u64::from(s.0)),
            GroupKey::Sender(s) => (GroupBy::Sender, u64::from(s.0)),
        }
    }

    fn decode(kind: GroupBy, value: u64) -> Self {
        match kind {
            GroupBy::Total => GroupKey::Total,
            GroupBy::Project => GroupKey::Project(ProjectId(value)),
            GroupBy::Pool => GroupKey::Pool(PoolId(value)),
            GroupBy::Repo => GroupKey::Repo(Sym(value as u32)),
            GroupBy::Label => GroupKey::Label(Sym(value as u32)),
            GroupBy::Sender => GroupKey::Sender(Sym(value as u32)),
        }
    }
}

/// Sums over the jobs that ended (reached a terminal status) in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Jobs that ended: completed + failed + cancelled + reaped.
    pub jobs: u64,
    /// Of which completed.
    pub completed: u64,
    /// Of which failed.
    pub failed: u64,
    /// Of which cancelled.
    pub cancelled: u64,
    /// Of which reaped.
    pub reaped: u64,
    /// Total runner time, in milliseconds: Σ (job end − launch of the instance it had); a job
    /// that never had an instance adds 0.
    pub runner_ms: i64,
    /// Cost, in micro-dollars: what the instances billed to these jobs cost, each its price ×
    /// (terminated − launched); jobs without cost add 0.
    pub cost: Micros,
    /// Jobs without cost: no instance was ever launched for them (e.g. the launch failed, or
    /// they ended while queued), or none of theirs had a price quote.
    pub unpriced: u64,
    /// What warm instances cost while they waited for a job, in micro-dollars (price × idle
    /// time), filed when a job took one or when one ended untaken; only in the total, project
    /// and pool groupings (not part of `cost`, and no job's).
    pub warm_cost: Micros,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.jobs += other.jobs;
        self.completed += other.completed;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.reaped += other.reaped;
        self.runner_ms += other.runner_ms;
        self.cost += other.cost;
        self.unpriced += other.unpriced;
        self.warm_cost += other.warm_cost;
    }

    /// Failed plus reaped.
    pub fn failed_or_reaped(&self) -> u64 {
        self.failed + self.reaped
    }
}

/// Where an ended job's counters are filed: the hour and day of its end, and its group in
/// every grouping.
#[derive(Clone, Copy, Debug)]
pub struct Filed {
    /// When it ended.
    pub at: Timestamp,
    /// The project it was routed to.
    pub project: ProjectId,
    /// The pool it was routed to.
    pub pool: PoolId,
    /// Its interned `owner/repo`.
    pub repo: Sym,
    /// Its interned label set (labels joined by `, `).
    pub labels: Sym,
    /// Its interned sender login.
    pub sender: Sym,
}

impl Filed {
    /// Where `job` is filed, given when it ended.
    pub fn job(job: &Job, at: Timestamp) -> Filed {
        Filed {
            at,
            project: job.project,
            pool: job.pool,
            repo: job.repo,
            labels: job.labels,
            sender: job.sender,
        }
    }

    /// Its group in `group`.
    pub fn key(&self, group: GroupBy) -> GroupKey {
        match group {
            GroupBy::Total => GroupKey::Total,
            GroupBy::Project => GroupKey::Project(self.project),
            GroupBy::Pool => GroupKey::Pool(self.pool),
            GroupBy::Repo => GroupKey::Repo(self.repo),
            GroupBy::Label => GroupKey::Label(self.labels),
            GroupBy::Sender => GroupKey::Sender(self.sender),
        }
    }
}

/// One job's end, as the roll-ups count it.
#[derive(Clone, Copy, Debug)]
pub struct Ending {
    /// When it ended, and its groups.
    pub filed: Filed,
    /// Its terminal status.
    pub status: JobStatus,
    /// Runner time in milliseconds: job end − launch of the instance it had; 0 without one.
    pub runner_ms: i64,
    /// The cost settled so far (instances billed to it that already ended); `None` when none.
    pub cost: Option<Micros>,
    /// Whether it ends without cost: no instance, or none with a price quote.
    pub unpriced: bool,
}

/// Every grouping, in `GroupBy as usize` order.
const GROUPINGS: [GroupBy; 6] =
    [GroupBy::Total, GroupBy::Project, GroupBy::Pool, GroupBy::Repo, GroupBy::Label, GroupBy::Sender];

/// The counters of one hour or day, per grouping (indexed by `GroupBy as usize`), project and
/// group value (the id or symbol).
type Slot = [FastMap<(ProjectId, u64), Counters>; 6];

/// The roll-ups: per hour (or day) number, the counters of each group value of each grouping,
/// per project. Ordered by time so a window is a range; counting a job's end is two ordered
/// lookups and twelve hashed ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollups {
    hourly: BTreeMap<i64, Slot>,
    daily: BTreeMap<i64, Slot>,
    newest_hour: i64,
}

/// A half-open window `[from, to)`, hour-aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start, inclusive, on a whole UTC hour.
    pub from: Timestamp,
    /// End, exclusive, on a whole UTC hour.
    pub to: Timestamp,
}

impl Window {
    /// The last `days` × 24 hours, including the current hour.
    pub fn last_days(now: Timestamp, days: u32) -> Self {
        let to = Timestamp((now.hour() + 1) * HOUR_MS);
        Self { from: to.plus_millis(-i64::from(days) * DAY_MS), to }
    }

    /// `[from, to)` widened to whole hours.
    pub fn custom(from: Timestamp, to: Timestamp) -> Self {
        let ceil_hour = |t: Timestamp| Timestamp((t.millis() + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS);
        Self { from: Timestamp(from.hour() * HOUR_MS), to: ceil_hour(to) }
    }
}

impl Rollups {
    /// Counts one job's end in every group.
    pub fn record(&mut self, end: &Ending) {
        let counters = Counters {
            jobs: 1,
            completed: u64::from(end.status == JobStatus::Completed),
            failed: u64::from(end.status == JobStatus::Failed),
            cancelled: u64::from(end.status == JobStatus::Cancelled),
            reaped: u64::from(end.status == JobStatus::Reaped),
            runner_ms: end.runner_ms,
            cost: end.cost.unwrap_or_default(),
            unpriced: u64::from(end.unpriced),
            warm_cost: Micros::ZERO,
        };
        self.update(&end.filed, |c| c.add(&counters));
    }

    /// Adds `cost` to an ended job's counters, filed at its end: an instance billed to it
    /// ended after it did. `priced` says the job counted as without cost until now.
    pub fn settle(&mut self, filed: &Filed, cost: Micros, priced: bool) {
        self.update(filed, |c| {
            c.cost += cost;
            if priced {
                c.unpriced = c.unpriced.saturating_sub(1);
            }
        });
    }

    /// Adds the warm cost of a pool's instance at `at` to the total, its project and its pool.
    pub fn add_warm(&mut self, at: Timestamp, project: ProjectId, pool: PoolId, cost: Micros) {
        let keys = [GroupKey::Total, GroupKey::Project(project), GroupKey::Pool(pool)];
        self.update_keys(at, project, &keys, |c| c.warm_cost += cost);
    }

    /// Applies `change` to the counters of every group of `filed`, in its hour (while hours
    /// of that age are kept) and its day.
    fn update(&mut self, filed: &Filed, change: impl Fn(&mut Counters)) {
        let keys = GROUPINGS.map(|group| filed.key(group));
        self.update_keys(filed.at, filed.project, &keys, change);
    }

    /// Applies `change` to the counters of `keys` of `project` in the hour of `at` (while
    /// hours of that age are kept) and its day.
    fn update_keys(
        &mut self,
        at: Timestamp,
        project: ProjectId,
        keys: &[GroupKey],
        change: impl Fn(&mut Counters),
    ) {
        let hour = at.hour();
        let day = i64::from(at.day());
        let count = |slot: &mut Slot| {
            for key in keys {
                let (kind, value) = key.encode();
                change(slot[kind as usize].entry((project, value)).or_default());
            }
        };
        if hour + HOURLY_RETENTION_DAYS * 24 > self.newest_hour {
            count(self.hourly.entry(hour).or_default());
        }
        count(self.daily.entry(day).or_default());
    }

    /// Drops hourly buckets that fell out of retention, given the newest event time.
    pub fn advance(&mut self, now: Timestamp) {
        let hour = now.hour();
        if hour <= self.newest_hour {
            return;
        }
        self.newest_hour = hour;
        let cutoff = hour - HOURLY_RETENTION_DAYS * 24;
        while self.hourly.first_key_value().is_some_and(|(hour, _)| *hour < cutoff) {
            self.hourly.pop_first();
        }
    }

    /// Sums per group over `window`, of one project's jobs or (`None`) of every job. Whole
    /// days come from daily buckets, the edges from hourly ones; edges older than the hourly
    /// retention fall back to their whole day.
    pub fn sum(
        &self,
        window: Window,
        group: GroupBy,
        project: Option<ProjectId>,
    ) -> BTreeMap<GroupKey, Counters> {
        let mut out: HashMap<u64, Counters> = HashMap::new();
        let mut add_range = |map: &BTreeMap<i64, Slot>, from: i64, to: i64| {
            if from >= to {
                return;
            }
            let rows = map.range(from..to).flat_map(|(_, slot)| &slot[group as usize]);
            for ((of, value), counters) in rows {
                if project.is_none_or(|p| p == *of) {
                    out.entry(*value).or_default().add(counters);
                }
            }
        };
        let from_hour = window.from.hour();
        let to_hour = window.to.hour();
        if from_hour >= to_hour {
            return BTreeMap::new();
        }
        let first_full_day = (from_hour + 23).div_euclid(24);
        let last_full_day = to_hour.div_euclid(24); // exclusive
        let hourly_floor = self.newest_hour - HOURLY_RETENTION_DAYS * 24 + 1;
        if first_full_day >= last_full_day {
            add_range(&self.hourly, from_hour.max(hourly_floor), to_hour);
        } else {
            let lead_from = if from_hour < hourly_floor { first_full_day - 1 } else { first_full_day };
            if lead_from < first_full_day {
                add_range(&self.daily, lead_from, first_full_day);
            } else {
                add_range(&self.hourly, from_hour, first_full_day * 24);
            }
            add_range(&self.daily, first_full_day, last_full_day);
            add_range(&self.hourly, last_full_day * 24, to_hour);
        }
        out.into_iter().map(|(value, c)| (GroupKey::decode(group, value), c)).collect()
    }

    /// The total over `window`, of one project's jobs or (`None`) of every job.
    pub fn total(&self, window: Window, project: Option<ProjectId>) -> Counters {
        self.sum(window, GroupBy::Total, project).remove(&GroupKey::Total).unwrap_or_default()
    }

    /// Totals per UTC day number in `[from_day, to_day)`, of one project's jobs or (`None`) of
    /// every job.
    pub fn daily_totals(
        &self,
        from_day: i32,
        to_day: i32,
        project: Option<ProjectId>,
    ) -> Vec<(i32, Counters)> {
        (from_day..to_day)
            .map(|day| {
                let mut total = Counters::default();
                if let Some(slot) = self.daily.get(&i64::from(day)) {
                    for ((of, _), counters) in &slot[GroupBy::Total as usize] {
                        if project.is_none_or(|p| p == *of) {
                            total.add(counters);
                        }
                    }
                }
                (day, total)
            })
            .collect()
    }

    /// Number of buckets held (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.hourly.values().chain(self.daily.values()).flatten().map(|groups| groups.len()).sum()
    }
}

impl State {
    /// Sums per group over `window`, of one project's jobs or (`None`) of every job: the
    /// roll-ups, plus for each ended job whose billed instance is still up a running estimate
    /// of that instance's cost to `now`, and (when the window holds `now`) the warm cost so far
    /// of the idle warm instances.
    pub fn stats(
        &self,
        window: Window,
        group: GroupBy,
        project: Option<ProjectId>,
        now: Timestamp,
    ) -> BTreeMap<GroupKey, Counters> {
        let mut sums = self.rollups.sum(window, group, project);
        for (job, estimate) in self.pending_costs(now) {
            let Some(end) = job.finished_at else { continue };
            if end < window.from || end >= window.to || project.is_some_and(|p| p != job.project) {
                continue;
            }
            sums.entry(Filed::job(job, end).key(group)).or_default().cost += estimate;
        }
        // Idle warm instances: their warm cost so far, as of now.
        if window.from <= now && now < window.to {
            for (instance, estimate) in self.pending_warm_costs(now) {
                let key = match group {
                    GroupBy::Total => GroupKey::Total,
                    GroupBy::Project => GroupKey::Project(instance.project),
                    GroupBy::Pool => GroupKey::Pool(instance.pool),
                    _ => continue,
                };
                if project.is_none_or(|p| p == instance.project) {
                    sums.entry(key).or_default().warm_cost += estimate;
                }
            }
        }
        sums
    }

    /// The total over `window` as [`State::stats`] sums it.
    pub fn stats_total(&self, window: Window, project: Option<ProjectId>, now: Timestamp) -> Counters {
        self.stats(window, GroupBy::Total, project, now).remove(&GroupKey::Total).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filed(at: Timestamp, project: u64) -> Filed {
        Filed {
            at,
            project: ProjectId(project),
            pool: PoolId(2),
            repo: Sym(0),
            labels: Sym(1),
            sender: Sym(2),
        }
    }

    fn ending(at: Timestamp, status: JobStatus, cost: i64) -> Ending {
        Ending {
            filed: filed(at, 1),
            status,
            runner_ms: 60_000,
            cost: (cost > 0).then_some(Micros(cost)),
            unpriced: cost == 0,
        }
    }

    #[test]
    fn windows_sum_hours_and_days() {
        let mut r = Rollups::default();
        let day0 = Timestamp(20_000 * DAY_MS);
        let events = [
            (day0.plus_millis(3 * HOUR_MS), JobStatus::Completed, 100),
            (day0.plus_millis(DAY_MS + 5 * HOUR_MS), JobStatus::Failed, 200),
            (day0.plus_millis(2 * DAY_MS + HOUR_MS), JobStatus::Reaped, 0),
        ];
        for (at, status, cost) in events {
            r.advance(at);
            r.record(&ending(at, status, cost));
        }
        let now = day0.plus_millis(2 * DAY_MS + 2 * HOUR_MS);
        let all = r.total(Window::last_days(now, 7), None);
        assert_eq!((all.jobs, all.completed, all.failed_or_reaped(), all.unpriced), (3, 1, 2, 1));
        assert_eq!(all.cost, Micros(300));
        // 1 day back from hour 2 of day 2 = from hour 3 of day 1: only the last two jobs.
        assert_eq!(r.total(Window::last_days(now, 1), None).jobs, 2);
        let custom = Window::custom(day0.plus_millis(HOUR_MS), day0.plus_millis(4 * HOUR_MS));
        assert_eq!(r.total(custom, None).completed, 1);
        let by_pool = r.sum(Window::last_days(now, 90), GroupBy::Pool, None);
        assert_eq!(by_pool.get(&GroupKey::Pool(PoolId(2))).map(|c| c.jobs), Some(3));
        let days = r.daily_totals(20_000, 20_003, None);
        assert_eq!(days.iter().map(|(_, c)| c.jobs).collect::<Vec<_>>(), [1, 1, 1]);
    }

    #[test]
    fn old_hours_fall_back_to_days() {
        let mut r = Rollups::default();
        let at = Timestamp(20_000 * DAY_MS + 5 * HOUR_MS);
        r.advance(at);
        r.record(&ending(at, JobStatus::Completed, 1));
        let later = at.plus_millis(100 * DAY_MS);
        r.advance(later);
        assert_eq!(r.buckets(), 6, "hourly buckets pruned, daily kept");
        let window = Window::custom(at.plus_millis(-HOUR_MS), later);
        assert_eq!(r.total(window, None).jobs, 1);
    }

    #[test]
    fn every_grouping_narrows_to_one_project() {
        let mut r = Rollups::default();
        let at = Timestamp(20_000 * DAY_MS + 5 * HOUR_MS);
        r.advance(at);
        r.record(&ending(at, JobStatus::Completed, 100));
        r.record(&Ending { filed: filed(at, 7), ..ending(at, JobStatus::Cancelled, 40) });
        let window = Window::last_days(at, 1);
        assert_eq!(r.total(window, None).jobs, 2);
        let seven = r.total(window, Some(ProjectId(7)));
        assert_eq!((seven.jobs, seven.cancelled, seven.cost), (1, 1, Micros(40)));
        assert_eq!(r.total(window, Some(ProjectId(9))), Counters::default(), "a project without jobs");
        // Both projects' jobs share pool 2's row unless narrowed.
        let pools = r.sum(window, GroupBy::Pool, None);
        assert_eq!(pools.get(&GroupKey::Pool(PoolId(2))).map(|c| c.jobs), Some(2));
        let pools = r.sum(window, GroupBy::Pool, Some(ProjectId(1)));
        assert_eq!(pools.get(&GroupKey::Pool(PoolId(2))).map(|c| (c.jobs, c.cost)), Some((1, Micros(100))));
        let days = r.daily_totals(at.day(), at.day() + 1, Some(ProjectId(7)));
        assert_eq!(days[0].1.cancelled, 1);
    }

    #[test]
    fn a_settled_cost_lands_in_the_bucket_of_the_jobs_end() {
        let mut r = Rollups::default();
        let at = Timestamp(20_000 * DAY_MS + 5 * HOUR_MS);
        r.advance(at);
        r.record(&ending(at, JobStatus::Completed, 0));
        assert_eq!(r.total(Window::last_days(at, 1), None).unpriced, 1);
        // Its instance ends two hours later, priced: the cost joins the job's hour and day.
        r.advance(at.plus_millis(2 * HOUR_MS));
        r.settle(&filed(at, 1), Micros(500), true);
        let hour = Window::custom(at, at.plus_millis(1));
        let counted = r.total(hour, None);
        assert_eq!((counted.jobs, counted.cost, counted.unpriced), (1, Micros(500), 0));
        let later = Window::custom(at.plus_millis(HOUR_MS), at.plus_millis(3 * HOUR_MS));
        assert_eq!(r.total(later, None), Counters::default(), "nothing is filed at the instance's end");
        assert_eq!(r.daily_totals(at.day(), at.day() + 1, None)[0].1.cost, Micros(500));
    }
}
