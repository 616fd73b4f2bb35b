//! Cost is the instance's: an instance costs its price per hour × (terminated − launched),
//! both as Pacer recorded them (`job.spawn_launched`, and `instance.terminated`, `.lost` or
//! `.reaped`). That cost goes to one job, [`Instance::bill_to`]: the last job the instance was
//! assigned to or served, else the job it was launched for. So the jobs' costs add up to what
//! the instances cost, each instance counted once.
//!
//! A warm instance (launched before any job wanted it) is billed to the job that takes it
//! only from that moment; its idle time before is the pool's warm cost, filed in the stats
//! when a job takes it or, if none does, when it ends ([`crate::Counters::warm_cost`]).
//!
//! When the instance ends, its cost settles: on the job ([`Job::cost`]) and, when the job has
//! ended already, into the stats bucket of the job's end ([`crate::Rollups::settle`]). Until
//! then the cost is a running estimate to a `now` the caller passes in: [`State::job_cost`]
//! for one job, [`State::pending_costs`] for the ended jobs the stats add it to. An instance
//! whose end is never recorded is estimated for as long as it stays in the live table.

use crate::instance::Instance;
use crate::job::{Job, JobId};
use crate::money::Micros;
use crate::state::State;
use crate::stats::Filed;
use crate::time::Timestamp;

/// A job's cost at some `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobCost {
    /// The settled cost of its ended instances plus, for those still up, price × (now −
    /// launched).
    pub amount: Micros,
    /// Whether an instance billed to it is still up, so `amount` still grows.
    pub estimated: bool,
}

impl Instance {
    /// What it costs its jobs when running from [`Instance::billed_from`] (its launch, or for
    /// a warm instance when a job took it) to `until`; `None` without a price quote, or for a
    /// warm instance no job took.
    pub fn cost_until(&self, until: Timestamp) -> Option<Micros> {
        let quote = self.price?;
        self.bill_to?;
        Some(Micros::for_duration(quote.per_hour, until.millis_since(self.billed_from())))
    }

    /// What it cost as warm capacity from its launch to `until`, to when it was stopped or to
    /// when a job took it, whichever came first (a stopped instance costs no compute); `None`
    /// for an instance launched for a job, or unpriced.
    pub fn warm_cost_until(&self, until: Timestamp) -> Option<Micros> {
        let (quote, warm) = (self.price?, self.warm?);
        let end = [warm.stopped_at, warm.taken_at].into_iter().flatten().fold(until, Timestamp::min);
        Some(Micros::for_duration(quote.per_hour, end.millis_since(self.launched_at)))
    }
}

impl State {
    /// The cost of `job` at `now`: settled, plus a running estimate for each priced instance
    /// billed to it that is still up. `None` when it is without cost (no priced instance, and
    /// nothing settled); zero for a priced job whose instance went to another job.
    pub fn job_cost(&self, job: &Job, now: Timestamp) -> Option<JobCost> {
        let mut estimated = false;
        let mut amount = job.cost;
        for estimate in self.live_billed_to(job.id).filter_map(|i| i.cost_until(now)) {
            estimated = true;
            amount = Some(amount.unwrap_or_default() + estimate);
        }
        let amount = amount.or(job.price.map(|_| Micros::ZERO))?;
        Some(JobCost { amount, estimated })
    }

    /// Ended jobs whose billed instance is still up, each with that instance's running
    /// estimate to `now` (a job with two such instances comes twice).
    pub fn pending_costs(&self, now: Timestamp) -> impl Iterator<Item = (&Job, Micros)> {
        self.instances.iter().filter_map(move |instance| {
            let job = self.jobs.get(instance.bill_to?).filter(|j| j.status.is_terminal())?;
            Some((job, instance.cost_until(now)?))
        })
    }

    /// Live warm instances no job has taken yet, each with its warm cost so far.
    pub fn pending_warm_costs(&self, now: Timestamp) -> impl Iterator<Item = (&Instance, Micros)> {
        self.instances
            .iter()
            .filter(|i| i.warm.is_some_and(|w| w.taken_at.is_none()))
            .filter_map(move |i| Some((i, i.warm_cost_until(now)?)))
    }

    fn live_billed_to(&self, job: JobId) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.bill_to == Some(job))
    }

    /// `instance` ended at `at`: its cost settles on the job it is billed to, and in the stats
    /// when that job has ended already (a job still running counts it when it ends). An
    /// instance without a price quote, or billed to a job no longer retained, settles nothing.
    pub(crate) fn settle_cost(&mut self, instance: &Instance, at: Timestamp) {
        // A warm instance no job took costs the pool; one taken settled its warm part then.
        if instance.warm.is_some_and(|w| w.taken_at.is_none())
            && let Some(cost) = instance.warm_cost_until(at)
        {
            self.rollups.add_warm(at, instance.project, instance.pool, cost);
        }
        let (Some(cost), Some(job)) = (instance.cost_until(at), instance.bill_to) else { return };
        let mut settled = None;
        self.jobs.update(job, |job| {
            let priced = job.without_cost();
            job.cost = Some(job.cost.unwrap_or_default() + cost);
            settled = job.finished_at.map(|end| (Filed::job(job, end), priced));
        });
        if let Some((filed, priced)) = settled {
            self.rollups.settle(&filed, cost, priced);
        }
    }
}
