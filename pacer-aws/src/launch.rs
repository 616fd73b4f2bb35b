//! Launches of `spec.count` instances (one job, or a batch of claims): `fleet` = one CreateFleet
//! `instant` with that target capacity over every instance type × subnet with the pool's
//! allocation strategy; `run_instances` = RunInstances per type in order against the first
//! subnet, each for all the instances still missing (all or none of them), until one starts them. Both launch the
//! pool's template at `$Default` and apply the attempt's market here (see `templates` for why
//! the template is market-neutral). EC2 may start fewer than asked: what started is returned
//! with the reason for the rest ([`crate::Launched`]).
//!
//! A batch (or any RunInstances launch) first looks for live instances tagged with its client
//! token: a launch repeated after a crash or a cut-off call gets the instances the first one
//! started, whatever EC2's own token memory says.

use crate::compute::Launched;
use crate::ec2::{Ec2Compute, tag_spec};
use crate::error::{fleet_failure, from_sdk};
use aws_sdk_ec2::types::{
    CreateFleetInstance, DefaultTargetCapacityType, Filter, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, InstanceInterruptionBehavior, InstanceLifecycle,
    InstanceMarketOptionsRequest, InstanceType, LaunchTemplateSpecification, MarketType,
    OnDemandOptionsRequest, ResourceType, SpotAllocationStrategy, SpotInstanceInterruptionBehavior,
    SpotInstanceType, SpotMarketOptions, TargetCapacitySpecificationRequest,
};
use pacer_domain::{
    AllocationStrategy, ErrorClass, LaunchError, LaunchSpec, LaunchedInstance, Market, SpawnMethod,
    TAG_LAUNCH,
};

/// The launch-template version every launch uses.
pub(crate) const DEFAULT_VERSION: &str = "$Default";

/// CreateFleet's on-demand and spot allocation strategies for a pool's strategy.
pub(crate) fn allocation(
    strategy: AllocationStrategy,
) -> (FleetOnDemandAllocationStrategy, SpotAllocationStrategy) {
    match strategy {
        AllocationStrategy::Cost => {
            (FleetOnDemandAllocationStrategy::LowestPrice, SpotAllocationStrategy::PriceCapacityOptimized)
        }
        AllocationStrategy::LowestPrice => {
            (FleetOnDemandAllocationStrategy::LowestPrice, SpotAllocationStrategy::LowestPrice)
        }
        AllocationStrategy::Capacity => {
            (FleetOnDemandAllocationStrategy::LowestPrice, SpotAllocationStrategy::CapacityOptimized)
        }
        AllocationStrategy::Priority => (
            FleetOnDemandAllocationStrategy::Prioritized,
            SpotAllocationStrategy::CapacityOptimizedPrioritized,
        ),
    }
}

/// The per-type idempotency token of a RunInstances launch: stable across retries of the
/// same job attempt, distinct per type (EC2 rejects one token reused with other parameters).
pub(crate) fn run_token(client_token: &str, index: usize) -> String {
    format!("{client_token}-{index}")
}

/// The CreateFleet request of a launch: `instant`, capacity `spec.count` on the attempt's market, the
/// template at `$Default` with one override per type × subnet (priority = type index for
/// the `priority` strategy), the job's tags on instance and volume.
pub(crate) fn fleet_request(
    ec2: &aws_sdk_ec2::Client,
    spec: &LaunchSpec,
) -> aws_sdk_ec2::operation::create_fleet::builders::CreateFleetFluentBuilder {
    let (on_demand, spot) = allocation(spec.allocation_strategy);
    let prioritized = spec.allocation_strategy == AllocationStrategy::Priority;
    let mut overrides = Vec::with_capacity(spec.instance_types.len() * spec.subnet_ids.len());
    for (index, instance_type) in spec.instance_types.iter().enumerate() {
        for subnet in &spec.subnet_ids {
            overrides.push(
                FleetLaunchTemplateOverridesRequest::builder()
                    .instance_type(InstanceType::from(instance_type.as_str()))
                    .subnet_id(subnet)
                    .set_priority(prioritized.then_some(index as f64))
                    .build(),
            );
        }
    }
    let config = FleetLaunchTemplateConfigRequest::builder()
        .launch_template_specification(
            FleetLaunchTemplateSpecificationRequest::builder()
                .launch_template_id(&spec.template_id)
                .version(DEFAULT_VERSION)
                .build(),
        )
        .set_overrides(Some(overrides))
        .build();
    let capacity_type = match spec.market {
        Market::Spot => DefaultTargetCapacityType::Spot,
        Market::OnDemand => DefaultTargetCapacityType::OnDemand,
    };
    let mut request = ec2
        .create_fleet()
        .r#type(FleetType::Instant)
        .client_token(&spec.client_token)
        .launch_template_configs(config)
        .target_capacity_specification(
            TargetCapacitySpecificationRequest::builder()
                .total_target_capacity(spec.count.max(1) as i32)
                .default_target_capacity_type(capacity_type)
                .build(),
        )
        .tag_specifications(tag_spec(ResourceType::Instance, &spec.tags))
        .tag_specifications(tag_spec(ResourceType::Volume, &spec.tags));
    request = match spec.market {
        Market::OnDemand => request
            .on_demand_options(OnDemandOptionsRequest::builder().allocation_strategy(on_demand).build()),
        Market::Spot => request.spot_options(
            aws_sdk_ec2::types::SpotOptionsRequest::builder()
                .allocation_strategy(spot)
                .instance_interruption_behavior(SpotInstanceInterruptionBehavior::Terminate)
                .build(),
        ),
    };
    request
}

/// Spot market options of a RunInstances launch: one-time, terminate on interruption.
pub(crate) fn spot_market_options() -> InstanceMarketOptionsRequest {
    InstanceMarketOptionsRequest::builder()
        .market_type(MarketType::Spot)
        .spot_options(
            SpotMarketOptions::builder()
                .spot_instance_type(SpotInstanceType::OneTime)
                .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                .build(),
        )
        .build()
}

fn launched_from_fleet(instance: &CreateFleetInstance, id: &str, spec: &LaunchSpec) -> LaunchedInstance {
    let overrides = instance.launch_template_and_overrides().and_then(|l| l.overrides());
    LaunchedInstance {
        instance_id: id.to_owned(),
        instance_type: instance
            .instance_type()
            .or_else(|| overrides.and_then(|o| o.instance_type()))
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        availability_zone: instance
            .availability_zone()
            .or_else(|| overrides.and_then(|o| o.availability_zone()))
            .unwrap_or_default()
            .to_owned(),
        subnet_id: instance
            .subnet_id()
            .or_else(|| overrides.and_then(|o| o.subnet_id()))
            .unwrap_or_default()
            .to_owned(),
        market: match instance.lifecycle() {
            Some(InstanceLifecycle::Spot) => Market::Spot,
            Some(InstanceLifecycle::OnDemand) => Market::OnDemand,
            _ => spec.market,
        },
    }
}

impl Ec2Compute {
    #[tracing::instrument(
        skip_all,
        fields(job_id = spec.job_id, attempt = spec.attempt, count = spec.count, market = spec.market.as_str(), method = spec.spawn_method.as_str())
    )]
    pub(crate) async fn launch_impl(&self, spec: &LaunchSpec) -> Launched {
        if spec.instance_types.is_empty() || spec.subnet_ids.is_empty() || spec.template_id.is_empty() {
            return Launched::failed(LaunchError::new(
                "InvalidParameterValue",
                "a launch needs a launch template, at least one instance type and one subnet",
            ));
        }
        let count = spec.count.max(1) as usize;
        let again = match (spec.spawn_method, count) {
            (SpawnMethod::Fleet, 1) => Ok(Vec::new()),
            _ => self.live_instances_of_launch(&spec.client_token).await,
        };
        let mut launched = match again {
            Ok(found) if !found.is_empty() => {
                tracing::info!(found = found.len(), "the launch's instances are live already");
                Launched::again(found, count)
            }
            Ok(_) => match spec.spawn_method {
                SpawnMethod::Fleet => self.launch_fleet(spec).await,
                SpawnMethod::RunInstances => self.launch_run_instances(spec).await,
            },
            Err(error) => Launched::failed(error),
        };
        for instance in &mut launched.instances {
            if instance.availability_zone.is_empty() || instance.subnet_id.is_empty() {
                self.fill_placement(instance).await;
            }
            tracing::info!(
                instance_id = %instance.instance_id,
                instance_type = %instance.instance_type,
                availability_zone = %instance.availability_zone,
                "instance launched"
            );
        }
        launched
    }

    async fn launch_fleet(&self, spec: &LaunchSpec) -> Launched {
        let out = match fleet_request(&self.ec2, spec).send().await {
            Ok(out) => out,
            Err(e) => return Launched::failed(from_sdk(&e)),
        };
        let errors: Vec<(String, String)> = out
            .errors()
            .iter()
            .map(|e| {
                (
                    e.error_code().unwrap_or("Unknown").to_owned(),
                    e.error_message().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let instances: Vec<LaunchedInstance> = out
            .instances()
            .iter()
            .flat_map(|i| i.instance_ids().iter().map(move |id| launched_from_fleet(i, id, spec)))
            .take(spec.count.max(1) as usize)
            .collect();
        let shortfall = (instances.len() < spec.count.max(1) as usize).then(|| fleet_failure(&errors));
        match &shortfall {
            Some(err) if instances.is_empty() => {
                tracing::info!(code = %err.code, class = err.class.as_str(), "fleet launched nothing")
            }
            _ if !errors.is_empty() => tracing::debug!(?errors, "fleet launched after some overrides failed"),
            _ => {}
        }
        Launched { instances, shortfall }
    }

    async fn launch_run_instances(&self, spec: &LaunchSpec) -> Launched {
        let subnet = &spec.subnet_ids[0];
        let count = spec.count.max(1) as usize;
        let mut instances: Vec<LaunchedInstance> = Vec::with_capacity(count);
        let mut capacity_errors: Vec<LaunchError> = Vec::new();
        for (index, instance_type) in spec.instance_types.iter().enumerate() {
            let missing = count - instances.len();
            let mut request = self
                .ec2
                .run_instances()
                .launch_template(
                    LaunchTemplateSpecification::builder()
                        .launch_template_id(&spec.template_id)
                        .version(DEFAULT_VERSION)
                        .build(),
                )
                .instance_type(InstanceType::from(instance_type.as_str()))
                .subnet_id(subnet)
                .min_count(missing as i32)
                .max_count(missing as i32)
                .client_token(run_token(&spec.client_token, index))
                .tag_specifications(tag_spec(ResourceType::Instance, &spec.tags))
                .tag_specifications(tag_spec(ResourceType::Volume, &spec.tags));
            if spec.market == Market::Spot {
                request = request.instance_market_options(spot_market_options());
            }
            match request.send().await {
                Ok(out) => {
                    for instance in out.instances().iter().take(missing) {
                        let status = crate::ec2::instance_status(instance, out.owner_id());
                        instances.push(LaunchedInstance {
                            instance_id: status.instance_id,
                            instance_type: if status.instance_type.is_empty() {
                                instance_type.clone()
                            } else {
                                status.instance_type
                            },
                            availability_zone: status.availability_zone,
                            subnet_id: instance.subnet_id().unwrap_or(subnet.as_str()).to_owned(),
                            market: spec.market,
                        });
                    }
                    if instances.len() >= count {
                        return Launched { instances, shortfall: None };
                    }
                    if out.instances().is_empty() {
                        capacity_errors
                            .push(LaunchError::new("EmptyResponse", "RunInstances returned no instance"));
                    }
                }
                Err(e) => {
                    let err = from_sdk(&e);
                    if err.class != ErrorClass::Capacity {
                        tracing::info!(%instance_type, code = %err.code, "run_instances failed");
                        return Launched { instances, shortfall: Some(err) };
                    }
                    tracing::info!(%instance_type, code = %err.code, "no capacity, trying the next type");
                    capacity_errors
                        .push(LaunchError { message: format!("{instance_type}: {}", err.message), ..err });
                }
            }
        }
        let code = capacity_errors.last().map(|e| e.code.clone()).unwrap_or_default();
        let message = capacity_errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Launched { instances, shortfall: Some(LaunchError::new(code, message)) }
    }

    /// The pending or running instances started by a launch (tagged with its client token),
    /// by instance id.
    async fn live_instances_of_launch(
        &self,
        client_token: &str,
    ) -> Result<Vec<LaunchedInstance>, LaunchError> {
        let out = self
            .ec2
            .describe_instances()
            .filters(Filter::builder().name(format!("tag:{TAG_LAUNCH}")).values(client_token).build())
            .filters(
                Filter::builder().name("instance-state-name").values("pending").values("running").build(),
            )
            .send()
            .await
            .map_err(|e| from_sdk(&e))?;
        let mut found: Vec<LaunchedInstance> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| {
                let status = crate::ec2::instance_status(i, None);
                LaunchedInstance {
                    instance_id: status.instance_id,
                    instance_type: status.instance_type,
                    availability_zone: status.availability_zone,
                    subnet_id: i.subnet_id().unwrap_or_default().to_owned(),
                    market: status.market,
                }
            })
            .collect();
        found.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(found)
    }

    /// Fills a missing AZ or subnet from DescribeInstances. Best effort: the instance exists,
    /// so a failure here must never turn the launch into an error.
    async fn fill_placement(&self, launched: &mut LaunchedInstance) {
        match self.ec2.describe_instances().instance_ids(&launched.instance_id).send().await {
            Ok(out) => {
                if let Some(i) = out.reservations().iter().flat_map(|r| r.instances()).next() {
                    if launched.availability_zone.is_empty()
                        && let Some(az) = i.placement().and_then(|p| p.availability_zone())
                    {
                        launched.availability_zone = az.to_owned();
                    }
                    if launched.subnet_id.is_empty() {
                        launched.subnet_id = i.subnet_id().unwrap_or_default().to_owned();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %from_sdk(&e), "could not read the new instance's placement"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_lowest_price_on_demand_and_price_capacity_optimized_spot() {
        assert_eq!(
            allocation(AllocationStrategy::Cost),
            (FleetOnDemandAllocationStrategy::LowestPrice, SpotAllocationStrategy::PriceCapacityOptimized)
        );
    }

    #[test]
    fn lowest_price_is_lowest_price_for_both_markets() {
        assert_eq!(
            allocation(AllocationStrategy::LowestPrice),
            (FleetOnDemandAllocationStrategy::LowestPrice, SpotAllocationStrategy::LowestPrice)
        );
    }

    #[test]
    fn capacity_is_lowest_price_on_demand_and_capacity_optimized_spot() {
        assert_eq!(
            allocation(AllocationStrategy::Capacity),
            (FleetOnDemandAllocationStrategy::LowestPrice, SpotAllocationStrategy::CapacityOptimized)
        );
    }

    #[test]
    fn priority_is_prioritized_and_capacity_optimized_prioritized() {
        assert_eq!(
            allocation(AllocationStrategy::Priority),
            (
                FleetOnDemandAllocationStrategy::Prioritized,
                SpotAllocationStrategy::CapacityOptimizedPrioritized
            )
        );
    }

    #[test]
    fn run_tokens_are_stable_per_type_and_short() {
        let token = pacer_domain::client_token(u64::MAX, u32::MAX, pacer_domain::MAX_LAUNCH_ATTEMPTS);
        assert_eq!(run_token(&token, 3), run_token(&token, 3));
        assert_ne!(run_token(&token, 0), run_token(&token, 1));
        assert!(run_token(&token, 19).len() <= 64);
    }
}
