//! `pacer iam-policy` grants every AWS operation Pacer makes: moto and the pricing stub record
//! the requests of whole job lives (pool validation with an instance profile, template creation,
//! sync, re-versioning and deletion, fleet and run_instances launches on demand and on spot,
//! prices, the runner's callbacks, teardown, the preflight), and each operation made with
//! Pacer's own credentials must be an action of the policy the real binary prints.

use crate::support::pacer::Pacer;
use crate::support::world::{TYPES, World};
use crate::support::{queued_job, webhook_example};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Pacer's access key: what tells its requests from the test's own in the recordings.
const PACER_KEY: &str = "AKIAPACERIAMPOLICYE2";
/// The role in the pools' instance profile (moto's default account).
const RUNNER_ROLE: &str = "arn:aws:iam::123456789012:role/pacer-runner";

/// The `service:Operation` of one recorded request: the service from the signature's
/// credential scope, the operation from `X-Amz-Target` (JSON protocols) or the `Action`
/// parameter (EC2 and IAM query protocols). `None` for a request not signed with `key`.
fn operation_of(entry: &Value, key: &str) -> Option<String> {
    use base64::Engine;
    let headers = entry["headers"].as_object()?;
    let header =
        |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str());
    let scope = header("authorization")?.split("Credential=").nth(1)?;
    let mut parts = scope.split('/');
    if parts.next()? != key {
        return None;
    }
    let service = parts.nth(2)?;
    if let Some(target) = header("x-amz-target") {
        return Some(format!("{service}:{}", target.rsplit('.').next()?));
    }
    let body = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool() == Some(true) {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).ok()?).ok()?
    } else {
        body.to_owned()
    };
    let query = entry["url"].as_str().and_then(|u| u.split_once('?')).map_or("", |(_, q)| q);
    let action = body
        .split('&')
        .chain(query.split('&'))
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or_else(|| panic!("no operation in a recorded request: {entry}"));
    Some(format!("{service}:{action}"))
}

/// The operations of every line of a recording made with `key`.
fn operations(recording: &str, key: &str) -> BTreeSet<String> {
    recording
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| operation_of(&serde_json::from_str(line).expect("a recorded request"), key))
        .collect()
}

/// Every action the statements of `policy` grant (none of them uses wildcards).
fn granted(policy: &Value) -> BTreeSet<String> {
    let statements = policy["Statement"].as_array().expect("statements");
    statements
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::String(action) => vec![action.clone()],
            Value::Array(actions) => actions.iter().map(|a| a.as_str().expect("action").to_owned()).collect(),
            other => panic!("no action in {other}"),
        })
        .inspect(|action| assert!(!action.contains('*'), "{action}: wildcard"))
        .collect()
}

/// Drives `job`, which lands on pool `pool`, from queued through its runner's life to
/// completed and its instance's end.
async fn run_job(world: &World, pacer: &Pacer, pool: u64, job: Value, delivery: &str) {
    let (status, answer) = pacer.workflow_job(&format!("{delivery}-queued"), &job).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")), "{answer}");
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;
    let instance = world.managed_instances().await.pop().expect("an instance");
    let (status, boot) = pacer
        .callback("bootstrap", &world.bootstrap_token_of(pool).await, world.proof(&instance).await)
        .await;
    assert_eq!(status, 200, "{boot}");
    let token = boot["callback_token"].as_str().expect("callback token").to_owned();
    assert_eq!(pacer.callback("register", &token, json!({})).await.0, 200);
    pacer.wait_jobs("running", 1, Duration::from_secs(10)).await;
    let mut progress = job.clone();
    progress["action"] = "in_progress".into();
    progress["workflow_job"]["runner_name"] = format!("pacer-{instance}").into();
    assert_eq!(pacer.workflow_job(&format!("{delivery}-progress"), &progress).await.0, 200);
    assert_eq!(pacer.callback("complete", &token, json!({"exit_code": 0})).await.0, 200);
    let mut done = progress;
    done["action"] = "completed".into();
    done["workflow_job"]["conclusion"] = "success".into();
    assert_eq!(pacer.workflow_job(&format!("{delivery}-done"), &done).await.0, 200);
    pacer
        .wait_for("the instance's end", Duration::from_secs(30), || async {
            pacer.metric("pacer_instances").await == 0.0
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_policy_grants_every_operation_a_job_life_makes() {
    let mut world = World::bare().await;
    let iam = world.aws.iam().await;
    iam.create_role()
        .role_name("pacer-runner")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "ec2.amazonaws.com"}}]})
            .to_string(),
        )
        .send()
        .await
        .expect("role");
    iam.create_instance_profile().instance_profile_name("pacer-runner").send().await.expect("profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name("pacer-runner")
        .role_name("pacer-runner")
        .send()
        .await
        .expect("role in profile");
    world.setup.env.push(("AWS_ACCESS_KEY_ID".into(), PACER_KEY.into()));
    let http = reqwest::Client::new();
    let recorder = |verb: &str| format!("{}/moto-api/recorder/{verb}", world.aws.moto.url);
    let started = http.post(recorder("start-recording")).send().await.expect("start recording");
    assert!(started.status().is_success());

    // Pool `default`: CreateFleet on demand, an instance profile, a tag to drop later; pool
    // `spot`: RunInstances on the spot market.
    let mut backup =
        world.backup(json!({"iam_instance_profile": "pacer-runner", "tags": {"stage": "first"}}));
    backup["projects"][0]["pools"].as_array_mut().expect("pools").push(json!({
        "name": "spot",
        "ami_id": world.ami,
        "instance_types": TYPES,
        "subnet_ids": world.subnets,
        "security_group_ids": [world.security_group],
        "spot": true,
        "spawn_method": "run_instances",
        "cap": 2,
    }));
    world.setup.import(&backup);
    let pacer = world.setup.start().await;
    let pools = pacer.graphql("{ pools { id name } }", json!({})).await;
    let id_of = |name: &str| {
        let pool = pools["pools"].as_array().and_then(|p| p.iter().find(|p| p["name"] == name));
        pool.and_then(|p| p["id"].as_str()).and_then(|id| id.parse::<u64>().ok()).expect("pool id")
    };

    run_job(&world, &pacer, id_of("default"), queued_job(8_000_000_001), "default").await;
    let spot_job = webhook_example(
        "workflow_job.05.queued.json",
        "queued",
        8_000_000_002,
        "octo/hello",
        &["self-hosted", "platform", "spot"],
    );
    run_job(&world, &pacer, id_of("spot"), spot_job, "spot").await;

    // The pool loses its tag (its template is re-versioned and untagged), then `spot` goes.
    let input = json!({
        "name": "default",
        "isDefault": true,
        "amiId": world.ami,
        "instanceTypes": TYPES,
        "subnetIds": world.subnets,
        "securityGroupIds": [world.security_group],
        "iamInstanceProfile": "pacer-runner",
        "cap": 5,
        "tags": [],
    });
    pacer
        .graphql(
            "mutation($id: ID!, $i: PoolInput!) { updatePool(id: $id, input: $i) { launchTemplateVersion } }",
            json!({"id": id_of("default").to_string(), "i": input}),
        )
        .await;
    pacer
        .graphql("mutation($id: ID!) { deletePool(id: $id) }", json!({"id": id_of("spot").to_string()}))
        .await;
    pacer.stop();

    let recording = http.get(recorder("download-recording")).send().await.expect("download");
    let mut made = operations(&recording.text().await.expect("recording"), PACER_KEY);
    let prices = std::fs::read_to_string(world.aws.pricing_recording()).unwrap_or_default();
    made.extend(operations(&prices, PACER_KEY));
    println!("operations Pacer made: {made:#?}");
    for expected in [
        "ec2:CreateFleet",
        "ec2:RunInstances",
        "ec2:TerminateInstances",
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:DeleteTags",
        "ec2:DeleteLaunchTemplate",
        "ec2:DescribeSpotPriceHistory",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstanceTypeOfferings",
        "iam:GetInstanceProfile",
        "pricing:GetProducts",
    ] {
        assert!(made.contains(expected), "the recordings miss {expected}: {made:?}");
    }

    let output = world
        .setup
        .command()
        .args(["iam-policy", "--config"])
        .arg(world.setup.config_file())
        .args(["--instance-profile-role", RUNNER_ROLE])
        .output()
        .expect("run pacer iam-policy");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let policy: Value = serde_json::from_slice(&output.stdout).expect("the policy is JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let actions = granted(&policy);
    let missing: Vec<&String> = made.difference(&actions).collect();
    assert!(missing.is_empty(), "Pacer made calls its policy does not grant: {missing:?}");
    let statements = policy["Statement"].as_array().expect("statements");
    let pass_role = statements.iter().find(|s| s["Action"] == json!(["iam:PassRole"])).expect("PassRole");
    assert_eq!(pass_role["Resource"], json!([RUNNER_ROLE]));
    assert_eq!(pass_role["Condition"]["StringEquals"]["iam:PassedToService"], "ec2.amazonaws.com");
    assert!(
        policy.to_string().contains("arn:aws:ec2:us-east-1:*:instance/*"),
        "scoped to the configuration's region"
    );

    let refused = world
        .setup
        .command()
        .args(["iam-policy", "--instance-profile-role", "pacer-runner"])
        .output()
        .expect("run pacer iam-policy");
    assert_eq!(refused.status.code(), Some(2), "a profile name is not a role ARN");
}
