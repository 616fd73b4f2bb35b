//! Projections: job paging and filters, overview counts, stats roll-ups fed by job ends.

use crate::support::*;
use pacer_domain::*;

#[test]
fn jobs_page_newest_first_with_filters_and_totals() {
    let mut s = Scenario::standard();
    for id in 1..=7 {
        s.queue(id);
    }
    s.run(webhook("g", hook("queued", 8, "octo/hello", &["self-hosted", "gpu"])));
    s.run(completed(1, "success", None));
    s.run(completed(2, "failure", None));
    let all = s.state.jobs.page(&JobFilter::default(), None, 3);
    assert_eq!(all.jobs.iter().map(|j| j.id.0).collect::<Vec<_>>(), [8, 7, 6]);
    assert_eq!((all.total, all.has_more), (8, true));
    let next = s.state.jobs.page(&JobFilter::default(), Some(JobId(6)), 10);
    assert_eq!(next.jobs.iter().map(|j| j.id.0).collect::<Vec<_>>(), [5, 4, 3, 2, 1]);
    assert!(!next.has_more);

    let ended = JobFilter { statuses: vec![JobStatus::Failed, JobStatus::Completed], ..JobFilter::default() };
    let page = s.state.jobs.page(&ended, None, 1);
    assert_eq!((page.jobs[0].id, page.total, page.has_more), (JobId(2), 2, true));

    let gpu = JobFilter { pool: Some(PoolId(2)), ..JobFilter::default() };
    assert_eq!(s.state.jobs.page(&gpu, None, 10).total, 1);
    let queued_default =
        JobFilter { statuses: vec![JobStatus::Queued], pool: Some(PoolId(1)), ..JobFilter::default() };
    let page = s.state.jobs.page(&queued_default, None, 2);
    assert_eq!((page.total, page.jobs.len()), (5, 2));
    let sender = s.state.strings.get("octocat").expect("interned");
    let by_sender = JobFilter { sender: Some(sender), ..JobFilter::default() };
    assert_eq!(s.state.jobs.page(&by_sender, None, 100).total, 8);
}

#[test]
fn stats_follow_job_ends() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.launch(1, "i-0000000000000001");
    s.run(in_progress(&s, 1, "pacer-i-0000000000000001"));
    s.advance(10 * MINUTE_MS);
    s.run(completed(1, "success", Some("pacer-i-0000000000000001")));
    s.queue(2);
    s.launch(2, "i-0000000000000002");
    s.run(completed(2, "failure", None));
    s.queue(3);
    s.run(Command::ClaimJobs(vec![JobId(3)]));
    s.run(Command::RecordLaunch { job: JobId(3), attempt: 1, outcome: launched("i-0000000000000003", None) });
    s.run(completed(3, "cancelled", None));
    for instance in ["i-0000000000000001", "i-0000000000000002", "i-0000000000000003"] {
        s.run(Command::ReapInstance { instance: instance.into(), reason: ReapReason::JobEnded });
    }
    let window = Window::last_days(s.now, 7);
    let total = s.state.rollups.total(window, None);
    assert_eq!((total.jobs, total.completed, total.failed, total.cancelled), (3, 1, 1, 1));
    // Job 1 ran 10 minutes after its launch, the others ended at their launch.
    assert_eq!(total.runner_ms, 10 * MINUTE_MS);
    assert_eq!(total.unpriced, 1);
    assert_eq!(total.cost, Micros::for_duration(Micros(96_000), 10 * MINUTE_MS));
    let by_repo = s.state.rollups.sum(window, GroupBy::Repo, None);
    let repo = s.state.strings.get("octo/hello").expect("interned");
    assert_eq!(by_repo.get(&GroupKey::Repo(repo)).map(|c| c.jobs), Some(3));
    let today = s.now.day();
    let series = s.state.rollups.daily_totals(today, today + 1, None);
    assert_eq!((series[0].1.completed, series[0].1.failed_or_reaped(), series[0].1.cancelled), (1, 1, 1));
}

#[test]
fn a_job_id_far_past_the_next_is_an_anomaly() {
    let mut s = Scenario::standard();
    let queued = s.run(webhook("d-1", hook("queued", 1, "octo/hello", &["self-hosted"])));
    let Some(Event::JobQueued(mut far)) = queued.into_iter().next() else { panic!("a queued job") };
    far.job = JobId(2 + MAX_JOB_ID_JUMP + 1);
    far.github_job_id = 99;
    s.fold(Event::JobQueued(far.clone()));
    assert_eq!((s.state.jobs.len(), s.state.anomaly_count), (1, 1), "{:?}", s.state.anomalies);
    far.job = JobId(2 + MAX_JOB_ID_JUMP);
    s.fold(Event::JobQueued(far));
    assert_eq!((s.state.jobs.len(), s.state.anomaly_count), (2, 1), "a jump up to the limit is a job");
}
