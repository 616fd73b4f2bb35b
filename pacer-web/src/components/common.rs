//! Small building blocks used on every page: tiles, badges, form fields with their errors,
//! notices, overlays (modal, side panel, confirmation), the pager and the health banner.

use crate::api::ops::HealthComponent;
use crate::format::{self, status_tone};
use dioxus::prelude::*;
use pacer_domain::JobStatus;

/// A headline number with its label.
#[component]
pub(crate) fn Tile(
    testid: String,
    label: String,
    value: String,
    #[props(default)] tone: Option<&'static str>,
    #[props(default)] hint: Option<String>,
) -> Element {
    let class = match tone {
        Some(tone) => format!("tile {tone}"),
        None => "tile".to_owned(),
    };
    rsx! {
        div { class: "{class}", "data-testid": "{testid}",
            div { class: "tile-label", "{label}" }
            div { class: "tile-value", "data-testid": "{testid}-value", "{value}" }
            if let Some(hint) = hint {
                div { class: "tile-hint", "{hint}" }
            }
        }
    }
}

/// A job status in its colour.
#[component]
pub(crate) fn StatusBadge(status: JobStatus) -> Element {
    let tone = status_tone(status).class();
    let name = status.as_str();
    rsx! {
        span { class: "badge {tone}", "data-testid": "status-badge", "data-status": "{name}", "{name}" }
    }
}

/// A small neutral label (`default`, `disabled`, `spot`, …).
#[component]
pub(crate) fn Badge(text: String, #[props(default)] tone: Option<&'static str>, testid: String) -> Element {
    let tone = tone.unwrap_or("tone-grey");
    rsx! {
        span { class: "badge {tone}", "data-testid": "{testid}", "{text}" }
    }
}

/// The errors of one form field, under it.
#[component]
pub(crate) fn FieldErrors(name: String, errors: Vec<String>) -> Element {
    if errors.is_empty() {
        return rsx! {};
    }
    rsx! {
        ul { class: "field-errors", "data-testid": "error-{name}", role: "alert",
            for error in errors {
                li { "{error}" }
            }
        }
    }
}

/// A labelled form field: label, the input (children), an optional hint and its errors.
#[component]
pub(crate) fn Field(
    name: String,
    label: String,
    errors: Vec<String>,
    #[props(default)] hint: Option<String>,
    children: Element,
) -> Element {
    let class = if errors.is_empty() { "field" } else { "field invalid" };
    rsx! {
        div { class: "{class}", "data-testid": "field-{name}",
            label { r#for: "input-{name}", "{label}" }
            {children}
            if let Some(hint) = hint {
                div { class: "hint", "data-testid": "hint-{name}", "{hint}" }
            }
            FieldErrors { name: name.clone(), errors }
        }
    }
}

/// A labelled checkbox field: the box (`input-{name}`) with `text` beside it, and its errors.
#[component]
pub(crate) fn CheckField(
    name: &'static str,
    label: &'static str,
    text: &'static str,
    checked: bool,
    errors: Vec<String>,
    on_change: EventHandler<bool>,
) -> Element {
    rsx! {
        Field { name, label, errors,
            label { class: "check",
                input { r#type: "checkbox", id: "input-{name}", "data-testid": "input-{name}", checked,
                    onchange: move |e: FormEvent| on_change.call(e.checked()) }
                " {text}"
            }
        }
    }
}

/// A one-line message: success, info or error.
#[component]
pub(crate) fn Notice(testid: String, text: String, #[props(default)] error: bool) -> Element {
    let class = if error { "notice notice-error" } else { "notice" };
    let role = if error { "alert" } else { "status" };
    rsx! {
        div { class: "{class}", role: "{role}", "data-testid": "{testid}", "{text}" }
    }
}

/// A "loading" placeholder.
#[component]
pub(crate) fn Loading() -> Element {
    rsx! {
        div { class: "loading", "data-testid": "loading", "Loading…" }
    }
}

/// A centred dialog over a dimmed page. Clicking the backdrop or × closes it.
#[component]
pub(crate) fn Modal(
    testid: String,
    title: String,
    on_close: EventHandler<()>,
    #[props(default)] wide: bool,
    children: Element,
) -> Element {
    let class = if wide { "modal modal-wide" } else { "modal" };
    rsx! {
        div { class: "backdrop", onclick: move |_| on_close.call(()),
            div {
                class: "{class}",
                role: "dialog",
                "aria-modal": "true",
                "data-testid": "{testid}",
                onclick: move |e: MouseEvent| e.stop_propagation(),
                header { class: "modal-head",
                    h2 { "{title}" }
                    button {
                        class: "icon-button",
                        r#type: "button",
                        title: "Close",
                        "data-testid": "{testid}-close",
                        onclick: move |_| on_close.call(()),
                        "×"
                    }
                }
                div { class: "modal-body", {children} }
            }
        }
    }
}

/// A panel sliding in from the right, over the page.
#[component]
pub(crate) fn SidePanel(
    testid: String,
    title: String,
    on_close: EventHandler<()>,
    children: Element,
) -> Element {
    rsx! {
        div { class: "backdrop backdrop-side", onclick: move |_| on_close.call(()),
            aside {
                class: "side-panel",
                role: "dialog",
                "data-testid": "{testid}",
                onclick: move |e: MouseEvent| e.stop_propagation(),
                header { class: "modal-head",
                    h2 { "{title}" }
                    button {
                        class: "icon-button",
                        r#type: "button",
                        title: "Close",
                        "data-testid": "{testid}-close",
                        onclick: move |_| on_close.call(()),
                        "×"
                    }
                }
                div { class: "modal-body", {children} }
            }
        }
    }
}

/// A table row's actions: any page-specific buttons (`children`), then edit and a removal
/// (`delete`, `unbind`), with test ids `<kind>-edit` and `<kind>-<remove_label>`.
#[component]
pub(crate) fn RowActions(
    kind: &'static str,
    remove_label: &'static str,
    on_edit: EventHandler<()>,
    on_remove: EventHandler<()>,
    children: Element,
) -> Element {
    rsx! {
        td { class: "row-actions",
            {children}
            button { class: "button small", r#type: "button", "data-testid": "{kind}-edit",
                onclick: move |_| on_edit.call(()), "edit" }
            button { class: "button small danger-text", r#type: "button", "data-testid": "{kind}-{remove_label}",
                onclick: move |_| on_remove.call(()), "{remove_label}" }
        }
    }
}

/// "Are you sure?" with a confirm and a cancel button.
#[component]
pub(crate) fn Confirm(
    title: String,
    message: String,
    confirm_label: String,
    busy: bool,
    #[props(default)] error: Option<String>,
    on_confirm: EventHandler<()>,
    on_cancel: EventHandler<()>,
) -> Element {
    rsx! {
        Modal { testid: "confirm-dialog", title, on_close: move |_| on_cancel.call(()),
            p { "{message}" }
            if let Some(error) = error {
                Notice { testid: "confirm-error", text: error, error: true }
            }
            div { class: "actions",
                button {
                    class: "button danger",
                    r#type: "button",
                    disabled: busy,
                    "data-testid": "confirm-yes",
                    onclick: move |_| on_confirm.call(()),
                    "{confirm_label}"
                }
                button {
                    class: "button",
                    r#type: "button",
                    "data-testid": "confirm-no",
                    onclick: move |_| on_cancel.call(()),
                    "Cancel"
                }
            }
        }
    }
}

/// Previous / next page buttons with a summary between them.
#[component]
pub(crate) fn Pager(
    testid: String,
    summary: String,
    has_prev: bool,
    has_next: bool,
    on_prev: EventHandler<()>,
    on_next: EventHandler<()>,
) -> Element {
    rsx! {
        div { class: "pager", "data-testid": "{testid}",
            button {
                class: "button",
                r#type: "button",
                disabled: !has_prev,
                "data-testid": "{testid}-prev",
                onclick: move |_| on_prev.call(()),
                "← Newer"
            }
            span { class: "pager-summary", "{summary}" }
            button {
                class: "button",
                r#type: "button",
                disabled: !has_next,
                "data-testid": "{testid}-next",
                onclick: move |_| on_next.call(()),
                "Older →"
            }
        }
    }
}

/// The red banner shown on every page while a component is unhealthy.
#[component]
pub(crate) fn HealthBanner(components: Vec<HealthComponent>) -> Element {
    let failing: Vec<HealthComponent> = components.into_iter().filter(|c| !c.ok).collect();
    rsx! {
        div { class: "health-banner", role: "alert", "data-testid": "health-banner",
            strong { "Pacer is degraded." }
            if failing.is_empty() {
                span { " A component reports a problem." }
            }
            for c in failing {
                span { class: "health-item", "data-testid": "health-component",
                    " {c.name}: {c.message}"
                    if let Some(since) = format::parse_instant(c.since.as_deref().unwrap_or("")) {
                        " (since {format::instant(since)} UTC)"
                    }
                }
            }
        }
    }
}
