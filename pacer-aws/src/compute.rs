//! The `Compute` trait the engine talks to, the data it returns, and [`materialize`], the one
//! piece of launch-template logic shared by every implementation (create on first save, else
//! new version + make it default, rolling the new version back when that fails).

use crate::error::ComputeError;
use crate::inventory::{
    ImageQuery, ImageSummary, InstanceProfileSummary, SecurityGroupSummary, SubnetSummary,
};
use crate::throttle::BucketState;
use async_trait::async_trait;
use pacer_domain::{
    ErrorClass, LaunchError, LaunchSpec, LaunchedInstance, MANAGED_BY_VALUE, Market, PoolSpec, PriceQuote,
    TAG_MANAGED_BY, Tags, TemplateRef, TemplateSpec, Timestamp,
};

/// The longest a price lookup may take: prices are a nicety and never hold up a launch for long.
pub const PRICING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An instance's lifecycle state as EC2 reports it, plus `Gone` for an id EC2 no longer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// Launched, not yet running.
    Pending,
    /// Running.
    Running,
    /// Being terminated.
    ShuttingDown,
    /// Terminated.
    Terminated,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
    /// EC2 does not know the id (any more).
    Gone,
}

impl InstanceState {
    /// EC2's spelling (`pending`, `shutting-down`, …); `gone` for [`InstanceState::Gone`].
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::Gone => "gone",
        }
    }

    /// Pending or running: the instance can still serve (or is serving) a job.
    pub fn is_live(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }

    /// Stopping or stopped: it serves nothing, but its volumes still cost money.
    pub fn is_stopped(self) -> bool {
        matches!(self, InstanceState::Stopping | InstanceState::Stopped)
    }
}

/// One instance as seen by DescribeInstances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `i-…`.
    pub instance_id: String,
    /// Its state.
    pub state: InstanceState,
    /// Instance type (empty when gone).
    pub instance_type: String,
    /// Availability zone (empty when gone).
    pub availability_zone: String,
    /// Spot or on-demand.
    pub market: Market,
    /// EC2's launch time.
    pub launched_at: Option<Timestamp>,
    /// Its tags.
    pub tags: Tags,
    /// EC2's reason for the last state change, e.g.
    /// `Server.SpotInstanceTermination: Spot instance termination`.
    pub state_reason: Option<String>,
    /// The AWS account that owns it (its reservation's owner); `None` when gone.
    pub owner: Option<String>,
}

impl InstanceStatus {
    /// The status of an id EC2 does not know.
    pub fn gone(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            state: InstanceState::Gone,
            instance_type: String::new(),
            availability_zone: String::new(),
            market: Market::OnDemand,
            launched_at: None,
            tags: Tags::new(),
            state_reason: None,
            owner: None,
        }
    }

    /// Whether the instance carries `gha:managed-by=pacer`.
    pub fn is_managed(&self) -> bool {
        self.tags.get(TAG_MANAGED_BY).is_some_and(|v| v == MANAGED_BY_VALUE)
    }
}

/// What a launch started: its instances (fewer than asked when EC2 fell short) and why the
/// rest did not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// The instances started, in the order they are handed to the launch's jobs.
    pub instances: Vec<LaunchedInstance>,
    /// Why fewer instances than asked started (all of them, when none did); `None` when all did.
    pub shortfall: Option<LaunchError>,
}

impl Launched {
    /// Nothing started, for `error`.
    pub fn failed(error: LaunchError) -> Self {
        Self { instances: Vec::new(), shortfall: Some(error) }
    }

    /// `found` of the `count` asked for, started by an earlier call with the same token: the
    /// rest is retried (throttling class: the call did not fail for capacity, it was cut short).
    pub fn again(found: Vec<LaunchedInstance>, count: usize) -> Self {
        let shortfall = (found.len() < count).then(|| LaunchError {
            class: ErrorClass::Throttling,
            code: "PacerBatchShort".into(),
            message: format!("an earlier call with this token started {} of {count} instances", found.len()),
        });
        Self { instances: found, shortfall }
    }
}

/// The answer of a DryRun permission check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `DryRunOperation`: the call would be allowed.
    Allowed,
    /// `UnauthorizedOperation` (or `AccessDenied…`): the call would be refused.
    Denied,
    /// Any other answer: permission could not be determined (see the message).
    Unknown,
}

/// One permission Pacer needs, checked with DryRun.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionCheck {
    /// IAM action, e.g. `ec2:RunInstances`.
    pub action: String,
    /// The outcome.
    pub verdict: Verdict,
    /// AWS's code and message.
    pub message: String,
}

/// Everything Pacer asks of EC2. Implemented by [`crate::Ec2Compute`] (the AWS
/// SDK) and [`crate::FakeCompute`] (in memory, for demo mode and tests).
#[async_trait]
pub trait Compute: Send + Sync {
    /// Checks a pool against AWS before anything is written: AMI exists and its root snapshot
    /// fits `root_volume_gb`, subnets, security groups and the instance profile exist. Field
    /// errors name the field (`ami_id`, `subnet_ids[1]`, …) and carry AWS's code and reason.
    async fn validate_pool(&self, pool: &PoolSpec) -> Result<(), ComputeError>;

    /// Creates a pool's launch template (version 1, the default).
    async fn create_template(
        &self,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError>;

    /// Adds a version with the full data (not the default yet).
    async fn create_template_version(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError>;

    /// Makes `version` the template's default.
    async fn set_default_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError>;

    /// Deletes one (non-default) version.
    async fn delete_template_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError>;

    /// Deletes a pool's launch template and all its versions.
    async fn delete_template(&self, template_id: &str) -> Result<(), ComputeError>;

    /// Launches `spec.count` instances (one job attempt, or a batch of claims); idempotent per
    /// `spec.client_token`. EC2 may start fewer: the answer says why the rest did not start.
    async fn launch_batch(&self, spec: &LaunchSpec) -> Launched;

    /// Launches the one instance of a single job's `spec`.
    async fn launch(&self, spec: &LaunchSpec) -> Result<LaunchedInstance, LaunchError> {
        let launched = self.launch_batch(spec).await;
        match (launched.instances.into_iter().next(), launched.shortfall) {
            (Some(instance), _) => Ok(instance),
            (None, Some(error)) => Err(error),
            (None, None) => Err(LaunchError::new("EmptyResponse", "EC2 launched nothing")),
        }
    }

    /// Describes instances by id; ids EC2 does not know come back as [`InstanceState::Gone`].
    async fn describe(&self, instance_ids: &[String]) -> Result<Vec<InstanceStatus>, ComputeError>;

    /// Every non-terminated instance tagged `gha:managed-by=pacer` (for the orphan sweep).
    async fn list_managed(&self) -> Result<Vec<InstanceStatus>, ComputeError>;

    /// Terminates instances, refusing (without calling EC2) when any of them does not carry
    /// `gha:managed-by=pacer`. Ids EC2 no longer knows are skipped.
    async fn terminate(&self, instance_ids: &[String]) -> Result<(), ComputeError>;

    /// Stops running instances (a stopped warm pool's, kept for a later [`Compute::start`]),
    /// refusing (without calling EC2) when any of them does not carry `gha:managed-by=pacer`.
    /// Ids EC2 no longer knows are skipped; stopping a stopped instance changes nothing, and
    /// one EC2 cannot stop (pending since launch, shutting down or terminated; a one-time spot
    /// instance) fails the call as EC2 does, nothing stopped.
    async fn stop(&self, instance_ids: &[String]) -> Result<(), ComputeError>;

    /// Starts stopped instances (pending, then running), with the refusal and skipping of
    /// [`Compute::stop`]; starting a pending or running instance changes nothing, and one EC2
    /// cannot start (stopping, shutting down or terminated) fails the call, nothing started.
    async fn start(&self, instance_ids: &[String]) -> Result<(), ComputeError>;

    /// DryRun checks of the permissions Pacer needs.
    async fn preflight(&self) -> Vec<PermissionCheck>;

    /// The price per hour of `instance_type` in `availability_zone` on `market`; `None` when no
    /// quote can be had (never an error: a launch never fails because of pricing).
    async fn price(&self, instance_type: &str, availability_zone: &str, market: Market)
    -> Option<PriceQuote>;

    /// Available machine AMIs of the query's owners whose name matches its pattern, newest
    /// first, at most [`crate::MAX_IMAGES`] (read only, for the pool editor's pickers).
    async fn list_images(&self, query: &ImageQuery) -> Result<Vec<ImageSummary>, ComputeError>;

    /// The region's subnets by VPC, zone and range, at most [`crate::MAX_LISTED`].
    async fn list_subnets(&self) -> Result<Vec<SubnetSummary>, ComputeError>;

    /// Security groups (only `vpc_id`'s when given) by VPC and name, at most
    /// [`crate::MAX_LISTED`].
    async fn list_security_groups(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupSummary>, ComputeError>;

    /// The account's IAM instance profiles by name, at most [`crate::MAX_LISTED`].
    async fn list_instance_profiles(&self) -> Result<Vec<InstanceProfileSummary>, ComputeError>;

    /// The EC2 rate-limit buckets the calls keep to, for metrics: none, unless this is a
    /// [`crate::Throttled`].
    fn rate_limits(&self) -> Vec<BucketState> {
        Vec::new()
    }
}

/// Materialises a pool's launch template: creates it on first save (`existing` = `None`),
/// otherwise creates a new version with the full data and makes it the default. The id never
/// changes. When making the new version default fails, the new version is deleted again
/// (best effort) and the previous default stays in place. The returned reference carries the
/// fingerprint of the data now in the default version.
pub async fn materialize<C: Compute + ?Sized>(
    compute: &C,
    existing: Option<&TemplateRef>,
    spec: &TemplateSpec,
    user_data: &str,
) -> Result<TemplateRef, ComputeError> {
    let fingerprint = spec.fingerprint(user_data);
    let Some(existing) = existing else {
        let created = compute.create_template(spec, user_data).await?;
        return Ok(TemplateRef { fingerprint, ..created });
    };
    let created = compute.create_template_version(&existing.id, spec, user_data).await?;
    if let Err(e) = compute.set_default_version(&created.id, created.version).await {
        if let Err(rollback) = compute.delete_template_version(&created.id, created.version).await {
            tracing::warn!(
                template_id = %created.id,
                version = created.version,
                error = %rollback,
                "could not delete a launch template version after failing to make it default"
            );
        }
        return Err(e);
    }
    Ok(TemplateRef { fingerprint, ..created })
}
