//! How the warm area's facts fold: a pool's warm settings; a warm instance joins the live
//! instances with no job, bootstraps on its own, and becomes an ordinary job's instance once
//! taken (its idle time filed as the pool's warm cost).

use super::events::*;
use crate::instance::{Instance, WarmOrigin};
use crate::job::JobStatus;
use crate::state::{Folded, State};
use crate::time::Timestamp;

impl State {
    pub(crate) fn pool_warm_set(&mut self, e: &PoolWarmSet) -> Folded {
        let pool = self
            .config
            .pools
            .get_mut(&e.pool)
            .ok_or_else(|| format!("warm settings of unknown {}", e.pool))?;
        pool.warm = e.warm.clone();
        Ok(())
    }

    pub(crate) fn warm_launched(&mut self, e: &WarmLaunched, at: Timestamp) -> Folded {
        let id = e.instance.instance_id.as_str();
        if self.instances.get(id).is_some() {
            return Err(format!("{id} is recorded already"));
        }
        let project = self
            .config
            .pool(e.pool)
            .map(|p| p.project)
            .ok_or_else(|| format!("warm launch for unknown {}", e.pool))?;
        let origin = WarmOrigin {
            template_version: e.template_version,
            stopped: e.stopped,
            ready_at: None,
            stopped_at: None,
            started_at: None,
            taken_at: None,
        };
        let instance = Instance {
            warm: Some(origin),
            ..Instance::launched(&e.instance, e.price, (project, e.pool), at, &mut self.strings)
        };
        self.instances.insert(instance);
        Ok(())
    }

    pub(crate) fn warm_bootstrapped(&mut self, e: &WarmBootstrapped) -> Folded {
        let instance = self
            .instances
            .get_mut(&e.instance)
            .ok_or_else(|| format!("bootstrap of unknown warm instance {}", e.instance))?;
        instance.bootstrapped = true;
        Ok(())
    }

    /// The job starts waiting for the warm instance's runner, billed for it from now.
    pub(crate) fn warm_taken(&mut self, e: &WarmTaken, at: Timestamp) -> Folded {
        let instance = self
            .instances
            .get(&e.instance)
            .filter(|i| i.is_idle_warm())
            .cloned()
            .ok_or_else(|| format!("{} is no idle warm instance", e.instance))?;
        let job = self
            .jobs
            .get(e.job)
            .filter(|j| j.status == JobStatus::Queued)
            .ok_or_else(|| format!("{} cannot take a warm instance", e.job))?;
        let repo = self.audience_repo(job.project, job.repo);
        self.jobs.update(e.job, |job| {
            job.status = JobStatus::Starting;
            job.instance = Some(instance.id.clone());
            job.launched_at = Some(at);
            job.price = instance.price;
            job.market = instance.market;
            job.next_retry_at = None;
        });
        if let Some(live) = self.instances.get_mut(&e.instance) {
            live.job = Some(e.job);
            live.bill_to = Some(e.job);
            live.repo = repo;
            live.warm = live.warm.map(|w| WarmOrigin { taken_at: Some(at), ..w });
        }
        if let Some(cost) = e.warm_cost {
            self.rollups.add_warm(at, instance.project, instance.pool, cost);
        }
        Ok(())
    }

    pub(crate) fn warm_stopped(&mut self, e: &WarmStopped, at: Timestamp) -> Folded {
        let warm = self.warm_of(&e.instance)?;
        warm.stopped_at = Some(at);
        warm.ready_at.get_or_insert(at);
        Ok(())
    }

    pub(crate) fn warm_ready(&mut self, e: &WarmReady, at: Timestamp) -> Folded {
        self.warm_of(&e.instance)?.ready_at.get_or_insert(at);
        Ok(())
    }

    pub(crate) fn warm_started(&mut self, e: &WarmStarted, at: Timestamp) -> Folded {
        let warm = self.warm_of(&e.instance)?;
        warm.started_at = Some(at);
        Ok(())
    }

    /// The job goes back to the queue; the instance is done (torn down).
    pub(crate) fn warm_start_failed(&mut self, e: &WarmStartFailed) -> Folded {
        let instance = self
            .instances
            .get_mut(&e.instance)
            .ok_or_else(|| format!("start of unknown instance {}", e.instance))?;
        instance.runner_done = true;
        instance.job = None;
        self.jobs.update(e.job, |job| {
            if job.status == JobStatus::Starting && job.instance.as_deref() == Some(e.instance.as_str()) {
                job.status = JobStatus::Queued;
                job.generation += 1;
                job.instance = None;
                job.launched_at = None;
                job.price = None;
            }
        });
        Ok(())
    }

    fn warm_of(&mut self, id: &str) -> Result<&mut WarmOrigin, String> {
        self.instances
            .get_mut(id)
            .and_then(|i| i.warm.as_mut())
            .ok_or_else(|| format!("{id} is no warm instance"))
    }

    pub(crate) fn warm_errored(&mut self, e: &WarmErrored) -> Folded {
        let instance = self
            .instances
            .get_mut(&e.instance)
            .ok_or_else(|| format!("error of unknown warm instance {}", e.instance))?;
        instance.runner_done = true;
        Ok(())
    }
}
