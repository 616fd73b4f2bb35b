//! Editor state for projects, pools, pools' warm capacity and repo bindings as the operator
//! types it (text), turned into the domain specs so the shared validators
//! (`ProjectSpec::validate`, `validate_warm`, …) check it exactly as the server will (the
//! GraphQL inputs are built from those specs in `api::ops::config`). Field errors use the
//! domain's snake_case paths (`instance_types[1]`, `tags.gha:x`, `sizing.windows[0].from`)
//! whether they come from here or from the server, so one display routine puts both next to the
//! right field. [`Editor`] says which editor a page has open and [`use_form`] holds the state
//! every editor shares (the form, which fields were touched, whether a save was tried, the
//! server's answer, a save in flight).

use crate::api::ApiError;
use crate::api::ops::Tag;
use crate::api::ops::config::{self as ops, Pool, Project, Repo, WEEKDAYS, WarmMode};
use dioxus::prelude::*;
use pacer_domain::{
    AllocationStrategy, DEFAULT_WARM_MAX_AGE_MINUTES, FieldError, PoolSpec, ProjectSpec, RepoSpec, Scope,
    SpawnMethod, Tags, WarmCounts, WarmSizing, WarmSpec, WarmWindow, validate_warm,
};

/// Errors belonging to the field `key` of a form: the field itself and its sub-paths
/// (`instance_types[1]`, `tags.team`, `sizing.windows[0].from`), each as the text to show next
/// to it.
pub(crate) fn errors_for(key: &str, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .filter_map(|e| {
            let rest = e.field.strip_prefix(key)?;
            if rest.is_empty() {
                Some(e.message.clone())
            } else if let Some((index, sub)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
                let n = index.parse::<usize>().map_or_else(|_| index.to_owned(), |i| (i + 1).to_string());
                if sub.is_empty() {
                    Some(format!("item {n}: {}", e.message))
                } else {
                    sub.strip_prefix('.').map(|sub| format!("item {n}: {sub}: {}", e.message))
                }
            } else {
                rest.strip_prefix('.').map(|sub| format!("{sub}: {}", e.message))
            }
        })
        .collect()
}

/// Errors that belong to none of `keys` (shown above the form).
pub(crate) fn unplaced_errors(keys: &[&str], errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .filter(|e| !keys.iter().any(|k| !errors_for(k, std::slice::from_ref(e)).is_empty()))
        .map(ToString::to_string)
        .collect()
}

/// What an editor shows: its own errors for the fields the operator has touched (every field
/// after a submit attempt), then the server's field errors; and, apart, the messages that
/// belong to none of `fields` (a server error without a field included).
pub(crate) fn editor_errors(
    local: &[FieldError],
    touched: &[&str],
    submitted: bool,
    server: Option<&ApiError>,
    fields: &[&str],
) -> (Vec<FieldError>, Vec<String>) {
    let mut shown: Vec<FieldError> = local
        .iter()
        .filter(|e| submitted || touched.iter().any(|t| !errors_for(t, std::slice::from_ref(e)).is_empty()))
        .cloned()
        .collect();
    if let Some(err) = server {
        shown.extend(err.fields.iter().cloned());
    }
    let mut general = unplaced_errors(fields, &shown);
    if let Some(err) = server.filter(|e| e.fields.is_empty()) {
        general.push(err.message.clone());
    }
    (shown, general)
}

/// Which editor a page shows: none, an empty one for a new item, or one filled from `T`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Editor<T> {
    /// No editor open.
    #[default]
    Closed,
    /// Creating a new item.
    New,
    /// Editing this item.
    Editing(T),
}

impl<T> Editor<T> {
    /// Whether an editor is shown.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(self, Editor::Closed)
    }

    /// The item being edited (none when new or closed).
    pub(crate) fn editing(&self) -> Option<&T> {
        match self {
            Editor::Editing(item) => Some(item),
            Editor::Closed | Editor::New => None,
        }
    }
}

/// An editor's text form: its fields in display order and how it turns into a checked spec.
pub(crate) trait Form: Clone + 'static {
    /// What the form checks into (a domain spec).
    type Spec: 'static;
    /// The form's field keys, in order; errors for none of them are shown above the form.
    const FIELDS: &'static [&'static str];
    /// The spec and every error: parse errors first, then the domain's validation.
    fn check(&self) -> (Self::Spec, Vec<FieldError>);
}

/// The state an editor keeps between renders (a `Copy` handle to its signals).
pub(crate) struct FormState<F: 'static> {
    form: Signal<F>,
    touched: Signal<Vec<&'static str>>,
    submitted: Signal<bool>,
    server: Signal<Option<ApiError>>,
    busy: Signal<bool>,
}

impl<F> Clone for FormState<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for FormState<F> {}

/// The shared editor hook: `initial` fills the form on the first render.
pub(crate) fn use_form<F: Form>(initial: impl FnOnce() -> F) -> FormState<F> {
    FormState {
        form: use_signal(initial),
        touched: use_signal(Vec::new),
        submitted: use_signal(|| false),
        server: use_signal(|| None),
        busy: use_signal(|| false),
    }
}

impl<F: Form> FormState<F> {
    /// The form as typed so far.
    pub(crate) fn value(&self) -> F {
        self.form.read().clone()
    }

    /// Whether a save is in flight.
    pub(crate) fn busy(&self) -> bool {
        (self.busy)()
    }

    /// What to show now: see [`editor_errors`].
    pub(crate) fn errors(&self) -> (Vec<FieldError>, Vec<String>) {
        let (_, local) = self.form.read().check();
        let server = self.server.read();
        editor_errors(&local, &self.touched.read(), (self.submitted)(), server.as_ref(), F::FIELDS)
    }

    /// Applies an edit of `field`: marks it touched and clears the server's last answer.
    pub(crate) fn edit(&mut self, field: &'static str, apply: impl FnOnce(&mut F)) {
        apply(&mut self.form.write());
        if !self.touched.peek().contains(&field) {
            self.touched.write().push(field);
        }
        self.server.set(None);
    }

    /// Starts a save: marks the form submitted and, when it is valid and no save is in flight,
    /// marks it busy and returns the form with its spec.
    pub(crate) fn submit(&mut self) -> Option<(F, F::Spec)> {
        self.submitted.set(true);
        let current = self.form.peek().clone();
        let (spec, errors) = current.check();
        if !errors.is_empty() || self.busy() {
            return None;
        }
        self.busy.set(true);
        Some((current, spec))
    }

    /// Ends a save: the saved value, or `None` with the server's error kept for display.
    pub(crate) fn finish<T>(&mut self, result: Result<T, ApiError>) -> Option<T> {
        self.busy.set(false);
        result.map_err(|err| self.server.set(Some(err))).ok()
    }
}

/// Splits a list typed with commas or one item per line (an item with a space inside stays one
/// item, so its error names what was typed).
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Tags typed one `key=value` per line.
pub(crate) fn parse_tags(field: &str, text: &str, errors: &mut Vec<FieldError>) -> Tags {
    let mut tags = Tags::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) => {
                let key = key.trim();
                if tags.insert(key.to_owned(), value.trim().to_owned()).is_some() {
                    errors.push(FieldError::new(format!("{field}.{key}"), "duplicate key"));
                }
            }
            None => errors.push(FieldError::new(field, format!("line {}: expected key=value", n + 1))),
        }
    }
    tags
}

/// Tags as the editor shows them.
pub(crate) fn tags_text(tags: &[Tag]) -> String {
    tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect::<Vec<_>>().join("\n")
}

/// A whole number typed into `field`, or an error (recorded) and `fallback`.
fn parse_number<T: std::str::FromStr + Copy>(
    field: &str,
    text: &str,
    fallback: T,
    errors: &mut Vec<FieldError>,
) -> T {
    match text.trim().parse::<T>() {
        Ok(value) => value,
        Err(_) => {
            errors.push(FieldError::new(field, "must be a whole number"));
            fallback
        }
    }
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The project editor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProjectForm {
    /// Name.
    pub name: String,
    /// Concurrency cap (0 = none).
    pub cap: String,
    /// `key=value` lines.
    pub tags: String,
    /// `repo` or `org` scope.
    pub scope: Scope,
    /// GitHub org (org scope).
    pub org_name: String,
    /// Runner group (org scope).
    pub runner_group_id: String,
    /// Disabled flag.
    pub disabled: bool,
}

impl Default for ProjectForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            cap: "0".into(),
            tags: String::new(),
            scope: Scope::Repo,
            org_name: String::new(),
            runner_group_id: "0".into(),
            disabled: false,
        }
    }
}

/// The fields of the project editor, in order.
pub(crate) const PROJECT_FIELDS: &[&str] =
    &["name", "cap", "tags", "scope", "org_name", "runner_group_id", "disabled"];

impl Form for ProjectForm {
    type Spec = ProjectSpec;
    const FIELDS: &'static [&'static str] = PROJECT_FIELDS;

    fn check(&self) -> (Self::Spec, Vec<FieldError>) {
        let mut errors = Vec::new();
        let spec = ProjectSpec {
            name: self.name.clone(),
            cap: parse_number("cap", &self.cap, 0, &mut errors),
            tags: parse_tags("tags", &self.tags, &mut errors),
            scope: self.scope,
            org_name: if self.scope == Scope::Org { self.org_name.clone() } else { String::new() },
            runner_group_id: if self.scope == Scope::Org {
                parse_number("runner_group_id", &self.runner_group_id, 0, &mut errors)
            } else {
                0
            },
            disabled: self.disabled,
        }
        .normalized();
        if spec.runner_group_id > i32::MAX as u64 {
            errors.push(FieldError::new("runner_group_id", format!("must be at most {}", i32::MAX)));
        }
        errors.extend(spec.validate());
        (spec, errors)
    }
}

impl ProjectForm {
    /// The editor filled from an existing project.
    pub(crate) fn from_project(p: &Project) -> Self {
        Self {
            name: p.name.clone(),
            cap: p.cap.to_string(),
            tags: tags_text(&p.tags),
            scope: p.scope.into(),
            org_name: p.org_name.clone().unwrap_or_default(),
            runner_group_id: p.runner_group_id.to_string(),
            disabled: p.disabled,
        }
    }
}

/// The pool editor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PoolForm {
    /// The project a new pool goes into (fixed when editing).
    pub project_id: String,
    /// Name.
    pub name: String,
    /// The project's default pool.
    pub is_default: bool,
    /// Lower wins.
    pub priority: String,
    /// `ami-…`.
    pub ami_id: String,
    /// Instance types in order, comma separated.
    pub instance_types: String,
    /// Subnets, comma separated.
    pub subnet_ids: String,
    /// Security groups, comma separated.
    pub security_group_ids: String,
    /// Optional instance profile.
    pub iam_instance_profile: String,
    /// Root volume GiB (0 = AMI's).
    pub root_volume_gb: String,
    /// Reaped after this many minutes.
    pub max_runtime_minutes: String,
    /// Concurrency cap.
    pub cap: String,
    /// Spot market.
    pub spot: bool,
    /// Spot pools: on-demand after a spot capacity failure.
    pub on_demand_fallback: bool,
    /// Fleet or RunInstances.
    pub spawn_method: SpawnMethod,
    /// Fleet allocation strategy.
    pub allocation_strategy: AllocationStrategy,
    /// Extra runner labels, comma separated.
    pub extra_labels: String,
    /// `key=value` lines.
    pub tags: String,
    /// Optional pinned runner version.
    pub runner_version: String,
    /// Optional POSIX user.
    pub runner_user: String,
    /// Optional user-data tail.
    pub user_data_extra: String,
    /// Disabled flag.
    pub disabled: bool,
}

impl Default for PoolForm {
    fn default() -> Self {
        let d = PoolSpec::default();
        Self {
            project_id: String::new(),
            name: String::new(),
            is_default: d.is_default,
            priority: d.priority.to_string(),
            ami_id: String::new(),
            instance_types: String::new(),
            subnet_ids: String::new(),
            security_group_ids: String::new(),
            iam_instance_profile: String::new(),
            root_volume_gb: d.root_volume_gb.to_string(),
            max_runtime_minutes: d.max_runtime_minutes.to_string(),
            cap: d.cap.to_string(),
            spot: d.spot,
            on_demand_fallback: d.on_demand_fallback,
            spawn_method: d.spawn_method,
            allocation_strategy: d.allocation_strategy,
            extra_labels: String::new(),
            tags: String::new(),
            runner_version: String::new(),
            runner_user: String::new(),
            user_data_extra: String::new(),
            disabled: d.disabled,
        }
    }
}

/// The fields of the pool editor, in order.
pub(crate) const POOL_FIELDS: &[&str] = &[
    "project_id",
    "name",
    "is_default",
    "priority",
    "ami_id",
    "instance_types",
    "subnet_ids",
    "security_group_ids",
    "iam_instance_profile",
    "root_volume_gb",
    "max_runtime_minutes",
    "cap",
    "spot",
    "on_demand_fallback",
    "spawn_method",
    "allocation_strategy",
    "extra_labels",
    "tags",
    "runner_version",
    "runner_user",
    "user_data_extra",
    "disabled",
];

impl Form for PoolForm {
    type Spec = PoolSpec;
    const FIELDS: &'static [&'static str] = POOL_FIELDS;

    fn check(&self) -> (Self::Spec, Vec<FieldError>) {
        let mut errors = Vec::new();
        let d = PoolSpec::default();
        if self.project_id.trim().is_empty() {
            errors.push(FieldError::new("project_id", "pick a project"));
        }
        let spec = PoolSpec {
            name: self.name.clone(),
            is_default: self.is_default,
            priority: parse_number("priority", &self.priority, d.priority, &mut errors),
            ami_id: self.ami_id.clone(),
            instance_types: split_list(&self.instance_types),
            subnet_ids: split_list(&self.subnet_ids),
            security_group_ids: split_list(&self.security_group_ids),
            iam_instance_profile: optional(&self.iam_instance_profile),
            root_volume_gb: parse_number("root_volume_gb", &self.root_volume_gb, 0, &mut errors),
            max_runtime_minutes: parse_number(
                "max_runtime_minutes",
                &self.max_runtime_minutes,
                d.max_runtime_minutes,
                &mut errors,
            ),
            cap: parse_number("cap", &self.cap, d.cap, &mut errors),
            spot: self.spot,
            on_demand_fallback: self.on_demand_fallback,
            spawn_method: self.spawn_method,
            allocation_strategy: self.allocation_strategy,
            extra_labels: split_list(&self.extra_labels),
            tags: parse_tags("tags", &self.tags, &mut errors),
            runner_version: optional(&self.runner_version),
            runner_user: optional(&self.runner_user),
            user_data_extra: (!self.user_data_extra.trim().is_empty()).then(|| self.user_data_extra.clone()),
            disabled: self.disabled,
        }
        .normalized();
        errors.extend(spec.validate());
        (spec, errors)
    }
}

impl PoolForm {
    /// Changes the spawn method; one that takes a single allocation strategy
    /// ([`SpawnMethod::fixed_allocation`]) sets it.
    pub(crate) fn set_spawn_method(&mut self, method: SpawnMethod) {
        self.spawn_method = method;
        if let Some((fixed, _)) = method.fixed_allocation() {
            self.allocation_strategy = fixed;
        }
    }

    /// The line under the allocation select: what the chosen strategy does, or why the spawn
    /// method fixes it.
    pub(crate) fn allocation_hint(&self) -> String {
        match self.spawn_method.fixed_allocation() {
            Some((fixed, why)) => format!("fixed to {}: {why}", fixed.as_str()),
            None => self.allocation_strategy.describe().to_owned(),
        }
    }

    /// The editor filled from an existing pool (a `run_instances` pool recorded with another
    /// strategy before that was refused shows the one it is held to).
    pub(crate) fn from_pool(p: &Pool) -> Self {
        let mut form = Self {
            project_id: p.project_id.to_string(),
            name: p.name.clone(),
            is_default: p.is_default,
            priority: p.priority.to_string(),
            ami_id: p.ami_id.clone(),
            instance_types: p.instance_types.join(", "),
            subnet_ids: p.subnet_ids.join(", "),
            security_group_ids: p.security_group_ids.join(", "),
            iam_instance_profile: p.iam_instance_profile.clone().unwrap_or_default(),
            root_volume_gb: p.root_volume_gb.to_string(),
            max_runtime_minutes: p.max_runtime_minutes.to_string(),
            cap: p.cap.to_string(),
            spot: p.spot,
            on_demand_fallback: p.on_demand_fallback,
            spawn_method: p.spawn_method.into(),
            allocation_strategy: p.allocation_strategy.into(),
            extra_labels: p.extra_labels.join(", "),
            tags: tags_text(&p.tags),
            runner_version: p.runner_version.clone().unwrap_or_default(),
            runner_user: p.runner_user.clone().unwrap_or_default(),
            user_data_extra: p.user_data_extra.clone().unwrap_or_default(),
            disabled: p.disabled,
        };
        form.set_spawn_method(form.spawn_method);
        form
    }
}

/// The repo binding editor.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RepoForm {
    /// `owner/repo`.
    pub full_name: String,
    /// The repo-scoped project it binds to.
    pub project_id: String,
    /// Optional cap override (empty = none).
    pub cap: String,
    /// `key=value` lines.
    pub tags: String,
}

/// The fields of the repo editor, in order.
pub(crate) const REPO_FIELDS: &[&str] = &["full_name", "project_id", "cap", "tags"];

impl Form for RepoForm {
    type Spec = RepoSpec;
    const FIELDS: &'static [&'static str] = REPO_FIELDS;

    fn check(&self) -> (Self::Spec, Vec<FieldError>) {
        let mut errors = Vec::new();
        if self.project_id.trim().is_empty() {
            errors.push(FieldError::new("project_id", "pick a project"));
        }
        let cap = optional(&self.cap).map(|c| parse_number("cap", &c, 1, &mut errors));
        let spec = RepoSpec {
            full_name: self.full_name.clone(),
            cap,
            tags: parse_tags("tags", &self.tags, &mut errors),
        }
        .normalized();
        errors.extend(spec.validate());
        (spec, errors)
    }
}

impl RepoForm {
    /// The editor filled from an existing binding.
    pub(crate) fn from_repo(r: &Repo) -> Self {
        Self {
            full_name: r.full_name.clone(),
            project_id: r.project_id.to_string(),
            cap: r.cap.map(|c| c.to_string()).unwrap_or_default(),
            tags: tags_text(&r.tags),
        }
    }
}

/// How the warm editor sizes a pool's warm capacity (`Off`: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum WarmChoice {
    /// No warm capacity.
    #[default]
    Off,
    /// Always the same counts.
    Fixed,
    /// By time-of-week windows.
    Schedule,
    /// From the pool's own arrivals.
    Forecast,
}

impl WarmChoice {
    /// Every choice, in display order.
    pub(crate) const ALL: [WarmChoice; 4] =
        [WarmChoice::Off, WarmChoice::Fixed, WarmChoice::Schedule, WarmChoice::Forecast];

    /// The select's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WarmChoice::Off => "off",
            WarmChoice::Fixed => "fixed",
            WarmChoice::Schedule => "schedule",
            WarmChoice::Forecast => "forecast",
        }
    }

    /// The select's label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            WarmChoice::Off => "Off",
            WarmChoice::Fixed => "Fixed",
            WarmChoice::Schedule => "Schedule",
            WarmChoice::Forecast => "Forecast",
        }
    }

    /// The choice whose value is `text`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// What the choice does, in a line.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            WarmChoice::Off => "no warm capacity: each job waits for its own instance to boot",
            WarmChoice::Fixed => "always hold the same counts",
            WarmChoice::Schedule => {
                "counts by time-of-week windows in a time zone (the first window that holds wins), others outside them"
            }
            WarmChoice::Forecast => {
                "hot instances cover a percentile of the pool's busiest 5 minutes of the hour over the last weeks, the largest peak beyond it stopped"
            }
        }
    }
}

/// Warm counts as typed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CountsForm {
    /// Hot instances.
    pub hot: String,
    /// Stopped instances.
    pub stopped: String,
}

impl CountsForm {
    fn new(hot: u32, stopped: u32) -> Self {
        Self { hot: hot.to_string(), stopped: stopped.to_string() }
    }

    fn of(counts: Option<ops::WarmCounts>) -> Self {
        counts.map_or_else(
            || Self::new(0, 0),
            |c| Self { hot: c.hot.to_string(), stopped: c.stopped.to_string() },
        )
    }

    fn check(&self, field: &str, errors: &mut Vec<FieldError>) -> WarmCounts {
        WarmCounts {
            hot: parse_number(&format!("{field}.hot"), &self.hot, 0, errors),
            stopped: parse_number(&format!("{field}.stopped"), &self.stopped, 0, errors),
        }
    }
}

/// One window of a warm schedule as typed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WindowForm {
    /// The days it starts on, Monday first.
    pub days: [bool; 7],
    /// Start, `HH:MM`.
    pub from: String,
    /// End, `HH:MM` (`24:00` = midnight).
    pub to: String,
    /// The counts while it holds.
    pub counts: CountsForm,
}

/// A new window: working hours, one hot instance.
impl Default for WindowForm {
    fn default() -> Self {
        Self {
            days: [true, true, true, true, true, false, false],
            from: "08:00".into(),
            to: "18:00".into(),
            counts: CountsForm::new(1, 0),
        }
    }
}

/// Minutes after midnight of `HH:MM` (`H:MM` too), at most `last`.
fn parse_clock(text: &str, last: u16) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(minutes, 2..=2) {
        return None;
    }
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= last).then_some(total)
}

impl WindowForm {
    fn check(&self, i: usize, errors: &mut Vec<FieldError>) -> WarmWindow {
        let field = |name: &str| format!("sizing.windows[{i}].{name}");
        let mut clock = |name: &str, text: &str, last: u16, range: &str| {
            parse_clock(text, last).unwrap_or_else(|| {
                errors.push(FieldError::new(field(name), format!("must be HH:MM, {range}")));
                0
            })
        };
        let from_minute = clock("from", &self.from, 24 * 60 - 1, "00:00 to 23:59");
        let to_minute = clock("to", &self.to, 24 * 60, "00:00 to 24:00");
        let days =
            self.days.iter().enumerate().fold(0u8, |mask, (d, on)| if *on { mask | 1 << d } else { mask });
        WarmWindow { days, from_minute, to_minute, counts: self.counts.check(&field("counts"), errors) }
    }

    fn of(window: &ops::WarmWindow) -> Self {
        Self {
            days: WEEKDAYS.map(|d| window.days.contains(&d)),
            from: window.from.clone(),
            to: window.to.clone(),
            counts: CountsForm::of(Some(window.counts)),
        }
    }
}

/// A pool's warm capacity editor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WarmForm {
    /// The pool's cap, which the counts may not exceed (not edited here).
    pub cap: u32,
    /// Off, fixed, schedule or forecast.
    pub mode: WarmChoice,
    /// Fixed: the counts.
    pub fixed: CountsForm,
    /// Schedule: the windows' time zone.
    pub zone: String,
    /// Schedule: the windows, the first that holds winning.
    pub windows: Vec<WindowForm>,
    /// Schedule: the counts outside every window.
    pub otherwise: CountsForm,
    /// Forecast: the percentile of the weekly peaks hot instances cover.
    pub quantile: String,
    /// Forecast: weeks looked back.
    pub weeks: String,
    /// An idle warm instance older than this is replaced.
    pub max_age_minutes: String,
}

impl Default for WarmForm {
    fn default() -> Self {
        Self {
            cap: u32::MAX,
            mode: WarmChoice::Off,
            fixed: CountsForm::new(1, 0),
            zone: "UTC".into(),
            windows: Vec::new(),
            otherwise: CountsForm::new(0, 0),
            quantile: "90".into(),
            weeks: "4".into(),
            max_age_minutes: DEFAULT_WARM_MAX_AGE_MINUTES.to_string(),
        }
    }
}

/// The fields of the warm editor, in order (the windows' own fields are
/// `sizing.windows[i].days`, `.from`, `.to` and `.counts`).
pub(crate) const WARM_FIELDS: &[&str] = &[
    "sizing.fixed",
    "sizing.zone",
    "sizing.windows",
    "sizing.otherwise",
    "sizing.quantile",
    "sizing.weeks",
    "max_age_minutes",
];

impl Form for WarmForm {
    /// `None`: switched off.
    type Spec = Option<WarmSpec>;
    const FIELDS: &'static [&'static str] = WARM_FIELDS;

    fn check(&self) -> (Self::Spec, Vec<FieldError>) {
        let mut errors = Vec::new();
        let sizing = match self.mode {
            WarmChoice::Off => return (None, errors),
            WarmChoice::Fixed => WarmSizing::Fixed(self.fixed.check("sizing.fixed", &mut errors)),
            WarmChoice::Schedule => WarmSizing::Schedule {
                zone: self.zone.trim().to_owned(),
                windows: self.windows.iter().enumerate().map(|(i, w)| w.check(i, &mut errors)).collect(),
                otherwise: self.otherwise.check("sizing.otherwise", &mut errors),
            },
            WarmChoice::Forecast => {
                // Past a u8, still out of range for the domain to say so.
                let small = |n: u32| u8::try_from(n).unwrap_or(u8::MAX);
                WarmSizing::Forecast {
                    quantile: small(parse_number("sizing.quantile", &self.quantile, 90, &mut errors)),
                    weeks: small(parse_number("sizing.weeks", &self.weeks, 4, &mut errors)),
                }
            }
        };
        let max_age_minutes =
            parse_number("max_age_minutes", &self.max_age_minutes, DEFAULT_WARM_MAX_AGE_MINUTES, &mut errors);
        let spec = WarmSpec { sizing, max_age_minutes };
        errors.extend(validate_warm(&spec, self.cap));
        (Some(spec), errors)
    }
}

impl WarmForm {
    /// The editor filled from a pool's warm capacity (off, with the defaults, when it has none).
    pub(crate) fn from_pool(p: &Pool) -> Self {
        let cap = u32::try_from(p.cap).unwrap_or(0);
        let Some(w) = &p.warm else { return Self { cap, ..Self::default() } };
        let d = Self::default();
        Self {
            cap,
            mode: match w.mode {
                WarmMode::Fixed => WarmChoice::Fixed,
                WarmMode::Schedule => WarmChoice::Schedule,
                WarmMode::Forecast => WarmChoice::Forecast,
            },
            fixed: w.fixed.map_or(d.fixed, |c| CountsForm::of(Some(c))),
            zone: w.zone.clone().unwrap_or(d.zone),
            windows: w.windows.iter().map(WindowForm::of).collect(),
            otherwise: CountsForm::of(w.otherwise),
            quantile: w.quantile.map_or(d.quantile, |q| q.to_string()),
            weeks: w.weeks.map_or(d.weeks, |n| n.to_string()),
            max_age_minutes: w.max_age_minutes.to_string(),
        }
    }
}

/// A retention field of the Settings page (one per kind): whole days within the domain's bounds.
pub(crate) fn check_retention(text: &str) -> Result<u32, FieldError> {
    let days: u32 =
        text.trim().parse().map_err(|_| FieldError::new("days", "must be a whole number of days"))?;
    if (1..=pacer_domain::MAX_RETENTION_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(FieldError::new("days", format!("must be between 1 and {}", pacer_domain::MAX_RETENTION_DAYS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ops::config::{PoolInput, ProjectInput, RepoInput};
    use serde_json::{Value, json};

    /// An input as the API receives it.
    fn sent(input: impl serde::Serialize) -> Value {
        serde_json::to_value(input).expect("serializes")
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn good_pool() -> PoolForm {
        PoolForm {
            project_id: "1".into(),
            name: "default".into(),
            ami_id: "ami-0123456789abcdef0".into(),
            instance_types: "m7i.large, c7i.large".into(),
            subnet_ids: "subnet-0123456789abcdef0".into(),
            ..PoolForm::default()
        }
    }

    #[test]
    fn editor_states_say_what_is_open() {
        let closed = Editor::<u32>::default();
        assert!(!closed.is_open());
        assert_eq!(closed.editing(), None);
        assert!(Editor::<u32>::New.is_open());
        assert_eq!(Editor::<u32>::New.editing(), None);
        assert!(Editor::Editing(7).is_open());
        assert_eq!(Editor::Editing(7).editing(), Some(&7));
    }

    #[test]
    fn errors_are_placed_by_domain_path() {
        let errors = vec![
            FieldError::new("name", "required"),
            FieldError::new("instance_types[1]", "must look like family.size, e.g. m7i.large"),
            FieldError::new("tags.gha:x", "the gha: prefix is reserved for pacer-managed tags"),
            FieldError::new("projects[0].pools[1].ami_id", "not found"),
            FieldError::new("name_suffix", "not a prefix match"),
        ];
        assert_eq!(errors_for("name", &errors), ["required"]);
        assert_eq!(
            errors_for("instance_types", &errors),
            ["item 2: must look like family.size, e.g. m7i.large"]
        );
        assert_eq!(
            errors_for("tags", &errors),
            ["gha:x: the gha: prefix is reserved for pacer-managed tags"]
        );
        assert_eq!(
            unplaced_errors(&["name", "instance_types", "tags"], &errors),
            ["projects[0].pools[1].ami_id: not found", "name_suffix: not a prefix match"]
        );
    }

    #[test]
    fn editors_show_touched_fields_then_everything_after_submit() {
        let local =
            vec![FieldError::new("name", "required"), FieldError::new("cap", "must be a whole number")];
        let (shown, general) = editor_errors(&local, &["cap"], false, None, PROJECT_FIELDS);
        assert_eq!(fields(&shown), ["cap"]);
        assert!(general.is_empty());
        let (shown, _) = editor_errors(&local, &[], true, None, PROJECT_FIELDS);
        assert_eq!(fields(&shown), ["name", "cap"]);
        let server = ApiError {
            kind: crate::api::ErrorKind::Conflict,
            message: "a project named platform exists".into(),
            fields: vec![],
        };
        let (shown, general) = editor_errors(&[], &[], true, Some(&server), PROJECT_FIELDS);
        assert!(shown.is_empty());
        assert_eq!(general, ["a project named platform exists"]);
        let server = ApiError {
            kind: crate::api::ErrorKind::Aws,
            message: "ami_id: not found".into(),
            fields: vec![FieldError::new("ami_id", "AMI ami-0123456789abcdef0 not found")],
        };
        let (shown, general) = editor_errors(&[], &[], false, Some(&server), POOL_FIELDS);
        assert_eq!(errors_for("ami_id", &shown), ["AMI ami-0123456789abcdef0 not found"]);
        assert!(general.is_empty());
    }

    #[test]
    fn pool_form_validates_like_the_domain() {
        let (spec, errors) = good_pool().check();
        assert_eq!(errors, []);
        assert_eq!(spec.instance_types, ["m7i.large", "c7i.large"]);
        let input = sent(PoolInput::from(&spec));
        assert_eq!(input["instanceTypes"][1], "c7i.large");
        assert_eq!(input["spawnMethod"], "FLEET");
        assert_eq!(input["allocationStrategy"], "COST");
        assert_eq!(input["iamInstanceProfile"], Value::Null);

        let bad = PoolForm {
            instance_types: "m7i.large,  C5 XL".into(),
            cap: "five".into(),
            tags: "gha:x=1\nno-equals".into(),
            on_demand_fallback: true,
            ..good_pool()
        };
        let (_, errors) = bad.check();
        assert_eq!(fields(&errors), ["cap", "tags", "instance_types[1]", "on_demand_fallback", "tags.gha:x"]);
    }

    #[test]
    fn pool_enums_use_the_api_spelling() {
        let form = PoolForm { allocation_strategy: AllocationStrategy::LowestPrice, ..good_pool() };
        let input = sent(PoolInput::from(&form.check().0));
        assert_eq!(input["allocationStrategy"], "LOWEST_PRICE");
        let form = PoolForm { spawn_method: SpawnMethod::RunInstances, ..good_pool() };
        let (spec, errors) = form.check();
        assert_eq!(errors, []);
        let input = sent(PoolInput::from(&spec));
        assert_eq!(
            (&input["spawnMethod"], &input["allocationStrategy"]),
            (&json!("RUN_INSTANCES"), &json!("COST"))
        );
    }

    #[test]
    fn run_instances_fixes_the_allocation_strategy_and_says_why() {
        let mut form = PoolForm { allocation_strategy: AllocationStrategy::Priority, ..good_pool() };
        assert!(
            form.allocation_hint().starts_with("the instance types in the order listed"),
            "{}",
            form.allocation_hint()
        );
        form.allocation_strategy = AllocationStrategy::Capacity;
        assert!(form.allocation_hint().contains("capacity-optimized"), "{}", form.allocation_hint());
        form.set_spawn_method(SpawnMethod::RunInstances);
        assert_eq!(form.allocation_strategy, AllocationStrategy::Cost);
        assert!(
            form.allocation_hint().starts_with("fixed to cost: run_instances tries"),
            "{}",
            form.allocation_hint()
        );
        assert_eq!(form.check().1, []);
        // Kept by hand (as a pool recorded before the rule), the domain's rule refuses it.
        form.allocation_strategy = AllocationStrategy::LowestPrice;
        assert_eq!(fields(&form.check().1), ["allocation_strategy"]);
        form.set_spawn_method(SpawnMethod::Fleet);
        assert_eq!(form.allocation_strategy, AllocationStrategy::LowestPrice, "fleet keeps the choice");
    }

    #[test]
    fn project_form_checks_scope_rules() {
        let form =
            ProjectForm { name: "Platform".into(), tags: "team = infra".into(), ..ProjectForm::default() };
        let (spec, errors) = form.check();
        assert_eq!(errors, []);
        let input = sent(ProjectInput::from(&spec));
        assert_eq!(input["scope"], "REPO");
        assert_eq!(input["orgName"], Value::Null);
        assert_eq!(input["tags"], json!([{ "key": "team", "value": "infra" }]));

        let org = ProjectForm {
            name: "p".into(),
            scope: Scope::Org,
            org_name: String::new(),
            ..ProjectForm::default()
        };
        assert_eq!(fields(&org.check().1), ["org_name"]);
        let org = ProjectForm { org_name: "octo-org".into(), runner_group_id: "3".into(), ..org };
        let (spec, errors) = org.check();
        assert_eq!(errors, []);
        assert_eq!(sent(ProjectInput::from(&spec))["orgName"], "octo-org");
        let nameless = ProjectForm { name: "  ".into(), cap: "-1".into(), ..ProjectForm::default() };
        assert_eq!(fields(&nameless.check().1), ["cap", "name"]);
    }

    #[test]
    fn repo_form_checks_name_and_cap() {
        let form = RepoForm { full_name: "octo/hello".into(), project_id: "2".into(), ..RepoForm::default() };
        let (spec, errors) = form.check();
        assert_eq!(errors, []);
        assert_eq!(
            sent(RepoInput::new(&form.project_id, &spec)),
            json!({ "fullName": "octo/hello", "projectId": "2", "cap": null, "tags": [] })
        );
        let bad = RepoForm { full_name: "no-slash".into(), cap: "0".into(), ..RepoForm::default() };
        assert_eq!(fields(&bad.check().1), ["project_id", "full_name", "cap"]);
    }

    #[test]
    fn lists_split_on_commas_and_lines() {
        assert_eq!(
            split_list(" m7i.large,c7i.large\n\n r7i.xlarge ,"),
            ["m7i.large", "c7i.large", "r7i.xlarge"]
        );
        assert_eq!(split_list("C5 XL"), ["C5 XL"]);
        assert!(split_list(" , ").is_empty());
    }

    fn warm(mode: WarmChoice) -> WarmForm {
        WarmForm { cap: 5, mode, ..WarmForm::default() }
    }

    /// The `warm` variable `form` sends, or its errors' fields.
    fn warm_sent(form: &WarmForm) -> Result<Value, Vec<String>> {
        match form.check() {
            (spec, errors) if errors.is_empty() => {
                Ok(sent(crate::api::ops::config::set_pool_warm("3", spec.as_ref()).variables)["warm"].clone())
            }
            (_, errors) => Err(errors.into_iter().map(|e| e.field).collect()),
        }
    }

    #[test]
    fn warm_forms_send_one_sizing_each() {
        assert_eq!(warm_sent(&warm(WarmChoice::Off)), Ok(Value::Null), "off: warm is null");
        let fixed = WarmForm {
            fixed: CountsForm::new(2, 1),
            max_age_minutes: " 60 ".into(),
            ..warm(WarmChoice::Fixed)
        };
        assert_eq!(
            warm_sent(&fixed),
            Ok(json!({ "fixed": { "hot": 2, "stopped": 1 }, "maxAgeMinutes": 60 }))
        );
        let schedule = WarmForm {
            zone: " Europe/Berlin ".into(),
            windows: vec![
                WindowForm::default(),
                WindowForm {
                    days: [false, false, false, false, true, true, false],
                    from: "22:30".into(),
                    to: "24:00".into(),
                    counts: CountsForm::new(0, 2),
                },
            ],
            otherwise: CountsForm::new(0, 1),
            ..warm(WarmChoice::Schedule)
        };
        assert_eq!(
            warm_sent(&schedule),
            Ok(json!({
                "schedule": {
                    "zone": "Europe/Berlin",
                    "windows": [
                        { "days": ["MON", "TUE", "WED", "THU", "FRI"], "from": "08:00", "to": "18:00", "counts": { "hot": 1, "stopped": 0 } },
                        { "days": ["FRI", "SAT"], "from": "22:30", "to": "24:00", "counts": { "hot": 0, "stopped": 2 } },
                    ],
                    "otherwise": { "hot": 0, "stopped": 1 },
                },
                "maxAgeMinutes": 240,
            }))
        );
        assert_eq!(
            warm_sent(&warm(WarmChoice::Forecast)),
            Ok(json!({ "forecast": { "quantile": 90, "weeks": 4 }, "maxAgeMinutes": 240 }))
        );
    }

    #[test]
    fn warm_windows_need_clock_times_and_a_day() {
        let window = |from: &str, to: &str, days: [bool; 7]| WindowForm {
            days,
            from: from.into(),
            to: to.into(),
            ..WindowForm::default()
        };
        let none = [false; 7];
        let form = WarmForm {
            windows: vec![
                window("8:00", "24:00", WindowForm::default().days),
                window("24:00", "8", none),
                window("08:60", "7:5", WindowForm::default().days),
                window("ab:cd", "-1:00", WindowForm::default().days),
            ],
            ..warm(WarmChoice::Schedule)
        };
        assert_eq!(
            warm_sent(&form),
            Err(vec![
                "sizing.windows[1].from".into(),
                "sizing.windows[1].to".into(),
                "sizing.windows[2].from".into(),
                "sizing.windows[2].to".into(),
                "sizing.windows[3].from".into(),
                "sizing.windows[3].to".into(),
                "sizing.windows[1].days".into(),
            ])
        );
        let (_, errors) = form.check();
        assert_eq!(errors_for("sizing.windows[1].from", &errors), ["must be HH:MM, 00:00 to 23:59"]);
        assert_eq!(errors_for("sizing.windows[1].days", &errors), ["must name at least one day of the week"]);
        assert_eq!(errors_for("sizing.windows", &errors)[0], "item 2: from: must be HH:MM, 00:00 to 23:59");
        assert!(unplaced_errors(WARM_FIELDS, &errors).is_empty(), "every window error has its place");
    }

    #[test]
    fn warm_counts_and_bounds_are_checked_before_sending() {
        let form = WarmForm {
            fixed: CountsForm { hot: "4".into(), stopped: "2".into() },
            max_age_minutes: "5".into(),
            ..warm(WarmChoice::Fixed)
        };
        assert_eq!(warm_sent(&form), Err(vec!["max_age_minutes".into(), "sizing.fixed".into()]));
        let (_, errors) = form.check();
        assert_eq!(
            errors_for("sizing.fixed", &errors),
            ["warm instances may not exceed the pool's cap of 5"]
        );
        let form = WarmForm {
            fixed: CountsForm { hot: "-1".into(), stopped: "x".into() },
            ..warm(WarmChoice::Fixed)
        };
        assert_eq!(warm_sent(&form), Err(vec!["sizing.fixed.hot".into(), "sizing.fixed.stopped".into()]));
        assert_eq!(
            errors_for("sizing.fixed", &form.check().1),
            ["hot: must be a whole number", "stopped: must be a whole number"]
        );
        let form = WarmForm { quantile: "300".into(), weeks: "0".into(), ..warm(WarmChoice::Forecast) };
        assert_eq!(warm_sent(&form), Err(vec!["sizing.quantile".into(), "sizing.weeks".into()]));
        // The time zone is the server's to check (the console carries no time zone database).
        let form = WarmForm { zone: "Mars/Olympus".into(), ..warm(WarmChoice::Schedule) };
        assert!(warm_sent(&form).is_ok());
        // Off sends nothing to check, whatever the hidden fields hold.
        assert_eq!(
            warm_sent(&WarmForm { max_age_minutes: "x".into(), ..warm(WarmChoice::Off) }),
            Ok(Value::Null)
        );
        assert_eq!(WarmChoice::parse("schedule"), Some(WarmChoice::Schedule));
        assert_eq!(WarmChoice::parse("SCHEDULE"), None);
    }

    #[test]
    fn the_warm_form_opens_with_the_pools_settings() {
        let pool = crate::api::ops::config::test_pool;
        let off = WarmForm::from_pool(&pool(Value::Null));
        assert_eq!(off, WarmForm { cap: 6, ..WarmForm::default() });
        let counts = json!({ "hot": 0, "stopped": 0 });
        let schedule = pool(json!({"mode":"SCHEDULE","fixed":null,"zone":"Europe/Berlin",
            "windows":[{"days":["SAT","SUN"],"from":"22:00","to":"06:00","counts":{"hot":2,"stopped":1}}],
            "otherwise":{"hot":0,"stopped":1},"quantile":null,"weeks":null,"maxAgeMinutes":120,
            "target":counts,"reason":"schedule: outside every window: 0 hot, 1 stopped","wanted":counts,"idle":counts}));
        let form = WarmForm::from_pool(&schedule);
        assert_eq!(form.mode, WarmChoice::Schedule);
        assert_eq!((form.zone.as_str(), form.max_age_minutes.as_str()), ("Europe/Berlin", "120"));
        assert_eq!(form.windows[0].days, [false, false, false, false, false, true, true]);
        assert_eq!((form.windows[0].from.as_str(), form.windows[0].to.as_str()), ("22:00", "06:00"));
        assert_eq!(form.windows[0].counts, CountsForm::new(2, 1));
        assert_eq!(form.otherwise, CountsForm::new(0, 1));
        assert_eq!((form.quantile.as_str(), form.weeks.as_str()), ("90", "4"), "forecast defaults kept");
        // What it opened with is what it sends back.
        assert_eq!(warm_sent(&form).expect("valid")["schedule"]["windows"][0]["days"], json!(["SAT", "SUN"]));
        let forecast = pool(json!({"mode":"FORECAST","fixed":null,"zone":null,"windows":[],"otherwise":null,
            "quantile":75,"weeks":8,"maxAgeMinutes":240,"target":counts,"reason":"forecast","wanted":counts,"idle":counts}));
        let form = WarmForm::from_pool(&forecast);
        assert_eq!(
            (form.mode, form.quantile.as_str(), form.weeks.as_str()),
            (WarmChoice::Forecast, "75", "8")
        );
        assert_eq!(form.zone, "UTC");
    }

    #[test]
    fn retention_bounds() {
        assert_eq!(check_retention("30"), Ok(30));
        assert!(check_retention("0").is_err());
        assert!(check_retention("thirty").is_err());
        assert!(check_retention(&(pacer_domain::MAX_RETENTION_DAYS + 1).to_string()).is_err());
    }
}
