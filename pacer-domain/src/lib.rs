//! Pacer's pure core: the event catalogue, commands and `decide`, the fold (`State::evolve`)
//! and every projection the API and console read (config, jobs, instances, stats roll-ups,
//! health), webhook routing, the scheduling policy and cost.
//!
//! Everything here is deterministic data in, data out: no I/O, no async, no clock (time comes
//! inside commands and records), no randomness (ids come from the state), no tracing, no
//! `unsafe`. It builds for `wasm32-unknown-unknown` so the console can share validators and
//! formatting. The log is the source of truth; a `State` is only ever changed by folding
//! records, and folding the same records always yields the same state.

mod backup;
mod config;
mod decide;
mod event;
mod intern;
mod jobs;
mod labels;
mod launch;
mod money;
mod rejection;
mod routing;
mod schedule;
mod sorted;
mod state;
mod stats;
mod time;

/// The hash map of the projections: a fast, fixed-seed hasher (keys are our own ids and
/// interned names, never attacker-chosen in bulk), so folds are deterministic too.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

pub use backup::{
    BACKUP_VERSION, Backup, BackupPool, BackupProject, BackupRepo, ImportAction, ImportItem, ImportPlan,
    plan_import,
};
pub use config::{
    AllocationStrategy, Config, DEFAULT_MAX_RUNTIME_MINUTES, DEFAULT_POOL_CAP, DEFAULT_PRIORITY, MAX_CAP,
    MAX_RUNTIME_MINUTES, Pool, PoolId, PoolSpec, Project, ProjectId, ProjectSpec, RepoBinding, RepoSpec,
    Scope, SpawnMethod, Tags, TemplateRef, cascade_tags, has_reserved_prefix, parse_full_name,
};
pub use decide::{
    AuthRecord, Command, LaunchOutcome, MAX_LOG_TAIL_BYTES, Observation, WebhookPayload, WorkflowJobHook,
    decide,
};
pub use event::*;
pub use intern::{Interner, Sym};
pub use jobs::{
    ActiveCounts, Instance, Instances, Job, JobFilter, JobPage, JobStatus, Jobs, JobsLoader,
    instance_of_runner, runner_name,
};
pub use labels::{SELF_HOSTED, runner_labels, runs_on_line, sanitize};
pub use launch::{
    ErrorClass, LaunchError, LaunchOf, LaunchSpec, LaunchedInstance, MANAGED_BY_VALUE, MAX_LAUNCH_ATTEMPTS,
    Market, RetryPolicy, TAG_JOB_ID, TAG_LAUNCH, TAG_MANAGED_BY, TAG_POOL, TAG_PROJECT, TAG_REPO,
    TemplateSpec, client_token,
};
pub use money::{Micros, PriceQuote, PriceSource};
pub use rejection::{FieldError, Rejection, RejectionCode};
pub use routing::{Route, route};
pub use schedule::{
    CLAIM_TIMEOUT_MS, WaitReason, explain, next_retry, overdue_instances, plan_claims, stale_claims,
    surplus_instances,
};
pub use state::{
    Anomaly, DEFAULT_RETENTION_DAYS, Health, MAX_JOB_ID_JUMP, MAX_RETENTION_DAYS, Settings, State, User,
};
pub use stats::{Counters, GroupBy, GroupKey, Rollups, Window};
pub use time::{DAY_MS, Date, HOUR_MS, MINUTE_MS, SECOND_MS, Timestamp, days_in_month};
