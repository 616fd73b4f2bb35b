//! The audit log, newest first: exact action filter (from the server's list of event names,
//! kept in the URL as `/audit?action=…`), a UTC time range, page size, cursor paging, the
//! failures tile, and an info badge per row opening the full payload in a side panel.

use super::util::use_title;
use crate::api;
use crate::api::ops::stats::{self as ops, AuditEntry, AuditFilter};
use crate::components::{Loading, Notice, Pager, SidePanel, Tile};
use crate::format;
use crate::route::Route;
use dioxus::prelude::*;

/// Page sizes offered.
const PAGE_SIZES: [usize; 4] = [25, 50, 100, 200];

/// A `datetime-local` value (`2026-11-29T08:30`, seconds optional, read as UTC) as RFC 3339,
/// or `None` when empty.
pub(crate) fn local_to_rfc3339(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    format::parse_instant(&format!("{value}Z"))
        .map(|t| Some(t.to_string()))
        .ok_or_else(|| format!("not a date and time: {value}"))
}

/// The route of the thing an audit target names (`job/12` → the job's details), if any.
pub(crate) fn target_route(target: &str) -> Option<Route> {
    let (kind, id) = target.split_once('/')?;
    match kind {
        "job" if !id.is_empty() => Some(Route::JobDetail { id: id.to_owned() }),
        "pool" => Some(Route::Pools {}),
        "project" => Some(Route::Projects {}),
        "repo" => Some(Route::Repos {}),
        _ => None,
    }
}

/// `/audit`.
#[component]
pub(crate) fn Audit(action: Option<String>) -> Element {
    use_title("Audit");
    let nav = navigator();
    let mut selected_action = use_signal(|| action.clone().filter(|a| !a.is_empty()));
    let mut from_text = use_signal(String::new);
    let mut to_text = use_signal(String::new);
    let mut range = use_signal(|| (None::<String>, None::<String>));
    let mut range_error = use_signal(|| None::<String>);
    let mut page_size = use_signal(|| 50_usize);
    let mut cursors = use_signal(Vec::<Option<String>>::new);
    let mut panel = use_signal(|| None::<AuditEntry>);

    use_effect(use_reactive((&action,), move |(action,)| {
        let wanted = action.filter(|a| !a.is_empty());
        if *selected_action.peek() != wanted {
            selected_action.set(wanted);
            cursors.set(Vec::new());
        }
    }));

    let actions = use_resource(|| async { api::run(ops::actions()).await.map(|d| d.actions) });
    let mut page = use_resource(move || async move {
        let (from, to) = range();
        let after = cursors.read().last().cloned().flatten();
        let filter = AuditFilter {
            action: selected_action(),
            from: from.as_deref().map(Into::into),
            to: to.as_deref().map(Into::into),
        };
        api::run(ops::audit(filter, page_size(), after)).await.map(|d| d.audit)
    });

    let apply_range = move |e: FormEvent| {
        e.prevent_default();
        match (local_to_rfc3339(&from_text()), local_to_rfc3339(&to_text())) {
            (Ok(from), Ok(to)) => {
                range_error.set(None);
                range.set((from, to));
                cursors.set(Vec::new());
            }
            (Err(e), _) | (_, Err(e)) => range_error.set(Some(e)),
        }
    };

    let current_action = selected_action().unwrap_or_default();
    let body = match &*page.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "audit-error", text: e.message.clone(), error: true } },
        Some(Ok(p)) => {
            let start = cursors.read().len() * page_size();
            let shown = p.entries.len();
            let summary = if shown == 0 {
                "no entries".to_owned()
            } else {
                format!("entries {}–{}", start + 1, start + shown)
            };
            let end_cursor = p.page_info.end_cursor.clone();
            rsx! {
                div { class: "tiles",
                    Tile { testid: "tile-audit-entries", label: "Entries on this page", value: format::count(shown as i64) }
                    Tile { testid: "tile-audit-failures", label: "Failures on this page", value: format::count(p.failures),
                        tone: if p.failures > 0 { Some("tone-red") } else { None } }
                }
                table { class: "table", "data-testid": "audit-table",
                    thead {
                        tr {
                            th { "Seq" }
                            th { "At (UTC)" }
                            th { "Action" }
                            th { "Actor" }
                            th { "Target" }
                            th { "Summary" }
                            th {}
                        }
                    }
                    tbody {
                        if p.entries.is_empty() {
                            tr { td { colspan: "7", class: "empty", "Nothing recorded for this filter." } }
                        }
                        for entry in p.entries.clone() {
                            tr {
                                key: "{entry.seq}",
                                class: if entry.failure { "row-failure" } else { "" },
                                "data-testid": "audit-row",
                                "data-action": "{entry.action}",
                                td { class: "mono muted", "{entry.seq}" }
                                td { class: "mono", "{format::instant_opt(Some(&entry.at))}" }
                                td { class: "mono", "{entry.action}" }
                                td { "{entry.actor}" }
                                td { class: "mono",
                                    match entry.target.as_deref().map(|t| (t, target_route(t))) {
                                        Some((t, Some(to))) => rsx! { Link { to, "{t}" } },
                                        Some((t, None)) => rsx! { "{t}" },
                                        None => rsx! { "{format::DASH}" },
                                    }
                                }
                                td { "{entry.summary}" }
                                td { class: "row-actions",
                                    button {
                                        class: "info-badge",
                                        r#type: "button",
                                        title: "Show the full payload",
                                        "data-testid": "audit-info",
                                        onclick: move |_| panel.set(Some(entry.clone())),
                                        "i"
                                    }
                                }
                            }
                        }
                    }
                }
                Pager {
                    testid: "audit-pager",
                    summary,
                    has_prev: !cursors.read().is_empty(),
                    has_next: p.page_info.has_next_page,
                    on_prev: move |_| {
                        cursors.write().pop();
                    },
                    on_next: move |_| {
                        if let Some(cursor) = end_cursor.clone() {
                            cursors.write().push(Some(cursor));
                        }
                    },
                }
            }
        }
    };

    rsx! {
        div { class: "page", "data-testid": "page-audit",
            header { class: "page-head",
                h1 { "Audit" }
                button { class: "button small push-right", r#type: "button", "data-testid": "audit-refresh",
                    onclick: move |_| page.restart(), "Refresh" }
            }
            div { class: "toolbar",
                label { class: "inline",
                    "Action "
                    select {
                        "data-testid": "audit-action-filter",
                        onchange: move |e: FormEvent| {
                            let value = e.value();
                            let action = (!value.is_empty()).then_some(value);
                            selected_action.set(action.clone());
                            cursors.set(Vec::new());
                            nav.replace(Route::Audit { action });
                        },
                        option { value: "", selected: current_action.is_empty(), "all actions" }
                        if let Some(Ok(list)) = &*actions.read() {
                            for name in list.clone() {
                                option { value: "{name}", selected: current_action == name, "{name}" }
                            }
                        }
                    }
                }
                form { class: "inline-inputs", onsubmit: apply_range, "data-testid": "audit-range",
                    "From "
                    input { r#type: "datetime-local", "data-testid": "audit-from", value: "{from_text}",
                        oninput: move |e| from_text.set(e.value()) }
                    " to "
                    input { r#type: "datetime-local", "data-testid": "audit-to", value: "{to_text}",
                        oninput: move |e| to_text.set(e.value()) }
                    " UTC "
                    button { class: "button small", r#type: "submit", "data-testid": "audit-range-apply", "Apply" }
                }
                label { class: "inline push-right",
                    "Per page "
                    select {
                        "data-testid": "audit-page-size",
                        onchange: move |e: FormEvent| {
                            if let Ok(size) = e.value().parse() {
                                page_size.set(size);
                                cursors.set(Vec::new());
                            }
                        },
                        for size in PAGE_SIZES {
                            option { value: "{size}", selected: page_size() == size, "{size}" }
                        }
                    }
                }
            }
            if let Some(e) = range_error() {
                Notice { testid: "error-audit-range", text: e, error: true }
            }
            {body}
            if let Some(entry) = panel() {
                SidePanel { testid: "payload-panel", title: entry.action.clone(), on_close: move |_| panel.set(None),
                    dl { class: "detail-grid one-col",
                        div { class: "item", dt { "Seq" } dd { class: "mono", "{entry.seq}" } }
                        div { class: "item", dt { "At" } dd { class: "mono", "{format::instant_opt(Some(&entry.at))} UTC" } }
                        div { class: "item", dt { "Actor" } dd { "{entry.actor}" } }
                        div { class: "item", dt { "Target" } dd { class: "mono", "{entry.target.clone().unwrap_or_default()}" } }
                        div { class: "item", dt { "Request id" } dd { class: "mono", "{entry.request_id.clone().unwrap_or_default()}" } }
                        div { class: "item", dt { "Failure" } dd { if entry.failure { "yes" } else { "no" } } }
                    }
                    pre { class: "json", "data-testid": "payload-json", "{format::pretty_json(&entry.payload.0)}" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_is_read_as_utc() {
        assert_eq!(local_to_rfc3339(""), Ok(None));
        assert_eq!(local_to_rfc3339("2026-11-29T08:30"), Ok(Some("2026-11-29T08:30:00.000Z".into())));
        assert_eq!(local_to_rfc3339("2026-11-29T08:30:15"), Ok(Some("2026-11-29T08:30:15.000Z".into())));
        assert!(local_to_rfc3339("yesterday").is_err());
    }

    #[test]
    fn targets_link_to_their_pages() {
        assert_eq!(target_route("job/12"), Some(Route::JobDetail { id: "12".into() }));
        assert_eq!(target_route("pool/3"), Some(Route::Pools {}));
        assert_eq!(target_route("user/x"), None);
        assert_eq!(target_route("nonsense"), None);
    }
}
