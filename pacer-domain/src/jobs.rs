//! The jobs and instances projections: every retained job with its indexes (by id, GitHub id,
//! status, project, pool, repo, sender), per-pool/project/repo active counts for the caps,
//! newest-first paging, and the live instances Pacer launched. Details that only the job
//! detail view needs (workflow, branch, commit, failure log) stay in the log and are read
//! through the store's subject index.

use crate::FastMap;
use crate::config::{PoolId, ProjectId};
use crate::event::JobId;
use crate::intern::Sym;
use crate::launch::Market;
use crate::money::{Micros, PriceQuote};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a job is in its life (SPEC §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Waiting to be claimed.
    Queued,
    /// Taken by the dispatcher; launch under way.
    Claimed,
    /// Instance launched; runner not yet running the job.
    Starting,
    /// The job runs.
    Running,
    /// Ended well (success, skipped, neutral).
    Completed,
    /// Ended badly.
    Failed,
    /// Cancelled on GitHub.
    Cancelled,
    /// Killed for exceeding its pool's max runtime.
    Reaped,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Queued,
        JobStatus::Claimed,
        JobStatus::Starting,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Reaped,
    ];

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Claimed => "claimed",
            JobStatus::Starting => "starting",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Reaped => "reaped",
        }
    }

    /// Parses a stable name.
    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// Ended; never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Reaped)
    }

    /// Counts against caps.
    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Claimed | JobStatus::Starting | JobStatus::Running)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One accepted job, as the list, filters, scheduler and stats need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Pacer's id.
    pub id: JobId,
    /// GitHub's job id.
    pub github_job_id: u64,
    /// GitHub's run id.
    pub run_id: u64,
    /// The GitHub App installation that sent it.
    pub installation: Option<u64>,
    /// `owner/repo`.
    pub repo: Sym,
    /// Who triggered it.
    pub sender: Sym,
    /// Requested labels, joined by `, `.
    pub labels: Sym,
    /// Routed project.
    pub project: ProjectId,
    /// Routed pool.
    pub pool: PoolId,
    /// Where it is.
    pub status: JobStatus,
    /// Capacity-class launch failures so far.
    pub attempts: u32,
    /// Times the job lost its instance to another job and went back to the queue.
    pub generation: u32,
    /// Market of the next or current launch.
    pub market: Market,
    /// Not claimable before this.
    pub next_retry_at: Option<Timestamp>,
    /// Queued.
    pub queued_at: Timestamp,
    /// Last claimed.
    pub claimed_at: Option<Timestamp>,
    /// Its instance's launch time.
    pub launched_at: Option<Timestamp>,
    /// Running since.
    pub started_at: Option<Timestamp>,
    /// Ended.
    pub finished_at: Option<Timestamp>,
    /// The instance it waits for, runs on or ran on.
    pub instance: Option<Box<str>>,
    /// The runner that runs or ran it, when known (may be a runner Pacer did not launch).
    pub runner: Option<Box<str>>,
    /// That instance's price quote.
    pub price: Option<PriceQuote>,
    /// Estimated cost, set when it ends.
    pub cost: Option<Micros>,
    /// Seq of the event that failed it, for the failure log.
    pub failure_seq: Option<u64>,
}

/// A live instance Pacer launched (removed once terminated, lost or reaped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-…`.
    pub id: Box<str>,
    /// The job it was launched for.
    pub launched_for: JobId,
    /// The job it is assigned to or serving, if any (one at a time; runners are ephemeral).
    pub job: Option<JobId>,
    /// Whether that job actually runs on it (GitHub said so), not only waits for it.
    pub serving: bool,
    /// Its project.
    pub project: ProjectId,
    /// Its pool.
    pub pool: PoolId,
    /// For repo-scoped projects, the repo its runner is registered to.
    pub repo: Option<Sym>,
    /// Instance type.
    pub instance_type: Sym,
    /// Availability zone.
    pub availability_zone: Sym,
    /// Market.
    pub market: Market,
    /// Price quote at launch.
    pub price: Option<PriceQuote>,
    /// Launched.
    pub launched_at: Timestamp,
    /// Exchanged the bootstrap token.
    pub bootstrapped: bool,
    /// Registered with GitHub.
    pub registered_at: Option<Timestamp>,
    /// GitHub runner id.
    pub runner_id: Option<u64>,
    /// The runner reported completion or an error (it will shut down by itself).
    pub runner_done: bool,
}

impl Instance {
    /// The GitHub runner name of this instance.
    pub fn runner_name(&self) -> String {
        runner_name(&self.id)
    }
}

/// The GitHub runner name of an instance: `pacer-<instance-id>`.
pub fn runner_name(instance_id: &str) -> String {
    format!("pacer-{instance_id}")
}

/// The instance id in a Pacer runner name.
pub fn instance_of_runner(runner_name: &str) -> Option<&str> {
    runner_name.strip_prefix("pacer-").filter(|id| id.starts_with("i-"))
}

/// Filter of the jobs list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only these statuses (empty = any).
    pub statuses: Vec<JobStatus>,
    /// Only this project.
    pub project: Option<ProjectId>,
    /// Only this pool.
    pub pool: Option<PoolId>,
    /// Only this repo.
    pub repo: Option<Sym>,
    /// Only this sender.
    pub sender: Option<Sym>,
}

/// One page of jobs, newest first.
#[derive(Debug)]
pub struct JobPage<'a> {
    /// The jobs.
    pub jobs: Vec<&'a Job>,
    /// How many jobs match in all.
    pub total: usize,
    /// Whether older matching jobs follow.
    pub has_more: bool,
}

/// Active (claimed, starting, running) counts for the caps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveCounts {
    /// Per pool.
    pub pool: FastMap<PoolId, u32>,
    /// Per project.
    pub project: FastMap<ProjectId, u32>,
    /// Per repo.
    pub repo: FastMap<Sym, u32>,
}

impl ActiveCounts {
    fn adjust(&mut self, job: &Job, delta: i64) {
        fn bump<K: std::hash::Hash + Eq>(map: &mut FastMap<K, u32>, key: K, delta: i64) {
            let entry = map.entry(key).or_insert(0);
            *entry = (i64::from(*entry) + delta).max(0) as u32;
        }
        bump(&mut self.pool, job.pool, delta);
        bump(&mut self.project, job.project, delta);
        bump(&mut self.repo, job.repo, delta);
        self.pool.retain(|_, n| *n > 0);
        self.project.retain(|_, n| *n > 0);
        self.repo.retain(|_, n| *n > 0);
    }

    /// Active jobs in a pool.
    pub fn in_pool(&self, pool: PoolId) -> u32 {
        self.pool.get(&pool).copied().unwrap_or(0)
    }

    /// Active jobs in a project.
    pub fn in_project(&self, project: ProjectId) -> u32 {
        self.project.get(&project).copied().unwrap_or(0)
    }

    /// Active jobs of a repo.
    pub fn in_repo(&self, repo: Sym) -> u32 {
        self.repo.get(&repo).copied().unwrap_or(0)
    }
}

/// Every retained job, indexed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jobs {
    by_id: BTreeMap<JobId, Job>,
    by_github: FastMap<u64, JobId>,
    by_status: [BTreeSet<JobId>; 8],
    by_project: FastMap<ProjectId, BTreeSet<JobId>>,
    by_pool: FastMap<PoolId, BTreeSet<JobId>>,
    by_repo: FastMap<Sym, BTreeSet<JobId>>,
    by_sender: FastMap<Sym, BTreeSet<JobId>>,
    finished: BTreeSet<(Timestamp, JobId)>,
    active: ActiveCounts,
    next_id: u64,
}

impl Jobs {
    /// A job by id.
    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.by_id.get(&id)
    }

    /// A job by GitHub job id.
    pub fn by_github_id(&self, github_job_id: u64) -> Option<&Job> {
        self.by_github.get(&github_job_id).and_then(|id| self.by_id.get(id))
    }

    /// The id the next queued job gets.
    pub fn next_id(&self) -> JobId {
        JobId(self.next_id.max(1))
    }

    /// Number of retained jobs.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no job is retained.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of retained jobs in `status`.
    pub fn count(&self, status: JobStatus) -> usize {
        self.by_status[status.index()].len()
    }

    /// Jobs in `status`, oldest first.
    pub fn in_status(&self, status: JobStatus) -> impl DoubleEndedIterator<Item = &Job> {
        self.by_status[status.index()].iter().filter_map(|id| self.by_id.get(id))
    }

    /// Active counts for the caps.
    pub fn active(&self) -> &ActiveCounts {
        &self.active
    }

    /// All retained jobs, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Job> {
        self.by_id.values()
    }

    /// A newest-first page of jobs matching `filter`, strictly older than `before`.
    pub fn page(&self, filter: &JobFilter, before: Option<JobId>, first: usize) -> JobPage<'_> {
        let empty = BTreeSet::new();
        // Pick the smallest index among the constraints, then check the others per job.
        let mut sources: Vec<&BTreeSet<JobId>> = Vec::new();
        if let Some(p) = filter.project {
            sources.push(self.by_project.get(&p).unwrap_or(&empty));
        }
        if let Some(p) = filter.pool {
            sources.push(self.by_pool.get(&p).unwrap_or(&empty));
        }
        if let Some(r) = filter.repo {
            sources.push(self.by_repo.get(&r).unwrap_or(&empty));
        }
        if let Some(s) = filter.sender {
            sources.push(self.by_sender.get(&s).unwrap_or(&empty));
        }
        let matches = |job: &Job| {
            (filter.statuses.is_empty() || filter.statuses.contains(&job.status))
                && filter.project.is_none_or(|p| job.project == p)
                && filter.pool.is_none_or(|p| job.pool == p)
                && filter.repo.is_none_or(|r| job.repo == r)
                && filter.sender.is_none_or(|s| job.sender == s)
        };
        let upper = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let range = (std::ops::Bound::Unbounded, upper);

        if sources.is_empty() && !filter.statuses.is_empty() {
            // Status-only filter: merge the per-status sets newest first; totals are O(1).
            let mut statuses = filter.statuses.clone();
            statuses.sort();
            statuses.dedup();
            let total = statuses.iter().map(|s| self.count(*s)).sum();
            let mut iters: Vec<_> =
                statuses.iter().map(|s| self.by_status[s.index()].range(range).rev().peekable()).collect();
            let mut jobs = Vec::with_capacity(first.min(256));
            let mut has_more = false;
            loop {
                let next =
                    iters.iter_mut().enumerate().filter_map(|(i, it)| it.peek().map(|id| (**id, i))).max();
                let Some((id, i)) = next else { break };
                if jobs.len() == first {
                    has_more = true;
                    break;
                }
                iters[i].next();
                jobs.extend(self.by_id.get(&id));
            }
            return JobPage { jobs, total, has_more };
        }

        let source: Box<dyn Iterator<Item = &JobId>> = match sources.iter().min_by_key(|s| s.len()) {
            Some(smallest) => Box::new(smallest.range(range).rev()),
            None => Box::new(self.by_id.range(range).rev().map(|(id, _)| id)),
        };
        let mut jobs = Vec::with_capacity(first.min(256));
        let mut has_more = false;
        for job in source.filter_map(|id| self.by_id.get(id)).filter(|j| matches(j)) {
            if jobs.len() == first {
                has_more = true;
                break;
            }
            jobs.push(job);
        }
        let total = if sources.is_empty() && filter.statuses.is_empty() {
            self.by_id.len()
        } else if sources.len() == 1 && filter.statuses.is_empty() {
            sources[0].len()
        } else {
            let smallest = sources.iter().min_by_key(|s| s.len()).copied().unwrap_or(&empty);
            smallest.iter().filter_map(|id| self.by_id.get(id)).filter(|j| matches(j)).count()
        };
        JobPage { jobs, total, has_more }
    }

    /// Adds a new job (status queued) and advances the id counter.
    pub(crate) fn insert(&mut self, job: Job) {
        self.next_id = self.next_id.max(job.id.0 + 1);
        self.by_github.insert(job.github_job_id, job.id);
        self.index(&job);
        if let Some(old) = self.by_id.insert(job.id, job) {
            self.unindex(&old);
        }
    }

    /// Changes a job through `change`, keeping every index and count in step.
    /// Returns `false` when the job is unknown.
    pub(crate) fn update(&mut self, id: JobId, change: impl FnOnce(&mut Job)) -> bool {
        let Some(job) = self.by_id.get_mut(&id) else { return false };
        let before = (job.status, job.finished_at);
        let was_active = job.status.is_active();
        change(job);
        let job = job.clone();
        if before.0 != job.status {
            self.by_status[before.0.index()].remove(&id);
            self.by_status[job.status.index()].insert(id);
        }
        if was_active != job.status.is_active() {
            self.active.adjust(&job, if job.status.is_active() { 1 } else { -1 });
        }
        if before.1 != job.finished_at {
            if let Some(at) = before.1 {
                self.finished.remove(&(at, id));
            }
            if let Some(at) = job.finished_at {
                self.finished.insert((at, id));
            }
        }
        true
    }

    /// Drops terminal jobs that finished before `cutoff` (retention). Returns how many.
    pub(crate) fn evict_finished_before(&mut self, cutoff: Timestamp) -> usize {
        let mut evicted = 0;
        while let Some(&(at, id)) = self.finished.first() {
            if at >= cutoff {
                break;
            }
            self.finished.pop_first();
            if let Some(job) = self.by_id.remove(&id) {
                self.by_github.remove(&job.github_job_id);
                self.unindex(&job);
                evicted += 1;
            }
        }
        evicted
    }

    fn index(&mut self, job: &Job) {
        self.by_status[job.status.index()].insert(job.id);
        self.by_project.entry(job.project).or_default().insert(job.id);
        self.by_pool.entry(job.pool).or_default().insert(job.id);
        self.by_repo.entry(job.repo).or_default().insert(job.id);
        self.by_sender.entry(job.sender).or_default().insert(job.id);
        if job.status.is_active() {
            self.active.adjust(job, 1);
        }
        if let Some(at) = job.finished_at {
            self.finished.insert((at, job.id));
        }
    }

    fn unindex(&mut self, job: &Job) {
        fn drop_from<K: std::hash::Hash + Eq>(map: &mut FastMap<K, BTreeSet<JobId>>, key: K, id: JobId) {
            if let Some(set) = map.get_mut(&key) {
                set.remove(&id);
                if set.is_empty() {
                    map.remove(&key);
                }
            }
        }
        self.by_status[job.status.index()].remove(&job.id);
        drop_from(&mut self.by_project, job.project, job.id);
        drop_from(&mut self.by_pool, job.pool, job.id);
        drop_from(&mut self.by_repo, job.repo, job.id);
        drop_from(&mut self.by_sender, job.sender, job.id);
        if job.status.is_active() {
            self.active.adjust(job, -1);
        }
        if let Some(at) = job.finished_at {
            self.finished.remove(&(at, job.id));
        }
    }
}

/// The live instances, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instances {
    live: BTreeMap<Box<str>, Instance>,
}

impl Instances {
    /// A live instance.
    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.live.get(id)
    }

    /// Every live instance, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Instance> {
        self.live.values()
    }

    /// Number of live instances.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.live.get_mut(id)
    }

    pub(crate) fn insert(&mut self, instance: Instance) {
        self.live.insert(instance.id.clone(), instance);
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Instance> {
        self.live.remove(id)
    }
}
