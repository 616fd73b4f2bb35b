//! Pacer's pure core: the event catalogue, commands and `decide`, the fold (`State::evolve`)
//! and every projection the API and console read (config, jobs, instances, stats roll-ups,
//! health), webhook routing, the scheduling policy and cost (`cost`: an instance's price ×
//! its lifetime, billed to one job, settled when the instance ends).
//!
//! Each area owns its facts, the rules that decide them and how they fold: `config`
//! (projects, pools, repos, backups), `job` (webhook intake to terminal status), `instance`
//! (launched instances and runner callbacks), `warm` (capacity held before jobs ask), `auth` (users and sign-ins) and `settings`
//! (settings and health). `event`, `decide` and `state` are the catalogue and the two
//! dispatchers over them.
//!
//! Everything here is deterministic data in, data out: no I/O, no async, no clock (time comes
//! inside commands and records), no randomness (ids come from the state), no tracing, no
//! `unsafe`. It builds for `wasm32-unknown-unknown` so the console can share validators and
//! formatting. The log is the source of truth; a `State` is only ever changed by folding
//! records, and folding the same records always yields the same state.

mod auth;
mod config;
mod cost;
mod decide;
mod event;
mod instance;
mod intern;
mod job;
mod labels;
mod launch;
mod money;
mod rejection;
mod routing;
mod schedule;
mod settings;
mod sorted;
mod state;
mod stats;
mod time;
mod warm;

/// The hash map of the projections: a fast, fixed-seed hasher (keys are our own ids and
/// interned names, never attacker-chosen in bulk), so folds are deterministic too.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

pub use auth::*;
pub use config::{
    AllocationStrategy, BACKUP_VERSION, Backup, BackupPool, BackupProject, BackupRepo, Config,
    DEFAULT_MAX_RUNTIME_MINUTES, DEFAULT_POOL_CAP, DEFAULT_PRIORITY, ImportAction, ImportItem, ImportPlan,
    MAX_CAP, MAX_RUNTIME_MINUTES, Pool, PoolId, PoolSpec, Project, ProjectId, ProjectSpec, RepoBinding,
    RepoSpec, Scope, SpawnMethod, Tags, TemplateRef, cascade_tags, has_reserved_prefix, parse_full_name,
    plan_import,
};
pub use config::{
    ConfigCounts, ConfigExported, ConfigImported, PoolBootstrapTokenRotated, PoolCreated, PoolDeleted,
    PoolTemplateMaterialized, PoolUpdated, ProjectCreated, ProjectDeleted, ProjectUpdated, RepoBound,
    RepoUnbound, RepoUpdated,
};
pub use cost::JobCost;
pub use decide::{Command, decide};
pub use event::*;
pub use instance::*;
pub use intern::{Interner, Sym};
pub use job::*;
pub use labels::{SELF_HOSTED, runner_labels, runs_on_line, sanitize};
pub use launch::{
    ErrorClass, LaunchError, LaunchOf, LaunchSpec, LaunchedInstance, MANAGED_BY_VALUE, MAX_LAUNCH_ATTEMPTS,
    Market, RetryPolicy, TAG_JOB_ID, TAG_LAUNCH, TAG_MANAGED_BY, TAG_POOL, TAG_PROJECT, TAG_REPO, TAG_WARM,
    TemplateSpec, batch_token, client_token, rate_exceeded, warm_token,
};
pub use money::{Micros, PriceQuote, PriceSource};
pub use rejection::{FieldError, Rejection, RejectionCode};
pub use routing::{Route, route};
pub use schedule::{
    CLAIM_TIMEOUT_MS, LAUNCH_BATCH_MAX, WaitReason, explain, finished_instances, launch_batches, next_retry,
    overdue_instances, plan_claims, plan_warm_takes, stale_claims, surplus_instances,
};
pub use settings::*;
pub use state::{Anomaly, State};
pub use stats::{Counters, GroupBy, GroupKey, Rollups, Window};
pub use time::{DAY_MS, Date, HOUR_MS, MINUTE_MS, SECOND_MS, Timestamp, days_in_month};
pub use warm::*;
