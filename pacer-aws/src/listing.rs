//! The account's inventory for the pool editor's pickers, over the SDK: DescribeImages,
//! DescribeSubnets, DescribeSecurityGroups and IAM ListInstanceProfiles, paginated and bounded
//! in pages and items; each call bounded in time by the clients' operation timeout.

use crate::ec2::Ec2Compute;
use crate::error::{ComputeError, from_sdk};
use crate::inventory::{
    ImageQuery, ImageSummary, InstanceProfileSummary, MAX_LISTED, SecurityGroupSummary, SubnetSummary,
    newest_images, sort_security_groups, sort_subnets,
};
use aws_sdk_ec2::types::Filter;
use pacer_domain::Timestamp;

/// Most pages of 1,000 AMIs read before the newest are picked: a name narrows the listing,
/// Amazon alone owns tens of thousands.
const IMAGE_PAGES: usize = 3;
/// Items asked for per page.
const PAGE: i32 = 1000;

impl Ec2Compute {
    #[tracing::instrument(skip_all, fields(owners = ?query.owners(), name = ?query.name()))]
    pub(crate) async fn list_images_impl(
        &self,
        query: &ImageQuery,
    ) -> Result<Vec<ImageSummary>, ComputeError> {
        let mut request = self
            .ec2
            .describe_images()
            .set_owners(Some(query.owners().to_vec()))
            .filters(Filter::builder().name("state").values("available").build())
            .filters(Filter::builder().name("image-type").values("machine").build())
            .max_results(PAGE);
        if let Some(name) = query.name() {
            request = request.filters(Filter::builder().name("name").values(name).build());
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        let mut read = 0;
        while read < IMAGE_PAGES
            && let Some(page) = pages.next().await
        {
            read += 1;
            let page = page.map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            out.extend(page.images().iter().filter_map(|image| {
                Some(ImageSummary {
                    image_id: image.image_id()?.to_owned(),
                    name: image.name().unwrap_or_default().to_owned(),
                    owner_id: image.owner_id().unwrap_or_default().to_owned(),
                    architecture: image.architecture().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                    created_at: image.creation_date().and_then(Timestamp::parse_rfc3339),
                })
            }));
        }
        tracing::debug!(count = out.len(), pages = read, "images listed");
        Ok(newest_images(out))
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn list_subnets_impl(&self) -> Result<Vec<SubnetSummary>, ComputeError> {
        let mut pages = self.ec2.describe_subnets().max_results(PAGE).into_paginator().send();
        let mut out = Vec::new();
        while out.len() < MAX_LISTED
            && let Some(page) = pages.next().await
        {
            let page = page.map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            out.extend(page.subnets().iter().filter_map(|subnet| {
                Some(SubnetSummary {
                    subnet_id: subnet.subnet_id()?.to_owned(),
                    vpc_id: subnet.vpc_id().unwrap_or_default().to_owned(),
                    availability_zone: subnet.availability_zone().unwrap_or_default().to_owned(),
                    cidr_block: subnet.cidr_block().unwrap_or_default().to_owned(),
                    name: subnet
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("Name"))
                        .and_then(|t| t.value())
                        .map(str::to_owned),
                })
            }));
        }
        out.truncate(MAX_LISTED);
        sort_subnets(&mut out);
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(vpc_id = ?vpc_id))]
    pub(crate) async fn list_security_groups_impl(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupSummary>, ComputeError> {
        let mut request = self.ec2.describe_security_groups().max_results(PAGE);
        if let Some(vpc) = vpc_id {
            request = request.filters(Filter::builder().name("vpc-id").values(vpc).build());
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        while out.len() < MAX_LISTED
            && let Some(page) = pages.next().await
        {
            let page = page.map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            out.extend(page.security_groups().iter().filter_map(|group| {
                Some(SecurityGroupSummary {
                    group_id: group.group_id()?.to_owned(),
                    group_name: group.group_name().unwrap_or_default().to_owned(),
                    vpc_id: group.vpc_id().unwrap_or_default().to_owned(),
                    description: group.description().unwrap_or_default().to_owned(),
                })
            }));
        }
        out.truncate(MAX_LISTED);
        sort_security_groups(&mut out);
        Ok(out)
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn list_instance_profiles_impl(
        &self,
    ) -> Result<Vec<InstanceProfileSummary>, ComputeError> {
        let mut pages = self.iam.list_instance_profiles().max_items(PAGE).into_paginator().send();
        let mut out = Vec::new();
        while out.len() < MAX_LISTED
            && let Some(page) = pages.next().await
        {
            let page = page.map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            out.extend(page.instance_profiles().iter().map(|profile| InstanceProfileSummary {
                name: profile.instance_profile_name().to_owned(),
                arn: profile.arn().to_owned(),
            }));
        }
        out.truncate(MAX_LISTED);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
