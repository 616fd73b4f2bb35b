//! Cost is the instance's: price × (terminated − launched), billed to one job, settled when the
//! instance ends (into the stats bucket of the job's end when the job ended first), a running
//! estimate to the caller's `now` until then. Runner time is job end − instance launch; jobs
//! without cost include those whose launch failed.

use crate::support::*;
use pacer_domain::*;

const PRICE: Micros = Micros(96_000);
const I1: &str = "i-00000000000000c1";
const I2: &str = "i-00000000000000c2";

fn price_for(ms: i64) -> Micros {
    Micros::for_duration(PRICE, ms)
}

fn totals(s: &Scenario) -> Counters {
    s.state.stats_total(Window::last_days(s.now, 7), None, s.now)
}

fn cost_of(s: &Scenario, github_id: u64) -> Option<JobCost> {
    s.state.job_cost(s.job(github_id), s.now)
}

fn reap(s: &mut Scenario, instance: &str, reason: ReapReason) -> Vec<Event> {
    s.run(Command::ReapInstance { instance: instance.into(), reason })
}

#[test]
fn the_cost_runs_until_the_instance_ends_and_then_settles() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.advance(1_000);
    s.launch(1, I1);
    let launched = s.now;
    assert_eq!(cost_of(&s, 1), Some(JobCost { amount: Micros::ZERO, estimated: true }));
    s.advance(30_000);
    s.run(in_progress(&s, 1, &runner_name(I1)));
    assert_eq!(cost_of(&s, 1), Some(JobCost { amount: price_for(30_000), estimated: true }), "a running job");
    s.advance(HOUR_MS);
    s.run(completed(1, "success", Some(&runner_name(I1))));
    let ended = s.now;

    // Ended, its instance still up: the stats count the job with a running estimate to `now`.
    s.advance(5 * MINUTE_MS);
    let running = price_for(s.now.millis_since(launched));
    assert_eq!(cost_of(&s, 1), Some(JobCost { amount: running, estimated: true }));
    let t = totals(&s);
    assert_eq!((t.jobs, t.completed, t.unpriced, t.cost), (1, 1, 0, running));
    assert_eq!(t.runner_ms, ended.millis_since(launched), "runner time: job end − instance launch");
    assert_eq!(
        s.state.rollups.total(Window::last_days(s.now, 7), None).cost,
        Micros::ZERO,
        "nothing settled"
    );

    // Torn down 10 minutes after the job's end: the cost settles at price × (terminated − launched).
    s.advance(5 * MINUTE_MS);
    reap(&mut s, I1, ReapReason::JobEnded);
    let settled = price_for(s.now.millis_since(launched));
    assert_eq!(settled, price_for(HOUR_MS + 30_000 + 10 * MINUTE_MS));
    assert_eq!(s.job(1).cost, Some(settled));
    s.advance(HOUR_MS);
    assert_eq!(cost_of(&s, 1), Some(JobCost { amount: settled, estimated: false }), "it no longer grows");
    assert_eq!(totals(&s).cost, settled);
    // Filed at the job's end, not at the instance's.
    let at_end = Window::custom(ended, ended.plus_millis(1));
    assert_eq!(s.state.stats_total(at_end, None, s.now).cost, settled);
    let by_repo = s.state.stats(Window::last_days(s.now, 7), GroupBy::Repo, Some(ProjectId(1)), s.now);
    assert_eq!(by_repo.values().map(|c| c.cost).collect::<Vec<_>>(), [settled]);
}

#[test]
fn an_instance_that_ends_before_its_job_is_counted_at_the_jobs_end() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    let launched = s.now;
    s.advance(20 * MINUTE_MS);
    let lost = s.run(Command::ObserveInstances(vec![Observation {
        instance: I1.into(),
        alive: false,
        state: "terminated".into(),
        reason: "Server.SpotInstanceTermination".into(),
    }]));
    assert_eq!(Scenario::names(&lost), ["instance.lost", "job.failed"]);
    let cost = price_for(s.now.millis_since(launched));
    assert_eq!(cost_of(&s, 1), Some(JobCost { amount: cost, estimated: false }));
    let t = totals(&s);
    assert_eq!((t.failed, t.cost, t.unpriced, t.runner_ms), (1, cost, 0, 20 * MINUTE_MS));

    // Max runtime: the instance is reaped and its job with it.
    s.queue(2);
    s.launch(2, I2);
    let launched = s.now;
    s.advance(61 * MINUTE_MS);
    let reaped = reap(&mut s, I2, ReapReason::MaxRuntime);
    assert_eq!(Scenario::names(&reaped), ["instance.reaped", "job.reaped"]);
    assert_eq!(s.job(2).cost, Some(price_for(s.now.millis_since(launched))));
    assert_eq!(totals(&s).cost, cost + price_for(61 * MINUTE_MS));
}

#[test]
fn jobs_without_cost_include_failed_launches_and_unpriced_instances() {
    let mut s = Scenario::standard();
    // 1: the launch fails for good.
    s.queue(1);
    s.run(Command::ClaimJobs(vec![s.job(1).id]));
    let failed = s.run(Command::RecordLaunch {
        job: s.job(1).id,
        attempt: 1,
        outcome: LaunchOutcome::Failed {
            error: LaunchError::new("InvalidAMIID.NotFound", "no such image"),
            throttle_retry_at: s.now,
            policy: RetryPolicy::default(),
        },
    });
    assert_eq!(Scenario::names(&failed), ["job.spawn_failed", "job.failed"]);
    // 2: cancelled while queued.
    s.queue(2);
    s.run(completed(2, "cancelled", None));
    // 3: ran on an instance without a price quote.
    s.queue(3);
    s.run(Command::ClaimJobs(vec![s.job(3).id]));
    s.run(Command::RecordLaunch { job: s.job(3).id, attempt: 1, outcome: launched(I1, None) });
    s.advance(MINUTE_MS);
    s.run(completed(3, "success", Some(&runner_name(I1))));
    reap(&mut s, I1, ReapReason::JobEnded);
    for id in [1, 2, 3] {
        assert_eq!(cost_of(&s, id), None, "job {id} is without cost");
    }
    let t = totals(&s);
    assert_eq!((t.jobs, t.unpriced, t.cost), (3, 3, Micros::ZERO));
    assert_eq!(t.runner_ms, MINUTE_MS, "only job 3 had an instance");
    let today = s.now.day();
    let day = s.state.rollups.daily_totals(today, today + 1, Some(ProjectId(1)))[0].1;
    assert_eq!((day.completed, day.failed_or_reaped(), day.cancelled), (1, 1, 1));
}

#[test]
fn an_instance_handed_to_another_job_bills_that_job() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    let launched = s.now;
    s.queue(2);
    s.advance(MINUTE_MS);
    // Job 1 is cancelled before its runner ran it: its instance goes to job 2, which runs there.
    let cancelled = s.run(completed(1, "cancelled", None));
    assert_eq!(Scenario::names(&cancelled), ["job.cancelled", "job.instance_reassigned"]);
    s.advance(MINUTE_MS);
    s.run(in_progress(&s, 2, &runner_name(I1)));
    s.advance(10 * MINUTE_MS);
    s.run(completed(2, "success", Some(&runner_name(I1))));
    reap(&mut s, I1, ReapReason::JobEnded);
    let whole = price_for(s.now.millis_since(launched));
    assert_eq!(
        cost_of(&s, 2),
        Some(JobCost { amount: whole, estimated: false }),
        "from the instance's launch"
    );
    assert_eq!(
        cost_of(&s, 1),
        Some(JobCost { amount: Micros::ZERO, estimated: false }),
        "priced, costs nothing"
    );
    let t = totals(&s);
    assert_eq!((t.jobs, t.unpriced, t.cost), (2, 0, whole), "the instance is counted once");
    assert_eq!(t.runner_ms, MINUTE_MS + 12 * MINUTE_MS, "each job from the launch of the instance it had");
}

#[test]
fn a_late_priced_instance_settles_on_a_job_that_ended_without_cost() {
    let mut s = Scenario::standard();
    s.queue(1);
    let job = s.job(1).id;
    s.run(Command::ClaimJobs(vec![job]));
    s.advance(CLAIM_TIMEOUT_MS + 1);
    assert_eq!(Scenario::names(&s.run(Command::ExpireClaims)), ["job.claim_expired"]);
    s.run(completed(1, "cancelled", None));
    assert_eq!(totals(&s).unpriced, 1, "ended without a price of its own");
    // The expired attempt's instance comes in late: recorded, billed to the job, taken by nobody.
    s.run(Command::RecordLaunch { job, attempt: 1, outcome: launched(I1, Some(PRICE.0)) });
    let launched = s.now;
    assert_eq!(s.state.instances.get(I1).map(|i| (i.job, i.bill_to)), Some((None, Some(job))));
    s.advance(10 * MINUTE_MS);
    assert_eq!(cost_of(&s, 1), Some(JobCost { amount: price_for(10 * MINUTE_MS), estimated: true }));
    assert_eq!(totals(&s).cost, price_for(10 * MINUTE_MS), "the running estimate counts");
    reap(&mut s, I1, ReapReason::Surplus);
    let cost = price_for(s.now.millis_since(launched));
    let t = totals(&s);
    assert_eq!((t.unpriced, t.cost), (0, cost), "the settled cost prices it");
}

#[test]
fn the_cost_an_old_job_end_recorded_is_not_what_the_fold_counts() {
    // Logs written before costs settled at the instance's end carry the estimate at the job's
    // end in `job.completed`; the fold derives the cost from the instance's times instead.
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, I1);
    s.advance(HOUR_MS);
    let done = s.when(completed(1, "success", Some(&runner_name(I1)))).expect("completed");
    let Some(Event::JobCompleted(mut c)) = done.into_iter().next() else { panic!("a completion") };
    assert_eq!(c.end.cost, Some(PRICE), "the estimate at the job's end, as recorded");
    c.end.cost = Some(Micros(1));
    s.fold(Event::JobCompleted(c));
    s.advance(HOUR_MS);
    reap(&mut s, I1, ReapReason::JobEnded);
    assert_eq!(totals(&s).cost, price_for(2 * HOUR_MS));
}
