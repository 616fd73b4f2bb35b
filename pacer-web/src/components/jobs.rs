//! The jobs table and the body of the job details modal.

use super::common::StatusBadge;
use crate::api::ops::jobs::{JobDetail, JobGithub, JobRow};
use crate::api::ops::{DateTime, Money};
use crate::format::{self, DASH};
use dioxus::prelude::*;
use pacer_domain::{JobStatus, Market, Timestamp};

/// Seconds a job has run: the server's figure once it ended, else counted from its start (or
/// launch) to `now`, so active rows tick without a refetch.
pub(crate) fn live_duration(job: &JobRow, now: Timestamp) -> Option<i64> {
    let status = JobStatus::from(job.status);
    let ran = job.duration_seconds.map(i64::from);
    if status.is_terminal() || !status.is_active() {
        return ran;
    }
    let start = job.started_at.as_deref().or(job.launched_at.as_deref()).and_then(format::parse_instant);
    match start {
        Some(start) => Some(now.millis_since(start) / 1_000),
        None => ran,
    }
}

/// The cost, `≈`-marked while it is a running estimate (an instance billed to the job is still
/// up); a dash for a job without cost.
fn cost_text(cost: Option<&Money>, estimated: bool) -> String {
    match cost {
        Some(m) if estimated => format!("≈{}", format::money(&m.micros)),
        Some(m) => format::money(&m.micros),
        None => DASH.to_owned(),
    }
}

fn when(text: Option<&str>, now: Timestamp) -> (String, String) {
    match text.and_then(format::parse_instant) {
        Some(ts) => (format::instant_short(ts, now), format!("{} UTC", format::instant(ts))),
        None => (DASH.to_owned(), String::new()),
    }
}

/// One job as a table row.
#[component]
pub(crate) fn JobRowView(job: JobRow, now_ms: i64, on_details: EventHandler<String>) -> Element {
    let now = Timestamp::from_millis(now_ms);
    let (queued, queued_full) = when(Some(&job.queued_at), now);
    let (launched, launched_full) = when(job.launched_at.as_deref(), now);
    let duration = live_duration(&job, now).map_or_else(|| DASH.to_owned(), format::duration);
    let cost = cost_text(job.cost.as_ref(), job.cost_estimated);
    let instance = job.instance_id.clone().unwrap_or_else(|| DASH.to_owned());
    let id = job.id.to_string();
    let status = JobStatus::from(job.status);
    rsx! {
        tr { "data-testid": "job-row", "data-job-id": "{job.id}", "data-status": "{status.as_str()}", "data-project": "{job.project_name}",
            td { StatusBadge { status } }
            td { class: "strong", title: "{job.workflow} / {job.job_name}", "{job.repo}" }
            td { class: "mono", "{job.github_job_id}" }
            td { "{job.sender}" }
            td { class: "mono", "{instance}" }
            td { title: "{queued_full}", "{queued}" }
            td { title: "{launched_full}", "{launched}" }
            td { class: "num", "data-testid": "job-duration", "{duration}" }
            td { class: "num", "data-testid": "job-cost", "{cost}" }
            td { class: "row-actions",
                button {
                    class: "button small",
                    r#type: "button",
                    "data-testid": "job-details",
                    onclick: move |_| on_details.call(id.clone()),
                    "details"
                }
            }
        }
    }
}

/// The jobs table.
#[component]
pub(crate) fn JobsTable(jobs: Vec<JobRow>, now_ms: i64, on_details: EventHandler<String>) -> Element {
    rsx! {
        table { class: "table", "data-testid": "jobs-table",
            thead {
                tr {
                    th { "Status" }
                    th { "Repo" }
                    th { "GitHub job" }
                    th { "Sender" }
                    th { "Instance" }
                    th { "Queued" }
                    th { "Launched" }
                    th { class: "num", "Duration" }
                    th { class: "num", "Cost" }
                    th {}
                }
            }
            tbody {
                if jobs.is_empty() {
                    tr { td { colspan: "10", class: "empty", "data-testid": "jobs-empty", "No jobs match." } }
                }
                for job in jobs {
                    JobRowView { key: "{job.id}", job: job.clone(), now_ms, on_details }
                }
            }
        }
    }
}

/// One `term: value` line of the details grid.
#[component]
fn Item(label: &'static str, value: String, #[props(default)] mono: bool, testid: &'static str) -> Element {
    rsx! {
        div { class: "item",
            dt { "{label}" }
            dd { class: if mono { "mono" } else { "" }, "data-testid": "{testid}", "{value}" }
        }
    }
}

/// Everything known about one job: ids, where it ran, timings, why it waits, why it failed and
/// its timeline.
#[component]
pub(crate) fn JobDetailView(job: JobDetail, now_ms: i64) -> Element {
    let now = Timestamp::from_millis(now_ms);
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| DASH.to_owned());
    let at = |v: &Option<DateTime>| format::instant_opt(v.as_deref());
    let instance = job.instance.as_ref().map_or_else(
        || opt(&job.instance_id),
        |i| {
            let mut parts = vec![i.id.clone()];
            parts.extend(i.instance_type.clone());
            parts.extend(i.availability_zone.clone());
            parts.extend(i.market.map(|m| Market::from(m).as_str().to_owned()));
            parts.push(i.state.clone());
            parts.join(" · ")
        },
    );
    let instance_times = job.instance.as_ref().map(|i| {
        format!(
            "launched {} · registered {} · ended {}",
            at(&i.launched_at),
            at(&i.registered_at),
            at(&i.ended_at)
        )
    });
    let duration = job.duration_seconds.map_or_else(|| DASH.to_owned(), |s| format::duration(s.into()));
    let labels = if job.labels.is_empty() { DASH.to_owned() } else { job.labels.join(", ") };
    let price = job
        .price_per_hour
        .as_ref()
        .map_or_else(|| "unpriced".to_owned(), |m| format!("{}/h", format::money(&m.micros)));
    let retry = job
        .next_retry_at
        .as_deref()
        .and_then(format::parse_instant)
        .map(|t| format!("{} ({})", format::instant(t), format::relative(now, t)));
    let market = Market::from(job.market).as_str();
    let status = JobStatus::from(job.status);
    rsx! {
        div { class: "job-detail", "data-testid": "job-detail", "data-status": "{status.as_str()}",
            div { class: "detail-head",
                StatusBadge { status }
                span { class: "strong", "{job.repo}" }
                span { class: "muted", " · {job.workflow} / {job.job_name} · {job.branch} @ " }
                code { title: "{job.sha}", "{format::short_sha(&job.sha)}" }
                a {
                    class: "button small push-right",
                    href: "{job.html_url}",
                    target: "_blank",
                    rel: "noopener noreferrer",
                    "data-testid": "open-in-github",
                    "open in GitHub ↗"
                }
            }
            if let Some(reason) = job.wait_reason.clone() {
                div { class: "notice", "data-testid": "wait-reason",
                    strong { "Why it is still waiting: " }
                    "{reason}"
                    if let Some(retry) = retry.clone() {
                        " — next retry {retry}"
                    }
                }
            }
            if let Some(failure) = job.failure.clone() {
                div { class: "failure", "data-testid": "job-failure",
                    div { strong { "Failed at {failure.stage}: " } "{failure.message}" }
                    if let Some(log) = failure.log_tail {
                        pre { class: "log", "data-testid": "failure-log", "{log}" }
                    }
                }
            }
            dl { class: "detail-grid",
                Item { label: "Workflow", value: job.workflow.clone(), testid: "detail-workflow" }
                Item { label: "Job", value: job.job_name.clone(), testid: "detail-job-name" }
                Item { label: "Branch", value: job.branch.clone(), mono: true, testid: "detail-branch" }
                Item { label: "Commit", value: job.sha.clone(), mono: true, testid: "detail-commit" }
                Item { label: "GitHub job id", value: job.github_job_id.clone(), mono: true, testid: "detail-job-id" }
                Item {
                    label: "Run id (attempt)",
                    value: format!("{} ({})", job.run_id, job.run_attempt),
                    mono: true,
                    testid: "detail-run-id",
                }
                Item { label: "Sender", value: job.sender.clone(), testid: "detail-sender" }
                Item { label: "Labels", value: labels, mono: true, testid: "detail-labels" }
                Item { label: "Project", value: job.project_name.clone(), testid: "detail-project" }
                Item { label: "Pool", value: job.pool_name.clone(), testid: "detail-pool" }
                Item { label: "Attempts", value: job.attempts.to_string(), testid: "detail-attempts" }
                Item { label: "Market", value: market, testid: "detail-market" }
                Item { label: "Instance", value: instance, mono: true, testid: "detail-instance" }
                Item { label: "Runner", value: opt(&job.runner_name), mono: true, testid: "detail-runner" }
                Item { label: "Price", value: price, testid: "detail-price" }
                Item { label: "Cost", value: cost_text(job.cost.as_ref(), job.cost_estimated), testid: "detail-cost" }
                Item { label: "Queued", value: at(&Some(job.queued_at.clone())), testid: "detail-queued" }
                Item { label: "Claimed", value: at(&job.claimed_at), testid: "detail-claimed" }
                Item { label: "Launched", value: at(&job.launched_at), testid: "detail-launched" }
                Item { label: "Started", value: at(&job.started_at), testid: "detail-started" }
                Item { label: "Finished", value: at(&job.finished_at), testid: "detail-finished" }
                Item { label: "Duration", value: duration, testid: "detail-duration" }
                Item { label: "Job id", value: job.id.clone(), mono: true, testid: "detail-pacer-id" }
                Item { label: "Project / pool ids", value: format!("{} / {}", job.project_id, job.pool_id), mono: true, testid: "detail-ids" }
            }
            if let Some(times) = instance_times {
                div { class: "muted small", "data-testid": "detail-instance-times", "Instance: {times} (UTC)" }
            }
            h3 { "Timeline" }
            table { class: "table compact", "data-testid": "job-timeline",
                thead {
                    tr {
                        th { "At (UTC)" }
                        th { "Event" }
                        th { "Actor" }
                        th { "Details" }
                    }
                }
                tbody {
                    for entry in job.timeline.clone() {
                        tr { key: "{entry.seq}", "data-testid": "timeline-entry",
                            td { class: "mono", "{format::instant_opt(Some(&entry.at))}" }
                            td { class: "mono", "{entry.action}" }
                            td { "{entry.actor}" }
                            td { "{entry.summary}" }
                        }
                    }
                }
            }
        }
    }
}

/// What the details modal shows from GitHub and the runner: the "last seen" badge of the
/// runner's heartbeat, GitHub's own times and sender type, the job's steps, and the raw
/// webhooks received for it.
#[component]
pub(crate) fn JobGithubView(extra: JobGithub, now_ms: i64, has_instance: bool) -> Element {
    let now = Timestamp::from_millis(now_ms);
    let at = |v: &Option<DateTime>| format::instant_opt(v.as_deref());
    let seen = extra.last_seen_at.as_deref().and_then(format::parse_instant);
    let badge = format::Heartbeat::at(now, seen);
    let seen_text = seen.map_or_else(|| "never".to_owned(), |t| format::relative(now, t));
    let sender_type = if extra.sender_type.is_empty() { DASH.to_owned() } else { extra.sender_type.clone() };
    rsx! {
        div { class: "job-github", "data-testid": "job-github",
            if has_instance || seen.is_some() {
                div { class: "heartbeat",
                    span { class: "muted", "Runner last seen " }
                    span {
                        class: "badge heartbeat-{badge.as_str()}",
                        "data-testid": "heartbeat-badge",
                        "data-badge": "{badge.as_str()}",
                        title: "{at(&extra.last_seen_at)} UTC",
                        "● {seen_text}"
                    }
                }
            }
            dl { class: "detail-grid",
                Item { label: "GitHub created", value: at(&extra.github_created_at), testid: "detail-github-created" }
                Item { label: "GitHub started", value: at(&extra.github_started_at), testid: "detail-github-started" }
                Item { label: "GitHub completed", value: at(&extra.github_completed_at), testid: "detail-github-completed" }
                Item { label: "Sender type", value: sender_type, testid: "detail-sender-type" }
            }
            h3 { "Steps" }
            if let Some(reason) = extra.steps.unavailable.clone() {
                div { class: "muted small", "data-testid": "steps-unavailable", "{reason}" }
            } else if extra.steps.nodes.is_empty() {
                div { class: "muted small", "data-testid": "steps-none", "GitHub lists no steps yet." }
            }
            if !extra.steps.nodes.is_empty() {
                table { class: "table compact", "data-testid": "job-steps",
                    thead {
                        tr {
                            th { "#" }
                            th { "Step" }
                            th { "Status" }
                            th { "Started (UTC)" }
                            th { "Duration" }
                        }
                    }
                    tbody {
                        for step in extra.steps.nodes.clone() {
                            tr { key: "{step.number}", "data-testid": "job-step",
                                td { class: "mono", "{step.number}" }
                                td { "{step.name}" }
                                td { class: "step-{step.conclusion.clone().unwrap_or_else(|| step.status.clone())}",
                                    "{step.conclusion.clone().unwrap_or_else(|| step.status.replace('_', \" \"))}"
                                }
                                td { class: "mono", "{at(&step.started_at)}" }
                                td { "{step.duration_seconds.map_or_else(|| DASH.to_owned(), |s| format::duration(s.into()))}" }
                            }
                        }
                    }
                }
            }
            h3 { "Webhooks received" }
            if extra.webhooks.is_empty() {
                div { class: "muted small", "data-testid": "webhooks-none", "None kept (payloads are kept 30 days after the job ends)." }
            }
            for hook in extra.webhooks.clone() {
                details { key: "{hook.delivery_id}", class: "webhook", "data-testid": "job-webhook",
                    summary {
                        span { class: "mono", "{hook.action}" }
                        span { class: "muted", " · {format::instant_opt(Some(&hook.received_at))} · {hook.delivery_id} · {hook.bytes} bytes" }
                    }
                    if hook.payload.is_empty() {
                        div { class: "muted small", "Too large to keep; only its size is." }
                    } else {
                        pre { class: "log", "{pretty_json(&hook.payload)}" }
                    }
                }
            }
        }
    }
}

/// `text` re-indented when it is JSON, else as it is.
pub(crate) fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}
