//! The Settings page's checks card: what `pacer doctor` prints, run on demand (it calls AWS and
//! GitHub, so it takes a few seconds), one row per check with its fix when it is not fine.

use crate::api::ops::{self, CheckStatus, DoctorCheck};
use crate::api::run;
use crate::components::{Badge, Notice};
use dioxus::prelude::*;

/// A status's word and colour.
fn badge(status: CheckStatus) -> (&'static str, &'static str) {
    match status {
        CheckStatus::Ok => ("ok", "tone-green"),
        CheckStatus::Warning => ("warning", "tone-amber"),
        CheckStatus::Failed => ("failed", "tone-red"),
        CheckStatus::Skipped => ("skipped", "tone-grey"),
    }
}

/// The card.
#[component]
pub(crate) fn ChecksCard() -> Element {
    let mut checks = use_signal(|| None::<Result<Vec<DoctorCheck>, String>>);
    let mut busy = use_signal(|| false);
    let run_checks = move |_| {
        busy.set(true);
        spawn(async move {
            let result = run(ops::doctor()).await.map(|d| d.doctor).map_err(|e| e.message);
            busy.set(false);
            checks.set(Some(result));
        });
    };
    rsx! {
        section { class: "card", "data-testid": "checks-card",
            header { class: "card-head", h2 { "Checks" } }
            p { class: "muted",
                "AWS credentials and each permission, prices, the GitHub App (key, events, permissions, webhook URL, deliveries, installations), the clock, the public URL and free disk: what `pacer doctor` checks."
            }
            button { class: "button", r#type: "button", disabled: busy(), "data-testid": "run-checks",
                onclick: run_checks, if busy() { "Checking…" } else { "Run checks" } }
            match checks() {
                None => rsx! {},
                Some(Err(message)) => rsx! { Notice { testid: "checks-error", text: message, error: true } },
                Some(Ok(rows)) => rsx! {
                    table { class: "table", "data-testid": "checks-table",
                        thead { tr { th { "Check" } th { "Status" } th { "Found" } th { "Fix" } } }
                        tbody {
                            for row in rows {
                                tr { key: "{row.name}", "data-testid": "check-row",
                                    td { "{row.name}" }
                                    td { Badge { text: badge(row.status).0.to_owned(), tone: Some(badge(row.status).1), testid: "check-status" } }
                                    td { "{row.detail}" }
                                    td { "{row.fix}" }
                                }
                            }
                        }
                    }
                },
            }
        }
    }
}
