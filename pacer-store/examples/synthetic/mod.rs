//! Synthetic job lifecycles for benchmarks: a config of 3 projects × 2 pools and 40 repos,
//! then jobs that go queued → claimed → launched → started → completed/failed → instance
//! terminated, spread over 80 days. Shared by the criterion benches and `replay_bench`, which
//! each use part of it.
#![allow(dead_code)]

use pacer_domain::*;

const DAY: i64 = 86_400_000;

fn config_events() -> Vec<Event> {
    let mut events = Vec::new();
    for p in 1..=3u64 {
        events.push(Event::ProjectCreated(ProjectCreated {
            id: ProjectId(p),
            spec: ProjectSpec { name: format!("project-{p}"), ..ProjectSpec::default() },
        }));
        for k in 0..2u64 {
            let id = PoolId(p * 2 - 1 + k);
            events.push(Event::PoolCreated(PoolCreated {
                id,
                project: ProjectId(p),
                spec: PoolSpec {
                    name: format!("pool-{k}"),
                    is_default: k == 0,
                    ami_id: "ami-0123456789abcdef0".into(),
                    instance_types: vec!["m7i.large".into()],
                    subnet_ids: vec!["subnet-0123456789abcdef0".into()],
                    cap: 10_000,
                    ..PoolSpec::default()
                },
            }));
        }
    }
    for r in 0..40u64 {
        events.push(Event::RepoBound(RepoBound {
            project: ProjectId(r % 3 + 1),
            spec: RepoSpec { full_name: format!("acme/repo-{r}"), cap: None, tags: Tags::new() },
        }));
    }
    events
}

/// The events of `jobs` complete job lifecycles over 80 days from 2026-05-28, config first.
pub fn job_events(jobs: u64) -> impl Iterator<Item = (Timestamp, Event)> {
    job_events_within(jobs, Timestamp(1_780_000_000_000), 80)
}

/// The events of `jobs` complete job lifecycles spread over `days` from `start`, config first.
pub fn job_events_within(jobs: u64, start: Timestamp, days: i64) -> impl Iterator<Item = (Timestamp, Event)> {
    let config = config_events().into_iter().map(move |e| (start, e));
    let step = (days * DAY / jobs.max(1) as i64).max(1);
    let lifecycles = (1..=jobs).flat_map(move |n| {
        let at = start.plus_millis(n as i64 * step);
        let job = JobId(n);
        let repo = n % 40;
        let project = ProjectId(repo % 3 + 1);
        let pool = PoolId(project.0 * 2 - 1);
        let instance = format!("i-{n:017x}");
        let end = JobEnd {
            job,
            conclusion: Some("success".into()),
            delivery_id: Some(format!("d-{n}-c")),
            runner_name: Some(format!("pacer-{instance}")),
            instance: Some(instance.clone()),
            cost: Some(Micros(1_600)),
            runner_ms: 55_000,
        };
        let terminal = if n % 10 == 0 {
            Event::JobFailed(JobFailed {
                end,
                stage: FailureStage::GitHub,
                message: "GitHub concluded the job: failure".into(),
            })
        } else {
            Event::JobCompleted(JobCompleted { end })
        };
        [
            Event::JobQueued(JobQueued {
                job,
                delivery_id: format!("d-{n}-q"),
                github_job_id: 20_000_000_000 + n,
                run_id: 9_000_000_000 + n / 3,
                run_attempt: 1,
                installation_id: Some(4242),
                repo: format!("acme/repo-{repo}"),
                workflow: "CI".into(),
                job_name: format!("test ({})", n % 5),
                branch: "main".into(),
                sha: "d6fde92930d4715a2b49857d24b940956b26d2d3".into(),
                sender: format!("dev-{}", n % 200),
                labels: vec!["self-hosted".into(), format!("project-{}", project.0)],
                html_url: format!("https://github.com/acme/repo-{repo}/actions/runs/{n}/job/{n}"),
                project,
                pool,
                recovered: false,
            }),
            Event::JobClaimed(JobClaimed { job, attempt: 1, market: Market::OnDemand }),
            Event::JobSpawnLaunched(JobSpawnLaunched {
                job,
                attempt: 1,
                instance: LaunchedInstance {
                    instance_id: instance.clone(),
                    instance_type: "m7i.large".into(),
                    availability_zone: "us-east-1a".into(),
                    subnet_id: "subnet-0123456789abcdef0".into(),
                    market: Market::OnDemand,
                },
                price: Some(PriceQuote { per_hour: Micros(96_000), source: PriceSource::OnDemandList }),
            }),
            Event::JobStarted(JobStarted {
                job,
                source: StartSource::Webhook,
                runner_name: Some(format!("pacer-{instance}")),
                delivery_id: Some(format!("d-{n}-p")),
            }),
            terminal,
            Event::InstanceTerminated(InstanceTerminated { instance, state: "terminated".into() }),
        ]
        .into_iter()
        .enumerate()
        .map(move |(i, e)| (at.plus_millis(i as i64 * 10), e))
    });
    config.chain(lifecycles)
}

/// `jobs` lifecycles as records with seqs from 1.
pub fn job_lifecycles(jobs: u64) -> Vec<Recorded> {
    job_events(jobs)
        .enumerate()
        .map(|(i, (at, event))| Recorded {
            seq: i as u64 + 1,
            at,
            actor: Actor::System,
            request_id: None,
            event,
        })
        .collect()
}
