//! The live-instances projection: every instance Pacer launched and has not yet seen end
//! (terminated, lost or reaped), the job it is assigned to or serving, and how far its runner
//! got. Runner names tie GitHub's view back to an instance: `pacer-<instance-id>`.

use crate::config::{PoolId, ProjectId};
use crate::intern::Sym;
use crate::job::JobId;
use crate::launch::Market;
use crate::money::PriceQuote;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A live instance Pacer launched (removed once terminated, lost or reaped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-…`.
    pub id: Box<str>,
    /// The job it was launched for.
    pub launched_for: JobId,
    /// The job it is assigned to or serving, if any (one at a time; runners are ephemeral).
    pub job: Option<JobId>,
    /// Whether that job actually runs on it (GitHub said so), not only waits for it.
    pub serving: bool,
    /// Its project.
    pub project: ProjectId,
    /// Its pool.
    pub pool: PoolId,
    /// For repo-scoped projects, the repo its runner is registered to.
    pub repo: Option<Sym>,
    /// Instance type.
    pub instance_type: Sym,
    /// Availability zone.
    pub availability_zone: Sym,
    /// Market.
    pub market: Market,
    /// Price quote at launch.
    pub price: Option<PriceQuote>,
    /// Launched.
    pub launched_at: Timestamp,
    /// Exchanged the bootstrap token.
    pub bootstrapped: bool,
    /// Registered with GitHub.
    pub registered_at: Option<Timestamp>,
    /// GitHub runner id.
    pub runner_id: Option<u64>,
    /// The runner reported completion or an error (it will shut down by itself).
    pub runner_done: bool,
}

impl Instance {
    /// The GitHub runner name of this instance.
    pub fn runner_name(&self) -> String {
        runner_name(&self.id)
    }
}

/// The GitHub runner name of an instance: `pacer-<instance-id>`.
pub fn runner_name(instance_id: &str) -> String {
    format!("pacer-{instance_id}")
}

/// The instance id in a Pacer runner name.
pub fn instance_of_runner(runner_name: &str) -> Option<&str> {
    runner_name.strip_prefix("pacer-").filter(|id| id.starts_with("i-"))
}

/// The live instances, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instances {
    live: BTreeMap<Box<str>, Instance>,
}

impl Instances {
    /// A live instance.
    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.live.get(id)
    }

    /// Every live instance, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Instance> {
        self.live.values()
    }

    /// Number of live instances.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.live.get_mut(id)
    }

    pub(crate) fn insert(&mut self, instance: Instance) {
        self.live.insert(instance.id.clone(), instance);
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Instance> {
        self.live.remove(id)
    }

    /// Frees an instance from `job`, if it is assigned to it.
    pub(crate) fn release(&mut self, id: &str, job: JobId) {
        if let Some(instance) = self.live.get_mut(id)
            && instance.job == Some(job)
        {
            instance.job = None;
            instance.serving = false;
        }
    }
}
