//! Jobs, newest first: a status filter kept in the URL (`/jobs?status=failed`), cursor paging,
//! live rows through the `jobChanged` subscription, and the details modal (also reachable as
//! `/jobs/<id>`), itself live while the job is not finished.

use super::reconcile::ReconcileNow;
use super::scope::use_scope;
use super::util::{use_now, use_title};
use crate::api::ops::jobs::{self as ops, JobConnection, JobDetail as Detail, JobRow};
use crate::api::ws::{self, LiveState};
use crate::api::{self, ApiError};
use crate::components::{JobDetailView, JobGithubView, JobsTable, Loading, Modal, Notice, Pager};
use crate::format;
use crate::route::Route;
use dioxus::prelude::*;
use pacer_domain::JobStatus;

/// Page sizes offered.
const PAGE_SIZES: [usize; 4] = [25, 50, 100, 200];

/// The status a `?status=` value names, if any.
pub(crate) fn status_filter(param: Option<&str>) -> Option<JobStatus> {
    param.and_then(JobStatus::parse)
}

/// Applies one live change to the page on screen. A job already shown is updated in place
/// (or dropped when it no longer matches the filter); a job not shown is put on top, newest
/// first, only on the first page and only if it matches. The page keeps its size.
pub(crate) fn apply_change(
    page: &mut JobConnection,
    job: JobRow,
    filter: Option<JobStatus>,
    first_page: bool,
    size: usize,
) {
    let matches = filter.is_none_or(|s| s == job.status.into());
    match page.nodes.iter().position(|j| j.id == job.id) {
        Some(i) if matches => page.nodes[i] = job,
        Some(i) => {
            page.nodes.remove(i);
            page.total_count = (page.total_count - 1).max(0);
        }
        None if matches => {
            page.total_count += 1;
            if first_page {
                page.nodes.insert(0, job);
                if page.nodes.len() > size {
                    page.nodes.truncate(size);
                    page.page_info.has_next_page = true;
                }
            }
        }
        None => {}
    }
}

/// `/jobs`.
#[component]
pub(crate) fn Jobs(status: Option<String>) -> Element {
    rsx! {
        JobsPage { status, open: None }
    }
}

/// `/jobs/<id>`: the jobs page with that job's details open.
#[component]
pub(crate) fn JobDetail(id: String) -> Element {
    rsx! {
        JobsPage { status: None, open: Some(id) }
    }
}

#[component]
fn JobsPage(status: Option<String>, open: Option<String>) -> Element {
    use_title("Jobs");
    let nav = navigator();
    let deep_linked = open.is_some();
    let mut selected = use_signal(|| open.clone());
    let mut filter = use_signal(|| status_filter(status.as_deref()));
    // Cursors of the pages before the current one; the current page starts after the last.
    let mut cursors = use_signal(Vec::<Option<String>>::new);
    let mut page_size = use_signal(|| 50_usize);
    let mut live = use_signal(|| LiveState::Connecting);
    let now = use_now(5_000);

    use_effect(use_reactive((&status,), move |(status,)| {
        let wanted = status_filter(status.as_deref());
        if *filter.peek() != wanted {
            filter.set(wanted);
            cursors.set(Vec::new());
        }
    }));

    let scope = use_scope();
    // Another project: back to the first page.
    use_effect(move || {
        scope.project_id();
        cursors.set(Vec::new());
    });
    let mut jobs = use_resource(move || async move {
        let after = cursors.read().last().cloned().flatten();
        api::run(ops::jobs(filter(), scope.project_id(), page_size(), after)).await.map(|d| d.jobs)
    });

    use_future(move || async move {
        ws::subscribe(
            ops::job_changed(),
            move |d| {
                // A job never changes project: one out of scope was never shown.
                if !scope.admits(&d.job_changed.project_name) {
                    return;
                }
                let (f, first, size) = (*filter.peek(), cursors.peek().is_empty(), *page_size.peek());
                if let Some(Ok(page)) = &mut *jobs.write() {
                    apply_change(page, d.job_changed, f, first, size);
                }
            },
            move |state| {
                live.set(state);
                // Every (re)subscription refetches, closing any gap since the last query.
                if state == LiveState::Live {
                    jobs.restart();
                }
            },
        )
        .await;
    });

    let set_filter = move |e: FormEvent| {
        let value = e.value();
        let status = (!value.is_empty()).then_some(value);
        filter.set(status_filter(status.as_deref()));
        cursors.set(Vec::new());
        nav.replace(Route::Jobs { status });
    };

    let live_state = live();
    let current = filter().map(|s| s.as_str()).unwrap_or("");
    let body = match &*jobs.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "jobs-error", text: e.message.clone(), error: true } },
        Some(Ok(page)) => {
            let start = cursors.read().len() * page_size();
            let shown = page.nodes.len();
            let summary = if shown == 0 {
                format!("0 of {}", format::count(page.total_count))
            } else {
                format!("{}–{} of {}", start + 1, start + shown, format::count(page.total_count))
            };
            let has_next = page.page_info.has_next_page;
            let end_cursor = page.page_info.end_cursor.clone();
            rsx! {
                JobsTable { jobs: page.nodes.clone(), now_ms: now(), on_details: move |id: String| selected.set(Some(id)) }
                Pager {
                    testid: "jobs-pager",
                    summary,
                    has_prev: !cursors.read().is_empty(),
                    has_next,
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
        div { class: "page", "data-testid": "page-jobs",
            header { class: "page-head",
                h1 { "Jobs" }
                span { class: "live live-{live_state.label()}", "data-testid": "live-indicator", "{live_state.label()}" }
                div { class: "toolbar push-right",
                    ReconcileNow {}
                    label { class: "inline",
                        "Status "
                        select { "data-testid": "status-filter", value: "{current}", onchange: set_filter,
                            option { value: "", selected: current.is_empty(), "all" }
                            for s in JobStatus::ALL {
                                option { value: "{s.as_str()}", selected: current == s.as_str(), "{s.as_str()}" }
                            }
                        }
                    }
                    label { class: "inline",
                        "Per page "
                        select {
                            "data-testid": "jobs-page-size",
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
            }
            {body}
            if let Some(id) = selected() {
                JobModal {
                    key: "{id}",
                    id: id.clone(),
                    now_ms: now(),
                    on_close: move |_| {
                        selected.set(None);
                        if deep_linked {
                            nav.replace(Route::Jobs { status: None });
                        }
                    },
                }
            }
        }
    }
}

#[component]
fn JobModal(id: String, now_ms: i64, on_close: EventHandler<()>) -> Element {
    let mut job = use_signal(|| None::<Result<Option<Detail>, ApiError>>);
    let load_id = id.clone();
    use_hook(move || {
        spawn(async move {
            let result = api::run(ops::job(&load_id)).await.map(|d| d.job);
            job.set(Some(result));
        })
    });
    let sub_id = id.clone();
    use_future(move || {
        let sub_id = sub_id.clone();
        async move {
            ws::subscribe(
                ops::job_detail_changed(&sub_id),
                move |d| job.set(Some(Ok(Some(d.job_changed)))),
                |_| {},
            )
            .await;
        }
    });
    // GitHub's steps, the raw webhooks and the heartbeat: asked when the modal opens, then every
    // 30 s (the runner's heartbeat interval; the server caches the steps).
    let mut github = use_signal(|| None::<Result<Option<ops::JobGithub>, ApiError>>);
    let github_id = id.clone();
    use_future(move || {
        let github_id = github_id.clone();
        async move {
            loop {
                let result = api::run(ops::job_github(&github_id)).await.map(|d| d.job);
                github.set(Some(result));
                api::sleep_ms(30_000).await;
            }
        }
    });
    let title = format!("Job {id}");
    rsx! {
        Modal { testid: "job-modal", title, on_close, wide: true,
            match job() {
                None => rsx! { Loading {} },
                Some(Err(e)) => rsx! { Notice { testid: "job-error", text: e.message, error: true } },
                Some(Ok(None)) => rsx! { Notice { testid: "job-error", text: "No such job (it may have been removed by retention).", error: true } },
                Some(Ok(Some(detail))) => {
                    let has_instance = detail.instance_id.is_some()
                        && JobStatus::from(detail.status).is_active();
                    rsx! {
                        JobDetailView { job: detail, now_ms }
                        match github() {
                            None => rsx! { Loading {} },
                            Some(Err(e)) => rsx! { Notice { testid: "job-github-error", text: e.message, error: true } },
                            Some(Ok(None)) => rsx! {},
                            Some(Ok(Some(extra))) => rsx! { JobGithubView { extra, now_ms, has_instance } },
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ops::PageInfo;

    fn row(id: &str, status: JobStatus) -> JobRow {
        JobRow {
            id: id.into(),
            github_job_id: "1".into(),
            repo: "octo/hello".into(),
            workflow: "CI".into(),
            job_name: "build".into(),
            sender: "octocat".into(),
            status: status.into(),
            project_name: "p".into(),
            pool_name: "default".into(),
            queued_at: "2026-11-29T00:00:00Z".into(),
            launched_at: None,
            started_at: None,
            finished_at: None,
            duration_seconds: None,
            instance_id: None,
            cost: None,
            cost_estimated: false,
        }
    }

    fn page(ids: &[&str]) -> JobConnection {
        JobConnection {
            nodes: ids.iter().map(|id| row(id, JobStatus::Queued)).collect(),
            total_count: ids.len() as i32,
            page_info: PageInfo { has_next_page: false, end_cursor: None },
        }
    }

    fn ids(page: &JobConnection) -> Vec<&str> {
        page.nodes.iter().map(|j| &*j.id).collect()
    }

    #[test]
    fn new_jobs_go_on_top_of_the_first_page_only() {
        let mut p = page(&["2", "1"]);
        apply_change(&mut p, row("3", JobStatus::Queued), None, true, 2);
        assert_eq!(ids(&p), ["3", "2"]);
        assert_eq!(p.total_count, 3);
        assert!(p.page_info.has_next_page);
        let mut later = page(&["2", "1"]);
        apply_change(&mut later, row("3", JobStatus::Queued), None, false, 2);
        assert_eq!(ids(&later), ["2", "1"]);
        assert_eq!(later.total_count, 3);
    }

    #[test]
    fn changes_update_in_place_and_respect_the_filter() {
        let mut p = page(&["2", "1"]);
        apply_change(&mut p, row("1", JobStatus::Running), None, true, 50);
        assert_eq!(JobStatus::from(p.nodes[1].status), JobStatus::Running);
        let mut queued_only = page(&["2", "1"]);
        apply_change(&mut queued_only, row("1", JobStatus::Claimed), Some(JobStatus::Queued), true, 50);
        assert_eq!(ids(&queued_only), ["2"]);
        assert_eq!(queued_only.total_count, 1);
        apply_change(&mut queued_only, row("9", JobStatus::Failed), Some(JobStatus::Queued), true, 50);
        assert_eq!(ids(&queued_only), ["2"]);
    }

    #[test]
    fn status_param() {
        assert_eq!(status_filter(Some("failed")), Some(JobStatus::Failed));
        assert_eq!(status_filter(Some("FAILED")), Some(JobStatus::Failed));
        assert_eq!(status_filter(Some("bogus")), None);
        assert_eq!(status_filter(None), None);
    }
}
