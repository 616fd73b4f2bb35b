//! The warm area: capacity a pool holds before any job asks for it, so a job starts on an
//! instance that already booted instead of waiting for one.
//!
//! - `sizing`: how many warm instances a pool should hold at an instant, and why (fixed,
//!   schedule, forecast from the pool's own arrivals);
//! - `events`: the area's facts (`pool.warm_set`, `warm.*`);
//! - `decide`: the settings' rules, the warm launches and recycling a pool needs, and which
//!   idle instance a job takes;
//! - `evolve`: how each fact folds.

mod decide;
mod events;
mod evolve;
mod sizing;

pub use decide::{
    MAX_WARM_WINDOWS, WARM_SCALE_DOWN_DELAY_MS, WarmLaunch, WarmStatus, validate_warm, warm_launches,
    warm_recycling, warm_status, warm_zone_error,
};
pub(crate) use decide::{
    idle_warm, record_warm_launch, record_warm_ready, record_warm_start, record_warm_stop, set_pool_warm,
    take, warm_instance_for,
};
pub use events::*;
pub use sizing::*;
