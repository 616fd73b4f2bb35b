//! Any URL the console does not know.

use super::util::use_title;
use crate::route::Route;
use dioxus::prelude::*;

/// The "no such page" page.
#[component]
pub(crate) fn NotFound(segments: Vec<String>) -> Element {
    use_title("Not found");
    let path = format!("/{}", segments.join("/"));
    rsx! {
        div { class: "login-page", "data-testid": "page-not-found",
            div { class: "login-card",
                h1 { "No such page" }
                p { class: "muted", "Nothing lives at " code { "{path}" } "." }
                Link { to: Route::Overview {}, class: "button primary", "Go to the overview" }
            }
        }
    }
}
