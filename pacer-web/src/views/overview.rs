//! The dashboard: tiles kept live by the `overviewChanged` subscription (and polled every 5 s
//! whenever the subscription is down, so they are never more than 5 s stale), the daily chart
//! of the current month and the spend card (the month to date: total, warm cost, jobs without
//! cost, top projects and repos), both refreshed every 30 s; with replicas sharing the log, the replicas
//! card, refreshed every 5 s.

use super::scope::use_scope;
use super::util::{use_now, use_title};
use crate::api;
use crate::api::ops as ops_root;
use crate::api::ops::stats::{self as ops, Overview as Tiles};
use crate::api::ws::{self, LiveState};
use crate::chart;
use crate::components::{BarChart, Loading, Notice, ReplicasCard, SpendCard, Tile};
use crate::format;
use dioxus::prelude::*;

/// The tiles' window in days.
const WINDOW_DAYS: i32 = 30;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The tile values in display order: (test id, label, value, tone).
pub(crate) fn tiles(o: &Tiles) -> Vec<(&'static str, String, String, Option<&'static str>)> {
    let window = format!("{}d", o.window_days);
    vec![
        ("tile-projects", "Projects".to_owned(), format::count(o.projects), None),
        ("tile-bound-repos", "Bound repos".to_owned(), format::count(o.bound_repos), None),
        (
            "tile-queued",
            "Queued / starting".to_owned(),
            format::count(o.queued_or_starting),
            Some("tone-amber"),
        ),
        ("tile-running", "Running".to_owned(), format::count(o.running), Some("tone-blue")),
        ("tile-completed", format!("Completed · {window}"), format::count(o.completed), Some("tone-green")),
        (
            "tile-failed",
            format!("Failed / reaped · {window}"),
            format::count(o.failed_or_reaped),
            Some("tone-red"),
        ),
    ]
}

/// The Overview page, of the project scope chosen in the sidebar: a new scope is a new page
/// (its own subscription).
#[component]
pub(crate) fn Overview() -> Element {
    use_title("Overview");
    let project = use_scope().project_id();
    // A keyed list of one: a new key mounts a new page instead of updating the old one.
    rsx! {
        for project in [project] {
            OverviewOf { key: "{project.clone().unwrap_or_default()}", project }
        }
    }
}

#[component]
fn OverviewOf(project: Option<String>) -> Element {
    let mut overview = use_signal(|| None::<Tiles>);
    let mut error = use_signal(|| None::<String>);
    let mut live = use_signal(|| LiveState::Connecting);

    // The page is remounted for another scope: the project is fixed for its life.
    let project = use_signal(|| project);
    let refresh = move || {
        spawn(async move {
            match api::run(ops::overview(WINDOW_DAYS, project.peek().clone())).await {
                Ok(d) => {
                    overview.set(Some(d.overview));
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    use_hook(refresh);
    use_future(move || async move {
        ws::subscribe(
            ops::overview_changed(WINDOW_DAYS, project.peek().clone()),
            move |d| overview.set(Some(d.overview_changed)),
            move |state| {
                live.set(state);
                if state == LiveState::Live {
                    refresh();
                }
            },
        )
        .await;
    });
    use_future(move || async move {
        loop {
            api::sleep_ms(5_000).await;
            if *live.peek() != LiveState::Live {
                refresh();
            }
        }
    });

    let mut series =
        use_resource(move || async move { api::run(ops::daily_series(project.peek().clone())).await });
    let mut spend =
        use_resource(
            move || async move { api::run(ops::spend_month_to_date(5, project.peek().clone())).await },
        );
    use_future(move || async move {
        loop {
            api::sleep_ms(30_000).await;
            series.restart();
            spend.restart();
        }
    });

    let mut replication = use_resource(|| async { api::run(ops_root::replication()).await });
    use_future(move || async move {
        loop {
            api::sleep_ms(5_000).await;
            replication.restart();
        }
    });
    let now = use_now(5_000);
    let replicas_card = match &*replication.read() {
        Some(Ok(d)) => d.replication.clone().map(|r| rsx! { ReplicasCard { replication: r, now_ms: now() } }),
        Some(Err(e)) => {
            Some(rsx! { Notice { testid: "replicas-error", text: e.message.clone(), error: true } })
        }
        None => None,
    };

    let live_state = live();
    let chart_card = match &*series.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "chart-error", text: e.message.clone(), error: true } },
        Some(Ok(d)) => {
            let (year, month) = chart::series_month(&d.daily_series, api::now().date());
            let days = chart::month_days(&d.daily_series, year, month);
            let month_name = MONTHS.get(month as usize - 1).copied().unwrap_or("");
            rsx! {
                header { class: "card-head",
                    h2 { "Jobs per day · {month_name} {year}" }
                    span { class: "legend",
                        span { class: "swatch swatch-ok" }
                        "completed"
                        span { class: "swatch swatch-bad" }
                        "failed / reaped"
                    }
                }
                BarChart { days }
            }
        }
    };
    let spend_card = match &*spend.read() {
        None => rsx! { section { class: "card", Loading {} } },
        Some(Err(e)) => {
            rsx! { section { class: "card", Notice { testid: "spend-error", text: e.message.clone(), error: true } } }
        }
        Some(Ok(d)) => {
            let window = format::parse_instant(&d.spend.from.0).map_or_else(
                || "month to date".to_owned(),
                |from| {
                    let date = from.date();
                    let month = MONTHS.get(date.month as usize - 1).copied().unwrap_or("");
                    format!("{month} {} to date", date.year)
                },
            );
            rsx! { SpendCard { spend: d.spend.clone(), window } }
        }
    };

    rsx! {
        div { class: "page", "data-testid": "page-overview",
            header { class: "page-head",
                h1 { "Overview" }
                span { class: "live live-{live_state.label()}", "data-testid": "live-indicator", "{live_state.label()}" }
            }
            if let Some(e) = error() {
                Notice { testid: "overview-error", text: e, error: true }
            }
            match overview() {
                None => rsx! { Loading {} },
                Some(o) => rsx! {
                    div { class: "tiles", "data-testid": "overview-tiles", "data-last-seq": "{o.last_seq}",
                        for (testid, label, value, tone) in tiles(&o) {
                            Tile { key: "{testid}", testid, label, value, tone }
                        }
                    }
                },
            }
            div { class: "overview-grid",
                section { class: "card", "data-testid": "chart-card", {chart_card} }
                {spend_card}
            }
            {replicas_card}
        }
    }
}
