//! Given/when/then for the domain: fold `given` events, decide `when` a command arrives, and
//! check `then` the events or the rejection. Fixtures for specs and webhooks.

use pacer_domain::*;

pub const T0: Timestamp = Timestamp(1_790_000_000_000);

pub struct Scenario {
    pub state: State,
    pub now: Timestamp,
}

impl Scenario {
    pub fn new() -> Self {
        Self { state: State::default(), now: T0 }
    }

    pub fn fold(&mut self, event: Event) {
        let record = Recorded {
            seq: self.state.last_seq + 1,
            at: self.now,
            actor: Actor::System,
            request_id: None,
            event,
        };
        self.state.evolve(&record);
    }

    /// Decides without folding.
    pub fn when(&self, command: Command) -> Result<Vec<Event>, Rejection> {
        decide(&self.state, command, self.now)
    }

    /// Decides and folds; panics on a rejection.
    pub fn run(&mut self, command: Command) -> Vec<Event> {
        let events = match self.when(command.clone()) {
            Ok(events) => events,
            Err(rejection) => panic!("{command:?} rejected: {rejection:?}"),
        };
        for event in events.clone() {
            self.fold(event);
        }
        events
    }

    pub fn advance(&mut self, ms: i64) {
        self.now = self.now.plus_millis(ms);
    }

    pub fn job(&self, github_job_id: u64) -> &Job {
        self.state.jobs.by_github_id(github_job_id).expect("job exists")
    }

    pub fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name().as_str()).collect()
    }

    /// A project `p` (repo scope) with a default pool `default`, a pool `gpu` and the repo
    /// `octo/hello` bound: the usual stage.
    pub fn standard() -> Self {
        let mut s = Scenario::new();
        s.run(Command::CreateProject(project("platform")));
        s.run(Command::CreatePool {
            project: ProjectId(1),
            spec: PoolSpec { is_default: true, ..pool("default") },
            template: Some(template("lt-0001", 1)),
        });
        s.run(Command::CreatePool {
            project: ProjectId(1),
            spec: PoolSpec { priority: 50, extra_labels: vec!["cuda".into()], ..pool("gpu") },
            template: Some(template("lt-0002", 1)),
        });
        s.run(Command::BindRepo { project: ProjectId(1), spec: repo("octo/hello") });
        s
    }

    /// Queues GitHub job `id` for `octo/hello` with labels `[self-hosted]`.
    pub fn queue(&mut self, id: u64) -> JobId {
        self.run(webhook(&format!("d-q-{id}"), hook("queued", id, "octo/hello", &["self-hosted"])));
        self.job(id).id
    }

    /// Claims and launches job `id` on instance `instance`.
    pub fn launch(&mut self, github_id: u64, instance: &str) -> JobId {
        let job = self.job(github_id).id;
        let claimed = self.run(Command::ClaimJobs(vec![job]));
        assert_eq!(Scenario::names(&claimed), ["job.claimed"], "claim of {job}");
        let attempt = self.job(github_id).attempts + 1;
        self.run(Command::RecordLaunch { job, attempt, outcome: launched(instance, Some(96_000)) });
        job
    }
}

pub fn project(name: &str) -> ProjectSpec {
    ProjectSpec { name: name.into(), ..ProjectSpec::default() }
}

pub fn org_project(name: &str, org: &str) -> ProjectSpec {
    ProjectSpec { name: name.into(), scope: Scope::Org, org_name: org.into(), ..ProjectSpec::default() }
}

pub fn pool(name: &str) -> PoolSpec {
    PoolSpec {
        name: name.into(),
        ami_id: "ami-0123456789abcdef0".into(),
        instance_types: vec!["m7i.large".into(), "m6i.large".into()],
        subnet_ids: vec!["subnet-0123456789abcdef0".into()],
        security_group_ids: vec!["sg-0123456789abcdef0".into()],
        ..PoolSpec::default()
    }
}

pub fn repo(full_name: &str) -> RepoSpec {
    RepoSpec { full_name: full_name.into(), ..RepoSpec::default() }
}

pub fn template(id: &str, version: u64) -> TemplateRef {
    TemplateRef { id: id.into(), version, fingerprint: format!("fp-{version}") }
}

pub fn hook(action: &str, id: u64, repo: &str, labels: &[&str]) -> WorkflowJobHook {
    WorkflowJobHook {
        action: action.into(),
        github_job_id: id,
        run_id: 5_000 + id,
        run_attempt: 1,
        installation_id: Some(42),
        repo: repo.into(),
        workflow: "CI".into(),
        job_name: "build".into(),
        branch: "main".into(),
        sha: "d6fde92930d4715a2b49857d24b940956b26d2d3".into(),
        sender: "octocat".into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        html_url: format!("https://github.com/{repo}/actions/runs/1/job/{id}"),
        conclusion: None,
        runner_name: None,
        created_at: None,
        started_at: None,
        completed_at: None,
        sender_type: String::new(),
    }
}

pub fn webhook(delivery: &str, hook: WorkflowJobHook) -> Command {
    Command::Webhook { delivery_id: delivery.into(), payload: WebhookPayload::WorkflowJob(Box::new(hook)) }
}

pub fn in_progress(s: &Scenario, id: u64, runner: &str) -> Command {
    let _ = s;
    let mut h = hook("in_progress", id, "octo/hello", &["self-hosted"]);
    h.runner_name = Some(runner.into());
    webhook(&format!("d-p-{id}-{runner}"), h)
}

pub fn completed(id: u64, conclusion: &str, runner: Option<&str>) -> Command {
    let mut h = hook("completed", id, "octo/hello", &["self-hosted"]);
    h.conclusion = Some(conclusion.into());
    h.runner_name = runner.map(str::to_owned);
    webhook(&format!("d-c-{id}-{conclusion}"), h)
}

pub fn launched(instance: &str, price: Option<i64>) -> LaunchOutcome {
    LaunchOutcome::Launched {
        instance: LaunchedInstance {
            instance_id: instance.into(),
            instance_type: "m7i.large".into(),
            availability_zone: "us-east-1a".into(),
            subnet_id: "subnet-0123456789abcdef0".into(),
            market: Market::OnDemand,
        },
        price: price.map(|p| PriceQuote { per_hour: Micros(p), source: PriceSource::OnDemandList }),
    }
}

pub fn launch_failed(code: &str) -> LaunchOutcome {
    LaunchOutcome::Failed {
        error: LaunchError::new(code, "no capacity"),
        throttle_retry_at: T0.plus_millis(1_500),
        policy: RetryPolicy::default(),
    }
}

pub fn fields(rejection: &Rejection) -> Vec<&str> {
    rejection.fields.iter().map(|f| f.field.as_str()).collect()
}

impl Scenario {
    pub fn clone_state(&self) -> Scenario {
        Scenario { state: self.state.clone(), now: self.now }
    }
}
