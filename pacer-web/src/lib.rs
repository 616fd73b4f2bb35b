//! Pacer's operator console: a Dioxus 0.7 single-page app compiled to wasm and served by the
//! `pacer` binary. It talks only GraphQL (`/graphql`: POST for queries and mutations,
//! `graphql-transport-ws` for live updates) plus the auth endpoints, and shares validation and
//! formatting with the server through `pacer-domain`.
//!
//! Shape: one [`Route`] enum is the only source of URLs; pages in `views/` load data and own
//! state; components in `components/` take owned props and do no I/O; formatting, chart
//! geometry and form checking are plain functions (`format`, `chart`, `forms`) with unit tests;
//! GraphQL documents are checked against the committed `pacer-server/schema.graphql`: those in
//! `api::ops` at compile time by cynic, those still in `api::queries` by a test. It must never hold secrets, talk to any origin but
//! its own, or load anything from outside the binary (no CDN, no external fonts).

mod api;
mod chart;
mod components;
mod format;
mod forms;
mod route;
mod views;

pub use route::Route;

use dioxus::prelude::*;

/// The root component: the router over [`Route`].
#[allow(non_snake_case)]
pub fn App() -> Element {
    rsx! {
        Router::<Route> {}
    }
}

/// Mounts the console on the page's `#main` element (the browser entry point).
#[cfg(target_arch = "wasm32")]
pub fn launch() {
    dioxus::launch(App);
}
