//! The pool editor's pickers: beside the AMI, subnets, security groups and instance profile
//! inputs, a "Browse…" button that loads what the AWS account holds (once per editor, again
//! only after a failure) and lists it to choose from: AMIs searchable by name, subnets with
//! zone, VPC, range and Name (choosing toggles one in the list), security groups of the chosen
//! subnets' VPCs (every VPC's while none is chosen; choosing toggles), instance profiles. A
//! failure shows in the list and never blocks typing the value.

use crate::api;
use crate::api::ops::inventory::{self as ops, AwsImage, AwsInstanceProfile, AwsSecurityGroup, AwsSubnet};
use crate::components::Notice;
use crate::format;
use crate::forms::split_list;
use dioxus::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Which input a picker fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PickKind {
    /// The AMI (one).
    Ami,
    /// The subnets (a list).
    Subnets,
    /// The security groups (a list).
    SecurityGroups,
    /// The IAM instance profile (one).
    InstanceProfile,
}

impl PickKind {
    /// The test id of its button (`pick-ami`, …); the list and its states add suffixes.
    fn testid(self) -> &'static str {
        match self {
            PickKind::Ami => "pick-ami",
            PickKind::Subnets => "pick-subnets",
            PickKind::SecurityGroups => "pick-security-groups",
            PickKind::InstanceProfile => "pick-instance-profile",
        }
    }

    /// What it lists, in words.
    fn what(self) -> &'static str {
        match self {
            PickKind::Ami => "AMIs",
            PickKind::Subnets => "subnets",
            PickKind::SecurityGroups => "security groups",
            PickKind::InstanceProfile => "instance profiles",
        }
    }

    /// Whether choosing toggles an id in a comma-separated list (else it replaces the value).
    pub(crate) fn is_list(self) -> bool {
        matches!(self, PickKind::Subnets | PickKind::SecurityGroups)
    }
}

/// A listing's state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Load<T> {
    /// Not asked yet.
    Idle,
    /// Asked; no answer yet.
    Loading,
    /// The answer.
    Ready(Vec<T>),
    /// Why it failed.
    Failed(String),
}

/// What the account holds, loaded on first browse and kept while the editor is open.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Inventory {
    images: Signal<Load<AwsImage>>,
    subnets: Signal<Load<AwsSubnet>>,
    groups: Signal<Load<AwsSecurityGroup>>,
    profiles: Signal<Load<AwsInstanceProfile>>,
}

/// The editor's inventory, empty until a picker is opened.
pub(crate) fn use_inventory() -> Inventory {
    Inventory {
        images: use_signal(|| Load::Idle),
        subnets: use_signal(|| Load::Idle),
        groups: use_signal(|| Load::Idle),
        profiles: use_signal(|| Load::Idle),
    }
}

/// Runs `operation` into `slot` (loading first), keeping the API's message on failure.
fn load<T, D, V>(mut slot: Signal<Load<T>>, operation: cynic::Operation<D, V>, take: fn(D) -> Vec<T>)
where
    T: 'static,
    D: DeserializeOwned + 'static,
    V: Serialize + 'static,
{
    slot.set(Load::Loading);
    spawn(async move {
        let answer = api::run(operation).await;
        slot.set(match answer {
            Ok(data) => Load::Ready(take(data)),
            Err(e) => Load::Failed(e.message),
        });
    });
}

/// Whether a listing still has to be asked for (never asked, or failed).
fn wanted<T: 'static>(slot: Signal<Load<T>>) -> bool {
    matches!(*slot.peek(), Load::Idle | Load::Failed(_))
}

impl Inventory {
    /// Starts loading what `kind` lists (security groups need the subnets' VPCs too), unless
    /// it is loaded or on its way.
    pub(crate) fn ensure(self, kind: PickKind) {
        if matches!(kind, PickKind::Subnets | PickKind::SecurityGroups) && wanted(self.subnets) {
            load(self.subnets, ops::aws_subnets(), |d| d.aws_subnets);
        }
        match kind {
            PickKind::Ami if wanted(self.images) => load(self.images, ops::aws_images(""), |d| d.aws_images),
            PickKind::SecurityGroups if wanted(self.groups) => {
                load(self.groups, ops::aws_security_groups(), |d| d.aws_security_groups)
            }
            PickKind::InstanceProfile if wanted(self.profiles) => {
                load(self.profiles, ops::aws_instance_profiles(), |d| d.aws_instance_profiles)
            }
            _ => {}
        }
    }

    /// Asks AWS again for the AMIs whose name contains `search`.
    fn search_images(self, search: &str) {
        load(self.images, ops::aws_images(search), |d| d.aws_images);
    }
}

/// One row of a picker.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Choice {
    /// What choosing it puts in the input.
    pub id: String,
    /// Its name.
    pub title: String,
    /// What else helps choose it.
    pub details: Vec<String>,
}

/// The day an AMI was created (`2026-01-05`), or a dash.
fn day(created_at: Option<&str>) -> String {
    created_at
        .and_then(format::parse_instant)
        .map_or_else(|| format::DASH.to_owned(), |t| t.date().to_string())
}

/// AMIs whose name or id contains `filter` (ignoring case), as choices.
pub(crate) fn image_choices(images: &[AwsImage], filter: &str) -> Vec<Choice> {
    let filter = filter.trim().to_lowercase();
    images
        .iter()
        .filter(|i| filter.is_empty() || i.name.to_lowercase().contains(&filter) || i.id.contains(&filter))
        .map(|i| Choice {
            id: i.id.clone(),
            title: i.name.clone(),
            details: vec![
                format!("owner {}", i.owner_id),
                i.architecture.clone(),
                day(i.created_at.as_deref()),
            ],
        })
        .collect()
}

/// Subnets as choices.
pub(crate) fn subnet_choices(subnets: &[AwsSubnet]) -> Vec<Choice> {
    subnets
        .iter()
        .map(|s| Choice {
            id: s.id.clone(),
            title: s.name.clone().unwrap_or_default(),
            details: vec![s.availability_zone.clone(), s.vpc_id.clone(), s.cidr_block.clone()],
        })
        .collect()
}

/// The security groups of the VPCs of the subnets chosen in `subnet_ids` (all of them while
/// none of the chosen subnets is known), as choices, with a note saying which VPCs they are.
pub(crate) fn group_choices(
    groups: &[AwsSecurityGroup],
    subnets: Option<&[AwsSubnet]>,
    subnet_ids: &str,
) -> (Vec<Choice>, String) {
    let chosen = split_list(subnet_ids);
    let mut vpcs: Vec<&str> = subnets
        .unwrap_or_default()
        .iter()
        .filter(|s| chosen.contains(&s.id))
        .map(|s| s.vpc_id.as_str())
        .collect();
    vpcs.sort_unstable();
    vpcs.dedup();
    let note = match (subnets, vpcs.as_slice()) {
        (None, _) => "every VPC's (the subnets could not be listed)".to_owned(),
        (_, []) => "every VPC's: choose subnets first to see only their VPC's".to_owned(),
        (_, [one]) => format!("of {one}, the chosen subnets' VPC"),
        (_, many) => format!("of {}, the chosen subnets' VPCs", many.join(", ")),
    };
    let choices = groups
        .iter()
        .filter(|g| vpcs.is_empty() || vpcs.contains(&g.vpc_id.as_str()))
        .map(|g| Choice {
            id: g.id.clone(),
            title: g.name.clone(),
            details: vec![g.vpc_id.clone(), g.description.clone()],
        })
        .collect();
    (choices, note)
}

/// Instance profiles as choices (by name, what a pool names).
pub(crate) fn profile_choices(profiles: &[AwsInstanceProfile]) -> Vec<Choice> {
    profiles
        .iter()
        .map(|p| Choice { id: p.name.clone(), title: String::new(), details: vec![p.arn.clone()] })
        .collect()
}

/// `list` (comma separated) with `id` removed when it holds it, else added at the end.
pub(crate) fn toggle(list: &str, id: &str) -> String {
    let mut ids = split_list(list);
    match ids.iter().position(|i| i == id) {
        Some(at) => {
            ids.remove(at);
        }
        None => ids.push(id.to_owned()),
    }
    ids.join(", ")
}

/// Whether the input's `value` already holds `id`.
fn holds(kind: PickKind, value: &str, id: &str) -> bool {
    let value = value.trim();
    match kind {
        PickKind::Subnets | PickKind::SecurityGroups => split_list(value).iter().any(|v| v == id),
        PickKind::Ami => value == id,
        PickKind::InstanceProfile => value == id || value.ends_with(&format!("/{id}")),
    }
}

/// The input's value after choosing `id`.
pub(crate) fn chosen(kind: PickKind, value: &str, id: &str) -> String {
    if kind.is_list() { toggle(value, id) } else { id.to_owned() }
}

/// The "Browse…" button beside an input.
#[component]
pub(crate) fn BrowseButton(kind: PickKind, open: bool, on_toggle: EventHandler<()>) -> Element {
    rsx! {
        button { class: if open { "button small active" } else { "button small" }, r#type: "button",
            "data-testid": kind.testid(), "aria-expanded": "{open}",
            title: "Choose from the {kind.what()} of the AWS account",
            onclick: move |_| on_toggle.call(()),
            "Browse…"
        }
    }
}

/// The list of one picker, under its row of the form: `value` is its input's text,
/// `subnet_ids` the subnets input's (security groups follow their VPCs); `on_pick` gets the
/// input's new text.
#[component]
pub(crate) fn PickerPanel(
    kind: PickKind,
    inventory: Inventory,
    value: String,
    subnet_ids: String,
    on_pick: EventHandler<String>,
    on_close: EventHandler<()>,
) -> Element {
    let mut search = use_signal(String::new);
    let stem = kind.testid();
    let subnets = inventory.subnets.read().clone();
    let (load, choices, note): (Load<()>, Vec<Choice>, Option<String>) = match kind {
        PickKind::Ami => match &*inventory.images.read() {
            Load::Ready(images) => (Load::Ready(Vec::new()), image_choices(images, &search.read()), None),
            other => (unit(other), Vec::new(), None),
        },
        PickKind::Subnets => match &subnets {
            Load::Ready(list) => (Load::Ready(Vec::new()), subnet_choices(list), None),
            other => (unit(other), Vec::new(), None),
        },
        PickKind::SecurityGroups => match (&*inventory.groups.read(), &subnets) {
            (_, Load::Idle | Load::Loading) => (Load::Loading, Vec::new(), None),
            (Load::Ready(groups), subnets) => {
                let known = match subnets {
                    Load::Ready(list) => Some(list.as_slice()),
                    _ => None,
                };
                let (choices, note) = group_choices(groups, known, &subnet_ids);
                (Load::Ready(Vec::new()), choices, Some(note))
            }
            (other, _) => (unit(other), Vec::new(), None),
        },
        PickKind::InstanceProfile => match &*inventory.profiles.read() {
            Load::Ready(profiles) => (Load::Ready(Vec::new()), profile_choices(profiles), None),
            other => (unit(other), Vec::new(), None),
        },
    };
    let hint = if kind.is_list() { "click to add or remove" } else { "click to use" };
    rsx! {
        div { class: "picker", "data-testid": "{stem}-list",
            div { class: "picker-head",
                strong { "The account's {kind.what()}" }
                if let Some(note) = note { span { class: "muted", "data-testid": "{stem}-note", "{note}" } }
                span { class: "muted small", "{hint}" }
                button { class: "icon-button", r#type: "button", title: "Close", onclick: move |_| on_close.call(()), "×" }
            }
            if kind == PickKind::Ami {
                // Inside the editor's form: Enter searches AWS instead of saving the pool.
                div { class: "picker-search",
                    input { "data-testid": "{stem}-search", placeholder: "filter by name, e.g. ubuntu", value: "{search}",
                        oninput: move |e| search.set(e.value()),
                        onkeydown: move |e: KeyboardEvent| {
                            if e.key() == Key::Enter {
                                e.prevent_default();
                                inventory.search_images(&search.peek());
                            }
                        } }
                    button { class: "button small", r#type: "button", "data-testid": "{stem}-search-aws",
                        title: "Ask AWS for the newest AMIs whose name contains this (case-sensitive)",
                        onclick: move |_| inventory.search_images(&search.peek()), "Search AWS" }
                }
            }
            match load {
                Load::Idle | Load::Loading => rsx! {
                    div { class: "loading", "data-testid": "{stem}-loading", "Loading {kind.what()} from AWS…" }
                },
                Load::Failed(message) => rsx! {
                    Notice { testid: "{stem}-error",
                        text: format!("Could not list the {}: {message}. You can still type the value.", kind.what()),
                        error: true }
                },
                Load::Ready(_) if choices.is_empty() => rsx! {
                    div { class: "muted", "data-testid": "{stem}-empty", "No {kind.what()} found." }
                },
                Load::Ready(_) => rsx! {
                    div { class: "picker-options", role: "listbox",
                        for choice in choices {
                            PickOption {
                                key: "{choice.id}",
                                chosen: holds(kind, &value, &choice.id),
                                on_pick: {
                                    let (value, id) = (value.clone(), choice.id.clone());
                                    move |_| on_pick.call(chosen(kind, &value, &id))
                                },
                                choice,
                            }
                        }
                    }
                },
            }
        }
    }
}

/// A listing's state without its items (what the panel shows besides the choices).
fn unit<T>(load: &Load<T>) -> Load<()> {
    match load {
        Load::Idle => Load::Idle,
        Load::Loading => Load::Loading,
        Load::Ready(_) => Load::Ready(Vec::new()),
        Load::Failed(message) => Load::Failed(message.clone()),
    }
}

/// One choice of a picker.
#[component]
fn PickOption(choice: Choice, chosen: bool, on_pick: EventHandler<()>) -> Element {
    let details = choice.details.iter().filter(|d| !d.is_empty()).cloned().collect::<Vec<_>>().join(" · ");
    rsx! {
        button { class: if chosen { "pick-option chosen" } else { "pick-option" }, r#type: "button",
            role: "option", "aria-selected": "{chosen}", "data-testid": "pick-option-{choice.id}",
            onclick: move |_| on_pick.call(()),
            span { class: "pick-mark", if chosen { "✓" } }
            span { class: "mono", "{choice.id}" }
            span { class: "pick-title", "{choice.title}" }
            span { class: "pick-details", "{details}" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, vpc: &str, zone: &str) -> AwsSubnet {
        AwsSubnet {
            id: id.into(),
            vpc_id: vpc.into(),
            availability_zone: zone.into(),
            cidr_block: "10.0.1.0/24".into(),
            name: None,
        }
    }

    fn group(id: &str, vpc: &str) -> AwsSecurityGroup {
        AwsSecurityGroup {
            id: id.into(),
            name: "default".into(),
            vpc_id: vpc.into(),
            description: String::new(),
        }
    }

    #[test]
    fn choosing_toggles_list_entries_and_replaces_single_values() {
        assert_eq!(toggle("", "subnet-1"), "subnet-1");
        assert_eq!(toggle("subnet-1", "subnet-2"), "subnet-1, subnet-2");
        assert_eq!(toggle("subnet-1, subnet-2,subnet-3", "subnet-2"), "subnet-1, subnet-3");
        assert_eq!(chosen(PickKind::SecurityGroups, "sg-1", "sg-1"), "");
        assert_eq!(chosen(PickKind::Ami, "ami-old", "ami-new"), "ami-new");
        assert!(holds(PickKind::InstanceProfile, "arn:aws:iam::1:instance-profile/ci/runner", "runner"));
        assert!(holds(PickKind::Subnets, "subnet-1, subnet-2", "subnet-2"));
        assert!(!holds(PickKind::Ami, "ami-12", "ami-1"));
    }

    #[test]
    fn security_groups_follow_the_chosen_subnets_vpcs() {
        let subnets = [subnet("subnet-a", "vpc-1", "us-east-1a"), subnet("subnet-b", "vpc-2", "us-east-1b")];
        let groups = [group("sg-1", "vpc-1"), group("sg-2", "vpc-2"), group("sg-3", "vpc-3")];
        let ids = |choices: Vec<Choice>| choices.into_iter().map(|c| c.id).collect::<Vec<_>>();
        let (only, note) = group_choices(&groups, Some(&subnets), "subnet-a");
        assert_eq!(
            (ids(only), note.as_str()),
            (vec!["sg-1".to_owned()], "of vpc-1, the chosen subnets' VPC")
        );
        let (two, _) = group_choices(&groups, Some(&subnets), "subnet-a, subnet-b");
        assert_eq!(ids(two), ["sg-1", "sg-2"]);
        let (all, note) = group_choices(&groups, Some(&subnets), "subnet-unknown");
        assert_eq!(ids(all).len(), 3);
        assert!(note.starts_with("every VPC's"), "{note}");
        let (all, note) = group_choices(&groups, None, "subnet-a");
        assert_eq!(ids(all).len(), 3);
        assert!(note.contains("could not be listed"), "{note}");
    }

    #[test]
    fn images_filter_by_name_and_show_owner_architecture_and_day() {
        let image = |id: &str, name: &str| AwsImage {
            id: id.into(),
            name: name.into(),
            owner_id: "137112412989".into(),
            architecture: "arm64".into(),
            created_at: Some("2025-12-08T20:14:02.000Z".into()),
        };
        let images = [image("ami-1", "al2023-ami-arm64"), image("ami-2", "Windows_Server-2022")];
        let found = image_choices(&images, " WINDOWS ");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].details, ["owner 137112412989", "arm64", "2025-12-08"]);
        assert_eq!(image_choices(&images, "").len(), 2);
        let subnets = subnet_choices(&[subnet("subnet-a", "vpc-1", "us-east-1a")]);
        assert_eq!(subnets[0].details, ["us-east-1a", "vpc-1", "10.0.1.0/24"]);
    }
}
