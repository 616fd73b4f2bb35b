//! [`Ec2Compute`]: the [`Compute`] trait over the AWS SDK (EC2, IAM for the instance-profile
//! check and list, Pricing for on-demand prices). The work is split by concern into
//! `templates`, `launch`, `instances`, `pricing`, `validate` and `listing`; this module holds
//! the clients and the conversions they share.

use crate::compute::{Compute, InstanceState, InstanceStatus, Launched, PRICING_TIMEOUT, PermissionCheck};
use crate::error::ComputeError;
use crate::inventory::{
    ImageQuery, ImageSummary, InstanceProfileSummary, SecurityGroupSummary, SubnetSummary,
};
use crate::pricing::PriceCache;
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::{
    Instance, InstanceLifecycleType, InstanceStateName, ResourceType, Tag, TagSpecification,
};
use pacer_domain::{LaunchSpec, Market, PoolSpec, PriceQuote, Tags, TemplateRef, TemplateSpec, Timestamp};
use std::time::Duration;

/// Where and how [`Ec2Compute`] reaches AWS. Credentials come from the SDK's default chain, or
/// its chain for a named profile (or from the [`SdkConfig`] given to
/// [`Ec2Compute::from_sdk_config`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ec2Settings {
    /// EC2 region, e.g. `us-east-1`.
    pub region: String,
    /// A named profile of the shared AWS config and credentials files (config `aws.profile`);
    /// `None` = the default chain.
    pub profile: Option<String>,
    /// EC2 endpoint override (config `aws.endpoint_url`; moto in tests).
    pub endpoint_url: Option<String>,
    /// IAM endpoint override (moto in tests).
    pub iam_endpoint_url: Option<String>,
    /// Pricing API endpoint override (the pricing stub in tests).
    pub pricing_endpoint_url: Option<String>,
    /// How long one EC2 or IAM operation may take, its retries included; a price lookup takes
    /// at most the shorter of this and [`PRICING_TIMEOUT`].
    pub operation_timeout: Duration,
}

impl Ec2Settings {
    /// Settings for `region` with no endpoint overrides.
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            profile: None,
            endpoint_url: None,
            iam_endpoint_url: None,
            pricing_endpoint_url: None,
            operation_timeout: Duration::from_secs(30),
        }
    }
}

/// The AWS Pricing API only answers in a few regions; us-east-1 serves every region's prices.
const PRICING_REGION: &str = "us-east-1";

/// [`Compute`] over the AWS SDK.
#[derive(Clone, Debug)]
pub struct Ec2Compute {
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) pricing: aws_sdk_pricing::Client,
    pub(crate) region: String,
    pub(crate) prices: PriceCache,
}

impl Ec2Compute {
    /// Loads credentials from the SDK's default chain (for the settings' profile, when named)
    /// and builds the clients.
    pub async fn connect(settings: Ec2Settings) -> Self {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        Self::from_sdk_config(&loader.load().await, settings)
    }

    /// Builds the clients from an already loaded SDK configuration (its credentials and retry
    /// settings), with the region and endpoints of `settings`.
    pub fn from_sdk_config(sdk: &SdkConfig, settings: Ec2Settings) -> Self {
        let timeout = aws_smithy_types::timeout::TimeoutConfig::builder()
            .operation_timeout(settings.operation_timeout)
            .build();
        let mut ec2 = aws_sdk_ec2::config::Builder::from(sdk)
            .region(Region::new(settings.region.clone()))
            .timeout_config(timeout.clone());
        if let Some(url) = &settings.endpoint_url {
            ec2 = ec2.endpoint_url(url);
        }
        let mut iam = aws_sdk_iam::config::Builder::from(sdk).timeout_config(timeout);
        if let Some(url) = &settings.iam_endpoint_url {
            iam = iam.endpoint_url(url);
        }
        let mut pricing = aws_sdk_pricing::config::Builder::from(sdk)
            .region(Region::new(PRICING_REGION))
            .retry_config(aws_sdk_pricing::config::retry::RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                aws_sdk_pricing::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(settings.operation_timeout.min(PRICING_TIMEOUT))
                    .build(),
            );
        if let Some(url) = &settings.pricing_endpoint_url {
            pricing = pricing.endpoint_url(url);
        }
        Self {
            ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
            iam: aws_sdk_iam::Client::from_conf(iam.build()),
            pricing: aws_sdk_pricing::Client::from_conf(pricing.build()),
            region: settings.region,
            prices: PriceCache::default(),
        }
    }

    /// Wraps ready-made clients (unit tests with mocked clients).
    #[cfg(test)]
    pub(crate) fn from_clients(
        ec2: aws_sdk_ec2::Client,
        iam: aws_sdk_iam::Client,
        pricing: aws_sdk_pricing::Client,
        region: &str,
    ) -> Self {
        Self { ec2, iam, pricing, region: region.to_owned(), prices: PriceCache::default() }
    }
}

#[async_trait]
impl Compute for Ec2Compute {
    async fn validate_pool(&self, pool: &PoolSpec) -> Result<(), ComputeError> {
        self.validate_pool_impl(pool).await
    }

    async fn create_template(
        &self,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        self.create_template_impl(spec, user_data).await
    }

    async fn create_template_version(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        self.create_template_version_impl(template_id, spec, user_data).await
    }

    async fn set_default_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        self.set_default_version_impl(template_id, version).await
    }

    async fn delete_template_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        self.delete_template_version_impl(template_id, version).await
    }

    async fn delete_template(&self, template_id: &str) -> Result<(), ComputeError> {
        self.delete_template_impl(template_id).await
    }

    async fn launch_batch(&self, spec: &LaunchSpec) -> Launched {
        self.launch_impl(spec).await
    }

    async fn describe(&self, instance_ids: &[String]) -> Result<Vec<InstanceStatus>, ComputeError> {
        self.describe_impl(instance_ids).await
    }

    async fn list_managed(&self) -> Result<Vec<InstanceStatus>, ComputeError> {
        self.list_managed_impl().await
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.terminate_impl(instance_ids).await
    }

    async fn stop(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.stop_impl(instance_ids).await
    }

    async fn start(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.start_impl(instance_ids).await
    }

    async fn preflight(&self) -> Vec<PermissionCheck> {
        self.preflight_impl().await
    }

    async fn price(
        &self,
        instance_type: &str,
        availability_zone: &str,
        market: Market,
    ) -> Option<PriceQuote> {
        self.price_impl(instance_type, availability_zone, market).await
    }

    async fn list_images(&self, query: &ImageQuery) -> Result<Vec<ImageSummary>, ComputeError> {
        self.list_images_impl(query).await
    }

    async fn list_subnets(&self) -> Result<Vec<SubnetSummary>, ComputeError> {
        self.list_subnets_impl().await
    }

    async fn list_security_groups(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupSummary>, ComputeError> {
        self.list_security_groups_impl(vpc_id).await
    }

    async fn list_instance_profiles(&self) -> Result<Vec<InstanceProfileSummary>, ComputeError> {
        self.list_instance_profiles_impl().await
    }
}

/// EC2 tags from Pacer's tag map (key order).
pub(crate) fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// A TagSpecification of `tags` for `resource`.
pub(crate) fn tag_spec(resource: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tags(tags))).build()
}

/// Pacer's view of one DescribeInstances item.
pub(crate) fn instance_status(instance: &Instance, owner: Option<&str>) -> InstanceStatus {
    let state = match instance.state().and_then(|s| s.name()) {
        Some(InstanceStateName::Pending) => InstanceState::Pending,
        Some(InstanceStateName::Running) => InstanceState::Running,
        Some(InstanceStateName::ShuttingDown) => InstanceState::ShuttingDown,
        Some(InstanceStateName::Terminated) => InstanceState::Terminated,
        Some(InstanceStateName::Stopping) => InstanceState::Stopping,
        Some(InstanceStateName::Stopped) => InstanceState::Stopped,
        _ => InstanceState::Pending,
    };
    let market = match instance.instance_lifecycle() {
        Some(InstanceLifecycleType::Spot) => Market::Spot,
        _ => Market::OnDemand,
    };
    let tags = instance
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect();
    let state_reason = instance.state_reason().map(|r| {
        let code = r.code().unwrap_or_default();
        match r.message() {
            Some(m) if !m.is_empty() && m != code => format!("{code}: {m}"),
            _ => code.to_owned(),
        }
    });
    InstanceStatus {
        instance_id: instance.instance_id().unwrap_or_default().to_owned(),
        state,
        instance_type: instance.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_owned(),
        market,
        launched_at: instance.launch_time().and_then(|t| t.to_millis().ok()).map(Timestamp::from_millis),
        tags,
        state_reason: state_reason.filter(|r| !r.is_empty()),
        owner: owner.map(str::to_owned),
    }
}

/// Whether the shared AWS config or credentials file defines the profile `name`: the files
/// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` name, else `~/.aws/config` and
/// `~/.aws/credentials`, the SDK's way, with the variables read through `env`. An error says
/// why the files could not be read.
pub async fn profile_defined(name: &str, env: impl Fn(&str) -> Option<String>) -> Result<bool, String> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    const VARIABLES: [&str; 6] =
        ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "HOME", "USERPROFILE", "HOMEDRIVE", "HOMEPATH"];
    let values: Vec<(&str, String)> =
        VARIABLES.iter().filter_map(|variable| env(variable).map(|value| (*variable, value))).collect();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let profiles =
        aws_config::profile::load(&Fs::real(), &Env::from_slice(&pairs), &EnvConfigFiles::default(), None)
            .await
            .map_err(|e| e.to_string())?;
    Ok(profiles.get_profile(name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn profiles_are_found_in_the_files_the_environment_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(&config, "[profile ci]\nregion = us-east-1\n[default]\nregion = eu-west-1\n")
            .expect("write");
        std::fs::write(
            &credentials,
            "[keys-only]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
        )
        .expect("write");
        let env = |key: &str| match key {
            "AWS_CONFIG_FILE" => Some(config.display().to_string()),
            "AWS_SHARED_CREDENTIALS_FILE" => Some(credentials.display().to_string()),
            _ => None,
        };
        for (name, defined) in [("ci", true), ("keys-only", true), ("default", true), ("prod", false)] {
            assert_eq!(profile_defined(name, env).await, Ok(defined), "{name}");
        }
        let nowhere = |key: &str| (key == "HOME").then(|| dir.path().join("no-home").display().to_string());
        assert_eq!(profile_defined("ci", nowhere).await, Ok(false), "no files: no profile");
    }
}
