//! Claims, caps, fairness, launch outcomes, capacity retries and claim expiry.

use crate::support::*;
use pacer_domain::*;

#[test]
fn claims_respect_pool_project_and_repo_caps() {
    let mut s = Scenario::standard();
    s.run(Command::UpdatePool {
        id: PoolId(1),
        spec: PoolSpec { is_default: true, cap: 2, ..pool("default") },
        template: None,
    });
    for id in 1..=4 {
        s.queue(id);
    }
    let plan = plan_claims(&s.state, s.now, 10);
    assert_eq!(plan, [JobId(1), JobId(2)], "pool cap 2");
    let events = s.run(Command::ClaimJobs(vec![JobId(1), JobId(2), JobId(3)]));
    assert_eq!(Scenario::names(&events), ["job.claimed", "job.claimed"], "claim re-checks caps");
    assert_eq!(explain(&s.state, s.job(3), s.now), WaitReason::PoolCapFull { active: 2, cap: 2 });
    assert_eq!(explain(&s.state, s.job(1), s.now), WaitReason::Launching);

    let mut s = Scenario::standard();
    s.run(Command::UpdateProject { id: ProjectId(1), spec: ProjectSpec { cap: 1, ..project("platform") } });
    s.queue(1);
    s.queue(2);
    assert_eq!(plan_claims(&s.state, s.now, 10), [JobId(1)]);
    s.run(Command::ClaimJobs(vec![JobId(1)]));
    assert_eq!(explain(&s.state, s.job(2), s.now), WaitReason::ProjectCapFull { active: 1, cap: 1 });

    let mut s = Scenario::standard();
    s.run(Command::UpdateRepo {
        project: ProjectId(1),
        spec: RepoSpec { cap: Some(1), ..repo("octo/hello") },
    });
    s.queue(1);
    s.queue(2);
    s.run(Command::ClaimJobs(vec![JobId(1)]));
    assert_eq!(explain(&s.state, s.job(2), s.now), WaitReason::RepoCapFull { active: 1, cap: 1 });
    assert!(plan_claims(&s.state, s.now, 10).is_empty());
}

#[test]
fn fairness_round_robins_projects_and_a_blocked_pool_blocks_nothing_else() {
    let mut s = Scenario::standard();
    s.run(Command::CreateProject(project("data")));
    s.run(Command::CreatePool {
        project: ProjectId(2),
        spec: PoolSpec { is_default: true, ..pool("default") },
        template: None,
    });
    s.run(Command::BindRepo { project: ProjectId(2), spec: repo("octo/data") });
    s.run(Command::UpdatePool {
        id: PoolId(2),
        spec: PoolSpec { cap: 1, priority: 50, extra_labels: vec!["cuda".into()], ..pool("gpu") },
        template: None,
    });
    // platform: 3 default jobs, then 2 gpu jobs (gpu cap 1); data: 2 jobs, queued later.
    for id in 1..=3 {
        s.queue(id);
    }
    for id in 4..=5 {
        s.run(webhook(&format!("g{id}"), hook("queued", id, "octo/hello", &["self-hosted", "gpu"])));
    }
    for id in 6..=7 {
        s.run(webhook(&format!("d{id}"), hook("queued", id, "octo/data", &["self-hosted"])));
    }
    let plan = plan_claims(&s.state, s.now, 6);
    assert_eq!(plan, [JobId(1), JobId(6), JobId(2), JobId(7), JobId(3), JobId(4)]);
    let plan = plan_claims(&s.state, s.now, 100);
    assert!(!plan.contains(&JobId(5)), "gpu cap 1 holds job 5 back: {plan:?}");
    assert_eq!(plan.len(), 6);
}

#[test]
fn capacity_errors_back_off_then_fail_after_twelve_attempts() {
    let mut s = Scenario::standard();
    let job = s.queue(1);
    let mut delays = Vec::new();
    for attempt in 1..=12 {
        let claimed = s.run(Command::ClaimJobs(vec![job]));
        assert_eq!(Scenario::names(&claimed), ["job.claimed"], "attempt {attempt}");
        let events = s.run(Command::RecordLaunch {
            job,
            attempt,
            outcome: launch_failed("InsufficientInstanceCapacity"),
        });
        if attempt < 12 {
            match events.as_slice() {
                [Event::JobSpawnRetry(r)] => {
                    assert!(r.burns_attempt);
                    delays.push((r.next_retry_at.millis() - s.now.millis()) / 1_000);
                    assert_eq!(
                        explain(&s.state, s.job(1), s.now),
                        WaitReason::RetryAt { at: r.next_retry_at, attempts: attempt }
                    );
                    assert!(plan_claims(&s.state, s.now, 10).is_empty(), "not before the retry time");
                    assert_eq!(next_retry(&s.state, s.now), Some(r.next_retry_at));
                    s.now = r.next_retry_at;
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        } else {
            assert_eq!(Scenario::names(&events), ["job.spawn_failed", "job.failed"]);
        }
    }
    assert_eq!(delays, [30, 60, 120, 240, 300, 300, 300, 300, 300, 300, 300]);
    assert_eq!(s.job(1).status, JobStatus::Failed);
    assert_eq!(s.job(1).attempts, 11);
}

#[test]
fn throttling_burns_no_attempt_and_permanent_errors_fail() {
    let mut s = Scenario::standard();
    let job = s.queue(1);
    s.run(Command::ClaimJobs(vec![job]));
    let events =
        s.run(Command::RecordLaunch { job, attempt: 1, outcome: launch_failed("RequestLimitExceeded") });
    assert!(
        matches!(&events[..], [Event::JobSpawnRetry(r)] if !r.burns_attempt && r.next_retry_at == T0.plus_millis(1_500))
    );
    assert_eq!(s.job(1).attempts, 0);
    s.now = T0.plus_millis(1_500);
    s.run(Command::ClaimJobs(vec![job]));
    let events =
        s.run(Command::RecordLaunch { job, attempt: 1, outcome: launch_failed("UnsupportedOperation") });
    assert_eq!(Scenario::names(&events), ["job.spawn_failed", "job.failed"]);
    match &events[1] {
        Event::JobFailed(f) => {
            assert_eq!(f.stage, FailureStage::Spawn);
            assert!(f.message.starts_with("UnsupportedOperation"), "{}", f.message);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn spot_pools_can_fall_back_to_on_demand() {
    let mut s = Scenario::standard();
    s.run(Command::UpdatePool {
        id: PoolId(1),
        spec: PoolSpec { is_default: true, spot: true, on_demand_fallback: true, ..pool("default") },
        template: None,
    });
    let job = s.queue(1);
    assert_eq!(s.job(1).market, Market::Spot);
    let claimed = s.run(Command::ClaimJobs(vec![job]));
    assert!(matches!(&claimed[..], [Event::JobClaimed(c)] if c.market == Market::Spot));
    s.run(Command::RecordLaunch { job, attempt: 1, outcome: launch_failed("InsufficientInstanceCapacity") });
    assert_eq!(s.job(1).market, Market::OnDemand);
    // The on-demand attempt goes at once: no capacity backoff before a fallback.
    assert_eq!(s.job(1).next_retry_at, Some(s.now));
    assert_eq!(plan_claims(&s.state, s.now, 10), [job]);
    let claimed = s.run(Command::ClaimJobs(vec![job]));
    assert!(matches!(&claimed[..], [Event::JobClaimed(c)] if c.market == Market::OnDemand && c.attempt == 2));
    // The pool's next jobs launch on-demand during the cool-down, and try spot again after it.
    let until = s.now.plus_millis(SPOT_COOLDOWN_MS);
    assert_eq!(s.state.spot_cooldowns.get(&PoolId(1)), Some(&until));
    let next = s.queue(2);
    assert_eq!(s.job(2).market, Market::Spot);
    s.now = until.plus_millis(-1);
    let claimed = s.run(Command::ClaimJobs(vec![next]));
    assert!(matches!(&claimed[..], [Event::JobClaimed(c)] if c.market == Market::OnDemand && c.attempt == 1));
    let later = s.queue(3);
    s.now = until;
    let claimed = s.run(Command::ClaimJobs(vec![later]));
    assert!(matches!(&claimed[..], [Event::JobClaimed(c)] if c.market == Market::Spot), "{claimed:?}");
}

#[test]
fn claims_of_a_replica_that_lost_the_lease_stand_for_its_successor_to_launch() {
    let mut s = Scenario::standard();
    s.run(Command::AcquireLease { holder: "a".into(), term: 1 });
    let (one, two) = (s.queue(1), s.queue(2));
    s.run(Command::ClaimJobs(vec![one, two]));
    let batches = launch_batches(&s.state, &[one, two]);
    s.advance(1);
    s.run(Command::AcquireLease { holder: "b".into(), term: 2 });
    assert!(s.run(Command::ExpireClaims).is_empty(), "the deposed holder's claims stand");
    assert_eq!(launch_batches(&s.state, &[one, two]), batches, "the successor launches the same batch");
    assert_eq!(batches, [vec![one, two]]);
    s.advance(CLAIM_TIMEOUT_MS);
    assert_eq!(Scenario::names(&s.run(Command::ExpireClaims)), ["job.claim_expired", "job.claim_expired"]);
    assert!(s.when(Command::AcquireLease { holder: "a".into(), term: 2 }).is_err(), "a term is taken once");
}

#[test]
fn stale_claims_return_to_the_queue_without_burning_an_attempt() {
    let mut s = Scenario::standard();
    let job = s.queue(1);
    s.run(Command::ClaimJobs(vec![job]));
    s.advance(CLAIM_TIMEOUT_MS - 1);
    assert!(s.run(Command::ExpireClaims).is_empty());
    s.advance(1);
    let events = s.run(Command::ExpireClaims);
    assert!(matches!(&events[..], [Event::JobClaimExpired(e)] if e.attempt == 1));
    assert_eq!((s.job(1).status, s.job(1).attempts), (JobStatus::Queued, 0));
    // The relaunch uses the same attempt, hence the same client token.
    let claimed = s.run(Command::ClaimJobs(vec![job]));
    assert!(matches!(&claimed[..], [Event::JobClaimed(c)] if c.attempt == 1));
}

#[test]
fn a_launch_recorded_after_its_claim_expired_goes_to_its_own_job() {
    let mut s = Scenario::standard();
    let job = s.queue(1);
    s.queue(2);
    s.run(Command::ClaimJobs(vec![job]));
    s.advance(CLAIM_TIMEOUT_MS);
    assert_eq!(Scenario::names(&s.run(Command::ExpireClaims)), ["job.claim_expired"]);
    let events =
        s.run(Command::RecordLaunch { job, attempt: 1, outcome: launched("i-00000000000000e1", None) });
    assert_eq!(Scenario::names(&events), ["job.spawn_launched", "job.instance_reassigned"]);
    let own = s.job(1);
    assert_eq!((own.status, own.instance.as_deref()), (JobStatus::Starting, Some("i-00000000000000e1")));
    assert_eq!(s.job(2).status, JobStatus::Queued, "the other job still waits for its own launch");
}

#[test]
fn a_launch_for_a_job_that_no_longer_wants_it_goes_to_a_waiting_job() {
    let mut s = Scenario::standard();
    let a = s.queue(1);
    s.queue(2);
    s.run(Command::ClaimJobs(vec![a]));
    s.run(completed(1, "cancelled", None));
    let events =
        s.run(Command::RecordLaunch { job: a, attempt: 1, outcome: launched("i-00000000000000d1", None) });
    assert_eq!(Scenario::names(&events), ["job.spawn_launched", "job.instance_reassigned"]);
    let b = s.job(2);
    assert_eq!((b.status, b.instance.as_deref()), (JobStatus::Starting, Some("i-00000000000000d1")));
    assert!(surplus_instances(&s.state).is_empty());

    // No waiting job: the instance is surplus for the reaper.
    let mut s = Scenario::standard();
    let a = s.queue(1);
    s.run(Command::ClaimJobs(vec![a]));
    s.run(completed(1, "cancelled", None));
    s.run(Command::RecordLaunch { job: a, attempt: 1, outcome: launched("i-00000000000000d2", None) });
    assert_eq!(surplus_instances(&s.state).len(), 1);
    let reaped =
        s.run(Command::ReapInstance { instance: "i-00000000000000d2".into(), reason: ReapReason::Surplus });
    assert_eq!(Scenario::names(&reaped), ["instance.reaped"]);
    assert!(s.state.instances.is_empty());
}

#[test]
fn an_instance_reported_twice_stays_with_its_job() {
    // A launch call hangs past its claim; the claim expires and the relaunch, with the same
    // attempt and so the same client token, is answered with the instance the first call
    // started. The first call's late answer then names that instance again.
    let mut s = Scenario::standard();
    let a = s.queue(1);
    s.queue(2);
    s.run(Command::ClaimJobs(vec![a]));
    s.advance(CLAIM_TIMEOUT_MS);
    s.run(Command::ExpireClaims);
    s.run(Command::ClaimJobs(vec![a]));
    let relaunch =
        s.run(Command::RecordLaunch { job: a, attempt: 1, outcome: launched("i-00000000000000e1", None) });
    assert_eq!(Scenario::names(&relaunch), ["job.spawn_launched"]);
    let late =
        s.run(Command::RecordLaunch { job: a, attempt: 1, outcome: launched("i-00000000000000e1", None) });
    assert!(late.is_empty(), "recorded once: {late:?}");
    assert_eq!(
        (s.job(1).status, s.job(1).instance.as_deref()),
        (JobStatus::Starting, Some("i-00000000000000e1"))
    );
    assert_eq!(s.job(2).status, JobStatus::Queued, "not handed to another job");
    assert_eq!(s.state.instances.len(), 1);

    // A log written before that rule may hold the repeat: folding it resets nothing.
    let before = s.state.instances.get("i-00000000000000e1").cloned();
    s.advance(1_000);
    s.fold(Event::JobSpawnLaunched(JobSpawnLaunched {
        job: JobId(2),
        attempt: 1,
        instance: match launched("i-00000000000000e1", None) {
            LaunchOutcome::Launched { instance, .. } => instance,
            LaunchOutcome::Failed { .. } => unreachable!(),
        },
        price: None,
    }));
    assert_eq!(s.state.instances.get("i-00000000000000e1").cloned(), before);
    assert_eq!(s.job(2).status, JobStatus::Queued);
    assert_eq!(s.state.anomaly_count, 1);
}

#[test]
fn outcomes_for_stale_attempts_change_nothing() {
    let mut s = Scenario::standard();
    let job = s.queue(1);
    s.run(Command::ClaimJobs(vec![job]));
    let stale = s.when(Command::RecordLaunch {
        job,
        attempt: 3,
        outcome: launch_failed("InsufficientInstanceCapacity"),
    });
    assert_eq!(stale, Ok(vec![]));
    let unknown = s.when(Command::RecordLaunch { job: JobId(99), attempt: 1, outcome: launch_failed("X") });
    assert_eq!(unknown, Ok(vec![]));
}

#[test]
fn disabled_pools_and_projects_explain_themselves() {
    let mut s = Scenario::standard();
    s.queue(1);
    assert_eq!(explain(&s.state, s.job(1), s.now), WaitReason::Ready);
    s.run(Command::UpdatePool {
        id: PoolId(1),
        spec: PoolSpec { is_default: true, disabled: true, ..pool("default") },
        template: None,
    });
    assert_eq!(explain(&s.state, s.job(1), s.now), WaitReason::PoolDisabled);
    s.run(Command::UpdateProject {
        id: ProjectId(1),
        spec: ProjectSpec { disabled: true, ..project("platform") },
    });
    assert_eq!(explain(&s.state, s.job(1), s.now), WaitReason::ProjectDisabled);
    assert!(plan_claims(&s.state, s.now, 10).is_empty());
    assert!(explain(&s.state, s.job(1), s.now).to_string().contains("disabled"));
}

#[test]
fn claims_of_one_pool_market_and_repo_from_one_round_launch_as_one_batch() {
    let mut s = Scenario::standard();
    s.run(Command::BindRepo { project: ProjectId(1), spec: repo("octo/other") });
    for id in 1..=3 {
        s.queue(id);
    }
    s.run(webhook("d-q-4", hook("queued", 4, "octo/other", &["self-hosted"])));
    s.run(webhook("d-q-5", hook("queued", 5, "octo/hello", &["self-hosted", "cuda"])));
    let first_round: Vec<JobId> = [1, 2, 3, 4, 5].map(|id| s.job(id).id).to_vec();
    s.run(Command::ClaimJobs(first_round.clone()));
    s.advance(1_000);
    s.queue(6);
    s.run(Command::ClaimJobs(vec![s.job(6).id]));
    let all: Vec<JobId> = (1..=6).map(|id| s.job(id).id).collect();
    let batches = launch_batches(&s.state, &all);
    let ids = |github: &[u64]| github.iter().map(|id| s.job(*id).id).collect::<Vec<_>>();
    // Jobs 1–3 (one pool, repo and round) together; the other repo, the other pool and the
    // later round each alone.
    let mut expected = vec![ids(&[1, 2, 3]), ids(&[4]), ids(&[5]), ids(&[6])];
    expected.sort();
    let mut got = batches.clone();
    got.sort();
    assert_eq!(got, expected);
    // A pure function of the recorded claims: the same batches from any order, and none for
    // jobs no longer claimed.
    let reversed: Vec<JobId> = all.iter().rev().copied().collect();
    let mut again = launch_batches(&s.state, &reversed);
    again.sort();
    assert_eq!(again, expected);
    let (one_and_three, two) = (ids(&[1, 3]), s.job(2).id);
    s.run(Command::RecordLaunch { job: two, attempt: 1, outcome: launched("i-2", None) });
    let rest = launch_batches(&s.state, &all);
    assert!(rest.contains(&one_and_three), "{rest:?}");
}

#[test]
fn a_burst_is_cut_into_batches_of_at_most_the_maximum() {
    let mut s = Scenario::standard();
    s.run(Command::UpdatePool {
        id: PoolId(1),
        spec: PoolSpec { is_default: true, cap: 1_000, ..pool("default") },
        template: Some(template("lt-0001", 1)),
    });
    let count = LAUNCH_BATCH_MAX as u64 * 2 + 7;
    for id in 1..=count {
        s.queue(id);
    }
    let plan = plan_claims(&s.state, s.now, count as usize);
    s.run(Command::ClaimJobs(plan.clone()));
    let sizes: Vec<usize> = launch_batches(&s.state, &plan).iter().map(Vec::len).collect();
    assert_eq!(sizes, [LAUNCH_BATCH_MAX, LAUNCH_BATCH_MAX, 7]);
}
