//! The pool editor's listings against moto (AMIs by owner and name, newest first; subnets with
//! their zone, VPC and Name tag; security groups of one VPC; instance profiles) and in the
//! fake, whose account holds what the demo's pools name and what its own validation accepts.

use crate::fixture::World;
use pacer_aws::{Compute, ComputeError, FakeCompute, FakeOp, FakeSettings, ImageQuery};
use pacer_domain::{LaunchError, PoolSpec};

fn query(owners: &[&str], name: Option<&str>) -> ImageQuery {
    ImageQuery::new(Some(owners.iter().map(|o| (*o).to_owned()).collect()), name.map(str::to_owned))
        .expect("a valid query")
}

#[tokio::test]
async fn images_are_listed_by_owner_and_name() {
    let world = World::new().await;
    let all = world.compute.list_images(&ImageQuery::default()).await.expect("list");
    assert_eq!(all.len(), pacer_aws::MAX_IMAGES, "moto holds over a thousand of Amazon's");
    let dates: Vec<_> = all.iter().map(|i| i.created_at).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first: {dates:?}");

    let arm = world.compute.list_images(&query(&["amazon"], Some("al2022-ami-*-arm64"))).await.expect("list");
    assert_eq!(arm.len(), 1, "{arm:?}");
    assert_eq!(arm[0].image_id, "ami-0e9271c829888680e");
    assert_eq!(arm[0].architecture, "arm64");
    assert_eq!(arm[0].owner_id, "137112412989");
    assert!(arm[0].created_at.is_some());
    let exact = world
        .compute
        .list_images(&query(&["137112412989"], Some("amzn2-ami-hvm-2.0.20180810-x86_64-gp2")))
        .await
        .expect("list");
    assert_eq!(exact.iter().map(|i| i.image_id.as_str()).collect::<Vec<_>>(), ["ami-04681a1dbd79675a5"]);
    let none = world.compute.list_images(&query(&["self"], None)).await.expect("list");
    assert!(none.is_empty(), "the test account owns no AMI: {none:?}");
}

#[tokio::test]
async fn subnets_security_groups_and_instance_profiles_are_listed() {
    let world = World::new().await;
    let subnets = world.compute.list_subnets().await.expect("subnets");
    let ours: Vec<_> = subnets.iter().filter(|s| s.vpc_id == world.vpc_id).collect();
    let seen: Vec<(&str, &str, &str)> = ours
        .iter()
        .map(|s| (s.subnet_id.as_str(), s.availability_zone.as_str(), s.cidr_block.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (world.subnet_ids[0].as_str(), "us-east-1a", "10.0.1.0/24"),
            (world.subnet_ids[1].as_str(), "us-east-1b", "10.0.2.0/24")
        ]
    );
    assert!(subnets.len() > 2, "moto's default VPC has subnets too");
    world
        .ec2
        .create_tags()
        .resources(&world.subnet_ids[1])
        .tags(aws_sdk_ec2::types::Tag::builder().key("Name").value("runners-b").build())
        .send()
        .await
        .expect("tag");
    let subnets = world.compute.list_subnets().await.expect("subnets");
    let named = subnets.iter().find(|s| s.subnet_id == world.subnet_ids[1]).expect("listed");
    assert_eq!(named.name.as_deref(), Some("runners-b"));

    let groups = world.compute.list_security_groups(Some(&world.vpc_id)).await.expect("groups");
    assert!(groups.iter().all(|g| g.vpc_id == world.vpc_id), "{groups:?}");
    let names: Vec<&str> = groups.iter().map(|g| g.group_name.as_str()).collect();
    assert_eq!(names, ["default", "pacer-runners"], "sorted by name");
    assert_eq!(groups[1].group_id, world.security_group_id);
    assert_eq!(groups[1].description, "pacer test runners");
    let everywhere = world.compute.list_security_groups(None).await.expect("groups");
    assert!(everywhere.len() > groups.len() && everywhere.iter().any(|g| g.vpc_id != world.vpc_id));

    assert!(world.compute.list_instance_profiles().await.expect("profiles").is_empty());
    let iam = world.aws.iam().await;
    for name in ["pacer-runner", "ci-builder"] {
        iam.create_instance_profile().instance_profile_name(name).send().await.expect("profile");
    }
    let profiles = world.compute.list_instance_profiles().await.expect("profiles");
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ci-builder", "pacer-runner"]);
    assert!(profiles[1].arn.ends_with(":instance-profile/pacer-runner"), "{}", profiles[1].arn);
}

#[tokio::test]
async fn the_fakes_inventory_is_what_it_accepts() {
    let fake = FakeCompute::new(FakeSettings::new(1));
    let images = fake.list_images(&ImageQuery::default()).await.expect("images");
    assert!(images.iter().any(|i| i.image_id == "ami-0c55b159cbfafe1f0"), "the demo pools' AMI");
    assert!(images.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    let mine = fake.list_images(&query(&["self"], Some("*arm64*"))).await.expect("images");
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].owner_id.as_str(), mine[0].architecture.as_str()),
        (pacer_aws::FAKE_ACCOUNT, "arm64")
    );
    let canonical = fake.list_images(&query(&["099720109477"], None)).await.expect("images");
    assert_eq!(canonical.len(), 1, "only Canonical's");

    let subnets = fake.list_subnets().await.expect("subnets");
    let groups = fake.list_security_groups(None).await.expect("groups");
    let profiles = fake.list_instance_profiles().await.expect("profiles");
    let vpc = subnets[0].vpc_id.clone();
    let of_vpc = fake.list_security_groups(Some(&vpc)).await.expect("groups");
    assert!(of_vpc.len() < groups.len() && of_vpc.iter().all(|g| g.vpc_id == vpc));
    // Every listed id is one the domain's checks and the fake's validation accept.
    for (subnet, group) in subnets.iter().zip(groups.iter().cycle()) {
        let spec = PoolSpec {
            name: "picked".into(),
            ami_id: images[0].image_id.clone(),
            instance_types: vec!["m7i.large".into()],
            subnet_ids: vec![subnet.subnet_id.clone()],
            security_group_ids: vec![group.group_id.clone()],
            iam_instance_profile: Some(profiles[0].name.clone()),
            ..PoolSpec::default()
        };
        assert_eq!(spec.validate(), Vec::new(), "{spec:?}");
        fake.validate_pool(&spec).await.expect("the fake accepts what it lists");
        assert!(subnet.availability_zone.starts_with("us-east-1"), "{subnet:?}");
    }
    for image in &images {
        let spec = PoolSpec { ami_id: image.image_id.clone(), ..PoolSpec::default() };
        assert!(spec.validate().iter().all(|e| e.field != "ami_id"), "{image:?}");
    }

    fake.mark_missing(&subnets[0].subnet_id);
    let left = fake.list_subnets().await.expect("subnets");
    assert!(!left.iter().any(|s| s.subnet_id == subnets[0].subnet_id), "missing ids are not listed");
    fake.fail_next(FakeOp::ListInstanceProfiles, LaunchError::new("AccessDenied", "not authorized"));
    assert!(
        matches!(fake.list_instance_profiles().await, Err(ComputeError::Aws(e)) if e.code == "AccessDenied")
    );
    assert_eq!(fake.list_instance_profiles().await.expect("once").len(), profiles.len());
}
