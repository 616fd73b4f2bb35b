//! One fixture per event variant, filled from random seeds. The match is exhaustive over
//! `EventName`, so adding an event without a fixture does not compile.

use pacer_domain::*;

/// Random material for fixtures.
#[derive(Clone, Debug)]
pub struct Seeds {
    pub text: String,
    pub number: u64,
    pub flag: bool,
    pub small: u32,
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds { text: "octo/hello".into(), number: 7_000_000_001, flag: true, small: 3 }
    }
}

fn pool_spec(s: &Seeds) -> PoolSpec {
    PoolSpec {
        name: s.text.clone(),
        ami_id: "ami-0123456789abcdef0".into(),
        instance_types: vec!["m7i.large".into(), s.text.clone()],
        subnet_ids: vec!["subnet-0123456789abcdef0".into()],
        security_group_ids: vec![],
        iam_instance_profile: s.flag.then(|| s.text.clone()),
        tags: Tags::from([(s.text.clone(), s.text.clone())]),
        runner_version: Some("2.321.0".into()),
        spot: s.flag,
        ..PoolSpec::default()
    }
}

fn end(s: &Seeds) -> JobEnd {
    JobEnd {
        job: JobId(s.number),
        conclusion: s.flag.then(|| "success".into()),
        delivery_id: Some(s.text.clone()),
        runner_name: Some(format!("pacer-i-{:x}", s.number)),
        instance: Some(format!("i-{:x}", s.number)),
        cost: s.flag.then_some(Micros(s.number as i64 / 3)),
        runner_ms: s.small as i64 * 1_000,
    }
}

fn launch_error(s: &Seeds) -> LaunchError {
    LaunchError::new(
        if s.flag { "InsufficientInstanceCapacity" } else { "RequestLimitExceeded" },
        s.text.clone(),
    )
}

pub fn fixture(name: EventName, s: &Seeds) -> Event {
    let text = || s.text.clone();
    let job = JobId(s.number);
    let instance = || format!("i-{:x}", s.number);
    match name {
        EventName::ProjectCreated => Event::ProjectCreated(ProjectCreated {
            id: ProjectId(s.number),
            spec: ProjectSpec {
                name: text(),
                cap: s.small,
                scope: Scope::Org,
                org_name: text(),
                ..ProjectSpec::default()
            },
        }),
        EventName::ProjectUpdated => Event::ProjectUpdated(ProjectUpdated {
            id: ProjectId(s.number),
            spec: ProjectSpec { name: text(), disabled: s.flag, ..ProjectSpec::default() },
        }),
        EventName::ProjectDeleted => {
            Event::ProjectDeleted(ProjectDeleted { id: ProjectId(s.number), name: text() })
        }
        EventName::PoolCreated => Event::PoolCreated(PoolCreated {
            id: PoolId(s.number),
            project: ProjectId(1),
            spec: pool_spec(s),
        }),
        EventName::PoolUpdated => {
            Event::PoolUpdated(PoolUpdated { id: PoolId(s.number), spec: pool_spec(s) })
        }
        EventName::PoolDeleted => Event::PoolDeleted(PoolDeleted {
            id: PoolId(s.number),
            project: ProjectId(2),
            name: text(),
            template: s.flag.then(|| TemplateRef { id: text(), version: s.number, fingerprint: text() }),
        }),
        EventName::PoolTemplateMaterialized => Event::PoolTemplateMaterialized(PoolTemplateMaterialized {
            pool: PoolId(s.number),
            template: TemplateRef { id: text(), version: u64::from(s.small), fingerprint: text() },
        }),
        EventName::RepoBound => Event::RepoBound(RepoBound {
            project: ProjectId(s.number),
            spec: RepoSpec { full_name: text(), cap: s.flag.then_some(s.small), tags: Tags::new() },
        }),
        EventName::RepoUpdated => Event::RepoUpdated(RepoUpdated {
            project: ProjectId(s.number),
            spec: RepoSpec { full_name: text(), cap: None, tags: Tags::from([(text(), text())]) },
        }),
        EventName::RepoUnbound => {
            Event::RepoUnbound(RepoUnbound { full_name: text(), project: ProjectId(s.number) })
        }
        EventName::ConfigImported => Event::ConfigImported(ConfigImported {
            counts: ConfigCounts { projects_created: s.small, pools_updated: 2, ..ConfigCounts::default() },
        }),
        EventName::ConfigExported => Event::ConfigExported(ConfigExported {
            counts: ConfigCounts { projects_created: s.small, ..Default::default() },
        }),
        EventName::WebhookPinged => {
            Event::WebhookPinged(WebhookPinged { delivery_id: text(), hook_id: s.flag.then_some(s.number) })
        }
        EventName::WebhookIgnored => {
            Event::WebhookIgnored(WebhookIgnored { delivery_id: text(), event: text(), action: Some(text()) })
        }
        EventName::WebhookDuplicate => Event::WebhookDuplicate(WebhookDuplicate {
            delivery_id: text(),
            event: "workflow_job".into(),
            github_job_id: Some(s.number),
            job: s.flag.then_some(job),
        }),
        EventName::WebhookAbsorbed => Event::WebhookAbsorbed(WebhookAbsorbed {
            delivery_id: text(),
            job,
            action: "completed".into(),
            reason: text(),
        }),
        EventName::JobQueued => Event::JobQueued(JobQueued {
            job,
            delivery_id: text(),
            github_job_id: s.number,
            run_id: s.number + 1,
            run_attempt: s.small,
            installation_id: s.flag.then_some(42),
            repo: text(),
            workflow: text(),
            job_name: text(),
            branch: text(),
            sha: "d6fde92930d4715a2b49857d24b940956b26d2d3".into(),
            sender: text(),
            labels: vec!["self-hosted".into(), text()],
            html_url: text(),
            project: ProjectId(1),
            pool: PoolId(1),
            recovered: s.flag,
        }),
        EventName::JobIgnored => Event::JobIgnored(JobIgnored {
            delivery_id: text(),
            github_job_id: s.number,
            repo: text(),
            action: "queued".into(),
            labels: vec![text()],
            reason: if s.flag { IgnoreReason::Action(text()) } else { IgnoreReason::UnboundRepo },
        }),
        EventName::JobNoPoolMatch => Event::JobNoPoolMatch(JobNoPoolMatch {
            delivery_id: text(),
            github_job_id: s.number,
            repo: text(),
            project: ProjectId(1),
            labels: vec![text()],
            reason: if s.flag { NoMatchReason::NoMatch } else { NoMatchReason::NoPools },
        }),
        EventName::JobClaimed => Event::JobClaimed(JobClaimed {
            job,
            attempt: s.small,
            market: if s.flag { Market::Spot } else { Market::OnDemand },
        }),
        EventName::JobClaimExpired => Event::JobClaimExpired(JobClaimExpired { job, attempt: s.small }),
        EventName::JobSpawnLaunched => Event::JobSpawnLaunched(JobSpawnLaunched {
            job,
            attempt: s.small,
            instance: LaunchedInstance {
                instance_id: instance(),
                instance_type: text(),
                availability_zone: "us-east-1a".into(),
                subnet_id: "subnet-1".into(),
                market: Market::Spot,
            },
            price: s
                .flag
                .then_some(PriceQuote { per_hour: Micros(96_000), source: PriceSource::SpotHistory }),
        }),
        EventName::JobSpawnRetry => Event::JobSpawnRetry(JobSpawnRetry {
            job,
            attempt: s.small,
            error: launch_error(s),
            next_retry_at: Timestamp(s.number as i64),
            next_market: Market::OnDemand,
            burns_attempt: s.flag,
        }),
        EventName::JobSpawnFailed => {
            Event::JobSpawnFailed(JobSpawnFailed { job, attempt: s.small, error: launch_error(s) })
        }
        EventName::JobStarted => Event::JobStarted(JobStarted {
            job,
            source: if s.flag { StartSource::Webhook } else { StartSource::Runner },
            runner_name: Some(text()),
            delivery_id: s.flag.then(text),
        }),
        EventName::JobRunnerRebound => Event::JobRunnerRebound(JobRunnerRebound {
            job,
            instance: instance(),
            displaced: s.flag.then_some(JobId(1)),
        }),
        EventName::JobInstanceReassigned => {
            Event::JobInstanceReassigned(JobInstanceReassigned { job, instance: s.flag.then(instance) })
        }
        EventName::JobCompleted => Event::JobCompleted(JobCompleted { end: end(s) }),
        EventName::JobFailed => {
            Event::JobFailed(JobFailed { end: end(s), stage: FailureStage::Bootstrap, message: text() })
        }
        EventName::JobCancelled => Event::JobCancelled(JobCancelled { end: end(s) }),
        EventName::JobReaped => Event::JobReaped(JobReaped { end: end(s), max_runtime_minutes: s.small }),
        EventName::InstanceRegistered => Event::InstanceRegistered(InstanceRegistered {
            instance: instance(),
            job,
            runner_name: text(),
            runner_id: s.number,
        }),
        EventName::InstanceTerminated => {
            Event::InstanceTerminated(InstanceTerminated { instance: instance(), state: "terminated".into() })
        }
        EventName::InstanceLost => Event::InstanceLost(InstanceLost {
            instance: instance(),
            job: s.flag.then_some(job),
            state: "stopped".into(),
            reason: text(),
        }),
        EventName::InstanceReaped => Event::InstanceReaped(InstanceReaped {
            instance: instance(),
            job: s.flag.then_some(job),
            reason: if s.flag { ReapReason::MaxRuntime } else { ReapReason::Surplus },
        }),
        EventName::InstanceOrphanFound => Event::InstanceOrphanFound(InstanceOrphanFound {
            instance: instance(),
            job_tag: s.flag.then(text),
            state: "running".into(),
            terminated: s.flag,
        }),
        EventName::RunnerBootstrapped => {
            Event::RunnerBootstrapped(RunnerBootstrapped { instance: instance(), job })
        }
        EventName::RunnerRegisterFailed => Event::RunnerRegisterFailed(RunnerRegisterFailed {
            instance: instance(),
            job,
            status: s.small as u16,
            message: text(),
        }),
        EventName::RunnerCompleted => {
            Event::RunnerCompleted(RunnerCompleted { instance: instance(), job, exit_code: s.small as i32 })
        }
        EventName::RunnerErrored => Event::RunnerErrored(RunnerErrored {
            instance: instance(),
            job,
            stage: text(),
            exit_code: -(s.small as i32),
            line: s.small,
            log_tail: text(),
        }),
        EventName::RunnerRegisterRefused => Event::RunnerRegisterRefused(RunnerRegisterRefused {
            instance: instance(),
            job: s.flag.then_some(job),
            reason: if s.flag { RegisterRefusal::AlreadyRegistered } else { RegisterRefusal::JobEnded },
        }),
        EventName::RunnerBootstrapRefused => Event::RunnerBootstrapRefused(RunnerBootstrapRefused {
            instance: instance(),
            pool: PoolId(s.number),
            reason: BootstrapRefusal::WrongPool,
        }),
        EventName::PoolBootstrapTokenRotated => Event::PoolBootstrapTokenRotated(PoolBootstrapTokenRotated {
            pool: PoolId(s.number),
            previous_valid_until: Timestamp(s.number as i64),
        }),
        EventName::UserCreated => Event::UserCreated(UserCreated { email: text(), method: AuthMethod::Oidc }),
        EventName::AuthLoginSucceeded => Event::AuthLoginSucceeded(AuthLoginSucceeded {
            email: text(),
            method: AuthMethod::Local,
            ip: "127.0.0.1".into(),
        }),
        EventName::AuthLoginFailed => Event::AuthLoginFailed(AuthLoginFailed {
            email: text(),
            method: AuthMethod::Local,
            ip: "::1".into(),
            reason: text(),
        }),
        EventName::AuthLogout => Event::AuthLogout(AuthLogout { email: text() }),
        EventName::UserDisabled => Event::UserDisabled(UserDisabled { email: text() }),
        EventName::UserEnabled => Event::UserEnabled(UserEnabled { email: text() }),
        EventName::AuthOidcLoginDenied => Event::AuthOidcLoginDenied(AuthOidcLoginDenied {
            email: text(),
            reason: "not_allowed".into(),
            ip: "127.0.0.1".into(),
        }),
        EventName::SettingsBootstrapTokenRotated => {
            Event::SettingsBootstrapTokenRotated(SettingsBootstrapTokenRotated {
                fingerprint: text(),
                previous_valid_until: Timestamp(s.number as i64),
            })
        }
        EventName::SettingsRetentionChanged => {
            Event::SettingsRetentionChanged(SettingsRetentionChanged { days: s.small })
        }
        EventName::HealthChanged => {
            Event::HealthChanged(HealthChanged { component: text(), ok: s.flag, message: text() })
        }
        EventName::GithubAppCreated => Event::GithubAppCreated(GithubAppCreated {
            app_id: s.number,
            slug: text(),
            owner: text(),
            html_url: text(),
        }),
        EventName::LeaseAcquired => Event::LeaseAcquired(LeaseAcquired { holder: text(), term: s.number }),
        EventName::JobGithubNoted => Event::JobGithubNoted(JobGithubNoted {
            job,
            delivery_id: text(),
            created_at: Some(Timestamp(s.number as i64)),
            started_at: s.flag.then(|| Timestamp(s.number as i64 + 1_000)),
            completed_at: None,
            sender_type: if s.flag { "Bot".into() } else { text() },
        }),
        EventName::SettingsRetentionSet => Event::SettingsRetentionSet(SettingsRetentionSet {
            kind: RetentionKind::ALL[s.small as usize % RetentionKind::ALL.len()],
            days: s.flag.then_some(s.small),
        }),
        EventName::RetentionSwept => Event::RetentionSwept(RetentionSwept {
            kind: if s.flag { RetentionKind::Webhook } else { RetentionKind::FailureLog },
            deleted: s.small,
            before: Timestamp(s.number as i64),
        }),
        EventName::AuditPruned => Event::AuditPruned(AuditPruned {
            first_seq: u64::from(s.small),
            last_seq: s.number,
            through: Timestamp(s.number as i64),
            archive: s.flag.then(|| format!("{}.jsonl.gz", s.text)),
        }),
        EventName::PoolWarmSet => Event::PoolWarmSet(PoolWarmSet {
            pool: PoolId(s.number),
            warm: s.flag.then(|| WarmSpec {
                sizing: WarmSizing::Schedule {
                    zone: text(),
                    windows: vec![WarmWindow {
                        days: s.small as u8,
                        from_minute: s.small as u16,
                        to_minute: 600,
                        counts: WarmCounts { hot: s.small, stopped: 1 },
                    }],
                    otherwise: WarmCounts { hot: 0, stopped: s.small },
                },
                max_age_minutes: s.small,
            }),
        }),
        EventName::WarmLaunched => Event::WarmLaunched(WarmLaunched {
            pool: PoolId(s.number),
            instance: LaunchedInstance {
                instance_id: instance(),
                instance_type: text(),
                availability_zone: "us-east-1b".into(),
                subnet_id: "subnet-2".into(),
                market: if s.flag { Market::Spot } else { Market::OnDemand },
            },
            price: s
                .flag
                .then_some(PriceQuote { per_hour: Micros(48_000), source: PriceSource::OnDemandList }),
            template_version: s.number,
            stopped: !s.flag,
            reason: text(),
        }),
        EventName::WarmBootstrapped => Event::WarmBootstrapped(WarmBootstrapped { instance: instance() }),
        EventName::WarmTaken => Event::WarmTaken(WarmTaken {
            job,
            instance: instance(),
            warm_cost: s.flag.then_some(Micros(s.number as i64 / 7)),
        }),
        EventName::WarmStopped => Event::WarmStopped(WarmStopped { instance: instance() }),
        EventName::WarmReady => Event::WarmReady(WarmReady { instance: instance() }),
        EventName::WarmStarted => Event::WarmStarted(WarmStarted { instance: instance(), job }),
        EventName::WarmStartFailed => {
            Event::WarmStartFailed(WarmStartFailed { instance: instance(), job, error: launch_error(s) })
        }
        EventName::WarmErrored => Event::WarmErrored(WarmErrored {
            instance: instance(),
            stage: text(),
            exit_code: s.small as i32,
            line: s.small,
            log_tail: text(),
        }),
    }
}
