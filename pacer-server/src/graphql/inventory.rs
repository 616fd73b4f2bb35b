//! What the AWS account holds, for the pool editor's pickers: AMIs by owner and name, subnets,
//! security groups (of one VPC or all) and instance profiles, read from AWS on each query
//! (never recorded). Bad input is `INVALID_INPUT` before AWS is called; an AWS failure is
//! `UNAVAILABLE` naming the IAM action the listing needs.

use super::scalars::DateTime;
use super::{ErrorCode, engine, error, invalid};
use async_graphql::{Context, Object, Result, SimpleObject};
use pacer_aws::{
    ComputeError, ImageQuery, ImageSummary, InstanceProfileSummary, SecurityGroupSummary, SubnetSummary,
    check_vpc_id,
};

/// An AMI.
#[derive(SimpleObject)]
pub(super) struct AwsImage {
    /// `ami-…`, what a pool's `amiId` takes.
    pub id: String,
    /// Its name (empty when it has none).
    pub name: String,
    /// The AWS account that owns it.
    pub owner_id: String,
    /// `x86_64`, `arm64`, … (empty when EC2 does not say).
    pub architecture: String,
    /// When it was created; null when EC2 does not say.
    pub created_at: Option<DateTime>,
}

impl From<ImageSummary> for AwsImage {
    fn from(image: ImageSummary) -> Self {
        AwsImage {
            id: image.image_id,
            name: image.name,
            owner_id: image.owner_id,
            architecture: image.architecture,
            created_at: image.created_at.map(DateTime),
        }
    }
}

/// A subnet.
#[derive(SimpleObject)]
pub(super) struct AwsSubnet {
    /// `subnet-…`, what a pool's `subnetIds` take.
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its availability zone, e.g. `us-east-1a`.
    pub availability_zone: String,
    /// Its IPv4 range (empty for an IPv6-only subnet).
    pub cidr_block: String,
    /// Its `Name` tag; null without one.
    pub name: Option<String>,
}

impl From<SubnetSummary> for AwsSubnet {
    fn from(subnet: SubnetSummary) -> Self {
        AwsSubnet {
            id: subnet.subnet_id,
            vpc_id: subnet.vpc_id,
            availability_zone: subnet.availability_zone,
            cidr_block: subnet.cidr_block,
            name: subnet.name,
        }
    }
}

/// A security group.
#[derive(SimpleObject)]
pub(super) struct AwsSecurityGroup {
    /// `sg-…`, what a pool's `securityGroupIds` take.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its description.
    pub description: String,
}

impl From<SecurityGroupSummary> for AwsSecurityGroup {
    fn from(group: SecurityGroupSummary) -> Self {
        AwsSecurityGroup {
            id: group.group_id,
            name: group.group_name,
            vpc_id: group.vpc_id,
            description: group.description,
        }
    }
}

/// An IAM instance profile.
#[derive(SimpleObject)]
pub(super) struct AwsInstanceProfile {
    /// Its name, what a pool's `iamInstanceProfile` takes.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

impl From<InstanceProfileSummary> for AwsInstanceProfile {
    fn from(profile: InstanceProfileSummary) -> Self {
        AwsInstanceProfile { name: profile.name, arn: profile.arn }
    }
}

/// A failed listing as `UNAVAILABLE`: what could not be listed, the IAM action it needs (said
/// first when AWS refused the permission), and AWS's code and message.
fn unavailable(what: &str, action: &str, failure: &ComputeError) -> async_graphql::Error {
    tracing::warn!(error = %failure, action, "listing {what} failed");
    let detail = match failure {
        ComputeError::Aws(aws) => aws.to_string(),
        other => other.to_string(),
    };
    let denied =
        failure.code().is_some_and(|code| code.contains("Unauthorized") || code.starts_with("AccessDenied"));
    let message = if denied {
        format!(
            "AWS refused listing {what}: Pacer's AWS principal needs {action} (`pacer iam-policy` grants it): {detail}"
        )
    } else {
        format!("could not list {what} from AWS ({action}): {detail}")
    };
    error(ErrorCode::Unavailable, message)
}

/// The account's AMIs, subnets, security groups and instance profiles.
#[derive(Default)]
pub(super) struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// Available machine AMIs of `owners` (account ids, `self`, `amazon`, `aws-marketplace` or
    /// an owner alias; `self` and `amazon` when none, at most 10) whose name matches `name`
    /// (EC2's `name` filter: `*` and `?` are wildcards, otherwise the exact name; every name
    /// when null), newest first, at most 100 (of the first 3,000 EC2 answers: a name narrows
    /// it). INVALID_INPUT for too many or malformed owners or a name EC2 would refuse (over
    /// 128 characters, or characters other than letters, digits, spaces and ( ) [ ] . / - ' @ _
    /// * ?); UNAVAILABLE when AWS fails (needs `ec2:DescribeImages`).
    async fn aws_images(
        &self,
        ctx: &Context<'_>,
        owners: Option<Vec<String>>,
        name: Option<String>,
    ) -> Result<Vec<AwsImage>> {
        let query = ImageQuery::new(owners, name).map_err(|fields| invalid(ctx, fields))?;
        let images = engine(ctx)?
            .compute
            .list_images(&query)
            .await
            .map_err(|e| unavailable("AMIs", "ec2:DescribeImages", &e))?;
        Ok(images.into_iter().map(AwsImage::from).collect())
    }

    /// The region's subnets with their VPC, zone, range and `Name` tag, by VPC, zone and range
    /// (at most 1,000). UNAVAILABLE when AWS fails (needs `ec2:DescribeSubnets`).
    async fn aws_subnets(&self, ctx: &Context<'_>) -> Result<Vec<AwsSubnet>> {
        let subnets = engine(ctx)?
            .compute
            .list_subnets()
            .await
            .map_err(|e| unavailable("subnets", "ec2:DescribeSubnets", &e))?;
        Ok(subnets.into_iter().map(AwsSubnet::from).collect())
    }

    /// The region's security groups, only `vpcId`'s when given, by VPC and name (at most
    /// 1,000). INVALID_INPUT (field `vpc_id`) for a `vpcId` not like `vpc-0123456789abcdef0`;
    /// UNAVAILABLE when AWS fails (needs `ec2:DescribeSecurityGroups`).
    async fn aws_security_groups(
        &self,
        ctx: &Context<'_>,
        vpc_id: Option<String>,
    ) -> Result<Vec<AwsSecurityGroup>> {
        let vpc_id = vpc_id.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(vpc) = &vpc_id {
            check_vpc_id(vpc).map_err(|field| invalid(ctx, vec![field]))?;
        }
        let groups = engine(ctx)?
            .compute
            .list_security_groups(vpc_id.as_deref())
            .await
            .map_err(|e| unavailable("security groups", "ec2:DescribeSecurityGroups", &e))?;
        Ok(groups.into_iter().map(AwsSecurityGroup::from).collect())
    }

    /// The account's IAM instance profiles by name (at most 1,000). UNAVAILABLE when AWS fails
    /// (needs `iam:ListInstanceProfiles`).
    async fn aws_instance_profiles(&self, ctx: &Context<'_>) -> Result<Vec<AwsInstanceProfile>> {
        let profiles = engine(ctx)?
            .compute
            .list_instance_profiles()
            .await
            .map_err(|e| unavailable("instance profiles", "iam:ListInstanceProfiles", &e))?;
        Ok(profiles.into_iter().map(AwsInstanceProfile::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::LaunchError;

    fn message(failure: ComputeError) -> String {
        let e = unavailable("instance profiles", "iam:ListInstanceProfiles", &failure);
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(code, Some(async_graphql::Value::from("UNAVAILABLE")));
        e.message
    }

    #[test]
    fn a_refused_permission_is_named_first() {
        let denied = message(ComputeError::Aws(LaunchError::new(
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/pacer is not authorized to perform: iam:ListInstanceProfiles",
        )));
        assert!(
            denied.starts_with(
                "AWS refused listing instance profiles: Pacer's AWS principal needs iam:ListInstanceProfiles"
            ),
            "{denied}"
        );
        assert!(denied.contains("AccessDenied: User:"), "{denied}");
        let down = message(ComputeError::Aws(LaunchError::new("DispatchFailure", "connection refused")));
        assert_eq!(
            down,
            "could not list instance profiles from AWS (iam:ListInstanceProfiles): DispatchFailure: connection refused"
        );
    }
}
