//! The instance area's rules: what each runner callback may record (only for an instance
//! Pacer launched; a bootstrap once, and only once the instance has a job or is warm; one runner
//! registration, none after its job or runner is done; one completion or error report), and
//! what the reaper's observations and terminations mean for the instance and its job.

use super::events::*;
use super::table::{Instance, runner_name};
use crate::config::{DEFAULT_MAX_RUNTIME_MINUTES, PoolId};
use crate::event::Event;
use crate::job::{
    FailureStage, Job, JobFailed, JobInstanceReassigned, JobReaped, JobStarted, JobStatus, StartSource,
    job_end,
};
use crate::rejection::Rejection;
use crate::schedule::CLAIM_TIMEOUT_MS;
use crate::state::State;
use crate::time::{MINUTE_MS, Timestamp};
use crate::warm::{WarmBootstrapped, WarmErrored};

/// Largest runner log tail kept in the log; a longer tail keeps its last bytes.
pub const MAX_LOG_TAIL_BYTES: usize = 64 * 1024;

/// What the reaper saw of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The instance (`i-…`); one Pacer does not hold live is skipped.
    pub instance: String,
    /// Still pending or running; a live observation records nothing.
    pub alive: bool,
    /// EC2 state name (`stopped`, `terminated`, …), or `vanished` when EC2 no longer knows it.
    pub state: String,
    /// EC2's state reason (e.g. a spot interruption); empty when none.
    pub reason: String,
}

fn live_instance<'a>(state: &'a State, instance: &str) -> Result<&'a Instance, Rejection> {
    state.instances.get(instance).ok_or_else(|| Rejection::not_found(format!("instance {instance}")))
}

fn live_instance_job<'a>(state: &'a State, instance: &str) -> Result<(&'a Instance, &'a Job), Rejection> {
    let inst = live_instance(state, instance)?;
    let job_id = inst
        .job_or_launched_for()
        .ok_or_else(|| Rejection::try_later(format!("warm instance {instance} has no job yet")))?;
    let job = state.jobs.get(job_id).ok_or_else(|| Rejection::not_found(job_id))?;
    Ok((inst, job))
}

/// Why `instance` may not register a runner now, if it may not, the weightiest reason first:
/// the job it serves (or was launched for) has ended or is gone, its runner reported done, or
/// it already registered. The engine asks before calling GitHub, and the registration's own
/// decision asks again.
pub fn register_refusal(state: &State, instance: &Instance) -> Option<RegisterRefusal> {
    let ended = |job| state.jobs.get(job).is_none_or(|j| j.status.is_terminal());
    if instance.job_or_launched_for().is_some_and(ended) {
        Some(RegisterRefusal::JobEnded)
    } else if instance.runner_done {
        Some(RegisterRefusal::RunnerDone)
    } else if instance.registered_at.is_some() {
        Some(RegisterRefusal::AlreadyRegistered)
    } else {
        None
    }
}

pub(crate) fn refuse_register(state: &State, instance: String, reason: RegisterRefusal) -> Vec<Event> {
    let job = state.instances.get(&instance).and_then(Instance::job_or_launched_for);
    vec![Event::RunnerRegisterRefused(RunnerRegisterRefused { instance, job, reason })]
}

fn refused(instance: &str, reason: RegisterRefusal) -> Rejection {
    Rejection::gone(format!("instance {instance} may not register a runner: {}", reason.as_str()))
}

/// How far EC2's launch time of an instance may be from the moment Pacer recorded its launch
/// (the launch call, retries of the record and clock skew).
pub const LAUNCH_TIME_TOLERANCE_MS: i64 = 10 * MINUTE_MS;

pub(crate) fn runner_bootstrap(
    state: &State,
    instance: String,
    pool: PoolId,
    launched_at: Timestamp,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let refuse = |instance: String, reason| {
        Ok(vec![Event::RunnerBootstrapRefused(RunnerBootstrapRefused { instance, pool, reason })])
    };
    let Some(inst) = state.instances.get(&instance) else {
        // A launch is recorded moments after EC2 starts the instance; one this old never will be.
        if now.millis_since(launched_at) > CLAIM_TIMEOUT_MS + LAUNCH_TIME_TOLERANCE_MS {
            return refuse(instance, BootstrapRefusal::UnknownInstance);
        }
        return Err(Rejection::try_later(format!("instance {instance} is not known yet; retry")));
    };
    if inst.pool != pool {
        return refuse(instance, BootstrapRefusal::WrongPool);
    }
    if (launched_at.millis() - inst.launched_at.millis()).abs() > LAUNCH_TIME_TOLERANCE_MS {
        return refuse(instance, BootstrapRefusal::LaunchMismatch);
    }
    if inst.bootstrapped {
        return Err(Rejection::gone(format!("instance {instance} already bootstrapped")));
    }
    match inst.job {
        Some(job) => Ok(vec![Event::RunnerBootstrapped(RunnerBootstrapped { instance, job })]),
        // Warm capacity gets ready before any job takes it.
        None if inst.is_idle_warm() => Ok(vec![Event::WarmBootstrapped(WarmBootstrapped { instance })]),
        None => Err(Rejection::try_later(format!("instance {instance} has no job yet; retry"))),
    }
}

/// `instance.registered`; the job it was launched for starts when it was still waiting.
pub(crate) fn runner_registered(
    state: &State,
    instance: String,
    runner_id: u64,
) -> Result<Vec<Event>, Rejection> {
    let (inst, job) = live_instance_job(state, &instance)?;
    if let Some(reason) = register_refusal(state, inst) {
        return Err(refused(&instance, reason));
    }
    let mut events = vec![Event::InstanceRegistered(InstanceRegistered {
        instance: instance.clone(),
        job: job.id,
        runner_name: inst.runner_name(),
        runner_id,
    })];
    if job.status == JobStatus::Starting && job.instance.as_deref() == Some(&*inst.id) {
        events.push(Event::JobStarted(JobStarted {
            job: job.id,
            source: StartSource::Runner,
            runner_name: Some(inst.runner_name()),
            delivery_id: None,
        }));
    }
    Ok(events)
}

pub(crate) fn runner_register_failed(
    state: &State,
    instance: String,
    status: u16,
    message: String,
) -> Result<Vec<Event>, Rejection> {
    let (_, job) = live_instance_job(state, &instance)?;
    Ok(vec![Event::RunnerRegisterFailed(RunnerRegisterFailed { instance, job: job.id, status, message })])
}

/// A runner reports its end once (completion or error); later reports store nothing.
fn reported_once(instance: &Instance) -> Result<(), Rejection> {
    if instance.runner_done {
        Err(Rejection::gone(format!("instance {} already reported its runner's end", instance.id)))
    } else {
        Ok(())
    }
}

pub(crate) fn runner_completed(
    state: &State,
    instance: String,
    exit_code: i32,
) -> Result<Vec<Event>, Rejection> {
    let (inst, job) = live_instance_job(state, &instance)?;
    reported_once(inst)?;
    Ok(vec![Event::RunnerCompleted(RunnerCompleted { instance, job: job.id, exit_code })])
}

/// The last [`MAX_LOG_TAIL_BYTES`] of a runner's log (cut at a character boundary).
pub fn log_tail_end(mut log: String) -> String {
    if log.len() > MAX_LOG_TAIL_BYTES {
        let mut cut = log.len() - MAX_LOG_TAIL_BYTES;
        while !log.is_char_boundary(cut) {
            cut += 1;
        }
        log.drain(..cut);
    }
    log
}

pub(crate) fn runner_errored(
    state: &State,
    instance: String,
    stage: String,
    exit_code: i32,
    line: u32,
    log_tail: String,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let inst = live_instance(state, &instance)?;
    reported_once(inst)?;
    let log_tail = log_tail_end(log_tail);
    if inst.job_or_launched_for().is_none() {
        return Ok(vec![Event::WarmErrored(WarmErrored { instance, stage, exit_code, line, log_tail })]);
    }
    let (inst, job) = live_instance_job(state, &instance)?;
    let fails_job = !job.status.is_terminal() && !inst.serving && inst.job == Some(job.id);
    let message = format!("runner {stage} failed with exit code {exit_code} at line {line}");
    let mut events =
        vec![Event::RunnerErrored(RunnerErrored { instance, job: job.id, stage, exit_code, line, log_tail })];
    if fails_job {
        events.push(Event::JobFailed(JobFailed {
            end: job_end(job, now, None, None),
            stage: FailureStage::Bootstrap,
            message,
        }));
    }
    Ok(events)
}

pub(crate) fn observe(state: &State, observations: &[Observation], now: Timestamp) -> Vec<Event> {
    let mut events = Vec::new();
    for obs in observations.iter().filter(|o| !o.alive) {
        let Some(inst) = state.instances.get(&obs.instance) else { continue };
        let job = inst.job.and_then(|id| state.jobs.get(id)).filter(|j| !j.status.is_terminal());
        match job {
            Some(job) if !inst.runner_done => {
                events.push(Event::InstanceLost(InstanceLost {
                    instance: obs.instance.clone(),
                    job: Some(job.id),
                    state: obs.state.clone(),
                    reason: obs.reason.clone(),
                }));
                let why = if obs.reason.is_empty() { String::new() } else { format!(" ({})", obs.reason) };
                events.push(Event::JobFailed(JobFailed {
                    end: job_end(job, now, None, None),
                    stage: FailureStage::Ec2,
                    message: format!("instance {} {}{why}", obs.instance, obs.state),
                }));
            }
            _ => events.push(Event::InstanceTerminated(InstanceTerminated {
                instance: obs.instance.clone(),
                state: obs.state.clone(),
            })),
        }
    }
    events
}

pub(crate) fn reap(
    state: &State,
    instance: &str,
    reason: ReapReason,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let inst =
        state.instances.get(instance).ok_or_else(|| Rejection::not_found(format!("instance {instance}")))?;
    let job = inst
        .job
        .and_then(|id| state.jobs.get(id))
        .filter(|j| !j.status.is_terminal() && reason != ReapReason::JobEnded);
    // Reaped as unneeded after all (a job took it between the reaper's look and its call, too
    // late to spare it): the job has not started there, so it goes back to the queue.
    if let Some(job) = job.filter(|j| reason.is_unneeded() && j.status != JobStatus::Running) {
        return Ok(vec![
            Event::InstanceReaped(InstanceReaped { instance: instance.to_owned(), job: None, reason }),
            Event::JobInstanceReassigned(JobInstanceReassigned { job: job.id, instance: None }),
        ]);
    }
    let mut events = vec![Event::InstanceReaped(InstanceReaped {
        instance: instance.to_owned(),
        job: job.map(|j| j.id),
        reason,
    })];
    if let Some(job) = job {
        let max_runtime_minutes =
            state.config.pool(inst.pool).map_or(DEFAULT_MAX_RUNTIME_MINUTES, |p| p.spec.max_runtime_minutes);
        let mut end = job_end(job, now, None, None);
        end.runner_name = Some(runner_name(instance));
        events.push(Event::JobReaped(JobReaped { end, max_runtime_minutes }));
    }
    Ok(events)
}
