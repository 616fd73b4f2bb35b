//! Effects as data for EC2: what a pool's launch template must contain, what one launch for
//! one job asks for, how a launch error is classified, and the capacity-retry schedule.
//! `pacer-aws` performs these; the domain only describes them.

use crate::config::{AllocationStrategy, Config, Pool, PoolId, SpawnMethod, Tags, cascade_tags};
use crate::time::SECOND_MS;
use serde::{Deserialize, Serialize};

/// Tag every Pacer-managed resource carries, with value [`MANAGED_BY_VALUE`].
pub const TAG_MANAGED_BY: &str = "gha:managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "pacer";
/// Tag naming the project (by name).
pub const TAG_PROJECT: &str = "gha:project";
/// Tag naming the pool (by name).
pub const TAG_POOL: &str = "gha:pool";
/// Tag naming the Pacer job id an instance was launched for.
pub const TAG_JOB_ID: &str = "gha:job_id";
/// Tag naming the `owner/repo` an instance was launched for.
pub const TAG_REPO: &str = "gha:repo";
/// Tag carrying the launch's client token, so a replayed launch finds what it started.
pub const TAG_LAUNCH: &str = "gha:launch";
/// Tag key marking a warm instance (launched before any job asked for it), `true`.
pub const TAG_WARM: &str = "gha:warm";

/// Capacity-class retries give up after this many attempts (the job then fails, stage `spawn`).
pub const MAX_LAUNCH_ATTEMPTS: u32 = 12;

/// The EC2 purchasing market of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Market {
    /// On-demand capacity, priced from the AWS Pricing API's list price.
    OnDemand,
    /// Spot capacity (one-time requests, terminated on interruption), priced from the latest
    /// spot price of the type and zone.
    Spot,
}

impl Market {
    /// `on-demand` or `spot` (EC2's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Market::OnDemand => "on-demand",
            Market::Spot => "spot",
        }
    }
}

/// Everything a pool's launch template holds except the user data, which the host renders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// Launch template name, stable for the pool's life (`pacer-pool-<id>`).
    pub name: String,
    /// The pool's AMI id (`ami-…`).
    pub ami_id: String,
    /// The pool's security group ids (`sg-…`), on the instance's network interface.
    pub security_group_ids: Vec<String>,
    /// The pool's IAM instance profile (name or ARN); `None` = none.
    pub iam_instance_profile: Option<String>,
    /// Root volume size in GiB; 0 = keep the AMI's (no block-device mapping).
    pub root_volume_gb: u32,
    /// Spot pool: one-time spot requests, terminate on interruption.
    pub spot: bool,
    /// Tags on the LT, its instances and volumes: cascaded user tags, then the `gha:` tags.
    pub tags: Tags,
}

impl TemplateSpec {
    /// The launch template a pool needs.
    pub fn for_pool(config: &Config, pool: &Pool) -> Self {
        let project_name = config.project(pool.project).map_or("", |p| p.spec.name.as_str());
        let mut tags = config.template_tags(pool);
        tags.insert(TAG_MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        tags.insert(TAG_PROJECT.into(), project_name.into());
        tags.insert(TAG_POOL.into(), pool.spec.name.clone());
        Self {
            name: format!("pacer-pool-{}", pool.id.0),
            ami_id: pool.spec.ami_id.clone(),
            security_group_ids: pool.spec.security_group_ids.clone(),
            iam_instance_profile: pool.spec.iam_instance_profile.clone(),
            root_volume_gb: pool.spec.root_volume_gb,
            spot: pool.spec.spot,
            tags,
        }
    }
}

impl TemplateSpec {
    /// A fingerprint of this spec with `user_data` (FNV-1a, 64 bits, hex): equal exactly when
    /// a template version would hold the same data. Not a security measure.
    pub fn fingerprint(&self, user_data: &str) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for byte in bytes.iter().chain([0xff].iter()) {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(self.name.as_bytes());
        feed(self.ami_id.as_bytes());
        for sg in &self.security_group_ids {
            feed(sg.as_bytes());
        }
        feed(self.iam_instance_profile.as_deref().unwrap_or_default().as_bytes());
        feed(&self.root_volume_gb.to_be_bytes());
        feed(&[u8::from(self.spot)]);
        for (key, value) in &self.tags {
            feed(key.as_bytes());
            feed(value.as_bytes());
        }
        feed(user_data.as_bytes());
        format!("{hash:016x}")
    }
}

/// One launch: one instance for one job attempt, or a batch of `count` instances for as many
/// claims of one pool, market and repo ([`crate::launch_batches`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Pacer's job id (also in the `gha:job_id` tag); a batch's first job (and no tag).
    pub job_id: u64,
    /// Attempt number, 1-based (a batch's first job's).
    pub attempt: u32,
    /// Instances to launch: 1, or a batch's size.
    pub count: u32,
    /// The jobs launched for, in the order the instances are handed out (`job_id` first).
    pub jobs: Vec<u64>,
    /// Idempotency token for this job + generation + attempt (a batch's: for its members'):
    /// a retried call after a crash returns the same instances instead of launching more.
    pub client_token: String,
    /// The pool's launch template id (launched at its `$Default` version).
    pub template_id: String,
    /// The pool's instance types in preference order.
    pub instance_types: Vec<String>,
    /// The pool's subnet ids; `run_instances` uses only the first.
    pub subnet_ids: Vec<String>,
    /// Market of this attempt: the pool's, or on-demand after a spot fallback.
    pub market: Market,
    /// The pool's spawn method: one CreateFleet, or RunInstances per type.
    pub spawn_method: SpawnMethod,
    /// The pool's CreateFleet allocation strategy (unused by `run_instances`).
    pub allocation_strategy: AllocationStrategy,
    /// Instance and volume tags: the full cascade (project → pool → repo) then the `gha:` tags
    /// (including [`TAG_LAUNCH`] = the client token).
    pub tags: Tags,
}

impl LaunchSpec {
    /// The launch of attempt `attempt` of `job` (whose generation counts the instances it lost
    /// to other jobs) from `pool`.
    pub fn new(config: &Config, pool: &Pool, repo: &str, job: LaunchOf, market: Market) -> Self {
        Self::batch(config, pool, repo, &[job], market)
    }

    /// One launch for `members` (claims of `pool` for `repo` on `market`, in the order their
    /// instances are handed out): one instance each. A single member's launch is tagged with
    /// its job; a batch's instances are tagged only with the batch's token, the log maps them
    /// to jobs.
    pub fn batch(config: &Config, pool: &Pool, repo: &str, members: &[LaunchOf], market: Market) -> Self {
        let first = members.first().copied().unwrap_or(LaunchOf { job_id: 0, generation: 0, attempt: 1 });
        let client_token = match members {
            [one] => client_token(one.job_id, one.generation, one.attempt),
            _ => batch_token(members),
        };
        let repo_tags = config.repo(repo).map(|r| r.spec.tags.clone()).unwrap_or_default();
        let mut tags = pool_tags(config, pool, &repo_tags);
        if let [one] = members {
            tags.insert(TAG_JOB_ID.into(), one.job_id.to_string());
        }
        tags.insert(TAG_REPO.into(), repo.to_owned());
        Self {
            job_id: first.job_id,
            attempt: first.attempt,
            count: members.len().max(1) as u32,
            jobs: members.iter().map(|m| m.job_id).collect(),
            ..Self::of_pool(pool, client_token, market, tags)
        }
    }

    /// The launch of `count` warm instances of `pool` (no job, no repo: the job that takes one
    /// decides whom its runner registers for), tagged [`TAG_WARM`].
    pub fn warm(config: &Config, pool: &Pool, count: u32, client_token: String, market: Market) -> Self {
        let mut tags = pool_tags(config, pool, &Tags::new());
        tags.insert(TAG_WARM.into(), "true".into());
        Self { count: count.max(1), ..Self::of_pool(pool, client_token, market, tags) }
    }

    /// A launch of one instance of `pool` for no job, under `client_token` (added to `tags`).
    fn of_pool(pool: &Pool, client_token: String, market: Market, mut tags: Tags) -> Self {
        tags.insert(TAG_LAUNCH.into(), client_token.clone());
        Self {
            job_id: 0,
            attempt: 1,
            count: 1,
            jobs: Vec::new(),
            client_token,
            template_id: pool.template.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
            instance_types: pool.spec.instance_types.clone(),
            subnet_ids: pool.spec.subnet_ids.clone(),
            market,
            spawn_method: pool.spec.spawn_method,
            allocation_strategy: pool.spec.allocation_strategy,
            tags,
        }
    }
}

/// The tags of every instance of `pool`: the cascade (project → pool → `extra`) then the
/// template's `gha:` tags.
fn pool_tags(config: &Config, pool: &Pool, extra: &Tags) -> Tags {
    let template = TemplateSpec::for_pool(config, pool);
    let mut tags = cascade_tags(&[&config.template_tags(pool), extra]);
    tags.extend(template.tags.into_iter().filter(|(k, _)| k.starts_with("gha:")));
    tags
}

/// The EC2 idempotency token of a warm launch (≤ 64 ASCII characters): its pool, kind (`h`ot
/// or `s`topped), the log position it was planned at and its count, so a launch repeated after
/// a crash before its record finds the instances it started.
pub fn warm_token(pool: PoolId, stopped: bool, seq: u64, count: u32) -> String {
    let kind = if stopped { 's' } else { 'h' };
    format!("pacer-warm-{}{kind}-{seq}-{count}", pool.0)
}

/// Which launch of which job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchOf {
    /// Pacer's job id.
    pub job_id: u64,
    /// How many times the job lost its instance to another job (a new instance needs a new
    /// token).
    pub generation: u32,
    /// Attempt, 1-based (throttled calls repeat an attempt; capacity failures advance it).
    pub attempt: u32,
}

/// The EC2 idempotency token of one launch (≤ 64 ASCII characters).
pub fn client_token(job_id: u64, generation: u32, attempt: u32) -> String {
    format!("pacer-job-{job_id}-g{generation}-a{attempt}")
}

/// The EC2 idempotency token of a batch launch (≤ 64 ASCII characters): its first job and a
/// digest of every member's job, generation and attempt, so the same claims always make the
/// same token and any other claims another.
pub fn batch_token(members: &[LaunchOf]) -> String {
    // FNV-1a, 64 bits: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for member in members {
        let bytes = [
            member.job_id.to_be_bytes().as_slice(),
            &member.generation.to_be_bytes(),
            &member.attempt.to_be_bytes(),
        ]
        .concat();
        for byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let first = members.first().map_or(0, |m| m.job_id);
    format!("pacer-batch-{first}-{hash:016x}")
}

/// What EC2 started for a launch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchedInstance {
    /// EC2 instance id, `i-…`.
    pub instance_id: String,
    /// The type EC2 picked among the pool's.
    pub instance_type: String,
    /// The availability zone it runs in (e.g. `us-east-1a`), used to price spot.
    pub availability_zone: String,
    /// The subnet it was launched in (`subnet-…`).
    pub subnet_id: String,
    /// The market it runs on (the one asked for).
    pub market: Market,
}

/// Whether an AWS error code says a request rate was exceeded (throttling proper, as opposed to
/// an AWS that is unavailable for a moment).
pub fn rate_exceeded(code: &str) -> bool {
    matches!(
        code,
        "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown"
            | "HttpStatus429"
    )
}

/// How the dispatcher treats a failed AWS call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// Not enough capacity of this type/market right now: back off and retry.
    Capacity,
    /// The API is throttling: retry with jitter, no attempt burned.
    Throttling,
    /// Anything else: the job fails with AWS's message.
    Permanent,
}

impl ErrorClass {
    /// Classifies an AWS error code.
    pub fn of(code: &str) -> Self {
        match code {
            "InsufficientInstanceCapacity"
            | "InstanceLimitExceeded"
            | "UnfulfillableCapacity"
            | "SpotMaxPriceTooLow"
            | "Unsupported"
            | "InsufficientCapacity"
            | "MaxSpotInstanceCountExceeded"
            | "InsufficientFreeAddressesInSubnet" => ErrorClass::Capacity,
            code if rate_exceeded(code) => ErrorClass::Throttling,
            "ServiceUnavailable" | "Unavailable" | "InternalError" | "InternalFailure" => {
                ErrorClass::Throttling
            }
            _ => ErrorClass::Permanent,
        }
    }

    /// `capacity`, `throttling` or `permanent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Capacity => "capacity",
            ErrorClass::Throttling => "throttling",
            ErrorClass::Permanent => "permanent",
        }
    }
}

/// A failed AWS call as the operator should read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchError {
    /// The class deciding what happens next.
    pub class: ErrorClass,
    /// AWS's error code, e.g. `InsufficientInstanceCapacity`.
    pub code: String,
    /// AWS's message.
    pub message: String,
}

impl LaunchError {
    /// An error classified by its code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        Self { class: ErrorClass::of(&code), code, message: message.into() }
    }
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for LaunchError {}

/// How capacity-class failures are retried (defaults: 30 s, 60 s, 120 s, 240 s, then
/// 300 s; give up after 12 attempts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay in milliseconds after the 1st, 2nd, … failure; the last one repeats.
    pub backoff_ms: Vec<i64>,
    /// Attempts before the job fails; default [`MAX_LAUNCH_ATTEMPTS`].
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff_ms: [30, 60, 120, 240, 300].map(|s| s * SECOND_MS).to_vec(),
            max_attempts: MAX_LAUNCH_ATTEMPTS,
        }
    }
}

impl RetryPolicy {
    /// Delay before the next attempt after `failed_attempts` capacity failures.
    pub fn delay_ms(&self, failed_attempts: u32) -> i64 {
        let index = (failed_attempts.max(1) as usize - 1).min(self.backoff_ms.len().saturating_sub(1));
        self.backoff_ms.get(index).copied().unwrap_or(30 * SECOND_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_spec() {
        for code in [
            "InsufficientInstanceCapacity",
            "InstanceLimitExceeded",
            "UnfulfillableCapacity",
            "SpotMaxPriceTooLow",
            "Unsupported",
        ] {
            assert_eq!(ErrorClass::of(code), ErrorClass::Capacity, "{code}");
        }
        assert_eq!(ErrorClass::of("UnsupportedOperation"), ErrorClass::Permanent);
        assert_eq!(ErrorClass::of("RequestLimitExceeded"), ErrorClass::Throttling);
        assert_eq!(ErrorClass::of("InvalidAMIID.NotFound"), ErrorClass::Permanent);
    }

    #[test]
    fn backoff_schedule() {
        let policy = RetryPolicy::default();
        let delays: Vec<i64> = (1..=7).map(|n| policy.delay_ms(n) / SECOND_MS).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300, 300]);
    }

    #[test]
    fn batch_tokens_name_their_members_and_are_short() {
        let of = |job_id, attempt| LaunchOf { job_id, generation: 0, attempt };
        let batch = [of(7, 1), of(9, 1)];
        assert_eq!(batch_token(&batch), batch_token(&[of(7, 1), of(9, 1)]));
        assert_ne!(batch_token(&batch), batch_token(&[of(7, 1), of(9, 2)]));
        assert_ne!(batch_token(&batch), batch_token(&[of(7, 1), of(9, 1), of(10, 1)]));
        assert!(batch_token(&[of(u64::MAX, 1), of(1, 1)]).len() <= 60, "room for a suffix");
    }

    #[test]
    fn client_tokens_are_per_attempt_and_short() {
        assert_ne!(client_token(7, 0, 1), client_token(7, 0, 2));
        assert_ne!(client_token(7, 0, 1), client_token(7, 1, 1));
        assert!(client_token(u64::MAX, u32::MAX, MAX_LAUNCH_ATTEMPTS).len() <= 60, "room for a suffix");
    }
}
