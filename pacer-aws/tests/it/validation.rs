//! Pool validation against moto: a sound pool passes; a missing AMI, subnet, security group or
//! instance profile, a root size below the AMI's, an instance type the region does not have or
//! of another architecture than the AMI are field errors with AWS's code or the reason.

use crate::fixture::World;
use pacer_aws::{Compute, ComputeError};
use pacer_domain::{AllocationStrategy, FieldError, PoolSpec, SpawnMethod};

fn pool(world: &World) -> PoolSpec {
    world.config(false, SpawnMethod::Fleet, AllocationStrategy::Cost).1.spec
}

async fn field_errors(world: &World, spec: &PoolSpec) -> Vec<FieldError> {
    match world.compute.validate_pool(spec).await {
        Err(ComputeError::Invalid(fields)) => fields,
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sound_pool_passes() {
    let world = World::new().await;
    let iam = world.aws.iam().await;
    let profile =
        iam.create_instance_profile().instance_profile_name("pacer-runner").send().await.expect("profile");
    let arn = profile.instance_profile().map(|p| p.arn().to_owned()).expect("arn");
    let mut spec = pool(&world);
    spec.iam_instance_profile = Some("pacer-runner".into());
    world.compute.validate_pool(&spec).await.expect("valid by name");
    spec.iam_instance_profile = Some(arn);
    spec.root_volume_gb = 15; // exactly the AMI's
    world.compute.validate_pool(&spec).await.expect("valid by arn");
}

#[tokio::test]
async fn missing_resources_name_their_fields_with_aws_codes() {
    let world = World::new().await;
    let mut spec = pool(&world);
    spec.ami_id = "ami-0000000000000dead".into();
    spec.subnet_ids[1] = "subnet-00000000000dead".into();
    spec.security_group_ids = vec![world.security_group_id.clone(), "sg-0000000000000dead".into()];
    spec.iam_instance_profile = Some("no-such-profile".into());
    let errors = field_errors(&world, &spec).await;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["ami_id", "subnet_ids[1]", "security_group_ids[1]", "iam_instance_profile"],
        "{errors:?}"
    );
    assert!(errors[0].message.contains("InvalidAMIID.NotFound"), "{}", errors[0]);
    assert!(errors[0].message.contains("ami-0000000000000dead"), "{}", errors[0]);
    assert!(errors[1].message.contains("InvalidSubnetID.NotFound"), "{}", errors[1]);
    assert!(errors[2].message.contains("InvalidGroup.NotFound"), "{}", errors[2]);
    assert!(errors[3].message.contains("NoSuchEntity"), "{}", errors[3]);
    // Nothing was written.
    let templates = world.ec2.describe_launch_templates().send().await.expect("describe");
    assert!(templates.launch_templates().is_empty());
}

#[tokio::test]
async fn a_root_volume_smaller_than_the_ami_is_refused() {
    let world = World::new().await;
    let mut spec = pool(&world);
    spec.root_volume_gb = 10;
    let errors = field_errors(&world, &spec).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "root_volume_gb");
    assert!(errors[0].message.contains("at least 15 GiB"), "{}", errors[0]);
}

#[tokio::test]
async fn a_security_group_of_another_vpc_is_refused() {
    let world = World::new().await;
    let other = world.ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.expect("vpc");
    let other_vpc = other.vpc().and_then(|v| v.vpc_id()).expect("id").to_owned();
    let sg = world
        .ec2
        .create_security_group()
        .group_name("elsewhere")
        .description("other vpc")
        .vpc_id(&other_vpc)
        .send()
        .await
        .expect("sg");
    let mut spec = pool(&world);
    spec.security_group_ids = vec![sg.group_id().expect("id").to_owned()];
    let errors = field_errors(&world, &spec).await;
    assert_eq!(errors[0].field, "security_group_ids[0]");
    assert!(errors[0].message.contains(&world.vpc_id), "{}", errors[0]);
}

#[tokio::test]
async fn instance_types_must_exist_and_run_the_amis_architecture() {
    let world = World::new().await;
    let mut spec = pool(&world);
    let sound = spec.instance_types[0].clone();
    spec.instance_types = vec![sound, "z9.nonsense".into(), "m7g.large".into()];
    let errors = field_errors(&world, &spec).await;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["instance_types[1]", "instance_types[2]"], "{errors:?}");
    assert!(errors[0].message.contains("z9.nonsense"), "{}", errors[0]);
    assert!(errors[1].message.contains("arm64") && errors[1].message.contains("x86_64"), "{}", errors[1]);
}
