//! The Settings page's GitHub App card: where the App comes from, and, while there is none,
//! its creation from the manifest: the server hands out GitHub's new-App URL and the manifest,
//! and a plain form posts the manifest there (GitHub answers to forms, not to fetches). GitHub
//! sends the browser back through `/setup/github-app` to `/settings?github_app=created` or
//! `?github_app_error=…`, which this card reports.

use crate::api::ops::{self, GitHubApp, GitHubAppCreation, GitHubAppSource};
use crate::api::{ApiError, run};
use crate::components::{Field, Notice};
use crate::forms::errors_for;
use dioxus::prelude::*;
use pacer_domain::FieldError;

/// The card, for the App as the server reported it, with the outcome of a creation GitHub
/// sent the browser back from.
#[component]
pub(crate) fn GitHubAppCard(app: GitHubApp, outcome: Option<Result<String, String>>) -> Element {
    let mut name = use_signal(|| "pacer".to_owned());
    let mut organization = use_signal(String::new);
    let mut creation = use_signal(|| None::<GitHubAppCreation>);
    let mut failure = use_signal(|| None::<ApiError>);
    let mut busy = use_signal(|| false);

    let begin = move |e: FormEvent| {
        e.prevent_default();
        busy.set(true);
        failure.set(None);
        let organization = Some(organization.peek().trim().to_owned()).filter(|o| !o.is_empty());
        let name = name.peek().trim().to_owned();
        spawn(async move {
            let result = run(ops::begin_github_app_creation(name, organization)).await;
            busy.set(false);
            match result {
                Ok(d) => creation.set(Some(d.begin_github_app_creation)),
                Err(e) => failure.set(Some(e)),
            }
        });
    };
    let field_errors = |field: &str| -> Vec<String> {
        let fields: Vec<FieldError> = failure.read().iter().flat_map(|e| e.fields.iter().cloned()).collect();
        errors_for(field, &fields)
    };

    rsx! {
        section { class: "card", "data-testid": "github-app-card",
            header { class: "card-head", h2 { "GitHub App" } }
            match outcome {
                Some(Ok(text)) => rsx! { Notice { testid: "github-app-outcome", text } },
                Some(Err(text)) => rsx! { Notice { testid: "github-app-outcome", text, error: true } },
                None => rsx! {},
            }
            match app.source {
                GitHubAppSource::Config => rsx! {
                    p { class: "muted", "data-testid": "github-app-source",
                        "Set in the configuration (github.app_id, github.private_key_path, github.webhook_secret)."
                    }
                },
                GitHubAppSource::Manifest => rsx! {
                    dl { class: "detail-grid one-col", "data-testid": "github-app-source",
                        div { class: "item", dt { "App" }
                            dd { a { href: app.html_url.clone().unwrap_or_default(), target: "_blank", rel: "noopener",
                                "{app.slug.clone().unwrap_or_default()}" } }
                        }
                        div { class: "item", dt { "Owner" } dd { "{app.owner.clone().unwrap_or_default()}" } }
                        div { class: "item", dt { "App id" } dd { class: "mono", "{app.app_id.clone().unwrap_or_default()}" } }
                    }
                    p { class: "muted", "Created here; its key and webhook secret are kept in Pacer's vault. Install it on the repositories or organizations Pacer serves from its page on GitHub." }
                },
                GitHubAppSource::None => rsx! {
                    p { class: "muted", "data-testid": "github-app-source",
                        "No GitHub App yet: webhooks are refused until there is one. Create it here: GitHub shows the App with its webhook, the workflow_job event and exactly the permissions Pacer uses, and sends you back once you confirm."
                    }
                    if let Some(c) = creation() {
                        form { method: "post", action: "{c.url}", "data-testid": "github-app-continue-form",
                            input { r#type: "hidden", name: "manifest", value: "{c.manifest}" }
                            button { class: "button primary", r#type: "submit", "data-testid": "github-app-continue",
                                "Continue on GitHub" }
                        }
                    } else {
                        form { class: "form", onsubmit: begin, novalidate: true,
                            Field { name: "app-name", label: "App name (unique on GitHub)", errors: field_errors("name"),
                                input { id: "input-app-name", "data-testid": "github-app-name", value: "{name}",
                                    oninput: move |e| name.set(e.value()) }
                            }
                            Field { name: "app-organization", label: "Organization (empty: your own account)", errors: field_errors("organization"),
                                input { id: "input-app-organization", "data-testid": "github-app-organization", value: "{organization}",
                                    oninput: move |e| organization.set(e.value()) }
                            }
                            if let Some(e) = failure().filter(|e| e.fields.is_empty()) {
                                Notice { testid: "github-app-error", text: e.message, error: true }
                            }
                            button { class: "button primary", r#type: "submit", disabled: busy(), "data-testid": "github-app-create",
                                "Create GitHub App…" }
                        }
                    }
                },
            }
        }
    }
}
