//! The Overview chart, spend and replicas cards, the Stats tables and the backup import
//! preview.

use super::common::Badge;
use crate::api::ops::config::ImportResult;
use crate::api::ops::stats::{SenderCount, Spend, SpendRow, StatsRow};
use crate::api::ops::{ImportAction, Replication};
use crate::chart::{self, DayCounts};
use crate::format;
use dioxus::prelude::*;

/// Width of the chart's coordinate system (it scales to its box).
pub(crate) const CHART_WIDTH: f64 = 640.0;
/// Height of the chart's coordinate system.
pub(crate) const CHART_HEIGHT: f64 = 180.0;

/// Completed (green) vs failed/reaped (red) per day, as inline SVG.
#[component]
pub(crate) fn BarChart(days: Vec<DayCounts>) -> Element {
    let g = chart::layout(&days, CHART_WIDTH, CHART_HEIGHT);
    let right = g.width;
    let label_y = g.baseline + 13.0;
    let total_ok: i64 = days.iter().map(|d| d.completed).sum();
    let total_bad: i64 = days.iter().map(|d| d.failed).sum();
    rsx! {
        svg {
            class: "chart",
            "data-testid": "daily-chart",
            view_box: "0 0 {g.width} {g.height}",
            role: "img",
            "aria-label": "Completed vs failed or reaped jobs per day: {total_ok} completed, {total_bad} failed or reaped",
            for line in g.grid.iter() {
                g {
                    line { class: "grid", x1: "{g.plot_left}", x2: "{right}", y1: "{line.y}", y2: "{line.y}" }
                    text { class: "axis", x: "{g.plot_left - 4.0}", y: "{line.y + 3.0}", text_anchor: "end", "{line.value}" }
                }
            }
            for bar in g.bars.iter() {
                rect {
                    class: "{bar.kind.class()}",
                    "data-date": "{bar.date}",
                    "data-value": "{bar.value}",
                    x: "{bar.x}",
                    y: "{bar.y}",
                    width: "{bar.width}",
                    height: "{bar.height}",
                }
            }
            for label in g.labels.iter() {
                text { class: "axis", x: "{label.x}", y: "{label_y}", text_anchor: "middle", "{label.text}" }
            }
        }
    }
}

#[component]
fn SpendTable(title: &'static str, rows: Vec<SpendRow>, testid: &'static str) -> Element {
    rsx! {
        div { class: "spend-block",
            h3 { "{title}" }
            if rows.is_empty() {
                div { class: "muted", "No spend in this window." }
            }
            table { class: "table compact", "data-testid": "{testid}",
                tbody {
                    for row in rows {
                        tr { key: "{row.name}", "data-testid": "{testid}-row", "data-micros": "{row.cost.micros}",
                            td { class: "strong", "{row.name}" }
                            td { class: "num muted", "{format::plural(row.jobs, \"job\")}" }
                            td { class: "num", "{format::money(&row.cost.micros)}" }
                        }
                    }
                }
            }
        }
    }
}

/// Spend over `window`: the total, the jobs without cost and what warm instances cost while
/// idle (apart from the total), beside the top projects and repos.
#[component]
pub(crate) fn SpendCard(spend: Spend, window: String) -> Element {
    rsx! {
        section { class: "card", "data-testid": "spend-card",
            header { class: "card-head",
                h2 { "Spend" }
                span { class: "muted", "data-testid": "spend-window", "{window}" }
            }
            dl { class: "detail-grid",
                div { class: "item",
                    dt { "Total" }
                    dd { class: "strong", "data-testid": "spend-total", "data-micros": "{spend.total.micros}",
                        {format::money(&spend.total.micros)}
                    }
                }
                div { class: "item",
                    dt { title: "What warm instances cost while they waited for a job, on top of the total", "Warm (idle)" }
                    dd { "data-testid": "spend-warm", "data-micros": "{spend.warm_cost.micros}",
                        {format::money(&spend.warm_cost.micros)}
                    }
                }
                div { class: "item",
                    dt { "Jobs" }
                    dd { "data-testid": "spend-jobs", "data-count": "{spend.jobs}", {format::count(spend.jobs)} }
                }
                div { class: "item",
                    dt { "Without cost" }
                    dd { "data-testid": "spend-unpriced", "data-count": "{spend.unpriced}",
                        {format::plural(spend.unpriced, "job")}
                    }
                }
            }
            SpendTable { title: "Top projects", rows: spend.projects, testid: "spend-projects" }
            SpendTable { title: "Top repos", rows: spend.repos, testid: "spend-repos" }
            p { class: "muted small",
                "Each instance's price × its lifetime (launch to termination), estimated to now while it is up. Jobs without cost (no instance, e.g. a failed launch, or no price quote) count zero."
            }
        }
    }
}

/// The replicas sharing the log: who holds the effects lease under which term, and how far
/// behind each one is, at `now_ms`.
#[component]
pub(crate) fn ReplicasCard(replication: Replication, now_ms: i64) -> Element {
    let now = pacer_domain::Timestamp::from_millis(now_ms);
    let holder = replication.lease_holder.clone().unwrap_or_else(|| "none (being taken over)".to_owned());
    rsx! {
        section { class: "card", "data-testid": "replicas-card",
            header { class: "card-head",
                h2 { "Replicas" }
                span { class: "muted", "this page from {replication.me}" }
            }
            dl { class: "detail-grid",
                div { class: "item", dt { "Effects lease" } dd { class: "mono", "data-testid": "lease-holder", "{holder}" } }
                div { class: "item", dt { "Term" } dd { class: "mono", "data-testid": "lease-term", "{replication.term}" } }
                div { class: "item", dt { "Replication lag here" } dd { class: "mono", "data-testid": "replication-lag", {format::delay(replication.lag_seconds)} } }
                div { class: "item", dt { "Races decided again" } dd { class: "mono", "{replication.races}" } }
            }
            table { class: "table compact", "data-testid": "replicas-table",
                thead { tr { th { "Replica" } th { "Role" } th { "Last seen" } th { class: "num", "Folded to" } th { class: "num", "Lag" } th { "Version" } } }
                tbody {
                    for replica in replication.replicas {
                        tr { key: "{replica.id}", "data-testid": "replica-row",
                            td { class: "strong mono", "{replica.id}" }
                            td {
                                if replica.silent {
                                    Badge { text: "silent", tone: Some("tone-red"), testid: "replica-role" }
                                } else if replica.holds_lease {
                                    Badge { text: "lease holder", tone: Some("tone-green"), testid: "replica-role" }
                                } else {
                                    Badge { text: "standby", tone: Some("tone-grey"), testid: "replica-role" }
                                }
                            }
                            td { class: "muted",
                                {format::parse_instant(&replica.seen_at).map_or_else(String::new, |at| format::relative(now, at))}
                            }
                            td { class: "num mono", "{replica.last_seq}" }
                            td { class: "num", {format::delay(replica.lag_seconds)} }
                            td { class: "mono muted", "{replica.version}" }
                        }
                    }
                }
            }
            p { class: "muted small",
                "Every replica serves webhooks, callbacks and this console; only the lease holder launches and reaps. A replica silent for longer than the lease ({format::duration(replication.lease_seconds as i64)}) may have stopped or lost touch with the table."
            }
        }
    }
}

/// The Stats breakdown by group, with the warm cost column when `warm` (grouped by project or
/// pool: the other groupings have none).
#[component]
pub(crate) fn StatsTable(rows: Vec<StatsRow>, group_label: String, #[props(default)] warm: bool) -> Element {
    let columns = if warm { "10" } else { "9" };
    rsx! {
        table { class: "table", "data-testid": "stats-table",
            thead {
                tr {
                    th { "{group_label}" }
                    th { class: "num", "Jobs" }
                    th { class: "num", "Completed" }
                    th { class: "num", "Failed" }
                    th { class: "num", "Cancelled" }
                    th { class: "num", "Reaped" }
                    th { class: "num", "Runner time" }
                    th { class: "num", "Cost" }
                    if warm {
                        th { class: "num", "data-testid": "stats-warm-cost-column", title: "What warm instances cost while idle, apart from the cost", "Warm cost" }
                    }
                    th { class: "num", "Without cost" }
                }
            }
            tbody {
                if rows.is_empty() {
                    tr { td { colspan: columns, class: "empty", "No jobs ended in this window." } }
                }
                for row in rows {
                    tr { key: "{row.key}", "data-testid": "stats-row",
                        td { class: "strong", "{row.label}" }
                        td { class: "num", "{format::count(row.jobs)}" }
                        td { class: "num", "{format::count(row.completed)}" }
                        td { class: "num", "{format::count(row.failed)}" }
                        td { class: "num", "{format::count(row.cancelled)}" }
                        td { class: "num", "{format::count(row.reaped)}" }
                        td { class: "num", "{format::duration_str(&row.runner_seconds)}" }
                        td { class: "num", "{format::money(&row.cost.micros)}" }
                        if warm {
                            td { class: "num", "data-testid": "stats-row-warm-cost", "data-micros": "{row.warm_cost.micros}",
                                "{format::money(&row.warm_cost.micros)}"
                            }
                        }
                        td { class: "num", "{format::count(row.unpriced)}" }
                    }
                }
            }
        }
    }
}

/// Top senders by terminal jobs.
#[component]
pub(crate) fn SendersTable(senders: Vec<SenderCount>) -> Element {
    rsx! {
        table { class: "table compact", "data-testid": "top-senders",
            tbody {
                if senders.is_empty() {
                    tr { td { class: "empty", "No senders in this window." } }
                }
                for (i, s) in senders.into_iter().enumerate() {
                    tr { key: "{s.sender}", "data-testid": "sender-row",
                        td { class: "muted", "{i + 1}." }
                        td { class: "strong", "{s.sender}" }
                        td { class: "num", "{format::plural(s.jobs, \"job\")}" }
                    }
                }
            }
        }
    }
}

fn action_tone(action: ImportAction) -> &'static str {
    match action {
        ImportAction::Create => "tone-green",
        ImportAction::Update => "tone-blue",
        ImportAction::Unchanged => "tone-grey",
    }
}

/// What an import would do (dry run) or did: counts, every row and every error.
#[component]
pub(crate) fn ImportPreview(result: ImportResult) -> Element {
    let heading = if result.applied {
        "Import applied"
    } else if result.dry_run {
        "Dry run — nothing changed yet"
    } else {
        "Import not applied"
    };
    let summary = [
        ("Projects", result.projects_created, result.projects_updated),
        ("Pools", result.pools_created, result.pools_updated),
        ("Repos", result.repos_created, result.repos_updated),
    ];
    rsx! {
        section { class: "card", "data-testid": "import-preview", "data-applied": "{result.applied}",
            header { class: "card-head",
                h2 { "{heading}" }
            }
            div { class: "tiles",
                for (label, created, updated) in summary {
                    div { class: "tile", "data-testid": "import-count-{label.to_ascii_lowercase()}",
                        div { class: "tile-label", "{label}" }
                        div { class: "tile-value", "+{created} / ~{updated}" }
                        div { class: "tile-hint", "created / updated" }
                    }
                }
            }
            if !result.errors.is_empty() {
                div { class: "failure", "data-testid": "import-errors",
                    strong { "{result.errors.len()} error(s) — nothing will be imported until they are fixed:" }
                    ul {
                        for e in result.errors.iter() {
                            li { "data-testid": "import-error",
                                code { "{e.field}" }
                                ": {e.message}"
                            }
                        }
                    }
                }
            }
            table { class: "table compact", "data-testid": "import-items",
                thead {
                    tr {
                        th { "Kind" }
                        th { "Name" }
                        th { "Action" }
                    }
                }
                tbody {
                    for item in result.items.iter() {
                        tr { "data-testid": "import-item", "data-action": "{item.action}",
                            td { "{item.kind}" }
                            td { class: "mono", "{item.name}" }
                            td {
                                Badge {
                                    text: item.action.to_string().to_ascii_lowercase(),
                                    tone: action_tone(item.action),
                                    testid: "import-action",
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
