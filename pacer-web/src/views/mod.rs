//! Pages: each loads its own data through `crate::api`, keeps its state in signals and renders
//! with the presentational components. The shell (sidebar, health banner, auth gate) wraps
//! every page but sign-in.

mod audit;
mod backup;
mod checks;
mod config_page;
mod github_app;
mod jobs;
mod login;
mod not_found;
mod overview;
mod picker;
mod pools;
mod projects;
mod reconcile;
mod repos;
mod scope;
mod settings;
mod shell;
mod stats;
mod theme;
mod toast;
mod util;
mod warm;

pub(crate) use audit::Audit;
pub(crate) use backup::Backup;
pub(crate) use jobs::{JobDetail, Jobs};
pub(crate) use login::Login;
pub(crate) use not_found::NotFound;
pub(crate) use overview::Overview;
pub(crate) use pools::Pools;
pub(crate) use projects::Projects;
pub(crate) use repos::Repos;
pub(crate) use settings::Settings;
pub(crate) use shell::Shell;
pub(crate) use stats::Stats;
