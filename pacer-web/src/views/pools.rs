//! Pools: one row per materialised launch template with runs-on (shows and copies the
//! `runs-on:` line), copy, warm capacity (held and idle, why, and its dialog), edit and delete;
//! the default badge and disabled state; the editor with inline validation by
//! `PoolSpec::validate` and the server's field errors (AWS checks included) next to their
//! fields, and pickers of the account's AMIs, subnets, security groups and instance profiles
//! beside those inputs; saving reports the new launch template version.

use super::config_page::{RemovalText, run_removal, use_config_page};
use super::picker::{BrowseButton, PickKind, PickerPanel, use_inventory};
use super::scope::use_scope;
use super::util::{copy_to_clipboard, use_now, use_title};
use super::warm::WarmDialog;
use crate::api::ops::config::{self as ops, Pool, ProjectRef};
use crate::api::{self, ApiError};
use crate::components::{Badge, CheckField, Field, Loading, Modal, Notice, RowActions, WarmSummary};
use crate::format;
use crate::forms::{PoolForm, errors_for, split_list, use_form};
use dioxus::prelude::*;
use pacer_domain::{AllocationStrategy, SpawnMethod, runs_on_line};

/// What a saved pool's launch template is now, in words.
pub(crate) fn saved_message(pool: &Pool, verb: &str) -> String {
    match (&pool.launch_template_id, pool.launch_template_version) {
        (Some(id), Some(version)) => {
            format!("{verb} pool {}: launch template {id} is now at version {version}.", pool.name)
        }
        _ => format!("{verb} pool {}: its launch template is not materialised yet.", pool.name),
    }
}

/// Until when (UTC, to the minute) a spot pool that fell back launches on-demand, if still
/// at `now_ms`.
fn cooling_until(pool: &Pool, now_ms: i64) -> Option<String> {
    let until = pool.spot_cooldown_until.as_ref().and_then(|t| format::parse_instant(&t.0))?;
    (until.millis() > now_ms).then(|| format::instant(until)[11..16].to_owned())
}

/// The launch template cell.
fn template_text(pool: &Pool) -> String {
    match (&pool.launch_template_id, pool.launch_template_version) {
        (Some(id), Some(v)) => format!("{id} v{v}"),
        (Some(id), None) => id.clone(),
        _ => "not materialised".to_owned(),
    }
}

/// The Pools page.
#[component]
pub(crate) fn Pools() -> Element {
    use_title("Pools");
    let now = use_now(30_000);
    let mut data = use_resource(|| async { api::run(ops::pools()).await });
    let scope = use_scope();
    let page = use_config_page::<Pool>("pool-saved");
    let mut copying = use_signal(|| None::<Pool>);
    let mut warming = use_signal(|| None::<Pool>);
    let mut runs_on = use_signal(|| None::<(String, String)>);

    let projects: Vec<ProjectRef> = match &*data.read() {
        Some(Ok(d)) => d.projects.clone(),
        _ => Vec::new(),
    };
    let filter = scope.project_id().unwrap_or_default();
    let body = match &*data.read() {
        None => rsx! { Loading {} },
        Some(Err(e)) => rsx! { Notice { testid: "pools-error", text: e.message.clone(), error: true } },
        Some(Ok(d)) => {
            let pools: Vec<Pool> =
                d.pools.iter().filter(|p| filter.is_empty() || p.project_id == filter).cloned().collect();
            rsx! {
                table { class: "table", "data-testid": "pools-table",
                    thead {
                        tr {
                            th { "Pool" }
                            th { "Project" }
                            th { "AMI" }
                            th { "Instance types" }
                            th { class: "num", "Active / cap" }
                            th { "Market" }
                            th { "Warm" }
                            th { "Launch template" }
                            th {}
                        }
                    }
                    tbody {
                        if pools.is_empty() {
                            tr { td { colspan: "9", class: "empty", "No pools yet: a pool is one launch template shape inside a project." } }
                        }
                        for p in pools {
                            tr { key: "{p.id}", class: if p.disabled { "row-disabled" } else { "" },
                                "data-testid": "pool-row", "data-name": "{p.name}", "data-project": "{p.project_name}",
                                td { class: "strong", "{p.name} "
                                    if p.is_default { Badge { text: "default", tone: "tone-blue", testid: "default-badge" } }
                                    if p.disabled { Badge { text: "disabled", testid: "disabled-badge" } }
                                }
                                td { "{p.project_name}" }
                                td { class: "mono", "{p.ami_id}" }
                                td { class: "mono", "{p.instance_types.join(\", \")}" }
                                td { class: "num", "{format::count(p.active_jobs)} / {format::count(p.cap)}" }
                                td {
                                    if p.spot {
                                        if p.on_demand_fallback { "spot → on-demand" } else { "spot" }
                                    } else {
                                        "on-demand"
                                    }
                                    if let Some(until) = cooling_until(&p, now()) {
                                        " "
                                        Badge { text: format!("on-demand until {until}"), tone: "tone-amber", testid: "spot-cooldown" }
                                    }
                                }
                                td {
                                    match p.warm.clone() {
                                        Some(warm) => rsx! { WarmSummary { warm } },
                                        None => rsx! { span { class: "muted", "off" } },
                                    }
                                }
                                td { class: "mono", "data-testid": "pool-template", "{template_text(&p)}" }
                                RowActions { kind: "pool", remove_label: "delete",
                                    on_edit: page.edits(p.clone()),
                                    on_remove: page.asks_removal(p.clone()),
                                    button { class: "button small", r#type: "button", "data-testid": "pool-runs-on",
                                        title: "Copy the runs-on: line that selects this pool",
                                        onclick: {
                                            let p = p.clone();
                                            move |_| {
                                                copy_to_clipboard(&p.runs_on);
                                                runs_on.set(Some((p.name.clone(), p.runs_on.clone())));
                                            }
                                        },
                                        "runs-on"
                                    }
                                    button { class: "button small", r#type: "button", "data-testid": "pool-copy",
                                        onclick: {
                                            let p = p.clone();
                                            move |_| copying.set(Some(p.clone()))
                                        },
                                        "copy"
                                    }
                                    button { class: "button small", r#type: "button", "data-testid": "pool-warm-edit",
                                        title: "Instances this pool holds booted before jobs ask, so jobs start in seconds",
                                        onclick: {
                                            let p = p.clone();
                                            move |_| warming.set(Some(p.clone()))
                                        },
                                        "warm"
                                    }
                                    button { class: "button small", r#type: "button", "data-testid": "pool-rotate-token",
                                        title: "Give this pool a new bootstrap token (the old one stays valid while its instances may still boot)",
                                        onclick: {
                                            let p = p.clone();
                                            move |_| {
                                                let p = p.clone();
                                                spawn(async move {
                                                    match api::run(ops::rotate_pool_bootstrap_token(&p.id)).await {
                                                        Ok(d) => page.tell(saved_message(&d.rotate_pool_bootstrap_token, "Rotated the bootstrap token of")),
                                                        Err(e) => page.warn(format!("Could not rotate the bootstrap token of pool {}: {}", p.name, e.message)),
                                                    }
                                                    data.restart();
                                                });
                                            }
                                        },
                                        "rotate token"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };

    rsx! {
        div { class: "page", "data-testid": "page-pools",
            header { class: "page-head",
                h1 { "Pools" }
                div { class: "toolbar push-right",
                    button { class: "button primary", r#type: "button", "data-testid": "pool-new",
                        disabled: projects.is_empty(),
                        title: if projects.is_empty() { "Create a project first" } else { "" },
                        onclick: move |_| page.create(), "+ new pool" }
                }
            }
            if let Some(text) = page.problem() {
                Notice { testid: "pool-problem", text, error: true }
            }
            if let Some((name, line)) = runs_on() {
                div { class: "notice runs-on", "data-testid": "runs-on-panel",
                    span { "Workflows land on pool {name} with (copied to the clipboard):" }
                    code { "data-testid": "runs-on-line", "{line}" }
                    button { class: "icon-button", r#type: "button", title: "Close", onclick: move |_| runs_on.set(None), "×" }
                }
            }
            {body}
            if page.editor_open() {
                PoolEditor {
                    existing: page.editing(),
                    projects: projects.clone(),
                    on_cancel: move |_| page.close_editor(),
                    on_saved: move |message: String| {
                        page.saved(message);
                        data.restart();
                    },
                }
            }
            if let Some(source) = copying() {
                CopyDialog {
                    source,
                    on_cancel: move |_| copying.set(None),
                    on_copied: move |copy: Pool| {
                        copying.set(None);
                        page.tell(saved_message(&copy, "Created"));
                        data.restart();
                    },
                }
            }
            if let Some(pool) = warming() {
                WarmDialog {
                    pool,
                    on_cancel: move |_| warming.set(None),
                    on_saved: move |message: String| {
                        warming.set(None);
                        page.tell(message);
                        data.restart();
                    },
                }
            }
            {page.removal_dialog(
                |p| RemovalText {
                    title: "Delete pool",
                    message: format!("Delete pool {} of {}? Its launch template is deleted too; running jobs finish.", p.name, p.project_name),
                    confirm_label: "Delete",
                },
                |pool: Pool| run_removal(
                    ops::delete_pool(&pool.id),
                    |d| d.delete_pool,
                    format!("Deleted pool {}.", pool.name),
                    format!("Pool {} was not deleted.", pool.name),
                ),
                move || data.restart(),
            )}
        }
    }
}

#[component]
fn CopyDialog(source: Pool, on_cancel: EventHandler<()>, on_copied: EventHandler<Pool>) -> Element {
    let mut name = use_signal(|| format!("{}-copy", source.name));
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    let id = source.id.clone();
    let submit = move |e: FormEvent| {
        e.prevent_default();
        busy.set(true);
        let id = id.clone();
        spawn(async move {
            let wanted = name.peek().trim().to_owned();
            let result = api::run(ops::copy_pool(&id, (!wanted.is_empty()).then_some(wanted))).await;
            busy.set(false);
            match result {
                Ok(d) => on_copied.call(d.copy_pool),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let field_errors = error.read().as_ref().map(|e| errors_for("name", &e.fields)).unwrap_or_default();
    let general = error.read().as_ref().filter(|e| e.fields.is_empty()).map(|e| e.message.clone());
    rsx! {
        Modal { testid: "pool-copy-dialog", title: format!("Copy pool {}", source.name), on_close: move |_| on_cancel.call(()),
            form { class: "form", onsubmit: submit,
                if let Some(message) = general {
                    Notice { testid: "form-error", text: message, error: true }
                }
                Field { name: "name", label: "Name of the copy", errors: field_errors,
                    hint: "same project; a new launch template is created",
                    input { id: "input-name", "data-testid": "input-name", value: "{name}",
                        oninput: move |e| { name.set(e.value()); error.set(None); } }
                }
                div { class: "actions",
                    button { class: "button primary", r#type: "submit", disabled: busy(), "data-testid": "pool-copy-save", "Copy pool" }
                    button { class: "button", r#type: "button", onclick: move |_| on_cancel.call(()), "Cancel" }
                }
            }
        }
    }
}

const SPAWN_METHODS: [SpawnMethod; 2] = [SpawnMethod::Fleet, SpawnMethod::RunInstances];
const ALLOCATIONS: [AllocationStrategy; 4] = [
    AllocationStrategy::Cost,
    AllocationStrategy::LowestPrice,
    AllocationStrategy::Capacity,
    AllocationStrategy::Priority,
];

#[component]
fn PoolEditor(
    existing: Option<Pool>,
    projects: Vec<ProjectRef>,
    on_cancel: EventHandler<()>,
    on_saved: EventHandler<String>,
) -> Element {
    let id = existing.as_ref().map(|p| p.id.clone());
    let initial = existing.as_ref().map(PoolForm::from_pool).unwrap_or_else(|| PoolForm {
        project_id: projects.first().map(|p| p.id.to_string()).unwrap_or_default(),
        ..PoolForm::default()
    });
    let mut form = use_form(move || initial);
    let (shown, general) = form.errors();
    let errs = |key: &str| errors_for(key, &shown);
    let mut edit = move |field: &'static str, apply: Box<dyn FnOnce(&mut PoolForm)>| form.edit(field, apply);
    let inventory = use_inventory();
    let mut picking = use_signal(|| None::<PickKind>);
    let mut browse = move |kind: PickKind| {
        if picking() == Some(kind) {
            picking.set(None);
        } else {
            inventory.ensure(kind);
            picking.set(Some(kind));
        }
    };
    let mut pick = move |kind: PickKind, value: String| {
        match kind {
            PickKind::Ami => edit("ami_id", Box::new(move |f| f.ami_id = value)),
            PickKind::Subnets => edit("subnet_ids", Box::new(move |f| f.subnet_ids = value)),
            PickKind::SecurityGroups => {
                edit("security_group_ids", Box::new(move |f| f.security_group_ids = value))
            }
            PickKind::InstanceProfile => {
                edit("iam_instance_profile", Box::new(move |f| f.iam_instance_profile = value))
            }
        }
        if !kind.is_list() {
            picking.set(None);
        }
    };

    let save_id = id.clone();
    let save = move |e: FormEvent| {
        e.prevent_default();
        let Some((current, spec)) = form.submit() else { return };
        let id = save_id.clone();
        spawn(async move {
            let result = match id {
                Some(id) => api::run(ops::update_pool(&id, &spec))
                    .await
                    .map(|d| saved_message(&d.update_pool, "Saved")),
                None => api::run(ops::create_pool(&current.project_id, &spec))
                    .await
                    .map(|d| saved_message(&d.create_pool, "Created")),
            };
            if let Some(message) = form.finish(result) {
                on_saved.call(message);
            }
        });
    };

    let f = form.value();
    let busy = form.busy();
    let editing = id.is_some();
    let project_name =
        projects.iter().find(|p| *p.id == f.project_id).map(|p| p.name.clone()).unwrap_or_default();
    let preview = runs_on_line(&project_name, f.name.trim(), &split_list(&f.extra_labels));
    let allocation_fixed = f.spawn_method.fixed_allocation().is_some();
    let title = match &existing {
        Some(p) => format!("Edit pool {} ({})", p.name, template_text(p)),
        None => "New pool".to_owned(),
    };
    rsx! {
        Modal { testid: "pool-editor", title, on_close: move |_| on_cancel.call(()), wide: true,
            form { class: "form", onsubmit: save, novalidate: true,
                for message in general {
                    Notice { testid: "form-error", text: message, error: true }
                }
                div { class: "row",
                    Field { name: "project_id", label: "Project", errors: errs("project_id"),
                        select { id: "input-project_id", "data-testid": "input-project_id", disabled: editing,
                            onchange: move |e| edit("project_id", Box::new(move |f| f.project_id = e.value())),
                            for p in projects.clone() {
                                option { value: "{p.id}", selected: f.project_id == p.id, "{p.name}" }
                            }
                        }
                    }
                    Field { name: "name", label: "Name", errors: errs("name"),
                        input { id: "input-name", "data-testid": "input-name", value: "{f.name}",
                            oninput: move |e| edit("name", Box::new(move |f| f.name = e.value())) }
                    }
                    Field { name: "priority", label: "Priority", errors: errs("priority"), hint: "lower wins",
                        input { id: "input-priority", "data-testid": "input-priority", inputmode: "numeric", value: "{f.priority}",
                            oninput: move |e| edit("priority", Box::new(move |f| f.priority = e.value())) }
                    }
                }
                div { class: "runs-on-preview", "data-testid": "runs-on-preview", code { "{preview}" } }
                div { class: "row",
                    Field { name: "ami_id", label: "AMI", errors: errs("ami_id"),
                        div { class: "with-picker",
                            input { id: "input-ami_id", "data-testid": "input-ami_id", placeholder: "ami-0123456789abcdef0", value: "{f.ami_id}",
                                oninput: move |e| edit("ami_id", Box::new(move |f| f.ami_id = e.value())) }
                            BrowseButton { kind: PickKind::Ami, open: picking() == Some(PickKind::Ami), on_toggle: move |_| browse(PickKind::Ami) }
                        }
                    }
                    Field { name: "instance_types", label: "Instance types", errors: errs("instance_types"),
                        hint: "comma separated, in order (the order counts with allocation = priority)",
                        input { id: "input-instance_types", "data-testid": "input-instance_types", placeholder: "m7i.large, c7i.large",
                            value: "{f.instance_types}",
                            oninput: move |e| edit("instance_types", Box::new(move |f| f.instance_types = e.value())) }
                    }
                }
                if picking() == Some(PickKind::Ami) {
                    PickerPanel { kind: PickKind::Ami, inventory, value: f.ami_id.clone(), subnet_ids: f.subnet_ids.clone(),
                        on_pick: move |value| pick(PickKind::Ami, value), on_close: move |_| picking.set(None) }
                }
                div { class: "row",
                    Field { name: "subnet_ids", label: "Subnets", errors: errs("subnet_ids"),
                        hint: "comma separated; run_instances uses the first only",
                        div { class: "with-picker",
                            input { id: "input-subnet_ids", "data-testid": "input-subnet_ids", value: "{f.subnet_ids}",
                                oninput: move |e| edit("subnet_ids", Box::new(move |f| f.subnet_ids = e.value())) }
                            BrowseButton { kind: PickKind::Subnets, open: picking() == Some(PickKind::Subnets), on_toggle: move |_| browse(PickKind::Subnets) }
                        }
                    }
                    Field { name: "security_group_ids", label: "Security groups", errors: errs("security_group_ids"),
                        div { class: "with-picker",
                            input { id: "input-security_group_ids", "data-testid": "input-security_group_ids", value: "{f.security_group_ids}",
                                oninput: move |e| edit("security_group_ids", Box::new(move |f| f.security_group_ids = e.value())) }
                            BrowseButton { kind: PickKind::SecurityGroups, open: picking() == Some(PickKind::SecurityGroups), on_toggle: move |_| browse(PickKind::SecurityGroups) }
                        }
                    }
                    Field { name: "iam_instance_profile", label: "IAM instance profile", errors: errs("iam_instance_profile"),
                        hint: "optional; name or ARN",
                        div { class: "with-picker",
                            input { id: "input-iam_instance_profile", "data-testid": "input-iam_instance_profile", value: "{f.iam_instance_profile}",
                                oninput: move |e| edit("iam_instance_profile", Box::new(move |f| f.iam_instance_profile = e.value())) }
                            BrowseButton { kind: PickKind::InstanceProfile, open: picking() == Some(PickKind::InstanceProfile), on_toggle: move |_| browse(PickKind::InstanceProfile) }
                        }
                    }
                }
                if let Some(kind) = picking().filter(|k| *k != PickKind::Ami) {
                    PickerPanel { kind, inventory,
                        value: match kind {
                            PickKind::Subnets => f.subnet_ids.clone(),
                            PickKind::SecurityGroups => f.security_group_ids.clone(),
                            _ => f.iam_instance_profile.clone(),
                        },
                        subnet_ids: f.subnet_ids.clone(),
                        on_pick: move |value| pick(kind, value), on_close: move |_| picking.set(None) }
                }
                div { class: "row",
                    Field { name: "cap", label: "Concurrency cap", errors: errs("cap"),
                        input { id: "input-cap", "data-testid": "input-cap", inputmode: "numeric", value: "{f.cap}",
                            oninput: move |e| edit("cap", Box::new(move |f| f.cap = e.value())) }
                    }
                    Field { name: "max_runtime_minutes", label: "Max runtime (min)", errors: errs("max_runtime_minutes"),
                        hint: "reaped after this",
                        input { id: "input-max_runtime_minutes", "data-testid": "input-max_runtime_minutes", inputmode: "numeric",
                            value: "{f.max_runtime_minutes}",
                            oninput: move |e| edit("max_runtime_minutes", Box::new(move |f| f.max_runtime_minutes = e.value())) }
                    }
                    Field { name: "root_volume_gb", label: "Root volume (GiB)", errors: errs("root_volume_gb"), hint: "0 = the AMI's size",
                        input { id: "input-root_volume_gb", "data-testid": "input-root_volume_gb", inputmode: "numeric",
                            value: "{f.root_volume_gb}",
                            oninput: move |e| edit("root_volume_gb", Box::new(move |f| f.root_volume_gb = e.value())) }
                    }
                }
                div { class: "row",
                    Field { name: "spawn_method", label: "Spawn method", errors: errs("spawn_method"),
                        select { id: "input-spawn_method", "data-testid": "input-spawn_method",
                            onchange: move |e| edit("spawn_method", Box::new(move |f| f.set_spawn_method(SpawnMethod::parse(&e.value()).unwrap_or_default()))),
                            for m in SPAWN_METHODS {
                                option { value: "{m.as_str()}", selected: f.spawn_method == m, "{m.as_str()}" }
                            }
                        }
                    }
                    Field { name: "allocation_strategy", label: "Allocation strategy", errors: errs("allocation_strategy"),
                        hint: f.allocation_hint(),
                        select { id: "input-allocation_strategy", "data-testid": "input-allocation_strategy",
                            disabled: allocation_fixed,
                            onchange: move |e| edit("allocation_strategy", Box::new(move |f| f.allocation_strategy = AllocationStrategy::parse(&e.value()).unwrap_or_default())),
                            for a in ALLOCATIONS {
                                option { value: "{a.as_str()}", title: "{a.describe()}", selected: f.allocation_strategy == a, "{a.as_str()}" }
                            }
                        }
                    }
                    CheckField { name: "spot", label: "Market", text: "spot", checked: f.spot, errors: errs("spot"),
                        on_change: move |on| edit("spot", Box::new(move |f| f.spot = on)) }
                    CheckField { name: "on_demand_fallback", label: "Fallback", text: "on-demand after a spot capacity failure", checked: f.on_demand_fallback, errors: errs("on_demand_fallback"),
                        on_change: move |on| edit("on_demand_fallback", Box::new(move |f| f.on_demand_fallback = on)) }
                }
                div { class: "row",
                    Field { name: "extra_labels", label: "Extra runner labels", errors: errs("extra_labels"),
                        hint: "comma separated; sanitised like GitHub labels",
                        input { id: "input-extra_labels", "data-testid": "input-extra_labels", value: "{f.extra_labels}",
                            oninput: move |e| edit("extra_labels", Box::new(move |f| f.extra_labels = e.value())) }
                    }
                    Field { name: "tags", label: "Tags", errors: errs("tags"), hint: "key=value per line; override project tags",
                        textarea { id: "input-tags", "data-testid": "input-tags", rows: "2", value: "{f.tags}",
                            oninput: move |e| edit("tags", Box::new(move |f| f.tags = e.value())) }
                    }
                }
                div { class: "row",
                    Field { name: "runner_version", label: "Runner version", errors: errs("runner_version"), hint: "optional pin, e.g. 2.321.0",
                        input { id: "input-runner_version", "data-testid": "input-runner_version", value: "{f.runner_version}",
                            oninput: move |e| edit("runner_version", Box::new(move |f| f.runner_version = e.value())) }
                    }
                    Field { name: "runner_user", label: "Runner user", errors: errs("runner_user"), hint: "optional POSIX user",
                        input { id: "input-runner_user", "data-testid": "input-runner_user", value: "{f.runner_user}",
                            oninput: move |e| edit("runner_user", Box::new(move |f| f.runner_user = e.value())) }
                    }
                }
                Field { name: "user_data_extra", label: "Extra user data", errors: errs("user_data_extra"),
                    hint: "optional shell run before the runner starts",
                    textarea { id: "input-user_data_extra", "data-testid": "input-user_data_extra", rows: "3", class: "mono",
                        value: "{f.user_data_extra}",
                        oninput: move |e| edit("user_data_extra", Box::new(move |f| f.user_data_extra = e.value())) }
                }
                div { class: "row",
                    CheckField { name: "is_default", label: "Default", text: "the project's catch-all pool", checked: f.is_default, errors: errs("is_default"),
                        on_change: move |on| edit("is_default", Box::new(move |f| f.is_default = on)) }
                    CheckField { name: "disabled", label: "State", text: "disabled (matches no job)", checked: f.disabled, errors: errs("disabled"),
                        on_change: move |on| edit("disabled", Box::new(move |f| f.disabled = on)) }
                }
                div { class: "actions",
                    button { class: "button primary", r#type: "submit", disabled: busy, "data-testid": "pool-save",
                        if busy { "Saving and materialising…" } else if editing { "Save pool" } else { "Create pool" }
                    }
                    button { class: "button", r#type: "button", onclick: move |_| on_cancel.call(()), "Cancel" }
                    span { class: "muted small", "Saving validates against AWS and writes a new launch template version." }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_messages_name_the_template_version() {
        let json = r#"{"id":"3","projectId":"1","projectName":"platform","name":"big","isDefault":false,"priority":100,
            "amiId":"ami-0123456789abcdef0","instanceTypes":["m7i.large"],"subnetIds":["subnet-0123456789abcdef0"],
            "securityGroupIds":[],"iamInstanceProfile":null,"rootVolumeGb":0,"maxRuntimeMinutes":60,"cap":5,
            "spot":false,"onDemandFallback":false,"spotCooldownUntil":null,"spawnMethod":"FLEET","allocationStrategy":"COST","extraLabels":[],
            "tags":[],"runnerVersion":null,"runnerUser":null,"userDataExtra":null,"disabled":false,
            "launchTemplateId":"lt-0abc","launchTemplateVersion":4,"runsOn":"runs-on: [self-hosted, platform, big]",
            "activeJobs":0,"warm":null}"#;
        let mut pool: Pool = serde_json::from_str(json).expect("pool");
        assert_eq!(
            saved_message(&pool, "Saved"),
            "Saved pool big: launch template lt-0abc is now at version 4."
        );
        assert_eq!(template_text(&pool), "lt-0abc v4");
        pool.launch_template_id = None;
        pool.launch_template_version = None;
        assert_eq!(template_text(&pool), "not materialised");
    }

    #[test]
    fn a_cooling_spot_pool_says_until_when_it_launches_on_demand() {
        let json = r#"{"id":"3","projectId":"1","projectName":"platform","name":"cheap","isDefault":false,"priority":100,
            "amiId":"ami-0123456789abcdef0","instanceTypes":["m7i.large"],"subnetIds":["subnet-0123456789abcdef0"],
            "securityGroupIds":[],"iamInstanceProfile":null,"rootVolumeGb":0,"maxRuntimeMinutes":60,"cap":5,
            "spot":true,"onDemandFallback":true,"spotCooldownUntil":"2026-12-06T10:40:00Z","spawnMethod":"FLEET",
            "allocationStrategy":"COST","extraLabels":[],"tags":[],"runnerVersion":null,"runnerUser":null,
            "userDataExtra":null,"disabled":false,"launchTemplateId":"lt-0abc","launchTemplateVersion":4,
            "runsOn":"runs-on: [self-hosted, platform, cheap]","activeJobs":0,"warm":null}"#;
        let pool: Pool = serde_json::from_str(json).expect("pool");
        let until = format::parse_instant("2026-12-06T10:40:00Z").expect("instant").millis();
        assert_eq!(cooling_until(&pool, until - 1).as_deref(), Some("10:40"));
        assert_eq!(cooling_until(&pool, until), None, "over: spot again");
    }

    #[test]
    fn a_run_instances_pool_opens_with_the_cost_strategy() {
        let json = r#"{"id":"4","projectId":"1","projectName":"platform","name":"gpu","isDefault":false,"priority":10,
            "amiId":"ami-0123456789abcdef0","instanceTypes":["g5.xlarge"],"subnetIds":["subnet-0123456789abcdef0"],
            "securityGroupIds":[],"iamInstanceProfile":null,"rootVolumeGb":0,"maxRuntimeMinutes":60,"cap":2,
            "spot":false,"onDemandFallback":false,"spotCooldownUntil":null,"spawnMethod":"RUN_INSTANCES","allocationStrategy":"PRIORITY","extraLabels":[],
            "tags":[],"runnerVersion":null,"runnerUser":null,"userDataExtra":null,"disabled":false,
            "launchTemplateId":"lt-0abc","launchTemplateVersion":1,"runsOn":"runs-on: [self-hosted, platform, gpu]",
            "activeJobs":0,"warm":null}"#;
        let pool: Pool = serde_json::from_str(json).expect("pool");
        let form = PoolForm::from_pool(&pool);
        assert_eq!(
            form.allocation_strategy,
            AllocationStrategy::Cost,
            "recorded before the rule: shown as held"
        );
        assert!(form.allocation_hint().starts_with("fixed to cost"), "{}", form.allocation_hint());
    }
}
