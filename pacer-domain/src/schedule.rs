//! The scheduling policy as pure functions over the state and `now`: which queued
//! jobs may be claimed (caps, enabled flags, retry times), in which order (round-robin across
//! projects, oldest first within one), why any waiting job still waits, and the reaper's view
//! of instances that overstayed or are no longer needed.

use crate::config::{PoolId, ProjectId};
use crate::instance::Instance;
use crate::intern::Sym;
use crate::job::{Job, JobId, JobStatus};
use crate::state::State;
use crate::time::{MINUTE_MS, Timestamp};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A claim whose launch outcome never arrived is returned to the queue after this long.
pub const CLAIM_TIMEOUT_MS: i64 = 2 * MINUTE_MS;

/// Why a job is not running yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Claimable now: the dispatcher takes it on its next pass.
    Ready,
    /// A capacity (or throttling) retry is scheduled.
    RetryAt {
        /// The job is not claimed before this.
        at: Timestamp,
        /// Capacity failures so far (throttled calls are not counted).
        attempts: u32,
    },
    /// Its pool no longer exists.
    PoolMissing,
    /// Its pool is disabled.
    PoolDisabled,
    /// Its project is disabled.
    ProjectDisabled,
    /// The pool's cap is reached.
    PoolCapFull {
        /// Active (claimed, starting, running) jobs in the pool, claims being decided included.
        active: u32,
        /// The pool's [`crate::PoolSpec::cap`].
        cap: u32,
    },
    /// The project's cap is reached.
    ProjectCapFull {
        /// Active jobs in the project, claims being decided included.
        active: u32,
        /// The project's [`crate::ProjectSpec::cap`] (never 0 here: 0 means no ceiling).
        cap: u32,
    },
    /// The repo's cap is reached.
    RepoCapFull {
        /// Active jobs of the repo, claims being decided included.
        active: u32,
        /// The binding's [`crate::RepoSpec::cap`].
        cap: u32,
    },
    /// Claimed: the launch call is under way.
    Launching,
    /// The instance is booting; the runner has not registered yet.
    WaitingForRunner {
        /// The instance (`i-…`) the job waits for.
        instance: String,
    },
    /// The runner registered; GitHub has not reported the job running yet.
    WaitingForGitHub {
        /// The instance (`i-…`) whose runner registered.
        instance: String,
    },
    /// Not waiting: running or ended.
    NotWaiting,
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitReason::Ready => f.write_str("ready: the dispatcher claims it on its next pass"),
            WaitReason::RetryAt { at, attempts } => {
                write!(f, "launch retry at {at} after {attempts} failed attempt(s)")
            }
            WaitReason::PoolMissing => f.write_str("its pool was deleted"),
            WaitReason::PoolDisabled => f.write_str("pool disabled"),
            WaitReason::ProjectDisabled => f.write_str("project disabled"),
            WaitReason::PoolCapFull { active, cap } => write!(f, "pool cap full ({active}/{cap} active)"),
            WaitReason::ProjectCapFull { active, cap } => {
                write!(f, "project cap full ({active}/{cap} active)")
            }
            WaitReason::RepoCapFull { active, cap } => write!(f, "repo cap full ({active}/{cap} active)"),
            WaitReason::Launching => f.write_str("launching an instance"),
            WaitReason::WaitingForRunner { instance } => {
                write!(f, "instance {instance} is booting; waiting for its runner to register")
            }
            WaitReason::WaitingForGitHub { instance } => {
                write!(f, "runner on {instance} registered; waiting for GitHub to start the job")
            }
            WaitReason::NotWaiting => f.write_str("not waiting"),
        }
    }
}

/// Extra active jobs counted on top of the state (claims decided but not yet folded), and the
/// idle warm instances those claims have not taken yet.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    pool: HashMap<PoolId, u32>,
    project: HashMap<ProjectId, u32>,
    repo: HashMap<Sym, u32>,
    idle_warm: BTreeMap<PoolId, u32>,
}

impl Pending {
    /// Nothing pending yet over `state`, whose idle warm instances are free to take.
    pub fn for_state(state: &State) -> Self {
        Self { idle_warm: crate::warm::idle_warm(state), ..Self::default() }
    }

    /// Counts one more active job like `job`: it takes an idle warm instance of its pool if
    /// one is left.
    pub fn add(&mut self, job: &Job) {
        *self.pool.entry(job.pool).or_default() += 1;
        *self.project.entry(job.project).or_default() += 1;
        *self.repo.entry(job.repo).or_default() += 1;
        if let Some(idle) = self.idle_warm.get_mut(&job.pool) {
            *idle = idle.saturating_sub(1);
        }
    }

    /// Whether a job of `pool` would take an idle warm instance (no launch).
    fn warm_left(&self, pool: PoolId) -> bool {
        self.idle_warm.get(&pool).is_some_and(|idle| *idle > 0)
    }
}

fn extra<K: std::hash::Hash + Eq>(map: &HashMap<K, u32>, key: &K) -> u32 {
    map.get(key).copied().unwrap_or(0)
}

/// Whether `job` (queued) may be claimed at `now`, or why not.
pub fn claimable(state: &State, job: &Job, now: Timestamp, pending: &Pending) -> Result<(), WaitReason> {
    let Some(pool) = state.config.pool(job.pool) else { return Err(WaitReason::PoolMissing) };
    if state.config.project(job.project).is_some_and(|p| p.spec.disabled) {
        return Err(WaitReason::ProjectDisabled);
    }
    if pool.spec.disabled {
        return Err(WaitReason::PoolDisabled);
    }
    if let Some(at) = job.next_retry_at.filter(|at| *at > now) {
        return Err(WaitReason::RetryAt { at, attempts: job.attempts });
    }
    let active = state.jobs.active();
    // Taking an idle warm instance needs no room of its own while the pool holds its cap
    // (active jobs + idle warm instances ≤ cap): the instance counted already. Over the cap
    // (jobs launched cold while warm launches were in flight, or a lowered cap), jobs wait
    // and the reaper recycles the idle surplus.
    let in_pool = active.in_pool(job.pool) + extra(&pending.pool, &job.pool);
    if in_pool >= pool.spec.cap {
        return Err(WaitReason::PoolCapFull { active: in_pool, cap: pool.spec.cap });
    }
    if let Some(project) = state.config.project(job.project).filter(|p| p.spec.cap > 0) {
        let in_project = active.in_project(job.project) + extra(&pending.project, &job.project);
        if in_project >= project.spec.cap {
            return Err(WaitReason::ProjectCapFull { active: in_project, cap: project.spec.cap });
        }
    }
    let repo = state.repo_name(job);
    if let Some(cap) = state.config.repo(repo).and_then(|r| r.spec.cap).filter(|c| *c > 0) {
        let in_repo = active.in_repo(job.repo) + extra(&pending.repo, &job.repo);
        if in_repo >= cap {
            return Err(WaitReason::RepoCapFull { active: in_repo, cap });
        }
    }
    Ok(())
}

/// Up to `limit` queued jobs to claim now: round-robin across projects (in order of their
/// oldest waiting job), oldest first within a project, counting each claim against the caps
/// of the jobs after it. A job blocked by a cap never blocks jobs of other pools.
pub fn plan_claims(state: &State, now: Timestamp, limit: usize) -> Vec<JobId> {
    let mut queues: BTreeMap<JobId, VecDeque<&Job>> = BTreeMap::new(); // keyed by oldest job
    let mut by_project: HashMap<ProjectId, JobId> = HashMap::new();
    for job in state.jobs.in_status(JobStatus::Queued) {
        let head = *by_project.entry(job.project).or_insert(job.id);
        queues.entry(head).or_default().push_back(job);
    }
    let mut rotation: VecDeque<VecDeque<&Job>> = queues.into_values().collect();
    let mut pending = Pending::for_state(state);
    let mut claims = Vec::new();
    while claims.len() < limit {
        let Some(mut queue) = rotation.pop_front() else { break };
        // The oldest claimable job of this project, skipping blocked ones.
        let position = queue.iter().position(|job| claimable(state, job, now, &pending).is_ok());
        let Some(position) = position else { continue };
        if let Some(job) = queue.remove(position) {
            pending.add(job);
            claims.push(job.id);
        }
        // Jobs before `position` stay blocked for this pass; drop them to keep the pass linear.
        queue.drain(..position);
        if !queue.is_empty() {
            rotation.push_back(queue);
        }
    }
    claims
}

/// Queued jobs that may take an idle warm instance of their pool now (oldest first, as many
/// per pool as it holds idle): claimed even while every launch slot is busy, since taking one
/// launches nothing.
pub fn plan_warm_takes(state: &State, now: Timestamp) -> Vec<JobId> {
    let mut pending = Pending::for_state(state);
    let mut takes = Vec::new();
    for job in state.jobs.in_status(JobStatus::Queued) {
        if pending.warm_left(job.pool) && claimable(state, job, now, &pending).is_ok() {
            pending.add(job);
            takes.push(job.id);
        }
    }
    takes
}

/// Most instances one launch call asks for: a burst is launched in batches of this many.
pub const LAUNCH_BATCH_MAX: usize = 50;

/// The claims among `jobs` (claimed jobs; others are skipped) launched together: those of one
/// pool, market and repo claimed at the same moment (in one planning round), in job order, in
/// batches of at most [`LAUNCH_BATCH_MAX`]. A pure function of the state, so a restart finds
/// the same batches (and their launches the same client tokens) for claims still current.
pub fn launch_batches(state: &State, jobs: &[JobId]) -> Vec<Vec<JobId>> {
    let mut groups: BTreeMap<(PoolId, bool, Sym, Timestamp), Vec<JobId>> = BTreeMap::new();
    for job in jobs.iter().filter_map(|id| state.jobs.get(*id)) {
        if let (JobStatus::Claimed, Some(at)) = (job.status, job.claimed_at) {
            let spot = job.market == crate::launch::Market::Spot;
            groups.entry((job.pool, spot, job.repo, at)).or_default().push(job.id);
        }
    }
    let mut batches = Vec::new();
    for mut members in groups.into_values() {
        members.sort_unstable();
        members.dedup();
        batches.extend(members.chunks(LAUNCH_BATCH_MAX).map(<[JobId]>::to_vec));
    }
    batches
}

/// Why a job still waits: every queued job can be explained.
pub fn explain(state: &State, job: &Job, now: Timestamp) -> WaitReason {
    match job.status {
        JobStatus::Queued => match claimable(state, job, now, &Pending::for_state(state)) {
            Ok(()) => WaitReason::Ready,
            Err(reason) => reason,
        },
        JobStatus::Claimed => WaitReason::Launching,
        JobStatus::Starting => {
            let instance = job.instance.as_deref().unwrap_or_default().to_owned();
            match state.instances.get(&instance).and_then(|i| i.registered_at) {
                Some(_) => WaitReason::WaitingForGitHub { instance },
                None => WaitReason::WaitingForRunner { instance },
            }
        }
        _ => WaitReason::NotWaiting,
    }
}

/// The earliest future retry time among queued jobs: when the dispatcher must wake up.
pub fn next_retry(state: &State, now: Timestamp) -> Option<Timestamp> {
    state.jobs.in_status(JobStatus::Queued).filter_map(|j| j.next_retry_at).filter(|at| *at > now).min()
}

/// Claims whose launch outcome never arrived in [`CLAIM_TIMEOUT_MS`], whoever made them. A
/// replica losing the effects lease does not make its claims stale: its successor launches
/// them in the same batches, under the same client tokens, so EC2 answers with whatever the
/// deposed holder's interrupted call started (returned to the queue at once, they would be
/// claimed again in other batches, and those instances would be orphans).
pub fn stale_claims(state: &State, now: Timestamp) -> Vec<JobId> {
    state
        .jobs
        .in_status(JobStatus::Claimed)
        .filter(|j| j.claimed_at.is_some_and(|at| now.millis_since(at) >= CLAIM_TIMEOUT_MS))
        .map(|j| j.id)
        .collect()
}

/// Live instances that ran longer than their pool's max runtime (a warm instance counted from
/// when a job took it; idle ones are recycled by their pool's `max_age_minutes` instead).
pub fn overdue_instances(state: &State, now: Timestamp) -> Vec<&Instance> {
    state
        .instances
        .iter()
        .filter(|i| !i.is_idle_warm())
        .filter(|i| {
            let minutes = state
                .config
                .pool(i.pool)
                .map_or(crate::config::DEFAULT_MAX_RUNTIME_MINUTES, |p| p.spec.max_runtime_minutes);
            now.millis_since(i.billed_from()) > i64::from(minutes) * MINUTE_MS
        })
        .collect()
}

/// Live instances no job waits for or runs on, whose runner has not finished by itself, other
/// than idle warm ones (see [`crate::warm_recycling`]).
pub fn surplus_instances(state: &State) -> Vec<&Instance> {
    state.instances.iter().filter(|i| i.job.is_none() && !i.runner_done && !i.is_idle_warm()).collect()
}

/// Live instances whose work is over: their runner reported done, or the job they serve has
/// ended (or left the log). They are torn down at once ([`crate::ReapReason::JobEnded`]), and
/// never handed another job.
pub fn finished_instances(state: &State) -> Vec<&Instance> {
    state
        .instances
        .iter()
        .filter(|i| {
            i.runner_done
                || i.job.is_some_and(|job| state.jobs.get(job).is_none_or(|j| j.status.is_terminal()))
        })
        .collect()
}

/// The oldest queued job a runner of `pool` registered to `repo` (repo scope) or to the org
/// (`None`) can serve, excluding `skip`.
pub(crate) fn waiting_job_for(
    state: &State,
    pool: PoolId,
    repo: Option<Sym>,
    skip: &[JobId],
) -> Option<JobId> {
    state
        .jobs
        .in_status(JobStatus::Queued)
        .find(|job| {
            job.pool == pool && state.audience_repo(job.project, job.repo) == repo && !skip.contains(&job.id)
        })
        .map(|job| job.id)
}
