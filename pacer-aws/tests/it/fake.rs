//! FakeCompute: deterministic launches, injected capacity errors, boot, shutdown, stop and
//! start timing on a paused tokio clock, spot interruptions, the terminate, stop and start
//! guard, templates.

use pacer_aws::{Compute, ComputeError, FakeCompute, FakeOp, FakeSettings, InstanceState, materialize};
use pacer_domain::{
    AllocationStrategy, ErrorClass, LaunchError, LaunchSpec, Market, PriceSource, SpawnMethod,
    TAG_MANAGED_BY, Tags, TemplateRef, TemplateSpec, client_token,
};
use std::time::Duration;

fn template_spec() -> TemplateSpec {
    TemplateSpec {
        name: "pacer-pool-1".into(),
        ami_id: "ami-0123456789abcdef0".into(),
        security_group_ids: vec!["sg-0123abcd".into()],
        iam_instance_profile: None,
        root_volume_gb: 0,
        spot: true,
        tags: Tags::from([(TAG_MANAGED_BY.to_owned(), "pacer".to_owned())]),
    }
}

fn launch_spec(template: &TemplateRef, job_id: u64, market: Market, method: SpawnMethod) -> LaunchSpec {
    LaunchSpec {
        job_id,
        attempt: 1,
        count: 1,
        jobs: vec![job_id],
        client_token: client_token(job_id, 0, 1),
        template_id: template.id.clone(),
        instance_types: vec!["m5.large".into(), "c5.large".into()],
        subnet_ids: vec!["subnet-0123456789abcdef0".into(), "subnet-0fedcba9876543210".into()],
        market,
        spawn_method: method,
        allocation_strategy: AllocationStrategy::Cost,
        tags: Tags::from([
            (TAG_MANAGED_BY.to_owned(), "pacer".to_owned()),
            ("gha:job_id".to_owned(), job_id.to_string()),
        ]),
    }
}

async fn fake_with_template(settings: FakeSettings) -> (FakeCompute, TemplateRef) {
    let fake = FakeCompute::new(settings);
    let template = materialize(&fake, None, &template_spec(), "#!/bin/bash\n").await.expect("template");
    (fake, template)
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_launches_the_same_instances() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut settings = FakeSettings::new(42);
        settings.capacity_error_rate = 0.3;
        let (fake, template) = fake_with_template(settings).await;
        let mut outcomes = Vec::new();
        for job in 1..=20 {
            let out = fake.launch(&launch_spec(&template, job, Market::Spot, SpawnMethod::Fleet)).await;
            outcomes
                .push(out.map(|l| (l.instance_id, l.instance_type, l.availability_zone)).map_err(|e| e.code));
        }
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].iter().any(Result::is_ok));
    let other = {
        let mut settings = FakeSettings::new(43);
        settings.capacity_error_rate = 0.3;
        let (fake, template) = fake_with_template(settings).await;
        fake.launch(&launch_spec(&template, 1, Market::Spot, SpawnMethod::Fleet))
            .await
            .map(|l| l.instance_id)
            .ok()
    };
    assert_ne!(runs[0][0].as_ref().ok().map(|o| o.0.clone()), other, "another seed, other ids");
}

#[tokio::test(start_paused = true)]
async fn a_client_token_launches_once() {
    let (fake, template) = fake_with_template(FakeSettings::new(1)).await;
    let spec = launch_spec(&template, 9, Market::OnDemand, SpawnMethod::RunInstances);
    let first = fake.launch(&spec).await.expect("launch");
    let again = fake.launch(&spec).await.expect("replay");
    assert_eq!(first, again);
    assert_eq!(first.subnet_id, spec.subnet_ids[0], "run_instances uses the first subnet");
    assert_eq!(fake.list_managed().await.expect("list").len(), 1);
    assert_eq!(fake.launches().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn injected_capacity_errors_fall_through_by_type_and_market() {
    let (fake, template) = fake_with_template(FakeSettings::new(1)).await;
    fake.set_capacity_fault("m5.large", Some(Market::Spot), "InsufficientInstanceCapacity");
    let spot = fake.launch(&launch_spec(&template, 1, Market::Spot, SpawnMethod::Fleet)).await.expect("spot");
    assert_eq!(spot.instance_type, "c5.large");
    let od = fake.launch(&launch_spec(&template, 2, Market::OnDemand, SpawnMethod::Fleet)).await.expect("od");
    assert_eq!(od.instance_type, "m5.large", "the fault is for spot only");

    fake.set_capacity_fault("c5.large", None, "InstanceLimitExceeded");
    let err = fake
        .launch(&launch_spec(&template, 3, Market::Spot, SpawnMethod::Fleet))
        .await
        .expect_err("none left");
    assert_eq!(err.class, ErrorClass::Capacity);
    assert!(
        err.message.contains("InsufficientInstanceCapacity") && err.message.contains("InstanceLimitExceeded")
    );

    fake.clear_faults();
    fake.set_capacity_fault("m5.large", None, "UnsupportedOperation");
    let err = fake
        .launch(&launch_spec(&template, 4, Market::OnDemand, SpawnMethod::RunInstances))
        .await
        .expect_err("x");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code, "UnsupportedOperation");
}

#[tokio::test(start_paused = true)]
async fn launches_take_their_latency_and_instances_boot_then_run() {
    let mut settings = FakeSettings::new(7);
    settings.launch_latency = Duration::from_secs(2);
    settings.boot_time = Duration::from_secs(30);
    settings.shutdown_time = Duration::from_secs(5);
    let (fake, template) = fake_with_template(settings.clone()).await;
    let started = tokio::time::Instant::now();
    let launched =
        fake.launch(&launch_spec(&template, 1, Market::OnDemand, SpawnMethod::Fleet)).await.expect("launch");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let id = vec![launched.instance_id.clone()];
    async fn state(fake: &FakeCompute, id: &[String]) -> pacer_aws::InstanceStatus {
        fake.describe(id).await.expect("describe")[0].clone()
    }
    let status = state(&fake, &id).await;
    assert_eq!(status.state, InstanceState::Pending);
    assert_eq!(status.launched_at, Some(settings.start.plus_millis(2_000)));
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(state(&fake, &id).await.state, InstanceState::Pending);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(state(&fake, &id).await.state, InstanceState::Running);

    fake.terminate(&id).await.expect("terminate");
    assert_eq!(state(&fake, &id).await.state, InstanceState::ShuttingDown);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(state(&fake, &id).await.state, InstanceState::Terminated);
    assert!(fake.list_managed().await.expect("list").is_empty());
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(state(&fake, &id).await.state, InstanceState::Gone);
}

#[tokio::test(start_paused = true)]
async fn spot_instances_can_be_interrupted() {
    let mut settings = FakeSettings::new(3);
    settings.spot_interruption_rate = 1.0;
    settings.spot_interruption_window = Duration::from_secs(60);
    let (fake, template) = fake_with_template(settings).await;
    let spot = fake.launch(&launch_spec(&template, 1, Market::Spot, SpawnMethod::Fleet)).await.expect("spot");
    let od = fake.launch(&launch_spec(&template, 2, Market::OnDemand, SpawnMethod::Fleet)).await.expect("od");
    tokio::time::advance(Duration::from_secs(61)).await;
    let statuses =
        fake.describe(&[spot.instance_id.clone(), od.instance_id.clone()]).await.expect("describe");
    assert_eq!(statuses[0].state, InstanceState::Terminated);
    assert!(statuses[0].state_reason.as_deref().is_some_and(|r| r.contains("SpotInstanceTermination")));
    assert_eq!(statuses[1].state, InstanceState::Running, "on-demand is never interrupted");

    // Injected interruption of a chosen instance.
    let (fake, template) = fake_with_template(FakeSettings::new(3)).await;
    let spot = fake.launch(&launch_spec(&template, 1, Market::Spot, SpawnMethod::Fleet)).await.expect("spot");
    fake.interrupt(&spot.instance_id);
    let status = &fake.describe(std::slice::from_ref(&spot.instance_id)).await.expect("describe")[0];
    assert_eq!(status.state, InstanceState::Terminated);
}

#[tokio::test(start_paused = true)]
async fn terminate_refuses_foreign_instances() {
    let (fake, template) = fake_with_template(FakeSettings::new(5)).await;
    let ours =
        fake.launch(&launch_spec(&template, 1, Market::OnDemand, SpawnMethod::Fleet)).await.expect("launch");
    let foreign = fake.add_foreign_instance("t3.micro");
    let err = fake.terminate(&[ours.instance_id.clone(), foreign.clone()]).await.expect_err("refused");
    assert_eq!(err, ComputeError::NotManaged(vec![foreign.clone()]));
    let states = fake.describe(&[ours.instance_id.clone(), foreign]).await.expect("describe");
    assert!(states.iter().all(|s| s.state == InstanceState::Running));
    fake.terminate(&[ours.instance_id.clone(), "i-unknown".into()]).await.expect("terminate ours");
}

async fn state_of(fake: &FakeCompute, id: &str) -> InstanceState {
    fake.describe(&[id.to_owned()]).await.expect("describe")[0].state
}

#[tokio::test(start_paused = true)]
async fn instances_stop_and_start_again_as_ec2_lets_them() {
    let mut settings = FakeSettings::new(11);
    settings.boot_time = Duration::from_secs(30);
    settings.stop_time = Duration::from_secs(10);
    settings.start_time = Duration::from_secs(20);
    settings.shutdown_time = Duration::from_secs(5);
    let (fake, template) = fake_with_template(settings).await;
    let id = fake
        .launch(&launch_spec(&template, 1, Market::OnDemand, SpawnMethod::Fleet))
        .await
        .expect("launch")
        .instance_id;
    let ids = [id.clone()];
    let code = |result: Result<(), ComputeError>| result.expect_err("refused").code().map(str::to_owned);

    // Still booting: EC2 cannot stop an instance that never ran; starting it changes nothing.
    assert_eq!(code(fake.stop(&ids).await).as_deref(), Some("IncorrectInstanceState"));
    fake.start(&ids).await.expect("starting a pending instance is a no-op");
    assert_eq!(state_of(&fake, &id).await, InstanceState::Pending);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(state_of(&fake, &id).await, InstanceState::Running);

    // Stop: stopping for stop_time, then stopped; ids the fake does not know are skipped.
    fake.stop(&[id.clone(), "i-unknown".into()]).await.expect("stop");
    let status = fake.describe(&ids).await.expect("describe")[0].clone();
    assert_eq!(status.state, InstanceState::Stopping);
    assert!(
        status.state_reason.as_deref().is_some_and(|r| r.contains("UserInitiatedShutdown")),
        "{status:?}"
    );
    assert_eq!(code(fake.start(&ids).await).as_deref(), Some("IncorrectInstanceState"), "still stopping");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(state_of(&fake, &id).await, InstanceState::Stopped);
    let listed = fake.list_managed().await.expect("list");
    assert_eq!(
        listed.iter().map(|s| (s.instance_id.as_str(), s.state)).collect::<Vec<_>>(),
        [(id.as_str(), InstanceState::Stopped)]
    );
    fake.stop(&ids).await.expect("stopping a stopped instance is a no-op");
    assert_eq!(state_of(&fake, &id).await, InstanceState::Stopped);

    // Start: pending for start_time, then running.
    fake.start(&ids).await.expect("start");
    assert_eq!(state_of(&fake, &id).await, InstanceState::Pending);
    tokio::time::advance(Duration::from_secs(19)).await;
    assert_eq!(state_of(&fake, &id).await, InstanceState::Pending);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(state_of(&fake, &id).await, InstanceState::Running);
    fake.start(&ids).await.expect("starting a running instance is a no-op");
    assert_eq!(state_of(&fake, &id).await, InstanceState::Running);

    // A stopped instance can be terminated; a terminated one can be neither stopped nor started.
    fake.stop(&ids).await.expect("stop");
    tokio::time::advance(Duration::from_secs(10)).await;
    fake.terminate(&ids).await.expect("terminate");
    assert_eq!(state_of(&fake, &id).await, InstanceState::ShuttingDown);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(state_of(&fake, &id).await, InstanceState::Terminated);
    assert_eq!(code(fake.stop(&ids).await).as_deref(), Some("IncorrectInstanceState"));
    assert_eq!(code(fake.start(&ids).await).as_deref(), Some("IncorrectInstanceState"));
    tokio::time::advance(Duration::from_secs(3600)).await;
    fake.stop(&ids).await.expect("a forgotten id is skipped");
}

#[tokio::test(start_paused = true)]
async fn stop_and_start_refuse_foreign_spot_and_injected_failures() {
    let (fake, template) = fake_with_template(FakeSettings::new(13)).await;
    let ours = fake
        .launch(&launch_spec(&template, 1, Market::OnDemand, SpawnMethod::Fleet))
        .await
        .expect("launch")
        .instance_id;
    let foreign = fake.add_foreign_instance("t3.micro");
    let both = [ours.clone(), foreign.clone()];
    assert_eq!(fake.stop(&both).await, Err(ComputeError::NotManaged(vec![foreign.clone()])));
    assert_eq!(state_of(&fake, &ours).await, InstanceState::Running, "nothing stopped");

    fake.stop(std::slice::from_ref(&ours)).await.expect("stop");
    assert_eq!(state_of(&fake, &ours).await, InstanceState::Stopped, "no stop_time: stopped at once");
    assert_eq!(fake.start(&both).await, Err(ComputeError::NotManaged(vec![foreign.clone()])));
    assert_eq!(state_of(&fake, &ours).await, InstanceState::Stopped, "nothing started");

    // One instance EC2 cannot switch fails the whole call: the others stay as they were.
    let spot = fake
        .launch(&launch_spec(&template, 2, Market::Spot, SpawnMethod::Fleet))
        .await
        .expect("spot")
        .instance_id;
    let other = fake
        .launch(&launch_spec(&template, 3, Market::OnDemand, SpawnMethod::Fleet))
        .await
        .expect("launch")
        .instance_id;
    let err = fake.stop(&[other.clone(), spot.clone()]).await.expect_err("one-time spot");
    assert_eq!(err.code(), Some("UnsupportedOperation"));
    assert!(err.to_string().contains(&spot), "{err}");
    assert_eq!(state_of(&fake, &other).await, InstanceState::Running);
    assert_eq!(state_of(&fake, &spot).await, InstanceState::Running);

    let injected = LaunchError::new("RequestLimitExceeded", "Request limit exceeded.");
    fake.fail_next(FakeOp::Start, injected.clone());
    assert_eq!(fake.start(std::slice::from_ref(&ours)).await, Err(ComputeError::Aws(injected.clone())));
    assert_eq!(state_of(&fake, &ours).await, InstanceState::Stopped);
    fake.start(std::slice::from_ref(&ours)).await.expect("the next start goes through");
    assert_eq!(state_of(&fake, &ours).await, InstanceState::Running);
    fake.fail_next(FakeOp::Stop, injected.clone());
    assert_eq!(fake.stop(std::slice::from_ref(&other)).await, Err(ComputeError::Aws(injected)));
    assert_eq!(state_of(&fake, &other).await, InstanceState::Running);
}

#[tokio::test(start_paused = true)]
async fn templates_version_and_roll_back() {
    let (fake, template) = fake_with_template(FakeSettings::new(5)).await;
    let mut spec = template_spec();
    spec.root_volume_gb = 40;
    let v2 = materialize(&fake, Some(&template), &spec, "#!/bin/bash\necho 2\n").await.expect("resave");
    assert_eq!((v2.id.as_str(), v2.version), (template.id.as_str(), 2));
    assert_eq!(fake.template(&template.id).map(|t| (t.0, t.1.root_volume_gb)), Some((2, 40)));

    fake.fail_next(
        FakeOp::SetDefaultVersion,
        LaunchError::new("RequestLimitExceeded", "Request limit exceeded."),
    );
    spec.root_volume_gb = 50;
    let err = materialize(&fake, Some(&v2), &spec, "x").await.expect_err("default fails");
    assert_eq!(err.class(), ErrorClass::Throttling);
    assert_eq!(
        fake.template(&template.id).map(|t| (t.0, t.1.root_volume_gb)),
        Some((2, 40)),
        "previous default kept"
    );
    // The failed version was removed: the next one is version 4, and version 3 cannot be made default.
    assert!(fake.set_default_version(&template.id, 3).await.is_err());

    fake.delete_template(&template.id).await.expect("delete");
    let spec = launch_spec(&template, 1, Market::OnDemand, SpawnMethod::Fleet);
    let err = fake.launch(&spec).await.expect_err("no template");
    assert_eq!(err.code, "InvalidLaunchTemplateId.NotFound");
}

#[tokio::test(start_paused = true)]
async fn validation_and_prices_are_simulated() {
    let fake = FakeCompute::new(FakeSettings::new(5));
    let mut pool = pacer_domain::PoolSpec {
        ami_id: "ami-0123456789abcdef0".into(),
        subnet_ids: vec!["subnet-0123456789abcdef0".into(), "subnet-0fedcba9876543210".into()],
        security_group_ids: vec!["sg-0123abcd".into()],
        ..Default::default()
    };
    fake.validate_pool(&pool).await.expect("valid");
    fake.mark_missing("subnet-0fedcba9876543210");
    pool.root_volume_gb = 4;
    match fake.validate_pool(&pool).await {
        Err(ComputeError::Invalid(fields)) => {
            let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["root_volume_gb", "subnet_ids[1]"]);
        }
        other => panic!("{other:?}"),
    }
    let od = fake.price("m5.large", "us-east-1a", Market::OnDemand).await.expect("price");
    let spot = fake.price("m5.large", "us-east-1a", Market::Spot).await.expect("price");
    assert_eq!(od.source, PriceSource::Simulated);
    assert!(spot.per_hour < od.per_hour);
    assert!(fake.preflight().await.iter().all(|c| c.verdict == pacer_aws::Verdict::Allowed));
}
