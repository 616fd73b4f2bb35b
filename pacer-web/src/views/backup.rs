//! Backup: download the configuration export, and import a backup (pasted or uploaded) in two
//! steps: a dry run previews every create, update and error, then "Apply" (only offered for a
//! clean preview of the exact same text) imports it all-or-nothing.

use super::util::use_title;
use crate::api;
use crate::api::ops::config::{self as ops, ImportResult};
use crate::components::{Field, ImportPreview, Notice};
use dioxus::prelude::*;

/// Largest backup the page sends (the server limits request bodies too).
const MAX_BACKUP_BYTES: usize = 4 * 1024 * 1024;

/// Checks the text is a JSON object before sending it, with a readable reason if not.
pub(crate) fn check_backup_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("paste a backup or choose a file".to_owned());
    }
    if text.len() > MAX_BACKUP_BYTES {
        return Err(format!("the backup is larger than {} MiB", MAX_BACKUP_BYTES / 1024 / 1024));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err("a backup is a JSON object ({\"version\": 1, \"projects\": [...]})".to_owned()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Whether "Apply" may be offered: a dry run of this exact text that found no error.
pub(crate) fn can_apply(preview: Option<&(String, ImportResult)>, text: &str) -> bool {
    preview.is_some_and(|(previewed, result)| previewed == text && result.dry_run && result.errors.is_empty())
}

/// The Backup page.
#[component]
pub(crate) fn Backup() -> Element {
    use_title("Backup");
    let mut text = use_signal(String::new);
    let mut file_name = use_signal(|| None::<String>);
    let mut input_error = use_signal(|| None::<String>);
    let mut server_error = use_signal(|| None::<String>);
    // The text a dry run was made of, with its result.
    let mut preview = use_signal(|| None::<(String, ImportResult)>);
    let mut applied = use_signal(|| None::<ImportResult>);
    let mut busy = use_signal(|| false);

    let mut run = move |dry_run: bool| {
        let body = text.peek().clone();
        if let Err(reason) = check_backup_text(&body) {
            input_error.set(Some(reason));
            return;
        }
        input_error.set(None);
        server_error.set(None);
        busy.set(true);
        spawn(async move {
            let result = api::run(ops::import_backup(body.clone(), dry_run)).await;
            busy.set(false);
            match result {
                Ok(d) if dry_run => {
                    applied.set(None);
                    preview.set(Some((body, d.import_backup)));
                }
                Ok(d) => {
                    preview.set(None);
                    applied.set(Some(d.import_backup));
                }
                Err(e) => {
                    let mut message = e.message;
                    for f in e.fields {
                        message.push_str(&format!("; {f}"));
                    }
                    server_error.set(Some(message));
                }
            }
        });
    };

    let load_file = move |evt: FormEvent| async move {
        let Some(file) = evt.files().into_iter().next() else { return };
        file_name.set(Some(file.name()));
        match file.read_string().await {
            Ok(contents) => {
                text.set(contents);
                input_error.set(None);
                applied.set(None);
            }
            Err(e) => input_error.set(Some(format!("could not read {}: {e}", file.name()))),
        }
    };

    let current = text();
    let apply_ok = can_apply(preview.read().as_ref(), &current);
    let stale = preview.read().as_ref().is_some_and(|(t, _)| *t != current);
    rsx! {
        div { class: "page", "data-testid": "page-backup",
            header { class: "page-head", h1 { "Backup" } }
            section { class: "card",
                header { class: "card-head", h2 { "Export" } }
                p { "Every project, pool and repo binding as JSON: only operator-edited configuration (no jobs, instances, audit, users or secrets)." }
                a { class: "button primary", href: "/api/backup/export", download: "pacer-backup.json", "data-testid": "backup-export",
                    "Download backup"
                }
            }
            section { class: "card",
                header { class: "card-head", h2 { "Import" } }
                p { class: "muted",
                    "Upserts by name (projects by name, pools by project and name, repos by owner/repo) and re-materialises pool launch templates. All or nothing: one invalid row and nothing changes."
                }
                div { class: "form",
                    Field { name: "import-file", label: "Backup file", errors: Vec::<String>::new(),
                        hint: file_name().map(|n| format!("loaded {n}")),
                        input { r#type: "file", id: "input-import-file", accept: ".json,application/json", "data-testid": "import-file",
                            onchange: load_file }
                    }
                    Field { name: "import-json", label: "…or paste it", errors: input_error().into_iter().collect::<Vec<_>>(),
                        textarea { id: "input-import-json", class: "mono", rows: "10", "data-testid": "import-json",
                            placeholder: "{{\"version\": 1, \"projects\": [...]}}",
                            value: "{current}",
                            oninput: move |e| {
                                text.set(e.value());
                                applied.set(None);
                            }
                        }
                    }
                    if let Some(message) = server_error() {
                        Notice { testid: "import-error", text: message, error: true }
                    }
                    div { class: "actions",
                        button { class: "button", r#type: "button", disabled: busy(), "data-testid": "import-dry-run",
                            onclick: move |_| run(true), "Preview (dry run)" }
                        button { class: "button primary", r#type: "button", disabled: busy() || !apply_ok, "data-testid": "import-apply",
                            title: if apply_ok { "Import exactly what the preview shows" } else { "Run a clean dry run of this text first" },
                            onclick: move |_| run(false), "Apply import" }
                        if stale {
                            span { class: "muted small", "data-testid": "import-stale", "The text changed since the preview: run the dry run again." }
                        }
                    }
                }
            }
            if let Some(result) = applied() {
                Notice { testid: "import-applied", text: "Import applied.".to_owned() }
                ImportPreview { result }
            } else if let Some((_, result)) = preview() {
                ImportPreview { result }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(dry_run: bool, errors: usize) -> ImportResult {
        ImportResult {
            dry_run,
            applied: !dry_run,
            items: vec![],
            projects_created: 0,
            projects_updated: 0,
            pools_created: 0,
            pools_updated: 0,
            repos_created: 0,
            repos_updated: 0,
            errors: (0..errors)
                .map(|i| ops::FieldErrorView {
                    field: format!("projects[{i}].name"),
                    message: "required".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn backup_text_is_checked_before_sending() {
        assert!(check_backup_text(r#"{"version":1,"projects":[]}"#).is_ok());
        assert!(check_backup_text("  ").is_err());
        assert!(check_backup_text("[1,2]").is_err());
        assert!(check_backup_text("{oops").expect_err("invalid").starts_with("not valid JSON"));
    }

    #[test]
    fn apply_needs_a_clean_dry_run_of_the_same_text() {
        let text = r#"{"version":1}"#;
        assert!(!can_apply(None, text));
        assert!(can_apply(Some(&(text.to_owned(), result(true, 0))), text));
        assert!(!can_apply(Some(&(text.to_owned(), result(true, 2))), text));
        assert!(!can_apply(Some(&(text.to_owned(), result(true, 0))), "{}"));
        assert!(!can_apply(Some(&(text.to_owned(), result(false, 0))), text));
    }
}
