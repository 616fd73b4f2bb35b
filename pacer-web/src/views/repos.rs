//! Repo bindings: the table and the bind/edit editor (project, `owner/repo`, optional cap, tags)
//! validated by `RepoSpec::validate`, and unbinding with a confirmation.

use super::config_page::{RemovalText, run_removal, use_config_page};
use super::projects::tags_summary;
use super::scope::use_scope;
use super::util::use_title;
use crate::api;
use crate::api::ops::config::{self as ops, ProjectRef, Repo};
use crate::components::{Field, Loading, Modal, Notice, RowActions};
use crate::format;
use crate::forms::{RepoForm, errors_for, use_form};
use dioxus::prelude::*;

/// The Repos page.
#[component]
pub(crate) fn Repos() -> Element {
    use_title("Repos");
    let mut data = use_resource(|| async { api::run(ops::repos()).await });
    let scope = use_scope();
    let page = use_config_page::<Repo>("repos-notice");

    // Only repo-scoped projects take bindings; org-scoped ones cover their org already.
    let projects: Vec<ProjectRef> = match &*data.read() {
        Some(Ok(d)) => d.projects.iter().filter(|p| p.scope == api::ops::Scope::Repo).cloned().collect(),
        _ => Vec::new(),
    };
    let body = match &*data.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "repos-error", text: e.message.clone(), error: true } },
        Some(Ok(d)) => rsx! {
            table { class: "table", "data-testid": "repos-table",
                thead {
                    tr {
                        th { "Repo" }
                        th { "Project" }
                        th { class: "num", "Cap" }
                        th { "Tags" }
                        th { class: "num", "Active jobs" }
                        th {}
                    }
                }
                tbody {
                    if d.repos.is_empty() {
                        tr { td { colspan: "6", class: "empty", "No repos bound: bind owner/repo to a repo-scoped project." } }
                    }
                    for r in d.repos.iter().filter(|r| scope.project_id().is_none_or(|id| r.project_id.0 == id)).cloned() {
                        tr { key: "{r.full_name}", "data-testid": "repo-row", "data-name": "{r.full_name}",
                            td { class: "strong mono", "{r.full_name}" }
                            td { "{r.project_name}" }
                            td { class: "num", match r.cap { Some(cap) => rsx! { "{cap}" }, None => rsx! { span { class: "muted", "project's" } } } }
                            td { class: "mono small", "{tags_summary(&r.tags)}" }
                            td { class: "num", "{format::count(r.active_jobs)}" }
                            RowActions { kind: "repo", remove_label: "unbind",
                                on_edit: page.edits(r.clone()),
                                on_remove: page.asks_removal(r.clone()),
                            }
                        }
                    }
                }
            }
        },
    };

    rsx! {
        div { class: "page", "data-testid": "page-repos",
            header { class: "page-head",
                h1 { "Repos" }
                button { class: "button primary push-right", r#type: "button", "data-testid": "repo-new",
                    disabled: projects.is_empty(),
                    title: if projects.is_empty() { "Create a repo-scoped project first" } else { "" },
                    onclick: move |_| page.create(), "+ bind repo" }
            }
            {body}
            if page.editor_open() {
                RepoEditor {
                    existing: page.editing(),
                    projects: projects.clone(),
                    on_cancel: move |_| page.close_editor(),
                    on_saved: move |message: String| {
                        page.saved(message);
                        data.restart();
                    },
                }
            }
            {page.removal_dialog(
                |r| RemovalText {
                    title: "Unbind repo",
                    message: format!("Unbind {} from {}? Its new jobs will no longer be routed.", r.full_name, r.project_name),
                    confirm_label: "Unbind",
                },
                |repo: Repo| run_removal(
                    ops::unbind_repo(&repo.full_name),
                    |d| d.unbind_repo,
                    format!("Unbound {}.", repo.full_name),
                    format!("{} was not bound.", repo.full_name),
                ),
                move || data.restart(),
            )}
        }
    }
}

#[component]
fn RepoEditor(
    existing: Option<Repo>,
    projects: Vec<ProjectRef>,
    on_cancel: EventHandler<()>,
    on_saved: EventHandler<String>,
) -> Element {
    let editing = existing.is_some();
    let initial = existing.as_ref().map(RepoForm::from_repo).unwrap_or_else(|| RepoForm {
        project_id: projects.first().map(|p| p.id.to_string()).unwrap_or_default(),
        ..RepoForm::default()
    });
    let mut form = use_form(move || initial);
    let (shown, general) = form.errors();
    let errs = |key: &str| errors_for(key, &shown);
    let mut edit = move |field: &'static str, apply: Box<dyn FnOnce(&mut RepoForm)>| form.edit(field, apply);

    let save = move |e: FormEvent| {
        e.prevent_default();
        let Some((current, spec)) = form.submit() else { return };
        spawn(async move {
            let input = ops::RepoInput::new(&current.project_id, &spec);
            let result = if editing {
                api::run(ops::update_repo(input)).await.map(|d| d.update_repo)
            } else {
                api::run(ops::bind_repo(input)).await.map(|d| d.bind_repo)
            };
            if let Some(saved) = form.finish(result) {
                on_saved.call(format!("Bound {} to {}.", saved.full_name, saved.project_name));
            }
        });
    };

    let f = form.value();
    let busy = form.busy();
    let title = if editing { format!("Edit {}", f.full_name) } else { "Bind repo".to_owned() };
    rsx! {
        Modal { testid: "repo-editor", title, on_close: move |_| on_cancel.call(()),
            form { class: "form", onsubmit: save, novalidate: true,
                for message in general {
                    Notice { testid: "form-error", text: message, error: true }
                }
                Field { name: "project_id", label: "Project", errors: errs("project_id"),
                    hint: "repo-scoped projects only; a repo binds to exactly one project",
                    select { id: "input-project_id", "data-testid": "input-project_id",
                        onchange: move |e| edit("project_id", Box::new(move |f| f.project_id = e.value())),
                        for p in projects.clone() {
                            option { value: "{p.id}", selected: f.project_id == p.id, "{p.name}" }
                        }
                    }
                }
                Field { name: "full_name", label: "Repository", errors: errs("full_name"), hint: "owner/repo as on GitHub",
                    input { id: "input-full_name", "data-testid": "input-full_name", placeholder: "octocat/hello-world",
                        disabled: editing, value: "{f.full_name}",
                        oninput: move |e| edit("full_name", Box::new(move |f| f.full_name = e.value())) }
                }
                Field { name: "cap", label: "Concurrency cap", errors: errs("cap"), hint: "optional; empty = the project's",
                    input { id: "input-cap", "data-testid": "input-cap", inputmode: "numeric", value: "{f.cap}",
                        oninput: move |e| edit("cap", Box::new(move |f| f.cap = e.value())) }
                }
                Field { name: "tags", label: "Tags", errors: errs("tags"),
                    hint: "key=value per line; stamped on instances at spawn (never on the launch template)",
                    textarea { id: "input-tags", "data-testid": "input-tags", rows: "3", value: "{f.tags}",
                        oninput: move |e| edit("tags", Box::new(move |f| f.tags = e.value())) }
                }
                div { class: "actions",
                    button { class: "button primary", r#type: "submit", disabled: busy, "data-testid": "repo-save",
                        if busy { "Saving…" } else if editing { "Save binding" } else { "Bind repo" }
                    }
                    button { class: "button", r#type: "button", onclick: move |_| on_cancel.call(()), "Cancel" }
                }
            }
        }
    }
}
