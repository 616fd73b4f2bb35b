//! Pacer's EC2 side: everything the engine asks of AWS, behind the small async
//! [`Compute`] trait, with two implementations: [`Ec2Compute`] over the AWS SDK (EC2, IAM,
//! Pricing) and [`FakeCompute`], an in-memory, seeded, tokio-clocked EC2 for demo mode and
//! engine tests.
//!
//! The calls: pool validation before any write, launch-template materialisation
//! ([`materialize`]: create, or new version + default with rollback), launches by CreateFleet
//! or RunInstances with the domain's [`pacer_domain::LaunchSpec`], batched describes, the
//! managed-instance list for the orphan sweep, guarded terminates, stops and starts (stopped
//! warm pools), a DryRun preflight, price quotes, and read-only listings of the account's
//! AMIs, subnets, security groups and instance profiles for the pool editor's pickers
//! ([`ImageQuery`], …). Every AWS failure carries AWS's code and message and a class
//! ([`pacer_domain::ErrorClass`]) that tells the dispatcher whether to back off, retry or fail.
//! [`Throttled`] wraps either in EC2's API rate limits ([`RateLimits`]: token buckets that
//! calls wait for, shrinking adaptively when EC2 throttles anyway).
//! [`IdentityVerifier`] checks the AWS-signed identity documents instances prove themselves with.
//! [`iam_policy`] writes the least-privilege IAM policy for exactly the operations in
//! [`AWS_OPERATIONS`].
//!
//! This crate must never terminate, stop or start an instance that does not carry
//! `gha:managed-by=pacer`, never let pricing fail a launch, and never leave a half-made
//! launch-template version as the default.

mod compute;
#[cfg(feature = "ec2")]
mod ec2;
mod error;
mod fake;
mod identity;
#[cfg(feature = "ec2")]
mod instances;
mod inventory;
#[cfg(feature = "ec2")]
mod launch;
#[cfg(feature = "ec2")]
mod listing;
mod policy;
#[cfg(feature = "ec2")]
mod pricing;
#[cfg(feature = "ec2")]
mod templates;
mod throttle;
#[cfg(feature = "ec2")]
mod validate;

#[cfg(test)]
mod mock_tests;

pub use compute::{
    Compute, InstanceState, InstanceStatus, Launched, PRICING_TIMEOUT, PermissionCheck, Verdict, materialize,
};
#[cfg(feature = "ec2")]
pub use ec2::{Ec2Compute, Ec2Settings, profile_defined};
pub use error::ComputeError;
pub use fake::{FAKE_ACCOUNT, FakeCompute, FakeOp, FakeSettings};
pub use identity::{IdentityError, IdentitySigner, IdentityVerifier, InstanceIdentity};
pub use inventory::{
    DEFAULT_OWNERS, ImageQuery, ImageSummary, InstanceProfileSummary, MAX_IMAGES, MAX_LISTED, MAX_OWNERS,
    SecurityGroupSummary, SubnetSummary, check_vpc_id, name_matches,
};
pub use policy::{
    AWS_OPERATIONS, GRANTED_ON_PACER_RESOURCES, IMPLIED_ACTIONS, PolicyScope, SharedLogScope, iam_policy,
};
pub use throttle::{Bucket, BucketLimit, BucketState, RateLimits, Throttled};
