//! Every URL of the console. Links and navigation use these variants only, so a URL in the
//! address bar (a deep link, a reload) always lands on the same page.

use crate::views::{
    Audit, Backup, JobDetail, Jobs, Login, NotFound, Overview, Pools, Projects, Repos, Settings, Shell, Stats,
};
use dioxus::prelude::*;

/// The console's pages.
#[derive(Routable, Clone, PartialEq, Debug)]
#[rustfmt::skip]
#[allow(clippy::enum_variant_names)]
pub enum Route {
    /// Sign in; `error` is an SSO failure code the server redirected back with.
    #[route("/login?:error")]
    Login {
        /// The OIDC failure code, if any.
        error: Option<String>,
    },
    #[layout(Shell)]
        /// Tiles, the daily chart and the spend card.
        #[route("/")]
        Overview {},
        /// Jobs, newest first, optionally filtered by status.
        #[route("/jobs?:status")]
        Jobs {
            /// A status name (`queued`, `running`, …) or none for all.
            status: Option<String>,
        },
        /// The jobs page with one job's details open.
        #[route("/jobs/:id")]
        JobDetail {
            /// The job's id.
            id: String,
        },
        /// Roll-ups over a window.
        #[route("/stats")]
        Stats {},
        /// The audit log and its filters.
        #[route("/audit?:action&:actor&:target&:text&:range&:from&:to")]
        Audit {
            /// An event name such as `job.failed`.
            action: Option<String>,
            /// Part of the actor.
            actor: Option<String>,
            /// Part of a target's name.
            target: Option<String>,
            /// Text anywhere in the record.
            text: Option<String>,
            /// A range preset (`1d`, `7d`, `30d`, `90d`; `custom` with `from` and `to`); none:
            /// all time.
            range: Option<String>,
            /// The custom range's start (`datetime-local`, UTC).
            from: Option<String>,
            /// The custom range's end (`datetime-local`, UTC).
            to: Option<String>,
        },
        /// Projects and their editor.
        #[route("/projects")]
        Projects {},
        /// Repo bindings and their editor.
        #[route("/repos")]
        Repos {},
        /// Pools and their editor.
        #[route("/pools")]
        Pools {},
        /// Export and import of the configuration.
        #[route("/backup")]
        Backup {},
        /// The GitHub App, checks, bootstrap token and retention; GitHub's redirect back from
        /// creating the App lands here with `github_app=created` or `github_app_error`.
        #[route("/settings?:github_app&:github_app_error")]
        Settings {
            /// `created` after the App was created.
            github_app: Option<String>,
            /// Why creating the App failed.
            github_app_error: Option<String>,
        },
    #[end_layout]
    /// Anything else.
    #[route("/:..segments")]
    NotFound {
        /// The unknown path.
        segments: Vec<String>,
    },
}
