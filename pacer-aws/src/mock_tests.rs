//! Unit tests over mocked SDK clients (aws-smithy-mocks): error classes read from typed SDK
//! errors, the CreateFleet request shape, and the launch-template rollback.

use crate::compute::materialize;
use crate::ec2::Ec2Compute;
use crate::error::{ComputeError, from_sdk};
use crate::launch::fleet_request;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_launch_template_version::CreateLaunchTemplateVersionOutput;
use aws_sdk_ec2::operation::delete_launch_template_versions::DeleteLaunchTemplateVersionsOutput;
use aws_sdk_ec2::operation::describe_launch_templates::DescribeLaunchTemplatesOutput;
use aws_sdk_ec2::operation::modify_launch_template::ModifyLaunchTemplateError;
use aws_sdk_ec2::operation::run_instances::RunInstancesError;
use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetType, LaunchTemplateVersion, SpotAllocationStrategy,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use pacer_domain::{
    AllocationStrategy, ErrorClass, LaunchSpec, Market, SpawnMethod, Tags, TemplateRef, TemplateSpec,
};

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| i.with_rule(r))
}

fn ec2(rules: &[&Rule]) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new("a", "b", None, None, "mock"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

fn compute(rules: &[&Rule]) -> Ec2Compute {
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::Credentials::new("a", "b", None, None, "mock"))
            .http_client(create_mock_http_client())
            .build(),
    );
    let pricing = aws_sdk_pricing::Client::from_conf(
        aws_sdk_pricing::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_pricing::config::Credentials::new("a", "b", None, None, "mock"))
            .http_client(create_mock_http_client())
            .build(),
    );
    Ec2Compute::from_clients(ec2(rules), iam, pricing, "us-east-1")
}

async fn run_instances_error(code: &'static str) -> pacer_domain::LaunchError {
    let rule = mock!(aws_sdk_ec2::Client::run_instances).then_error(move || {
        RunInstancesError::generic(
            ErrorMetadata::builder().code(code).message(format!("{code} from ec2")).build(),
        )
    });
    let client = ec2(&[&rule]);
    let err = client.run_instances().min_count(1).max_count(1).send().await.expect_err("mocked error");
    from_sdk(&err)
}

#[tokio::test]
async fn capacity_codes_from_typed_errors_are_capacity_class() {
    for code in [
        "InsufficientInstanceCapacity",
        "InstanceLimitExceeded",
        "UnfulfillableCapacity",
        "SpotMaxPriceTooLow",
        "Unsupported",
    ] {
        let err = run_instances_error(code).await;
        assert_eq!(err.class, ErrorClass::Capacity, "{code}");
        assert_eq!(err.code, code);
        assert_eq!(err.message, format!("{code} from ec2"));
    }
}

#[tokio::test]
async fn throttling_codes_from_typed_errors_are_throttling_class() {
    for code in ["RequestLimitExceeded", "Throttling"] {
        assert_eq!(run_instances_error(code).await.class, ErrorClass::Throttling, "{code}");
    }
}

#[tokio::test]
async fn other_codes_from_typed_errors_are_permanent() {
    for code in
        ["UnsupportedOperation", "InvalidAMIID.NotFound", "UnauthorizedOperation", "InvalidParameterValue"]
    {
        let err = run_instances_error(code).await;
        assert_eq!(err.class, ErrorClass::Permanent, "{code}");
        assert_eq!(err.to_string(), format!("{code}: {code} from ec2"));
    }
}

#[tokio::test]
async fn a_5xx_without_a_code_is_transient() {
    let rule = mock!(aws_sdk_ec2::Client::run_instances).then_http_response(|| {
        aws_sdk_ec2::config::http::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).expect("status"),
            aws_smithy_types::body::SdkBody::empty(),
        )
    });
    let client = ec2(&[&rule]);
    let err = client.run_instances().min_count(1).max_count(1).send().await.expect_err("503");
    let err = from_sdk(&err);
    assert_eq!(err.class, ErrorClass::Throttling, "{err}");
}

fn launch_spec(strategy: AllocationStrategy, market: Market) -> LaunchSpec {
    LaunchSpec {
        job_id: 5,
        attempt: 2,
        count: 1,
        jobs: vec![5],
        client_token: pacer_domain::client_token(5, 0, 2),
        template_id: "lt-0123456789abcdef0".into(),
        instance_types: vec!["m7i.large".into(), "c7i.large".into(), "m6i.large".into()],
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        market,
        spawn_method: SpawnMethod::Fleet,
        allocation_strategy: strategy,
        tags: Tags::from([("gha:job_id".to_owned(), "5".to_owned())]),
    }
}

#[test]
fn fleet_requests_cover_every_type_and_subnet() {
    let client = ec2(&[]);
    let spec = launch_spec(AllocationStrategy::Priority, Market::Spot);
    let request = fleet_request(&client, &spec);
    assert_eq!(request.get_type(), &Some(FleetType::Instant));
    assert_eq!(request.get_client_token().as_deref(), Some("pacer-job-5-g0-a2"));
    let capacity = request.get_target_capacity_specification().clone().expect("capacity");
    assert_eq!(capacity.total_target_capacity(), Some(1));
    assert_eq!(capacity.default_target_capacity_type(), Some(&DefaultTargetCapacityType::Spot));
    let spot = request.get_spot_options().clone().expect("spot options");
    assert_eq!(spot.allocation_strategy(), Some(&SpotAllocationStrategy::CapacityOptimizedPrioritized));
    let configs = request.get_launch_template_configs().clone().expect("configs");
    let lt = configs[0].launch_template_specification().expect("lt");
    assert_eq!(lt.version(), Some("$Default"));
    let overrides: Vec<(String, String, Option<f64>)> = configs[0]
        .overrides()
        .iter()
        .map(|o| {
            (
                o.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                o.subnet_id().unwrap_or_default().to_owned(),
                o.priority(),
            )
        })
        .collect();
    let expected: Vec<(String, String, Option<f64>)> = [
        ("m7i.large", "subnet-a", 0.0),
        ("m7i.large", "subnet-b", 0.0),
        ("c7i.large", "subnet-a", 1.0),
        ("c7i.large", "subnet-b", 1.0),
        ("m6i.large", "subnet-a", 2.0),
        ("m6i.large", "subnet-b", 2.0),
    ]
    .iter()
    .map(|(t, s, p)| ((*t).to_owned(), (*s).to_owned(), Some(*p)))
    .collect();
    assert_eq!(overrides, expected);
    let tag_types: Vec<_> = request
        .get_tag_specifications()
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|t| t.resource_type().cloned())
        .collect();
    assert_eq!(tag_types.len(), 2);

    let od = fleet_request(&client, &launch_spec(AllocationStrategy::Cost, Market::OnDemand));
    let capacity = od.get_target_capacity_specification().clone().expect("capacity");
    assert_eq!(capacity.default_target_capacity_type(), Some(&DefaultTargetCapacityType::OnDemand));
    assert!(od.get_spot_options().is_none());
    let configs = od.get_launch_template_configs().clone().expect("configs");
    assert!(configs[0].overrides().iter().all(|o| o.priority().is_none()), "priorities only for priority");
}

#[tokio::test]
async fn a_version_that_cannot_become_default_is_deleted_again() {
    let create = mock!(aws_sdk_ec2::Client::create_launch_template_version).then_output(|| {
        CreateLaunchTemplateVersionOutput::builder()
            .launch_template_version(
                LaunchTemplateVersion::builder().launch_template_id("lt-1").version_number(4).build(),
            )
            .build()
    });
    let retag = mock!(aws_sdk_ec2::Client::describe_launch_templates)
        .then_output(|| DescribeLaunchTemplatesOutput::builder().build());
    let tags = mock!(aws_sdk_ec2::Client::create_tags)
        .then_output(|| aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build());
    let modify = mock!(aws_sdk_ec2::Client::modify_launch_template).then_error(|| {
        ModifyLaunchTemplateError::generic(
            ErrorMetadata::builder().code("UnauthorizedOperation").message("You are not authorized").build(),
        )
    });
    let delete = mock!(aws_sdk_ec2::Client::delete_launch_template_versions)
        .match_requests(|r| r.launch_template_id() == Some("lt-1") && r.versions() == ["4".to_owned()])
        .then_output(|| DeleteLaunchTemplateVersionsOutput::builder().build());
    let compute = compute(&[&create, &retag, &tags, &modify, &delete]);
    let spec = TemplateSpec {
        name: "pacer-pool-1".into(),
        ami_id: "ami-0123456789abcdef0".into(),
        security_group_ids: vec![],
        iam_instance_profile: None,
        root_volume_gb: 0,
        spot: false,
        tags: Tags::new(),
    };
    let existing = TemplateRef { id: "lt-1".into(), version: 3, fingerprint: String::new() };
    let err =
        materialize(&compute, Some(&existing), &spec, "#!/bin/bash\n").await.expect_err("default fails");
    match &err {
        ComputeError::Aws(e) => assert_eq!(e.code, "UnauthorizedOperation"),
        other => panic!("{other:?}"),
    }
    assert_eq!(create.num_calls(), 1);
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(delete.num_calls(), 1, "the new version was rolled back");
}

/// DescribeInstances answering `ids` as running instances tagged `gha:managed-by=pacer`.
fn described(ids: &[&str]) -> aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput {
    use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation, Tag};
    let instances = ids.iter().map(|id| {
        Instance::builder()
            .instance_id(*id)
            .state(InstanceState::builder().name(InstanceStateName::Running).build())
            .tags(Tag::builder().key("gha:managed-by").value("pacer").build())
            .build()
    });
    aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput::builder()
        .reservations(Reservation::builder().set_instances(Some(instances.collect())).build())
        .build()
}

#[tokio::test]
async fn a_stop_drops_ids_that_vanish_after_the_describe_and_stops_the_rest() {
    use aws_sdk_ec2::operation::stop_instances::{StopInstancesError, StopInstancesOutput};
    let describe =
        mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| described(&["i-1a", "i-2b"]));
    let vanished = mock!(aws_sdk_ec2::Client::stop_instances)
        .match_requests(|r| r.instance_ids().len() == 2)
        .then_error(|| {
            StopInstancesError::generic(
                ErrorMetadata::builder()
                    .code("InvalidInstanceID.NotFound")
                    .message("The instance ID 'i-2b' does not exist")
                    .build(),
            )
        });
    let rest = mock!(aws_sdk_ec2::Client::stop_instances)
        .match_requests(|r| r.instance_ids() == ["i-1a".to_owned()])
        .then_output(|| StopInstancesOutput::builder().build());
    let compute = compute(&[&describe, &vanished, &rest]);
    compute.stop_impl(&["i-1a".into(), "i-2b".into()]).await.expect("stop");
    assert_eq!((vanished.num_calls(), rest.num_calls()), (1, 1));

    // Any other refusal reaches the caller.
    let refused = mock!(aws_sdk_ec2::Client::stop_instances).then_error(|| {
        StopInstancesError::generic(
            ErrorMetadata::builder().code("IncorrectInstanceState").message("not in a state").build(),
        )
    });
    let compute = self::compute(&[&describe, &refused]);
    let err = compute.stop_impl(&["i-1a".into()]).await.expect_err("refused");
    assert_eq!(err.code(), Some("IncorrectInstanceState"));
}
