//! workflow_job intake: every outcome of a delivery and the job state machine under late,
//! duplicate and out-of-order webhooks.

use crate::support::*;
use pacer_domain::*;

fn outcome(s: &Scenario, command: Command) -> Vec<Event> {
    s.when(command).expect("webhooks are never rejected")
}

#[test]
fn queued_job_is_recorded_with_everything_github_sent() {
    let mut s = Scenario::standard();
    let events = s.run(webhook("d-1", hook("queued", 7_000_000_001, "Octo/Hello", &["self-hosted"])));
    match events.as_slice() {
        [Event::JobQueued(q)] => {
            assert_eq!((q.job, q.project, q.pool), (JobId(1), ProjectId(1), PoolId(1)));
            assert_eq!(
                (q.github_job_id, q.run_id, q.delivery_id.as_str()),
                (7_000_000_001, 7_000_005_001, "d-1")
            );
            assert_eq!(
                (q.workflow.as_str(), q.branch.as_str(), q.sender.as_str()),
                ("CI", "main", "octocat")
            );
            assert!(!q.recovered);
        }
        other => panic!("{other:?}"),
    }
    let job = s.job(7_000_000_001);
    assert_eq!((job.status, job.attempts, job.queued_at), (JobStatus::Queued, 0, T0));
    assert_eq!(s.state.repo_name(job), "Octo/Hello");
}

#[test]
fn a_known_job_queued_again_is_a_duplicate() {
    let mut s = Scenario::standard();
    s.queue(1);
    let again = outcome(&s, webhook("d-2", hook("queued", 1, "octo/hello", &["self-hosted"])));
    assert!(
        matches!(&again[..], [Event::WebhookDuplicate(d)] if d.job == Some(JobId(1)) && d.delivery_id == "d-2")
    );
    let redelivery = outcome(
        &s,
        Command::Webhook {
            delivery_id: "d-q-1".into(),
            payload: WebhookPayload::Redelivery { event: "workflow_job".into(), github_job_id: Some(1) },
        },
    );
    assert!(matches!(&redelivery[..], [Event::WebhookDuplicate(d)] if d.job == Some(JobId(1))));
    assert_eq!(s.state.jobs.len(), 1);
}

#[test]
fn not_ours_is_ignored_with_a_reason() {
    let mut s = Scenario::standard();
    let reason = |events: Vec<Event>| match events.as_slice() {
        [Event::JobIgnored(i)] => i.reason.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reason(outcome(&s, webhook("a", hook("queued", 1, "octo/hello", &["ubuntu-latest"])))),
        IgnoreReason::NotSelfHosted
    );
    assert_eq!(
        reason(outcome(&s, webhook("b", hook("queued", 2, "octo/unbound", &["self-hosted"])))),
        IgnoreReason::UnboundRepo
    );
    assert_eq!(
        reason(outcome(&s, webhook("c", hook("waiting", 3, "octo/hello", &["self-hosted"])))),
        IgnoreReason::Action("waiting".into())
    );
    s.run(Command::UpdateProject {
        id: ProjectId(1),
        spec: ProjectSpec { disabled: true, ..project("platform") },
    });
    assert_eq!(
        reason(outcome(&s, webhook("d", hook("queued", 4, "octo/hello", &["self-hosted"])))),
        IgnoreReason::ProjectDisabled
    );
}

#[test]
fn no_pool_match_says_why() {
    let mut s = Scenario::standard();
    let events = outcome(&s, webhook("a", hook("queued", 1, "octo/hello", &["self-hosted", "arm64"])));
    assert!(matches!(&events[..], [Event::JobNoPoolMatch(m)] if m.reason == NoMatchReason::NoMatch));
    for id in [1, 2] {
        s.run(Command::UpdatePool {
            id: PoolId(id),
            spec: PoolSpec { disabled: true, ..pool(if id == 1 { "default" } else { "gpu" }) },
            template: None,
        });
    }
    let events = outcome(&s, webhook("b", hook("queued", 2, "octo/hello", &["self-hosted"])));
    assert!(matches!(&events[..], [Event::JobNoPoolMatch(m)] if m.reason == NoMatchReason::NoPools));
    assert!(events[0].is_failure(), "no_pool_match is audited as a failure");
}

#[test]
fn ping_and_unknown_events_are_recorded() {
    let s = Scenario::new();
    let ping = outcome(
        &s,
        Command::Webhook { delivery_id: "p".into(), payload: WebhookPayload::Ping { hook_id: Some(9) } },
    );
    assert_eq!(Scenario::names(&ping), ["webhook.pinged"]);
    let other = outcome(
        &s,
        Command::Webhook {
            delivery_id: "o".into(),
            payload: WebhookPayload::Other { event: "installation".into(), action: Some("created".into()) },
        },
    );
    assert_eq!(Scenario::names(&other), ["webhook.ignored"]);
}

#[test]
fn lifecycle_to_completed_with_cost() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.advance(1_000);
    s.launch(1, "i-00000000000000a1");
    assert_eq!(s.job(1).status, JobStatus::Starting);
    s.advance(30_000);
    let started = s.run(in_progress(&s, 1, "pacer-i-00000000000000a1"));
    assert_eq!(Scenario::names(&started), ["job.started"]);
    assert!(s.state.instances.get("i-00000000000000a1").is_some_and(|i| i.serving));
    s.advance(3_600_000);
    let done = s.run(completed(1, "success", Some("pacer-i-00000000000000a1")));
    match done.as_slice() {
        [Event::JobCompleted(c)] => {
            // launched at T0+1s, ended at T0+1s+30s+1h at $0.096/h.
            assert_eq!(c.end.cost, Some(Micros::for_duration(Micros(96_000), 3_630_000)));
            assert_eq!(c.end.runner_ms, 3_600_000);
            assert_eq!(c.end.instance.as_deref(), Some("i-00000000000000a1"));
        }
        other => panic!("{other:?}"),
    }
    let job = s.job(1);
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.cost, None, "settled when its instance ends");
    let estimate = s.state.job_cost(job, s.now).expect("priced");
    assert_eq!(
        (estimate.amount, estimate.estimated),
        (Micros::for_duration(Micros(96_000), 3_630_000), true)
    );
    assert_eq!(s.state.jobs.active().in_pool(PoolId(1)), 0);
}

#[test]
fn conclusions_map_to_terminal_statuses() {
    for (conclusion, status) in [
        ("success", JobStatus::Completed),
        ("skipped", JobStatus::Completed),
        ("neutral", JobStatus::Completed),
        ("failure", JobStatus::Failed),
        ("timed_out", JobStatus::Failed),
        ("cancelled", JobStatus::Cancelled),
    ] {
        let mut s = Scenario::standard();
        s.queue(1);
        s.run(completed(1, conclusion, None));
        assert_eq!(s.job(1).status, status, "{conclusion}");
    }
    let mut s = Scenario::standard();
    s.queue(1);
    let mut h = hook("completed", 1, "octo/hello", &["self-hosted"]);
    h.conclusion = None;
    s.run(webhook("null", h));
    assert_eq!(s.job(1).status, JobStatus::Completed, "null conclusion");
}

#[test]
fn terminal_jobs_absorb_late_webhooks() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.run(completed(1, "cancelled", None));
    let late = s.run(in_progress(&s, 1, "pacer-i-1"));
    assert!(matches!(&late[..], [Event::WebhookAbsorbed(a)] if a.reason == "job already cancelled"));
    let again = s.run(completed(1, "success", None));
    assert_eq!(Scenario::names(&again), ["webhook.absorbed"]);
    assert_eq!(s.job(1).status, JobStatus::Cancelled);
}

#[test]
fn out_of_order_completed_before_in_progress_ends_completed() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, "i-00000000000000b1");
    s.run(completed(1, "success", Some("pacer-i-00000000000000b1")));
    s.run(in_progress(&s, 1, "pacer-i-00000000000000b1"));
    assert_eq!(s.job(1).status, JobStatus::Completed);
}

#[test]
fn missed_queued_is_recovered_from_in_progress_and_completed() {
    let mut s = Scenario::standard();
    let events = s.run(in_progress(&s, 9, "some-other-runner"));
    assert_eq!(Scenario::names(&events), ["job.queued", "job.started"]);
    assert!(matches!(&events[0], Event::JobQueued(q) if q.recovered));
    assert_eq!(s.job(9).status, JobStatus::Running);
    let events = s.run(completed(10, "failure", None));
    assert_eq!(Scenario::names(&events), ["job.queued", "job.failed"]);
    assert_eq!(s.job(10).status, JobStatus::Failed);
}

#[test]
fn duplicate_in_progress_is_absorbed() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, "i-00000000000000c1");
    s.run(in_progress(&s, 1, "pacer-i-00000000000000c1"));
    let again = s.when(in_progress(&s, 1, "pacer-i-00000000000000c1")).expect("ok");
    assert_eq!(Scenario::names(&again), ["webhook.absorbed"]);
}

#[test]
fn githubs_times_and_sender_type_are_noted_after_the_deliverys_events() {
    let mut s = Scenario::standard();
    let at = |text: &str| Timestamp::parse_rfc3339(text).expect("a time");
    let mut queued = hook("queued", 1, "octo/hello", &["self-hosted"]);
    queued.created_at = Some(at("2024-05-01T10:00:00Z"));
    queued.sender_type = "Bot".into();
    let events = s.run(webhook("d-1", queued.clone()));
    assert_eq!(Scenario::names(&events), ["job.queued", "job.github_noted"]);
    match &events[1] {
        Event::JobGithubNoted(n) => {
            assert_eq!((n.job, n.delivery_id.as_str(), n.sender_type.as_str()), (JobId(1), "d-1", "Bot"));
            assert_eq!(
                (n.created_at, n.started_at, n.completed_at),
                (Some(at("2024-05-01T10:00:00Z")), None, None)
            );
        }
        other => panic!("{other:?}"),
    }
    // A repeated `queued` is a duplicate and notes nothing.
    assert_eq!(Scenario::names(&outcome(&s, webhook("d-2", queued))), ["webhook.duplicate"]);
    let mut done = hook("completed", 1, "octo/hello", &["self-hosted"]);
    done.conclusion = Some(Conclusion::from("success"));
    done.started_at = Some(at("2024-05-01T10:00:05Z"));
    done.completed_at = Some(at("2024-05-01T10:03:00Z"));
    let events = s.run(webhook("d-3", done.clone()));
    assert_eq!(Scenario::names(&events), ["job.completed", "job.github_noted"]);
    assert!(
        matches!(&events[1], Event::JobGithubNoted(n) if n.completed_at == Some(at("2024-05-01T10:03:00Z")))
    );
    // A late webhook of a finished job is absorbed, and what it says is still noted.
    let late = s.run(webhook("d-4", done));
    assert_eq!(Scenario::names(&late), ["webhook.absorbed", "job.github_noted"]);
    // A webhook carrying none of it notes nothing; one about a job not Pacer's neither.
    assert_eq!(Scenario::names(&s.run(completed(1, "success", None))), ["webhook.absorbed"]);
    let mut foreign = hook("queued", 2, "octo/hello", &["ubuntu-latest"]);
    foreign.created_at = Some(at("2024-05-01T10:00:00Z"));
    assert_eq!(Scenario::names(&s.run(webhook("d-5", foreign))), ["job.ignored"]);
    assert_eq!(s.state.anomaly_count, 0);
}
