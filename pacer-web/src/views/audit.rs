//! The audit log, newest first. Filters, all kept in the URL (`/audit?action=…&actor=…&target=…
//! &text=…&range=7d`): the exact action (from the server's list of event names), part of the
//! actor, part of a target, free text, and a range preset (last 1/7/30/90 days or all time) or
//! a custom UTC range. Tiles count what the filter matches (events, distinct actors, action
//! types, failures); the table pages by cursor with the client address and outcome where the
//! record has them, and an info badge per row opens the full payload in a side panel. The
//! header shows the head of the log's tamper-evident chain (its seq and hash, to note
//! elsewhere and check an export or `pacer verify` against) and links the export.

use super::util::use_title;
use crate::api;
use crate::api::ops::stats::{self as ops, AuditEntry, AuditFilter};
use crate::components::{Loading, Notice, Pager, SidePanel, Tile};
use crate::format;
use crate::route::Route;
use dioxus::prelude::*;
use pacer_domain::{DAY_MS, Timestamp};

/// Page sizes offered.
const PAGE_SIZES: [usize; 4] = [25, 50, 100, 200];

/// Range presets: (URL value, label, days); the empty value is all time.
const RANGES: [(&str, &str, i64); 6] = [
    ("", "All time", 0),
    ("1d", "Last 24 hours", 1),
    ("7d", "Last 7 days", 7),
    ("30d", "Last 30 days", 30),
    ("90d", "Last 90 days", 90),
    ("custom", "Custom range", 0),
];

/// The audit page's filters as its URL keeps them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AuditUrl {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub text: Option<String>,
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `Some(value)` unless blank.
fn given(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl AuditUrl {
    /// The page's route with these filters.
    pub(crate) fn route(&self) -> Route {
        let AuditUrl { action, actor, target, text, range, from, to } = self.clone();
        Route::Audit { action, actor, target, text, range, from, to }
    }

    /// Blank parameters dropped, so `?actor=` reads as no filter.
    fn tidy(self) -> AuditUrl {
        let keep = |v: Option<String>| v.as_deref().and_then(given);
        AuditUrl {
            action: keep(self.action),
            actor: keep(self.actor),
            target: keep(self.target),
            text: keep(self.text),
            range: keep(self.range),
            from: keep(self.from),
            to: keep(self.to),
        }
    }

    /// The API filter at `now` (a preset's window ends now); an error for a custom range
    /// that does not read as dates or ends before it starts, or an unknown preset.
    pub(crate) fn filter(&self, now: Timestamp) -> Result<AuditFilter, String> {
        let (from, to) = match self.range.as_deref().unwrap_or_default() {
            "custom" => {
                let from = local_to_rfc3339(self.from.as_deref().unwrap_or_default())?;
                let to = local_to_rfc3339(self.to.as_deref().unwrap_or_default())?;
                if let (Some(f), Some(t)) = (&from, &to)
                    && t <= f
                {
                    return Err("the range ends before it starts".to_owned());
                }
                (from, to)
            }
            preset => match RANGES.iter().find(|(value, _, _)| *value == preset) {
                Some((_, _, 0)) => (None, None),
                Some((_, _, days)) => (Some(now.plus_millis(-days * DAY_MS).to_string()), None),
                None => return Err(format!("unknown range {preset}")),
            },
        };
        Ok(AuditFilter {
            action: self.action.clone(),
            from: from.as_deref().map(Into::into),
            to: to.as_deref().map(Into::into),
            actor: self.actor.clone(),
            target: self.target.clone(),
            text: self.text.clone(),
        })
    }
}

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

/// A count for a tile: `100,000+` when the server stopped counting.
fn tile_count(n: i32, complete: bool) -> String {
    if complete { format::count(n) } else { format!("{}+", format::count(n)) }
}

/// `/audit`.
#[component]
pub(crate) fn Audit(
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    text: Option<String>,
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Element {
    use_title("Audit");
    let nav = navigator();
    let url = AuditUrl { action, actor, target, text, range, from, to }.tidy();
    let mut current = use_signal(|| url.clone());
    let mut actor_text = use_signal(|| url.actor.clone().unwrap_or_default());
    let mut target_text = use_signal(|| url.target.clone().unwrap_or_default());
    let mut search_text = use_signal(|| url.text.clone().unwrap_or_default());
    let mut from_text = use_signal(|| url.from.clone().unwrap_or_default());
    let mut to_text = use_signal(|| url.to.clone().unwrap_or_default());
    let mut page_size = use_signal(|| 50_usize);
    let mut cursors = use_signal(Vec::<Option<String>>::new);
    let mut panel = use_signal(|| None::<AuditEntry>);

    use_effect(use_reactive((&url,), move |(url,)| {
        if *current.peek() != url {
            actor_text.set(url.actor.clone().unwrap_or_default());
            target_text.set(url.target.clone().unwrap_or_default());
            search_text.set(url.text.clone().unwrap_or_default());
            current.set(url);
            cursors.set(Vec::new());
        }
    }));
    // Every change of filter goes through the URL, which the effect above follows.
    let go = move |change: &dyn Fn(&mut AuditUrl)| {
        let mut next = current.peek().clone();
        change(&mut next);
        nav.replace(next.tidy().route());
    };

    let actions = use_resource(|| async { api::run(ops::actions()).await.map(|d| d.actions) });
    let filter = use_memo(move || current().filter(api::now()));
    let mut page = use_resource(move || async move {
        let filter = filter()?;
        let after = cursors.read().last().cloned().flatten();
        api::run(ops::audit(filter, page_size(), after)).await.map(|d| d.audit).map_err(|e| e.message)
    });
    let mut summary = use_resource(move || async move {
        let filter = filter()?;
        api::run(ops::audit_summary(filter)).await.map(|d| d.audit_summary).map_err(|e| e.message)
    });

    let mut chain = use_resource(|| async { api::run(ops::audit_chain()).await.map(|d| d.audit_chain) });

    let search = move |e: FormEvent| {
        e.prevent_default();
        go(&|url| {
            url.actor = given(&actor_text.peek());
            url.target = given(&target_text.peek());
            url.text = given(&search_text.peek());
        });
    };
    let apply_range = move |e: FormEvent| {
        e.prevent_default();
        go(&|url| {
            url.from = given(&from_text.peek());
            url.to = given(&to_text.peek());
        });
    };

    let now = current();
    let current_action = now.action.clone().unwrap_or_default();
    let current_range = now.range.clone().unwrap_or_default();
    let filtered = now != AuditUrl::default();
    let tiles = match &*summary.read() {
        Some(Ok(s)) => rsx! {
            div { class: "tiles", "data-testid": "audit-tiles",
                Tile { testid: "tile-audit-events", label: "Events", value: tile_count(s.events, s.complete),
                    hint: if s.complete { None } else { Some("the newest 100,000 read".to_owned()) } }
                Tile { testid: "tile-audit-actors", label: "Actors", value: tile_count(s.actors, s.complete) }
                Tile { testid: "tile-audit-actions", label: "Action types", value: tile_count(s.actions, s.complete) }
                Tile { testid: "tile-audit-failures", label: "Failures", value: tile_count(s.failures, s.complete),
                    tone: if s.failures > 0 { Some("tone-red") } else { None } }
            }
        },
        _ => rsx! {},
    };
    let body = match &*page.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "audit-error", text: e.clone(), error: true } },
        Some(Ok(p)) => {
            let start = cursors.read().len() * page_size();
            let shown = p.entries.len();
            let summary = match shown {
                0 if p.page_info.has_next_page => {
                    "no matches among the records read; older ones remain".to_owned()
                }
                0 => "no entries".to_owned(),
                _ => format!("entries {}–{}", start + 1, start + shown),
            };
            let end_cursor = p.page_info.end_cursor.clone();
            rsx! {
                table { class: "table", "data-testid": "audit-table",
                    thead {
                        tr {
                            th { "Seq" }
                            th { "At (UTC)" }
                            th { "Action" }
                            th { "Actor" }
                            th { "Target" }
                            th { "Client" }
                            th { "Outcome" }
                            th { "Summary" }
                            th {}
                        }
                    }
                    tbody {
                        if p.entries.is_empty() {
                            tr { td { colspan: "9", class: "empty", "Nothing recorded for this filter." } }
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
                                td { class: "mono", "data-testid": "audit-client",
                                    "{entry.client_address.clone().unwrap_or_else(|| format::DASH.to_owned())}" }
                                td { "data-testid": "audit-outcome",
                                    "{entry.outcome.clone().unwrap_or_else(|| format::DASH.to_owned())}" }
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
                if filtered {
                    button { class: "button small", r#type: "button", "data-testid": "audit-clear",
                        onclick: move |_| { nav.replace(AuditUrl::default().route()); }, "Clear filters" }
                }
                button { class: "button small push-right", r#type: "button", "data-testid": "audit-refresh",
                    onclick: move |_| { page.restart(); summary.restart(); chain.restart(); }, "Refresh" }
            }
            if let Some(Ok(head)) = chain() {
                div { class: "chain-head muted small", "data-testid": "audit-chain",
                    title: "SHA-256 over the chain hash before and the record's canonical form: note it elsewhere, then check the log (pacer verify) or an export against it",
                    match head.hash {
                        Some(hash) => rsx! {
                            "Chain head: seq "
                            span { class: "mono", "data-testid": "audit-chain-seq", "{head.seq}" }
                            " · "
                            span { class: "mono", "data-testid": "audit-chain-hash", "{hash}" }
                            " · "
                            a { href: "/api/audit/export?from_seq=1&to_seq={head.seq}", download: "pacer-audit.jsonl",
                                "data-testid": "audit-export", "Export with hashes" }
                        },
                        None => rsx! { "The chain starts with the next record (the log was written before the chain existed)." },
                    }
                }
            }
            div { class: "toolbar",
                label { class: "inline",
                    "Action "
                    select {
                        "data-testid": "audit-action-filter",
                        onchange: move |e: FormEvent| go(&|url| url.action = given(&e.value())),
                        option { value: "", selected: current_action.is_empty(), "all actions" }
                        if let Some(Ok(list)) = &*actions.read() {
                            for name in list.clone() {
                                option { value: "{name}", selected: current_action == name, "{name}" }
                            }
                        }
                    }
                }
                label { class: "inline",
                    "Range "
                    select {
                        "data-testid": "audit-range-preset",
                        onchange: move |e: FormEvent| go(&|url| url.range = given(&e.value())),
                        for (value, label, _) in RANGES {
                            option { value: "{value}", selected: current_range == value, "{label}" }
                        }
                    }
                }
                if current_range == "custom" {
                    form { class: "inline-inputs", onsubmit: apply_range, "data-testid": "audit-range",
                        input { r#type: "datetime-local", "data-testid": "audit-from", value: "{from_text}",
                            oninput: move |e| from_text.set(e.value()) }
                        " to "
                        input { r#type: "datetime-local", "data-testid": "audit-to", value: "{to_text}",
                            oninput: move |e| to_text.set(e.value()) }
                        " UTC "
                        button { class: "button small", r#type: "submit", "data-testid": "audit-range-apply", "Apply" }
                    }
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
            form { class: "toolbar", onsubmit: search, "data-testid": "audit-search",
                input { r#type: "search", placeholder: "actor contains…", "data-testid": "audit-actor",
                    value: "{actor_text}", oninput: move |e| actor_text.set(e.value()) }
                input { r#type: "search", placeholder: "target contains…", title: "part of a target: job/12, i-0abc, repo/octo/, user/ada", "data-testid": "audit-target",
                    value: "{target_text}", oninput: move |e| target_text.set(e.value()) }
                input { r#type: "search", class: "grow", placeholder: "text anywhere in the record…", "data-testid": "audit-text",
                    value: "{search_text}", oninput: move |e| search_text.set(e.value()) }
                button { class: "button small", r#type: "submit", "data-testid": "audit-search-apply", "Search" }
            }
            if let Err(e) = filter() {
                Notice { testid: "error-audit-range", text: e, error: true }
            }
            {tiles}
            {body}
            if let Some(entry) = panel() {
                SidePanel { testid: "payload-panel", title: entry.action.clone(), on_close: move |_| panel.set(None),
                    dl { class: "detail-grid one-col",
                        div { class: "item", dt { "Seq" } dd { class: "mono", "{entry.seq}" } }
                        div { class: "item", dt { "At" } dd { class: "mono", "{format::instant_opt(Some(&entry.at))} UTC" } }
                        div { class: "item", dt { "Actor" } dd { "{entry.actor}" } }
                        div { class: "item", dt { "Target" } dd { class: "mono", "{entry.target.clone().unwrap_or_default()}" } }
                        div { class: "item", dt { "Request id" } dd { class: "mono", "{entry.request_id.clone().unwrap_or_default()}" } }
                        div { class: "item", dt { "Client" } dd { class: "mono", "{entry.client_address.clone().unwrap_or_default()}" } }
                        div { class: "item", dt { "Outcome" } dd { "{entry.outcome.clone().unwrap_or_default()}" } }
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
    fn presets_end_now_and_custom_ranges_are_checked() {
        let now = Timestamp::from_millis(30 * DAY_MS);
        let url = |range: &str, from: &str, to: &str| AuditUrl {
            actor: Some("ada".into()),
            range: Some(range.into()),
            from: Some(from.into()),
            to: Some(to.into()),
            ..AuditUrl::default()
        };
        let week = url("7d", "", "").filter(now).expect("preset");
        assert_eq!(week.from.as_deref(), Some(Timestamp::from_millis(23 * DAY_MS).to_string().as_str()));
        assert_eq!((week.to, week.actor.as_deref()), (None, Some("ada")));
        let all = AuditUrl::default().filter(now).expect("all time");
        assert_eq!((all.from, all.to), (None, None));
        let custom = url("custom", "2026-11-29T08:30", "2026-11-30T00:00").filter(now).expect("custom");
        assert_eq!(custom.from.as_deref(), Some("2026-11-29T08:30:00.000Z"));
        assert!(url("custom", "2026-11-30T00:00", "2026-11-29T00:00").filter(now).is_err(), "inverted");
        assert!(url("custom", "soon", "").filter(now).is_err());
        assert!(url("5y", "", "").filter(now).is_err());
    }

    #[test]
    fn blank_parameters_are_no_filter() {
        let url =
            AuditUrl { actor: Some("  ".into()), text: Some(" x ".into()), ..AuditUrl::default() }.tidy();
        assert_eq!(url, AuditUrl { text: Some("x".into()), ..AuditUrl::default() });
    }

    #[test]
    fn targets_link_to_their_pages() {
        assert_eq!(target_route("job/12"), Some(Route::JobDetail { id: "12".into() }));
        assert_eq!(target_route("pool/3"), Some(Route::Pools {}));
        assert_eq!(target_route("user/x"), None);
        assert_eq!(target_route("nonsense"), None);
    }
}
