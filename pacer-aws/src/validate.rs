//! Pool validation against AWS before anything is written: the AMI exists and its
//! root snapshot fits the requested root size, each subnet and security group exists (and the
//! groups live in the subnets' VPC), each instance type exists in the region, runs the AMI's
//! architecture and is offered in at least one of the subnets' zones, the instance profile
//! exists. Each failure becomes a field
//! error naming the field and carrying AWS's code and reason; a transient failure (throttling,
//! AWS unreachable) is returned as an AWS error instead, since it says nothing about the pool.

use crate::ec2::Ec2Compute;
use crate::error::{ComputeError, from_sdk};
use pacer_domain::{ErrorClass, FieldError, LaunchError, PoolSpec};

/// Records a failed lookup as a field error, or stops validation when the failure is
/// transient.
fn field_or_stop(field: String, err: LaunchError, errors: &mut Vec<FieldError>) -> Result<(), ComputeError> {
    if err.class == ErrorClass::Throttling {
        return Err(ComputeError::Aws(err));
    }
    errors.push(FieldError::new(field, err.to_string()));
    Ok(())
}

/// The instance profile's name: the last path segment of an ARN, or the name itself.
pub(crate) fn profile_name(profile: &str) -> &str {
    if profile.starts_with("arn:") { profile.rsplit('/').next().unwrap_or(profile) } else { profile }
}

/// Where a subnet is: its VPC and availability zone.
struct SubnetPlace {
    vpc: String,
    zone: String,
}

impl Ec2Compute {
    #[tracing::instrument(skip_all, fields(pool = %pool.name, ami_id = %pool.ami_id))]
    pub(crate) async fn validate_pool_impl(&self, pool: &PoolSpec) -> Result<(), ComputeError> {
        let mut errors = Vec::new();
        let architecture = self.check_image(pool, &mut errors).await?;
        let subnets = self.check_subnets(pool, &mut errors).await?;
        let vpcs: Vec<String> = subnets.iter().map(|s| s.vpc.clone()).collect();
        self.check_security_groups(pool, &vpcs, &mut errors).await?;
        let zones: Vec<String> = subnets.into_iter().map(|s| s.zone).collect();
        self.check_instance_types(pool, architecture.as_deref(), &zones, &mut errors).await?;
        if let Some(profile) = &pool.iam_instance_profile {
            let name = profile_name(profile);
            if let Err(e) = self.iam.get_instance_profile().instance_profile_name(name).send().await {
                field_or_stop("iam_instance_profile".into(), from_sdk(&e), &mut errors)?;
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            tracing::info!(errors = errors.len(), "pool refused by aws validation");
            Err(ComputeError::Invalid(errors))
        }
    }

    /// Checks the AMI; its architecture (`x86_64`, `arm64`), when it was found.
    async fn check_image(
        &self,
        pool: &PoolSpec,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<String>, ComputeError> {
        let out = match self.ec2.describe_images().image_ids(&pool.ami_id).send().await {
            Ok(out) => out,
            Err(e) => return field_or_stop("ami_id".into(), from_sdk(&e), errors).map(|()| None),
        };
        let Some(image) = out.images().iter().find(|i| i.image_id() == Some(pool.ami_id.as_str())) else {
            errors.push(FieldError::new(
                "ami_id",
                format!(
                    "InvalidAMIID.NotFound: The image id '[{}]' does not exist in {}",
                    pool.ami_id, self.region
                ),
            ));
            return Ok(None);
        };
        if let Some(state) = image.state()
            && state.as_str() != "available"
        {
            errors.push(FieldError::new("ami_id", format!("the image is {}, not available", state.as_str())));
        }
        if pool.root_volume_gb > 0 {
            let root = image.root_device_name();
            let snapshot_gb = image
                .block_device_mappings()
                .iter()
                .find(|m| m.device_name() == root)
                .and_then(|m| m.ebs())
                .and_then(|ebs| ebs.volume_size());
            if let Some(size) = snapshot_gb
                && i64::from(pool.root_volume_gb) < i64::from(size)
            {
                errors.push(FieldError::new(
                        "root_volume_gb",
                        format!(
                            "must be at least {size} GiB, the size of the root snapshot of {} (or 0 for the image's size)",
                            pool.ami_id
                        ),
                    ));
            }
        }
        Ok(image.architecture().map(|a| a.as_str().to_owned()))
    }

    /// Checks each subnet; returns the VPC and zone of each one found.
    async fn check_subnets(
        &self,
        pool: &PoolSpec,
        errors: &mut Vec<FieldError>,
    ) -> Result<Vec<SubnetPlace>, ComputeError> {
        let mut found = Vec::new();
        for (i, subnet) in pool.subnet_ids.iter().enumerate() {
            let field = format!("subnet_ids[{i}]");
            match self.ec2.describe_subnets().subnet_ids(subnet).send().await {
                Ok(out) => match out.subnets().first() {
                    Some(s) => found.push(SubnetPlace {
                        vpc: s.vpc_id().unwrap_or_default().to_owned(),
                        zone: s.availability_zone().unwrap_or_default().to_owned(),
                    }),
                    None => errors.push(FieldError::new(
                        field,
                        format!("InvalidSubnetID.NotFound: The subnet ID '{subnet}' does not exist"),
                    )),
                },
                Err(e) => field_or_stop(field, from_sdk(&e), errors)?,
            }
        }
        Ok(found)
    }

    /// Checks each instance type: it exists in the region, runs `architecture` (the AMI's,
    /// when known) and is offered in at least one of `zones` (the subnets', when known).
    async fn check_instance_types(
        &self,
        pool: &PoolSpec,
        architecture: Option<&str>,
        zones: &[String],
        errors: &mut Vec<FieldError>,
    ) -> Result<(), ComputeError> {
        for (i, instance_type) in pool.instance_types.iter().enumerate() {
            let field = format!("instance_types[{i}]");
            let described = self
                .ec2
                .describe_instance_types()
                .instance_types(aws_sdk_ec2::types::InstanceType::from(instance_type.as_str()))
                .send()
                .await;
            let info = match described {
                Ok(out) => out.instance_types().first().cloned(),
                Err(e) => {
                    field_or_stop(field, from_sdk(&e), errors)?;
                    continue;
                }
            };
            let Some(info) = info else {
                errors.push(FieldError::new(
                    field,
                    format!("InvalidInstanceType: {instance_type} does not exist in {}", self.region),
                ));
                continue;
            };
            let supported: Vec<&str> = info
                .processor_info()
                .map(|p| p.supported_architectures().iter().map(|a| a.as_str()).collect())
                .unwrap_or_default();
            if let Some(arch) = architecture
                && !supported.is_empty()
                && !supported.contains(&arch)
            {
                errors.push(FieldError::new(
                    field,
                    format!("{instance_type} runs {} but the AMI is {arch}", supported.join(", ")),
                ));
                continue;
            }
            let zones: Vec<&String> = zones.iter().filter(|z| !z.is_empty()).collect();
            if zones.is_empty() {
                continue;
            }
            let offered = self
                .ec2
                .describe_instance_type_offerings()
                .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
                .filters(
                    aws_sdk_ec2::types::Filter::builder().name("instance-type").values(instance_type).build(),
                )
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("location")
                        .set_values(Some(zones.iter().map(|z| z.to_string()).collect()))
                        .build(),
                )
                .send()
                .await;
            match offered {
                Ok(out) if out.instance_type_offerings().is_empty() => errors.push(FieldError::new(
                    field,
                    format!(
                        "{instance_type} is not offered in the subnets' zones ({})",
                        zones.iter().map(|z| z.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )),
                Ok(_) => {}
                Err(e) => field_or_stop(field, from_sdk(&e), errors)?,
            }
        }
        Ok(())
    }

    async fn check_security_groups(
        &self,
        pool: &PoolSpec,
        vpcs: &[String],
        errors: &mut Vec<FieldError>,
    ) -> Result<(), ComputeError> {
        for (i, group) in pool.security_group_ids.iter().enumerate() {
            let field = format!("security_group_ids[{i}]");
            match self.ec2.describe_security_groups().group_ids(group).send().await {
                Ok(out) => match out.security_groups().first() {
                    Some(sg) => {
                        if let (Some(vpc), Some(subnet_vpc)) = (sg.vpc_id(), vpcs.first())
                            && vpcs.iter().any(|v| v != vpc)
                        {
                            errors.push(FieldError::new(
                                field,
                                format!("the security group is in {vpc} but the subnets are in {subnet_vpc}"),
                            ));
                        }
                    }
                    None => errors.push(FieldError::new(
                        field,
                        format!("InvalidGroup.NotFound: The security group '{group}' does not exist"),
                    )),
                },
                Err(e) => field_or_stop(field, from_sdk(&e), errors)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_come_from_arns_too() {
        assert_eq!(profile_name("pacer-runner"), "pacer-runner");
        assert_eq!(
            profile_name("arn:aws:iam::123456789012:instance-profile/ci/pacer-runner"),
            "pacer-runner"
        );
    }
}
