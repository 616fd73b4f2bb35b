//! pacer-domain's integration tests: given/when/then per command, routing, dispatching, the
//! job lifecycle, cost, backups, projections and properties of the fold.

mod backup;
mod config;
mod cost;
mod dispatch;
mod lifecycle;
mod projections;
mod properties;
mod routing;
mod support;
mod warm;
mod webhooks;
