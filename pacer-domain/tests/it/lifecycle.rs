//! Runner callbacks, runner rebinding (GitHub running a job on another job's runner), the
//! reaper, and finished jobs leaving with the records a prune deleted.

use crate::support::*;
use pacer_domain::*;

const I1: &str = "i-0000000000000001";
const I2: &str = "i-0000000000000002";

#[test]
fn bootstrap_is_single_use_and_early_callers_retry() {
    let mut s = Scenario::standard();
    let early = s
        .when(Command::RunnerBootstrap { instance: I1.into(), pool: PoolId(1), launched_at: s.now })
        .unwrap_err();
    assert_eq!(early.code, RejectionCode::TryLater);
    s.queue(1);
    s.launch(1, I1);
    let pool = s.state.instances.get(I1).map(|i| i.pool).expect("launched");
    let events = s.run(Command::RunnerBootstrap { instance: I1.into(), pool, launched_at: s.now });
    assert!(matches!(&events[..], [Event::RunnerBootstrapped(b)] if b.job == JobId(1)));
    let again =
        s.when(Command::RunnerBootstrap { instance: I1.into(), pool, launched_at: s.now }).unwrap_err();
    assert_eq!(again.code, RejectionCode::Gone);
}

#[test]
fn another_pools_token_bootstraps_nothing_and_is_recorded() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    let pool = s.state.instances.get(I1).map(|i| i.pool).expect("launched");
    let other = PoolId(pool.0 + 1);
    let events = s.run(Command::RunnerBootstrap { instance: I1.into(), pool: other, launched_at: s.now });
    assert_eq!(Scenario::names(&events), ["runner.bootstrap_refused"]);
    assert!(events[0].is_failure());
    assert!(matches!(&events[0], Event::RunnerBootstrapRefused(r)
        if r.pool == other && r.reason == BootstrapRefusal::WrongPool));
    let events = s.run(Command::RunnerBootstrap { instance: I1.into(), pool, launched_at: s.now });
    assert_eq!(Scenario::names(&events), ["runner.bootstrapped"], "its own pool's token still works");
}

#[test]
fn a_document_of_another_launch_or_of_an_instance_never_launched_is_refused() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    let pool = s.state.instances.get(I1).map(|i| i.pool).expect("launched");
    let earlier = Timestamp::from_millis(s.now.millis() - LAUNCH_TIME_TOLERANCE_MS - 1);
    let events = s.run(Command::RunnerBootstrap { instance: I1.into(), pool, launched_at: earlier });
    assert!(
        matches!(&events[..], [Event::RunnerBootstrapRefused(r)] if r.reason == BootstrapRefusal::LaunchMismatch)
    );
    let close = Timestamp::from_millis(s.now.millis() - 30 * SECOND_MS);
    let events = s.run(Command::RunnerBootstrap { instance: I1.into(), pool, launched_at: close });
    assert_eq!(Scenario::names(&events), ["runner.bootstrapped"]);

    // An instance Pacer has not recorded: retry while its launch may still be recorded, then no.
    let fresh =
        s.when(Command::RunnerBootstrap { instance: I2.into(), pool, launched_at: s.now }).unwrap_err();
    assert_eq!(fresh.code, RejectionCode::TryLater);
    let old = Timestamp::from_millis(s.now.millis() - CLAIM_TIMEOUT_MS - LAUNCH_TIME_TOLERANCE_MS - 1);
    let events = s.run(Command::RunnerBootstrap { instance: I2.into(), pool, launched_at: old });
    assert!(
        matches!(&events[..], [Event::RunnerBootstrapRefused(r)] if r.reason == BootstrapRefusal::UnknownInstance)
    );
}

#[test]
fn registration_starts_the_job_and_errors_before_running_fail_it() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    let events = s.run(Command::RunnerRegistered { instance: I1.into(), runner_id: 77 });
    assert_eq!(Scenario::names(&events), ["instance.registered", "job.started"]);
    assert_eq!(s.job(1).status, JobStatus::Running);
    assert_eq!(s.state.instances.get(I1).and_then(|i| i.runner_id), Some(77));

    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    let events = s.run(Command::RunnerErrored {
        instance: I1.into(),
        stage: "download".into(),
        exit_code: 22,
        line: 41,
        log_tail: "x".repeat(MAX_LOG_TAIL_BYTES + 10),
    });
    assert_eq!(Scenario::names(&events), ["runner.errored", "job.failed"]);
    match (&events[0], &events[1]) {
        (Event::RunnerErrored(e), Event::JobFailed(f)) => {
            assert_eq!(e.log_tail.len(), MAX_LOG_TAIL_BYTES);
            assert_eq!(f.stage, FailureStage::Bootstrap);
            assert_eq!(f.message, "runner download failed with exit code 22 at line 41");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.job(1).failure_seq.is_some());
    let unknown = s.when(Command::RunnerCompleted { instance: "i-404".into(), exit_code: 0 }).unwrap_err();
    assert_eq!(unknown.code, RejectionCode::NotFound);
}

#[test]
fn an_instance_registers_one_runner_and_none_once_its_job_or_runner_is_done() {
    let refusal = |s: &Scenario| s.state.instances.get(I1).and_then(|i| register_refusal(&s.state, i));
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    assert_eq!(refusal(&s), None);
    s.run(Command::RunnerRegistered { instance: I1.into(), runner_id: 77 });
    assert_eq!(refusal(&s), Some(RegisterRefusal::AlreadyRegistered));
    let again = s.when(Command::RunnerRegistered { instance: I1.into(), runner_id: 78 }).unwrap_err();
    assert_eq!(again.code, RejectionCode::Gone);
    assert!(again.message.contains("already_registered"), "{}", again.message);
    assert_eq!(s.state.instances.get(I1).and_then(|i| i.runner_id), Some(77));

    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.run(Command::RunnerCompleted { instance: I1.into(), exit_code: 0 });
    assert_eq!(refusal(&s), Some(RegisterRefusal::RunnerDone));

    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.run(in_progress(&s, 1, &runner_name(I1)));
    s.run(completed(1, "success", Some(&runner_name(I1))));
    assert_eq!(refusal(&s), Some(RegisterRefusal::JobEnded));
    let late = s.when(Command::RunnerRegistered { instance: I1.into(), runner_id: 79 }).unwrap_err();
    assert_eq!(late.code, RejectionCode::Gone);

    let events = s.run(Command::RefuseRegister { instance: I1.into(), reason: RegisterRefusal::JobEnded });
    assert_eq!(Scenario::names(&events), ["runner.register_refused"]);
    assert!(events[0].is_failure());
    assert!(matches!(&events[0], Event::RunnerRegisterRefused(r) if r.job == Some(JobId(1))));
}

#[test]
fn a_runner_reports_its_end_once() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.run(Command::RunnerCompleted { instance: I1.into(), exit_code: 0 });
    let again = s.when(Command::RunnerCompleted { instance: I1.into(), exit_code: 0 }).unwrap_err();
    assert_eq!(again.code, RejectionCode::Gone);
    let error = Command::RunnerErrored {
        instance: I1.into(),
        stage: "run".into(),
        exit_code: 1,
        line: 9,
        log_tail: "x".repeat(MAX_LOG_TAIL_BYTES),
    };
    assert_eq!(s.when(error).unwrap_err().code, RejectionCode::Gone);
}

#[test]
fn instances_whose_work_is_over_are_torn_down_and_the_verdict_stays_githubs() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.run(in_progress(&s, 1, &runner_name(I1)));
    assert!(finished_instances(&s.state).is_empty());
    s.run(completed(1, "success", Some(&runner_name(I1))));
    let finished: Vec<&str> = finished_instances(&s.state).iter().map(|i| &*i.id).collect();
    assert_eq!(finished, [I1]);
    assert!(surplus_instances(&s.state).is_empty(), "a serving instance is not surplus");
    let events = s.run(Command::ReapInstance { instance: I1.into(), reason: ReapReason::JobEnded });
    assert_eq!(Scenario::names(&events), ["instance.reaped"]);
    assert_eq!(s.job(1).status, JobStatus::Completed);
    assert!(s.state.instances.is_empty());

    // A runner that reported done before GitHub's verdict: torn down, the job left to the webhook.
    s.queue(2);
    s.launch(2, I2);
    s.run(Command::RunnerCompleted { instance: I2.into(), exit_code: 0 });
    assert_eq!(finished_instances(&s.state).len(), 1);
    let events = s.run(Command::ReapInstance { instance: I2.into(), reason: ReapReason::JobEnded });
    assert_eq!(Scenario::names(&events), ["instance.reaped"]);
    assert_eq!(s.job(2).status, JobStatus::Starting);
    let verdict = s.run(completed(2, "success", Some(&runner_name(I2))));
    assert_eq!(Scenario::names(&verdict), ["job.completed"]);
}

#[test]
fn errors_while_the_job_runs_leave_the_verdict_to_github() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.run(in_progress(&s, 1, &runner_name(I1)));
    let events = s.run(Command::RunnerErrored {
        instance: I1.into(),
        stage: "run".into(),
        exit_code: 1,
        line: 90,
        log_tail: "boom".into(),
    });
    assert_eq!(Scenario::names(&events), ["runner.errored"]);
    assert_eq!(s.job(1).status, JobStatus::Running);
}

#[test]
fn job_a_on_job_bs_runner_swaps_instances() {
    let mut s = Scenario::standard();
    s.queue(1); // A
    s.queue(2); // B
    s.launch(1, I1);
    s.launch(2, I2);
    // GitHub gives A to B's runner.
    let events = s.run(in_progress(&s, 1, &runner_name(I2)));
    assert_eq!(Scenario::names(&events), ["job.runner_rebound", "job.instance_reassigned", "job.started"]);
    let (a, b) = (s.job(1).clone(), s.job(2).clone());
    assert_eq!((a.status, a.instance.as_deref()), (JobStatus::Running, Some(I2)));
    assert_eq!((b.status, b.instance.as_deref()), (JobStatus::Starting, Some(I1)));
    // B then runs on A's runner; both complete; nothing stays active.
    s.run(in_progress(&s, 2, &runner_name(I1)));
    s.run(completed(1, "success", Some(&runner_name(I2))));
    s.run(completed(2, "success", Some(&runner_name(I1))));
    assert_eq!(s.state.jobs.active().in_pool(PoolId(1)), 0);
    assert_eq!((s.job(1).status, s.job(2).status), (JobStatus::Completed, JobStatus::Completed));
}

#[test]
fn a_displaced_job_without_a_spare_instance_returns_to_the_queue() {
    let mut s = Scenario::standard();
    s.queue(1); // A, never launched (e.g. a recovered job)
    s.queue(2); // B
    s.launch(2, I2);
    let events = s.run(in_progress(&s, 1, &runner_name(I2)));
    assert_eq!(Scenario::names(&events), ["job.runner_rebound", "job.instance_reassigned", "job.started"]);
    let b = s.job(2);
    assert_eq!((b.status, b.instance.as_deref()), (JobStatus::Queued, None));
    assert_eq!(plan_claims(&s.state, s.now, 10), [JobId(2)], "B gets a new instance");
}

#[test]
fn an_unused_instance_of_a_finished_job_goes_to_a_waiting_job() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.queue(2);
    // Job 1 ran somewhere else (a runner Pacer does not know) and finished.
    let events = s.run(completed(1, "success", Some("ephemeral-elsewhere")));
    assert_eq!(Scenario::names(&events), ["job.completed", "job.instance_reassigned"]);
    assert_eq!(s.job(2).instance.as_deref(), Some(I1));
}

#[test]
fn the_reaper_fails_jobs_of_lost_instances_and_forgets_finished_ones() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.queue(2);
    s.launch(2, I2);
    s.run(Command::RunnerCompleted { instance: I2.into(), exit_code: 0 });
    let obs = |id: &str, state: &str| Observation {
        instance: id.into(),
        alive: false,
        state: state.into(),
        reason: "Server.SpotInstanceTermination".into(),
    };
    let alive =
        Observation { instance: I1.into(), alive: true, state: "running".into(), reason: String::new() };
    assert!(s.run(Command::ObserveInstances(vec![alive])).is_empty());
    let events = s.run(Command::ObserveInstances(vec![obs(I1, "terminated"), obs(I2, "terminated")]));
    assert_eq!(Scenario::names(&events), ["instance.lost", "job.failed", "instance.terminated"]);
    match &events[1] {
        Event::JobFailed(f) => {
            assert_eq!(f.stage, FailureStage::Ec2);
            assert!(f.message.contains("SpotInstanceTermination"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.job(2).status, JobStatus::Starting, "the runner finished: the webhook decides");
    assert!(s.state.instances.is_empty());
}

#[test]
fn max_runtime_reaps_the_job() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.run(in_progress(&s, 1, &runner_name(I1)));
    s.advance(60 * MINUTE_MS);
    assert!(overdue_instances(&s.state, s.now).is_empty());
    s.advance(1);
    assert_eq!(overdue_instances(&s.state, s.now).len(), 1);
    let events = s.run(Command::ReapInstance { instance: I1.into(), reason: ReapReason::MaxRuntime });
    assert_eq!(Scenario::names(&events), ["instance.reaped", "job.reaped"]);
    assert!(matches!(&events[1], Event::JobReaped(r) if r.max_runtime_minutes == 60 && r.end.cost.is_some()));
    assert_eq!(s.job(1).status, JobStatus::Reaped);
    let late = s.run(completed(1, "cancelled", Some(&runner_name(I1))));
    assert_eq!(Scenario::names(&late), ["webhook.absorbed"]);
}

#[test]
fn finished_jobs_stay_listed_until_a_prune_covers_them_and_stats_keep_them() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.run(completed(1, "success", None));
    let first_end = s.now;
    s.advance(DAY_MS);
    s.queue(2);
    s.run(completed(2, "failure", None));
    s.queue(3);
    s.advance(3_650 * DAY_MS);
    s.run(Command::SetHealth { component: "x".into(), ok: false, message: "tick".into() });
    assert!(s.state.jobs.by_github_id(1).is_some(), "no eviction as the log advances");
    assert_eq!(s.state.pruned_through(), 0);

    let last_seq = s.state.last_seq - 3;
    let archive = Some("a.jsonl.gz".to_owned());
    let events = s.run(Command::RecordPrune { last_seq, through: first_end, archive: archive.clone() });
    assert_eq!(
        events,
        [Event::AuditPruned(AuditPruned { first_seq: 1, last_seq, through: first_end, archive })]
    );
    assert!(s.state.jobs.by_github_id(1).is_none(), "finished by `through`: evicted");
    assert!(s.state.jobs.by_github_id(2).is_some(), "finished after `through`: kept");
    assert!(s.state.jobs.by_github_id(3).is_some(), "queued jobs are never evicted");
    assert_eq!(s.state.pruned_through(), last_seq);
    assert_eq!(
        s.state.settings.last_prune,
        Some(LogPruned {
            first_seq: 1,
            last_seq,
            through: first_end,
            archive: Some("a.jsonl.gz".into()),
            at: s.now
        })
    );
    let window = Window::custom(T0.plus_millis(-DAY_MS), s.now.plus_millis(DAY_MS));
    assert_eq!(s.state.rollups.total(window, None).jobs, 2, "the stats keep evicted jobs");

    // A later prune goes on above the last one and drops what ended by its own `through`.
    let through = s.job(2).finished_at.expect("finished");
    s.run(Command::RecordPrune { last_seq: last_seq + 2, through, archive: None });
    assert!(s.state.jobs.by_github_id(2).is_none());
    assert_eq!(
        s.state.settings.last_prune.as_ref().map(|p| (p.first_seq, p.archive.clone())),
        Some((last_seq + 1, None))
    );
    assert_eq!(s.state.anomaly_count, 0);
}

#[test]
fn a_prune_must_name_a_record_the_log_holds_above_the_last_prune() {
    let mut s = Scenario::standard();
    let prune = |last_seq| Command::RecordPrune { last_seq, through: T0, archive: None };
    let last = s.state.last_seq;
    for (last_seq, code) in [(0, RejectionCode::Conflict), (last + 1, RejectionCode::Invalid)] {
        let refused = s.when(prune(last_seq)).unwrap_err();
        assert_eq!((refused.code, fields(&refused)), (code, vec!["last_seq"]), "{last_seq}");
    }
    s.run(prune(2));
    let again = s.when(prune(2)).unwrap_err();
    assert_eq!((again.code, fields(&again)), (RejectionCode::Conflict, vec!["last_seq"]));
    let events = s.run(prune(3));
    assert!(matches!(&events[..], [Event::AuditPruned(AuditPruned { first_seq: 3, last_seq: 3, .. })]));
    assert_eq!(s.state.pruned_through(), 3);

    // A prune the log holds against an earlier one is an anomaly and changes nothing.
    let before = s.state.settings.clone();
    s.fold(Event::AuditPruned(AuditPruned { first_seq: 2, last_seq: 3, through: s.now, archive: None }));
    assert_eq!((s.state.anomaly_count, &s.state.settings), (1, &before));
}

#[test]
fn a_sweep_records_payloads_or_failure_logs_deleted_and_refuses_anything_else() {
    let mut s = Scenario::standard();
    let sweep = |kind, deleted| Command::RecordSweep { kind, deleted, before: T0 };
    let refused = s.when(sweep(RetentionKind::Audit, 3)).unwrap_err();
    assert_eq!((refused.code, fields(&refused)), (RejectionCode::Invalid, vec!["kind"]));
    let refused = s.when(sweep(RetentionKind::Webhook, 0)).unwrap_err();
    assert_eq!((refused.code, fields(&refused)), (RejectionCode::Invalid, vec!["deleted"]));
    let before = s.state.settings.clone();
    let events = s.run(sweep(RetentionKind::FailureLog, 2));
    assert_eq!(
        events,
        [Event::RetentionSwept(RetentionSwept { kind: RetentionKind::FailureLog, deleted: 2, before: T0 })]
    );
    assert_eq!((s.state.anomaly_count, &s.state.settings), (0, &before), "a fact for the audit trail only");
}
