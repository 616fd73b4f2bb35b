//! How the instance area's facts fold into the live instances: an instance leaves the table
//! when it is terminated, lost or reaped; runner reports mark how far it got. A fact about an
//! instance the table does not hold is an anomaly where it matters.

use super::events::*;
use crate::state::{Folded, State};
use crate::time::Timestamp;

impl State {
    pub(crate) fn instance_registered(&mut self, e: &InstanceRegistered, at: Timestamp) -> Folded {
        let instance = self
            .instances
            .get_mut(&e.instance)
            .ok_or_else(|| format!("registration of unknown instance {}", e.instance))?;
        instance.registered_at = Some(at);
        instance.runner_id = Some(e.runner_id);
        Ok(())
    }

    /// The instance ended (terminated, lost or reaped) at `at` and leaves the live table; its
    /// cost settles on the job it is billed to.
    pub(crate) fn instance_ended(&mut self, id: &str, at: Timestamp) -> Folded {
        let instance = self.instances.remove(id).ok_or_else(|| format!("end of unknown instance {id}"))?;
        self.settle_cost(&instance, at);
        Ok(())
    }

    pub(crate) fn runner_bootstrapped(&mut self, e: &RunnerBootstrapped) -> Folded {
        let instance = self
            .instances
            .get_mut(&e.instance)
            .ok_or_else(|| format!("bootstrap of unknown instance {}", e.instance))?;
        instance.bootstrapped = true;
        Ok(())
    }

    /// The runner reported its end (completed or errored): it shuts down by itself.
    pub(crate) fn runner_done(&mut self, id: &str) -> Folded {
        if let Some(instance) = self.instances.get_mut(id) {
            instance.runner_done = true;
        }
        Ok(())
    }
}
