//! The crash test's child process: appends to the RocksDB log in the given directory until it
//! is killed, printing `ok <first seq> <count>` after every acknowledged append.

use pacer_domain::{Actor, Event, EventName, HealthChanged, JobId, JobQueued, PoolId, ProjectId, Timestamp};
use pacer_store::{Batch, EventLog, RocksLog};
use std::io::Write;

fn queued(n: u64) -> Event {
    Event::JobQueued(JobQueued {
        job: JobId(n),
        delivery_id: format!("delivery-{n}"),
        github_job_id: 7_000_000_000 + n,
        run_id: n,
        run_attempt: 1,
        installation_id: Some(1),
        repo: "octo/hello".into(),
        workflow: "CI".into(),
        job_name: "build".into(),
        branch: "main".into(),
        sha: "d6fde92930d4715a2b49857d24b940956b26d2d3".into(),
        sender: "octocat".into(),
        labels: vec!["self-hosted".into()],
        html_url: String::new(),
        project: ProjectId(1),
        pool: PoolId(1),
        recovered: false,
    })
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: crash_appender DIR");
        std::process::exit(2);
    };
    let log = match RocksLog::open(std::path::Path::new(&dir)) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("open: {e}");
            std::process::exit(1);
        }
    };
    let start = log.last_seq();
    let mut stdout = std::io::stdout().lock();
    for i in start.. {
        let mut events: Vec<Event> = (0..1 + i % 7).map(|j| queued(i * 10 + j)).collect();
        events.push(Event::HealthChanged(HealthChanged {
            component: EventName::JobQueued.as_str().into(),
            ok: true,
            message: String::new(),
        }));
        let mut batch = Batch::of(Timestamp::from_millis(1_790_000_000_000), Actor::GitHub, events);
        batch.keys = vec![format!("delivery:{i}")];
        match log.append(batch) {
            Ok(receipt) => {
                let _ = writeln!(stdout, "ok {} {}", receipt[0].seq, receipt.len());
                let _ = stdout.flush();
            }
            Err(e) => {
                eprintln!("append: {e}");
                std::process::exit(1);
            }
        }
    }
}
