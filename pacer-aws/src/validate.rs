//! Pool validation against AWS before anything is written: the AMI exists and its
//! root snapshot fits the requested root size, each subnet and security group exists (and the
//! groups live in the subnets' VPC), the instance profile exists. Each failure becomes a field
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

impl Ec2Compute {
    #[tracing::instrument(skip_all, fields(pool = %pool.name, ami_id = %pool.ami_id))]
    pub(crate) async fn validate_pool_impl(&self, pool: &PoolSpec) -> Result<(), ComputeError> {
        let mut errors = Vec::new();
        self.check_image(pool, &mut errors).await?;
        let vpcs = self.check_subnets(pool, &mut errors).await?;
        self.check_security_groups(pool, &vpcs, &mut errors).await?;
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

    async fn check_image(&self, pool: &PoolSpec, errors: &mut Vec<FieldError>) -> Result<(), ComputeError> {
        let out = match self.ec2.describe_images().image_ids(&pool.ami_id).send().await {
            Ok(out) => out,
            Err(e) => return field_or_stop("ami_id".into(), from_sdk(&e), errors),
        };
        let Some(image) = out.images().iter().find(|i| i.image_id() == Some(pool.ami_id.as_str())) else {
            errors.push(FieldError::new(
                "ami_id",
                format!(
                    "InvalidAMIID.NotFound: The image id '[{}]' does not exist in {}",
                    pool.ami_id, self.region
                ),
            ));
            return Ok(());
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
        Ok(())
    }

    /// Checks each subnet; returns the VPC of each one found.
    async fn check_subnets(
        &self,
        pool: &PoolSpec,
        errors: &mut Vec<FieldError>,
    ) -> Result<Vec<String>, ComputeError> {
        let mut vpcs = Vec::new();
        for (i, subnet) in pool.subnet_ids.iter().enumerate() {
            let field = format!("subnet_ids[{i}]");
            match self.ec2.describe_subnets().subnet_ids(subnet).send().await {
                Ok(out) => match out.subnets().first() {
                    Some(s) => vpcs.extend(s.vpc_id().map(str::to_owned)),
                    None => errors.push(FieldError::new(
                        field,
                        format!("InvalidSubnetID.NotFound: The subnet ID '{subnet}' does not exist"),
                    )),
                },
                Err(e) => field_or_stop(field, from_sdk(&e), errors)?,
            }
        }
        Ok(vpcs)
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
