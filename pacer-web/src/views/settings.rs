//! Settings: the GitHub App (`github_app.rs`), the checks (`checks.rs`), the runners' bootstrap
//! token (masked, fingerprint, when rotated; rotation behind a confirmation step, reporting per
//! pool whether its launch template was re-materialised), the three retentions (each overridden
//! in days, validated inline, or back to its configured default) with the log's last prune, and
//! the public URL.

use super::checks::ChecksCard;
use super::github_app::GitHubAppCard;
use super::toast::use_toasts;
use super::util::use_title;
use crate::api::ops::{self, RetentionKind, RetentionSetting, Settings as SettingsView};
use crate::api::{ApiError, run};
use crate::components::{Badge, Field, Loading, Notice};
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

    let current = match settings() {
        None => return rsx! { Loading {} },
        Some(Err(e)) => return rsx! { Notice { testid: "settings-error", text: e.message, error: true } },
        Some(Ok(s)) => s,
    };
    let prune_line = last_prune(current.last_prune.as_ref());
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
                for setting in current.retention.clone() {
                    RetentionRow { key: "{setting.kind}", setting, on_saved: move |s| settings.set(Some(Ok(s))) }
                }
                p { class: "muted last-prune", "data-testid": "last-prune", "{prune_line}" }
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

/// How the console names a retention, its test-id slug and what it removes (README's words).
fn retention_text(kind: RetentionKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        RetentionKind::Audit => (
            "Audit log",
            "audit",
            "Log records older than this are deleted from the log below a verified snapshot, and finished jobs leave the Jobs view with their records.",
        ),
        RetentionKind::Webhook => (
            "Raw webhooks",
            "webhook",
            "Raw webhook payloads kept for the job detail are deleted this many days after their job finished.",
        ),
        RetentionKind::FailureLog => (
            "Failure logs",
            "failure-log",
            "The log output a failed runner sent (the job detail's failure log) is deleted this many days after it arrived.",
        ),
    }
}

/// The line about the log's last prune.
fn last_prune(prune: Option<&ops::LogPrune>) -> String {
    let Some(prune) = prune else { return "The log has never been pruned.".to_owned() };
    let count = |seq: &ops::BigInt| seq.parse::<i64>().map_or_else(|_| seq.to_string(), format::count);
    let through = format::instant_opt(Some(&*prune.through));
    let records = format!(
        "Last prune: records {}–{} through {through} UTC",
        count(&prune.first_seq),
        count(&prune.last_seq)
    );
    match &prune.archive {
        Some(archive) => format!("{records}, archived to {archive}."),
        None => format!("{records}."),
    }
}

/// One retention: its days (validated inline), saved as an override or set back to the default.
#[component]
fn RetentionRow(setting: RetentionSetting, on_saved: EventHandler<SettingsView>) -> Element {
    let (title, slug, removes) = retention_text(setting.kind);
    let mut days = use_signal(|| setting.days.to_string());
    let mut server = use_signal(|| None::<ApiError>);
    let mut busy = use_signal(|| false);
    let toasts = use_toasts();
    let kind = setting.kind;
    let mut save = move |value: Option<u32>| {
        busy.set(true);
        server.set(None);
        spawn(async move {
            let result = run(ops::set_retention(kind, value)).await;
            busy.set(false);
            match result {
                Ok(d) => {
                    let now = d.set_retention.retention.iter().find(|r| r.kind == kind).map(|r| r.days);
                    if let Some(now) = now {
                        days.set(now.to_string());
                        let told = match value {
                            Some(_) => format!("{title} retention saved: {}.", format::plural(now, "day")),
                            None => format!(
                                "{title} retention back to the default: {}.",
                                format::plural(now, "day")
                            ),
                        };
                        toasts.show("retention-saved", told);
                    }
                    on_saved.call(d.set_retention);
                }
                Err(e) => server.set(Some(e)),
            }
        });
    };
    let submit = move |e: FormEvent| {
        e.prevent_default();
        if let Ok(value) = check_retention(&days.peek()) {
            save(Some(value));
        }
    };
    let mut errors: Vec<FieldError> = check_retention(&days()).err().into_iter().collect();
    if let Some(err) = &*server.read() {
        if err.fields.is_empty() {
            errors.push(FieldError::new("days", err.message.clone()));
        } else {
            errors.extend(err.fields.iter().cloned());
        }
    }
    let name = format!("retention-{slug}");
    let hint = format!(
        "default {} · 1 to {}",
        format::plural(setting.default_days, "day"),
        pacer_domain::MAX_RETENTION_DAYS
    );
    rsx! {
        div { class: "retention-row", "data-testid": "retention-{slug}-row",
            div { class: "retention-title",
                h3 { "{title}" }
                if setting.overridden {
                    Badge { text: "overridden", tone: Some("tone-blue"), testid: "retention-{slug}-overridden" }
                }
            }
            form { class: "form inline-form", onsubmit: submit, novalidate: true,
                Field { name: name.clone(), label: removes, errors: errors_for("days", &errors), hint,
                    input { id: "input-{name}", "data-testid": "{name}", inputmode: "numeric", value: "{days}",
                        oninput: move |e| {
                            days.set(e.value());
                            server.set(None);
                        }
                    }
                }
                button { class: "button primary", r#type: "submit", disabled: busy() || check_retention(&days()).is_err(),
                    "data-testid": "retention-{slug}-save", "Save" }
                if setting.overridden {
                    button { class: "button", r#type: "button", disabled: busy(), "data-testid": "retention-{slug}-default",
                        onclick: move |_| save(None), "Use default" }
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
