//! The instance area: the EC2 instances Pacer launched, from `job.spawn_launched`
//! through the runner's callbacks (bootstrap, registration, completion, errors) to their end
//! (terminated, lost, reaped, or found as an orphan).
//!
//! - `events`: the area's facts (`instance.*`, `runner.*`);
//! - `decide`: the callbacks' and the reaper's rules;
//! - `evolve`: how each fact folds into the live instances;
//! - `table`: the live-instances projection and runner names.

mod decide;
mod events;
mod evolve;
mod table;

pub use decide::{LAUNCH_TIME_TOLERANCE_MS, MAX_LOG_TAIL_BYTES, Observation, log_tail_end, register_refusal};
pub(crate) use decide::{
    observe, reap, refuse_register, runner_bootstrap, runner_completed, runner_errored,
    runner_register_failed, runner_registered,
};
pub use events::*;
pub use table::{Instance, Instances, WarmOrigin, instance_of_runner, runner_name};
