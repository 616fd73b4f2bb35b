//! Instance calls against moto: describe with missing ids, the managed-instance list, the
//! terminate, stop and start guard, and the DryRun preflight.

use crate::fixture::World;
use pacer_aws::{Compute, ComputeError, InstanceState, Verdict};
use pacer_domain::{AllocationStrategy, Market, SpawnMethod};

async fn launch(world: &World, job: u64) -> String {
    let spec = world
        .launch_spec(false, SpawnMethod::RunInstances, AllocationStrategy::Cost, job, Market::OnDemand)
        .await;
    world.compute.launch(&spec).await.expect("launch").instance_id
}

async fn foreign_instance(world: &World) -> String {
    let out = world
        .ec2
        .run_instances()
        .image_id(&world.ami_id)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("run a foreign instance");
    out.instances()[0].instance_id().expect("id").to_owned()
}

async fn states(world: &World, ids: &[String]) -> Vec<InstanceState> {
    world.compute.describe(ids).await.expect("describe").into_iter().map(|s| s.state).collect()
}

#[tokio::test]
async fn describe_reports_missing_ids_as_gone_and_the_rest_as_they_are() {
    let world = World::new().await;
    let a = launch(&world, 201).await;
    let b = launch(&world, 202).await;
    let ids = vec![a.clone(), "i-0000000000000dead".to_owned(), b.clone(), "i-0000000000000beef".to_owned()];
    let statuses = world.compute.describe(&ids).await.expect("describe");
    let got: Vec<(&str, InstanceState)> =
        statuses.iter().map(|s| (s.instance_id.as_str(), s.state)).collect();
    assert_eq!(got[1], ("i-0000000000000dead", InstanceState::Gone));
    assert_eq!(got[3], ("i-0000000000000beef", InstanceState::Gone));
    for status in [&statuses[0], &statuses[2]] {
        assert!(status.state.is_live(), "{status:?}");
        assert!(status.is_managed());
        assert_eq!(status.instance_type, "m5.large");
        assert_eq!(status.availability_zone, "us-east-1a");
        assert!(status.launched_at.is_some());
    }
    assert_eq!(statuses[0].instance_id, a);
    assert_eq!(statuses[2].tags.get("gha:job_id").map(String::as_str), Some("202"));
    assert!(world.compute.describe(&[]).await.expect("empty").is_empty());
}

#[tokio::test]
async fn list_managed_finds_pacer_instances_only() {
    let world = World::new().await;
    let a = launch(&world, 203).await;
    let b = launch(&world, 204).await;
    let _foreign = foreign_instance(&world).await;
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(world.managed_ids().await, expected);
    world.compute.terminate(std::slice::from_ref(&a)).await.expect("terminate");
    // Terminated instances are not orphans any more.
    let states: Vec<_> = world
        .compute
        .list_managed()
        .await
        .expect("list")
        .into_iter()
        .map(|s| (s.instance_id, s.state))
        .collect();
    assert!(states.iter().all(|(id, state)| id != &a || *state == InstanceState::ShuttingDown), "{states:?}");
    assert!(states.iter().any(|(id, _)| id == &b));
}

#[tokio::test]
async fn terminate_refuses_an_untagged_instance_and_calls_nothing() {
    let world = World::new().await;
    let managed = launch(&world, 205).await;
    let foreign = foreign_instance(&world).await;
    let err = world.compute.terminate(&[managed.clone(), foreign.clone()]).await.expect_err("refused");
    assert_eq!(err, ComputeError::NotManaged(vec![foreign.clone()]));
    assert!(err.to_string().contains(&foreign), "{err}");
    let states = world.compute.describe(&[managed.clone(), foreign.clone()]).await.expect("describe");
    assert!(states.iter().all(|s| s.state.is_live()), "nothing was terminated: {states:?}");

    world.compute.terminate(&[managed.clone(), "i-0000000000000dead".to_owned()]).await.expect("terminate");
    let state = world.compute.describe(std::slice::from_ref(&managed)).await.expect("describe")[0].state;
    assert!(matches!(state, InstanceState::ShuttingDown | InstanceState::Terminated), "{state:?}");
}

#[tokio::test]
async fn stop_and_start_switch_managed_instances_and_refuse_untagged_ones() {
    let world = World::new().await;
    let managed = launch(&world, 206).await;
    let foreign = foreign_instance(&world).await;
    let both = [managed.clone(), foreign.clone()];

    let err = world.compute.stop(&both).await.expect_err("refused");
    assert_eq!(err, ComputeError::NotManaged(vec![foreign.clone()]));
    assert!(states(&world, &both).await.iter().all(|s| s.is_live()), "nothing was stopped");

    // Ids EC2 does not know are skipped.
    world.compute.stop(&[managed.clone(), "i-0000000000000dead".to_owned()]).await.expect("stop");
    assert_eq!(states(&world, std::slice::from_ref(&managed)).await, [InstanceState::Stopped]);
    let listed = world.compute.list_managed().await.expect("list");
    assert_eq!(
        listed.iter().map(|s| (s.instance_id.as_str(), s.state)).collect::<Vec<_>>(),
        [(managed.as_str(), InstanceState::Stopped)],
        "a stopped instance is still Pacer's"
    );
    world.compute.stop(std::slice::from_ref(&managed)).await.expect("stopping a stopped instance is a no-op");

    let err = world.compute.start(&both).await.expect_err("refused");
    assert_eq!(err, ComputeError::NotManaged(vec![foreign.clone()]));
    assert_eq!(
        states(&world, &both).await,
        [InstanceState::Stopped, InstanceState::Running],
        "nothing was started"
    );

    world.compute.start(&[managed.clone(), "i-0000000000000beef".to_owned()]).await.expect("start");
    let state = states(&world, std::slice::from_ref(&managed)).await[0];
    assert!(state.is_live(), "pending or running again: {state:?}");
    assert!(world.compute.describe(&[]).await.expect("empty").is_empty());
}

#[tokio::test]
async fn preflight_reads_dry_run_answers_and_creates_nothing() {
    let world = World::new().await;
    let checks = world.compute.preflight().await;
    let verdict = |action: &str| checks.iter().find(|c| c.action == action).map(|c| c.verdict);
    for action in [
        "ec2:RunInstances",
        "ec2:TerminateInstances",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:CreateLaunchTemplate",
        "ec2:DescribeInstances",
    ] {
        assert_eq!(verdict(action), Some(Verdict::Allowed), "{action}: {checks:?}");
    }
    assert!(checks.iter().all(|c| !c.message.is_empty()));
    let templates = world.ec2.describe_launch_templates().send().await.expect("describe");
    assert!(templates.launch_templates().is_empty(), "the dry run created a template");
    assert!(world.managed_ids().await.is_empty());
}
