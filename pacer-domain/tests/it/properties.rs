//! Property tests: folding is deterministic; folding in chunks through a snapshot equals folding
//! whole (prunes of the log included); random interleavings of duplicate, late and out-of-order
//! webhooks with dispatcher, runner and reaper activity never create a second job for one GitHub
//! job id, never move a terminal job, and keep caps, instances and jobs consistent.

use crate::support::*;
use pacer_domain::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Step {
    Hook { id: u64, action: u8, conclusion: u8, runner: u8, delivery: u8 },
    Dispatch { limit: u8 },
    Launch { nth: u8, outcome: u8, instance: u8 },
    Register { instance: u8 },
    RunnerError { instance: u8 },
    Observe { instance: u8 },
    Reap { instance: u8 },
    Expire,
    Advance { seconds: u16 },
    Prune { back: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..6, 0u8..3, 0u8..4, 0u8..5, 0u8..3)
            .prop_map(|(id, action, conclusion, runner, delivery)| Step::Hook { id, action, conclusion, runner, delivery }),
        2 => (1u8..4).prop_map(|limit| Step::Dispatch { limit }),
        2 => (0u8..4, 0u8..4, 0u8..4).prop_map(|(nth, outcome, instance)| Step::Launch { nth, outcome, instance }),
        1 => (0u8..4).prop_map(|instance| Step::Register { instance }),
        1 => (0u8..4).prop_map(|instance| Step::RunnerError { instance }),
        1 => (0u8..4).prop_map(|instance| Step::Observe { instance }),
        1 => (0u8..4).prop_map(|instance| Step::Reap { instance }),
        1 => Just(Step::Expire),
        1 => (1u16..400).prop_map(|seconds| Step::Advance { seconds }),
    ]
}

/// [`step`]s and now and then a prune of the log up to `back` records before its end (the
/// other properties leave prunes out: a webhook for an evicted job queues it again).
fn step_or_prune() -> impl Strategy<Value = Step> {
    prop_oneof![9 => step(), 1 => (0u8..8).prop_map(|back| Step::Prune { back })]
}

fn instance(n: u8) -> String {
    format!("i-{:016x}", u64::from(n) + 1)
}

fn command(s: &Scenario, step: &Step, launches: &mut u8) -> Option<Command> {
    Some(match *step {
        Step::Hook { id, action, conclusion, runner, delivery } => {
            let action = ["queued", "in_progress", "completed"][action as usize];
            let mut h = hook(action, id, "octo/hello", &["self-hosted"]);
            h.conclusion = Some(["success", "failure", "cancelled", "skipped"][conclusion as usize].into());
            h.runner_name = (runner < 4).then(|| runner_name(&instance(runner)));
            webhook(&format!("d-{id}-{action}-{delivery}"), h)
        }
        Step::Dispatch { limit } => Command::ClaimJobs(plan_claims(&s.state, s.now, limit as usize)),
        Step::Launch { nth, outcome, instance: n } => {
            let job = s.state.jobs.in_status(JobStatus::Claimed).nth(nth as usize)?;
            let outcome = match outcome {
                0 | 1 => {
                    *launches += 1;
                    // EC2 never hands out an instance id twice: launches are numbered apart.
                    let id = 100 + 4 * u64::from(*launches) + u64::from(n);
                    launched(&format!("i-{id:016x}"), Some(50_000))
                }
                2 => launch_failed("InsufficientInstanceCapacity"),
                _ => launch_failed("RequestLimitExceeded"),
            };
            Command::RecordLaunch { job: job.id, attempt: job.attempts + 1, outcome }
        }
        Step::Register { instance: n } => {
            let id = s.state.instances.iter().nth(n as usize)?.id.to_string();
            Command::RunnerRegistered { instance: id, runner_id: 1 }
        }
        Step::RunnerError { instance: n } => {
            let id = s.state.instances.iter().nth(n as usize)?.id.to_string();
            Command::RunnerErrored {
                instance: id,
                stage: "register".into(),
                exit_code: 1,
                line: 3,
                log_tail: "x".into(),
            }
        }
        Step::Observe { instance: n } => {
            let id = s.state.instances.iter().nth(n as usize)?.id.to_string();
            Command::ObserveInstances(vec![Observation {
                instance: id,
                alive: false,
                state: "terminated".into(),
                reason: String::new(),
            }])
        }
        Step::Reap { instance: n } => {
            let id = s.state.instances.iter().nth(n as usize)?.id.to_string();
            Command::ReapInstance { instance: id, reason: ReapReason::MaxRuntime }
        }
        Step::Expire => Command::ExpireClaims,
        Step::Advance { .. } => return None,
        Step::Prune { back } => Command::RecordPrune {
            last_seq: s.state.last_seq.checked_sub(u64::from(back))?,
            through: s.now,
            archive: None,
        },
    })
}

/// Runs the steps; returns every record appended.
fn play(steps: &[Step], mut check: impl FnMut(&Scenario, &[Event])) -> (Scenario, Vec<Recorded>) {
    let mut s = Scenario::standard();
    let mut records = Vec::new();
    let mut launches = 0;
    for step in steps {
        if let Step::Advance { seconds } = step {
            s.advance(i64::from(*seconds) * 1_000);
            continue;
        }
        let Some(command) = command(&s, step, &mut launches) else { continue };
        let Ok(events) = s.when(command) else { continue };
        for event in events.clone() {
            let record = Recorded {
                seq: s.state.last_seq + 1,
                at: s.now,
                actor: Actor::System,
                request_id: None,
                event,
            };
            s.state.evolve(&record);
            records.push(record);
        }
        check(&s, &events);
    }
    (s, records)
}

fn consistent(s: &Scenario) {
    let state = &s.state;
    // Active counts equal a recount.
    let mut per_pool: BTreeMap<PoolId, u32> = BTreeMap::new();
    for job in state.jobs.iter().filter(|j| j.status.is_active()) {
        *per_pool.entry(job.pool).or_default() += 1;
    }
    for (pool, count) in &per_pool {
        assert_eq!(state.jobs.active().in_pool(*pool), *count, "active count of {pool}");
    }
    // Every starting job waits for a live instance assigned to it; instances point back.
    for job in state.jobs.in_status(JobStatus::Starting) {
        let id = job.instance.as_deref().expect("starting jobs have an instance");
        let instance = state.instances.get(id).expect("their instance is live");
        assert_eq!(instance.job, Some(job.id), "{id} assigned to {}", job.id);
    }
    for instance in state.instances.iter() {
        if let Some(job) = instance.job.and_then(|j| state.jobs.get(j))
            && !job.status.is_terminal()
        {
            assert_eq!(job.instance.as_deref(), Some(&*instance.id), "{} points back", job.id);
        }
    }
    assert_eq!(state.anomaly_count, 0, "anomalies: {:?}", state.anomalies);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn webhooks_never_duplicate_jobs_nor_move_terminal_ones(steps in prop::collection::vec(step(), 1..80)) {
        let mut terminal: BTreeMap<u64, JobStatus> = BTreeMap::new();
        let mut queued_per_github: BTreeMap<u64, u32> = BTreeMap::new();
        play(&steps, |s, events| {
            for event in events {
                if let Event::JobQueued(q) = event {
                    *queued_per_github.entry(q.github_job_id).or_default() += 1;
                }
            }
            for job in s.state.jobs.iter() {
                if let Some(before) = terminal.get(&job.github_job_id) {
                    assert_eq!(job.status, *before, "terminal job {} moved", job.id);
                } else if job.status.is_terminal() {
                    terminal.insert(job.github_job_id, job.status);
                }
            }
            consistent(s);
        });
        for (github, count) in queued_per_github {
            prop_assert_eq!(count, 1, "github job {} queued {} times", github, count);
        }
    }

    #[test]
    fn every_instance_is_billed_once_to_one_job(steps in prop::collection::vec(step(), 1..80)) {
        let (s, records) = play(&steps, |_, _| {});
        // What the instances cost, from the log: price × (end − launch) of each that ended.
        let mut launched: BTreeMap<&str, (Timestamp, Option<PriceQuote>)> = BTreeMap::new();
        let mut ended = Micros::ZERO;
        for r in &records {
            let end = match &r.event {
                Event::JobSpawnLaunched(l) => {
                    launched.insert(&l.instance.instance_id, (r.at, l.price));
                    continue;
                }
                Event::InstanceTerminated(e) => &e.instance,
                Event::InstanceLost(e) => &e.instance,
                Event::InstanceReaped(e) => &e.instance,
                _ => continue,
            };
            if let Some((at, Some(quote))) = launched.get(end.as_str()) {
                ended += Micros::for_duration(quote.per_hour, r.at.millis_since(*at));
            }
        }
        let settled = s.state.jobs.iter().filter_map(|j| j.cost).fold(Micros::ZERO, |a, b| a + b);
        prop_assert_eq!(settled, ended, "the jobs' settled costs are the ended instances' costs");
        let terminal = s.state.jobs.iter().filter(|j| j.status.is_terminal());
        let of_ended_jobs = terminal.filter_map(|j| j.cost).fold(Micros::ZERO, |a, b| a + b);
        let window = Window::custom(T0.plus_millis(-DAY_MS), s.now.plus_millis(DAY_MS));
        prop_assert_eq!(s.state.rollups.total(window, None).cost, of_ended_jobs, "the roll-ups hold the ended jobs'");
        // With the running estimates, the stats hold every instance billed to an ended job.
        let live: Micros = s
            .state
            .instances
            .iter()
            .filter(|i| i.bill_to.and_then(|b| s.state.jobs.get(b)).is_some_and(|j| j.status.is_terminal()))
            .filter_map(|i| i.cost_until(s.now))
            .fold(Micros::ZERO, |a, b| a + b);
        prop_assert_eq!(s.state.stats_total(window, None, s.now).cost, of_ended_jobs + live);
    }

    #[test]
    fn folding_is_deterministic_and_chunked_folds_equal_whole_ones(
        steps in prop::collection::vec(step_or_prune(), 1..60),
        cut in 0usize..200,
    ) {
        let (_, records) = play(&steps, |_, _| {});
        let base = Scenario::standard().state;
        let fold_from = |mut state: State, records: &[Recorded]| {
            for r in records {
                state.evolve(r);
            }
            state
        };
        let whole = fold_from(base.clone(), &records);
        prop_assert_eq!(&whole, &fold_from(base.clone(), &records), "deterministic");
        let cut = cut.min(records.len());
        let first = fold_from(base, &records[..cut]);
        // Through a snapshot: encode, decode, continue.
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&first, config).expect("encode");
        let (mut restored, _): (State, usize) = bincode::serde::decode_from_slice(&bytes, config).expect("decode");
        // The jobs travel on their own (see `State::jobs`).
        let bytes = bincode::serde::encode_to_vec(&first.jobs, config).expect("encode jobs");
        (restored.jobs, _) = bincode::serde::decode_from_slice(&bytes, config).expect("decode jobs");
        prop_assert_eq!(&restored, &first);
        prop_assert_eq!(fold_from(restored, &records[cut..]), whole);
    }
}
