//! Launches against moto with capacity faults from the faults file: fleet over 2 types × 2
//! subnets on both markets, run_instances in type order, the error classes, tags read back,
//! and batches (one call for several jobs, repeated after a crash without starting more).

use crate::fixture::{REPO, TYPES, World, tag_map};
use aws_sdk_ec2::types::InstanceLifecycleType;
use pacer_aws::Compute;
use pacer_domain::{AllocationStrategy, ErrorClass, Market, SpawnMethod};
use serde_json::json;

async fn assert_job_tags(world: &World, instance_id: &str, job_id: u64) {
    let tags = tag_map(world.instance(instance_id).await.tags());
    let get = |k: &str| tags.get(k).map(String::as_str);
    assert_eq!(get("gha:managed-by"), Some("pacer"));
    assert_eq!(get("gha:project"), Some("Platform"));
    assert_eq!(get("gha:pool"), Some("linux"));
    assert_eq!(get("gha:job_id"), Some(job_id.to_string().as_str()));
    assert_eq!(get("gha:repo"), Some(REPO));
    // project → pool → repo: env from the pool, team from the repo binding.
    assert_eq!(get("env"), Some("ci"));
    assert_eq!(get("team"), Some("web"));
    assert_eq!(get("cost-center"), Some("42"));
}

#[tokio::test]
async fn fleet_launches_on_demand_over_types_and_subnets() {
    let world = World::new().await;
    let spec =
        world.launch_spec(false, SpawnMethod::Fleet, AllocationStrategy::Cost, 101, Market::OnDemand).await;
    assert_eq!(spec.instance_types.len() * spec.subnet_ids.len(), 4);
    let launched = world.compute.launch(&spec).await.expect("launch");
    assert!(launched.instance_id.starts_with("i-"));
    assert_eq!(launched.instance_type, TYPES[0]);
    assert_eq!(launched.market, Market::OnDemand);
    assert!(world.subnet_ids.contains(&launched.subnet_id), "{launched:?}");
    assert!(launched.availability_zone.starts_with("us-east-1"), "{launched:?}");
    let instance = world.instance(&launched.instance_id).await;
    assert_eq!(instance.instance_lifecycle(), None);
    assert_eq!(instance.subnet_id(), Some(launched.subnet_id.as_str()));
    assert_job_tags(&world, &launched.instance_id, 101).await;
}

#[tokio::test]
async fn fleet_launches_spot_with_priorities() {
    let world = World::new().await;
    let spec =
        world.launch_spec(true, SpawnMethod::Fleet, AllocationStrategy::Priority, 102, Market::Spot).await;
    let launched = world.compute.launch(&spec).await.expect("launch");
    assert_eq!(launched.market, Market::Spot);
    assert_eq!(launched.instance_type, TYPES[0]);
    let instance = world.instance(&launched.instance_id).await;
    assert_eq!(instance.instance_lifecycle(), Some(&InstanceLifecycleType::Spot));
    assert_job_tags(&world, &launched.instance_id, 102).await;
}

#[tokio::test]
async fn a_spot_pool_falls_back_on_demand_with_both_methods() {
    let world = World::new().await;
    for (job, method) in [(103, SpawnMethod::Fleet), (104, SpawnMethod::RunInstances)] {
        let spec = world.launch_spec(true, method, AllocationStrategy::Cost, job, Market::OnDemand).await;
        let launched = world.compute.launch(&spec).await.expect("launch");
        assert_eq!(launched.market, Market::OnDemand, "{method:?}");
        assert_eq!(world.instance(&launched.instance_id).await.instance_lifecycle(), None, "{method:?}");
    }
}

#[tokio::test]
async fn fleet_skips_a_faulted_first_type() {
    let world = World::new().await;
    world.aws.set_faults(json!({"m5.large": "InsufficientInstanceCapacity"}));
    for (job, market) in [(105, Market::OnDemand), (106, Market::Spot)] {
        let spec =
            world.launch_spec(true, SpawnMethod::Fleet, AllocationStrategy::Priority, job, market).await;
        let launched = world.compute.launch(&spec).await.expect("launch");
        assert_eq!(launched.instance_type, "c5.large", "{market:?}");
        assert_eq!(launched.market, market);
    }
}

#[tokio::test]
async fn fleet_with_every_type_faulted_is_capacity_class() {
    let world = World::new().await;
    world.aws.set_faults(
        json!({"m5.large/spot": "InsufficientInstanceCapacity", "c5.large": "SpotMaxPriceTooLow"}),
    );
    let spec = world.launch_spec(true, SpawnMethod::Fleet, AllocationStrategy::Cost, 107, Market::Spot).await;
    let err = world.compute.launch(&spec).await.expect_err("no capacity");
    assert_eq!(err.class, ErrorClass::Capacity, "{err}");
    assert!(err.message.contains("InsufficientInstanceCapacity"), "{err}");
    assert!(err.message.contains("SpotMaxPriceTooLow"), "{err}");
    assert!(world.managed_ids().await.is_empty());
    // The same pool on-demand is not faulted for m5.large.
    let spec =
        world.launch_spec(true, SpawnMethod::Fleet, AllocationStrategy::Cost, 108, Market::OnDemand).await;
    assert_eq!(world.compute.launch(&spec).await.expect("on-demand").instance_type, "m5.large");
}

#[tokio::test]
async fn fleet_unsupported_operation_is_permanent() {
    let world = World::new().await;
    world.aws.set_faults(json!({"*": {"code": "UnsupportedOperation", "message": "The instance configuration is not supported"}}));
    let spec =
        world.launch_spec(false, SpawnMethod::Fleet, AllocationStrategy::Cost, 109, Market::OnDemand).await;
    let err = world.compute.launch(&spec).await.expect_err("unsupported");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code, "UnsupportedOperation");
    assert!(
        err.to_string().contains("UnsupportedOperation: The instance configuration is not supported"),
        "{err}"
    );
}

#[tokio::test]
async fn run_instances_falls_back_in_type_order_on_the_first_subnet() {
    let world = World::new().await;
    world.aws.set_faults(json!({"m5.large": "InsufficientInstanceCapacity"}));
    let spec = world
        .launch_spec(false, SpawnMethod::RunInstances, AllocationStrategy::Cost, 110, Market::OnDemand)
        .await;
    let launched = world.compute.launch(&spec).await.expect("launch");
    assert_eq!(launched.instance_type, "c5.large");
    assert_eq!(launched.subnet_id, world.subnet_ids[0]);
    assert_eq!(launched.availability_zone, "us-east-1a");
    assert_eq!(
        world.managed_ids().await,
        std::slice::from_ref(&launched.instance_id),
        "exactly one instance"
    );
    assert_job_tags(&world, &launched.instance_id, 110).await;
    // A replay of the same attempt (a restart mid-spawn) does not launch a second instance,
    // even now that the first type would succeed.
    world.aws.set_faults(json!({}));
    let again = world.compute.launch(&spec).await.expect("replay");
    assert_eq!(again.instance_id, launched.instance_id);
    assert_eq!(world.managed_ids().await.len(), 1);
}

#[tokio::test]
async fn run_instances_spot_uses_spot_market_options() {
    let world = World::new().await;
    let spec =
        world.launch_spec(true, SpawnMethod::RunInstances, AllocationStrategy::Cost, 111, Market::Spot).await;
    let launched = world.compute.launch(&spec).await.expect("launch");
    assert_eq!(launched.instance_type, "m5.large");
    assert_eq!(launched.market, Market::Spot);
    let instance = world.instance(&launched.instance_id).await;
    assert_eq!(instance.instance_lifecycle(), Some(&InstanceLifecycleType::Spot));
}

#[tokio::test]
async fn run_instances_with_every_type_faulted_is_capacity_class() {
    let world = World::new().await;
    world
        .aws
        .set_faults(json!({"m5.large": "InsufficientInstanceCapacity", "c5.large": "InstanceLimitExceeded"}));
    let spec = world
        .launch_spec(false, SpawnMethod::RunInstances, AllocationStrategy::Cost, 112, Market::OnDemand)
        .await;
    let err = world.compute.launch(&spec).await.expect_err("no capacity");
    assert_eq!(err.class, ErrorClass::Capacity);
    assert!(err.message.contains("m5.large") && err.message.contains("c5.large"), "{err}");
    assert!(world.managed_ids().await.is_empty());
}

#[tokio::test]
async fn run_instances_stops_at_a_permanent_error() {
    let world = World::new().await;
    world.aws.set_faults(json!({"m5.large": "UnsupportedOperation"}));
    let spec = world
        .launch_spec(false, SpawnMethod::RunInstances, AllocationStrategy::Cost, 113, Market::OnDemand)
        .await;
    let err = world.compute.launch(&spec).await.expect_err("unsupported");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code, "UnsupportedOperation");
    assert!(world.managed_ids().await.is_empty(), "c5.large was not tried");
}

#[tokio::test]
async fn a_launch_without_a_template_is_refused_before_any_call() {
    let world = World::new().await;
    let mut spec = world
        .launch_spec(false, SpawnMethod::RunInstances, AllocationStrategy::Cost, 114, Market::OnDemand)
        .await;
    spec.template_id = String::new();
    let err = world.compute.launch(&spec).await.expect_err("no template");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code, "InvalidParameterValue");
    assert!(world.managed_ids().await.is_empty());
}

#[tokio::test]
async fn a_batch_launches_one_instance_per_job_in_one_call_and_a_repeat_starts_no_more() {
    let world = World::new().await;
    for (jobs, method) in
        [([301, 302, 303], SpawnMethod::Fleet), ([311, 312, 313], SpawnMethod::RunInstances)]
    {
        let spec = world.batch_spec(method, &jobs).await;
        assert_eq!((spec.count, spec.jobs.as_slice()), (3, jobs.as_slice()));
        assert!(spec.client_token.starts_with("pacer-batch-"), "{}", spec.client_token);
        let launched = world.compute.launch_batch(&spec).await;
        assert_eq!(launched.shortfall, None, "{method:?}");
        let mut ids: Vec<String> = launched.instances.iter().map(|i| i.instance_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3, "{method:?}: {launched:?}");
        for id in &ids {
            let tags = tag_map(world.instance(id).await.tags());
            assert_eq!(tags.get("gha:launch"), Some(&spec.client_token));
            assert_eq!(tags.get("gha:job_id"), None, "the log maps a batch's instances to jobs");
            assert_eq!(tags.get("gha:pool").map(String::as_str), Some("linux"));
        }
        // The same batch again (a restart resuming it): the same instances, none started.
        let again = world.compute.launch_batch(&spec).await;
        let mut again_ids: Vec<String> = again.instances.iter().map(|i| i.instance_id.clone()).collect();
        again_ids.sort();
        assert_eq!((again_ids, again.shortfall), (ids, None), "{method:?}");
    }
    assert_eq!(world.managed_ids().await.len(), 6);
}

#[tokio::test]
async fn a_batch_short_of_capacity_returns_what_started_and_why_not_the_rest() {
    let world = World::new().await;
    // Every type faulted: nothing starts, and the reason is capacity.
    world.aws.set_faults(
        json!({"m5.large": "InsufficientInstanceCapacity", "c5.large": "InsufficientInstanceCapacity"}),
    );
    let spec = world.batch_spec(SpawnMethod::RunInstances, &[321, 322]).await;
    let launched = world.compute.launch_batch(&spec).await;
    assert_eq!(launched.instances, []);
    assert_eq!(launched.shortfall.map(|e| e.class), Some(ErrorClass::Capacity));
}
