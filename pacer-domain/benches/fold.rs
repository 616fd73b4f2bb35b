//! The pure core's throughput, without I/O (BENCHMARKS.md, issue 2): folding synthetic job
//! lifecycles (`State::evolve`, events/s; goal ≥ 1 M/s) at two state sizes, and the decider's
//! CPU per webhook (`decide` + `evolve` of a queued `workflow_job`, commands/s), which bounds
//! what one decider thread can ingest before any fsync.
//!
//! A plain `main` (`harness = false`; criterion is not a dependency of this crate), best and
//! median of several rounds, printed as one line per measurement.
//! Run: `cargo bench --workspace --locked --bench fold`.

use pacer_domain::{
    Actor, Command, Event, Recorded, State, Timestamp, WebhookPayload, WorkflowJobHook, decide,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../../pacer-store/examples/synthetic/mod.rs"]
mod synthetic;

/// Rounds per measurement.
const ROUNDS: usize = 5;

/// Best and median of `rounds` timings of `run`.
fn time(rounds: usize, mut run: impl FnMut() -> Duration) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..rounds).map(|_| run()).collect();
    times.sort();
    (times[0], times[times.len() / 2])
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn fold(jobs: u64) {
    let records = synthetic::job_lifecycles(jobs);
    let count = records.len() as u64;
    let (best, median) = time(ROUNDS, || {
        let started = Instant::now();
        let state = State::fold(&records);
        let elapsed = started.elapsed();
        black_box(&state);
        drop(state);
        elapsed
    });
    println!(
        "fold/{jobs}_jobs: {count} records, median {:.1} ms = {:.2} M events/s (best {:.2} M/s)",
        median.as_secs_f64() * 1e3,
        per_second(count, median) / 1e6,
        per_second(count, best) / 1e6,
    );
}

/// A queued `workflow_job` webhook for one of the synthetic config's 40 bound repos.
fn queued(n: u64) -> Command {
    let repo = n % 40;
    Command::Webhook {
        delivery_id: format!("bench-delivery-{n}"),
        payload: WebhookPayload::WorkflowJob(Box::new(WorkflowJobHook {
            action: "queued".into(),
            github_job_id: 30_000_000_000 + n,
            run_id: 40_000_000_000 + n / 4,
            run_attempt: 1,
            installation_id: Some(4242),
            repo: format!("acme/repo-{repo}"),
            workflow: "CI".into(),
            job_name: format!("test ({})", n % 5),
            branch: "main".into(),
            sha: "d6fde92930d4715a2b49857d24b940956b26d2d3".into(),
            sender: format!("dev-{}", n % 200),
            labels: vec!["self-hosted".into()],
            html_url: format!("https://github.com/acme/repo-{repo}/actions/runs/{n}/job/{n}"),
            conclusion: None,
            runner_name: None,
            created_at: None,
            started_at: None,
            completed_at: None,
            sender_type: String::new(),
        })),
    }
}

/// `decide` + `evolve` of `commands` queued webhooks on a state that already holds `retained`
/// finished jobs, as the decider thread does them (minus the append).
fn decide_webhooks(retained: u64, commands: u64) {
    let base = State::fold(&synthetic::job_lifecycles(retained));
    let mut queued_events = 0u64;
    let (best, median) = time(ROUNDS, || {
        let mut state = base.clone();
        let mut now = Timestamp(state.last_at.millis() + 1_000);
        let started = Instant::now();
        for n in 0..commands {
            now = Timestamp(now.millis() + 1);
            let events = decide(&state, queued(n), now).expect("a webhook is never refused");
            for event in events {
                if matches!(event, Event::JobQueued(_)) {
                    queued_events += 1;
                }
                let record = Recorded {
                    seq: state.last_seq + 1,
                    at: now,
                    actor: Actor::GitHub,
                    request_id: None,
                    event,
                };
                state.evolve(&record);
            }
        }
        let elapsed = started.elapsed();
        black_box(&state);
        elapsed
    });
    assert_eq!(queued_events, commands * ROUNDS as u64, "every webhook routes to a pool");
    println!(
        "decide_webhook/{retained}_retained: {commands} queued webhooks, median {:.1} ms = {:.0} k commands/s (best {:.0} k/s)",
        median.as_secs_f64() * 1e3,
        per_second(commands, median) / 1e3,
        per_second(commands, best) / 1e3,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        fold(1_000);
        decide_webhooks(1_000, 1_000);
        return;
    }
    fold(20_000);
    fold(200_000);
    decide_webhooks(0, 100_000);
    decide_webhooks(200_000, 100_000);
}
