//! The reaper, every `reaper.interval_seconds` and on demand: terminates instances past
//! their pool's max runtime (deregistering their runner first), instances no job needs,
//! idle warm instances their pool no longer wants (beyond its target, past its max age, or
//! launched from an older template) and instances whose work is over, describes every live
//! instance in batches and records what vanished (terminating the stopped ones, whose volumes
//! still cost money, except stopped warm capacity resting until a job takes it), then sweeps EC2 for
//! instances tagged `gha:managed-by=pacer` that the log does not account for. Each pass
//! answers a [`ReconcileReport`] (the `reconcileNow` mutation runs one on demand). Health of the `reaper` component follows the outcome of each full pass. Between
//! passes, every write that ends a job or a runner's work wakes a teardown: only the instances
//! whose work is over, so nothing that ran a job outlives it by more than moments.

use super::Engine;
use crate::github::RunnerScope;
use crate::metrics::{AwsCall, GitHubCall};
use pacer_aws::InstanceState;
use pacer_domain::{
    Command, InstanceOrphanFound, Observation, ReapReason, Scope, TAG_JOB_ID, TAG_LAUNCH, finished_instances,
    overdue_instances, surplus_instances, warm_recycling,
};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// A registered runner: installation, scope, runner id.
type Runner = (u64, RunnerScope, u64);

pub(super) async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let work_done = engine.app.work_done.clone();
    let mut full = true;
    let mut next_full = Instant::now();
    loop {
        if full {
            reconcile(&engine).await;
            next_full = Instant::now() + engine.settings.reaper_interval;
        } else {
            let (_, problems) = terminate(&engine, doomed(&engine, false)).await;
            if !problems.is_empty() {
                tracing::warn!(message = %problems.join("; "), "teardown incomplete; the next pass retries");
            }
        }
        full = tokio::select! {
            _ = shutdown.changed() => return,
            _ = work_done.notified() => false,
            _ = tokio::time::sleep_until(next_full) => true,
        };
    }
}

/// The instances to terminate now, with why and the runner to deregister first: those whose
/// work is over, and on a full pass also those past max runtime and those nobody needs.
fn doomed(engine: &Engine, full: bool) -> Vec<(String, ReapReason, Option<Runner>)> {
    let state = engine.app.state();
    let now = engine.app.now();
    let runner_of = |instance: &pacer_domain::Instance| {
        let runner_id = instance.runner_id?;
        let job = state.jobs.get(instance.job_or_launched_for()?)?;
        let installation = job.installation?;
        Some((installation, runner_scope(&state, job)?, runner_id))
    };
    let mut doomed: Vec<_> = finished_instances(&state)
        .into_iter()
        .map(|i| (i.id.to_string(), ReapReason::JobEnded, runner_of(i)))
        .collect();
    if full {
        doomed.extend(
            overdue_instances(&state, now)
                .into_iter()
                .map(|i| (i.id.to_string(), ReapReason::MaxRuntime, runner_of(i)))
                .chain(
                    surplus_instances(&state)
                        .into_iter()
                        .map(|i| (i.id.to_string(), ReapReason::Surplus, runner_of(i))),
                )
                .chain(
                    warm_recycling(&state, now)
                        .into_iter()
                        .map(|(i, reason)| (i.id.to_string(), reason, None)),
                ),
        );
    }
    doomed
}

/// Whether `instance`, found unneeded (surplus, or idle warm capacity to recycle) by an earlier
/// look at the state, still is: a job may have taken it while the instances before it were
/// torn down. (Taken after this look, the reaping returns that job to the queue.)
fn still_unneeded(state: &pacer_domain::State, instance: &str) -> bool {
    state.instances.get(instance).is_some_and(|i| i.is_idle_warm())
        || surplus_instances(state).iter().any(|i| *i.id == *instance)
}

/// Terminates `doomed` once each (deregistering runners first; an unneeded one only while it
/// still is) and records it: how many, and what went wrong.
async fn terminate(
    engine: &Arc<Engine>,
    doomed: Vec<(String, ReapReason, Option<Runner>)>,
) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let mut reaped = HashSet::new();
    let mut terminated = 0;
    for (instance, reason, runner) in doomed {
        if !engine.may_act() {
            break;
        }
        if !reaped.insert(instance.clone()) {
            continue;
        }
        if reason.is_unneeded() && !still_unneeded(&engine.app.state(), &instance) {
            continue;
        }
        if let Some((installation, scope, runner_id)) = runner
            && let Err(error) = engine.github.delete_runner(installation, &scope, runner_id).await
            && error.status != 404
        {
            engine.metrics.github_error(GitHubCall::DeleteRunner, error.status);
            tracing::warn!(%instance, %error, "could not deregister the runner; terminating anyway");
        }
        match engine.compute.terminate(std::slice::from_ref(&instance)).await {
            Ok(()) => {
                terminated += 1;
                if let Err(error) =
                    engine.system(Command::ReapInstance { instance: instance.clone(), reason }).await
                {
                    problems.push(format!("could not record the reaping of {instance}: {error}"));
                }
            }
            Err(error) => {
                engine.metrics.aws_error(AwsCall::Terminate, error.code().unwrap_or("other"));
                problems.push(format!("could not terminate {instance}: {error}"));
            }
        }
    }
    (terminated, problems)
}

/// What one full reaper pass found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Instances the log holds as live, described at EC2.
    pub checked: usize,
    /// Of those, terminated because their work was over, they ran past their pool's max
    /// runtime, or no job needed them.
    pub reaped: usize,
    /// Of those, found no longer running (terminated, stopped or unknown to EC2) and recorded.
    pub gone: usize,
    /// Stopped or stopping instances terminated (known ones and orphans).
    pub stopped_terminated: usize,
    /// Tagged instances the log does not account for, found.
    pub orphans: usize,
    /// What went wrong (the pass still did what it could).
    pub problems: Vec<String>,
}

/// One full pass, not overlapping another; records the reaper's health from its outcome.
pub(super) async fn reconcile(engine: &Arc<Engine>) -> ReconcileReport {
    let _one_at_a_time = engine.reaper_pass.lock().await;
    let report = pass(engine).await;
    let outcome = if report.problems.is_empty() { Ok(()) } else { Err(report.problems.join("; ")) };
    if let Err(message) = &outcome {
        tracing::warn!(%message, "reaper pass incomplete");
    }
    engine.health("reaper", outcome).await;
    report
}

/// Terminates `instance`; whether it worked (else the problem is noted).
async fn terminate_one(engine: &Engine, instance: &str, problems: &mut Vec<String>) -> bool {
    match engine.compute.terminate(&[instance.to_owned()]).await {
        Ok(()) => true,
        Err(error) => {
            engine.metrics.aws_error(AwsCall::Terminate, error.code().unwrap_or("other"));
            problems.push(format!("could not terminate {instance}: {error}"));
            false
        }
    }
}

async fn pass(engine: &Arc<Engine>) -> ReconcileReport {
    let now = engine.app.now();
    let mut report = ReconcileReport::default();

    // 1. Work over, over max runtime, and instances nobody needs.
    (report.reaped, report.problems) = terminate(engine, doomed(engine, true)).await;

    // 2. What became of every live instance; the stopped ones are terminated, except stopped
    // warm capacity not yet started for a job (stopped is where it rests).
    let (live, resting) = {
        let state = engine.app.state();
        let resting: HashSet<String> = state
            .instances
            .iter()
            .filter(|i| i.warm.is_some_and(|w| w.stopped && w.started_at.is_none()))
            .map(|i| i.id.to_string())
            .collect();
        (state.instances.iter().map(|i| i.id.to_string()).collect::<Vec<_>>(), resting)
    };
    report.checked = live.len();
    if !live.is_empty() {
        match engine.compute.describe(&live).await {
            Ok(statuses) => {
                let mut observations = Vec::new();
                let ended = |s: &pacer_aws::InstanceStatus| {
                    let resting = s.state.is_stopped() && resting.contains(&s.instance_id);
                    !(s.state.is_live() || resting)
                };
                for status in statuses.into_iter().filter(ended) {
                    if status.state.is_stopped()
                        && engine.may_act()
                        && terminate_one(engine, &status.instance_id, &mut report.problems).await
                    {
                        report.stopped_terminated += 1;
                    }
                    observations.push(Observation {
                        instance: status.instance_id,
                        alive: false,
                        state: if status.state == InstanceState::Gone {
                            "vanished".into()
                        } else {
                            status.state.as_str().into()
                        },
                        reason: status.state_reason.unwrap_or_default(),
                    });
                }
                report.gone = observations.len();
                if !observations.is_empty()
                    && let Err(error) = engine.system(Command::ObserveInstances(observations)).await
                {
                    report.problems.push(format!("could not record instance states: {error}"));
                }
            }
            Err(error) => {
                engine.metrics.aws_error(AwsCall::Describe, error.code().unwrap_or("other"));
                report.problems.push(format!("could not describe instances: {error}"));
            }
        }
    }

    // 3. Orphans: tagged instances the log does not know, running or stopped.
    match engine.compute.list_managed().await {
        Ok(managed) => {
            let grace = engine.settings.orphan_grace.as_millis() as i64;
            for status in managed.into_iter().filter(|s| s.state.is_live() || s.state.is_stopped()) {
                let old_enough = status.launched_at.is_none_or(|at| now.millis_since(at) >= grace);
                // A launch in hand: its outcome, recorded next, names the instance. Looked at
                // before the state: a launch recorded in between is known then.
                let launching = status.tags.get(TAG_LAUNCH).is_some_and(|token| {
                    engine
                        .launch_tokens
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .contains(token)
                });
                let known = engine.app.state().instances.get(&status.instance_id).is_some();
                if known || launching || !old_enough {
                    continue;
                }
                if !engine.may_act() {
                    break;
                }
                report.orphans += 1;
                let terminated = terminate_one(engine, &status.instance_id, &mut report.problems).await;
                if terminated && status.state.is_stopped() {
                    report.stopped_terminated += 1;
                }
                let found = InstanceOrphanFound {
                    instance: status.instance_id.clone(),
                    job_tag: status.tags.get(TAG_JOB_ID).cloned(),
                    state: status.state.as_str().into(),
                    terminated,
                };
                tracing::warn!(instance = %status.instance_id, terminated, "orphan instance found");
                if let Err(error) = engine.system(Command::RecordOrphan(found)).await {
                    report.problems.push(format!("could not record orphan {}: {error}", status.instance_id));
                }
            }
        }
        Err(error) => {
            engine.metrics.aws_error(AwsCall::ListManaged, error.code().unwrap_or("other"));
            report.problems.push(format!("could not list managed instances: {error}"));
        }
    }

    let now = engine.app.now();
    if let Err(error) =
        engine.secrets.prune_callbacks(now, |id| engine.app.state().instances.get(id).is_some()).await
    {
        tracing::warn!(%error, "could not prune callback tokens");
    }
    engine.forget_refusals();
    engine.prune_job_detail().await;
    engine.enforce_retention();
    report
}

/// Where a job's runner is registered: its repo (repo scope) or its org (org scope).
pub(super) fn runner_scope(state: &pacer_domain::State, job: &pacer_domain::Job) -> Option<RunnerScope> {
    let repo = state.repo_name(job);
    let (owner, name) = repo.split_once('/')?;
    match state.config.project(job.project).map(|p| p.spec.scope) {
        Some(Scope::Org) => Some(RunnerScope::Org { org: owner.to_owned() }),
        _ => Some(RunnerScope::Repo { owner: owner.to_owned(), repo: name.to_owned() }),
    }
}
