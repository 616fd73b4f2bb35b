//! The pool editor's pickers through the real binary: `awsSubnets`, `awsSecurityGroups`,
//! `awsImages` and `awsInstanceProfiles` answer what moto holds; bad input is INVALID_INPUT
//! before AWS is asked; without a session nothing answers; an AWS that refuses the listings
//! makes them UNAVAILABLE, naming the IAM action.

use crate::auth::{ADMIN, gql, login, printed_password};
use crate::support::pacer::Pacer;
use crate::support::world::World;
use serde_json::{Value, json};
use warp::Filter;

/// The `data` of a query with auth disabled, or a panic with the errors.
async fn data(pacer: &Pacer, query: &str) -> Value {
    let (status, body) = gql(pacer, None, query).await;
    assert!(status == 200 && body["errors"].is_null(), "{query}: {status} {body}");
    body["data"].clone()
}

/// The first error's code and field of a query that must fail.
async fn refusal(pacer: &Pacer, cookie: Option<&str>, query: &str) -> (String, Value, String) {
    let (_, body) = gql(pacer, cookie, query).await;
    let error = &body["errors"][0];
    assert!(body["data"].is_null(), "{query}: {body}");
    (
        error["extensions"]["code"].as_str().unwrap_or_default().to_owned(),
        error["extensions"]["field"].clone(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pickers_answer_what_the_account_holds() {
    let world = World::bare().await;
    let iam = world.aws.iam().await;
    for name in ["pacer-runner", "ci-builder"] {
        iam.create_instance_profile().instance_profile_name(name).send().await.expect("instance profile");
    }
    let pacer = world.setup.start().await;

    let answer = data(&pacer, "{ awsSubnets { id vpcId availabilityZone cidrBlock name } }").await;
    let subnets = answer["awsSubnets"].as_array().expect("subnets");
    let ours: Vec<&Value> =
        world.subnets.iter().map(|id| subnets.iter().find(|s| s["id"] == *id).expect("listed")).collect();
    assert_eq!(
        ours.iter().map(|s| (&s["availabilityZone"], &s["cidrBlock"])).collect::<Vec<_>>(),
        [(&json!("us-east-1a"), &json!("10.0.1.0/24")), (&json!("us-east-1b"), &json!("10.0.2.0/24"))]
    );
    let vpc = ours[0]["vpcId"].as_str().expect("a VPC").to_owned();
    assert_eq!(ours[1]["vpcId"], vpc.as_str(), "both in the world's VPC");
    assert!(subnets.len() > 2, "moto's default VPC is listed too");

    let query = format!("{{ awsSecurityGroups(vpcId: \"{vpc}\") {{ id name vpcId description }} }}");
    let groups = data(&pacer, &query).await["awsSecurityGroups"].as_array().cloned().expect("groups");
    assert!(groups.iter().all(|g| g["vpcId"] == vpc.as_str()), "{groups:?}");
    assert!(groups.iter().any(|g| g["id"] == world.security_group.as_str() && g["name"] == "pacer-e2e"));
    let all = data(&pacer, "{ awsSecurityGroups { id vpcId } }").await;
    assert!(all["awsSecurityGroups"].as_array().expect("groups").len() > groups.len());

    let images = data(
        &pacer,
        r#"{ awsImages(owners: ["amazon"], name: "al2022-ami-2022*") { id name ownerId architecture createdAt } }"#,
    )
    .await;
    let images = images["awsImages"].as_array().expect("images");
    assert_eq!(images.len(), 3, "{images:?}");
    assert!(images.iter().all(|i| i["name"].as_str().is_some_and(|n| n.starts_with("al2022-ami-"))));
    assert!(images.iter().any(|i| i["id"] == "ami-0e9271c829888680e" && i["architecture"] == "arm64"));
    assert!(images.iter().all(|i| i["ownerId"] == "137112412989" && i["createdAt"].is_string()));
    let defaults = data(&pacer, "{ awsImages { id } }").await;
    assert_eq!(
        defaults["awsImages"].as_array().map(Vec::len),
        Some(100),
        "the newest 100 of self and amazon"
    );
    let own = data(&pacer, r#"{ awsImages(owners: ["self"]) { id } }"#).await;
    assert_eq!(own["awsImages"], json!([]), "the test account owns none");

    let profiles = data(&pacer, "{ awsInstanceProfiles { name arn } }").await;
    let names: Vec<&Value> =
        profiles["awsInstanceProfiles"].as_array().expect("profiles").iter().map(|p| &p["name"]).collect();
    assert_eq!(names, [&json!("ci-builder"), &json!("pacer-runner")]);

    // Bad input is refused, naming the argument.
    let owners = vec!["self"; 11];
    for (query, field) in [
        (format!("{{ awsImages(owners: {}) {{ id }} }}", json!(owners)), "owners"),
        (r#"{ awsImages(owners: ["self", "not an owner"]) { id } }"#.to_owned(), "owners[1]"),
        (format!("{{ awsImages(owners: [\"{}\"]) {{ id }} }}", "x".repeat(65)), "owners[0]"),
        (r#"{ awsImages(name: "al2022;rm -rf") { id } }"#.to_owned(), "name"),
        (format!("{{ awsImages(name: \"{}\") {{ id }} }}", "a".repeat(129)), "name"),
        (r#"{ awsSecurityGroups(vpcId: "sg-0123456789abcdef0") { id } }"#.to_owned(), "vpc_id"),
    ] {
        let (code, at, _) = refusal(&pacer, None, &query).await;
        assert_eq!((code.as_str(), at), ("INVALID_INPUT", json!(field)), "{query}");
    }
}

/// An AWS (EC2 and IAM on one endpoint) that refuses every call as a principal without the
/// permission; its URL.
async fn refusing_aws() -> String {
    let route = warp::post().and(warp::body::bytes()).map(|body: bytes::Bytes| {
        let body = String::from_utf8_lossy(&body);
        let action = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .unwrap_or("Unknown")
            .to_owned();
        let principal = "User: arn:aws:iam::123456789012:user/pacer is not authorized to perform";
        let xml = if action == "ListInstanceProfiles" {
            format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{principal}: iam:{action} on resource: arn:aws:iam::123456789012:instance-profile/</Message></Error><RequestId>denied</RequestId></ErrorResponse>"
            )
        } else {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. {principal}: ec2:{action}</Message></Error></Errors><RequestID>denied</RequestID></Response>"
            )
        };
        warp::reply::with_status(
            warp::reply::with_header(xml, "content-type", "text/xml"),
            warp::http::StatusCode::FORBIDDEN,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(warp::serve(route).incoming(listener).run());
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pickers_need_a_session_and_name_a_missing_permission() {
    let mut world = World::bare().await;
    world.setup.moto = refusing_aws().await;
    world.setup.auth = format!("  local:\n    email: {ADMIN}\n");
    let pacer = world.setup.start().await;

    for query in ["{ awsSubnets { id } }", "{ awsInstanceProfiles { name } }", "{ awsImages { id } }"] {
        let (status, body) = gql(&pacer, None, query).await;
        assert_eq!(status, 401, "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }

    let password = printed_password(&pacer.logs()).expect("the bootstrap password");
    let (_, _, cookie, _) = login(&pacer, ADMIN, &password).await;
    let cookie = cookie.expect("a session");
    let (code, _, message) = refusal(&pacer, Some(&cookie), "{ awsInstanceProfiles { name } }").await;
    assert_eq!(code, "UNAVAILABLE", "{message}");
    assert!(
        message.contains("needs iam:ListInstanceProfiles") && message.contains("AccessDenied"),
        "{message}"
    );
    for (query, action) in [
        ("{ awsSubnets { id } }", "ec2:DescribeSubnets"),
        ("{ awsSecurityGroups { id } }", "ec2:DescribeSecurityGroups"),
        (r#"{ awsImages(name: "al2023-*") { id } }"#, "ec2:DescribeImages"),
    ] {
        let (code, _, message) = refusal(&pacer, Some(&cookie), query).await;
        assert_eq!(code, "UNAVAILABLE", "{query}: {message}");
        assert!(message.contains(&format!("needs {action}")), "{query}: {message}");
        assert!(message.contains("UnauthorizedOperation"), "{query}: {message}");
    }
    // Bad input never reaches AWS: refused as input, not as AWS's refusal.
    let (code, field, _) = refusal(&pacer, Some(&cookie), r#"{ awsImages(owners: ["a b"]) { id } }"#).await;
    assert_eq!((code.as_str(), field), ("INVALID_INPUT", json!("owners[0]")));
}
