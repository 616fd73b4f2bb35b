//! Stats roll-ups: per UTC hour and per UTC day, for the total and for each
//! project, pool, repo, runner label set and sender, the terminal jobs, their outcomes,
//! runner time, estimated cost and unpriced count. Maintained incrementally as jobs end, so
//! any window up to 90 days is answered by summing at most a few thousand buckets, never by
//! scanning jobs. Hourly buckets are kept for [`HOURLY_RETENTION_DAYS`]; daily ones forever.

use crate::FastMap;
use crate::config::{PoolId, ProjectId};
use crate::intern::Sym;
use crate::job::JobStatus;
use crate::money::Micros;
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
    /// Total runner time (job running → end), in milliseconds.
    pub runner_ms: i64,
    /// Estimated cost of the priced jobs, in micro-dollars (unpriced jobs add 0).
    pub cost: Micros,
    /// Jobs that ran on an instance without a price quote.
    pub unpriced: u64,
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
    }

    /// Failed plus reaped.
    pub fn failed_or_reaped(&self) -> u64 {
        self.failed + self.reaped
    }
}

/// One job's end, as the roll-ups count it.
#[derive(Clone, Copy, Debug)]
pub struct Ending {
    /// When it ended.
    pub at: Timestamp,
    /// Its terminal status.
    pub status: JobStatus,
    /// Runner time (running → end) in milliseconds; 0 when it never ran.
    pub runner_ms: i64,
    /// Its estimated cost in micro-dollars; `None` when unpriced or without an instance.
    pub cost: Option<Micros>,
    /// Whether it ran on an instance with no price quote.
    pub unpriced: bool,
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

/// The counters of one hour or day, per grouping (indexed by `GroupBy as usize`) and group
/// value (the id or symbol).
type Slot = [FastMap<u64, Counters>; 6];

/// The roll-ups: per hour (or day) number, the counters of each group value of each grouping.
/// Ordered by time so a window is a range; counting a job's end is two ordered lookups and
/// twelve hashed ones.
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
        };
        let hour = end.at.hour();
        let day = i64::from(end.at.day());
        let keys = [
            GroupKey::Total,
            GroupKey::Project(end.project),
            GroupKey::Pool(end.pool),
            GroupKey::Repo(end.repo),
            GroupKey::Label(end.labels),
            GroupKey::Sender(end.sender),
        ];
        let count = |slot: &mut Slot| {
            for key in keys {
                let (kind, value) = key.encode();
                slot[kind as usize].entry(value).or_default().add(&counters);
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

    /// Sums per group over `window`. Whole days come from daily buckets, the edges from hourly
    /// ones; edges older than the hourly retention fall back to their whole day.
    pub fn sum(&self, window: Window, group: GroupBy) -> BTreeMap<GroupKey, Counters> {
        let mut out: HashMap<u64, Counters> = HashMap::new();
        let mut add_range = |map: &BTreeMap<i64, Slot>, from: i64, to: i64| {
            if from >= to {
                return;
            }
            for (value, counters) in map.range(from..to).flat_map(|(_, slot)| &slot[group as usize]) {
                out.entry(*value).or_default().add(counters);
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

    /// The total over `window`.
    pub fn total(&self, window: Window) -> Counters {
        self.sum(window, GroupBy::Total).remove(&GroupKey::Total).unwrap_or_default()
    }

    /// Totals per UTC day number in `[from_day, to_day)`.
    pub fn daily_totals(&self, from_day: i32, to_day: i32) -> Vec<(i32, Counters)> {
        (from_day..to_day)
            .map(|day| {
                let slot = self.daily.get(&i64::from(day));
                let total = slot.and_then(|slot| slot[GroupBy::Total as usize].get(&0));
                (day, total.copied().unwrap_or_default())
            })
            .collect()
    }

    /// Number of buckets held (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.hourly.values().chain(self.daily.values()).flatten().map(|groups| groups.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(at: Timestamp, status: JobStatus, cost: i64) -> Ending {
        Ending {
            at,
            status,
            runner_ms: 60_000,
            cost: (cost > 0).then_some(Micros(cost)),
            unpriced: cost == 0,
            project: ProjectId(1),
            pool: PoolId(2),
            repo: Sym(0),
            labels: Sym(1),
            sender: Sym(2),
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
        let all = r.total(Window::last_days(now, 7));
        assert_eq!((all.jobs, all.completed, all.failed_or_reaped(), all.unpriced), (3, 1, 2, 1));
        assert_eq!(all.cost, Micros(300));
        // 1 day back from hour 2 of day 2 = from hour 3 of day 1: only the last two jobs.
        assert_eq!(r.total(Window::last_days(now, 1)).jobs, 2);
        let custom = Window::custom(day0.plus_millis(HOUR_MS), day0.plus_millis(4 * HOUR_MS));
        assert_eq!(r.total(custom).completed, 1);
        let by_pool = r.sum(Window::last_days(now, 90), GroupBy::Pool);
        assert_eq!(by_pool.get(&GroupKey::Pool(PoolId(2))).map(|c| c.jobs), Some(3));
        let days = r.daily_totals(20_000, 20_003);
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
        assert_eq!(r.total(window).jobs, 1);
    }
}
