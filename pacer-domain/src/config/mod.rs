//! The configuration area: projects, pools with their launch templates, and repo
//! bindings, as operators edit them in the console or import them from a backup.
//!
//! - `model`: the specs, their context-free validation (shared with the console) and the
//!   folded [`Config`] with its lookups;
//! - `events`: the area's facts (`project.*`, `pool.*`, `repo.*`, `config.*`);
//! - `decide`: the rules each edit must pass against the whole state;
//! - `evolve`: how each fact folds into [`Config`];
//! - `backup`: the backup document, its export and the all-or-nothing import plan.

mod backup;
mod decide;
mod events;
mod evolve;
mod model;

pub use backup::{
    BACKUP_VERSION, Backup, BackupPool, BackupProject, BackupRepo, ImportAction, ImportItem, ImportPlan,
    plan_import,
};
pub(crate) use decide::*;
pub use events::*;
pub use model::*;
