//! Launch templates against moto: create, re-save into a new default version with the same
//! id, every field read back from moto, adoption of a template left by a lost answer, delete,
//! and a failed re-save that leaves the previous default in place.

use crate::fixture::{USER_DATA, World, tag_map};
use aws_sdk_ec2::types::{
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState, ResourceType,
    ShutdownBehavior, VolumeType,
};
use pacer_aws::{Compute, materialize};
use pacer_domain::{AllocationStrategy, ErrorClass, SpawnMethod, Tags, TemplateSpec};

async fn default_data(
    world: &World,
    template_id: &str,
) -> (i64, aws_sdk_ec2::types::ResponseLaunchTemplateData) {
    let out = world
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(template_id)
        .versions("$Default")
        .send()
        .await
        .expect("describe versions");
    let version = out.launch_template_versions().first().expect("default version").clone();
    (version.version_number().expect("number"), version.launch_template_data().expect("data").clone())
}

fn spec_tags(data: &aws_sdk_ec2::types::ResponseLaunchTemplateData, resource: ResourceType) -> Tags {
    let specs: Vec<_> =
        data.tag_specifications().iter().filter(|s| s.resource_type() == Some(&resource)).collect();
    assert_eq!(specs.len(), 1, "one tag specification for {resource:?}");
    tag_map(specs[0].tags())
}

/// The template's own tags, via DescribeTags (moto's DescribeLaunchTemplates shows the tags
/// of creation time only).
async fn template_tags(world: &World, template_id: &str) -> Tags {
    let out = world
        .ec2
        .describe_tags()
        .filters(aws_sdk_ec2::types::Filter::builder().name("resource-id").values(template_id).build())
        .send()
        .await
        .expect("describe tags");
    out.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect()
}

#[tokio::test]
async fn create_then_resave_keeps_the_id_and_moves_the_default() {
    let world = World::new().await;
    let iam = world.aws.iam().await;
    iam.create_instance_profile().instance_profile_name("pacer-runner").send().await.expect("profile");
    let (mut config, mut pool) = world.config(true, SpawnMethod::Fleet, AllocationStrategy::Cost);
    pool.spec.iam_instance_profile = Some("pacer-runner".into());
    config.pools.insert(pool.id, pool.clone());
    let spec = TemplateSpec::for_pool(&config, &pool);

    let first = materialize(&world.compute, None, &spec, USER_DATA).await.expect("create");
    assert!(first.id.starts_with("lt-"));
    assert_eq!(first.version, 1);

    let (number, data) = default_data(&world, &first.id).await;
    assert_eq!(number, 1);
    assert_eq!(data.image_id(), Some(world.ami_id.as_str()));
    assert_eq!(data.security_group_ids(), std::slice::from_ref(&world.security_group_id));
    assert_eq!(data.instance_initiated_shutdown_behavior(), Some(&ShutdownBehavior::Terminate));
    let imds = data.metadata_options().expect("metadata options");
    assert_eq!(imds.http_tokens(), Some(&LaunchTemplateHttpTokensState::Required));
    assert_eq!(imds.http_put_response_hop_limit(), Some(2));
    assert_eq!(imds.http_endpoint(), Some(&LaunchTemplateInstanceMetadataEndpointState::Enabled));
    assert_eq!(data.iam_instance_profile().and_then(|p| p.name()), Some("pacer-runner"));
    let user_data = aws_smithy_types::base64::decode(data.user_data().expect("user data")).expect("base64");
    assert_eq!(String::from_utf8(user_data).expect("utf-8"), USER_DATA);
    let root = data.block_device_mappings().first().expect("root mapping");
    assert_eq!(root.device_name(), Some(world.root_device.as_str()));
    let ebs = root.ebs().expect("ebs");
    assert_eq!(ebs.volume_size(), Some(20));
    assert_eq!(ebs.volume_type(), Some(&VolumeType::Gp3));
    assert_eq!(ebs.encrypted(), Some(true));
    assert_eq!(ebs.delete_on_termination(), Some(true));
    // Market-neutral by design (see templates.rs): the market is chosen per launch.
    assert!(data.instance_market_options().is_none());

    // The cascade: project → pool (env=ci overrides env=prod) → gha: tags last.
    let expected: Tags = [
        ("cost-center", "42"),
        ("env", "ci"),
        ("gha:managed-by", "pacer"),
        ("gha:pool", "linux"),
        ("gha:project", "Platform"),
        ("team", "core"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(spec_tags(&data, ResourceType::Instance), expected);
    assert_eq!(spec_tags(&data, ResourceType::Volume), expected);
    assert_eq!(template_tags(&world, &first.id).await, expected);

    // Re-save with other data: a new default version of the same template.
    pool.spec.root_volume_gb = 30;
    pool.spec.tags = [("env".to_owned(), "staging".to_owned())].into();
    config.pools.insert(pool.id, pool.clone());
    let spec = TemplateSpec::for_pool(&config, &pool);
    let second =
        materialize(&world.compute, Some(&first), &spec, "#!/bin/bash\necho v2\n").await.expect("resave");
    assert_eq!(second.id, first.id);
    assert_eq!(second.version, 2);
    let (number, data) = default_data(&world, &first.id).await;
    assert_eq!(number, 2);
    // Full data on every version, not only what changed.
    assert_eq!(data.image_id(), Some(world.ami_id.as_str()));
    assert_eq!(data.metadata_options().and_then(|m| m.http_put_response_hop_limit()), Some(2));
    assert_eq!(data.block_device_mappings()[0].ebs().and_then(|e| e.volume_size()), Some(30));
    assert_eq!(spec_tags(&data, ResourceType::Instance).get("env").map(String::as_str), Some("staging"));
    assert_eq!(template_tags(&world, &first.id).await.get("env").map(String::as_str), Some("staging"));
}

#[tokio::test]
async fn a_template_without_root_size_keeps_the_ami_mapping() {
    let world = World::new().await;
    let (mut config, mut pool) = world.config(false, SpawnMethod::Fleet, AllocationStrategy::Cost);
    pool.spec.root_volume_gb = 0;
    pool.spec.security_group_ids.clear();
    config.pools.insert(pool.id, pool.clone());
    let spec = TemplateSpec::for_pool(&config, &pool);
    let created = world.compute.create_template(&spec, USER_DATA).await.expect("create");
    let (_, data) = default_data(&world, &created.id).await;
    assert!(data.block_device_mappings().is_empty());
    assert!(data.security_group_ids().is_empty());
    assert!(data.iam_instance_profile().is_none());
}

#[tokio::test]
async fn creating_a_template_that_already_exists_adopts_it() {
    let world = World::new().await;
    let (config, pool) = world.config(false, SpawnMethod::Fleet, AllocationStrategy::Cost);
    let spec = TemplateSpec::for_pool(&config, &pool);
    let first = world.compute.create_template(&spec, USER_DATA).await.expect("create");
    // A save whose first answer was lost tries again from scratch.
    let again = world.compute.create_template(&spec, USER_DATA).await.expect("adopt");
    assert_eq!(again.id, first.id);
    assert_eq!(again.version, 2);
    assert_eq!(default_data(&world, &first.id).await.0, 2);
}

#[tokio::test]
async fn a_failed_resave_leaves_the_previous_default() {
    let world = World::new().await;
    let (config, pool) = world.config(false, SpawnMethod::Fleet, AllocationStrategy::Cost);
    let spec = TemplateSpec::for_pool(&config, &pool);
    let first = materialize(&world.compute, None, &spec, USER_DATA).await.expect("create");
    let mut broken = spec.clone();
    broken.ami_id = "ami-0000000000000dead".into();
    let err = materialize(&world.compute, Some(&first), &broken, USER_DATA).await.expect_err("missing ami");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.code(), Some("InvalidAMIID.NotFound"), "{err}");
    assert!(err.to_string().contains("ami-0000000000000dead"), "{err}");
    let versions = world
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&first.id)
        .send()
        .await
        .expect("versions");
    assert_eq!(versions.launch_template_versions().len(), 1, "nothing half-created");
    assert_eq!(default_data(&world, &first.id).await.0, 1);
}

#[tokio::test]
async fn delete_removes_the_template() {
    let world = World::new().await;
    let (config, pool) = world.config(false, SpawnMethod::Fleet, AllocationStrategy::Cost);
    let spec = TemplateSpec::for_pool(&config, &pool);
    let created = world.compute.create_template(&spec, USER_DATA).await.expect("create");
    world.compute.delete_template(&created.id).await.expect("delete");
    let left = world.ec2.describe_launch_templates().send().await.expect("describe");
    assert!(left.launch_templates().iter().all(|t| t.launch_template_id() != Some(created.id.as_str())));
}
