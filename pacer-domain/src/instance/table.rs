//! The live-instances projection: every instance Pacer launched and has not yet seen end
//! (terminated, lost or reaped), the job it is assigned to or serving, and how far its runner
//! got. Runner names tie GitHub's view back to an instance: `pacer-<instance-id>`.

use crate::config::{PoolId, ProjectId};
use crate::intern::Interner;
use crate::intern::Sym;
use crate::job::JobId;
use crate::launch::{LaunchedInstance, Market};
use crate::money::PriceQuote;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A live instance Pacer launched (removed once terminated, lost or reaped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// EC2 instance id, `i-…`.
    pub id: Box<str>,
    /// The job whose launch started it (it may end up serving another); `None` for a warm
    /// instance.
    pub launched_for: Option<JobId>,
    /// The job it is assigned to or serving, if any (one at a time; runners are ephemeral).
    pub job: Option<JobId>,
    /// The job its cost goes to when it ends: the last job it was assigned to or served,
    /// else the one it was launched for; `None` for a warm instance no job took (its whole
    /// cost is the pool's warm cost).
    pub bill_to: Option<JobId>,
    /// Whether that job actually runs on it (GitHub said so), not only waits for it.
    pub serving: bool,
    /// The project of the job it was launched for.
    pub project: ProjectId,
    /// The pool it was launched from; only jobs of this pool can take it.
    pub pool: PoolId,
    /// For repo-scoped projects, the repo its runner is registered to (interned); `None` for
    /// org scope, where any repo of the org can use it.
    pub repo: Option<Sym>,
    /// The instance type EC2 picked (e.g. `m7i.large`), interned.
    pub instance_type: Sym,
    /// The availability zone it runs in (e.g. `us-east-1a`), interned.
    pub availability_zone: Sym,
    /// Spot or on-demand, as launched.
    pub market: Market,
    /// Price per hour at launch; `None` when unpriced.
    pub price: Option<PriceQuote>,
    /// When `job.spawn_launched` was recorded; max runtime and cost count from here, cost up
    /// to the record of its end (terminated, lost or reaped).
    pub launched_at: Timestamp,
    /// Whether it exchanged the bootstrap token for a callback token (allowed once).
    pub bootstrapped: bool,
    /// When its runner registered with GitHub; `None` until then.
    pub registered_at: Option<Timestamp>,
    /// The runner id GitHub assigned at registration; `None` until then.
    pub runner_id: Option<u64>,
    /// The runner reported completion or an error (it will shut down by itself).
    pub runner_done: bool,
    /// Set when it was launched as warm capacity (`warm.launched`).
    pub warm: Option<WarmOrigin>,
}

/// How a warm instance came to be, where it rests, and when a job took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmOrigin {
    /// The pool's launch template version it was launched from.
    pub template_version: u64,
    /// Launched for the pool's stopped capacity: stopped once its runner is ready.
    pub stopped: bool,
    /// When its runner was first ready for a job (`warm.ready`, or `warm.stopped` for stopped
    /// capacity).
    pub ready_at: Option<Timestamp>,
    /// When Pacer stopped it (`warm.stopped`); `None` while it runs.
    pub stopped_at: Option<Timestamp>,
    /// When Pacer started it again for the job that took it (`warm.started`).
    pub started_at: Option<Timestamp>,
    /// When a job took it (`warm.taken`); `None` while it waits.
    pub taken_at: Option<Timestamp>,
}

impl WarmOrigin {
    /// Stopped and not started again: at rest, or taken and waiting for its start.
    pub fn at_rest(&self) -> bool {
        self.stopped_at.is_some() && self.started_at.is_none()
    }
}

impl Instance {
    /// An instance of `pool` (of `project`) EC2 just started, as `launched` says, recorded at
    /// `at`: for no job, with no runner yet.
    pub(crate) fn launched(
        launched: &LaunchedInstance,
        price: Option<PriceQuote>,
        (project, pool): (ProjectId, PoolId),
        at: Timestamp,
        strings: &mut Interner,
    ) -> Instance {
        Instance {
            id: launched.instance_id.as_str().into(),
            launched_for: None,
            job: None,
            bill_to: None,
            serving: false,
            project,
            pool,
            repo: None,
            instance_type: strings.intern(&launched.instance_type),
            availability_zone: strings.intern(&launched.availability_zone),
            market: launched.market,
            price,
            launched_at: at,
            bootstrapped: false,
            registered_at: None,
            runner_id: None,
            runner_done: false,
            warm: None,
        }
    }

    /// Whether it is warm capacity no job has taken yet (and whose runner is not done).
    pub fn is_idle_warm(&self) -> bool {
        self.warm.is_some_and(|w| w.taken_at.is_none()) && self.job.is_none() && !self.runner_done
    }

    /// Whether it is idle warm capacity of the pool's hot (`false`) or stopped (`true`) kind.
    pub fn is_idle_warm_of(&self, stopped: bool) -> bool {
        self.is_idle_warm() && self.warm.is_some_and(|w| w.stopped == stopped)
    }

    /// Whether a job took it while it was stopped, so it must be started for that job.
    pub fn needs_start(&self) -> bool {
        self.job.is_some() && !self.runner_done && self.warm.is_some_and(|w| w.at_rest())
    }

    /// When the jobs it serves start paying for it: when a job took it (warm), else its launch.
    pub fn billed_from(&self) -> Timestamp {
        self.warm.and_then(|w| w.taken_at).unwrap_or(self.launched_at)
    }

    /// The job it serves, else the one it was launched for.
    pub fn job_or_launched_for(&self) -> Option<JobId> {
        self.job.or(self.launched_for)
    }

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
    /// The live instance with this id; `None` once it ended (or if Pacer never launched it).
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
