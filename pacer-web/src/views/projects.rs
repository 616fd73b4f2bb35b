//! Projects: the table, the editor (create and edit) with inline validation by the domain's
//! `ProjectSpec::validate` and the server's field errors next to their fields, and delete with
//! a confirmation.

use super::config_page::{RemovalText, run_removal, use_config_page};
use super::util::use_title;
use crate::api;
use crate::api::ops::config::{self as ops, Project};
use crate::components::{Badge, CheckField, Field, Loading, Modal, Notice, RowActions};
use crate::format;
use crate::forms::{ProjectForm, errors_for, use_form};
use dioxus::prelude::*;
use pacer_domain::Scope;

/// The Projects page.
#[component]
pub(crate) fn Projects() -> Element {
    use_title("Projects");
    let mut projects = use_resource(|| async { api::run(ops::projects()).await.map(|d| d.projects) });
    let page = use_config_page::<Project>("projects-notice");

    let body = match &*projects.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "projects-error", text: e.message.clone(), error: true } },
        Some(Ok(list)) => rsx! {
            table { class: "table", "data-testid": "projects-table",
                thead {
                    tr {
                        th { "Name" }
                        th { "Scope" }
                        th { class: "num", "Cap" }
                        th { "Tags" }
                        th { class: "num", "Pools" }
                        th { class: "num", "Repos" }
                        th { class: "num", "Active jobs" }
                        th {}
                    }
                }
                tbody {
                    if list.is_empty() {
                        tr { td { colspan: "8", class: "empty", "No projects yet: create one to start routing jobs." } }
                    }
                    for p in list.clone() {
                        tr { key: "{p.id}", class: if p.disabled { "row-disabled" } else { "" },
                            "data-testid": "project-row", "data-name": "{p.name}",
                            td { class: "strong", "{p.name} "
                                if p.disabled { Badge { text: "disabled", testid: "disabled-badge" } }
                            }
                            td {
                                if p.scope == api::ops::Scope::Org {
                                    "org · {p.org_name.clone().unwrap_or_default()}"
                                    if p.runner_group_id > 0 { " · group {p.runner_group_id}" }
                                } else {
                                    "repo"
                                }
                            }
                            td { class: "num", if p.cap == 0 { "none" } else { "{p.cap}" } }
                            td { class: "mono small", "{tags_summary(&p.tags)}" }
                            td { class: "num", "{p.pools.len()}" }
                            td { class: "num", title: "{repo_names(&p)}", "{p.repos.len()}" }
                            td { class: "num", "{format::count(p.active_jobs)}" }
                            RowActions { kind: "project", remove_label: "delete",
                                on_edit: page.edits(p.clone()),
                                on_remove: page.asks_removal(p.clone()),
                            }
                        }
                    }
                }
            }
        },
    };

    rsx! {
        div { class: "page", "data-testid": "page-projects",
            header { class: "page-head",
                h1 { "Projects" }
                button { class: "button primary push-right", r#type: "button", "data-testid": "project-new",
                    onclick: move |_| page.create(), "+ new project" }
            }
            {body}
            if page.editor_open() {
                ProjectEditor {
                    existing: page.editing(),
                    on_cancel: move |_| page.close_editor(),
                    on_saved: move |name: String| {
                        page.saved(format!("Saved project {name}."));
                        projects.restart();
                    },
                }
            }
            {page.removal_dialog(
                |p| RemovalText {
                    title: "Delete project",
                    message: format!("Delete project {}? Its pools and repo bindings must be removed first.", p.name),
                    confirm_label: "Delete",
                },
                |project: Project| run_removal(
                    ops::delete_project(&project.id),
                    |d| d.delete_project,
                    format!("Deleted project {}.", project.name),
                    format!("Project {} was not deleted.", project.name),
                ),
                move || projects.restart(),
            )}
        }
    }
}

/// Tags in one line for a table cell.
pub(crate) fn tags_summary(tags: &[crate::api::ops::Tag]) -> String {
    if tags.is_empty() {
        return format::DASH.to_owned();
    }
    tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect::<Vec<_>>().join(", ")
}

fn repo_names(p: &Project) -> String {
    p.repos.iter().map(|r| r.full_name.as_str()).collect::<Vec<_>>().join(", ")
}

#[component]
fn ProjectEditor(
    existing: Option<Project>,
    on_cancel: EventHandler<()>,
    on_saved: EventHandler<String>,
) -> Element {
    let id = existing.as_ref().map(|p| p.id.clone());
    let initial = existing.as_ref().map(ProjectForm::from_project).unwrap_or_default();
    let mut form = use_form(move || initial);
    let (shown, general) = form.errors();
    let errs = |key: &str| errors_for(key, &shown);
    let mut edit =
        move |field: &'static str, apply: Box<dyn FnOnce(&mut ProjectForm)>| form.edit(field, apply);

    let save_id = id.clone();
    let save = move |e: FormEvent| {
        e.prevent_default();
        let Some((_, spec)) = form.submit() else { return };
        let id = save_id.clone();
        spawn(async move {
            let result = match id {
                Some(id) => api::run(ops::update_project(&id, &spec)).await.map(|d| d.update_project.name),
                None => api::run(ops::create_project(&spec)).await.map(|d| d.create_project.name),
            };
            if let Some(name) = form.finish(result) {
                on_saved.call(name);
            }
        });
    };

    let f = form.value();
    let busy = form.busy();
    let title = if id.is_some() { format!("Edit project {}", f.name) } else { "New project".to_owned() };
    rsx! {
        Modal { testid: "project-editor", title, on_close: move |_| on_cancel.call(()),
            form { class: "form", onsubmit: save, novalidate: true,
                for message in general {
                    Notice { testid: "form-error", text: message, error: true }
                }
                Field { name: "name", label: "Name", errors: errs("name"),
                    input { id: "input-name", "data-testid": "input-name", value: "{f.name}",
                        oninput: move |e| edit("name", Box::new(move |f| f.name = e.value())) }
                }
                div { class: "row",
                    Field { name: "scope", label: "Scope", errors: errs("scope"),
                        hint: "repo: bind repos one by one · org: every repo of a GitHub org",
                        select { id: "input-scope", "data-testid": "input-scope",
                            onchange: move |e| edit("scope", Box::new(move |f| f.scope = Scope::parse(&e.value()).unwrap_or_default())),
                            option { value: "repo", selected: f.scope == Scope::Repo, "repo" }
                            option { value: "org", selected: f.scope == Scope::Org, "org" }
                        }
                    }
                    Field { name: "cap", label: "Concurrency cap", errors: errs("cap"), hint: "0 = no project ceiling",
                        input { id: "input-cap", "data-testid": "input-cap", inputmode: "numeric", value: "{f.cap}",
                            oninput: move |e| edit("cap", Box::new(move |f| f.cap = e.value())) }
                    }
                }
                if f.scope == Scope::Org {
                    div { class: "row",
                        Field { name: "org_name", label: "GitHub org", errors: errs("org_name"),
                            input { id: "input-org_name", "data-testid": "input-org_name", value: "{f.org_name}",
                                oninput: move |e| edit("org_name", Box::new(move |f| f.org_name = e.value())) }
                        }
                        Field { name: "runner_group_id", label: "Runner group id", errors: errs("runner_group_id"),
                            hint: "0 = GitHub's default group",
                            input { id: "input-runner_group_id", "data-testid": "input-runner_group_id", inputmode: "numeric",
                                value: "{f.runner_group_id}",
                                oninput: move |e| edit("runner_group_id", Box::new(move |f| f.runner_group_id = e.value())) }
                        }
                    }
                }
                Field { name: "tags", label: "Tags", errors: errs("tags"),
                    hint: "one key=value per line; cascade to pools, instances and volumes; gha: is reserved",
                    textarea { id: "input-tags", "data-testid": "input-tags", rows: "3", value: "{f.tags}",
                        oninput: move |e| edit("tags", Box::new(move |f| f.tags = e.value())) }
                }
                CheckField { name: "disabled", label: "State", text: "disabled (routes no jobs)", checked: f.disabled, errors: errs("disabled"),
                    on_change: move |on| edit("disabled", Box::new(move |f| f.disabled = on)) }
                div { class: "actions",
                    button { class: "button primary", r#type: "submit", disabled: busy, "data-testid": "project-save",
                        if busy { "Saving…" } else { "Save project" }
                    }
                    button { class: "button", r#type: "button", onclick: move |_| on_cancel.call(()), "Cancel" }
                }
            }
        }
    }
}
