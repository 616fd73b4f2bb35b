//! How the job area's facts fold into the jobs table and the instances they take. A
//! transition the job's status does not allow, or a fact about an unknown job, is an anomaly
//! (the `Err` message): counted by the state, never a panic.

use super::dispatch::SPOT_COOLDOWN_MS;
use super::events::*;
use super::table::{Job, JobStatus, NewJob};
use crate::instance::{Instance, instance_of_runner};
use crate::launch::Market;
use crate::state::{Folded, State};
use crate::stats::{Ending, Filed};
use crate::time::Timestamp;

/// How far past the next job id a queued job's id may be before it is an anomaly.
pub const MAX_JOB_ID_JUMP: u64 = 1 << 20;

impl State {
    pub(crate) fn job_queued(&mut self, e: &JobQueued, at: Timestamp) -> Folded {
        if self.jobs.get(e.job).is_some() || self.jobs.by_github_id(e.github_job_id).is_some() {
            return Err(format!("{} queued twice", e.job));
        }
        // Ids are handed out in sequence; a far jump is a damaged record, and the dense job
        // table would have to grow to it.
        if e.job.0 > self.jobs.next_id().0.saturating_add(MAX_JOB_ID_JUMP) {
            return Err(format!("{} jumps far past the next job id {}", e.job, self.jobs.next_id()));
        }
        let market = match self.config.pool(e.pool) {
            Some(pool) if pool.spec.spot => Market::Spot,
            _ => Market::OnDemand,
        };
        let job = Job::queued(NewJob {
            id: e.job,
            github_job_id: e.github_job_id,
            run_id: e.run_id,
            installation: e.installation_id,
            repo: self.strings.intern(&e.repo),
            sender: self.strings.intern(&e.sender),
            labels: self.strings.intern_joined(&e.labels, ", "),
            project: e.project,
            pool: e.pool,
            market,
            queued_at: at,
        });
        self.jobs.insert(job);
        Ok(())
    }

    pub(crate) fn job_claimed(&mut self, e: &JobClaimed, at: Timestamp) -> Folded {
        self.change_job(e.job, |job| {
            (job.status == JobStatus::Queued).then(|| {
                job.status = JobStatus::Claimed;
                job.claimed_at = Some(at);
                job.market = e.market;
            })
        })
    }

    pub(crate) fn job_claim_expired(&mut self, e: &JobClaimExpired) -> Folded {
        self.change_job(e.job, |job| {
            (job.status == JobStatus::Claimed).then(|| {
                job.status = JobStatus::Queued;
                job.claimed_at = None;
            })
        })
    }

    /// The launched instance is recorded whatever became of the claim; a job still claimed
    /// takes it and starts. An instance recorded already is never reset or moved (`decide`
    /// records none twice; a log from before that rule may hold one).
    pub(crate) fn job_spawn_launched(&mut self, e: &JobSpawnLaunched, at: Timestamp) -> Folded {
        if self.instances.get(&e.instance.instance_id).is_some() {
            return Err(format!("{} is recorded already", e.instance.instance_id));
        }
        let (status, project, pool, repo) = self
            .jobs
            .get(e.job)
            .map(|job| (job.status, job.project, job.pool, job.repo))
            .ok_or_else(|| format!("launch for unknown {}", e.job))?;
        let takes_it = status == JobStatus::Claimed;
        let repo = self.audience_repo(project, repo);
        let instance = Instance {
            launched_for: Some(e.job),
            job: takes_it.then_some(e.job),
            bill_to: Some(e.job),
            repo,
            ..Instance::launched(&e.instance, e.price, (project, pool), at, &mut self.strings)
        };
        self.instances.insert(instance);
        if takes_it {
            self.jobs.update(e.job, |job| {
                job.status = JobStatus::Starting;
                job.instance = Some(e.instance.instance_id.as_str().into());
                job.launched_at = Some(at);
                job.price = e.price;
                job.market = e.instance.market;
            });
        }
        Ok(())
    }

    pub(crate) fn job_spawn_retry(&mut self, e: &JobSpawnRetry, at: Timestamp) -> Folded {
        let fell_back = self
            .jobs
            .get(e.job)
            .filter(|job| job.market == Market::Spot && e.next_market == Market::OnDemand);
        if let Some(pool) = fell_back.map(|job| job.pool) {
            self.spot_cooldowns.retain(|_, until| *until > at);
            self.spot_cooldowns.insert(pool, at.plus_millis(SPOT_COOLDOWN_MS));
        }
        self.change_job(e.job, |job| {
            (job.status == JobStatus::Claimed).then(|| {
                job.status = JobStatus::Queued;
                job.claimed_at = None;
                job.attempts += u32::from(e.burns_attempt);
                job.next_retry_at = Some(e.next_retry_at);
                job.market = e.next_market;
            })
        })
    }

    pub(crate) fn job_started(&mut self, e: &JobStarted, at: Timestamp) -> Folded {
        let runner = e.runner_name.as_deref();
        self.change_job(e.job, |job| {
            (!job.status.is_terminal()).then(|| {
                job.status = JobStatus::Running;
                job.started_at.get_or_insert(at);
                set_runner(job, runner);
            })
        })?;
        if e.source == StartSource::Webhook {
            self.mark_serving(e.job, runner);
        }
        Ok(())
    }

    /// The job moves to the instance GitHub ran it on: the one it waited for is freed, and a
    /// job that waited for the target loses it.
    pub(crate) fn job_runner_rebound(&mut self, e: &JobRunnerRebound) -> Folded {
        let target = self
            .instances
            .get(&e.instance)
            .cloned()
            .ok_or_else(|| format!("rebound to unknown instance {}", e.instance))?;
        if let Some(old) = self.jobs.get(e.job).and_then(|j| j.instance.clone())
            && *old != *e.instance
        {
            self.instances.release(&old, e.job);
        }
        if let Some(displaced) = e.displaced {
            self.jobs.update(displaced, |job| job.instance = None);
        }
        self.jobs.update(e.job, |job| {
            job.instance = Some(target.id.clone());
            job.launched_at = Some(target.launched_at);
            job.price = target.price;
            job.market = target.market;
        });
        if let Some(instance) = self.instances.get_mut(&e.instance) {
            instance.job = Some(e.job);
            instance.bill_to = Some(e.job);
            instance.serving = true;
        }
        Ok(())
    }

    /// A waiting job takes a free instance, or loses its instance and returns to the queue.
    pub(crate) fn job_instance_reassigned(&mut self, e: &JobInstanceReassigned) -> Folded {
        let Some(id) = &e.instance else {
            return self.change_job(e.job, |job| {
                (!job.status.is_terminal()).then(|| {
                    job.status = JobStatus::Queued;
                    job.generation += 1;
                    job.instance = None;
                    job.claimed_at = None;
                    job.launched_at = None;
                    job.started_at = None;
                    job.price = None;
                })
            });
        };
        let target = self
            .instances
            .get(id)
            .cloned()
            .ok_or_else(|| format!("reassignment to unknown instance {id}"))?;
        let changed = self.change_job(e.job, |job| {
            (!job.status.is_terminal()).then(|| {
                job.status = JobStatus::Starting;
                job.instance = Some(target.id.clone());
                job.launched_at = Some(target.launched_at);
                job.price = target.price;
                job.market = target.market;
                job.started_at = None;
                job.next_retry_at = None;
            })
        });
        if let Some(instance) = self.instances.get_mut(id) {
            instance.job = Some(e.job);
            instance.bill_to = Some(e.job);
            instance.serving = false;
        }
        changed
    }

    /// A terminal fact: the job ends with `status`, the instance it waited for but never ran
    /// on is freed, and the ending counts in the stats with the cost settled so far (the
    /// instances billed to it that already ended); the cost of an instance still up settles
    /// when it ends ([`State::instance_ended`]). The event's own `cost` and `runner_ms` (the
    /// estimate at the job's end, runner time from its start) stay in the log as recorded.
    pub(crate) fn job_ended(&mut self, seq: u64, at: Timestamp, end: &JobEnd, status: JobStatus) -> Folded {
        self.change_job(end.job, |job| {
            (!job.status.is_terminal()).then(|| {
                job.status = status;
                job.finished_at = Some(at);
                set_runner(job, end.runner_name.as_deref());
                if matches!(status, JobStatus::Failed | JobStatus::Reaped) {
                    job.failure_seq = Some(seq);
                }
            })
        })?;
        let Some(job) = self.jobs.get(end.job) else { return Ok(()) };
        // GitHub naming this instance's runner says the job ran there, as `serving` does.
        let ran_on = end.runner_name.as_deref().and_then(instance_of_runner);
        if let Some(instance) = job.instance.as_deref()
            && ran_on != Some(instance)
            && self.instances.get(instance).is_some_and(|i| !i.serving)
        {
            self.instances.release(instance, job.id);
        }
        self.rollups.record(&Ending {
            filed: Filed::job(job, at),
            status,
            runner_ms: job.launched_at.map_or(0, |launched| at.millis_since(launched)),
            cost: job.cost,
            unpriced: job.without_cost(),
        });
        Ok(())
    }

    /// Applies `change` to a job; `change` returns `None` to refuse the transition. A refusal
    /// or an unknown job is an anomaly.
    fn change_job(&mut self, id: JobId, change: impl FnOnce(&mut Job) -> Option<()>) -> Folded {
        let mut refused = false;
        let mut status = None;
        let known = self.jobs.update(id, |job| {
            status = Some(job.status);
            refused = change(job).is_none();
        });
        if !known {
            return Err(format!("event for unknown {id}"));
        }
        if refused {
            let from = status.map_or("?", JobStatus::as_str);
            return Err(format!("{id}: transition refused from {from}"));
        }
        Ok(())
    }

    /// The instance behind `runner` now serves `job` (GitHub said it runs there).
    fn mark_serving(&mut self, job: JobId, runner: Option<&str>) {
        let Some(id) = runner.and_then(instance_of_runner) else { return };
        if let Some(instance) = self.instances.get_mut(id)
            && instance.job == Some(job)
        {
            instance.serving = true;
        }
    }
}

/// Records the runner a job runs on, allocating only when it changed.
fn set_runner(job: &mut Job, runner: Option<&str>) {
    if let Some(name) = runner
        && job.runner.as_deref() != Some(name)
    {
        job.runner = Some(name.into());
    }
}
