//! One test's world: moto with a VPC, two subnets and a security group, the pricing stub, a
//! GitHub App key pair, the fake GitHub, and a Pacer configured against all of them with a
//! project `platform` (pool `default`, repo `octo/hello`) imported through `pacer backup import`.

use super::github::FakeGitHub;
use super::pacer::Setup;
use super::peers::Aws;
use serde_json::{Value, json};
use std::process::Command;
use tempfile::TempDir;

/// Instance types the pool asks for, in order.
pub const TYPES: [&str; 2] = ["m5.large", "c5.large"];

/// Everything one test needs.
pub struct World {
    /// moto and the pricing stub.
    pub aws: Aws,
    /// The fake GitHub.
    pub github: FakeGitHub,
    /// How to start Pacer.
    pub setup: Setup,
    /// A raw EC2 client.
    pub ec2: aws_sdk_ec2::Client,
    /// moto's AMI.
    pub ami: String,
    /// The subnets.
    pub subnets: Vec<String>,
    /// The security group.
    pub security_group: String,
    _dir: TempDir,
}

fn keypair(dir: &std::path::Path) -> Vec<u8> {
    let private = dir.join("app.pem");
    let status = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&private)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (scripts/install-system-deps.sh)");
    assert!(status.success(), "openssl genrsa failed");
    let public =
        Command::new("openssl").args(["rsa", "-pubout", "-in"]).arg(&private).output().expect("openssl rsa");
    assert!(public.status.success());
    public.stdout
}

/// A self-signed certificate and its key in `dir` (`identity.pem`, `identity.key`): the test
/// authority that plays AWS's identity-document signer; Pacer is configured to trust it.
fn identity_authority(dir: &std::path::Path) {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/O=Test AWS"])
        .arg("-keyout")
        .arg(dir.join("identity.key"))
        .arg("-out")
        .arg(dir.join("identity.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl req failed");
}

/// The base64 signature of `document` by the RSA key in `key` (SHA-256, PKCS#1 v1.5), as
/// IMDS serves AWS's.
pub fn sign_document(document: &str, key: &std::path::Path) -> String {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("document");
    std::fs::write(&file, document).expect("write document");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(&file)
        .output()
        .expect("sign");
    assert!(out.status.success(), "openssl dgst failed");
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

impl World {
    /// The identity document EC2 would give `instance` (moto's launch time, moto's account).
    pub async fn identity_document(&self, instance: &str) -> String {
        let out = self.ec2.describe_instances().instance_ids(instance).send().await.expect("describe");
        let launched = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.launch_time())
            .expect("a launch time")
            .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
            .expect("RFC 3339");
        serde_json::to_string_pretty(&json!({
            "accountId": "123456789012",
            "architecture": "x86_64",
            "availabilityZone": "us-east-1a",
            "imageId": self.ami,
            "instanceId": instance,
            "instanceType": "m7i.large",
            "pendingTime": launched,
            "region": "us-east-1",
            "version": "2017-09-30"
        }))
        .expect("json")
    }

    /// The bootstrap body of `instance`: its id, identity document and the test authority's
    /// signature of it.
    pub async fn proof(&self, instance: &str) -> Value {
        let document = self.identity_document(instance).await;
        self.proof_of(instance, &document, &self.setup.dir.join("identity.key"))
    }

    /// A bootstrap body naming `instance` with `document` signed by `key`.
    pub fn proof_of(&self, instance: &str, document: &str, key: &std::path::Path) -> Value {
        use base64::Engine;
        json!({
            "instance_id": instance,
            "document": base64::engine::general_purpose::STANDARD.encode(document),
            "signature": sign_document(document, key),
        })
    }

    /// A fresh world with the default backup imported.
    pub async fn new() -> World {
        let world = World::bare().await;
        world.setup.import(&world.backup(json!({})));
        world
    }

    /// A fresh world without configuration.
    pub async fn bare() -> World {
        let aws = Aws::start().with_pricing();
        let ec2 = aws.ec2().await;
        let images = ec2.describe_images().owners("amazon").send().await.expect("describe images");
        let ami = images
            .images()
            .iter()
            .find(|i| i.root_device_name().is_some())
            .and_then(|i| i.image_id())
            .expect("moto has an AMI")
            .to_owned();
        let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.expect("vpc");
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_owned();
        let mut subnets = Vec::new();
        for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(cidr)
                .availability_zone(az)
                .send()
                .await
                .expect("subnet");
            subnets.push(subnet.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned());
        }
        let sg = ec2
            .create_security_group()
            .group_name("pacer-e2e")
            .description("pacer e2e")
            .vpc_id(&vpc_id)
            .send()
            .await
            .expect("security group");
        let security_group = sg.group_id().expect("sg id").to_owned();
        let dir = tempfile::tempdir().expect("tempdir");
        let public_key = keypair(dir.path());
        identity_authority(dir.path());
        let github = FakeGitHub::start(&public_key).await;
        let setup = Setup {
            dir: dir.path().to_path_buf(),
            moto: aws.moto.url.clone(),
            pricing: aws.pricing.as_ref().map(|p| p.url.clone()),
            github: github.url.clone(),
            reaper_seconds: 5,
            redelivery_seconds: 0,
            backoff_seconds: None,
            auth: "  disabled: true\n".into(),
            addr: "127.0.0.1:0".into(),
            env: Vec::new(),
            tls_trust: None,
        };
        World { aws, github, setup, ec2, ami, subnets, security_group, _dir: dir }
    }

    /// The default backup: project `platform` with pool `default` and repo `octo/hello`, a
    /// disabled project `frozen` with repo `octo/frozen`; `pool` overrides pool fields.
    pub fn backup(&self, pool: Value) -> Value {
        let mut default_pool = json!({
            "name": "default",
            "is_default": true,
            "ami_id": self.ami,
            "instance_types": TYPES,
            "subnet_ids": self.subnets,
            "security_group_ids": [self.security_group],
            "cap": 5,
        });
        if let (Some(base), Some(extra)) = (default_pool.as_object_mut(), pool.as_object()) {
            base.extend(extra.clone());
        }
        json!({
            "version": 1,
            "projects": [
                {"name": "platform", "tags": {"team": "platform"}, "pools": [default_pool],
                 "repos": [{"full_name": "octo/hello", "tags": {"svc": "hello"}}]},
                {"name": "frozen", "disabled": true, "pools": [], "repos": [{"full_name": "octo/frozen"}]}
            ]
        })
    }

    /// The user data of pool `pool`'s launch template (default version), as its instances get it.
    pub async fn user_data(&self, pool: u64) -> String {
        use base64::Engine;
        let versions = self
            .ec2
            .describe_launch_template_versions()
            .launch_template_name(format!("pacer-pool-{pool}"))
            .versions("$Default")
            .send()
            .await
            .expect("versions");
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .and_then(|d| d.user_data())
            .expect("user data");
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
        String::from_utf8(bytes).expect("utf-8")
    }

    /// The first pool's bootstrap token as its instances read it from their user data.
    pub async fn bootstrap_token(&self) -> String {
        self.bootstrap_token_of(1).await
    }

    /// Pool `pool`'s bootstrap token as its instances read it from their user data.
    pub async fn bootstrap_token_of(&self, pool: u64) -> String {
        let script = self.user_data(pool).await;
        let line = script.lines().find_map(|l| l.strip_prefix("BOOTSTRAP_TOKEN='")).expect("a token line");
        line.trim_end_matches('\'').to_owned()
    }

    /// Ids of the live instances tagged `gha:managed-by=pacer`.
    pub async fn managed_instances(&self) -> Vec<String> {
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(aws_sdk_ec2::types::Filter::builder().name("tag:gha:managed-by").values("pacer").build())
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.expect("describe");
            ids.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter_map(|i| i.instance_id().map(str::to_owned)),
            );
        }
        ids
    }

    /// Terminates an instance behind Pacer's back (a shutdown or an interruption).
    pub async fn terminate(&self, id: &str) {
        self.ec2.terminate_instances().instance_ids(id).send().await.expect("terminate");
    }
}
