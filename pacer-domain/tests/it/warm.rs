//! Warm capacity: a pool's warm settings are checked against its cap; warm instances are
//! launched up to the pool's target within its cap (none while its jobs wait for launches); a
//! queued job takes an idle one instead of a launch (billed from then, its idle time the
//! pool's warm cost) and the taken one is replaced; idle ones are recycled past their max age,
//! on a template change and beyond the target (once a lower target has held for the
//! scale-down delay).

use crate::support::*;
use pacer_domain::*;
use std::collections::BTreeMap;

const PRICE: i64 = 96_000;
const POOL: PoolId = PoolId(1);

fn hot(n: u32) -> WarmSpec {
    WarmSpec { sizing: WarmSizing::Fixed(WarmCounts { hot: n, stopped: 0 }), max_age_minutes: 60 }
}

fn warm_instance(id: &str) -> (LaunchedInstance, Option<PriceQuote>) {
    let LaunchOutcome::Launched { instance, price } = launched(id, Some(PRICE)) else { unreachable!() };
    (instance, price)
}

/// Launches what `warm_launches` asks for `POOL` (its first plan), on instances named
/// `i-w<n>`.
fn fill(s: &mut Scenario, first: usize) -> Vec<String> {
    let plans = warm_launches(&s.state, s.now, &BTreeMap::new());
    let Some(plan) = plans.into_iter().find(|p| p.pool == POOL) else { return vec![] };
    let ids: Vec<String> = (first..first + plan.count as usize).map(|n| format!("i-w{n:015}")).collect();
    let version = s.state.template(POOL).map_or(0, |t| t.version);
    s.run(Command::RecordWarmLaunch {
        pool: POOL,
        launched: ids.iter().map(|id| warm_instance(id)).collect(),
        template_version: version,
        stopped: plan.stopped,
        reason: plan.reason,
    });
    ids
}

fn counts(hot: u32, stopped: u32) -> WarmCounts {
    WarmCounts { hot, stopped }
}

#[test]
fn warm_settings_are_checked_against_the_pool() {
    let s = Scenario::standard();
    let set = |warm| s.when(Command::SetPoolWarm { pool: POOL, warm });
    let cap = s.state.config.pool(POOL).map(|p| p.spec.cap).unwrap_or_default();
    let too_many = set(Some(hot(cap + 1))).expect_err("beyond the cap");
    assert_eq!(fields(&too_many), ["sizing.fixed"]);
    let bad = set(Some(WarmSpec {
        sizing: WarmSizing::Schedule {
            zone: "Mars/Olympus".into(),
            windows: vec![WarmWindow {
                days: 0,
                from_minute: 1440,
                to_minute: 1441,
                counts: WarmCounts::default(),
            }],
            otherwise: WarmCounts::default(),
        },
        max_age_minutes: 1,
    }))
    .expect_err("every field wrong");
    assert_eq!(
        fields(&bad),
        [
            "max_age_minutes",
            "sizing.windows[0].days",
            "sizing.windows[0].from_minute",
            "sizing.windows[0].to_minute",
            "sizing.zone"
        ]
    );
    let forecast =
        set(Some(WarmSpec { sizing: WarmSizing::Forecast { quantile: 0, weeks: 13 }, max_age_minutes: 60 }))
            .expect_err("out of range");
    assert_eq!(fields(&forecast), ["sizing.quantile", "sizing.weeks"]);
    assert!(s.when(Command::SetPoolWarm { pool: PoolId(99), warm: None }).is_err(), "unknown pool");
    assert_eq!(Scenario::names(&set(Some(hot(2))).expect("valid")), ["pool.warm_set"]);
}

#[test]
fn a_job_takes_a_hot_instance_which_is_replaced_and_its_idle_time_is_the_pools_warm_cost() {
    let mut s = Scenario::standard();
    assert!(warm_launches(&s.state, s.now, &BTreeMap::new()).is_empty(), "no warm capacity asked");
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(2)) });
    let warm = fill(&mut s, 1);
    assert_eq!(warm.len(), 2);
    assert!(fill(&mut s, 10).is_empty(), "the target is held");
    let status = warm_status(&s.state, s.state.config.pool(POOL).expect("pool"), s.now).expect("warm");
    assert_eq!(
        (status.wanted, status.idle, status.target.reason.as_str()),
        (counts(2, 0), counts(2, 0), "fixed: 2 hot, 0 stopped")
    );

    // The second warm instance bootstraps with no job, and its runner is ready (its first
    // registration call, repeated while it waits); the first is still booting.
    let booted =
        s.run(Command::RunnerBootstrap { instance: warm[1].clone(), pool: POOL, launched_at: s.now });
    assert_eq!(Scenario::names(&booted), ["warm.bootstrapped"]);
    let ready = s.run(Command::RecordWarmReady { instance: warm[1].clone() });
    assert_eq!(Scenario::names(&ready), ["warm.ready"]);
    assert!(s.run(Command::RecordWarmReady { instance: warm[1].clone() }).is_empty(), "once");
    let warm = [warm[1].clone(), warm[0].clone()];

    // Ten minutes later a job arrives: it takes the ready one, no launch.
    s.advance(10 * MINUTE_MS);
    let job = s.queue(1);
    let taken = s.run(Command::ClaimJobs(vec![job]));
    assert_eq!(Scenario::names(&taken), ["warm.taken"]);
    let idle_cost = Micros::for_duration(Micros(PRICE), 10 * MINUTE_MS);
    assert_eq!(
        taken[0],
        Event::WarmTaken(WarmTaken { job, instance: warm[0].clone(), warm_cost: Some(idle_cost) })
    );
    assert_eq!(s.job(1).status, JobStatus::Starting);
    assert_eq!(s.job(1).instance.as_deref(), Some(warm[0].as_str()));
    // Its runner registers now, for this job, and the job starts.
    let registered = s.run(Command::RunnerRegistered { instance: warm[0].clone(), runner_id: 7 });
    assert_eq!(Scenario::names(&registered), ["instance.registered", "job.started"]);

    // The taken one is replaced.
    assert_eq!(fill(&mut s, 3).len(), 1, "a replacement");

    // The job runs 20 minutes; its cost counts from the take, the idle time is the pool's.
    s.advance(20 * MINUTE_MS);
    s.run(completed(1, "success", Some(&runner_name(&warm[0]))));
    s.run(Command::ReapInstance { instance: warm[0].clone(), reason: ReapReason::JobEnded });
    assert_eq!(s.job(1).cost, Some(Micros::for_duration(Micros(PRICE), 20 * MINUTE_MS)));
    let window = Window::last_days(s.now, 1);
    let by_pool = s.state.stats(window, GroupBy::Pool, None, s.now);
    let pool_row = by_pool.get(&GroupKey::Pool(POOL)).expect("the pool's row");
    let settled = s.state.rollups.sum(window, GroupBy::Pool, None);
    assert_eq!(
        settled.get(&GroupKey::Pool(POOL)).map(|c| c.warm_cost),
        Some(idle_cost),
        "settled at the take"
    );
    assert_eq!(
        pool_row.cost,
        Micros::for_duration(Micros(PRICE), 20 * MINUTE_MS),
        "warm time is not the job's"
    );
    assert_eq!(pool_row.runner_ms, 20 * MINUTE_MS, "runner time from the take");
    // The second warm instance (30 minutes) and the replacement (20) are still idle: their warm
    // cost is a running estimate, in the stats too.
    let idle: Vec<_> = s.state.pending_warm_costs(s.now).map(|(i, cost)| (i.id.to_string(), cost)).collect();
    assert_eq!(idle[0], (warm[1].clone(), Micros::for_duration(Micros(PRICE), 30 * MINUTE_MS)));
    assert_eq!(pool_row.warm_cost, idle_cost + Micros::for_duration(Micros(PRICE), 50 * MINUTE_MS));
    let by_repo = s.state.stats(window, GroupBy::Repo, None, s.now);
    assert!(by_repo.values().all(|c| c.warm_cost == Micros::ZERO), "no repo's");
}

#[test]
fn warm_capacity_stays_within_the_cap_and_waits_while_jobs_wait_for_launches() {
    let mut s = Scenario::standard();
    let cap = s.state.config.pool(POOL).map(|p| p.spec.cap).unwrap_or_default();
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(cap)) });
    // Every slot but two taken by jobs launched cold.
    for id in 1..=u64::from(cap) - 2 {
        s.queue(id);
        s.launch(id, &format!("i-c{id:015}"));
    }
    assert_eq!(fill(&mut s, 1).len(), 2, "what the cap leaves");
    // A job waiting for a launch holds warm launches back (it takes one, and comes first).
    let mut s2 = Scenario::standard();
    s2.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(2)) });
    s2.queue(1);
    assert!(warm_launches(&s2.state, s2.now, &BTreeMap::new()).is_empty());
    // Jobs that can take an idle warm instance are planned whatever the launch slots: as many
    // as the pool holds idle.
    let mut s4 = Scenario::standard();
    s4.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(2)) });
    fill(&mut s4, 1);
    let jobs: Vec<JobId> = (1..=3).map(|id| s4.queue(id)).collect();
    assert_eq!(plan_warm_takes(&s4.state, s4.now), jobs[..2]);
    // A warm launch in flight is not seen by claims: a job launched cold meanwhile leaves the
    // pool over its cap once the launch is recorded. Jobs then wait rather than take it, and
    // the idle surplus is recycled.
    let mut s5 = Scenario::standard();
    s5.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(2)) });
    for id in 1..=u64::from(cap) - 2 {
        s5.queue(id);
        s5.launch(id, &format!("i-c{id:015}"));
    }
    let plan = warm_launches(&s5.state, s5.now, &BTreeMap::new());
    assert_eq!(plan.iter().map(|p| p.count).collect::<Vec<_>>(), [2]);
    s5.queue(100);
    s5.launch(100, "i-c000000000000100");
    let in_flight = BTreeMap::from([((POOL, false), 2)]);
    assert!(warm_launches(&s5.state, s5.now, &in_flight).is_empty(), "the launch in flight covers the room");
    s5.run(Command::RecordWarmLaunch {
        pool: POOL,
        launched: ["i-w000000000000001", "i-w000000000000002"].iter().map(|id| warm_instance(id)).collect(),
        template_version: s5.state.template(POOL).map_or(0, |t| t.version),
        stopped: false,
        reason: "fixed: 2 hot, 0 stopped".into(),
    });
    let (last, over) = (s5.queue(101), s5.queue(102));
    assert_eq!(plan_warm_takes(&s5.state, s5.now), [last], "one takes the last slot, the other waits");
    assert_eq!(Scenario::names(&s5.run(Command::ClaimJobs(vec![last, over]))), ["warm.taken"]);
    assert_eq!(
        explain(&s5.state, s5.state.jobs.get(over).expect("job"), s5.now),
        WaitReason::PoolCapFull { active: cap, cap }
    );
    assert_eq!(warm_recycling(&s5.state, s5.now).len(), 1, "the idle surplus goes");
    // Launches in flight count.
    let mut s3 = Scenario::standard();
    s3.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(3)) });
    let plans = warm_launches(&s3.state, s3.now, &BTreeMap::from([((POOL, false), 2)]));
    assert_eq!(plans.iter().map(|p| p.count).collect::<Vec<_>>(), [1]);
}

#[test]
fn idle_warm_instances_are_recycled_by_age_template_and_target() {
    let mut s = Scenario::standard();
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(3)) });
    let first = fill(&mut s, 1);
    assert!(warm_recycling(&s.state, s.now).is_empty());
    assert!(surplus_instances(&s.state).is_empty(), "idle warm instances are not surplus");

    // The pool's template moves on: all three are outdated.
    s.run(Command::RecordTemplate { pool: POOL, template: template("lt-0001", 2) });
    let reasons: Vec<_> =
        warm_recycling(&s.state, s.now).into_iter().map(|(i, r)| (i.id.to_string(), r)).collect();
    assert_eq!(reasons, first.iter().map(|id| (id.clone(), ReapReason::WarmOutdated)).collect::<Vec<_>>());
    for id in &first {
        s.run(Command::ReapInstance { instance: id.clone(), reason: ReapReason::WarmOutdated });
    }
    let second = fill(&mut s, 4);
    assert_eq!(second.len(), 3, "replaced from the new template");

    // Past the max age: expired.
    s.advance(61 * MINUTE_MS);
    assert!(warm_recycling(&s.state, s.now).iter().all(|(_, r)| *r == ReapReason::WarmExpired));
    for id in &second {
        s.run(Command::ReapInstance { instance: id.clone(), reason: ReapReason::WarmExpired });
    }
    let third = fill(&mut s, 7);

    // The target drops to one: the two oldest go.
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(1)) });
    let surplus: Vec<_> =
        warm_recycling(&s.state, s.now).into_iter().map(|(i, r)| (i.id.to_string(), r)).collect();
    assert_eq!(
        surplus,
        third[..2].iter().map(|id| (id.clone(), ReapReason::WarmSurplus)).collect::<Vec<_>>()
    );

    // Switched off: all go. The warm cost of instances no job took settles when they end:
    // the second three waited 61 minutes each, the first of the third 30.
    s.run(Command::SetPoolWarm { pool: POOL, warm: None });
    assert_eq!(warm_recycling(&s.state, s.now).len(), 3);
    s.advance(30 * MINUTE_MS);
    s.run(Command::ReapInstance { instance: third[0].clone(), reason: ReapReason::WarmSurplus });
    let by_pool = s.state.rollups.sum(Window::last_days(s.now, 1), GroupBy::Pool, None);
    assert_eq!(
        by_pool.get(&GroupKey::Pool(POOL)).map(|c| c.warm_cost),
        Some(Micros::for_duration(Micros(PRICE), (3 * 61 + 30) * MINUTE_MS))
    );
}

#[test]
fn a_lower_target_recycles_only_once_it_has_held_for_the_scale_down_delay() {
    let mut s = Scenario::standard();
    let minute = (s.now.millis() / MINUTE_MS).rem_euclid(24 * 60) as u16;
    assert!(minute + 30 <= 24 * 60, "the window fits in the day");
    // Two hot instances for the next 30 minutes, none after.
    let window =
        WarmWindow { days: 0b111_1111, from_minute: minute, to_minute: minute + 30, counts: counts(2, 0) };
    let sizing = WarmSizing::Schedule { zone: "UTC".into(), windows: vec![window], otherwise: counts(0, 0) };
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(WarmSpec { sizing, max_age_minutes: 120 }) });
    let held = fill(&mut s, 1);
    assert_eq!(held.len(), 2);

    s.advance(30 * MINUTE_MS);
    let status = warm_status(&s.state, s.state.config.pool(POOL).expect("pool"), s.now).expect("warm");
    assert_eq!(status.wanted, counts(0, 0), "the window has ended");
    s.advance(WARM_SCALE_DOWN_DELAY_MS - MINUTE_MS);
    assert!(
        warm_recycling(&s.state, s.now).is_empty(),
        "kept while the lower target is younger than the delay"
    );
    s.advance(MINUTE_MS);
    let recycled: Vec<_> =
        warm_recycling(&s.state, s.now).into_iter().map(|(i, r)| (i.id.to_string(), r)).collect();
    assert_eq!(recycled, held.iter().map(|id| (id.clone(), ReapReason::WarmSurplus)).collect::<Vec<_>>());
}

#[test]
fn a_warm_instance_recycled_just_after_a_job_took_it_sends_the_job_back_to_the_queue() {
    let mut s = Scenario::standard();
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(1)) });
    let warm = fill(&mut s, 1);
    // The reaper looked while the instance was idle and past its age; a job takes it before the
    // reaper's terminate call, which it cannot take back.
    let job = s.queue(1);
    assert_eq!(Scenario::names(&s.run(Command::ClaimJobs(vec![job]))), ["warm.taken"]);
    let reaped = s.run(Command::ReapInstance { instance: warm[0].clone(), reason: ReapReason::WarmExpired });
    assert_eq!(
        reaped,
        [
            Event::InstanceReaped(InstanceReaped {
                instance: warm[0].clone(),
                job: None,
                reason: ReapReason::WarmExpired
            }),
            Event::JobInstanceReassigned(JobInstanceReassigned { job, instance: None }),
        ]
    );
    let back = s.job(1);
    assert_eq!((back.status, back.instance.as_deref(), back.generation), (JobStatus::Queued, None, 1));
    // Claimed again, it launches under a new generation (a new client token).
    let claimed = s.run(Command::ClaimJobs(vec![job]));
    assert_eq!(Scenario::names(&claimed), ["job.claimed"]);
}

#[test]
fn a_warm_instance_whose_bootstrap_fails_is_done_and_torn_down() {
    let mut s = Scenario::standard();
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(hot(1)) });
    let warm = fill(&mut s, 1);
    s.run(Command::RunnerBootstrap { instance: warm[0].clone(), pool: POOL, launched_at: s.now });
    let errored = s.run(Command::RunnerErrored {
        instance: warm[0].clone(),
        stage: "user_data_extra".into(),
        exit_code: 2,
        line: 40,
        log_tail: "apt failed".into(),
    });
    assert_eq!(Scenario::names(&errored), ["warm.errored"]);
    assert!(errored[0].ends_instance_work());
    let finished: Vec<_> = finished_instances(&s.state).iter().map(|i| i.id.to_string()).collect();
    assert_eq!(finished, warm);
    assert_eq!(fill(&mut s, 2).len(), 1, "replaced");
    // A job never takes it.
    let job = s.queue(1);
    let taken = s.run(Command::ClaimJobs(vec![job]));
    assert_eq!(
        taken,
        [Event::WarmTaken(WarmTaken {
            job,
            instance: "i-w000000000000002".into(),
            warm_cost: Some(Micros::ZERO)
        })]
    );
}

#[test]
fn stopped_capacity_is_stopped_once_ready_and_started_for_the_job_that_takes_it() {
    let mut s = Scenario::standard();
    let spec = WarmSpec { sizing: WarmSizing::Fixed(counts(1, 2)), max_age_minutes: 600 };
    s.run(Command::SetPoolWarm { pool: POOL, warm: Some(spec) });
    let hot = fill(&mut s, 1);
    let stopped = fill(&mut s, 2);
    assert_eq!((hot.len(), stopped.len()), (1, 2), "one hot, then two for stopped capacity");
    assert!(fill(&mut s, 10).is_empty());
    // Ready after 3 minutes: Pacer stops them; a running one of hot capacity is not stopped.
    s.advance(3 * MINUTE_MS);
    for id in &stopped {
        s.run(Command::RunnerBootstrap { instance: id.clone(), pool: POOL, launched_at: s.now });
        assert_eq!(
            Scenario::names(&s.run(Command::RecordWarmStop { instance: id.clone() })),
            ["warm.stopped"]
        );
    }
    assert!(s.when(Command::RecordWarmStop { instance: hot[0].clone() }).is_err());
    assert!(s.when(Command::RecordWarmStop { instance: stopped[0].clone() }).is_err(), "stopped already");

    // An hour later: stopped instances cost nothing while stopped.
    s.advance(HOUR_MS);
    let idle: BTreeMap<String, Micros> =
        s.state.pending_warm_costs(s.now).map(|(i, c)| (i.id.to_string(), c)).collect();
    assert_eq!(idle[&stopped[0]], Micros::for_duration(Micros(PRICE), 3 * MINUTE_MS));
    assert_eq!(idle[&hot[0]], Micros::for_duration(Micros(PRICE), 63 * MINUTE_MS));

    // Two jobs: the first takes the hot one, the second a stopped one, which must be started.
    let first = s.queue(1);
    let second = s.queue(2);
    let taken = s.run(Command::ClaimJobs(vec![first, second]));
    let took: Vec<(JobId, String)> = taken
        .iter()
        .filter_map(|e| match e {
            Event::WarmTaken(t) => Some((t.job, t.instance.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(took, [(first, hot[0].clone()), (second, stopped[0].clone())]);
    let needing: Vec<_> =
        s.state.instances.iter().filter(|i| i.needs_start()).map(|i| i.id.to_string()).collect();
    assert_eq!(needing, [stopped[0].clone()]);
    let started = s.run(Command::RecordWarmStart { instance: stopped[0].clone(), outcome: Ok(()) });
    assert_eq!(started, [Event::WarmStarted(WarmStarted { instance: stopped[0].clone(), job: second })]);
    assert!(s.state.instances.iter().all(|i| !i.needs_start()));
    // Booted again, its runner registers for the job.
    let registered = s.run(Command::RunnerRegistered { instance: stopped[0].clone(), runner_id: 9 });
    assert_eq!(Scenario::names(&registered), ["instance.registered", "job.started"]);

    // The third job takes the other stopped one, but EC2 will not start it: the job goes back
    // to the queue and the instance is torn down.
    let third = s.queue(3);
    s.run(Command::ClaimJobs(vec![third]));
    assert_eq!(s.job(3).instance.as_deref(), Some(stopped[1].as_str()));
    let error = LaunchError::new("InsufficientInstanceCapacity", "none left");
    let failed = s.run(Command::RecordWarmStart { instance: stopped[1].clone(), outcome: Err(error) });
    assert_eq!(Scenario::names(&failed), ["warm.start_failed"]);
    assert_eq!(s.job(3).status, JobStatus::Queued);
    assert!(finished_instances(&s.state).iter().any(|i| *i.id == *stopped[1]));
    assert!(s.when(Command::RecordWarmStart { instance: stopped[1].clone(), outcome: Ok(()) }).is_err());
}
