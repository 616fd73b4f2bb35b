//! The pool editor's pickers: what the AWS account holds (AMIs by name, subnets, security
//! groups, instance profiles), read through the API's `aws*` queries on demand.

use super::{DateTime, schema};
use cynic::{Operation, QueryBuilder};

/// An AMI.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AwsImage {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub architecture: String,
    pub created_at: Option<DateTime>,
}

/// The variables of [`aws_images`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct AwsImagesVars {
    /// EC2's `name` filter (`*` and `?` as wildcards); every name when null.
    pub name: Option<String>,
}

/// The answer to [`aws_images`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "AwsImagesVars")]
pub(crate) struct AwsImagesData {
    #[arguments(name: $name)]
    pub aws_images: Vec<AwsImage>,
}

/// The newest AMIs of the account and Amazon whose name contains `search` (all when blank).
pub(crate) fn aws_images(search: &str) -> Operation<AwsImagesData, AwsImagesVars> {
    let search = search.trim();
    let name = (!search.is_empty()).then(|| format!("*{search}*"));
    AwsImagesData::build(AwsImagesVars { name })
}

/// A subnet.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AwsSubnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub cidr_block: String,
    pub name: Option<String>,
}

/// The answer to [`aws_subnets`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct AwsSubnetsData {
    pub aws_subnets: Vec<AwsSubnet>,
}

/// The region's subnets.
pub(crate) fn aws_subnets() -> Operation<AwsSubnetsData, ()> {
    AwsSubnetsData::build(())
}

/// A security group.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AwsSecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub description: String,
}

/// The answer to [`aws_security_groups`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct AwsSecurityGroupsData {
    pub aws_security_groups: Vec<AwsSecurityGroup>,
}

/// Every security group of the region (the picker narrows them to the subnets' VPCs).
pub(crate) fn aws_security_groups() -> Operation<AwsSecurityGroupsData, ()> {
    AwsSecurityGroupsData::build(())
}

/// An IAM instance profile.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct AwsInstanceProfile {
    pub name: String,
    pub arn: String,
}

/// The answer to [`aws_instance_profiles`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct AwsInstanceProfilesData {
    pub aws_instance_profiles: Vec<AwsInstanceProfile>,
}

/// The account's instance profiles.
pub(crate) fn aws_instance_profiles() -> Operation<AwsInstanceProfilesData, ()> {
    AwsInstanceProfilesData::build(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_a_contains_pattern() {
        let op = aws_images(" ubuntu ");
        assert!(op.query.contains("awsImages(name: $name)"), "{}", op.query);
        assert_eq!(
            serde_json::to_value(&op.variables).expect("variables"),
            serde_json::json!({ "name": "*ubuntu*" })
        );
        let all = aws_images("  ");
        assert_eq!(
            serde_json::to_value(&all.variables).expect("variables"),
            serde_json::json!({ "name": null })
        );
    }

    #[test]
    fn listings_decode_from_the_api_shape() {
        let json = r#"{"awsSubnets":[{"id":"subnet-0bb1c79de3e1a2b3c","vpcId":"vpc-0a1b2c3d4e5f60718",
            "availabilityZone":"us-east-1a","cidrBlock":"10.20.1.0/24","name":null}]}"#;
        let data: AwsSubnetsData = serde_json::from_str(json).expect("decodes");
        assert_eq!(data.aws_subnets[0].availability_zone, "us-east-1a");
        assert!(aws_instance_profiles().query.contains("awsInstanceProfiles {"));
        assert!(aws_security_groups().query.contains("awsSecurityGroups {"));
    }
}
