//! Presentational components: they take owned props, render, and call back through event
//! handlers. No I/O, no context, no clock: everything they show arrives as props, so each
//! renders to HTML in a host test with `dioxus-ssr`.

mod cards;
mod common;
mod jobs;
mod pools;

pub(crate) use cards::{BarChart, ImportPreview, ReplicasCard, SendersTable, SpendCard, StatsTable};
pub(crate) use common::{
    Badge, CheckField, Confirm, Field, FieldErrors, HealthBanner, Loading, Modal, Notice, Pager, RowActions,
    SidePanel, Tile,
};
pub(crate) use jobs::{JobDetailView, JobGithubView, JobsTable};
pub(crate) use pools::WarmSummary;

#[cfg(test)]
mod tests;
