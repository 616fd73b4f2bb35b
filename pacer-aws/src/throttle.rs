//! [`Throttled`]: a [`Compute`] around any other that keeps to EC2's API rate limits, so the
//! dispatcher, the reaper and the template sync, sharing one, never outrun the account.
//!
//! EC2 throttles each account per region with token buckets: every request takes a token from
//! its action's bucket, and RunInstances, TerminateInstances, StartInstances and StopInstances
//! also take one token per instance from a resource bucket; each bucket refills at a set rate
//! up to its size (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>).
//! Pacer keeps a copy of the buckets its calls draw from ([`Bucket`], sized by default as EC2
//! documents them) and makes a call wait, on tokio's clock, until its buckets hold its tokens:
//! a launch of N instances takes N tokens of [`Bucket::InstancesLaunched`]. A call counts
//! once per bucket whatever number of requests EC2 serves it in (pages, batches, a RunInstances
//! per instance type after capacity errors); the adaptive refill absorbs the difference.
//!
//! Other clients of the account draw from the same buckets, so EC2 may still answer
//! `RequestLimitExceeded` (after the SDK's own retries). Then the call's request bucket is
//! emptied and its refill halved (once per round of calls; never below a sixteenth of the
//! configured rate), climbing back linearly to the configured rate within a minute; the call
//! waits for its tokens again and is tried again, five times in all, so a throttle reaches the
//! caller (as a throttling-class error, which burns no launch attempt) only when EC2 keeps
//! refusing. Resource buckets are never shrunk: the halved request rate spaces the retries
//! whichever bucket EC2 found empty.
//!
//! [`Ec2Buckets`] is EC2's side of the same buckets, for [`crate::FakeCompute`]: a call beyond
//! them is refused with `RequestLimitExceeded` at once, as EC2 does.

use crate::compute::{Compute, InstanceStatus, Launched, PermissionCheck};
use crate::error::ComputeError;
use crate::inventory::{
    ImageQuery, ImageSummary, InstanceProfileSummary, SecurityGroupSummary, SubnetSummary,
};
use async_trait::async_trait;
use pacer_domain::{
    LaunchError, LaunchSpec, Market, PoolSpec, PriceQuote, SpawnMethod, TemplateRef, TemplateSpec,
    rate_exceeded,
};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Tries of one call while EC2 keeps answering that its rate is exceeded, the first included.
const TRIES: u32 = 5;

/// A throttle halves a bucket's refill, but never below this share of the configured refill.
const FLOOR: f64 = 1.0 / 16.0;

/// How long a bucket's refill takes to climb back from nothing to the configured rate; it
/// climbs linearly, so from half the rate in half this time.
const RECOVERY: Duration = Duration::from_secs(60);

/// The shortest wait for tokens (tokio's timers tick in milliseconds).
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Token shortfalls smaller than this are rounding, not a reason to wait.
const EPSILON: f64 = 1e-9;

/// An EC2 token bucket Pacer's calls draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// RunInstances requests (launches of pools with `run_instances`).
    RunInstances,
    /// CreateFleet requests (launches of pools with `fleet`).
    CreateFleet,
    /// TerminateInstances requests.
    TerminateInstances,
    /// Non-mutating requests: `Describe*` (instances, images, subnets, security groups, spot
    /// prices), the pool checks.
    Describe,
    /// Other mutating requests: the launch-template writes, StopInstances and StartInstances.
    Mutating,
    /// Instances launched (RunInstances' resource bucket; fleet launches draw from it too).
    InstancesLaunched,
    /// Instances terminated (TerminateInstances' resource bucket).
    InstancesTerminated,
    /// Instances started (StartInstances' resource bucket).
    InstancesStarted,
    /// Instances stopped (StopInstances' resource bucket).
    InstancesStopped,
}

impl Bucket {
    /// Every bucket, in discriminant order.
    pub const ALL: [Bucket; 9] = [
        Bucket::RunInstances,
        Bucket::CreateFleet,
        Bucket::TerminateInstances,
        Bucket::Describe,
        Bucket::Mutating,
        Bucket::InstancesLaunched,
        Bucket::InstancesTerminated,
        Bucket::InstancesStarted,
        Bucket::InstancesStopped,
    ];

    /// Its name: the key under `aws.rate_limits` and the `bucket` label of the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::RunInstances => "run_instances",
            Bucket::CreateFleet => "create_fleet",
            Bucket::TerminateInstances => "terminate_instances",
            Bucket::Describe => "describe",
            Bucket::Mutating => "mutating",
            Bucket::InstancesLaunched => "instances_launched",
            Bucket::InstancesTerminated => "instances_terminated",
            Bucket::InstancesStarted => "instances_started",
            Bucket::InstancesStopped => "instances_stopped",
        }
    }

    /// The size and refill EC2 documents for it, Pacer's default. CreateFleet has no bucket of
    /// its own there and counts as a mutating action, as do StartInstances and StopInstances;
    /// the launch-template writes are mutating actions (CreateLaunchTemplateVersion and
    /// ModifyLaunchTemplate have larger buckets of their own, 100/5); EC2 documents no resource
    /// bucket for CreateFleet, so its instances are counted with RunInstances'.
    pub fn documented_limit(self) -> BucketLimit {
        let (capacity, refill_per_second) = match self {
            Bucket::RunInstances => (5, 2.0),
            Bucket::CreateFleet => (50, 5.0),
            Bucket::TerminateInstances => (100, 5.0),
            Bucket::Describe => (100, 20.0),
            Bucket::Mutating => (50, 5.0),
            Bucket::InstancesLaunched => (1_000, 2.0),
            Bucket::InstancesTerminated => (1_000, 20.0),
            Bucket::InstancesStarted => (1_000, 2.0),
            Bucket::InstancesStopped => (1_000, 20.0),
        };
        BucketLimit { capacity, refill_per_second }
    }
}

/// A bucket's size (tokens) and refill (tokens per second), written `SIZE/REFILL` (`50/5`,
/// `4/0.3`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketLimit {
    capacity: u32,
    refill_per_second: f64,
}

impl BucketLimit {
    /// The largest size and refill.
    pub const MAX: u32 = 1_000_000;
    /// The smallest refill (tokens per second).
    pub const MIN_REFILL: f64 = 0.01;

    /// A limit of `capacity` tokens (1 to [`BucketLimit::MAX`]) refilled at `refill_per_second`
    /// ([`BucketLimit::MIN_REFILL`] to [`BucketLimit::MAX`]); `None` outside those ranges.
    pub fn new(capacity: u32, refill_per_second: f64) -> Option<Self> {
        let refill_ok = (Self::MIN_REFILL..=f64::from(Self::MAX)).contains(&refill_per_second);
        ((1..=Self::MAX).contains(&capacity) && refill_ok).then_some(Self { capacity, refill_per_second })
    }

    /// Tokens the bucket holds when full.
    pub fn capacity(self) -> u32 {
        self.capacity
    }

    /// Tokens added per second.
    pub fn refill_per_second(self) -> f64 {
        self.refill_per_second
    }
}

impl std::str::FromStr for BucketLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let explain = || {
            format!(
                "must be SIZE/REFILL: a size of 1 to {max} tokens and a refill of {min} to {max} tokens per second, e.g. 50/5",
                max = Self::MAX,
                min = Self::MIN_REFILL
            )
        };
        let (capacity, refill) = text.trim().split_once('/').ok_or_else(explain)?;
        let capacity = capacity.trim().parse().map_err(|_| explain())?;
        let refill = refill.trim().parse().map_err(|_| explain())?;
        Self::new(capacity, refill).ok_or_else(explain)
    }
}

impl std::fmt::Display for BucketLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.capacity, self.refill_per_second)
    }
}

impl serde::Serialize for BucketLimit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The limit of every [`Bucket`]; [`Default`] is EC2's documented ones.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    limits: [BucketLimit; Bucket::ALL.len()],
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { limits: Bucket::ALL.map(Bucket::documented_limit) }
    }
}

impl RateLimits {
    /// These limits with `bucket`'s set to `limit`.
    pub fn with(mut self, bucket: Bucket, limit: BucketLimit) -> Self {
        self.limits[bucket as usize] = limit;
        self
    }

    /// `bucket`'s limit.
    pub fn get(&self, bucket: Bucket) -> BucketLimit {
        self.limits[bucket as usize]
    }
}

/// One bucket as it stands, for metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketState {
    /// Which bucket.
    pub bucket: Bucket,
    /// Its configured size and refill.
    pub limit: BucketLimit,
    /// Tokens in it now; below zero while a call larger than the bucket is paid off.
    pub tokens: f64,
    /// Its refill now: the configured one, or less after a throttle.
    pub refill_per_second: f64,
    /// Calls drawing from it that EC2 answered with a throttle (request buckets only).
    pub throttles: u64,
    /// Calls that waited for its tokens.
    pub waits: u64,
}

/// What a bucket holds between two looks.
#[derive(Debug)]
struct Level {
    tokens: f64,
    refill_per_second: f64,
    /// When `tokens` and `refill_per_second` were brought up to date.
    at: Instant,
    /// When a throttle last halved the refill.
    shrunk_at: Option<Instant>,
    throttles: u64,
    waits: u64,
}

impl Level {
    /// Brings the level up to `now`: the refill climbs back linearly towards the configured
    /// rate while tokens flow in at it, up to the size.
    fn refill(&mut self, limit: BucketLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        let target = limit.refill_per_second;
        let slope = target / RECOVERY.as_secs_f64();
        let climbing = ((target - self.refill_per_second) / slope).clamp(0.0, elapsed);
        let gained = self.refill_per_second * climbing
            + slope * climbing * climbing / 2.0
            + target * (elapsed - climbing);
        self.refill_per_second = (self.refill_per_second + slope * climbing).min(target);
        self.tokens = (self.tokens + gained).min(f64::from(limit.capacity));
    }
}

/// One bucket: its limit, its level, and the line of calls waiting for it.
#[derive(Debug)]
struct TokenBucket {
    bucket: Bucket,
    limit: BucketLimit,
    level: Mutex<Level>,
    /// Calls wait for tokens one at a time, in the order they came (tokio's mutex is fair).
    line: tokio::sync::Mutex<()>,
}

impl TokenBucket {
    fn new(bucket: Bucket, limit: BucketLimit) -> Self {
        let level = Level {
            tokens: f64::from(limit.capacity),
            refill_per_second: limit.refill_per_second,
            at: Instant::now(),
            shrunk_at: None,
            throttles: 0,
            waits: 0,
        };
        Self { bucket, limit, level: Mutex::new(level), line: tokio::sync::Mutex::new(()) }
    }

    fn level(&self) -> MutexGuard<'_, Level> {
        // The level is a few numbers, each update complete before the next: keep going.
        self.level.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the bucket holds `tokens` (a full bucket, for a call larger than the bucket)
    /// and takes them.
    async fn take(&self, tokens: u32) {
        let _turn = self.line.lock().await;
        let wanted = f64::from(tokens);
        let needed = wanted.min(f64::from(self.limit.capacity));
        let mut waited = false;
        loop {
            let wait = {
                let mut level = self.level();
                level.refill(self.limit, Instant::now());
                let short = needed - level.tokens;
                if short <= EPSILON {
                    level.tokens -= wanted;
                    level.waits += u64::from(waited);
                    return;
                }
                // A look at least every minute: the refill may climb meanwhile.
                Duration::from_secs_f64((short / level.refill_per_second).min(60.0))
            };
            waited = true;
            tokio::time::sleep(wait.max(MIN_WAIT)).await;
        }
    }

    /// Takes `tokens` (a full bucket, for a call larger than the bucket) if the bucket holds
    /// them now.
    fn try_take(&self, tokens: u32) -> bool {
        let mut level = self.level();
        level.refill(self.limit, Instant::now());
        let wanted = f64::from(tokens);
        if wanted.min(f64::from(self.limit.capacity)) - level.tokens > EPSILON {
            return false;
        }
        level.tokens -= wanted;
        true
    }

    /// Gives back `tokens` taken by a call that was refused after all.
    fn give_back(&self, tokens: u32) {
        let mut level = self.level();
        level.tokens = (level.tokens + f64::from(tokens)).min(f64::from(self.limit.capacity));
    }

    /// EC2 refused a call that took its tokens from this bucket at `started`: the bucket is
    /// empty, and unless it shrank since the call started, its refill halves.
    fn throttled(&self, started: Instant) {
        let now = Instant::now();
        let mut level = self.level();
        level.refill(self.limit, now);
        level.throttles += 1;
        level.tokens = level.tokens.min(0.0);
        if level.shrunk_at.is_none_or(|at| started > at) {
            let floor = self.limit.refill_per_second * FLOOR;
            level.refill_per_second = (level.refill_per_second / 2.0).max(floor);
            level.shrunk_at = Some(now);
        }
    }

    fn state(&self) -> BucketState {
        let mut level = self.level();
        level.refill(self.limit, Instant::now());
        BucketState {
            bucket: self.bucket,
            limit: self.limit,
            tokens: level.tokens,
            refill_per_second: level.refill_per_second,
            throttles: level.throttles,
            waits: level.waits,
        }
    }
}

/// An error that may carry AWS's code.
trait AwsCode {
    fn aws_code(&self) -> Option<&str>;
}

/// A call's answer, which may be EC2 refusing the call because a rate was exceeded.
trait Answer {
    /// AWS's code, when EC2 refused the whole call for its rate.
    fn rate_exceeded(&self) -> Option<&str>;
}

impl<T, E: AwsCode> Answer for Result<T, E> {
    fn rate_exceeded(&self) -> Option<&str> {
        self.as_ref().err()?.aws_code().filter(|code| rate_exceeded(code))
    }
}

impl Answer for Launched {
    /// Only a launch that started nothing: instances that did start are the caller's to record
    /// (a retry with the same client token would only find them again).
    fn rate_exceeded(&self) -> Option<&str> {
        if !self.instances.is_empty() {
            return None;
        }
        self.shortfall.as_ref().map(|e| e.code.as_str()).filter(|code| rate_exceeded(code))
    }
}

impl AwsCode for LaunchError {
    fn aws_code(&self) -> Option<&str> {
        Some(&self.code)
    }
}

impl AwsCode for ComputeError {
    fn aws_code(&self) -> Option<&str> {
        self.code()
    }
}

/// A [`Compute`] that makes each call of `inner` wait for its EC2 tokens and retries the calls
/// EC2 throttles (see the module doc). IAM calls (the instance-profile list) and the DryRun
/// preflight pass straight through.
pub struct Throttled<C: ?Sized> {
    inner: Arc<C>,
    buckets: [TokenBucket; Bucket::ALL.len()],
}

impl<C: Compute + ?Sized> Throttled<C> {
    /// `inner` within `limits`, every bucket full.
    pub fn new(inner: Arc<C>, limits: &RateLimits) -> Self {
        Self { inner, buckets: Bucket::ALL.map(|bucket| TokenBucket::new(bucket, limits.get(bucket))) }
    }

    fn bucket(&self, bucket: Bucket) -> &TokenBucket {
        &self.buckets[bucket as usize]
    }

    /// Runs `call` once it holds a token of its `requests` bucket (and its `resources` tokens,
    /// taken first: theirs is the longer wait), again while EC2 answers that its rate is
    /// exceeded, at most [`TRIES`] times.
    async fn call<A: Answer, F: Future<Output = A>>(
        &self,
        requests: Bucket,
        resources: Option<(Bucket, u32)>,
        call: impl Fn() -> F,
    ) -> A {
        let mut tries = 1;
        loop {
            if let Some((bucket, tokens)) = resources {
                self.bucket(bucket).take(tokens).await;
            }
            self.bucket(requests).take(1).await;
            let started = Instant::now();
            let answer = call().await;
            let Some(code) = answer.rate_exceeded() else { return answer };
            self.bucket(requests).throttled(started);
            let bucket = requests.name();
            if tries >= TRIES {
                tracing::warn!(%code, bucket, tries, "EC2 still throttles the call; giving up for now");
                return answer;
            }
            tracing::info!(%code, bucket, tries, "EC2 throttled the call; slowing down and trying again");
            tries += 1;
        }
    }

    /// A call that takes a token of `requests` only.
    async fn one<A: Answer, F: Future<Output = A>>(&self, requests: Bucket, call: impl Fn() -> F) -> A {
        self.call(requests, None, call).await
    }
}

/// EC2's side of the buckets: a call beyond them is refused at once (for fakes that model EC2).
#[derive(Debug)]
pub(crate) struct Ec2Buckets {
    buckets: [TokenBucket; Bucket::ALL.len()],
    refused: std::sync::atomic::AtomicU64,
}

impl Ec2Buckets {
    /// Every bucket of `limits`, full.
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let buckets = Bucket::ALL.map(|bucket| TokenBucket::new(bucket, limits.get(bucket)));
        Self { buckets, refused: std::sync::atomic::AtomicU64::new(0) }
    }

    /// Takes a call's tokens (one of `requests`, and `resources`), or takes none and answers
    /// `RequestLimitExceeded`.
    pub(crate) fn admit(
        &self,
        requests: Bucket,
        resources: Option<(Bucket, u32)>,
    ) -> Result<(), LaunchError> {
        let refuse = || {
            self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(LaunchError::new("RequestLimitExceeded", "Request limit exceeded."))
        };
        if let Some((bucket, tokens)) = resources
            && !self.buckets[bucket as usize].try_take(tokens)
        {
            return refuse();
        }
        if !self.buckets[requests as usize].try_take(1) {
            if let Some((bucket, tokens)) = resources {
                self.buckets[bucket as usize].give_back(tokens);
            }
            return refuse();
        }
        Ok(())
    }

    /// Calls refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `count` as tokens (saturating; a bucket never holds that many anyway).
fn tokens(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[async_trait]
impl<C: Compute + ?Sized> Compute for Throttled<C> {
    async fn validate_pool(&self, pool: &PoolSpec) -> Result<(), ComputeError> {
        self.one(Bucket::Describe, || self.inner.validate_pool(pool)).await
    }

    async fn create_template(
        &self,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        self.one(Bucket::Mutating, || self.inner.create_template(spec, user_data)).await
    }

    async fn create_template_version(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        self.one(Bucket::Mutating, || self.inner.create_template_version(template_id, spec, user_data)).await
    }

    async fn set_default_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        self.one(Bucket::Mutating, || self.inner.set_default_version(template_id, version)).await
    }

    async fn delete_template_version(&self, template_id: &str, version: u64) -> Result<(), ComputeError> {
        self.one(Bucket::Mutating, || self.inner.delete_template_version(template_id, version)).await
    }

    async fn delete_template(&self, template_id: &str) -> Result<(), ComputeError> {
        self.one(Bucket::Mutating, || self.inner.delete_template(template_id)).await
    }

    async fn launch_batch(&self, spec: &LaunchSpec) -> Launched {
        let requests = match spec.spawn_method {
            SpawnMethod::RunInstances => Bucket::RunInstances,
            SpawnMethod::Fleet => Bucket::CreateFleet,
        };
        let instances = (Bucket::InstancesLaunched, spec.count.max(1));
        self.call(requests, Some(instances), || self.inner.launch_batch(spec)).await
    }

    async fn describe(&self, instance_ids: &[String]) -> Result<Vec<InstanceStatus>, ComputeError> {
        self.one(Bucket::Describe, || self.inner.describe(instance_ids)).await
    }

    async fn list_managed(&self) -> Result<Vec<InstanceStatus>, ComputeError> {
        self.one(Bucket::Describe, || self.inner.list_managed()).await
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        let instances = (Bucket::InstancesTerminated, tokens(instance_ids.len()));
        self.call(Bucket::TerminateInstances, Some(instances), || self.inner.terminate(instance_ids)).await
    }

    async fn stop(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        let instances = (Bucket::InstancesStopped, tokens(instance_ids.len()));
        self.call(Bucket::Mutating, Some(instances), || self.inner.stop(instance_ids)).await
    }

    async fn start(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        let instances = (Bucket::InstancesStarted, tokens(instance_ids.len()));
        self.call(Bucket::Mutating, Some(instances), || self.inner.start(instance_ids)).await
    }

    async fn preflight(&self) -> Vec<PermissionCheck> {
        self.inner.preflight().await
    }

    async fn price(
        &self,
        instance_type: &str,
        availability_zone: &str,
        market: Market,
    ) -> Option<PriceQuote> {
        self.bucket(Bucket::Describe).take(1).await;
        self.inner.price(instance_type, availability_zone, market).await
    }

    async fn list_images(&self, query: &ImageQuery) -> Result<Vec<ImageSummary>, ComputeError> {
        self.one(Bucket::Describe, || self.inner.list_images(query)).await
    }

    async fn list_subnets(&self) -> Result<Vec<SubnetSummary>, ComputeError> {
        self.one(Bucket::Describe, || self.inner.list_subnets()).await
    }

    async fn list_security_groups(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupSummary>, ComputeError> {
        self.one(Bucket::Describe, || self.inner.list_security_groups(vpc_id)).await
    }

    async fn list_instance_profiles(&self) -> Result<Vec<InstanceProfileSummary>, ComputeError> {
        self.inner.list_instance_profiles().await
    }

    fn rate_limits(&self) -> Vec<BucketState> {
        self.buckets.iter().map(TokenBucket::state).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FakeCompute, FakeOp, FakeSettings, InstanceState, materialize};
    use pacer_domain::{AllocationStrategy, ErrorClass, TAG_MANAGED_BY, Tags, client_token};

    fn managed() -> Tags {
        Tags::from([(TAG_MANAGED_BY.to_owned(), "pacer".to_owned())])
    }

    async fn fake_with_template() -> (Arc<FakeCompute>, TemplateRef) {
        fake_with_template_and(FakeSettings::new(3)).await
    }

    async fn fake_with_template_and(settings: FakeSettings) -> (Arc<FakeCompute>, TemplateRef) {
        let fake = Arc::new(FakeCompute::new(settings));
        let spec = TemplateSpec {
            name: "pacer-pool-1".into(),
            ami_id: "ami-0123456789abcdef0".into(),
            security_group_ids: vec!["sg-0123abcd".into()],
            iam_instance_profile: None,
            root_volume_gb: 0,
            spot: false,
            tags: managed(),
        };
        let template = materialize(&*fake, None, &spec, "#!/bin/bash\n").await.expect("template");
        (fake, template)
    }

    fn launch_spec(template: &TemplateRef, job_id: u64, method: SpawnMethod) -> LaunchSpec {
        LaunchSpec {
            job_id,
            attempt: 1,
            count: 1,
            jobs: vec![job_id],
            client_token: client_token(job_id, 0, 1),
            template_id: template.id.clone(),
            instance_types: vec!["m5.large".into(), "c5.large".into()],
            subnet_ids: vec!["subnet-0123456789abcdef0".into()],
            market: Market::OnDemand,
            spawn_method: method,
            allocation_strategy: AllocationStrategy::Cost,
            tags: managed(),
        }
    }

    fn state(throttled: &Throttled<FakeCompute>, bucket: Bucket) -> BucketState {
        throttled.rate_limits()[bucket as usize]
    }

    fn throttle() -> LaunchError {
        LaunchError::new("RequestLimitExceeded", "Request limit exceeded.")
    }

    #[tokio::test(start_paused = true)]
    async fn a_fake_ec2_refuses_calls_beyond_its_buckets_and_none_of_a_throttled_caller() {
        let limits =
            RateLimits::default().with(Bucket::RunInstances, BucketLimit::new(5, 2.0).expect("limit"));
        let settings = FakeSettings { rate_limits: Some(limits.clone()), ..FakeSettings::new(3) };
        let (fake, template) = fake_with_template_and(settings).await;
        // Straight at the fake: the sixth call at once is over RunInstances' bucket of 5.
        for job in 1..=5 {
            fake.launch(&launch_spec(&template, job, SpawnMethod::RunInstances))
                .await
                .expect("within the bucket");
        }
        let refused = fake.launch(&launch_spec(&template, 6, SpawnMethod::RunInstances)).await;
        assert_eq!(refused.map_err(|e| e.code), Err("RequestLimitExceeded".to_owned()));
        assert_eq!(fake.rate_refusals(), 1);
        // Through a caller that keeps to the same buckets: it waits instead, EC2 refuses nothing.
        tokio::time::advance(Duration::from_secs(10)).await;
        let throttled = Throttled::new(fake.clone(), &limits);
        for job in 10..30 {
            throttled.launch(&launch_spec(&template, job, SpawnMethod::RunInstances)).await.expect("launch");
        }
        assert_eq!(fake.rate_refusals(), 1, "no refusal beyond the first");
    }

    #[test]
    fn buckets_are_listed_in_discriminant_order_with_documented_defaults() {
        for (index, bucket) in Bucket::ALL.iter().enumerate() {
            assert_eq!(*bucket as usize, index, "{bucket:?}");
        }
        let limits = RateLimits::default();
        let text = |bucket: Bucket| limits.get(bucket).to_string();
        assert_eq!(text(Bucket::RunInstances), "5/2");
        assert_eq!(text(Bucket::InstancesLaunched), "1000/2");
        assert_eq!(text(Bucket::InstancesTerminated), "1000/20");
        assert_eq!(text(Bucket::InstancesStarted), "1000/2");
        assert_eq!(text(Bucket::InstancesStopped), "1000/20");
        assert_eq!(text(Bucket::Mutating), "50/5");
        let names: Vec<&str> = Bucket::ALL.iter().map(|b| b.name()).collect();
        assert_eq!(names[7..], ["instances_started", "instances_stopped"]);
        assert_eq!(text(Bucket::Describe), "100/20");
    }

    #[test]
    fn limits_read_as_size_and_refill() {
        let limit: BucketLimit = " 4 / 0.3 ".parse().expect("valid");
        assert_eq!((limit.capacity(), limit.refill_per_second()), (4, 0.3));
        assert_eq!(limit.to_string(), "4/0.3");
        assert_eq!("1000/2".parse::<BucketLimit>().map(|l| l.to_string()), Ok("1000/2".to_owned()));
        for bad in ["", "5", "5/", "/2", "0/1", "5/0", "5/-1", "5/inf", "5/NaN", "a/b", "2000000/1", "1.5/1"]
        {
            let error = bad.parse::<BucketLimit>().expect_err(bad);
            assert!(error.starts_with("must be SIZE/REFILL"), "{bad}: {error}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_launch_is_retried_and_succeeds() {
        let (fake, template) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        fake.fail_next(FakeOp::Launch, throttle());
        let started = Instant::now();
        let launched = throttled.launch(&launch_spec(&template, 1, SpawnMethod::RunInstances)).await;
        assert!(launched.is_ok(), "{launched:?}");
        assert_eq!(fake.launches().len(), 2, "the throttled call, then its retry");
        let requests = state(&throttled, Bucket::RunInstances);
        assert_eq!((requests.throttles, requests.waits), (1, 1));
        // The throttle emptied the bucket and halved its refill: the retry waited a token's time.
        assert_eq!(started.elapsed(), Duration::from_millis(1_000));
        assert!((requests.refill_per_second - 1.0).abs() < 0.05, "{requests:?}");
        let instances = state(&throttled, Bucket::InstancesLaunched);
        assert_eq!(instances.throttles, 0, "resource buckets never shrink");
        assert!(instances.tokens > 998.0, "{instances:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_that_persists_reaches_the_caller_after_the_last_try() {
        let (fake, template) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        for instance_type in ["m5.large", "c5.large"] {
            fake.set_capacity_fault(instance_type, None, "RequestLimitExceeded");
        }
        let error = throttled
            .launch(&launch_spec(&template, 1, SpawnMethod::Fleet))
            .await
            .expect_err("EC2 keeps throttling");
        assert_eq!((error.code.as_str(), error.class), ("RequestLimitExceeded", ErrorClass::Throttling));
        assert_eq!(fake.launches().len(), TRIES as usize);
        let requests = state(&throttled, Bucket::CreateFleet);
        assert_eq!(requests.throttles, u64::from(TRIES));
        let floor = 5.0 * FLOOR;
        assert!(
            (floor..floor + 0.05).contains(&requests.refill_per_second),
            "halved to the floor: {requests:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_failures_pass_through_untried() {
        let (fake, template) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        for error in [
            LaunchError::new("InvalidLaunchTemplateId.NotFound", "gone"),
            // Throttling class (the dispatcher retries it), but not a rate limit.
            LaunchError::new("TimeoutError", "no answer"),
        ] {
            fake.fail_next(FakeOp::Launch, error.clone());
            let before = fake.launches().len();
            let got = throttled.launch(&launch_spec(&template, 1, SpawnMethod::Fleet)).await;
            assert_eq!(got, Err(error));
            assert_eq!(fake.launches().len(), before + 1, "tried once");
        }
        fake.fail_next(FakeOp::Describe, LaunchError::new("UnauthorizedOperation", "no"));
        let error = throttled.describe(&["i-1".into()]).await.expect_err("refused");
        assert_eq!(error.code(), Some("UnauthorizedOperation"));
        assert!(throttled.rate_limits().iter().all(|b| b.throttles == 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_refill_halves_once_per_round_and_climbs_back() {
        let (fake, _) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        let bucket = throttled.bucket(Bucket::Describe);
        let round = Instant::now();
        // Three calls of one round throttled together shrink the refill once.
        for _ in 0..3 {
            bucket.throttled(round);
        }
        let after = state(&throttled, Bucket::Describe);
        assert_eq!((after.throttles, after.refill_per_second, after.tokens), (3, 10.0, 0.0));
        // A call started after the shrink and throttled again halves it again.
        tokio::time::advance(Duration::from_millis(100)).await;
        bucket.throttled(Instant::now());
        let rate = state(&throttled, Bucket::Describe).refill_per_second;
        assert!((rate - 5.0).abs() < 0.1, "{rate}");
        // Recovery is linear: 20/s back from 5/s takes 45 s, a third of that gives a third back.
        tokio::time::advance(Duration::from_secs(15)).await;
        let rate = state(&throttled, Bucket::Describe).refill_per_second;
        assert!((rate - 10.0).abs() < 0.05, "{rate}");
        tokio::time::advance(Duration::from_secs(30)).await;
        let recovered = state(&throttled, Bucket::Describe);
        assert_eq!(recovered.refill_per_second, 20.0);
        // Tokens flowed in all along (the integral of the climbing rate), capped at the size.
        assert_eq!(recovered.tokens, 100.0);
        // And calls are served again at the configured rate.
        fake.fail_next(FakeOp::Describe, throttle());
        throttled.describe(&["i-1".into()]).await.expect("retried");
        assert_eq!(state(&throttled, Bucket::Describe).throttles, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_a_thousand_instances_fits_the_resource_buckets() {
        let (fake, template) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        // One launch of 1,000 instances takes 1,000 resource tokens (and one request token) at
        // once: no wait.
        let started = Instant::now();
        let batch = LaunchSpec { count: 1_000, ..launch_spec(&template, 1, SpawnMethod::RunInstances) };
        let launched = throttled.launch_batch(&batch).await;
        assert_eq!((launched.instances.len(), launched.shortfall), (1_000, None));
        assert_eq!(started.elapsed(), Duration::ZERO);
        let instances = state(&throttled, Bucket::InstancesLaunched);
        assert_eq!((instances.tokens, instances.waits), (0.0, 0));
        // The next two wait for the refill: 2 per second.
        let pair = LaunchSpec { count: 2, ..launch_spec(&template, 2, SpawnMethod::RunInstances) };
        assert_eq!(throttled.launch_batch(&pair).await.instances.len(), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(state(&throttled, Bucket::InstancesLaunched).waits, 1);

        // Terminating them all at once: 1,000 tokens of the instances-terminated bucket, no wait.
        let ids: Vec<String> = launched.instances.iter().map(|i| i.instance_id.clone()).collect();
        let started = Instant::now();
        throttled.terminate(&ids).await.expect("terminate");
        assert_eq!(started.elapsed(), Duration::ZERO);
        let terminated = state(&throttled, Bucket::InstancesTerminated);
        assert_eq!((terminated.tokens, terminated.waits), (0.0, 0));
        // The next instance waits for the refill: 20 per second.
        throttled.terminate(&ids[..1]).await.expect("terminate");
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert_eq!(state(&throttled, Bucket::InstancesTerminated).waits, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_and_starts_take_mutating_requests_and_their_instance_buckets() {
        let (fake, template) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        let batch = LaunchSpec { count: 1_000, ..launch_spec(&template, 1, SpawnMethod::RunInstances) };
        let ids: Vec<String> =
            throttled.launch_batch(&batch).await.instances.into_iter().map(|i| i.instance_id).collect();
        assert_eq!(ids.len(), 1_000);

        // Stopping them all at once: 1,000 tokens of the instances-stopped bucket, no wait; the
        // next instance waits for its refill, 20 per second.
        let started = Instant::now();
        throttled.stop(&ids).await.expect("stop");
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(state(&throttled, Bucket::InstancesStopped).tokens, 0.0);
        throttled.stop(&ids[..1]).await.expect("stop");
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert_eq!(state(&throttled, Bucket::InstancesStopped).waits, 1);

        // Starting them: the instances-started bucket, refilled 2 per second.
        let started = Instant::now();
        throttled.start(&ids).await.expect("start");
        assert_eq!(started.elapsed(), Duration::ZERO);
        throttled.start(&ids[..1]).await.expect("start");
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert_eq!(state(&throttled, Bucket::InstancesStarted).waits, 1);

        // Four requests of the mutating bucket, which never had to wait; no other bucket moved.
        let mutating = state(&throttled, Bucket::Mutating);
        assert_eq!(mutating.waits, 0);
        assert!((48.0..49.0).contains(&mutating.tokens), "{mutating:?}");
        assert_eq!(state(&throttled, Bucket::InstancesTerminated).tokens, 1_000.0);
        assert_eq!(state(&throttled, Bucket::TerminateInstances).tokens, 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fake_ec2_refuses_stops_and_starts_beyond_their_instance_buckets() {
        let two = BucketLimit::new(2, 1.0).expect("limit");
        let limits =
            RateLimits::default().with(Bucket::InstancesStopped, two).with(Bucket::InstancesStarted, two);
        let settings = FakeSettings { rate_limits: Some(limits.clone()), ..FakeSettings::new(3) };
        let (fake, template) = fake_with_template_and(settings).await;
        let batch = LaunchSpec { count: 3, ..launch_spec(&template, 1, SpawnMethod::RunInstances) };
        let ids: Vec<String> =
            fake.launch_batch(&batch).await.instances.into_iter().map(|i| i.instance_id).collect();
        fake.stop(&ids[..2]).await.expect("within the bucket");
        let refused = fake.stop(&ids[2..]).await.expect_err("the bucket is empty");
        assert_eq!(refused.code(), Some("RequestLimitExceeded"));
        assert_eq!(fake.describe(&ids[2..]).await.expect("describe")[0].state, InstanceState::Running);
        fake.start(&ids[..2]).await.expect("within the bucket");
        let refused = fake.start(&ids[..1]).await.expect_err("the bucket is empty");
        assert_eq!(refused.code(), Some("RequestLimitExceeded"));
        assert_eq!(fake.rate_refusals(), 2);

        // Through a caller that keeps to the same buckets: it waits for the refill instead.
        tokio::time::advance(Duration::from_secs(10)).await;
        let throttled = Throttled::new(fake.clone(), &limits);
        let started = Instant::now();
        throttled.stop(&ids).await.expect("stop");
        throttled.stop(&ids[..1]).await.expect("stop");
        assert_eq!(started.elapsed(), Duration::from_secs(2), "a debt of one, then a token, at 1 per second");
        throttled.start(&ids).await.expect("start");
        assert_eq!(fake.rate_refusals(), 2, "no refusal beyond the first two");
        let states = fake.describe(&ids).await.expect("describe");
        assert!(states.iter().all(|s| s.state == InstanceState::Running), "{states:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn single_launches_are_paced_by_their_request_bucket() {
        let (fake, template) = fake_with_template().await;
        let throttled = Throttled::new(fake.clone(), &RateLimits::default());
        // 1,000 launches of one instance each: the instance bucket holds them all, so only the
        // CreateFleet requests wait (50 at once, then 5 per second).
        let started = Instant::now();
        for job in 1..=1_000 {
            throttled.launch(&launch_spec(&template, job, SpawnMethod::Fleet)).await.expect("launch");
        }
        let instances = state(&throttled, Bucket::InstancesLaunched);
        assert_eq!(instances.waits, 0, "{instances:?}");
        assert!((379.0..=381.0).contains(&instances.tokens), "refilled 2 per second: {instances:?}");
        assert_eq!(state(&throttled, Bucket::CreateFleet).waits, 950);
        let took = started.elapsed().as_secs_f64();
        assert!((189.9..=190.1).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_larger_than_its_bucket_takes_a_full_bucket_and_leaves_a_debt() {
        let (fake, _) = fake_with_template().await;
        let limits = RateLimits::default()
            .with(Bucket::InstancesTerminated, BucketLimit::new(10, 1.0).expect("limit"));
        let throttled = Throttled::new(fake, &limits);
        let ids: Vec<String> = (0..15).map(|n| format!("i-{n:017x}")).collect();
        throttled.terminate(&ids).await.expect("terminate");
        assert_eq!(state(&throttled, Bucket::InstancesTerminated).tokens, -5.0);
        let started = Instant::now();
        throttled.terminate(&ids[..1]).await.expect("terminate");
        assert_eq!(started.elapsed(), Duration::from_secs(6), "the debt is paid off first");
    }
}
