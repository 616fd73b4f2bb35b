//! Instance calls for the reaper, the orphan sweep and stopped warm pools: batched
//! DescribeInstances that survives ids EC2 no longer knows, the list of every Pacer-managed
//! instance, TerminateInstances, StopInstances and StartInstances guarded by the
//! `gha:managed-by=pacer` tag, and the DryRun preflight.

use crate::compute::{InstanceState, InstanceStatus, PermissionCheck, Verdict};
use crate::ec2::{Ec2Compute, instance_status};
use crate::error::{ComputeError, from_sdk};
use crate::policy;
use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, Filter, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateSpecificationRequest, FleetType, InstanceType, ResourceType, Tag, TagSpecification,
    TargetCapacitySpecificationRequest,
};
use pacer_domain::{LaunchError, MANAGED_BY_VALUE, TAG_MANAGED_BY};
use std::collections::{BTreeSet, HashMap};

/// Most ids in one DescribeInstances, TerminateInstances, StopInstances or StartInstances call.
pub(crate) const BATCH: usize = 1000;

/// Instance ids named in an `InvalidInstanceID.NotFound` message, e.g.
/// `The instance IDs 'i-1, i-2' do not exist`.
pub(crate) fn ids_in_message(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = message.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary && bytes[i] == b'i' && bytes[i + 1] == b'-' {
            let start = i;
            let mut end = i + 2;
            while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
                end += 1;
            }
            if end > start + 2 {
                out.push(message[start..end].to_owned());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// What a guarded instance call asks of EC2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// TerminateInstances.
    Terminate,
    /// StopInstances.
    Stop,
    /// StartInstances.
    Start,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Terminate => "terminate",
            Change::Stop => "stop",
            Change::Start => "start",
        }
    }
}

fn is_not_found(err: &LaunchError) -> bool {
    err.code == "InvalidInstanceID.NotFound"
}

impl Ec2Compute {
    #[tracing::instrument(skip_all, fields(count = instance_ids.len()))]
    pub(crate) async fn describe_impl(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<InstanceStatus>, ComputeError> {
        let unique: Vec<String> = instance_ids.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
        let mut found: HashMap<String, InstanceStatus> = HashMap::new();
        for chunk in unique.chunks(BATCH) {
            self.describe_chunk(chunk.to_vec(), &mut found).await?;
        }
        Ok(instance_ids
            .iter()
            .map(|id| found.get(id).cloned().unwrap_or_else(|| InstanceStatus::gone(id.clone())))
            .collect())
    }

    /// Describes up to [`BATCH`] ids; ids named by `InvalidInstanceID.NotFound` are dropped
    /// (reported gone by the caller) and the rest re-described.
    async fn describe_chunk(
        &self,
        mut ids: Vec<String>,
        found: &mut HashMap<String, InstanceStatus>,
    ) -> Result<(), ComputeError> {
        while !ids.is_empty() {
            match self.describe_pages(&ids).await {
                Ok(statuses) => {
                    found.extend(statuses.into_iter().map(|s| (s.instance_id.clone(), s)));
                    return Ok(());
                }
                Err(err) if is_not_found(&err) => {
                    let missing = ids_in_message(&err.message);
                    let before = ids.len();
                    ids.retain(|id| !missing.contains(id));
                    tracing::debug!(missing = missing.len(), "instances gone");
                    if ids.len() == before {
                        // The message named none of ours: fall back to one id per call.
                        for id in std::mem::take(&mut ids) {
                            match self.describe_pages(std::slice::from_ref(&id)).await {
                                Ok(statuses) => {
                                    found.extend(statuses.into_iter().map(|s| (s.instance_id.clone(), s)))
                                }
                                Err(err) if is_not_found(&err) => {}
                                Err(err) => return Err(ComputeError::Aws(err)),
                            }
                        }
                    }
                }
                Err(err) => return Err(ComputeError::Aws(err)),
            }
        }
        Ok(())
    }

    async fn describe_pages(&self, ids: &[String]) -> Result<Vec<InstanceStatus>, LaunchError> {
        let mut pages =
            self.ec2.describe_instances().set_instance_ids(Some(ids.to_vec())).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(&e))?;
            out.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances().iter().map(|i| instance_status(i, r.owner_id()))),
            );
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn list_managed_impl(&self) -> Result<Vec<InstanceStatus>, ComputeError> {
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(Filter::builder().name(format!("tag:{TAG_MANAGED_BY}")).values(MANAGED_BY_VALUE).build())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(
                        ["pending", "running", "shutting-down", "stopping", "stopped"]
                            .map(String::from)
                            .to_vec(),
                    ))
                    .build(),
            )
            .max_results(1000)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ComputeError::Aws(from_sdk(&e)))?;
            out.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances().iter().map(|i| instance_status(i, r.owner_id()))),
            );
        }
        tracing::debug!(count = out.len(), "managed instances listed");
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(count = instance_ids.len()))]
    pub(crate) async fn terminate_impl(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.change(Change::Terminate, instance_ids).await
    }

    #[tracing::instrument(skip_all, fields(count = instance_ids.len()))]
    pub(crate) async fn stop_impl(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.change(Change::Stop, instance_ids).await
    }

    #[tracing::instrument(skip_all, fields(count = instance_ids.len()))]
    pub(crate) async fn start_impl(&self, instance_ids: &[String]) -> Result<(), ComputeError> {
        self.change(Change::Start, instance_ids).await
    }

    /// Describes the instances, refuses them all when any is not Pacer's, then sends `change`
    /// for the ones EC2 still knows, [`BATCH`] ids a call; ids that vanish meanwhile are
    /// dropped from the call and it is sent again. Terminating skips terminated instances; the
    /// other changes leave EC2 to answer for each state.
    async fn change(&self, change: Change, instance_ids: &[String]) -> Result<(), ComputeError> {
        let statuses = self.describe_impl(instance_ids).await?;
        let unmanaged: Vec<String> = statuses
            .iter()
            .filter(|s| s.state != InstanceState::Gone && !s.is_managed())
            .map(|s| s.instance_id.clone())
            .collect();
        if !unmanaged.is_empty() {
            tracing::warn!(
                ?unmanaged,
                change = change.verb(),
                "refusing to change instances not managed by pacer"
            );
            return Err(ComputeError::NotManaged(unmanaged));
        }
        let done = |state: InstanceState| {
            state == InstanceState::Gone
                || (change == Change::Terminate && state == InstanceState::Terminated)
        };
        let targets: Vec<String> =
            statuses.into_iter().filter(|s| !done(s.state)).map(|s| s.instance_id).collect();
        for chunk in targets.chunks(BATCH) {
            let mut ids = chunk.to_vec();
            while !ids.is_empty() {
                let Err(err) = self.send(change, ids.clone()).await else { break };
                if !is_not_found(&err) {
                    return Err(ComputeError::Aws(err));
                }
                // Vanished between describe and the call: nothing left to do for those.
                let missing = ids_in_message(&err.message);
                let before = ids.len();
                ids.retain(|id| !missing.contains(id));
                if ids.len() == before {
                    return Err(ComputeError::Aws(err));
                }
            }
        }
        match change {
            Change::Terminate => tracing::info!(instance_ids = ?targets, "instances terminated"),
            Change::Stop => tracing::info!(instance_ids = ?targets, "instances stopped"),
            Change::Start => tracing::info!(instance_ids = ?targets, "instances started"),
        }
        Ok(())
    }

    /// One TerminateInstances, StopInstances or StartInstances call.
    async fn send(&self, change: Change, ids: Vec<String>) -> Result<(), LaunchError> {
        let ids = Some(ids);
        match change {
            Change::Terminate => self
                .ec2
                .terminate_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk(&e)),
            Change::Stop => self
                .ec2
                .stop_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk(&e)),
            Change::Start => self
                .ec2
                .start_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk(&e)),
        }
    }

    #[tracing::instrument(skip_all)]
    pub(crate) async fn preflight_impl(&self) -> Vec<PermissionCheck> {
        // Placeholder ids: DryRun answers about permission before it looks at the resources.
        const AMI: &str = "ami-00000000000000000";
        const INSTANCE: &str = "i-00000000000000000";
        const TEMPLATE: &str = "lt-00000000000000000";
        let ec2 = &self.ec2;
        // Creations carry Pacer's tag as the real ones do: the IAM policy requires it.
        let managed = || Tag::builder().key(TAG_MANAGED_BY).value(MANAGED_BY_VALUE).build();
        let tagged = |resource: ResourceType| {
            TagSpecification::builder().resource_type(resource).tags(managed()).build()
        };
        let mut checks = Vec::new();
        macro_rules! check {
            ($action:expr, $call:expr) => {
                checks.push(verdict(
                    $action,
                    $call.dry_run(true).send().await.map(|_| ()).map_err(|e| from_sdk(&e)),
                ));
            };
        }
        check!(policy::DESCRIBE_INSTANCES, ec2.describe_instances());
        check!(policy::DESCRIBE_IMAGES, ec2.describe_images().image_ids(AMI));
        check!(policy::DESCRIBE_SUBNETS, ec2.describe_subnets());
        check!(
            policy::DESCRIBE_INSTANCE_TYPES,
            ec2.describe_instance_types().instance_types(InstanceType::from("m5.large"))
        );
        check!(
            policy::DESCRIBE_INSTANCE_TYPE_OFFERINGS,
            ec2.describe_instance_type_offerings()
                .location_type(aws_sdk_ec2::types::LocationType::AvailabilityZone)
        );
        check!(policy::DESCRIBE_SECURITY_GROUPS, ec2.describe_security_groups());
        check!(policy::DESCRIBE_LAUNCH_TEMPLATES, ec2.describe_launch_templates());
        check!(
            policy::DESCRIBE_SPOT_PRICE_HISTORY,
            ec2.describe_spot_price_history().instance_types(InstanceType::from("m5.large")).max_results(1)
        );
        check!(
            policy::CREATE_LAUNCH_TEMPLATE,
            ec2.create_launch_template()
                .launch_template_name("pacer-preflight")
                .launch_template_data(
                    aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(AMI).build()
                )
                .tag_specifications(tagged(ResourceType::LaunchTemplate))
        );
        check!(
            policy::CREATE_LAUNCH_TEMPLATE_VERSION,
            ec2.create_launch_template_version().launch_template_id(TEMPLATE).launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(AMI).build()
            )
        );
        check!(
            policy::MODIFY_LAUNCH_TEMPLATE,
            ec2.modify_launch_template().launch_template_id(TEMPLATE).default_version("1")
        );
        check!(policy::DELETE_LAUNCH_TEMPLATE, ec2.delete_launch_template().launch_template_id(TEMPLATE));
        check!(
            policy::RUN_INSTANCES,
            ec2.run_instances()
                .image_id(AMI)
                .instance_type(InstanceType::from("m5.large"))
                .min_count(1)
                .max_count(1)
                .tag_specifications(tagged(ResourceType::Instance))
                .tag_specifications(tagged(ResourceType::Volume))
        );
        check!(
            policy::CREATE_FLEET,
            ec2.create_fleet()
                .r#type(FleetType::Instant)
                .launch_template_configs(
                    FleetLaunchTemplateConfigRequest::builder()
                        .launch_template_specification(
                            FleetLaunchTemplateSpecificationRequest::builder()
                                .launch_template_id(TEMPLATE)
                                .version("$Default")
                                .build(),
                        )
                        .build(),
                )
                .target_capacity_specification(
                    TargetCapacitySpecificationRequest::builder()
                        .total_target_capacity(1)
                        .default_target_capacity_type(DefaultTargetCapacityType::OnDemand)
                        .build(),
                )
                .tag_specifications(tagged(ResourceType::Instance))
                .tag_specifications(tagged(ResourceType::Volume))
        );
        check!(policy::CREATE_TAGS, ec2.create_tags().resources(TEMPLATE).tags(managed()));
        check!(policy::TERMINATE_INSTANCES, ec2.terminate_instances().instance_ids(INSTANCE));
        check!(policy::STOP_INSTANCES, ec2.stop_instances().instance_ids(INSTANCE));
        check!(policy::START_INSTANCES, ec2.start_instances().instance_ids(INSTANCE));
        checks
    }
}

/// The preflight's verdict on one DryRun answer. A refusal of an action the IAM policy grants
/// only on Pacer-tagged resources says nothing about a placeholder id (it has no tags), so it
/// is [`Verdict::Unknown`] there.
fn verdict(action: &str, result: Result<(), LaunchError>) -> PermissionCheck {
    let (verdict, message) = match result {
        Ok(()) => (Verdict::Unknown, "the call succeeded although it was a dry run".to_owned()),
        Err(e) if e.code == "DryRunOperation" => (Verdict::Allowed, e.to_string()),
        Err(e) if e.code == "UnauthorizedOperation" || e.code.starts_with("AccessDenied") => {
            if policy::GRANTED_ON_PACER_RESOURCES.contains(&action) {
                let why = format!(
                    "{e} (granted only on resources tagged {TAG_MANAGED_BY}={MANAGED_BY_VALUE}, which a placeholder id is not)"
                );
                (Verdict::Unknown, why)
            } else {
                (Verdict::Denied, e.to_string())
            }
        }
        Err(e) => (Verdict::Unknown, e.to_string()),
    };
    PermissionCheck { action: action.to_owned(), verdict, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ids_are_read_from_the_message() {
        assert_eq!(ids_in_message("The instance ID 'i-0abc123' does not exist"), ["i-0abc123"]);
        assert_eq!(ids_in_message("The instance IDs 'i-1a, i-2b' do not exist"), ["i-1a", "i-2b"]);
        assert!(ids_in_message("Invalid id: \"foo\" (expecting \"i-...\")").is_empty());
        assert!(ids_in_message("multi-instance").is_empty());
    }

    #[test]
    fn dry_run_answers_map_to_verdicts() {
        let allowed = verdict(
            "ec2:RunInstances",
            Err(LaunchError::new("DryRunOperation", "Request would have succeeded")),
        );
        assert_eq!(allowed.verdict, Verdict::Allowed);
        let denied = verdict(
            "ec2:RunInstances",
            Err(LaunchError::new("UnauthorizedOperation", "You are not authorized")),
        );
        assert_eq!(denied.verdict, Verdict::Denied);
        assert!(denied.message.contains("UnauthorizedOperation"));
        let other = verdict("ec2:RunInstances", Err(LaunchError::new("InvalidAMIID.NotFound", "nope")));
        assert_eq!(other.verdict, Verdict::Unknown);
        for action in ["ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances"] {
            let placeholder =
                verdict(action, Err(LaunchError::new("UnauthorizedOperation", "You are not authorized")));
            assert_eq!(
                placeholder.verdict,
                Verdict::Unknown,
                "{action}: tag-scoped grants cannot show on a placeholder"
            );
            assert!(placeholder.message.contains("gha:managed-by=pacer"));
        }
    }
}
