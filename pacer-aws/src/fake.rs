//! [`FakeCompute`]: an in-memory EC2 for demo mode and engine tests. Deterministic: every
//! random choice comes from a `fastrand` generator seeded by [`FakeSettings::seed`], and every
//! delay runs on tokio's clock, so tests can pause time and advance it. It models launch
//! latency, boot time (pending → running), terminate (shutting-down → terminated), stop
//! (stopping → stopped) and start (pending → running) with EC2's refusals, capacity errors
//! (injected by type/market or at a seeded rate), spot interruptions (injected or at a
//! seeded rate), client-token idempotency, launch templates with versions, and field errors
//! for ids marked missing. Its account holds a few AMIs, subnets in two VPCs, security groups
//! and instance profiles for the pool editor's pickers (the demo's pools use them).

use crate::compute::{Compute, InstanceState, InstanceStatus, Launched, PermissionCheck, Verdict};
use crate::error::ComputeError;
use crate::inventory::{
    ImageQuery, ImageSummary, InstanceProfileSummary, SecurityGroupSummary, SubnetSummary, name_matches,
    newest_images, sort_security_groups, sort_subnets,
};
use crate::throttle::{Bucket, Ec2Buckets, RateLimits};
use async_trait::async_trait;
use pacer_domain::{
    ErrorClass, FieldError, LaunchError, LaunchSpec, LaunchedInstance, Market, Micros, PoolSpec, PriceQuote,
    PriceSource, TemplateRef, TemplateSpec, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// How the fake behaves. Not a config of the product: demo mode and tests build it in code.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeSettings {
    /// Seed of every random choice.
    pub seed: u64,
    /// Region; AZs are the region plus `a`, `b`, `c`.
    pub region: String,
    /// Wall-clock time when the fake was created (launch times count from it on tokio's clock).
    pub start: Timestamp,
    /// How long a launch call takes.
    pub launch_latency: Duration,
    /// How long an instance stays pending.
    pub boot_time: Duration,
    /// How long an instance stays shutting-down.
    pub shutdown_time: Duration,
    /// How long a stopped instance stays stopping.
    pub stop_time: Duration,
    /// How long a stopped instance takes to be running again after a start: it stays pending.
    pub start_time: Duration,
    /// Chance (0..=1) that one instance type fails a launch with `InsufficientInstanceCapacity`.
    pub capacity_error_rate: f64,
    /// Chance (0..=1) that a spot instance is interrupted some time after it boots.
    pub spot_interruption_rate: f64,
    /// Interrupted spot instances go within this long after booting.
    pub spot_interruption_window: Duration,
    /// Size of every AMI's root snapshot, GiB.
    pub ami_root_gb: u32,
    /// EC2's API rate limits, enforced as EC2 does: a call beyond its buckets is refused with
    /// `RequestLimitExceeded` (none: unlimited).
    pub rate_limits: Option<RateLimits>,
}

impl FakeSettings {
    /// Instant launches, boots, stops and starts, no random failures.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            region: "us-east-1".into(),
            start: Timestamp::from_millis(1_767_225_600_000), // 2026-01-01
            launch_latency: Duration::ZERO,
            boot_time: Duration::ZERO,
            shutdown_time: Duration::ZERO,
            stop_time: Duration::ZERO,
            start_time: Duration::ZERO,
            capacity_error_rate: 0.0,
            spot_interruption_rate: 0.0,
            spot_interruption_window: Duration::from_secs(600),
            ami_root_gb: 8,
            rate_limits: None,
        }
    }
}

/// A [`Compute`] call the fake can be told to fail once with [`FakeCompute::fail_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FakeOp {
    /// `validate_pool`.
    ValidatePool,
    /// `create_template`.
    CreateTemplate,
    /// `create_template_version`.
    CreateTemplateVersion,
    /// `set_default_version`.
    SetDefaultVersion,
    /// `delete_template_version`.
    DeleteTemplateVersion,
    /// `delete_template`.
    DeleteTemplate,
    /// `launch`.
    Launch,
    /// `describe`.
    Describe,
    /// `list_managed`.
    ListManaged,
    /// `terminate`.
    Terminate,
    /// `stop`.
    Stop,
    /// `start`.
    Start,
    /// `list_images`.
    ListImages,
    /// `list_subnets`.
    ListSubnets,
    /// `list_security_groups`.
    ListSecurityGroups,
    /// `list_instance_profiles`.
    ListInstanceProfiles,
}

#[derive(Clone, Debug)]
struct FakeTemplate {
    versions: BTreeMap<u64, (TemplateSpec, String)>,
    default: u64,
    next: u64,
}

#[derive(Clone, Debug)]
struct FakeInstance {
    instance_type: String,
    availability_zone: String,
    market: Market,
    tags: pacer_domain::Tags,
    launched: Instant,
    launched_at: Timestamp,
    interrupt_at: Option<Instant>,
    terminated: Option<Instant>,
    /// The last stop or start, which the state follows once booted (until shut down).
    power: Option<Power>,
}

/// An instance's last stop or start.
#[derive(Clone, Copy, Debug)]
enum Power {
    /// Stopped then: stopping for [`FakeSettings::stop_time`], then stopped.
    Stopped(Instant),
    /// Started then: pending for [`FakeSettings::start_time`], then running.
    Started(Instant),
}

#[derive(Debug)]
struct State {
    rng: fastrand::Rng,
    templates: BTreeMap<String, FakeTemplate>,
    instances: BTreeMap<String, FakeInstance>,
    tokens: HashMap<String, Vec<String>>,
    faults: HashMap<(String, Option<Market>), String>,
    fail_next: HashMap<FakeOp, LaunchError>,
    missing: BTreeSet<String>,
    launches: Vec<LaunchSpec>,
}

/// EC2 keeps terminated instances visible for about an hour, then forgets them.
const TERMINATED_VISIBLE: Duration = Duration::from_secs(3600);

/// The account the fake's instances belong to.
pub const FAKE_ACCOUNT: &str = "000000000000";

/// The account Amazon's own AMIs belong to (the owner alias `amazon`).
const AMAZON_ACCOUNT: &str = "137112412989";

/// The fake account's AMIs: id, name, owner, architecture, creation time (RFC 3339).
const IMAGES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ami-0c55b159cbfafe1f0",
        "pacer-runner-ubuntu-24.04-x86_64-2026-01-05",
        FAKE_ACCOUNT,
        "x86_64",
        "2026-01-05T10:00:00Z",
    ),
    (
        "ami-0a8e7c5f3b2d1e4f6",
        "pacer-runner-ubuntu-24.04-arm64-2026-01-05",
        FAKE_ACCOUNT,
        "arm64",
        "2026-01-05T10:30:00Z",
    ),
    (
        "ami-0e1d2c3b4a5968778",
        "pacer-runner-ubuntu-24.04-x86_64-2025-12-01",
        FAKE_ACCOUNT,
        "x86_64",
        "2025-12-01T09:00:00Z",
    ),
    (
        "ami-0b9f8e7d6c5b4a392",
        "al2023-ami-2023.9.20251208.0-kernel-6.1-x86_64",
        AMAZON_ACCOUNT,
        "x86_64",
        "2025-12-08T20:13:44Z",
    ),
    (
        "ami-0d4c3b2a19f8e7d65",
        "al2023-ami-2023.9.20251208.0-kernel-6.1-arm64",
        AMAZON_ACCOUNT,
        "arm64",
        "2025-12-08T20:14:02Z",
    ),
    (
        "ami-0f6e5d4c3b2a19087",
        "Windows_Server-2022-English-Full-Base-2025.12.10",
        AMAZON_ACCOUNT,
        "x86_64",
        "2025-12-10T07:31:15Z",
    ),
    (
        "ami-07a6b5c4d3e2f1098",
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251212",
        "099720109477",
        "x86_64",
        "2025-12-12T05:41:20Z",
    ),
];

/// The VPC the demo's pools launch in.
const RUNNER_VPC: &str = "vpc-0a1b2c3d4e5f60718";
/// The account's default VPC.
const DEFAULT_VPC: &str = "vpc-0f9e8d7c6b5a43210";

/// The fake account's subnets (their zones follow from their ids, as launches place them):
/// id, VPC, CIDR, `Name` tag.
const SUBNETS: &[(&str, &str, &str, Option<&str>)] = &[
    ("subnet-0bb1c79de3e1a2b3c", RUNNER_VPC, "10.20.1.0/24", Some("pacer-runners-1")),
    ("subnet-0f3e2d1c0b9a87654", RUNNER_VPC, "10.20.2.0/24", Some("pacer-runners-2")),
    ("subnet-0c8d7e6f5a4b3c2d1", RUNNER_VPC, "10.20.3.0/24", Some("pacer-runners-3")),
    ("subnet-0a9b8c7d6e5f4a3b2", DEFAULT_VPC, "172.31.0.0/20", None),
];

/// The fake account's security groups: id, name, VPC, description.
const SECURITY_GROUPS: &[(&str, &str, &str, &str)] = &[
    ("sg-0a1b2c3d4e5f67890", "pacer-runners", RUNNER_VPC, "Pacer's runners: egress only"),
    ("sg-0d1e2f3a4b5c6d7e8", "default", RUNNER_VPC, "default VPC security group"),
    ("sg-0e9d8c7b6a5f4e3d2", "default", DEFAULT_VPC, "default VPC security group"),
];

/// The fake account's instance profiles.
const INSTANCE_PROFILES: &[&str] = &["ci-builder", "pacer-runner"];

/// The in-memory [`Compute`].
#[derive(Debug)]
pub struct FakeCompute {
    settings: FakeSettings,
    /// EC2's buckets, when `settings.rate_limits` asks for them.
    ec2_buckets: Option<Ec2Buckets>,
    epoch: Instant,
    state: Mutex<State>,
}

impl FakeCompute {
    /// A fake with these settings, its clock starting now (tokio time).
    pub fn new(settings: FakeSettings) -> Self {
        let state = State {
            rng: fastrand::Rng::with_seed(settings.seed),
            templates: BTreeMap::new(),
            instances: BTreeMap::new(),
            tokens: HashMap::new(),
            faults: HashMap::new(),
            fail_next: HashMap::new(),
            missing: BTreeSet::new(),
            launches: Vec::new(),
        };
        let ec2_buckets = settings.rate_limits.as_ref().map(Ec2Buckets::new);
        Self { settings, ec2_buckets, epoch: Instant::now(), state: Mutex::new(state) }
    }

    /// Calls refused for going beyond EC2's rate limits (with `rate_limits` set).
    pub fn rate_refusals(&self) -> u64 {
        self.ec2_buckets.as_ref().map_or(0, Ec2Buckets::refused)
    }

    /// `RequestLimitExceeded` when a call taking one token of `requests` (and `resources`)
    /// goes beyond EC2's buckets.
    fn over_rate(&self, requests: Bucket, resources: Option<(Bucket, u32)>) -> Option<LaunchError> {
        self.ec2_buckets.as_ref()?.admit(requests, resources).err()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a simulation: keep going with what is there.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every launch of `instance_type` (on `market`, or any market for `None`) fails with
    /// `code` until cleared.
    pub fn set_capacity_fault(&self, instance_type: &str, market: Option<Market>, code: &str) {
        self.state().faults.insert((instance_type.to_owned(), market), code.to_owned());
    }

    /// Removes every injected launch fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// The next call of `op` fails with `error`.
    pub fn fail_next(&self, op: FakeOp, error: LaunchError) {
        self.state().fail_next.insert(op, error);
    }

    /// Treats an AMI, subnet, security group or instance profile as not existing.
    pub fn mark_missing(&self, id: &str) {
        self.state().missing.insert(id.to_owned());
    }

    /// Interrupts a spot (or any) instance now: it shuts down and terminates.
    pub fn interrupt(&self, instance_id: &str) {
        let now = Instant::now();
        if let Some(i) = self.state().instances.get_mut(instance_id)
            && i.terminated.is_none()
        {
            i.interrupt_at = Some(now);
        }
    }

    /// Adds a running instance that Pacer did not launch (no `gha:managed-by` tag).
    pub fn add_foreign_instance(&self, instance_type: &str) -> String {
        let now = Instant::now();
        let launched_at = self.wall(now);
        let mut state = self.state();
        let id = instance_id(&mut state.rng);
        let az = format!("{}a", self.settings.region);
        state.instances.insert(
            id.clone(),
            FakeInstance {
                instance_type: instance_type.to_owned(),
                availability_zone: az,
                market: Market::OnDemand,
                tags: pacer_domain::Tags::new(),
                launched: now.checked_sub(self.settings.boot_time).unwrap_or(now),
                launched_at,
                interrupt_at: None,
                terminated: None,
                power: None,
            },
        );
        id
    }

    /// Every launch request received, in order (including failed ones).
    pub fn launches(&self) -> Vec<LaunchSpec> {
        self.state().launches.clone()
    }

    /// A template's default version and the spec and user data stored in it.
    pub fn template(&self, template_id: &str) -> Option<(u64, TemplateSpec, String)> {
        let state = self.state();
        let t = state.templates.get(template_id)?;
        let (spec, user_data) = t.versions.get(&t.default)?.clone();
        Some((t.default, spec, user_data))
    }

    fn wall(&self, at: Instant) -> Timestamp {
        let elapsed = at.saturating_duration_since(self.epoch).as_millis();
        self.settings.start.plus_millis(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    fn take_failure(&self, op: FakeOp) -> Option<LaunchError> {
        self.state().fail_next.remove(&op)
    }

    fn status(&self, id: &str, i: &FakeInstance, now: Instant) -> InstanceStatus {
        let shutdown = self.settings.shutdown_time;
        let (state, reason) = match (i.terminated, i.interrupt_at) {
            (Some(t), _) => (
                if now < t + shutdown { InstanceState::ShuttingDown } else { InstanceState::Terminated },
                Some("Client.UserInitiatedShutdown: User initiated shutdown".to_owned()),
            ),
            (None, Some(t)) if now >= t => (
                if now < t + shutdown { InstanceState::ShuttingDown } else { InstanceState::Terminated },
                Some("Server.SpotInstanceTermination: Spot instance termination".to_owned()),
            ),
            _ => match i.power {
                Some(Power::Stopped(t)) => (
                    if now < t + self.settings.stop_time {
                        InstanceState::Stopping
                    } else {
                        InstanceState::Stopped
                    },
                    Some("Client.UserInitiatedShutdown: User initiated shutdown".to_owned()),
                ),
                Some(Power::Started(t)) if now < t + self.settings.start_time => {
                    (InstanceState::Pending, None)
                }
                Some(Power::Started(_)) => (InstanceState::Running, None),
                None if now < i.launched + self.settings.boot_time => (InstanceState::Pending, None),
                None => (InstanceState::Running, None),
            },
        };
        InstanceStatus {
            instance_id: id.to_owned(),
            state,
            instance_type: i.instance_type.clone(),
            availability_zone: i.availability_zone.clone(),
            market: i.market,
            launched_at: Some(i.launched_at),
            tags: i.tags.clone(),
            state_reason: reason,
            owner: Some(FAKE_ACCOUNT.to_owned()),
        }
    }

    /// When the instance stopped existing for EC2 (terminated long enough ago), if it did.
    fn forgotten(&self, i: &FakeInstance, now: Instant) -> bool {
        let end = i.terminated.or(i.interrupt_at.filter(|t| now >= *t));
        end.is_some_and(|t| now >= t + self.settings.shutdown_time + TERMINATED_VISIBLE)
    }

    /// [`ComputeError::NotManaged`] when any id the fake knows lacks `gha:managed-by=pacer`.
    fn guard(&self, state: &State, instance_ids: &[String], now: Instant) -> Result<(), ComputeError> {
        let unmanaged: Vec<String> = instance_ids
            .iter()
            .filter(|id| {
                state
                    .instances
                    .get(*id)
                    .is_some_and(|i| !self.forgotten(i, now) && !self.status(id, i, now).is_managed())
            })
            .cloned()
            .collect();
        if unmanaged.is_empty() { Ok(()) } else { Err(ComputeError::NotManaged(unmanaged)) }
    }

    /// Stops or starts the instances the fake knows, as EC2 does: after the managed guard, an
    /// instance in a state the switch cannot leave fails the whole call (nothing switched);
    /// instances already where the switch leads stay as they are.
    fn switch(&self, switch: Switch, instance_ids: &[String]) -> Result<(), ComputeError> {
        let now = Instant::now();
        let mut state = self.state();
        self.guard(&state, instance_ids, now)?;
        let mut switched = Vec::new();
        for id in instance_ids {
            let Some(i) = state.instances.get(id).filter(|i| !self.forgotten(i, now)) else { continue };
            let current = self.status(id, i, now).state;
            match (switch, current) {
                (Switch::Stop, InstanceState::Running) if i.market == Market::Spot => {
                    return Err(ComputeError::Aws(LaunchError::new(
                        "UnsupportedOperation",
                        format!(
                            "You can't stop the Spot Instance '{id}' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests."
                        ),
                    )));
                }
                (Switch::Stop, InstanceState::Running) | (Switch::Start, InstanceState::Stopped) => {
                    switched.push(id.clone());
                }
                (Switch::Stop, InstanceState::Stopping | InstanceState::Stopped)
                | (Switch::Start, InstanceState::Pending | InstanceState::Running) => {}
                (Switch::Stop, InstanceState::Pending) if i.power.is_none() => {
                    return Err(incorrect_state(format!(
                        "Instance '{id}' cannot be stopped as it has never reached the 'running' state."
                    )));
                }
                (Switch::Stop, _) => {
                    return Err(incorrect_state(format!(
                        "This instance '{id}' is not in a state from which it can be stopped."
                    )));
                }
                (Switch::Start, _) => {
                    return Err(incorrect_state(format!(
                        "The instance '{id}' is not in a state from which it can be started."
                    )));
                }
            }
        }
        for id in switched {
            if let Some(i) = state.instances.get_mut(&id) {
                i.power = Some(match switch {
                    Switch::Stop => Power::Stopped(now),
                    Switch::Start => Power::Started(now),
                });
            }
        }
        Ok(())
    }

    fn version_of(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        let mut state = self.state();
        let Some(t) = state.templates.get_mut(template_id) else {
            return Err(not_found_template(template_id));
        };
        let version = t.next;
        t.next += 1;
        t.versions.insert(version, (spec.clone(), user_data.to_owned()));
        Ok(TemplateRef { id: template_id.to_owned(), version, fingerprint: String::new() })
    }
}

/// A stop or a start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    Stop,
    Start,
}

fn incorrect_state(message: String) -> ComputeError {
    ComputeError::Aws(LaunchError::new("IncorrectInstanceState", message))
}

fn not_found_template(template_id: &str) -> ComputeError {
    ComputeError::Aws(LaunchError::new(
        "InvalidLaunchTemplateId.NotFound",
        format!("The specified launch template, with template ID {template_id}, does not exist."),
    ))
}

fn instance_id(rng: &mut fastrand::Rng) -> String {
    format!("i-0{:016x}", rng.u64(..))
}

/// A deterministic AZ for a subnet: the region plus a, b or c.
fn zone_of(region: &str, subnet: &str) -> String {
    let sum = subnet.bytes().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(u32::from(b)));
    let letter = ['a', 'b', 'c'][(sum % 3) as usize];
    format!("{region}{letter}")
}

/// Simulated on-demand list prices per hour (USD micro-dollars).
fn simulated_on_demand(instance_type: &str) -> Micros {
    let usd = match instance_type {
        "t3.micro" => 10_400,
        "t3.small" => 20_800,
        "t3.medium" => 41_600,
        "t3.large" => 83_200,
        "m5.large" | "m6i.large" => 96_000,
        "m7i.large" => 100_800,
        "c5.large" | "c6i.large" => 85_000,
        "c7i.large" => 89_250,
        "m5.xlarge" | "m6i.xlarge" => 192_000,
        "c5.xlarge" | "c6i.xlarge" => 170_000,
        _ => 100_000,
    };
    Micros(usd)
}

#[async_trait]
impl Compute for FakeCompute {
    async fn validate_pool(&self, pool: &PoolSpec) -> Result<(), ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::ValidatePool) {
            return Err(ComputeError::Aws(e));
        }
        let state = self.state();
        let mut errors = Vec::new();
        if state.missing.contains(&pool.ami_id) {
            errors.push(FieldError::new(
                "ami_id",
                format!("InvalidAMIID.NotFound: The image id '[{}]' does not exist", pool.ami_id),
            ));
        } else if pool.root_volume_gb > 0 && pool.root_volume_gb < self.settings.ami_root_gb {
            errors.push(FieldError::new(
                "root_volume_gb",
                format!(
                    "must be at least {} GiB, the size of the root snapshot of {}",
                    self.settings.ami_root_gb, pool.ami_id
                ),
            ));
        }
        for (i, s) in pool.subnet_ids.iter().enumerate() {
            if state.missing.contains(s) {
                errors.push(FieldError::new(
                    format!("subnet_ids[{i}]"),
                    format!("InvalidSubnetID.NotFound: The subnet ID '{s}' does not exist"),
                ));
            }
        }
        for (i, g) in pool.security_group_ids.iter().enumerate() {
            if state.missing.contains(g) {
                errors.push(FieldError::new(
                    format!("security_group_ids[{i}]"),
                    format!("InvalidGroup.NotFound: The security group '{g}' does not exist"),
                ));
            }
        }
        if let Some(p) = &pool.iam_instance_profile
            && state.missing.contains(p)
        {
            errors.push(FieldError::new(
                "iam_instance_profile",
                format!("NoSuchEntity: Instance Profile {p} cannot be found."),
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(ComputeError::Invalid(errors)) }
    }

    async fn create_template(
        &self,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        if let Some(e) =
            self.take_failure(FakeOp::CreateTemplate).or_else(|| self.over_rate(Bucket::Mutating, None))
        {
            return Err(ComputeError::Aws(e));
        }
        let mut state = self.state();
        let id = format!("lt-0{:016x}", state.rng.u64(..));
        let versions = BTreeMap::from([(1, (spec.clone(), user_data.to_owned()))]);
        state.templates.insert(id.clone(), FakeTemplate { versions, default: 1, next: 2 });
        Ok(TemplateRef { id, version: 1, fingerprint: String::new() })
    }

    async fn create_template_version(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        if let Some(e) = self
            .take_failure(FakeOp::CreateTemplateVersion)
            .or_else(|| self.over_rate(Bucket::Mutating, None))
        {
            return Err(ComputeError::Aws(e));
        }
        self.version_of(template_id, spec, user_data)
    }

    async fn set_default_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        if let Some(e) =
            self.take_failure(FakeOp::SetDefaultVersion).or_else(|| self.over_rate(Bucket::Mutating, None))
        {
            return Err(ComputeError::Aws(e));
        }
        let mut state = self.state();
        let t = state.templates.get_mut(template_id).ok_or_else(|| not_found_template(template_id))?;
        if !t.versions.contains_key(&version) {
            return Err(ComputeError::Aws(LaunchError::new(
                "InvalidLaunchTemplateId.VersionNotFound",
                format!("Could not find launch template version {version}"),
            )));
        }
        t.default = version;
        Ok(())
    }

    async fn delete_template_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        if let Some(e) = self
            .take_failure(FakeOp::DeleteTemplateVersion)
            .or_else(|| self.over_rate(Bucket::Mutating, None))
        {
            return Err(ComputeError::Aws(e));
        }
        let mut state = self.state();
        let t = state.templates.get_mut(template_id).ok_or_else(|| not_found_template(template_id))?;
        if t.default == version {
            return Err(ComputeError::Aws(LaunchError::new(
                "InvalidLaunchTemplateId.VersionNotFound",
                "Cannot delete the default version of a launch template",
            )));
        }
        t.versions.remove(&version);
        Ok(())
    }

    async fn delete_template(&self, template_id: &str) -> Result<(), ComputeError> {
        if let Some(e) =
            self.take_failure(FakeOp::DeleteTemplate).or_else(|| self.over_rate(Bucket::Mutating, None))
        {
            return Err(ComputeError::Aws(e));
        }
        self.state().templates.remove(template_id).map(|_| ()).ok_or_else(|| not_found_template(template_id))
    }

    async fn launch_batch(&self, spec: &LaunchSpec) -> Launched {
        self.state().launches.push(spec.clone());
        if !self.settings.launch_latency.is_zero() {
            tokio::time::sleep(self.settings.launch_latency).await;
        }
        if let Some(e) = self.take_failure(FakeOp::Launch) {
            return Launched::failed(e);
        }
        let requests = match spec.spawn_method {
            pacer_domain::SpawnMethod::RunInstances => Bucket::RunInstances,
            pacer_domain::SpawnMethod::Fleet => Bucket::CreateFleet,
        };
        if let Some(e) = self.over_rate(requests, Some((Bucket::InstancesLaunched, spec.count.max(1)))) {
            return Launched::failed(e);
        }
        let now = Instant::now();
        let launched_at = self.wall(now);
        let count = spec.count.max(1) as usize;
        let mut state = self.state();
        if let Some(ids) = state.tokens.get(&spec.client_token) {
            let found = ids
                .iter()
                .filter_map(|id| {
                    let i = state.instances.get(id)?;
                    Some(LaunchedInstance {
                        instance_id: id.clone(),
                        instance_type: i.instance_type.clone(),
                        availability_zone: i.availability_zone.clone(),
                        subnet_id: spec.subnet_ids.first().cloned().unwrap_or_default(),
                        market: i.market,
                    })
                })
                .collect();
            return Launched::again(found, count);
        }
        if !state.templates.contains_key(&spec.template_id) {
            return Launched::failed(LaunchError::new(
                "InvalidLaunchTemplateId.NotFound",
                format!(
                    "The specified launch template, with template ID {}, does not exist.",
                    spec.template_id
                ),
            ));
        }
        let mut instances = Vec::with_capacity(count);
        let mut failures: Vec<LaunchError> = Vec::new();
        for instance_type in &spec.instance_types {
            let fault = state
                .faults
                .get(&(instance_type.clone(), Some(spec.market)))
                .or_else(|| state.faults.get(&(instance_type.clone(), None)))
                .cloned();
            let error = match fault {
                Some(code) => {
                    Some(LaunchError::new(code.clone(), format!("Injected fault {code} for {instance_type}")))
                }
                None if state.rng.f64() < self.settings.capacity_error_rate => Some(LaunchError::new(
                    "InsufficientInstanceCapacity",
                    format!(
                        "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested."
                    ),
                )),
                None => None,
            };
            if let Some(error) = error {
                if error.class != ErrorClass::Capacity {
                    failures.push(error);
                    break;
                }
                failures.push(error);
                continue;
            }
            while instances.len() < count {
                let subnet = match spec.spawn_method {
                    pacer_domain::SpawnMethod::RunInstances => spec.subnet_ids.first().cloned(),
                    pacer_domain::SpawnMethod::Fleet => {
                        let pick = state.rng.usize(..spec.subnet_ids.len().max(1));
                        spec.subnet_ids.get(pick).cloned()
                    }
                }
                .unwrap_or_default();
                let id = instance_id(&mut state.rng);
                let interrupt_at = (spec.market == Market::Spot
                    && state.rng.f64() < self.settings.spot_interruption_rate)
                    .then(|| {
                        let window = self.settings.spot_interruption_window.mul_f64(state.rng.f64());
                        now + self.settings.boot_time + window
                    });
                let availability_zone = zone_of(&self.settings.region, &subnet);
                state.instances.insert(
                    id.clone(),
                    FakeInstance {
                        instance_type: instance_type.clone(),
                        availability_zone: availability_zone.clone(),
                        market: spec.market,
                        tags: spec.tags.clone(),
                        launched: now,
                        launched_at,
                        interrupt_at,
                        terminated: None,
                        power: None,
                    },
                );
                state.tokens.entry(spec.client_token.clone()).or_default().push(id.clone());
                instances.push(LaunchedInstance {
                    instance_id: id,
                    instance_type: instance_type.clone(),
                    availability_zone,
                    subnet_id: subnet,
                    market: spec.market,
                });
            }
            break;
        }
        let shortfall = (instances.len() < count).then(|| {
            let code =
                failures.last().map(|e| e.code.clone()).unwrap_or_else(|| "UnfulfillableCapacity".into());
            let message = failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            LaunchError::new(code, message)
        });
        Launched { instances, shortfall }
    }

    async fn describe(&self, instance_ids: &[String]) -> Result<Vec<InstanceStatus>, ComputeError> {
        if let Some(e) =
            self.take_failure(FakeOp::Describe).or_else(|| self.over_rate(Bucket::Describe, None))
        {
            return Err(ComputeError::Aws(e));
        }
        let now = Instant::now();
        let state = self.state();
        Ok(instance_ids
            .iter()
            .map(|id| match state.instances.get(id) {
                Some(i) if !self.forgotten(i, now) => self.status(id, i, now),
                _ => InstanceStatus::gone(id.clone()),
            })
            .collect())
    }

    async fn list_managed(&self) -> Result<Vec<InstanceStatus>, ComputeError> {
        if let Some(e) =
            self.take_failure(FakeOp::ListManaged).or_else(|| self.over_rate(Bucket::Describe, None))
        {
            return Err(ComputeError::Aws(e));
        }
        let now = Instant::now();
        let state = self.state();
        Ok(state
            .instances
            .iter()
            .map(|(id, i)| self.status(id, i, now))
            .filter(|s| s.is_managed() && !matches!(s.state, InstanceState::Terminated | InstanceState::Gone))
            .collect())
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::Terminate) {
            return Err(ComputeError::Aws(e));
        }
        let instances = u32::try_from(instance_ids.len()).unwrap_or(u32::MAX);
        if let Some(e) =
            self.over_rate(Bucket::TerminateInstances, Some((Bucket::InstancesTerminated, instances)))
        {
            return Err(ComputeError::Aws(e));
        }
        let now = Instant::now();
        let mut state = self.state();
        self.guard(&state, instance_ids, now)?;
        for id in instance_ids {
            if let Some(i) = state.instances.get_mut(id) {
                let already_down = i.interrupt_at.is_some_and(|t| now >= t);
                if i.terminated.is_none() && !already_down {
                    i.terminated = Some(now);
                }
            }
        }
        Ok(())
    }

    async fn stop(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::Stop) {
            return Err(ComputeError::Aws(e));
        }
        let instances = u32::try_from(instance_ids.len()).unwrap_or(u32::MAX);
        if let Some(e) = self.over_rate(Bucket::Mutating, Some((Bucket::InstancesStopped, instances))) {
            return Err(ComputeError::Aws(e));
        }
        self.switch(Switch::Stop, instance_ids)
    }

    async fn start(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::Start) {
            return Err(ComputeError::Aws(e));
        }
        let instances = u32::try_from(instance_ids.len()).unwrap_or(u32::MAX);
        if let Some(e) = self.over_rate(Bucket::Mutating, Some((Bucket::InstancesStarted, instances))) {
            return Err(ComputeError::Aws(e));
        }
        self.switch(Switch::Start, instance_ids)
    }

    async fn preflight(&self) -> Vec<PermissionCheck> {
        [
            "ec2:RunInstances",
            "ec2:CreateFleet",
            "ec2:TerminateInstances",
            "ec2:StopInstances",
            "ec2:StartInstances",
            "ec2:CreateLaunchTemplate",
        ]
        .into_iter()
        .map(|action| PermissionCheck {
            action: action.to_owned(),
            verdict: Verdict::Allowed,
            message: "DryRunOperation: simulated".to_owned(),
        })
        .collect()
    }

    async fn price(
        &self,
        instance_type: &str,
        _availability_zone: &str,
        market: Market,
    ) -> Option<PriceQuote> {
        let on_demand = simulated_on_demand(instance_type);
        let per_hour = match market {
            Market::OnDemand => on_demand,
            Market::Spot => Micros(on_demand.0 * 35 / 100),
        };
        Some(PriceQuote { per_hour, source: PriceSource::Simulated })
    }

    async fn list_images(&self, query: &ImageQuery) -> Result<Vec<ImageSummary>, ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::ListImages) {
            return Err(ComputeError::Aws(e));
        }
        let owned = |owner: &str| {
            query.owners().iter().any(|o| {
                o == owner
                    || (o == "self" && owner == FAKE_ACCOUNT)
                    || (o == "amazon" && owner == AMAZON_ACCOUNT)
            })
        };
        let state = self.state();
        let images = IMAGES
            .iter()
            .filter(|(id, name, owner, _, _)| {
                !state.missing.contains(*id)
                    && owned(owner)
                    && query.name().is_none_or(|pattern| name_matches(pattern, name))
            })
            .map(|(id, name, owner, architecture, created)| ImageSummary {
                image_id: (*id).to_owned(),
                name: (*name).to_owned(),
                owner_id: (*owner).to_owned(),
                architecture: (*architecture).to_owned(),
                created_at: Timestamp::parse_rfc3339(created),
            })
            .collect();
        Ok(newest_images(images))
    }

    async fn list_subnets(&self) -> Result<Vec<SubnetSummary>, ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::ListSubnets) {
            return Err(ComputeError::Aws(e));
        }
        let state = self.state();
        let mut subnets: Vec<SubnetSummary> = SUBNETS
            .iter()
            .filter(|(id, ..)| !state.missing.contains(*id))
            .map(|(id, vpc, cidr, name)| SubnetSummary {
                subnet_id: (*id).to_owned(),
                vpc_id: (*vpc).to_owned(),
                availability_zone: zone_of(&self.settings.region, id),
                cidr_block: (*cidr).to_owned(),
                name: name.map(str::to_owned),
            })
            .collect();
        sort_subnets(&mut subnets);
        Ok(subnets)
    }

    async fn list_security_groups(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupSummary>, ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::ListSecurityGroups) {
            return Err(ComputeError::Aws(e));
        }
        let state = self.state();
        let mut groups: Vec<SecurityGroupSummary> = SECURITY_GROUPS
            .iter()
            .filter(|(id, _, vpc, _)| !state.missing.contains(*id) && vpc_id.is_none_or(|v| v == *vpc))
            .map(|(id, name, vpc, description)| SecurityGroupSummary {
                group_id: (*id).to_owned(),
                group_name: (*name).to_owned(),
                vpc_id: (*vpc).to_owned(),
                description: (*description).to_owned(),
            })
            .collect();
        sort_security_groups(&mut groups);
        Ok(groups)
    }

    async fn list_instance_profiles(&self) -> Result<Vec<InstanceProfileSummary>, ComputeError> {
        if let Some(e) = self.take_failure(FakeOp::ListInstanceProfiles) {
            return Err(ComputeError::Aws(e));
        }
        let state = self.state();
        Ok(INSTANCE_PROFILES
            .iter()
            .filter(|name| !state.missing.contains(**name))
            .map(|name| InstanceProfileSummary {
                name: (*name).to_owned(),
                arn: format!("arn:aws:iam::{FAKE_ACCOUNT}:instance-profile/{name}"),
            })
            .collect())
    }
}
