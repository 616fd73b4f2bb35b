//! The job area: a `workflow_job` from the webhook that queues it to its one
//! terminal status.
//!
//! - `events`: the area's facts (`webhook.*`, `job.*`) and the job id;
//! - `webhook`: the intake rules, over typed actions and conclusions;
//! - `dispatch`: claims, launch outcomes and retries;
//! - `evolve`: how each fact moves a job (and the instance it takes);
//! - `table`: the jobs projection with its indexes and paging.
//!
//! Which queued job may be claimed, and why a job waits, is the scheduling policy in
//! `crate::schedule`.

mod dispatch;
mod events;
mod evolve;
mod table;
mod webhook;

pub use dispatch::{LaunchOutcome, SPOT_COOLDOWN_MS};
pub(crate) use dispatch::{claim, expire_claims, job_end, record_launch};
pub use events::*;
pub use evolve::MAX_JOB_ID_JUMP;
pub use table::{ActiveCounts, Job, JobFilter, JobPage, JobStatus, Jobs, JobsLoader};
pub(crate) use webhook::webhook;
pub use webhook::{Conclusion, WebhookPayload, WorkflowAction, WorkflowJobHook};
