//! Launch templates: the data every version carries and the calls that create,
//! re-version, default and delete them.
//!
//! Every version is sent with the FULL data (never `SourceVersion`): a version then stands on
//! its own, and moto, which does not inherit from a source version, stores the same thing AWS
//! does.
//!
//! **Market options are not stored in the template.** EC2 Fleet does not support launch
//! templates that request Spot through `InstanceMarketOptions` (the fleet's own target
//! capacity type decides the market), and a `RunInstances` from a template that says spot
//! cannot be turned back into an on-demand launch (market options can be added at launch,
//! never removed). So one market-neutral template serves both spawn methods and both markets,
//! and `launch` applies the market of each attempt: `DefaultTargetCapacityType` +
//! `SpotOptions` (terminate on interruption; instant fleets are one-time by nature) for
//! CreateFleet, `InstanceMarketOptions` (spot, one-time, terminate) for RunInstances. An
//! on-demand fallback of a spot pool is then simply an on-demand launch of the same template.

use crate::ec2::{Ec2Compute, ec2_tags, tag_spec};
use crate::error::{ComputeError, from_sdk};
use aws_sdk_ec2::types::{
    Filter, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, ShutdownBehavior,
    VolumeType,
};
use pacer_domain::{LaunchError, Tags, TemplateRef, TemplateSpec};
use tracing::Instrument;

/// The IMDS hop limit: 2 so containers on the instance can still reach IMDSv2.
pub(crate) const METADATA_HOP_LIMIT: i32 = 2;

/// The data of one launch-template version. `root_device` is the AMI's root device name,
/// needed (and only used) when the spec sets a root volume size.
pub(crate) fn template_data(
    spec: &TemplateSpec,
    user_data: &str,
    root_device: Option<&str>,
) -> RequestLaunchTemplateData {
    let lt_tags = |resource: ResourceType| {
        LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(resource)
            .set_tags(Some(ec2_tags(&spec.tags)))
            .build()
    };
    let mut data = RequestLaunchTemplateData::builder()
        .image_id(&spec.ami_id)
        .set_security_group_ids(
            (!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.clone()),
        )
        .user_data(aws_smithy_types::base64::encode(user_data))
        .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .http_put_response_hop_limit(METADATA_HOP_LIMIT)
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .tag_specifications(lt_tags(ResourceType::Instance))
        .tag_specifications(lt_tags(ResourceType::Volume));
    if let Some(profile) = &spec.iam_instance_profile {
        let p = LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        let p = if profile.starts_with("arn:") { p.arn(profile) } else { p.name(profile) };
        data = data.iam_instance_profile(p.build());
    }
    if let (true, Some(device)) = (spec.root_volume_gb > 0, root_device) {
        data = data.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(device)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(i32::try_from(spec.root_volume_gb).unwrap_or(i32::MAX))
                        .volume_type(VolumeType::Gp3)
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        );
    }
    data.build()
}

fn version_of(template_id: &str, number: Option<i64>) -> Result<TemplateRef, ComputeError> {
    let version = number.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
        ComputeError::Unexpected(format!("no version number for launch template {template_id}"))
    })?;
    Ok(TemplateRef { id: template_id.to_owned(), version, fingerprint: String::new() })
}

impl Ec2Compute {
    /// The AMI's root device name, looked up only when a root size is set.
    async fn root_device(&self, spec: &TemplateSpec) -> Result<Option<String>, ComputeError> {
        if spec.root_volume_gb == 0 {
            return Ok(None);
        }
        let out = self
            .ec2
            .describe_images()
            .image_ids(&spec.ami_id)
            .send()
            .await
            .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
        let device = out.images().first().and_then(|i| i.root_device_name()).map(str::to_owned);
        match device {
            Some(d) => Ok(Some(d)),
            None => Err(ComputeError::Aws(LaunchError::new(
                "InvalidAMIID.NotFound",
                format!("The image id '[{}]' does not exist or has no root device", spec.ami_id),
            ))),
        }
    }

    pub(crate) async fn create_template_impl(
        &self,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        let span = tracing::info_span!("ec2.create_launch_template", template_name = %spec.name);
        async {
            let data = template_data(spec, user_data, self.root_device(spec).await?.as_deref());
            let sent = self
                .ec2
                .create_launch_template()
                .launch_template_name(&spec.name)
                .version_description("pacer")
                .launch_template_data(data)
                .tag_specifications(tag_spec(ResourceType::LaunchTemplate, &spec.tags))
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let lt = out.launch_template();
                    let id = lt.and_then(|t| t.launch_template_id()).ok_or_else(|| {
                        ComputeError::Unexpected(format!("no id for launch template {}", spec.name))
                    })?;
                    tracing::info!(template_id = id, "launch template created");
                    version_of(id, lt.and_then(|t| t.default_version_number()))
                }
                Err(e) => {
                    let err = from_sdk(&e);
                    if err.code != "InvalidLaunchTemplateName.AlreadyExistsException" {
                        return Err(ComputeError::Aws(err));
                    }
                    // Created by an earlier attempt whose answer was lost (crash, time-out):
                    // adopt it by giving it a new default version with this data.
                    let id = self.template_id_by_name(&spec.name).await?.ok_or(ComputeError::Aws(err))?;
                    tracing::info!(template_id = %id, "adopting existing launch template");
                    crate::compute::materialize(
                        self,
                        Some(&TemplateRef { id, version: 0, fingerprint: String::new() }),
                        spec,
                        user_data,
                    )
                    .await
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn template_id_by_name(&self, name: &str) -> Result<Option<String>, ComputeError> {
        let out = self
            .ec2
            .describe_launch_templates()
            .filters(Filter::builder().name("launch-template-name").values(name).build())
            .send()
            .await
            .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
        Ok(out.launch_templates().first().and_then(|t| t.launch_template_id()).map(str::to_owned))
    }

    pub(crate) async fn create_template_version_impl(
        &self,
        template_id: &str,
        spec: &TemplateSpec,
        user_data: &str,
    ) -> Result<TemplateRef, ComputeError> {
        let span = tracing::info_span!("ec2.create_launch_template_version", template_id);
        async {
            let data = template_data(spec, user_data, self.root_device(spec).await?.as_deref());
            let out = self
                .ec2
                .create_launch_template_version()
                .launch_template_id(template_id)
                .version_description("pacer")
                .launch_template_data(data)
                .send()
                .await
                .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            let created =
                version_of(template_id, out.launch_template_version().and_then(|v| v.version_number()))?;
            tracing::info!(version = created.version, "launch template version created");
            // The template's own tags follow the pool's (best effort: they are labels only).
            if let Err(e) = self.retag_template(template_id, &spec.tags).await {
                tracing::warn!(error = %e, "could not update the launch template's tags");
            }
            Ok(created)
        }
        .instrument(span)
        .await
    }

    /// Sets the template's own tags to `tags`, removing keys it no longer has (not `aws:`).
    async fn retag_template(&self, template_id: &str, tags: &Tags) -> Result<(), ComputeError> {
        let out = self
            .ec2
            .describe_launch_templates()
            .launch_template_ids(template_id)
            .send()
            .await
            .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
        let stale: Vec<String> = out
            .launch_templates()
            .iter()
            .flat_map(|t| t.tags())
            .filter_map(|t| t.key())
            .filter(|k| !k.starts_with("aws:") && !tags.contains_key(*k))
            .map(str::to_owned)
            .collect();
        if !stale.is_empty() {
            let keys = stale.iter().map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build()).collect();
            self.ec2
                .delete_tags()
                .resources(template_id)
                .set_tags(Some(keys))
                .send()
                .await
                .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
        }
        self.ec2
            .create_tags()
            .resources(template_id)
            .set_tags(Some(ec2_tags(tags)))
            .send()
            .await
            .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
        Ok(())
    }

    pub(crate) async fn set_default_version_impl(
        &self,
        template_id: &str,
        version: u64,
    ) -> Result<(), ComputeError> {
        let span = tracing::info_span!("ec2.modify_launch_template", template_id, version);
        async {
            self.ec2
                .modify_launch_template()
                .launch_template_id(template_id)
                .default_version(version.to_string())
                .send()
                .await
                .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            tracing::info!("launch template default version set");
            Ok(())
        }
        .instrument(span)
        .await
    }

    pub(crate) async fn delete_template_version_impl(
        &self,
        template_id: &str,
        version: u64,
    ) -> Result<(), ComputeError> {
        let span = tracing::info_span!("ec2.delete_launch_template_versions", template_id, version);
        async {
            let out = self
                .ec2
                .delete_launch_template_versions()
                .launch_template_id(template_id)
                .versions(version.to_string())
                .send()
                .await
                .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            if let Some(failed) = out.unsuccessfully_deleted_launch_template_versions().first() {
                let (code, message) = failed
                    .response_error()
                    .map(|r| {
                        (
                            r.code().map(|c| c.as_str().to_owned()).unwrap_or_default(),
                            r.message().unwrap_or_default().to_owned(),
                        )
                    })
                    .unwrap_or_default();
                return Err(ComputeError::Aws(LaunchError::new(code, message)));
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    pub(crate) async fn delete_template_impl(&self, template_id: &str) -> Result<(), ComputeError> {
        let span = tracing::info_span!("ec2.delete_launch_template", template_id);
        async {
            self.ec2
                .delete_launch_template()
                .launch_template_id(template_id)
                .send()
                .await
                .map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            tracing::info!("launch template deleted");
            Ok(())
        }
        .instrument(span)
        .await
    }
}
