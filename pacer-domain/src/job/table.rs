//! The jobs projection: every retained job with its indexes (by id, GitHub id, status,
//! project, pool, repo, sender), per-pool/project/repo active counts for the caps and
//! newest-first paging. Details that only the job detail view needs (workflow, branch, commit,
//! failure log) stay in the log and are read through the store's subject index.

use crate::FastMap;
use crate::config::{PoolId, ProjectId};
use crate::intern::Sym;
use crate::job::JobId;
use crate::launch::Market;
use crate::money::{Micros, PriceQuote};
use crate::sorted::SortedDeque;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Routed to a pool, waiting to be claimed (also after a launch retry or losing its
    /// instance).
    Queued,
    /// Taken by the dispatcher; launch under way (queued again when no outcome arrives within
    /// [`crate::CLAIM_TIMEOUT_MS`]).
    Claimed,
    /// Instance launched; runner not yet running the job.
    Starting,
    /// The job runs.
    Running,
    /// GitHub concluded anything but a failure or a cancellation (`success`, `skipped`,
    /// `neutral`, …).
    Completed,
    /// GitHub concluded a failure, or Pacer failed it; the `job.failed` event says the stage.
    Failed,
    /// Cancelled on GitHub.
    Cancelled,
    /// Its instance was terminated for exceeding the pool's max runtime.
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

    /// The status as the API and filters spell it: `queued`, `claimed`, `starting`, `running`,
    /// `completed`, `failed`, `cancelled` or `reaped`.
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

    /// Parses an [`Self::as_str`] name, case-insensitively.
    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// Completed, failed, cancelled or reaped: the status never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Reaped)
    }

    /// Claimed, starting or running: counts against the pool, project and repo caps.
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
    /// Pacer's id, from `job.queued`.
    pub id: JobId,
    /// GitHub's job id; one retained job per GitHub id.
    pub github_job_id: u64,
    /// GitHub's workflow run id.
    pub run_id: u64,
    /// The GitHub App installation that sent its webhook; `None` when the payload had none.
    pub installation: Option<u64>,
    /// `owner/repo`, interned in [`crate::State::strings`].
    pub repo: Sym,
    /// Login of the GitHub user who triggered it (interned; empty when unknown).
    pub sender: Sym,
    /// Its `runs-on` labels as GitHub sent them, joined by `, ` (interned).
    pub labels: Sym,
    /// The project it was routed to.
    pub project: ProjectId,
    /// The pool it was routed to (deleting the pool fails its queued jobs).
    pub pool: PoolId,
    /// Where it is in its life.
    pub status: JobStatus,
    /// Capacity-class launch failures so far (throttling does not count); the job fails at
    /// [`crate::MAX_LAUNCH_ATTEMPTS`].
    pub attempts: u32,
    /// Times the job lost its instance to another job and went back to the queue.
    pub generation: u32,
    /// Market of the next or current launch: the pool's at queue time, on-demand after a spot
    /// fallback, or that of the instance it took.
    pub market: Market,
    /// Not claimable before this (set by a launch retry); `None` = claimable at once.
    pub next_retry_at: Option<Timestamp>,
    /// When `job.queued` was recorded.
    pub queued_at: Timestamp,
    /// When it was last claimed; cleared whenever it returns to the queue.
    pub claimed_at: Option<Timestamp>,
    /// When the instance it has was launched (cost runs from here); `None` without one.
    pub launched_at: Option<Timestamp>,
    /// When it started running (webhook or runner registration); `None` until then, and
    /// reset when it loses its instance.
    pub started_at: Option<Timestamp>,
    /// When it reached its terminal status (a prune of the log through this time drops it from
    /// the table); `None` until then.
    pub finished_at: Option<Timestamp>,
    /// The instance (`i-…`) it waits for, runs on or ran on; `None` before a launch or after
    /// losing its instance.
    pub instance: Option<Box<str>>,
    /// The runner that runs or ran it, when known (may be a runner Pacer did not launch).
    pub runner: Option<Box<str>>,
    /// That instance's price per hour at launch; `None` without an instance or unpriced.
    pub price: Option<PriceQuote>,
    /// The settled part of its cost, in micro-dollars: Σ price × (terminated − launched) of
    /// the priced instances billed to it that have ended; `None` while none has. What an
    /// instance still up adds is estimated by [`crate::State::job_cost`].
    pub cost: Option<Micros>,
    /// Seq of the `job.failed` or `job.reaped` record that ended it, for the failure log
    /// (`None` for other jobs).
    pub failure_seq: Option<u64>,
}

/// What a job is queued with; its claim, launch, run and end start empty.
pub(crate) struct NewJob {
    pub id: JobId,
    pub github_job_id: u64,
    pub run_id: u64,
    pub installation: Option<u64>,
    pub repo: Sym,
    pub sender: Sym,
    pub labels: Sym,
    pub project: ProjectId,
    pub pool: PoolId,
    pub market: Market,
    pub queued_at: Timestamp,
}

impl Job {
    /// Whether it is without cost: no cost settled, and no priced instance (none launched, or
    /// the one it has or had had no price quote).
    pub fn without_cost(&self) -> bool {
        self.cost.is_none() && self.price.is_none()
    }

    /// A job as it enters the queue.
    pub(crate) fn queued(new: NewJob) -> Job {
        Job {
            id: new.id,
            github_job_id: new.github_job_id,
            run_id: new.run_id,
            installation: new.installation,
            repo: new.repo,
            sender: new.sender,
            labels: new.labels,
            project: new.project,
            pool: new.pool,
            status: JobStatus::Queued,
            attempts: 0,
            generation: 0,
            market: new.market,
            next_retry_at: None,
            queued_at: new.queued_at,
            claimed_at: None,
            launched_at: None,
            started_at: None,
            finished_at: None,
            instance: None,
            runner: None,
            price: None,
            cost: None,
            failure_seq: None,
        }
    }
}

/// Filter of the jobs list; every set criterion must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only these statuses (empty = any).
    pub statuses: Vec<JobStatus>,
    /// Only jobs routed to this project; `None` = any.
    pub project: Option<ProjectId>,
    /// Only jobs routed to this pool; `None` = any.
    pub pool: Option<PoolId>,
    /// Only jobs of this `owner/repo` (interned); `None` = any.
    pub repo: Option<Sym>,
    /// Only jobs triggered by this GitHub login (interned); `None` = any.
    pub sender: Option<Sym>,
}

/// One page of jobs, newest first.
#[derive(Debug)]
pub struct JobPage<'a> {
    /// At most `first` matching jobs, newest (highest id) first.
    pub jobs: Vec<&'a Job>,
    /// How many retained jobs match in all, across every page.
    pub total: usize,
    /// Whether older matching jobs follow.
    pub has_more: bool,
}

/// Active (claimed, starting, running) counts for the caps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveCounts {
    /// Active jobs per pool (pools with none are absent).
    pub pool: FastMap<PoolId, u32>,
    /// Active jobs per project (projects with none are absent).
    pub project: FastMap<ProjectId, u32>,
    /// Active jobs per `owner/repo` (interned; repos with none are absent).
    pub repo: FastMap<Sym, u32>,
}

impl ActiveCounts {
    fn adjust(&mut self, job: &JobKeys, delta: i64) {
        fn bump<K: std::hash::Hash + Eq + Copy>(map: &mut FastMap<K, u32>, key: K, delta: i64) {
            let entry = map.entry(key).or_insert(0);
            *entry = (i64::from(*entry) + delta).max(0) as u32;
            if *entry == 0 {
                map.remove(&key);
            }
        }
        bump(&mut self.pool, job.pool, delta);
        bump(&mut self.project, job.project, delta);
        bump(&mut self.repo, job.repo, delta);
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

/// What a change to a job can move it between: its status and end (the status and finished
/// indexes) and the groups the active counts are kept for.
#[derive(Clone, Copy)]
struct JobKeys {
    status: JobStatus,
    finished_at: Option<Timestamp>,
    project: ProjectId,
    pool: PoolId,
    repo: Sym,
}

impl JobKeys {
    fn of(job: &Job) -> Self {
        JobKeys {
            status: job.status,
            finished_at: job.finished_at,
            project: job.project,
            pool: job.pool,
            repo: job.repo,
        }
    }
}

/// Jobs by id. Ids are handed out in sequence and jobs leave roughly oldest first, so the
/// table is a deque of slots from the oldest retained id: O(1) lookups, and a job evicted out
/// of order leaves an 8-byte hole until the jobs before it go too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ById {
    /// The id of `slots[0]`.
    first: u64,
    slots: VecDeque<Option<Box<Job>>>,
    len: usize,
}

impl ById {
    fn slot(&self, id: JobId) -> Option<usize> {
        id.0.checked_sub(self.first).map(|i| i as usize).filter(|i| *i < self.slots.len())
    }

    fn get(&self, id: JobId) -> Option<&Job> {
        self.slot(id).and_then(|i| self.slots[i].as_deref())
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.slot(id).and_then(|i| self.slots[i].as_deref_mut())
    }

    /// Stores `job` in a free slot (the caller removes any job with its id first).
    fn insert(&mut self, job: Job) {
        let id = job.id.0;
        if self.slots.is_empty() {
            self.first = id;
        }
        while id < self.first {
            self.slots.push_front(None);
            self.first -= 1;
        }
        let i = (id - self.first) as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        if self.slots[i].replace(Box::new(job)).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, id: JobId) -> Option<Job> {
        let old = self.slot(id).and_then(|i| self.slots[i].take())?;
        self.len -= 1;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
        while let Some(None) = self.slots.back() {
            self.slots.pop_back();
        }
        if self.slots.is_empty() {
            // As a table decoded without rows, so equal tables compare equal.
            self.first = 0;
        }
        Some(*old)
    }

    /// The table of `rows`, sorted by id without duplicates.
    #[expect(clippy::vec_box, reason = "each boxed row becomes a table slot without a copy")]
    fn from_sorted(rows: Vec<Box<Job>>) -> Self {
        let first = rows.first().map_or(0, |job| job.id.0);
        let span = rows.last().map_or(0, |job| job.id.0 - first + 1);
        let mut slots = VecDeque::with_capacity(span as usize);
        let len = rows.len();
        for job in rows {
            let i = (job.id.0 - first) as usize;
            if i > slots.len() {
                slots.resize(i, None);
            }
            slots.push_back(Some(job));
        }
        ById { first, slots, len }
    }

    /// Every job, oldest first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &Job> {
        self.slots.iter().filter_map(|slot| slot.as_deref())
    }

    /// Jobs older than `before` (all without it), newest first.
    fn older_than(&self, before: Option<JobId>) -> impl Iterator<Item = &Job> {
        let end = match before {
            Some(id) => (id.0.saturating_sub(self.first) as usize).min(self.slots.len()),
            None => self.slots.len(),
        };
        self.slots.range(..end).rev().filter_map(|slot| slot.as_deref())
    }
}

/// Every retained job, indexed. Stored (in snapshots) as its rows only: the indexes are
/// rebuilt in bulk from the rows on load, which is several times faster than decoding them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jobs {
    by_id: ById,
    by_github: FastMap<u64, JobId>,
    by_status: [SortedDeque<JobId>; 8],
    by_project: FastMap<ProjectId, SortedDeque<JobId>>,
    by_pool: FastMap<PoolId, SortedDeque<JobId>>,
    by_repo: FastMap<Sym, SortedDeque<JobId>>,
    by_sender: FastMap<Sym, SortedDeque<JobId>>,
    finished: SortedDeque<(Timestamp, JobId)>,
    active: ActiveCounts,
    next_id: u64,
}

impl Jobs {
    /// A job by id.
    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.by_id.get(id)
    }

    /// A job by GitHub job id.
    pub fn by_github_id(&self, github_job_id: u64) -> Option<&Job> {
        self.by_github.get(&github_job_id).and_then(|id| self.by_id.get(*id))
    }

    /// The id the next queued job gets.
    pub fn next_id(&self) -> JobId {
        JobId(self.next_id.max(1))
    }

    /// The id counter as stored (0 before the first job), for [`JobsLoader::finish`].
    pub fn id_counter(&self) -> u64 {
        self.next_id
    }

    /// Number of retained jobs.
    pub fn len(&self) -> usize {
        self.by_id.len
    }

    /// Whether no job is retained.
    pub fn is_empty(&self) -> bool {
        self.by_id.len == 0
    }

    /// Number of retained jobs in `status`.
    pub fn count(&self, status: JobStatus) -> usize {
        self.by_status[status.index()].len()
    }

    /// Jobs in `status`, oldest first.
    pub fn in_status(&self, status: JobStatus) -> impl DoubleEndedIterator<Item = &Job> {
        self.by_status[status.index()].iter().filter_map(|id| self.by_id.get(*id))
    }

    /// Active counts for the caps.
    pub fn active(&self) -> &ActiveCounts {
        &self.active
    }

    /// All retained jobs, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Job> {
        self.by_id.iter()
    }

    /// A newest-first page of jobs matching `filter`, strictly older than `before`.
    pub fn page(&self, filter: &JobFilter, before: Option<JobId>, first: usize) -> JobPage<'_> {
        let empty = SortedDeque::default();
        // Pick the smallest index among the constraints, then check the others per job.
        let mut sources: Vec<&SortedDeque<JobId>> = Vec::new();
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

        if sources.is_empty() && !filter.statuses.is_empty() {
            // Status-only filter: merge the per-status sets newest first; totals are O(1).
            let mut statuses = filter.statuses.clone();
            statuses.sort();
            statuses.dedup();
            let total = statuses.iter().map(|s| self.count(*s)).sum();
            let mut iters: Vec<_> =
                statuses.iter().map(|s| self.by_status[s.index()].below(before).rev().peekable()).collect();
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
                jobs.extend(self.by_id.get(id));
            }
            return JobPage { jobs, total, has_more };
        }

        let source: Box<dyn Iterator<Item = &Job>> = match sources.iter().min_by_key(|s| s.len()) {
            Some(smallest) => Box::new(smallest.below(before).rev().filter_map(|id| self.by_id.get(*id))),
            None => Box::new(self.by_id.older_than(before)),
        };
        let mut jobs = Vec::with_capacity(first.min(256));
        let mut has_more = false;
        for job in source.filter(|j| matches(j)) {
            if jobs.len() == first {
                has_more = true;
                break;
            }
            jobs.push(job);
        }
        let total = if sources.is_empty() && filter.statuses.is_empty() {
            self.by_id.len
        } else if sources.len() == 1 && filter.statuses.is_empty() {
            sources[0].len()
        } else {
            let smallest = sources.iter().min_by_key(|s| s.len()).copied().unwrap_or(&empty);
            smallest.iter().filter_map(|id| self.by_id.get(*id)).filter(|j| matches(j)).count()
        };
        JobPage { jobs, total, has_more }
    }

    /// Adds a new job (status queued) and advances the id counter.
    pub(crate) fn insert(&mut self, job: Job) {
        self.next_id = self.next_id.max(job.id.0 + 1);
        self.by_github.insert(job.github_job_id, job.id);
        if let Some(old) = self.by_id.remove(job.id) {
            self.unindex(&old);
        }
        self.index(&job);
        self.by_id.insert(job);
    }

    /// Changes a job through `change`, keeping every index and count in step.
    /// Returns `false` when the job is unknown.
    pub(crate) fn update(&mut self, id: JobId, change: impl FnOnce(&mut Job)) -> bool {
        let Some(job) = self.by_id.get_mut(id) else { return false };
        let before = JobKeys::of(job);
        change(job);
        let job = JobKeys::of(job);
        if before.status != job.status {
            self.by_status[before.status.index()].remove(&id);
            self.by_status[job.status.index()].insert(id);
        }
        if before.status.is_active() != job.status.is_active() {
            self.active.adjust(&job, if job.status.is_active() { 1 } else { -1 });
        }
        if before.finished_at != job.finished_at {
            if let Some(at) = before.finished_at {
                self.finished.remove(&(at, id));
            }
            if let Some(at) = job.finished_at {
                self.finished.insert((at, id));
            }
        }
        true
    }

    /// Drops terminal jobs that finished at or before `through` (their records were pruned from
    /// the log). Returns how many.
    pub(crate) fn evict_finished_through(&mut self, through: Timestamp) -> usize {
        let mut evicted = 0;
        while let Some(&(at, id)) = self.finished.first() {
            if at > through {
                break;
            }
            self.finished.remove(&(at, id));
            if let Some(job) = self.by_id.remove(id) {
                self.by_github.remove(&job.github_job_id);
                self.unindex(&job);
                evicted += 1;
            }
        }
        evicted
    }

    /// Adds `job` to every index; [`JobsLoader::extend`] does the same in bulk and must stay in
    /// step (the snapshot property test compares both).
    fn index(&mut self, job: &Job) {
        self.by_status[job.status.index()].insert(job.id);
        self.by_project.entry(job.project).or_default().insert(job.id);
        self.by_pool.entry(job.pool).or_default().insert(job.id);
        self.by_repo.entry(job.repo).or_default().insert(job.id);
        self.by_sender.entry(job.sender).or_default().insert(job.id);
        if job.status.is_active() {
            self.active.adjust(&JobKeys::of(job), 1);
        }
        if let Some(at) = job.finished_at {
            self.finished.insert((at, job.id));
        }
    }

    fn unindex(&mut self, job: &Job) {
        fn drop_from<K: std::hash::Hash + Eq>(map: &mut FastMap<K, SortedDeque<JobId>>, key: K, id: JobId) {
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
            self.active.adjust(&JobKeys::of(job), -1);
        }
        if let Some(at) = job.finished_at {
            self.finished.remove(&(at, job.id));
        }
    }
}

/// The stored form of [`Jobs`]: the id counter and the rows in id order.
#[derive(Serialize)]
struct JobRowsRef<'a> {
    next_id: u64,
    #[serde(serialize_with = "serialize_rows")]
    rows: &'a ById,
}

fn serialize_rows<S: serde::Serializer>(rows: &&ById, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(rows.len))?;
    for job in rows.iter() {
        seq.serialize_element(job)?;
    }
    seq.end()
}

#[derive(Deserialize)]
struct JobRows {
    next_id: u64,
    #[expect(clippy::vec_box, reason = "each boxed row becomes a table slot without a copy")]
    rows: Vec<Box<Job>>,
}

impl Serialize for Jobs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        JobRowsRef { next_id: self.next_id, rows: &self.by_id }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Jobs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let JobRows { next_id, rows } = JobRows::deserialize(deserializer)?;
        let mut loader = JobsLoader::default();
        loader.extend(rows);
        Ok(loader.finish(next_id))
    }
}

/// Rebuilds [`Jobs`] from its rows in bulk: each index is collected as sorted ids and built at
/// once instead of node by node. Rows may arrive in chunks (a snapshot reader decodes the next
/// chunk on another thread while this one indexes the last), in id order; rows out of order or
/// repeated are sorted and deduplicated at [`JobsLoader::finish`].
#[derive(Default)]
pub struct JobsLoader {
    #[expect(clippy::vec_box, reason = "each boxed row becomes a table slot without a copy")]
    rows: Vec<Box<Job>>,
    by_github: FastMap<u64, JobId>,
    by_status: [Vec<JobId>; 8],
    by_project: FastMap<ProjectId, Vec<JobId>>,
    by_pool: FastMap<PoolId, Vec<JobId>>,
    by_repo: FastMap<Sym, Vec<JobId>>,
    by_sender: FastMap<Sym, Vec<JobId>>,
    finished: Vec<(Timestamp, JobId)>,
    active: ActiveCounts,
    out_of_order: bool,
}

impl JobsLoader {
    /// A loader expecting about `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        JobsLoader {
            rows: Vec::with_capacity(rows),
            by_github: FastMap::with_capacity_and_hasher(rows, Default::default()),
            ..JobsLoader::default()
        }
    }

    /// Adds the next rows, to the same indexes as `Jobs::index` (as sorted vectors, turned into
    /// sorted deques at [`JobsLoader::finish`]; inserting each row into a live `Jobs` instead made
    /// a 10 M-event start ~30 % slower).
    pub fn extend(&mut self, rows: Vec<Box<Job>>) {
        fn push<K: std::hash::Hash + Eq>(map: &mut FastMap<K, Vec<JobId>>, key: K, id: JobId) {
            map.entry(key).or_default().push(id);
        }
        let mut last = self.rows.last().map(|job| job.id);
        for job in &rows {
            self.out_of_order |= last.is_some_and(|last| last >= job.id);
            last = Some(job.id);
            if self.out_of_order {
                // Out of order or repeated: `finish` sorts and indexes everything again.
                continue;
            }
            self.by_github.insert(job.github_job_id, job.id);
            self.by_status[job.status.index()].push(job.id);
            push(&mut self.by_project, job.project, job.id);
            push(&mut self.by_pool, job.pool, job.id);
            push(&mut self.by_repo, job.repo, job.id);
            push(&mut self.by_sender, job.sender, job.id);
            if let Some(at) = job.finished_at {
                self.finished.push((at, job.id));
            }
            if job.status.is_active() {
                self.active.adjust(&JobKeys::of(job), 1);
            }
        }
        self.rows.extend(rows);
    }

    /// The jobs, with `next_id` as the id counter.
    pub fn finish(mut self, next_id: u64) -> Jobs {
        if self.out_of_order {
            let mut rows = std::mem::take(&mut self.rows);
            rows.sort_by_key(|job| job.id);
            rows.dedup_by_key(|job| job.id);
            let mut sorted = JobsLoader::with_capacity(rows.len());
            sorted.extend(rows);
            return sorted.finish(next_id);
        }
        fn sets<K: std::hash::Hash + Eq>(map: FastMap<K, Vec<JobId>>) -> FastMap<K, SortedDeque<JobId>> {
            map.into_iter().map(|(key, ids)| (key, SortedDeque::from_sorted(ids))).collect()
        }
        self.finished.sort_unstable();
        Jobs {
            by_id: ById::from_sorted(self.rows),
            by_github: self.by_github,
            by_status: self.by_status.map(SortedDeque::from_sorted),
            by_project: sets(self.by_project),
            by_pool: sets(self.by_pool),
            by_repo: sets(self.by_repo),
            by_sender: sets(self.by_sender),
            finished: SortedDeque::from_sorted(self.finished),
            active: self.active,
            next_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64) -> Job {
        Job::queued(NewJob {
            id: JobId(id),
            github_job_id: 1_000 + id,
            run_id: 1,
            installation: None,
            repo: Sym(0),
            sender: Sym(1),
            labels: Sym(2),
            project: ProjectId(1),
            pool: PoolId(1),
            market: Market::OnDemand,
            queued_at: Timestamp(id as i64),
        })
    }

    fn ids<'a>(jobs: impl Iterator<Item = &'a Job>) -> Vec<u64> {
        jobs.map(|job| job.id.0).collect()
    }

    #[test]
    fn the_id_table_keeps_holes_cheap_and_trims_its_ends() {
        let mut table = ById::default();
        for id in [5, 6, 7, 8, 9] {
            table.insert(row(id));
        }
        assert_eq!(table.remove(JobId(7)).map(|job| job.id), Some(JobId(7)));
        assert_eq!((table.len, table.slots.len()), (4, 5), "a hole in the middle stays");
        assert_eq!(table.get(JobId(7)), None);
        assert_eq!(ids(table.iter()), [5, 6, 8, 9]);
        assert_eq!(ids(table.older_than(Some(JobId(9)))), [8, 6, 5]);
        assert_eq!(ids(table.older_than(Some(JobId(100)))), [9, 8, 6, 5]);
        assert_eq!(ids(table.older_than(Some(JobId(1)))), Vec::<u64>::new());

        table.remove(JobId(5));
        table.remove(JobId(6));
        assert_eq!((table.first, table.slots.len()), (8, 2), "the front is trimmed past holes");
        table.remove(JobId(9));
        assert_eq!(table.slots.len(), 1, "and the back");
        table.remove(JobId(8));
        assert_eq!(table, ById::default(), "an emptied table equals a new one");
        table.insert(row(8));

        table.insert(row(3));
        table.insert(row(12));
        assert_eq!((table.first, table.len), (3, 3));
        assert_eq!(ids(table.iter()), [3, 8, 12]);
        assert_eq!(table.remove(JobId(4)), None);
        assert_eq!(table.get_mut(JobId(12)).map(|job| job.id), Some(JobId(12)));
    }

    #[test]
    fn stored_rows_rebuild_every_index() {
        let mut jobs = Jobs::default();
        for id in 1..=6 {
            jobs.insert(row(id));
        }
        jobs.update(JobId(2), |job| job.status = JobStatus::Running);
        jobs.update(JobId(3), |job| {
            job.status = JobStatus::Completed;
            job.finished_at = Some(Timestamp(50));
        });
        jobs.update(JobId(5), |job| {
            job.status = JobStatus::Failed;
            job.finished_at = Some(Timestamp(40));
        });
        assert_eq!(jobs.evict_finished_through(Timestamp(40)), 1);

        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&jobs, config).expect("encode");
        let (restored, _): (Jobs, usize) = bincode::serde::decode_from_slice(&bytes, config).expect("decode");
        assert_eq!(restored, jobs);
        assert_eq!(restored.active().in_pool(PoolId(1)), 1);
        assert_eq!(restored.next_id(), JobId(7));
    }

    #[test]
    fn the_loader_takes_rows_in_chunks_and_sorts_rows_out_of_order() {
        let mut jobs = Jobs::default();
        for id in 1..=9 {
            jobs.insert(row(id));
        }
        jobs.update(JobId(4), |job| {
            job.status = JobStatus::Completed;
            job.finished_at = Some(Timestamp(10));
        });
        let rows: Vec<Box<Job>> = jobs.iter().cloned().map(Box::new).collect();

        let mut chunked = JobsLoader::with_capacity(rows.len());
        for chunk in rows.chunks(4) {
            chunked.extend(chunk.to_vec());
        }
        assert_eq!(chunked.finish(10), jobs);

        let mut shuffled = JobsLoader::default();
        shuffled.extend(rows[5..].to_vec());
        shuffled.extend(rows[..6].to_vec()); // out of order, and row 6 twice
        assert_eq!(shuffled.finish(10), jobs);
    }
}
