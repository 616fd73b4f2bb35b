//! The presentational components rendered to HTML with `dioxus-ssr`: what an operator (and a
//! browser test looking for `data-testid`s) sees for given props.

use super::common::StatusBadge;
use super::*;
use crate::api::ops::HealthComponent;
use crate::api::ops::config::{FieldErrorView, ImportItem, ImportResult, WarmCapacity, WarmCounts, WarmMode};
use crate::api::ops::jobs::{JobDetail, JobRow, TimelineEntry};
use crate::api::ops::stats::{Spend, SpendRow, StatsRow};
use crate::api::ops::{ImportAction, Market, Money, Replica, Replication};
use crate::chart::{self, DayCounts};
use crate::format::parse_instant;
use dioxus::prelude::*;
use pacer_domain::JobStatus;

/// Renders a root component with `props` to HTML.
fn render<P: Clone + 'static>(root: fn(P) -> Element, props: P) -> String {
    let mut dom = VirtualDom::new_with_props(root, props);
    dom.rebuild_in_place();
    dioxus_ssr::render(&dom)
}

fn now_ms() -> i64 {
    parse_instant("2026-11-29T12:00:00Z").expect("instant").millis()
}

fn job(status: JobStatus) -> JobRow {
    JobRow {
        id: "42".into(),
        github_job_id: "29679449123".into(),
        repo: "octo/hello".into(),
        workflow: "CI".into(),
        job_name: "build".into(),
        sender: "octocat".into(),
        status: status.into(),
        project_name: "platform".into(),
        pool_name: "default".into(),
        queued_at: "2026-11-29T11:50:00Z".into(),
        launched_at: Some("2026-11-29T11:51:00Z".into()),
        started_at: Some("2026-11-29T11:52:00Z".into()),
        finished_at: None,
        duration_seconds: Some(187),
        instance_id: Some("i-0abc123".into()),
        cost: Some(Money { micros: "4160".into() }),
        cost_estimated: false,
    }
}

/// The number of times `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn tiles_show_label_value_and_tone() {
    let html = render(
        |_: ()| {
            rsx! {
                Tile { testid: "tile-running", label: "Running", value: "1,234", tone: "tone-blue" }
                Tile { testid: "tile-projects", label: "Projects", value: "3", hint: "in 30 days".to_owned() }
            }
        },
        (),
    );
    assert!(html.contains(r#"class="tile tone-blue" data-testid="tile-running""#), "{html}");
    assert!(html.contains(r#"data-testid="tile-running-value">1,234<"#), "{html}");
    assert!(html.contains(r#"<div class="tile" data-testid="tile-projects""#), "{html}");
    assert!(html.contains(r#"<div class="tile-hint">in 30 days</div>"#), "{html}");
}

#[test]
fn status_badges_carry_the_spec_colours() {
    let html = render(
        |_: ()| {
            rsx! {
                for status in JobStatus::ALL {
                    StatusBadge { status }
                }
            }
        },
        (),
    );
    for (status, tone) in [
        ("queued", "tone-amber"),
        ("claimed", "tone-blue"),
        ("starting", "tone-blue"),
        ("running", "tone-blue"),
        ("completed", "tone-green"),
        ("failed", "tone-red"),
        ("cancelled", "tone-grey"),
        ("reaped", "tone-red"),
    ] {
        let expected = format!(
            r#"<span class="badge {tone}" data-testid="status-badge" data-status="{status}">{status}</span>"#
        );
        assert!(html.contains(&expected), "{status}: {html}");
    }
}

#[test]
fn a_jobs_row_has_every_column() {
    let html = render(
        |job: JobRow| {
            rsx! {
                JobsTable { jobs: vec![job], now_ms: now_ms(), on_details: |_| {} }
            }
        },
        job(JobStatus::Completed),
    );
    assert_eq!(count(&html, r#"data-testid="job-row""#), 1, "{html}");
    for needle in [
        r#"data-job-id="42""#,
        r#"data-status="completed""#,
        r#"class="badge tone-green""#,
        ">octo/hello<",
        ">29679449123<",
        ">octocat<",
        ">i-0abc123<",
        ">11:50:00<",
        ">11:51:00<",
        r#"data-testid="job-duration">3m 07s<"#,
        r#"data-testid="job-cost">$0.0042<"#,
        r#"data-testid="job-details""#,
        r#"title="2026-11-29 11:50:00 UTC""#,
    ] {
        assert!(html.contains(needle), "{needle}: {html}");
    }
}

#[test]
fn active_rows_tick_and_unpriced_rows_show_a_dash() {
    let mut running = job(JobStatus::Running);
    running.cost = None;
    running.instance_id = None;
    let html = render(
        |job: JobRow| rsx! { JobsTable { jobs: vec![job], now_ms: now_ms(), on_details: |_| {} } },
        running.clone(),
    );
    // Started 11:52, now 12:00: eight minutes, whatever the server's figure was.
    assert!(html.contains(r#"data-testid="job-duration">8m 00s<"#), "{html}");
    assert!(html.contains(r#"data-testid="job-cost">—<"#), "{html}");
    assert_eq!(live_duration_of(&running), Some(480));
    // An instance still up: the cost is marked as a running estimate.
    let mut estimated = job(JobStatus::Running);
    estimated.cost_estimated = true;
    let html = render(
        |job: JobRow| rsx! { JobsTable { jobs: vec![job], now_ms: now_ms(), on_details: |_| {} } },
        estimated,
    );
    assert!(html.contains(r#"data-testid="job-cost">≈$0.0042<"#), "{html}");
    let empty = render(|_: ()| rsx! { JobsTable { jobs: vec![], now_ms: 0, on_details: |_| {} } }, ());
    assert!(empty.contains(r#"data-testid="jobs-empty""#), "{empty}");
}

fn live_duration_of(job: &JobRow) -> Option<i64> {
    super::jobs::live_duration(job, pacer_domain::Timestamp::from_millis(now_ms()))
}

#[test]
fn the_chart_draws_two_bars_per_day_at_their_heights() {
    let points = vec![
        crate::api::ops::stats::DayPoint { date: "2026-11-01".into(), completed: 10, failed_or_reaped: 5 },
        crate::api::ops::stats::DayPoint { date: "2026-11-02".into(), completed: 3, failed_or_reaped: 0 },
    ];
    let days = chart::month_days(&points, 2026, 11);
    let html = render(|days: Vec<DayCounts>| rsx! { BarChart { days } }, days.clone());
    assert!(html.contains(r#"data-testid="daily-chart""#), "{html}");
    assert!(html.contains(r#"viewBox="0 0 640 180""#), "{html}");
    assert_eq!(count(&html, "<rect"), 60, "30 days × 2 bars");
    assert_eq!(count(&html, r#"class="bar bar-ok""#), 30);
    assert_eq!(count(&html, r#"class="bar bar-bad""#), 30);
    // The tallest bar (10 completed on the 1st) fills the plot: scale max 10.
    let g = chart::layout(&days, cards::CHART_WIDTH, cards::CHART_HEIGHT);
    let tallest = &g.bars[0];
    assert_eq!(
        (tallest.value, tallest.y, tallest.height),
        (10, chart::TOP_MARGIN, g.baseline - chart::TOP_MARGIN)
    );
    let expected = format!(
        r#"class="bar bar-ok" data-date="2026-11-01" data-value="10" x="{}" y="{}" width="{}" height="{}""#,
        tallest.x, tallest.y, tallest.width, tallest.height
    );
    assert!(html.contains(&expected), "{expected}\n{html}");
    assert!(html.contains("13 completed, 5 failed or reaped"), "{html}");
}

#[test]
fn field_errors_render_next_to_their_field() {
    let html = render(
        |_: ()| {
            rsx! {
                Field { name: "instance_types", label: "Instance types", errors: vec!["item 2: must look like family.size, e.g. m7i.large".to_owned()],
                    input { "data-testid": "input-instance_types" }
                }
                Field { name: "name", label: "Name", errors: vec![], input {} }
                FieldErrors { name: "cap", errors: vec![] }
            }
        },
        (),
    );
    assert!(html.contains(r#"<div class="field invalid" data-testid="field-instance_types">"#), "{html}");
    assert!(
        html.contains(r#"data-testid="error-instance_types" role="alert"><li>item 2: must look like family.size, e.g. m7i.large</li>"#),
        "{html}"
    );
    assert!(html.contains(r#"<div class="field" data-testid="field-name">"#), "{html}");
    assert!(!html.contains("error-name") && !html.contains("error-cap"), "{html}");
}

#[test]
fn the_health_banner_lists_failing_components() {
    let components = vec![
        HealthComponent { name: "storage".into(), ok: true, message: "ok".into(), since: None },
        HealthComponent {
            name: "aws".into(),
            ok: false,
            message: "DescribeInstances timed out".into(),
            since: Some("2026-11-29T11:00:00Z".into()),
        },
    ];
    let html = render(|components| rsx! { HealthBanner { components } }, components);
    assert!(html.contains(r#"data-testid="health-banner""#), "{html}");
    assert_eq!(count(&html, r#"data-testid="health-component""#), 1, "{html}");
    assert!(html.contains("aws: DescribeInstances timed out"), "{html}");
    assert!(html.contains("(since 2026-11-29 11:00:00 UTC)"), "{html}");
}

#[test]
fn the_spend_card_keeps_sub_cent_amounts() {
    let spend = Spend {
        from: "2026-03-01T00:00:00.000Z".into(),
        total: Money { micros: "1234987".into() },
        jobs: 13,
        unpriced: 2,
        warm_cost: Money { micros: "0".into() },
        projects: vec![SpendRow {
            name: "platform".into(),
            jobs: 12,
            cost: Money { micros: "1234567".into() },
        }],
        repos: vec![SpendRow { name: "octo/hello".into(), jobs: 1, cost: Money { micros: "420".into() } }],
    };
    let html = render(|spend| rsx! { SpendCard { spend, window: "March 2026 to date" } }, spend);
    assert!(html.contains(r#"data-testid="spend-projects-row""#), "{html}");
    assert!(html.contains(">$1.23<") && html.contains(">$0.0004<"), "{html}");
    assert!(html.contains(">12 jobs<"), "{html}");
}

#[test]
fn the_spend_card_shows_the_total_and_the_jobs_without_cost() {
    let spend = Spend {
        from: "2026-03-01T00:00:00.000Z".into(),
        total: Money { micros: "12345678".into() },
        jobs: 1_204,
        unpriced: 1,
        warm_cost: Money { micros: "2345000".into() },
        ..Spend::default()
    };
    let html = render(|spend| rsx! { SpendCard { spend, window: "March 2026 to date" } }, spend);
    assert!(html.contains(r#"data-testid="spend-total" data-micros="12345678">$12.35<"#), "{html}");
    assert!(html.contains(r#"data-testid="spend-unpriced" data-count="1">1 job<"#), "{html}");
    assert!(html.contains(r#"data-testid="spend-jobs" data-count="1204">1,204<"#), "{html}");
    assert!(html.contains(r#"data-testid="spend-warm" data-micros="2345000">$2.35<"#), "{html}");
    let at = |id: &str| html.find(&format!(r#"data-testid="{id}""#)).unwrap_or(usize::MAX);
    assert!(at("spend-total") < at("spend-warm") && at("spend-warm") < at("spend-jobs"), "beside the total");
    assert!(html.contains(">March 2026 to date<"), "{html}");
    assert_eq!(count(&html, r#"data-testid="spend-projects-row""#), 0, "{html}");
}

#[test]
fn the_replicas_card_names_the_holder_and_marks_silent_replicas() {
    let replica = |id: &str, seen_at: &str, silent, holds_lease| Replica {
        id: id.into(),
        seen_at: seen_at.into(),
        silent,
        last_seq: "1042".into(),
        lag_seconds: 0.084,
        holds_lease,
        version: "0.1.0".into(),
    };
    let replication = Replication {
        me: "pacer-b".into(),
        lease_holder: Some("pacer-a".into()),
        term: "7".into(),
        lease_seconds: 15.0,
        lag_seconds: 1.26,
        races: "3".into(),
        replicas: vec![
            replica("pacer-a", "2026-11-29T11:59:58Z", false, true),
            replica("pacer-b", "2026-11-29T11:59:59Z", false, false),
            replica("pacer-c", "2026-11-29T11:58:00Z", true, false),
        ],
    };
    let html = render(
        |(replication, now_ms)| rsx! { ReplicasCard { replication, now_ms } },
        (replication, now_ms()),
    );
    assert_eq!(count(&html, r#"data-testid="replica-row""#), 3, "{html}");
    assert!(html.contains(r#"data-testid="lease-holder">pacer-a<"#), "{html}");
    assert!(html.contains(r#"data-testid="lease-term">7<"#), "{html}");
    assert!(html.contains(r#"data-testid="replication-lag">1.3 s<"#), "{html}");
    for role in [">lease holder<", ">standby<", ">silent<"] {
        assert_eq!(count(&html, role), 1, "{role} in {html}");
    }
    assert!(html.contains(">2m ago<") && html.contains(">84 ms<"), "{html}");
}

#[test]
fn the_import_preview_shows_creates_updates_and_errors() {
    let result = ImportResult {
        dry_run: true,
        applied: false,
        items: vec![
            ImportItem { kind: "project".into(), name: "platform".into(), action: ImportAction::Create },
            ImportItem { kind: "pool".into(), name: "platform/default".into(), action: ImportAction::Update },
        ],
        projects_created: 1,
        projects_updated: 0,
        pools_created: 0,
        pools_updated: 1,
        repos_created: 0,
        repos_updated: 0,
        errors: vec![FieldErrorView {
            field: "projects[0].pools[1].ami_id".into(),
            message: "must look like ami-…".into(),
        }],
    };
    let html = render(|result| rsx! { ImportPreview { result } }, result);
    assert!(html.contains(r#"data-testid="import-preview" data-applied="false""#), "{html}");
    assert!(html.contains("Dry run — nothing changed yet"), "{html}");
    assert_eq!(count(&html, r#"data-testid="import-item""#), 2);
    assert!(html.contains(r#"data-action="CREATE""#) && html.contains(r#"data-action="UPDATE""#), "{html}");
    assert!(html.contains(r#"data-testid="import-count-projects""#) && html.contains("+1 / ~0"), "{html}");
    assert!(html.contains("<code>projects[0].pools[1].ami_id</code>: must look like ami-…"), "{html}");
}

#[test]
fn the_job_detail_shows_every_field() {
    let detail = JobDetail {
        id: "42".into(),
        github_job_id: "29679449123".into(),
        run_id: "7001".into(),
        run_attempt: 2,
        repo: "octo/hello".into(),
        workflow: "CI".into(),
        job_name: "build".into(),
        branch: "main".into(),
        sha: "0123456789abcdef0123".into(),
        sender: "octocat".into(),
        labels: vec!["self-hosted".into(), "platform".into()],
        html_url: "https://github.com/octo/hello/actions/runs/7001/job/29679449123".into(),
        project_id: "1".into(),
        project_name: "platform".into(),
        pool_id: "3".into(),
        pool_name: "default".into(),
        status: JobStatus::Failed.into(),
        attempts: 3,
        market: Market::Spot,
        queued_at: "2026-11-29T11:50:00Z".into(),
        claimed_at: Some("2026-11-29T11:50:01Z".into()),
        launched_at: Some("2026-11-29T11:50:05Z".into()),
        started_at: None,
        finished_at: Some("2026-11-29T11:55:00Z".into()),
        duration_seconds: Some(295),
        instance_id: Some("i-0abc123".into()),
        instance: None,
        runner_name: Some("pacer-i-0abc123".into()),
        price_per_hour: Some(Money { micros: "96000".into() }),
        cost: Some(Money { micros: "7867".into() }),
        cost_estimated: false,
        failure: Some(crate::api::ops::jobs::JobFailure {
            stage: "runner".into(),
            message: "run.sh exited 1".into(),
            log_tail: Some("error: disk full".into()),
        }),
        wait_reason: None,
        next_retry_at: None,
        timeline: vec![TimelineEntry {
            seq: "100".into(),
            at: "2026-11-29T11:50:00Z".into(),
            action: "job.queued".into(),
            actor: "github".into(),
            summary: "queued for default".into(),
        }],
    };
    let html = render(|job| rsx! { JobDetailView { job, now_ms: now_ms() } }, detail);
    for needle in [
        r#"data-testid="detail-workflow">CI<"#,
        r#"data-testid="detail-branch">main<"#,
        r#"data-testid="detail-commit">0123456789abcdef0123<"#,
        r#"data-testid="detail-job-id">29679449123<"#,
        r#"data-testid="detail-run-id">7001 (2)<"#,
        r#"data-testid="detail-project">platform<"#,
        r#"data-testid="detail-pool">default<"#,
        r#"data-testid="detail-attempts">3<"#,
        r#"data-testid="detail-market">spot<"#,
        r#"data-testid="detail-price">$0.10/h<"#,
        r#"data-testid="detail-cost">$0.0079<"#,
        r#"data-testid="failure-log">error: disk full<"#,
        r#"data-testid="timeline-entry""#,
        r#"href="https://github.com/octo/hello/actions/runs/7001/job/29679449123""#,
        r#"data-testid="open-in-github""#,
        ">0123456789<",
    ] {
        assert!(html.contains(needle), "{needle}: {html}");
    }
    assert!(!html.contains("wait-reason"), "{html}");
}

#[test]
fn row_actions_put_the_page_buttons_before_edit_and_the_removal() {
    let html = render(
        |_: ()| {
            rsx! {
                table { tr {
                    RowActions { kind: "repo", remove_label: "unbind", on_edit: |_| {}, on_remove: |_| {},
                        button { "data-testid": "repo-extra", "extra" }
                    }
                } }
            }
        },
        (),
    );
    let at = |id: &str| html.find(&format!(r#"data-testid="{id}""#)).unwrap_or(usize::MAX);
    assert!(at("repo-extra") < at("repo-edit"), "{html}");
    assert!(at("repo-edit") < at("repo-unbind") && at("repo-unbind") < usize::MAX, "{html}");
    assert!(html.contains(">unbind<"), "{html}");
}

fn warm(wanted: (i32, i32), idle: (i32, i32), target: (i32, i32)) -> WarmCapacity {
    let counts = |(hot, stopped)| WarmCounts { hot, stopped };
    WarmCapacity {
        mode: WarmMode::Fixed,
        fixed: Some(counts(target)),
        zone: None,
        windows: vec![],
        otherwise: None,
        quantile: None,
        weeks: None,
        max_age_minutes: 240,
        target: counts(target),
        reason: format!("fixed: {} hot, {} stopped", target.0, target.1),
        wanted: counts(wanted),
        idle: counts(idle),
    }
}

#[test]
fn a_pools_warm_capacity_shows_held_idle_and_why() {
    let html = render(|warm| rsx! { WarmSummary { warm } }, warm((2, 1), (2, 0), (2, 1)));
    assert!(
        html.contains(
            r#"data-testid="pool-warm" data-mode="fixed" data-hot="2" data-stopped="1" data-target-hot="2" data-target-stopped="1" data-idle-hot="2" data-idle-stopped="0">2 hot · 1 stopped<div class="muted small" data-testid="pool-warm-idle">idle: 2 hot · 0 stopped</div>"#
        ),
        "{html}"
    );
    assert!(html.contains(r#"data-testid="pool-warm-reason">fixed: 2 hot, 1 stopped<"#), "{html}");
    assert!(!html.contains("pool-warm-asked"), "held as asked: {html}");
    assert!(!html.contains("pool-warm-beyond"), "none beyond: {html}");
    // The cap leaves room for less than the sizing asks: both are said.
    let html = render(|warm| rsx! { WarmSummary { warm } }, warm((3, 0), (1, 0), (4, 2)));
    assert!(
        html.contains(
            r#"3 hot · 0 stopped<span class="muted" data-testid="pool-warm-asked"> (asks 4 hot · 2 stopped)<"#
        ),
        "{html}"
    );
    // A lower target: the idle ones beyond it are said to wait out the scale-down delay.
    let html = render(|warm| rsx! { WarmSummary { warm } }, warm((0, 0), (2, 0), (0, 0)));
    assert!(
        html.contains(r#"idle: 2 hot · 0 stopped<span data-testid="pool-warm-beyond">; 2 beyond, kept until the lower target has held 15 min<"#),
        "{html}"
    );
}

fn stats_row(label: &str, warm_micros: &str) -> StatsRow {
    StatsRow {
        key: label.into(),
        label: label.into(),
        jobs: 3,
        completed: 3,
        failed: 0,
        cancelled: 0,
        reaped: 0,
        runner_seconds: "600".into(),
        cost: Money { micros: "42000".into() },
        unpriced: 0,
        warm_cost: Money { micros: warm_micros.into() },
    }
}

#[test]
fn stats_rows_show_the_warm_cost_only_where_it_is_kept() {
    let rows = vec![stats_row("platform", "1500000")];
    let html = render(|rows| rsx! { StatsTable { rows, group_label: "Project", warm: true } }, rows.clone());
    assert!(html.contains(r#"data-testid="stats-warm-cost-column""#), "{html}");
    assert!(html.contains(r#"data-testid="stats-row-warm-cost" data-micros="1500000">$1.50<"#), "{html}");
    let at = |needle: &str| html.find(needle).unwrap_or(usize::MAX);
    assert!(at(">Cost<") < at(">Warm cost<") && at(">Warm cost<") < at(">Without cost<"), "{html}");
    let html = render(|rows| rsx! { StatsTable { rows, group_label: "Repo" } }, rows);
    assert!(!html.contains("Warm cost") && !html.contains("stats-row-warm-cost"), "{html}");
    let empty = render(|_: ()| rsx! { StatsTable { rows: vec![], group_label: "Pool", warm: true } }, ());
    assert!(empty.contains(r#"colspan="10""#), "{empty}");
}
