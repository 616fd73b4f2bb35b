//! A small AWS world inside moto for one test: a VPC with two subnets in two AZs, a security
//! group, an AMI, and a pool / template / launch built from the domain's own constructors so
//! the tag cascade is the real one.

use crate::peers::Aws;
use pacer_aws::{Compute, Ec2Compute, materialize};
use pacer_domain::{
    AllocationStrategy, Config, LaunchSpec, Market, Pool, PoolId, PoolSpec, Project, ProjectId, ProjectSpec,
    RepoBinding, RepoSpec, SpawnMethod, Tags, TemplateRef, TemplateSpec,
};

/// The user data every test template carries.
pub const USER_DATA: &str = "#!/bin/bash\necho pacer runner bootstrap\n";

/// Instance types of the test pools, in preference order.
pub const TYPES: [&str; 2] = ["m5.large", "c5.large"];

/// The repo the test jobs come from.
pub const REPO: &str = "octo/hello";

pub struct World {
    pub aws: Aws,
    pub compute: Ec2Compute,
    pub ec2: aws_sdk_ec2::Client,
    pub ami_id: String,
    pub root_device: String,
    pub subnet_ids: Vec<String>,
    pub security_group_id: String,
    pub vpc_id: String,
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

impl World {
    pub async fn new() -> World {
        World::with(Aws::start()).await
    }

    pub async fn with(aws: Aws) -> World {
        let ec2 = aws.ec2().await;
        let compute = aws.compute().await;
        let images = ec2.describe_images().owners("amazon").send().await.expect("describe images");
        let image = images
            .images()
            .iter()
            .find(|i| i.root_device_name().is_some() && i.image_id().is_some())
            .expect("moto has an AMI");
        let ami_id = image.image_id().expect("id").to_owned();
        let root_device = image.root_device_name().expect("root device").to_owned();
        let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.expect("create vpc");
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_owned();
        let mut subnet_ids = Vec::new();
        for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(cidr)
                .availability_zone(az)
                .send()
                .await
                .expect("create subnet");
            subnet_ids.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned());
        }
        let sg = ec2
            .create_security_group()
            .group_name("pacer-runners")
            .description("pacer test runners")
            .vpc_id(&vpc_id)
            .send()
            .await
            .expect("create security group");
        let security_group_id = sg.group_id().expect("sg id").to_owned();
        World { aws, compute, ec2, ami_id, root_device, subnet_ids, security_group_id, vpc_id }
    }

    /// A config with one project (tags team=core, env=prod), one pool (tag env=ci) and one repo
    /// binding (tag team=web), built like the engine builds it.
    pub fn config(&self, spot: bool, method: SpawnMethod, strategy: AllocationStrategy) -> (Config, Pool) {
        let project = Project {
            id: ProjectId(1),
            spec: ProjectSpec {
                name: "Platform".into(),
                tags: tags(&[("team", "core"), ("env", "prod"), ("cost-center", "42")]),
                ..ProjectSpec::default()
            },
        };
        let pool = Pool {
            id: PoolId(7),
            project: ProjectId(1),
            spec: PoolSpec {
                name: "linux".into(),
                ami_id: self.ami_id.clone(),
                instance_types: TYPES.map(String::from).to_vec(),
                subnet_ids: self.subnet_ids.clone(),
                security_group_ids: vec![self.security_group_id.clone()],
                root_volume_gb: 20,
                spot,
                spawn_method: method,
                allocation_strategy: strategy,
                tags: tags(&[("env", "ci")]),
                ..PoolSpec::default()
            },
            template: None,
            warm: None,
        };
        let mut config = Config::default();
        config.projects.insert(project.id, project);
        config.pools.insert(pool.id, pool.clone());
        config.repos.insert(
            REPO.into(),
            RepoBinding {
                project: ProjectId(1),
                spec: RepoSpec { full_name: REPO.into(), cap: None, tags: tags(&[("team", "web")]) },
            },
        );
        (config, pool)
    }

    /// Materialises the pool's template and returns the pool with it recorded.
    pub async fn pool_with_template(&self, config: &mut Config, mut pool: Pool) -> (Pool, TemplateRef) {
        let spec = TemplateSpec::for_pool(config, &pool);
        let template = materialize(&self.compute, None, &spec, USER_DATA).await.expect("materialize");
        pool.template = Some(template.clone());
        config.pools.insert(pool.id, pool.clone());
        (pool, template)
    }

    /// A launch spec for job `job_id` from `pool`.
    pub async fn launch_spec(
        &self,
        spot: bool,
        method: SpawnMethod,
        strategy: AllocationStrategy,
        job_id: u64,
        market: Market,
    ) -> LaunchSpec {
        let (mut config, pool) = self.config(spot, method, strategy);
        let (pool, _) = self.pool_with_template(&mut config, pool).await;
        LaunchSpec::new(
            &config,
            &pool,
            REPO,
            pacer_domain::LaunchOf { job_id, generation: 0, attempt: 1 },
            market,
        )
    }

    /// A launch spec for a batch of `jobs` (attempt 1 each) from `pool`.
    pub async fn batch_spec(&self, method: SpawnMethod, jobs: &[u64]) -> LaunchSpec {
        let (mut config, pool) = self.config(false, method, AllocationStrategy::Cost);
        let (pool, _) = self.pool_with_template(&mut config, pool).await;
        let members: Vec<pacer_domain::LaunchOf> =
            jobs.iter().map(|&job_id| pacer_domain::LaunchOf { job_id, generation: 0, attempt: 1 }).collect();
        LaunchSpec::batch(&config, &pool, REPO, &members, Market::OnDemand)
    }

    /// The instance as moto stores it.
    pub async fn instance(&self, id: &str) -> aws_sdk_ec2::types::Instance {
        let out = self.ec2.describe_instances().instance_ids(id).send().await.expect("describe instance");
        out.reservations().iter().flat_map(|r| r.instances()).next().cloned().expect("instance exists")
    }

    /// Instance ids whose tags include `gha:managed-by=pacer`, by the compute under test.
    pub async fn managed_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .compute
            .list_managed()
            .await
            .expect("list managed")
            .into_iter()
            .map(|s| s.instance_id)
            .collect();
        ids.sort();
        ids
    }
}

/// Tags of an EC2 resource as a map.
pub fn tag_map(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect()
}
