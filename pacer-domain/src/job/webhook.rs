//! Webhook intake rules: what a delivery, already authenticated and parsed by the
//! host into typed actions and conclusions, does to the jobs. A new `queued` job is routed to a
//! pool; a job whose `queued` was missed is recovered from its later action; later actions move
//! a known job (started, ended, moved to the runner GitHub actually chose) or are absorbed
//! when they change nothing.

use super::dispatch::job_end_cost;
use super::events::*;
use super::table::{Job, JobStatus};
use crate::event::Event;
use crate::instance::{Instance, instance_of_runner};
use crate::money::PriceQuote;
use crate::routing::{Route, route};
use crate::schedule::waiting_job_for;
use crate::state::State;
use crate::time::Timestamp;
use std::fmt;

/// A `workflow_job` webhook's `action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkflowAction {
    /// GitHub queued the job: Pacer routes it and launches a runner.
    Queued,
    /// A runner picked the job up.
    InProgress,
    /// The job ended; its [`Conclusion`] says how.
    Completed,
    /// Any other action (`waiting`, …): recorded as ignored.
    Other(String),
}

impl WorkflowAction {
    /// The action as GitHub spells it.
    pub fn as_str(&self) -> &str {
        match self {
            WorkflowAction::Queued => "queued",
            WorkflowAction::InProgress => "in_progress",
            WorkflowAction::Completed => "completed",
            WorkflowAction::Other(action) => action,
        }
    }
}

impl From<&str> for WorkflowAction {
    fn from(action: &str) -> Self {
        match action {
            "queued" => WorkflowAction::Queued,
            "in_progress" => WorkflowAction::InProgress,
            "completed" => WorkflowAction::Completed,
            other => WorkflowAction::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for WorkflowAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GitHub's conclusion of a completed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// `success`: the job completes.
    Success,
    /// `failure`: the job fails (stage `github`).
    Failure,
    /// `neutral`: the job completes.
    Neutral,
    /// `cancelled`: the job is cancelled.
    Cancelled,
    /// `skipped`: the job completes.
    Skipped,
    /// `timed_out`: the job fails (stage `github`).
    TimedOut,
    /// `action_required`: the job fails (stage `github`).
    ActionRequired,
    /// `startup_failure`: the job fails (stage `github`).
    StartupFailure,
    /// `stale`: the job completes.
    Stale,
    /// A conclusion GitHub may add later; ends the job as completed.
    Other(String),
}

impl Conclusion {
    /// The conclusion as GitHub spells it (and as `JobEnd::conclusion` records it).
    pub fn as_str(&self) -> &str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Skipped => "skipped",
            Conclusion::TimedOut => "timed_out",
            Conclusion::ActionRequired => "action_required",
            Conclusion::StartupFailure => "startup_failure",
            Conclusion::Stale => "stale",
            Conclusion::Other(conclusion) => conclusion,
        }
    }

    /// Whether GitHub's conclusion means the job failed.
    fn is_failure(&self) -> bool {
        matches!(
            self,
            Conclusion::Failure
                | Conclusion::TimedOut
                | Conclusion::StartupFailure
                | Conclusion::ActionRequired
        )
    }
}

impl From<&str> for Conclusion {
    fn from(conclusion: &str) -> Self {
        match conclusion {
            "success" => Conclusion::Success,
            "failure" => Conclusion::Failure,
            "neutral" => Conclusion::Neutral,
            "cancelled" => Conclusion::Cancelled,
            "skipped" => Conclusion::Skipped,
            "timed_out" => Conclusion::TimedOut,
            "action_required" => Conclusion::ActionRequired,
            "startup_failure" => Conclusion::StartupFailure,
            "stale" => Conclusion::Stale,
            other => Conclusion::Other(other.to_owned()),
        }
    }
}

/// A `workflow_job` webhook, as parsed by the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowJobHook {
    /// What happened to the job.
    pub action: WorkflowAction,
    /// GitHub's job id (the key that ties every delivery of one job together).
    pub github_job_id: u64,
    /// The workflow run's id.
    pub run_id: u64,
    /// The workflow run's attempt, from 1.
    pub run_attempt: u32,
    /// The GitHub App installation that sent it; `None` when the payload has none.
    pub installation_id: Option<u64>,
    /// `owner/repo` (`repository.full_name`).
    pub repo: String,
    /// Workflow name; empty when the payload has none.
    pub workflow: String,
    /// Job name; empty when the payload has none.
    pub job_name: String,
    /// Branch the run is for; empty when the payload has none.
    pub branch: String,
    /// Commit SHA the run is for; empty when the payload has none.
    pub sha: String,
    /// Login of the user who triggered the delivery; empty when the payload has none.
    pub sender: String,
    /// The job's `runs-on` labels as GitHub sent them.
    pub labels: Vec<String>,
    /// Link to the job on GitHub; empty when the payload has none.
    pub html_url: String,
    /// How it ended (`completed` only); `None` for other actions or when GitHub sent none.
    pub conclusion: Option<Conclusion>,
    /// The runner that took the job (`in_progress` and `completed`); never empty.
    pub runner_name: Option<String>,
    /// `workflow_job.created_at`; `None` when the payload has none.
    pub created_at: Option<Timestamp>,
    /// `workflow_job.started_at`; `None` when the payload has none.
    pub started_at: Option<Timestamp>,
    /// `workflow_job.completed_at`; `None` when the payload has none (or it has not ended).
    pub completed_at: Option<Timestamp>,
    /// `sender.type` (`User`, `Bot`, `Organization`); empty when the payload has none.
    pub sender_type: String,
}

/// What a delivery carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookPayload {
    /// `ping`, sent when the webhook is set up.
    Ping {
        /// The payload's `hook_id`; `None` when absent.
        hook_id: Option<u64>,
    },
    /// `workflow_job`.
    WorkflowJob(Box<WorkflowJobHook>),
    /// Any other event type: recorded as ignored.
    Other {
        /// The delivery's `X-GitHub-Event` (e.g. `push`).
        event: String,
        /// The payload's `action`; `None` when it has none.
        action: Option<String>,
    },
    /// A delivery id the log already holds (the host checked its idempotency keys).
    Redelivery {
        /// The delivery's `X-GitHub-Event`.
        event: String,
        /// GitHub's job id for `workflow_job` deliveries; `None` for other events.
        github_job_id: Option<u64>,
    },
}

/// The facts of one delivery. Never refuses: whatever arrives is recorded.
pub(crate) fn webhook(
    state: &State,
    delivery_id: String,
    payload: WebhookPayload,
    now: Timestamp,
) -> Vec<Event> {
    match payload {
        WebhookPayload::Ping { hook_id } => {
            vec![Event::WebhookPinged(WebhookPinged { delivery_id, hook_id })]
        }
        WebhookPayload::Other { event, action } => {
            vec![Event::WebhookIgnored(WebhookIgnored { delivery_id, event, action })]
        }
        WebhookPayload::Redelivery { event, github_job_id } => {
            let job = github_job_id.and_then(|id| state.jobs.by_github_id(id)).map(|j| j.id);
            vec![Event::WebhookDuplicate(WebhookDuplicate { delivery_id, event, github_job_id, job })]
        }
        WebhookPayload::WorkflowJob(hook) => {
            let noted = github_noted(&delivery_id, &hook);
            let mut events = workflow_job(state, delivery_id, *hook, now);
            // GitHub's own words about a Pacer job, after the delivery's other events; a
            // repeated `queued` (a duplicate by state) adds nothing.
            let about = events.iter().find_map(|e| match e {
                Event::JobQueued(q) => Some(q.job),
                Event::JobStarted(s) => Some(s.job),
                Event::WebhookAbsorbed(a) => Some(a.job),
                Event::JobCompleted(JobCompleted { end })
                | Event::JobFailed(JobFailed { end, .. })
                | Event::JobCancelled(JobCancelled { end }) => Some(end.job),
                _ => None,
            });
            if let (Some(job), Some(noted)) = (about, noted) {
                events.push(Event::JobGithubNoted(JobGithubNoted { job, ..noted }));
            }
            events
        }
    }
}

/// Longest `sender.type` kept.
const MAX_SENDER_TYPE: usize = 40;

/// What `hook` says in GitHub's own words (its job still to be filled in); `None` when it
/// carries none of it.
fn github_noted(delivery_id: &str, hook: &WorkflowJobHook) -> Option<JobGithubNoted> {
    let sender_type: String = hook.sender_type.chars().take(MAX_SENDER_TYPE).collect();
    let any = hook.created_at.is_some()
        || hook.started_at.is_some()
        || hook.completed_at.is_some()
        || !sender_type.is_empty();
    any.then(|| JobGithubNoted {
        job: JobId(0),
        delivery_id: delivery_id.to_owned(),
        created_at: hook.created_at,
        started_at: hook.started_at,
        completed_at: hook.completed_at,
        sender_type,
    })
}

/// What the webhook rules read of a job: a retained row, or the job this same delivery
/// queues when it recovers a missed `queued`.
struct Tracked<'a> {
    id: JobId,
    status: JobStatus,
    runner: Option<&'a str>,
    instance: Option<&'a str>,
    started_at: Option<Timestamp>,
    launched_at: Option<Timestamp>,
    price: Option<PriceQuote>,
}

impl<'a> Tracked<'a> {
    fn row(job: &'a Job) -> Self {
        Tracked {
            id: job.id,
            status: job.status,
            runner: job.runner.as_deref(),
            instance: job.instance.as_deref(),
            started_at: job.started_at,
            launched_at: job.launched_at,
            price: job.price,
        }
    }

    /// A job queued by this delivery: no claim, instance or runner yet.
    fn just_queued(id: JobId) -> Self {
        Tracked {
            id,
            status: JobStatus::Queued,
            runner: None,
            instance: None,
            started_at: None,
            launched_at: None,
            price: None,
        }
    }
}

fn workflow_job(state: &State, delivery_id: String, hook: WorkflowJobHook, now: Timestamp) -> Vec<Event> {
    if let WorkflowAction::Other(action) = &hook.action {
        return vec![ignored(&delivery_id, &hook, IgnoreReason::Action(action.clone()))];
    }
    if let Some(job) = state.jobs.by_github_id(hook.github_job_id) {
        return known_job(state, &Tracked::row(job), delivery_id, &hook, now);
    }
    // Unknown job: route it. A job whose `queued` we missed is recovered from a later action.
    let (project, pool) = match route(&state.config, &hook.repo, &hook.labels) {
        Route::Pool { project, pool } => (project, pool),
        Route::Ignored(reason) => return vec![ignored(&delivery_id, &hook, reason)],
        Route::NoPoolMatch { project, reason } => {
            return vec![Event::JobNoPoolMatch(JobNoPoolMatch {
                delivery_id,
                github_job_id: hook.github_job_id,
                repo: hook.repo,
                project,
                labels: hook.labels,
                reason,
            })];
        }
    };
    let job = state.jobs.next_id();
    let recovered = hook.action != WorkflowAction::Queued;
    let queued = Event::JobQueued(JobQueued {
        job,
        delivery_id: delivery_id.clone(),
        github_job_id: hook.github_job_id,
        run_id: hook.run_id,
        run_attempt: hook.run_attempt,
        installation_id: hook.installation_id,
        repo: hook.repo.clone(),
        workflow: hook.workflow.clone(),
        job_name: hook.job_name.clone(),
        branch: hook.branch.clone(),
        sha: hook.sha.clone(),
        sender: hook.sender.clone(),
        labels: hook.labels.clone(),
        html_url: hook.html_url.clone(),
        project,
        pool,
        recovered,
    });
    let mut events = vec![queued];
    if recovered {
        events.extend(known_job(state, &Tracked::just_queued(job), delivery_id, &hook, now));
    }
    events
}

fn ignored(delivery_id: &str, hook: &WorkflowJobHook, reason: IgnoreReason) -> Event {
    Event::JobIgnored(JobIgnored {
        delivery_id: delivery_id.to_owned(),
        github_job_id: hook.github_job_id,
        repo: hook.repo.clone(),
        action: hook.action.as_str().to_owned(),
        labels: hook.labels.clone(),
        reason,
    })
}

fn absorbed(
    delivery_id: String,
    job: JobId,
    hook: &WorkflowJobHook,
    reason: impl Into<String>,
) -> Vec<Event> {
    vec![Event::WebhookAbsorbed(WebhookAbsorbed {
        delivery_id,
        job,
        action: hook.action.as_str().to_owned(),
        reason: reason.into(),
    })]
}

/// A delivery about a job Pacer already tracks.
fn known_job(
    state: &State,
    job: &Tracked<'_>,
    delivery_id: String,
    hook: &WorkflowJobHook,
    now: Timestamp,
) -> Vec<Event> {
    match hook.action {
        WorkflowAction::Queued => vec![Event::WebhookDuplicate(WebhookDuplicate {
            delivery_id,
            event: "workflow_job".into(),
            github_job_id: Some(hook.github_job_id),
            job: Some(job.id),
        })],
        _ if job.status.is_terminal() => {
            absorbed(delivery_id, job.id, hook, format!("job already {}", job.status.as_str()))
        }
        WorkflowAction::InProgress => started(state, job, delivery_id, hook),
        WorkflowAction::Completed => completed(state, job, delivery_id, hook, now),
        // Other actions were ignored before the job was looked up.
        WorkflowAction::Other(_) => vec![],
    }
}

fn started(state: &State, job: &Tracked<'_>, delivery_id: String, hook: &WorkflowJobHook) -> Vec<Event> {
    let runner = hook.runner_name.as_deref();
    if job.status == JobStatus::Running && (runner.is_none() || job.runner == runner) {
        return absorbed(delivery_id, job.id, hook, "job already running");
    }
    let mut events = rebind(state, job, runner);
    events.push(Event::JobStarted(JobStarted {
        job: job.id,
        source: StartSource::Webhook,
        runner_name: hook.runner_name.clone(),
        delivery_id: Some(delivery_id),
    }));
    events
}

fn completed(
    state: &State,
    job: &Tracked<'_>,
    delivery_id: String,
    hook: &WorkflowJobHook,
    now: Timestamp,
) -> Vec<Event> {
    let runner = hook.runner_name.as_deref();
    let mut events = rebind(state, job, runner);
    let rebound = !events.is_empty();
    // The instance GitHub ran it on, when that is a live Pacer instance; else its own.
    let ran_on = runner.and_then(instance_of_runner).and_then(|id| state.instances.get(id));
    let (instance, price, launched_at) = match ran_on {
        Some(inst) => (Some(inst.id.to_string()), inst.price, Some(inst.launched_at)),
        None => (job.instance.map(str::to_owned), job.price, job.launched_at),
    };
    let end = JobEnd {
        job: job.id,
        conclusion: hook.conclusion.as_ref().map(|c| c.as_str().to_owned()),
        delivery_id: Some(delivery_id),
        runner_name: hook.runner_name.clone().filter(|n| !n.is_empty()),
        instance,
        cost: job_end_cost(price, launched_at, now),
        runner_ms: job.started_at.map_or(0, |s| now.millis_since(s)),
    };
    events.push(match &hook.conclusion {
        Some(conclusion) if conclusion.is_failure() => Event::JobFailed(JobFailed {
            end,
            stage: FailureStage::GitHub,
            message: format!("GitHub concluded the job: {}", conclusion.as_str()),
        }),
        Some(Conclusion::Cancelled) => Event::JobCancelled(JobCancelled { end }),
        _ => Event::JobCompleted(JobCompleted { end }),
    });
    // Its own instance, when GitHub ran it elsewhere, goes to a waiting job.
    if !rebound {
        let own = job.instance.and_then(|id| state.instances.get(id));
        if let Some(own) = own.filter(|o| o.job == Some(job.id) && !o.serving)
            && runner != Some(own.runner_name().as_str())
        {
            events.extend(give_away(state, own, &[job.id]));
        }
    }
    events
}

/// Events for a job GitHub ran on `runner` when that is another Pacer instance than its own.
fn rebind(state: &State, job: &Tracked<'_>, runner: Option<&str>) -> Vec<Event> {
    let Some(target) = runner.and_then(instance_of_runner).and_then(|id| state.instances.get(id)) else {
        return vec![];
    };
    if job.instance == Some(&*target.id) {
        return vec![];
    }
    let displaced = target
        .job
        .filter(|other| *other != job.id && !target.serving)
        .and_then(|other| state.jobs.get(other))
        .filter(|other| !other.status.is_terminal());
    let mut events = vec![Event::JobRunnerRebound(JobRunnerRebound {
        job: job.id,
        instance: target.id.to_string(),
        displaced: displaced.map(|d| d.id),
    })];
    let freed =
        job.instance.and_then(|id| state.instances.get(id)).filter(|i| i.job == Some(job.id) && !i.serving);
    let mut skip = vec![job.id];
    let mut freed_used = false;
    if let Some(displaced) = displaced {
        skip.push(displaced.id);
        let same_audience = freed.is_some_and(|f| {
            !f.runner_done
                && f.pool == displaced.pool
                && f.repo == state.audience_repo(displaced.project, displaced.repo)
        });
        let instance = if same_audience { freed.map(|f| f.id.to_string()) } else { None };
        freed_used = instance.is_some();
        events.push(Event::JobInstanceReassigned(JobInstanceReassigned { job: displaced.id, instance }));
    }
    if let Some(freed) = freed.filter(|_| !freed_used) {
        events.extend(give_away(state, freed, &skip));
    }
    events
}

/// Hands a freed instance to the oldest waiting job of its audience, if any.
fn give_away(state: &State, instance: &Instance, skip: &[JobId]) -> Option<Event> {
    if instance.runner_done {
        return None;
    }
    waiting_job_for(state, instance.pool, instance.repo, skip).map(|job| {
        Event::JobInstanceReassigned(JobInstanceReassigned { job, instance: Some(instance.id.to_string()) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_conclusions_keep_github_spelling() {
        for action in ["queued", "in_progress", "completed", "waiting"] {
            assert_eq!(WorkflowAction::from(action).as_str(), action);
        }
        assert_eq!(WorkflowAction::from("waiting"), WorkflowAction::Other("waiting".into()));
        let conclusions = [
            "success",
            "failure",
            "neutral",
            "cancelled",
            "skipped",
            "timed_out",
            "action_required",
            "startup_failure",
            "stale",
            "something_new",
        ];
        for conclusion in conclusions {
            assert_eq!(Conclusion::from(conclusion).as_str(), conclusion);
        }
        let failures: Vec<&str> =
            conclusions.into_iter().filter(|c| Conclusion::from(*c).is_failure()).collect();
        assert_eq!(failures, ["failure", "timed_out", "action_required", "startup_failure"]);
    }
}
