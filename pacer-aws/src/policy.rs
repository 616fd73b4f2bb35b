//! The least-privilege IAM policy of Pacer's AWS principal (`pacer iam-policy`): every AWS
//! operation this crate calls ([`AWS_OPERATIONS`], one table the preflight and the tests use
//! too), granted on the narrowest resources and conditions AWS supports for it.
//!
//! How each grant is narrowed, and why:
//!
//! * **Describe\*** (`DescribeInstances`, `DescribeImages`, `DescribeSubnets`,
//!   `DescribeSecurityGroups`, `DescribeLaunchTemplates`, `DescribeSpotPriceHistory`,
//!   `DescribeInstanceTypes`, `DescribeInstanceTypeOfferings`) have no
//!   resource-level permissions: `Resource: "*"`, limited to the region by
//!   `aws:RequestedRegion` when one is known.
//! * **Launch templates** have ARNs by id (`launch-template/lt-…`), and EC2 has no condition
//!   key for a template's name, so a `pacer-pool-*` name prefix cannot be expressed. Every
//!   template Pacer creates carries `gha:managed-by=pacer` instead: `CreateLaunchTemplate`
//!   requires that tag in the request (`aws:RequestTag`), and `CreateLaunchTemplateVersion`,
//!   `ModifyLaunchTemplate`, `DeleteLaunchTemplateVersions`, `DeleteLaunchTemplate`, re-tagging
//!   and launching from a template require it on the template (`aws:ResourceTag`).
//! * **RunInstances / CreateFleet** (an `instant` fleet launches with the caller's own
//!   RunInstances permission) are checked against every resource they touch: the template
//!   (tagged, above); the new instance and its volumes, which must be created with
//!   `gha:managed-by=pacer` (`aws:RequestTag`, Pacer tags both in every launch); and the
//!   existing or side resources Pacer does not tag, granted without tag conditions: image and
//!   its snapshot, subnet, security group, the network interface EC2 creates, the one-time spot
//!   request of a spot launch and the fleet itself. No key pair: Pacer never names one.
//! * **CreateTags** only in the context of those creations (`ec2:CreateAction` =
//!   `RunInstances`, `CreateFleet` or `CreateLaunchTemplate`, with the managed-by tag in the
//!   request), or on a Pacer template when its tags follow the pool's; **DeleteTags** only on
//!   a Pacer template and never of the `gha:managed-by` key (`aws:TagKeys`).
//! * **TerminateInstances**, and **StopInstances** and **StartInstances** (stopped warm pools),
//!   only on instances tagged `gha:managed-by=pacer` (the code refuses any other as well).
//! * **iam:PassRole** (checked when a launch template names an instance profile) only to EC2
//!   (`iam:PassedToService`), and only for the given role ARNs when the operator names them:
//!   pools name instance profiles, and which role a profile holds is known to IAM alone.
//! * **iam:GetInstanceProfile** (pool validation) and **iam:ListInstanceProfiles** (the pool
//!   editor's picker) on instance profiles; **pricing:GetProducts** has no resource-level
//!   permissions. The pickers' other listings (`DescribeImages`, `DescribeSubnets`,
//!   `DescribeSecurityGroups`) are among the Describe\* calls above.
//!
//! The DryRun preflight makes its creations carry the tag too, and reads a refusal of a grant
//! that needs a Pacer-tagged resource ([`GRANTED_ON_PACER_RESOURCES`]) on its placeholder ids
//! as unknown, so this policy passes Pacer's own check.
//!
//! With the shared log (`storage.backend: dynamodb`, [`SharedLogScope`]) two statements more:
//! the table's items and its `by_action` index (`GetItem`, `BatchGetItem`, `Query`, and
//! `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`, which `TransactWriteItems`
//! needs per item; `DescribeTable`), and the snapshots under `<prefix>snapshots/` in the
//! bucket (`PutObject`, which multipart uploads need too, `GetObject`, `DeleteObject`,
//! `AbortMultipartUpload`, and `ListBucket` on the bucket, which its existence check needs
//! too); `CreateTable` and
//! `CreateBucket` only when Pacer creates them (`storage.dynamodb.create`).
//!
//! Outside the policy, because Pacer makes no such call: spot launches need the
//! `AWSServiceRoleForEC2Spot` service-linked role to exist (create it once with
//! `aws iam create-service-linked-role --aws-service-name spot.amazonaws.com`), and encrypted
//! root volumes under a customer-managed default EBS key need that key's KMS grants.

use pacer_domain::{MANAGED_BY_VALUE, TAG_MANAGED_BY};
use serde_json::{Value, json};

pub(crate) const CREATE_FLEET: &str = "ec2:CreateFleet";
pub(crate) const CREATE_LAUNCH_TEMPLATE: &str = "ec2:CreateLaunchTemplate";
pub(crate) const CREATE_LAUNCH_TEMPLATE_VERSION: &str = "ec2:CreateLaunchTemplateVersion";
pub(crate) const CREATE_TAGS: &str = "ec2:CreateTags";
pub(crate) const DELETE_LAUNCH_TEMPLATE: &str = "ec2:DeleteLaunchTemplate";
pub(crate) const DELETE_LAUNCH_TEMPLATE_VERSIONS: &str = "ec2:DeleteLaunchTemplateVersions";
pub(crate) const DELETE_TAGS: &str = "ec2:DeleteTags";
pub(crate) const DESCRIBE_IMAGES: &str = "ec2:DescribeImages";
pub(crate) const DESCRIBE_INSTANCES: &str = "ec2:DescribeInstances";
pub(crate) const DESCRIBE_INSTANCE_TYPES: &str = "ec2:DescribeInstanceTypes";
pub(crate) const DESCRIBE_INSTANCE_TYPE_OFFERINGS: &str = "ec2:DescribeInstanceTypeOfferings";
pub(crate) const DESCRIBE_LAUNCH_TEMPLATES: &str = "ec2:DescribeLaunchTemplates";
pub(crate) const DESCRIBE_SECURITY_GROUPS: &str = "ec2:DescribeSecurityGroups";
pub(crate) const DESCRIBE_SPOT_PRICE_HISTORY: &str = "ec2:DescribeSpotPriceHistory";
pub(crate) const DESCRIBE_SUBNETS: &str = "ec2:DescribeSubnets";
pub(crate) const MODIFY_LAUNCH_TEMPLATE: &str = "ec2:ModifyLaunchTemplate";
pub(crate) const RUN_INSTANCES: &str = "ec2:RunInstances";
pub(crate) const START_INSTANCES: &str = "ec2:StartInstances";
pub(crate) const STOP_INSTANCES: &str = "ec2:StopInstances";
pub(crate) const TERMINATE_INSTANCES: &str = "ec2:TerminateInstances";
pub(crate) const GET_INSTANCE_PROFILE: &str = "iam:GetInstanceProfile";
pub(crate) const LIST_INSTANCE_PROFILES: &str = "iam:ListInstanceProfiles";
pub(crate) const GET_PRODUCTS: &str = "pricing:GetProducts";
pub(crate) const PASS_ROLE: &str = "iam:PassRole";

/// Every AWS operation Pacer calls, as `service:Operation`; each one's IAM action has the same
/// name.
pub const AWS_OPERATIONS: &[&str] = &[
    CREATE_FLEET,
    CREATE_LAUNCH_TEMPLATE,
    CREATE_LAUNCH_TEMPLATE_VERSION,
    CREATE_TAGS,
    DELETE_LAUNCH_TEMPLATE,
    DELETE_LAUNCH_TEMPLATE_VERSIONS,
    DELETE_TAGS,
    DESCRIBE_IMAGES,
    DESCRIBE_INSTANCES,
    DESCRIBE_INSTANCE_TYPES,
    DESCRIBE_INSTANCE_TYPE_OFFERINGS,
    DESCRIBE_LAUNCH_TEMPLATES,
    DESCRIBE_SECURITY_GROUPS,
    DESCRIBE_SPOT_PRICE_HISTORY,
    DESCRIBE_SUBNETS,
    MODIFY_LAUNCH_TEMPLATE,
    RUN_INSTANCES,
    START_INSTANCES,
    STOP_INSTANCES,
    TERMINATE_INSTANCES,
    GET_INSTANCE_PROFILE,
    LIST_INSTANCE_PROFILES,
    GET_PRODUCTS,
];

/// IAM actions AWS checks during those operations without a call of their own: `iam:PassRole`
/// for a template's instance profile, `ec2:CreateTags` for tags given at creation.
pub const IMPLIED_ACTIONS: &[&str] = &[PASS_ROLE, CREATE_TAGS];

/// Actions the policy grants only on existing resources tagged `gha:managed-by=pacer`: a
/// DryRun against a placeholder id cannot show them allowed. Read by the preflight, which
/// needs the SDK.
#[cfg_attr(not(feature = "ec2"), allow(dead_code))]
pub const GRANTED_ON_PACER_RESOURCES: &[&str] = &[
    TERMINATE_INSTANCES,
    STOP_INSTANCES,
    START_INSTANCES,
    CREATE_LAUNCH_TEMPLATE_VERSION,
    MODIFY_LAUNCH_TEMPLATE,
    DELETE_LAUNCH_TEMPLATE_VERSIONS,
    DELETE_LAUNCH_TEMPLATE,
    CREATE_TAGS,
    DELETE_TAGS,
];

/// What narrows the policy beyond what the code itself fixes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyScope {
    /// The region Pacer runs in (`aws.region`); `None` = any region.
    pub region: Option<String>,
    /// ARNs of the IAM roles in the pools' instance profiles; empty = any role (still only
    /// passable to EC2).
    pub instance_profile_roles: Vec<String>,
    /// The shared log of replicas, when Pacer keeps its log in DynamoDB.
    pub shared_log: Option<SharedLogScope>,
}

/// The DynamoDB table and S3 snapshots of a shared log (`storage.dynamodb.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedLogScope {
    /// The table.
    pub table: String,
    /// The snapshots' bucket.
    pub bucket: String,
    /// The snapshots' key prefix.
    pub prefix: String,
    /// Whether Pacer creates the table and the bucket.
    pub create: bool,
}

/// The statements granting the shared log's table and snapshots.
fn shared_log_statements(log: &SharedLogScope, partition: &str, region: &str) -> Vec<Value> {
    let table = format!("arn:{partition}:dynamodb:{region}:*:table/{}", log.table);
    let mut table_actions = vec![
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ];
    let mut bucket_actions = vec!["s3:ListBucket"];
    if log.create {
        table_actions.push("dynamodb:CreateTable");
        bucket_actions.push("s3:CreateBucket");
    }
    let bucket = format!("arn:{partition}:s3:::{}", log.bucket);
    let snapshots = format!("{}snapshots/", log.prefix);
    vec![
        json!({
            "Sid": "SharedLogTable",
            "Effect": "Allow",
            "Action": table_actions,
            "Resource": [table.clone(), format!("{table}/index/*")],
        }),
        json!({
            "Sid": "SharedLogSnapshots",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": format!("{bucket}/{snapshots}*"),
        }),
        json!({"Sid": "SharedLogBucket", "Effect": "Allow", "Action": bucket_actions, "Resource": bucket}),
    ]
}

/// The AWS partition of `region` (`aws`, `aws-cn`, `aws-us-gov`, …).
pub(crate) fn partition_of(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ];
    PREFIXES.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("aws", |(_, partition)| partition)
}

/// The policy document (IAM policy grammar, version 2012-10-17) for `scope`.
pub fn iam_policy(scope: &PolicyScope) -> Value {
    let partition = scope.region.as_deref().map_or("aws", partition_of);
    let region = scope.region.as_deref().unwrap_or("*");
    let ec2 = |resource: &str| format!("arn:{partition}:ec2:{region}:*:{resource}");
    let public_ec2 = |resource: &str| format!("arn:{partition}:ec2:{region}::{resource}");
    let resource_tagged =
        json!({"StringEquals": {format!("aws:ResourceTag/{TAG_MANAGED_BY}"): MANAGED_BY_VALUE}});
    let request_tagged =
        json!({"StringEquals": {format!("aws:RequestTag/{TAG_MANAGED_BY}"): MANAGED_BY_VALUE}});
    let launch = [RUN_INSTANCES, CREATE_FLEET];
    let mut read = json!({
        "Sid": "ReadEc2",
        "Effect": "Allow",
        "Action": [
            DESCRIBE_IMAGES,
            DESCRIBE_INSTANCES,
            DESCRIBE_INSTANCE_TYPES,
            DESCRIBE_INSTANCE_TYPE_OFFERINGS,
            DESCRIBE_LAUNCH_TEMPLATES,
            DESCRIBE_SECURITY_GROUPS,
            DESCRIBE_SPOT_PRICE_HISTORY,
            DESCRIBE_SUBNETS,
        ],
        "Resource": "*",
    });
    if let Some(region) = &scope.region {
        read["Condition"] = json!({"StringEquals": {"aws:RequestedRegion": region}});
    }
    let roles: Value = if scope.instance_profile_roles.is_empty() {
        json!("*")
    } else {
        json!(scope.instance_profile_roles)
    };
    let ec2_service: Value = if partition == "aws-cn" {
        json!(["ec2.amazonaws.com", "ec2.amazonaws.com.cn"])
    } else {
        json!("ec2.amazonaws.com")
    };
    let mut policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            read,
            {
                "Sid": "LaunchFromPacerTemplates",
                "Effect": "Allow",
                "Action": launch,
                "Resource": ec2("launch-template/*"),
                "Condition": resource_tagged,
            },
            {
                "Sid": "LaunchPacerInstancesAndVolumes",
                "Effect": "Allow",
                "Action": launch,
                "Resource": [ec2("instance/*"), ec2("volume/*")],
                "Condition": request_tagged,
            },
            {
                "Sid": "LaunchWithUntaggedResources",
                "Effect": "Allow",
                "Action": launch,
                "Resource": [
                    public_ec2("image/*"),
                    public_ec2("snapshot/*"),
                    ec2("subnet/*"),
                    ec2("security-group/*"),
                    ec2("network-interface/*"),
                    ec2("spot-instances-request/*"),
                    ec2("fleet/*"),
                ],
            },
            {
                "Sid": "CreatePacerTemplates",
                "Effect": "Allow",
                "Action": [CREATE_LAUNCH_TEMPLATE],
                "Resource": ec2("launch-template/*"),
                "Condition": request_tagged,
            },
            {
                "Sid": "ChangePacerTemplates",
                "Effect": "Allow",
                "Action": [
                    CREATE_LAUNCH_TEMPLATE_VERSION,
                    MODIFY_LAUNCH_TEMPLATE,
                    DELETE_LAUNCH_TEMPLATE_VERSIONS,
                    DELETE_LAUNCH_TEMPLATE,
                ],
                "Resource": ec2("launch-template/*"),
                "Condition": resource_tagged,
            },
            {
                "Sid": "TagOnCreation",
                "Effect": "Allow",
                "Action": [CREATE_TAGS],
                "Resource": [ec2("instance/*"), ec2("volume/*"), ec2("launch-template/*")],
                "Condition": {
                    "StringEquals": {
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                        format!("aws:RequestTag/{TAG_MANAGED_BY}"): MANAGED_BY_VALUE,
                    }
                },
            },
            {
                "Sid": "RetagPacerTemplates",
                "Effect": "Allow",
                "Action": [CREATE_TAGS],
                "Resource": ec2("launch-template/*"),
                "Condition": {
                    "StringEquals": {
                        format!("aws:ResourceTag/{TAG_MANAGED_BY}"): MANAGED_BY_VALUE,
                        format!("aws:RequestTag/{TAG_MANAGED_BY}"): MANAGED_BY_VALUE,
                    }
                },
            },
            {
                "Sid": "UntagPacerTemplates",
                "Effect": "Allow",
                "Action": [DELETE_TAGS],
                "Resource": ec2("launch-template/*"),
                "Condition": {
                    "StringEquals": {format!("aws:ResourceTag/{TAG_MANAGED_BY}"): MANAGED_BY_VALUE},
                    "ForAllValues:StringNotEquals": {"aws:TagKeys": [TAG_MANAGED_BY]},
                },
            },
            {
                "Sid": "TerminatePacerInstances",
                "Effect": "Allow",
                "Action": [TERMINATE_INSTANCES],
                "Resource": ec2("instance/*"),
                "Condition": resource_tagged,
            },
            {
                "Sid": "StopAndStartPacerInstances",
                "Effect": "Allow",
                "Action": [STOP_INSTANCES, START_INSTANCES],
                "Resource": ec2("instance/*"),
                "Condition": resource_tagged,
            },
            {
                "Sid": "PassRunnerRolesToEc2",
                "Effect": "Allow",
                "Action": [PASS_ROLE],
                "Resource": roles,
                "Condition": {"StringEquals": {"iam:PassedToService": ec2_service}},
            },
            {
                "Sid": "CheckInstanceProfiles",
                "Effect": "Allow",
                "Action": [GET_INSTANCE_PROFILE, LIST_INSTANCE_PROFILES],
                "Resource": format!("arn:{partition}:iam::*:instance-profile/*"),
            },
            {
                "Sid": "ReadPrices",
                "Effect": "Allow",
                "Action": [GET_PRODUCTS],
                "Resource": "*",
            },
        ],
    });
    if let (Some(log), Some(statements)) = (&scope.shared_log, policy["Statement"].as_array_mut()) {
        statements.extend(shared_log_statements(log, partition, region));
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Every action a policy document's statements grant.
    fn granted_actions(policy: &Value) -> BTreeSet<String> {
        let statements = policy["Statement"].as_array().map(Vec::as_slice).unwrap_or_default();
        statements
            .iter()
            .flat_map(|statement| match &statement["Action"] {
                Value::String(action) => vec![action.clone()],
                Value::Array(actions) => {
                    actions.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    /// `describe_spot_price_history` → `DescribeSpotPriceHistory`.
    fn pascal(snake: &str) -> String {
        snake
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect()
    }

    /// Every `ec2.<op>()`, `iam.<op>()` and `pricing.<op>()` call in this crate's sources (the
    /// SDK clients' fields and bindings), as `service:Operation`, with the files naming it.
    fn operations_called_in_sources() -> BTreeMap<String, BTreeSet<String>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            // This module names operations as data, and the mock tests call an SDK client of
            // their own.
            if file == "policy.rs" || file == "mock_tests.rs" || !file.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            // rustfmt splits call chains over lines: compare without whitespace.
            let code: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            for service in ["ec2", "iam", "pricing"] {
                let needle = format!("{service}.");
                for (at, _) in code.match_indices(&needle) {
                    let before = code[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                        continue;
                    }
                    let rest = &code[at + needle.len()..];
                    let method: String =
                        rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    // `ec2.build()` builds a client configuration, no AWS call.
                    if method.is_empty() || method == "build" || !rest[method.len()..].starts_with("()") {
                        continue;
                    }
                    found.entry(format!("{service}:{}", pascal(&method))).or_default().insert(file.clone());
                }
            }
        }
        found
    }

    #[test]
    fn the_table_is_exactly_the_operations_the_code_calls() {
        let called = operations_called_in_sources();
        let table: BTreeSet<&str> = AWS_OPERATIONS.iter().copied().collect();
        assert_eq!(table.len(), AWS_OPERATIONS.len(), "no duplicates in the table");
        let unlisted: Vec<_> = called.iter().filter(|(op, _)| !table.contains(op.as_str())).collect();
        assert!(unlisted.is_empty(), "called but missing from AWS_OPERATIONS: {unlisted:?}");
        let uncalled: Vec<_> = table.iter().filter(|op| !called.contains_key(**op)).collect();
        assert!(uncalled.is_empty(), "in AWS_OPERATIONS but called nowhere: {uncalled:?}");
    }

    #[test]
    fn the_policy_grants_the_table_and_nothing_else() {
        for scope in [
            PolicyScope::default(),
            PolicyScope {
                region: Some("eu-west-1".into()),
                instance_profile_roles: vec!["arn:aws:iam::123456789012:role/pacer-runner".into()],
                shared_log: None,
            },
        ] {
            let granted = granted_actions(&iam_policy(&scope));
            let expected: BTreeSet<String> =
                AWS_OPERATIONS.iter().chain(IMPLIED_ACTIONS).map(|a| (*a).to_owned()).collect();
            assert_eq!(granted, expected);
        }
    }

    #[test]
    fn the_shared_log_is_granted_its_table_index_and_snapshot_prefix_only() {
        let log = SharedLogScope {
            table: "pacer-log".into(),
            bucket: "acme-pacer".into(),
            prefix: "prod/".into(),
            create: false,
        };
        let scope = PolicyScope {
            region: Some("eu-west-1".into()),
            shared_log: Some(log.clone()),
            ..PolicyScope::default()
        };
        let policy = iam_policy(&scope);
        let statement = |sid: &str| {
            policy["Statement"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["Sid"] == sid))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            statement("SharedLogTable")["Resource"],
            json!([
                "arn:aws:dynamodb:eu-west-1:*:table/pacer-log",
                "arn:aws:dynamodb:eu-west-1:*:table/pacer-log/index/*"
            ])
        );
        assert_eq!(statement("SharedLogSnapshots")["Resource"], "arn:aws:s3:::acme-pacer/prod/snapshots/*");
        assert_eq!(statement("SharedLogBucket")["Resource"], "arn:aws:s3:::acme-pacer");
        let granted = granted_actions(&policy);
        assert!(!granted.contains("dynamodb:CreateTable") && !granted.contains("s3:CreateBucket"));
        assert!(!granted.iter().any(|a| a == "dynamodb:*" || a == "s3:*" || a.starts_with("dynamodb:Scan")));
        let creating =
            iam_policy(&PolicyScope { shared_log: Some(SharedLogScope { create: true, ..log }), ..scope });
        let granted = granted_actions(&creating);
        assert!(granted.contains("dynamodb:CreateTable") && granted.contains("s3:CreateBucket"));
        let without = granted_actions(&iam_policy(&PolicyScope::default()));
        assert!(!without.iter().any(|a| a.starts_with("dynamodb:") || a.starts_with("s3:")));
    }

    #[test]
    fn writes_are_scoped_to_pacer_tags_and_passing_roles_to_ec2() {
        let policy = iam_policy(&PolicyScope {
            region: Some("us-east-1".into()),
            instance_profile_roles: vec!["arn:aws:iam::123456789012:role/pacer-runner".into()],
            shared_log: None,
        });
        let statement = |sid: &str| {
            policy["Statement"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["Sid"] == sid))
                .cloned()
                .unwrap_or_else(|| panic!("no statement {sid}"))
        };
        let terminate = statement("TerminatePacerInstances");
        assert_eq!(terminate["Resource"], "arn:aws:ec2:us-east-1:*:instance/*");
        assert_eq!(terminate["Condition"]["StringEquals"]["aws:ResourceTag/gha:managed-by"], "pacer");
        let power = statement("StopAndStartPacerInstances");
        assert_eq!(power["Action"], json!(["ec2:StopInstances", "ec2:StartInstances"]));
        assert_eq!(power["Resource"], terminate["Resource"]);
        assert_eq!(power["Condition"], terminate["Condition"], "only Pacer's instances");
        let tagging = statement("TagOnCreation");
        assert_eq!(
            tagging["Condition"]["StringEquals"]["ec2:CreateAction"],
            json!(["RunInstances", "CreateFleet", "CreateLaunchTemplate"])
        );
        let pass = statement("PassRunnerRolesToEc2");
        assert_eq!(pass["Resource"], json!(["arn:aws:iam::123456789012:role/pacer-runner"]));
        assert_eq!(pass["Condition"]["StringEquals"]["iam:PassedToService"], "ec2.amazonaws.com");
        assert_eq!(statement("ReadEc2")["Condition"]["StringEquals"]["aws:RequestedRegion"], "us-east-1");
        // IAM takes only letters and digits in a Sid.
        for s in policy["Statement"].as_array().expect("statements") {
            assert!(s["Sid"].as_str().is_some_and(|sid| sid.chars().all(|c| c.is_ascii_alphanumeric())));
        }
        let anywhere = iam_policy(&PolicyScope::default());
        assert_eq!(
            anywhere["Statement"][0].get("Condition"),
            None,
            "no region known: Describe* in every region"
        );
        let pass = anywhere["Statement"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["Sid"] == "PassRunnerRolesToEc2"))
            .expect("PassRole");
        assert_eq!(pass["Resource"], "*");
    }

    #[test]
    fn the_preflight_knows_which_grants_need_pacer_tagged_resources() {
        let policy = iam_policy(&PolicyScope::default());
        let statements = policy["Statement"].as_array().expect("statements");
        let key = format!("aws:ResourceTag/{TAG_MANAGED_BY}");
        let tag_scoped: BTreeSet<String> = statements
            .iter()
            .filter(|s| s["Condition"]["StringEquals"].get(&key).is_some())
            .flat_map(|s| granted_actions(&json!({"Statement": [s]})))
            .filter(|a| a != RUN_INSTANCES && a != CREATE_FLEET)
            .collect();
        let listed: BTreeSet<String> = GRANTED_ON_PACER_RESOURCES.iter().map(|a| (*a).to_owned()).collect();
        assert_eq!(tag_scoped, listed, "launches also need untagged resources, so they are left out");
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_of("us-iso-east-1"), "aws-iso");
        let china = iam_policy(&PolicyScope { region: Some("cn-north-1".into()), ..PolicyScope::default() });
        assert!(china.to_string().contains("arn:aws-cn:ec2:cn-north-1:*:instance/*"));
        assert!(!china.to_string().contains("arn:aws:"));
    }
}
