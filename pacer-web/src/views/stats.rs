//! Roll-ups over a window: 1 d / 7 d / 30 d / 90 d or a custom UTC date range, grouped by
//! project, pool, repo or runner label; tiles (the warm cost beside the cost), the breakdown
//! table (with the warm cost by project or pool) and the top 5 senders.

use super::scope::use_scope;
use super::util::use_title;
use crate::api;
use crate::api::ops::stats::{self as ops, StatsGroup, StatsWindow};
use crate::components::{Field, Loading, Notice, SendersTable, StatsTable, Tile};
use crate::format;
use dioxus::prelude::*;
use pacer_domain::{DAY_MS, Date, Timestamp};

/// The preset windows in days.
const PRESETS: [u32; 4] = [1, 7, 30, 90];

/// The window the operator picked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Window {
    /// The last N days.
    Days(u32),
    /// From the start of `from` to the end of `to` (both UTC dates, inclusive).
    Custom {
        /// First day (`YYYY-MM-DD`).
        from: String,
        /// Last day (`YYYY-MM-DD`).
        to: String,
    },
}

/// The GraphQL `StatsWindow` of a window, or the reason it is not valid (custom ranges give a
/// half-open `[from, to + 1 day)` in UTC).
pub(crate) fn window_input(window: &Window) -> Result<StatsWindow, String> {
    match window {
        Window::Days(days) => {
            Ok(StatsWindow { days: Some(i32::try_from(*days).unwrap_or(i32::MAX)), ..StatsWindow::default() })
        }
        Window::Custom { from, to } => {
            let from = Date::parse(from).ok_or("pick a start date")?;
            let to = Date::parse(to).ok_or("pick an end date")?;
            if to < from {
                return Err("the end date is before the start date".to_owned());
            }
            let end = Timestamp::from_millis(to.start().millis() + DAY_MS);
            Ok(StatsWindow {
                from: Some(from.start().to_string().as_str().into()),
                to: Some(end.to_string().as_str().into()),
                ..StatsWindow::default()
            })
        }
    }
}

/// The Stats page.
#[component]
pub(crate) fn Stats() -> Element {
    use_title("Stats");
    let mut window = use_signal(|| Window::Days(7));
    let mut group = use_signal(|| StatsGroup::Project);
    let mut custom_from = use_signal(String::new);
    let mut custom_to = use_signal(String::new);
    let mut custom_error = use_signal(|| None::<String>);

    let scope = use_scope();
    let stats = use_resource(move || async move {
        let input = window_input(&window());
        match input {
            Ok(w) => Some(api::run(ops::stats(w, group(), scope.project_id())).await),
            Err(_) => None,
        }
    });

    let apply_custom = move |e: FormEvent| {
        e.prevent_default();
        let candidate = Window::Custom { from: custom_from(), to: custom_to() };
        match window_input(&candidate) {
            Ok(_) => {
                custom_error.set(None);
                window.set(candidate);
            }
            Err(reason) => custom_error.set(Some(reason)),
        }
    };

    let group_value = group();
    let group_label = group_value.label();
    let current = window();
    let body = match &*stats.read() {
        None | Some(None) => rsx! { Loading {} },
        Some(Some(Err(e))) => rsx! { Notice { testid: "stats-error", text: e.message.clone(), error: true } },
        Some(Some(Ok(d))) => {
            let t = &d.stats.totals;
            let range = format!(
                "{} → {} UTC",
                format::instant_opt(Some(&d.stats.from)),
                format::instant_opt(Some(&d.stats.to))
            );
            rsx! {
                div { class: "muted small", "data-testid": "stats-range", "{range}" }
                div { class: "tiles",
                    Tile { testid: "stats-jobs", label: "Jobs run", value: format::count(t.jobs),
                        hint: format!("{} completed · {} failed · {} cancelled · {} reaped", t.completed, t.failed, t.cancelled, t.reaped) }
                    Tile { testid: "stats-runner-time", label: "Runner time", value: format::duration_str(&t.runner_seconds) }
                    Tile { testid: "stats-cost", label: "Cost", value: format::money(&t.cost.micros),
                        hint: "instances still up estimated to now; jobs without cost count zero".to_owned() }
                    Tile { testid: "stats-warm-cost", label: "Warm cost", value: format::money(&t.warm_cost.micros),
                        hint: "warm instances while idle, apart from the cost".to_owned() }
                    Tile { testid: "stats-unpriced", label: "Jobs without cost", value: format::count(t.unpriced),
                        tone: if t.unpriced > 0 { Some("tone-amber") } else { None } }
                }
                div { class: "stats-grid",
                    section { class: "card",
                        header { class: "card-head", h2 { "By {group_label.to_ascii_lowercase()}" } }
                        StatsTable { rows: d.stats.rows.clone(), group_label: group_label.to_owned(),
                            warm: matches!(d.stats.group_by, StatsGroup::Project | StatsGroup::Pool) }
                    }
                    section { class: "card",
                        header { class: "card-head", h2 { "Top 5 senders" } }
                        SendersTable { senders: d.top_senders.clone() }
                    }
                }
            }
        }
    };

    rsx! {
        div { class: "page", "data-testid": "page-stats",
            header { class: "page-head",
                h1 { "Stats" }
                div { class: "toolbar push-right",
                    div { class: "segmented", "data-testid": "stats-windows",
                        for days in PRESETS {
                            button {
                                r#type: "button",
                                class: if current == Window::Days(days) { "seg active" } else { "seg" },
                                "data-testid": "window-{days}d",
                                onclick: move |_| window.set(Window::Days(days)),
                                "{days} d"
                            }
                        }
                    }
                    label { class: "inline",
                        "Group by "
                        select {
                            "data-testid": "stats-group",
                            onchange: move |e: FormEvent| {
                                if let Some(g) = StatsGroup::ALL.into_iter().find(|g| g.label() == e.value()) {
                                    group.set(g);
                                }
                            },
                            for g in StatsGroup::ALL {
                                option { value: "{g.label()}", selected: group_value == g, "{g.label()}" }
                            }
                        }
                    }
                }
            }
            form { class: "toolbar custom-range", onsubmit: apply_custom, "data-testid": "stats-custom",
                Field { name: "custom-range", label: "Custom range (UTC, inclusive)", errors: custom_error().into_iter().collect::<Vec<_>>(),
                    div { class: "inline-inputs",
                        input { r#type: "date", id: "input-custom-range", "data-testid": "custom-from", value: "{custom_from}",
                            oninput: move |e| custom_from.set(e.value()) }
                        span { "→" }
                        input { r#type: "date", "data-testid": "custom-to", value: "{custom_to}",
                            oninput: move |e| custom_to.set(e.value()) }
                        button {
                            r#type: "submit",
                            class: if matches!(current, Window::Custom { .. }) { "button active" } else { "button" },
                            "data-testid": "custom-apply",
                            "Apply"
                        }
                    }
                }
            }
            {body}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_become_api_input() {
        assert_eq!(
            window_input(&Window::Days(7)),
            Ok(StatsWindow { days: Some(7), ..StatsWindow::default() })
        );
        let custom = Window::Custom { from: "2026-11-01".into(), to: "2026-11-30".into() };
        assert_eq!(
            window_input(&custom),
            Ok(StatsWindow {
                from: Some("2026-11-01T00:00:00.000Z".into()),
                to: Some("2026-12-01T00:00:00.000Z".into()),
                ..StatsWindow::default()
            })
        );
        let backwards = Window::Custom { from: "2026-11-30".into(), to: "2026-11-01".into() };
        assert!(window_input(&backwards).is_err());
        assert!(window_input(&Window::Custom { from: String::new(), to: "2026-11-01".into() }).is_err());
    }
}
