//! The project scope: one project (or all) chosen once in the sidebar and applied to Jobs,
//! Stats, Repos, Pools and Overview, kept in the browser (local storage `pacer.scope`) across
//! reloads. A kept project that no longer exists reads as all projects.

use crate::api;
use crate::api::ops::config::{self as ops, ProjectRef};
use dioxus::prelude::*;

/// Where the choice is kept.
const KEY: &str = "pacer.scope";

/// The project the pages show, `None` for all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scoped {
    /// The project's id.
    pub id: String,
    /// Its name (job rows carry names).
    pub name: String,
}

/// The shell's scope, a `Copy` handle any page takes from the context.
#[derive(Clone, Copy)]
pub(crate) struct Scope(Signal<Option<Scoped>>);

impl Scope {
    /// The project chosen, if any (subscribes the caller to changes).
    pub(crate) fn project(&self) -> Option<Scoped> {
        (self.0)()
    }

    /// The chosen project's id, for the API's `projectId`.
    pub(crate) fn project_id(&self) -> Option<String> {
        self.project().map(|p| p.id)
    }

    /// Whether a job of project `name` is in scope.
    pub(crate) fn admits(&self, name: &str) -> bool {
        self.0.peek().as_ref().is_none_or(|p| p.name == name)
    }

    fn choose(mut self, project: Option<Scoped>) {
        api::store(KEY, project.as_ref().map(|p| p.id.as_str()));
        self.0.set(project);
    }
}

/// Provides the scope to every page below (the shell calls it once): none until the projects
/// are known, then the kept one if it still exists.
pub(crate) fn use_scope_provider() -> Scope {
    use_context_provider(|| Scope(Signal::new(None)))
}

/// The scope the shell provides.
pub(crate) fn use_scope() -> Scope {
    use_context()
}

/// The kept project among `projects`, if it still exists.
pub(crate) fn kept(projects: &[ProjectRef], stored: Option<&str>) -> Option<Scoped> {
    let id = stored?;
    projects.iter().find(|p| p.id.0 == id).map(|p| Scoped { id: p.id.0.clone(), name: p.name.clone() })
}

/// The switcher in the sidebar.
#[component]
pub(crate) fn ScopeSwitcher() -> Element {
    let scope = use_scope();
    let projects = use_resource(move || async move {
        let projects = api::run(ops::project_refs()).await.map(|d| d.projects).unwrap_or_default();
        let Scope(mut chosen) = scope;
        let kept = kept(&projects, api::stored(KEY).as_deref());
        if *chosen.peek() != kept {
            chosen.set(kept);
        }
        projects
    });
    let current = scope.project_id().unwrap_or_default();
    let list = projects.read().clone().unwrap_or_default();
    rsx! {
        label { class: "scope", "data-testid": "scope",
            span { class: "nav-group", "Project" }
            select { "data-testid": "scope-select", title: "The project Jobs, Stats, Repos, Pools and Overview show",
                onchange: move |e: FormEvent| {
                    let value = e.value();
                    let list = projects.peek().clone().unwrap_or_default();
                    scope.choose(kept(&list, Some(value.as_str())));
                },
                option { value: "", selected: current.is_empty(), "All projects" }
                for p in list {
                    option { key: "{p.id}", value: "{p.id}", selected: current == p.id.0, "{p.name}" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ops::Scope as Binding;

    #[test]
    fn a_kept_project_that_is_gone_reads_as_all_projects() {
        let projects = vec![
            ProjectRef { id: "1".into(), name: "platform".into(), scope: Binding::Repo },
            ProjectRef { id: "2".into(), name: "data".into(), scope: Binding::Org },
        ];
        assert_eq!(kept(&projects, Some("2")), Some(Scoped { id: "2".into(), name: "data".into() }));
        assert_eq!(kept(&projects, Some("9")), None, "deleted since");
        assert_eq!(kept(&projects, None), None);
    }
}
