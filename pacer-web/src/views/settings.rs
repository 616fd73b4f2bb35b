//! Settings: the GitHub App (`github_app.rs`), the checks (`checks.rs`), the runners' bootstrap
//! token (masked, fingerprint, when rotated; rotation behind a confirmation step, reporting per
//! pool whether its launch template was re-materialised), retention in days (validated
//! inline) and the public URL.

use super::checks::ChecksCard;
use super::github_app::GitHubAppCard;
use super::toast::use_toasts;
use super::util::use_title;
use crate::api::ops::{self, Settings as SettingsView};
use crate::api::{ApiError, run};
use crate::components::{Field, Loading, Notice};
use crate::format;
use crate::forms::{check_retention, errors_for};
use dioxus::prelude::*;
use pacer_domain::FieldError;

/// The Settings page.
#[component]
pub(crate) fn Settings(github_app: Option<String>, github_app_error: Option<String>) -> Element {
    use_title("Settings");
    let mut settings = use_signal(|| None::<Result<SettingsView, ApiError>>);
    let outcome = match (github_app_error, github_app) {
        (Some(error), _) => Some(Err(error)),
        (None, Some(created)) if created == "created" => Some(Ok("GitHub App created.".to_owned())),
        _ => None,
    };
    let mut github_app = use_signal(|| None::<ops::GitHubApp>);
    let mut retention = use_signal(String::new);
    let mut retention_server = use_signal(|| None::<ApiError>);
    let toasts = use_toasts();
    let mut confirming = use_signal(|| false);
    let mut rotated = use_signal(|| None::<Vec<ops::PoolReversion>>);
    let mut rotate_error = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);

    use_hook(move || {
        spawn(async move {
            let result = run(ops::settings()).await.map(|d| {
                github_app.set(Some(d.github_app));
                d.settings
            });
            if let Ok(s) = &result {
                retention.set(s.retention_days.to_string());
            }
            settings.set(Some(result));
        })
    });

    let rotate = move |_| {
        busy.set(true);
        rotate_error.set(None);
        spawn(async move {
            let result = run(ops::rotate_bootstrap_token()).await;
            busy.set(false);
            confirming.set(false);
            match result {
                Ok(d) => {
                    settings.set(Some(Ok(d.rotate_bootstrap_token.settings)));
                    rotated.set(Some(d.rotate_bootstrap_token.pools));
                }
                Err(e) => rotate_error.set(Some(e.message)),
            }
        });
    };

    let save_retention = move |e: FormEvent| {
        e.prevent_default();
        let Ok(days) = check_retention(&retention.peek()) else { return };
        busy.set(true);
        spawn(async move {
            let result = run(ops::set_retention(days)).await;
            busy.set(false);
            match result {
                Ok(d) => {
                    let days = d.set_retention.retention_days;
                    retention.set(days.to_string());
                    settings.set(Some(Ok(d.set_retention)));
                    toasts.show("retention-saved", format!("Retention saved: {days} days."));
                }
                Err(e) => retention_server.set(Some(e)),
            }
        });
    };

    let current = match settings() {
        None => return rsx! { Loading {} },
        Some(Err(e)) => return rsx! { Notice { testid: "settings-error", text: e.message, error: true } },
        Some(Ok(s)) => s,
    };
    let mut retention_errors: Vec<FieldError> = check_retention(&retention()).err().into_iter().collect();
    if let Some(err) = &*retention_server.read() {
        if err.fields.is_empty() {
            retention_errors.push(FieldError::new("days", err.message.clone()));
        } else {
            retention_errors.extend(err.fields.iter().cloned());
        }
    }
    let fingerprint = current.bootstrap_token_fingerprint.clone().unwrap_or_else(|| "none yet".to_owned());
    let grace = current.previous_token_valid_until.as_deref().map(|t| format::instant_opt(Some(t)));
    let rotated_at = current.bootstrap_token_rotated_at.as_deref().map_or_else(
        || "never (the token dates from the first start)".to_owned(),
        |t| format!("{} UTC", format::instant_opt(Some(t))),
    );

    rsx! {
        div { class: "page", "data-testid": "page-settings",
            header { class: "page-head", h1 { "Settings" } }
            if let Some(app) = github_app() {
                GitHubAppCard { app, outcome }
            }
            ChecksCard {}
            section { class: "card", "data-testid": "token-card",
                header { class: "card-head", h2 { "Runner bootstrap token" } }
                p { class: "muted",
                    "New instances present this token to register. Rotating it keeps the previous token valid for the longest pool max runtime, so instances already booting still report."
                }
                dl { class: "detail-grid one-col",
                    div { class: "item", dt { "Token" } dd { class: "mono", "data-testid": "token-masked", "{current.bootstrap_token_masked}" } }
                    div { class: "item", dt { "Fingerprint" } dd { class: "mono", "data-testid": "token-fingerprint", "{fingerprint}" } }
                    div { class: "item", dt { "Last rotated" } dd { class: "mono", "data-testid": "token-rotated-at", "{rotated_at}" } }
                    if let Some(until) = grace {
                        div { class: "item", dt { "Previous token valid until" } dd { class: "mono", "data-testid": "token-grace", "{until} UTC" } }
                    }
                }
                if let Some(pools) = rotated() {
                    RotationReport { pools }
                }
                if let Some(e) = rotate_error() {
                    Notice { testid: "rotate-error", text: e, error: true }
                }
                if confirming() {
                    div { class: "confirm-inline", "data-testid": "rotate-confirmation",
                        span { "Rotate the bootstrap token now? Launch templates pick up the new token on their next version." }
                        button { class: "button danger", r#type: "button", disabled: busy(), "data-testid": "rotate-confirm",
                            onclick: rotate, "Yes, rotate" }
                        button { class: "button", r#type: "button", "data-testid": "rotate-cancel",
                            onclick: move |_| confirming.set(false), "Cancel" }
                    }
                } else {
                    button { class: "button", r#type: "button", "data-testid": "rotate-token",
                        onclick: move |_| {
                            rotated.set(None);
                            confirming.set(true);
                        },
                        "Rotate token…"
                    }
                }
            }
            section { class: "card", "data-testid": "retention-card",
                header { class: "card-head", h2 { "Retention" } }
                form { class: "form inline-form", onsubmit: save_retention, novalidate: true,
                    Field { name: "days", label: "Keep jobs and audit records for (days)", errors: errors_for("days", &retention_errors),
                        hint: format!("1 to {}", pacer_domain::MAX_RETENTION_DAYS),
                        input { id: "input-days", "data-testid": "retention-days", inputmode: "numeric", value: "{retention}",
                            oninput: move |e| {
                                retention.set(e.value());
                                retention_server.set(None);
                            }
                        }
                    }
                    button { class: "button primary", r#type: "submit", disabled: busy() || check_retention(&retention()).is_err(),
                        "data-testid": "retention-save", "Save" }
                }
            }
            section { class: "card",
                header { class: "card-head", h2 { "Server" } }
                dl { class: "detail-grid one-col",
                    div { class: "item", dt { "Public URL" } dd { class: "mono", "data-testid": "public-url", "{current.public_url}" } }
                }
            }
        }
    }
}

/// What a rotation did to each pool's launch template.
#[component]
pub(crate) fn RotationReport(pools: Vec<ops::PoolReversion>) -> Element {
    let failed = pools.iter().filter(|p| p.error.is_some()).count();
    let summary = match (pools.len(), failed) {
        (0, _) => "Token rotated. No pool has a launch template yet.".to_owned(),
        (n, 0) => format!(
            "Token rotated. {} re-materialised with the new token.",
            format::plural(n as i64, "launch template")
        ),
        (n, f) => format!(
            "Token rotated. {f} of {n} launch templates could not be re-materialised: those pools keep their previous token until saved again."
        ),
    };
    rsx! {
        div { "data-testid": "token-rotated",
            Notice { testid: "token-rotated-summary", text: summary, error: failed > 0 }
            if !pools.is_empty() {
                table { class: "table compact", "data-testid": "rotation-pools",
                    tbody {
                        for pool in pools {
                            tr { key: "{pool.pool_name}", "data-testid": "rotation-pool",
                                td { class: "strong", "{pool.pool_name}" }
                                match (pool.template_version, pool.error) {
                                    (_, Some(error)) => rsx! { td { class: "error-text", "not re-materialised: {error}" } },
                                    (Some(version), None) => rsx! { td { class: "ok-text", "template version {version}" } },
                                    (None, None) => rsx! { td {} },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
