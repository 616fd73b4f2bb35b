//! Settings and health: what operators change in the console's Settings page (retention
//! overrides, bootstrap-token rotation), the log's pruning, and each component's health as
//! Pacer observed it. Their facts, the rules that accept or refuse a change, and how each fact
//! folds into [`State`].

use crate::event::Event;
use crate::rejection::Rejection;
use crate::state::{Folded, State};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest retention, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3_650;

/// What a retention setting removes once it is old enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RetentionKind {
    /// Log records (below a verified snapshot), and the finished jobs that leave with them.
    Audit,
    /// Raw webhook payloads kept for the job detail, counted from their job's end.
    Webhook,
    /// The log output a failed runner sent (the job detail's failure log).
    FailureLog,
}

impl RetentionKind {
    /// Every kind, in the order the API and the console list them.
    pub const ALL: [RetentionKind; 3] =
        [RetentionKind::Audit, RetentionKind::Webhook, RetentionKind::FailureLog];

    /// The kind as configuration keys and audit lines spell it: `audit`, `webhook` or
    /// `failure_log`.
    pub fn name(self) -> &'static str {
        match self {
            RetentionKind::Audit => "audit",
            RetentionKind::Webhook => "webhook",
            RetentionKind::FailureLog => "failure_log",
        }
    }
}

/// Retention set from the console, per kind; `None` keeps the configuration's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionOverrides {
    /// Days log records are kept ([`RetentionKind::Audit`]).
    pub audit_days: Option<u32>,
    /// Days raw webhook payloads are kept ([`RetentionKind::Webhook`]).
    pub webhook_days: Option<u32>,
    /// Days failure logs are kept ([`RetentionKind::FailureLog`]).
    pub failure_log_days: Option<u32>,
}

impl RetentionOverrides {
    /// The override of `kind`, if one is set.
    pub fn get(&self, kind: RetentionKind) -> Option<u32> {
        match kind {
            RetentionKind::Audit => self.audit_days,
            RetentionKind::Webhook => self.webhook_days,
            RetentionKind::FailureLog => self.failure_log_days,
        }
    }

    fn slot(&mut self, kind: RetentionKind) -> &mut Option<u32> {
        match kind {
            RetentionKind::Audit => &mut self.audit_days,
            RetentionKind::Webhook => &mut self.webhook_days,
            RetentionKind::FailureLog => &mut self.failure_log_days,
        }
    }
}

/// The log's last prune, as its `audit.pruned` record tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPruned {
    /// The first deleted record's seq.
    pub first_seq: u64,
    /// The last deleted record's seq.
    pub last_seq: u64,
    /// When the last deleted record was recorded.
    pub through: Timestamp,
    /// The archive file the records were written to before deletion, if any.
    pub archive: Option<String>,
    /// When the prune was recorded.
    pub at: Timestamp,
}

/// One component's health, as last recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether the component works; any component not ok raises the console's health banner.
    pub ok: bool,
    /// What is wrong (empty when `ok`).
    pub message: String,
    /// When the `health.changed` that set this was recorded.
    pub since: Timestamp,
}

/// Settings changed through the console, and the log's last prune.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Retention overrides (1 to [`MAX_RETENTION_DAYS`] days); the host's configuration holds
    /// the defaults.
    pub retention: RetentionOverrides,
    /// The log's last prune; `None` before the first.
    pub last_prune: Option<LogPruned>,
    /// Fingerprint of the current bootstrap token; `None` until the first rotation.
    pub bootstrap_fingerprint: Option<String>,
    /// The previous bootstrap token is accepted until then; `None` until the first rotation.
    pub previous_token_valid_until: Option<Timestamp>,
    /// When the bootstrap token was last rotated; `None` until the first rotation.
    pub bootstrap_rotated_at: Option<Timestamp>,
}

/// `settings.bootstrap_token_rotated`: an operator rotated the pools' bootstrap token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsBootstrapTokenRotated {
    /// A short fingerprint of the new token (never the token).
    pub fingerprint: String,
    /// Until when the previous token stays valid.
    pub previous_valid_until: Timestamp,
}

/// `settings.retention_changed`: an operator changed job retention (no longer recorded; it
/// folds as an audit retention override, [`SettingsRetentionSet`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRetentionChanged {
    /// Days a finished job stayed in the jobs view, 1..=[`MAX_RETENTION_DAYS`].
    pub days: u32,
}

/// `settings.retention_set`: an operator overrode one retention, or set it back to the default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRetentionSet {
    /// The retention changed.
    pub kind: RetentionKind,
    /// Days, 1..=[`MAX_RETENTION_DAYS`]; `None` = the configuration's default again.
    pub days: Option<u32>,
}

/// `audit.pruned`: the host deleted the log records `first_seq..=last_seq` (below a verified
/// snapshot), after archiving them when `archive` names a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPruned {
    /// The first deleted record's seq.
    pub first_seq: u64,
    /// The last deleted record's seq.
    pub last_seq: u64,
    /// When the last deleted record was recorded; finished jobs that ended by then leave the
    /// jobs table.
    pub through: Timestamp,
    /// The archive file (its name) the records went to first; `None` when not archived.
    pub archive: Option<String>,
}

/// `retention.swept`: the host deleted `deleted` entries kept beside the log (raw webhook
/// payloads or runner failure logs, by `kind`) that were past their retention, dated before
/// `before`, in the same write as this record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSwept {
    /// What was deleted: [`RetentionKind::Webhook`] or [`RetentionKind::FailureLog`].
    pub kind: RetentionKind,
    /// How many entries.
    pub deleted: u32,
    /// The cutoff: payloads of jobs finished before it, failure logs that arrived before it.
    pub before: Timestamp,
}

/// `github_app.created`: an operator created Pacer's GitHub App from its manifest (the App's
/// key and webhook secret went to the host's vault, never here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubAppCreated {
    /// The App's id.
    pub app_id: u64,
    /// The App's URL name (`github.com/apps/<slug>`).
    pub slug: String,
    /// The account owning the App (an organisation or user login).
    pub owner: String,
    /// The App's page on GitHub.
    pub html_url: String,
}

/// `lease.acquired`: a replica took the effects lease (the dispatcher, reaper, redelivery and
/// template sync run only on its holder) under a new fencing term. Recorded before the new
/// holder acts: from then on a command the engine sends under an older term is refused, so a
/// deposed holder's late writes never land after its successor's first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAcquired {
    /// The replica, by its id (`storage.dynamodb.replica_id`, or its host name).
    pub holder: String,
    /// The fencing term, higher than every term before it.
    pub term: u64,
}

/// The replica running the effects, as the log last recorded it ([`LeaseAcquired`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadership {
    /// The replica's id.
    pub holder: String,
    /// Its fencing term.
    pub term: u64,
    /// When it took the lease.
    pub since: Timestamp,
}

/// `health.changed`: a component's health changed (a first report only when unhealthy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChanged {
    /// Component (`reaper`, `preflight`, `dispatcher`, `github`, `storage`).
    pub component: String,
    /// Whether it works now.
    pub ok: bool,
    /// What is wrong (empty when ok).
    pub message: String,
}

/// `settings.bootstrap_token_rotated`, once the host generated a new token.
pub(crate) fn rotate_bootstrap_token(
    fingerprint: String,
    previous_valid_until: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    if fingerprint.is_empty() {
        return Err(Rejection::field("fingerprint", "required"));
    }
    Ok(vec![Event::SettingsBootstrapTokenRotated(SettingsBootstrapTokenRotated {
        fingerprint,
        previous_valid_until,
    })])
}

/// `lease.acquired`, for a term above the recorded one.
pub(crate) fn acquire_lease(state: &State, holder: String, term: u64) -> Result<Vec<Event>, Rejection> {
    if holder.trim().is_empty() {
        return Err(Rejection::field("holder", "required"));
    }
    let current = state.lease_term();
    if term <= current {
        return Err(Rejection::conflict(
            Some("term"),
            format!("term {term} is not above the recorded term {current}"),
        ));
    }
    Ok(vec![Event::LeaseAcquired(LeaseAcquired { holder, term })])
}

/// `github_app.created`, for an App with an id and a slug.
pub(crate) fn record_github_app(app: GithubAppCreated) -> Result<Vec<Event>, Rejection> {
    if app.app_id == 0 {
        return Err(Rejection::field("app_id", "required"));
    }
    if app.slug.trim().is_empty() {
        return Err(Rejection::field("slug", "required"));
    }
    Ok(vec![Event::GithubAppCreated(app)])
}

/// `settings.retention_set`, for 1 to [`MAX_RETENTION_DAYS`] days or `None` (the default). A
/// value already in force is recorded too: it is an operator's action.
pub(crate) fn set_retention(kind: RetentionKind, days: Option<u32>) -> Result<Vec<Event>, Rejection> {
    if days.is_some_and(|days| !(1..=MAX_RETENTION_DAYS).contains(&days)) {
        return Err(Rejection::field("days", format!("must be between 1 and {MAX_RETENTION_DAYS}")));
    }
    Ok(vec![Event::SettingsRetentionSet(SettingsRetentionSet { kind, days })])
}

/// `audit.pruned` of the records after the last prune through `last_seq`, a record the log
/// holds.
pub(crate) fn record_prune(
    state: &State,
    last_seq: u64,
    through: Timestamp,
    archive: Option<String>,
) -> Result<Vec<Event>, Rejection> {
    let first_seq = state.pruned_through() + 1;
    if last_seq < first_seq {
        return Err(Rejection::conflict(
            Some("last_seq"),
            format!("records through {} were pruned already", first_seq - 1),
        ));
    }
    if last_seq > state.last_seq {
        return Err(Rejection::field("last_seq", format!("past the log's last record {}", state.last_seq)));
    }
    Ok(vec![Event::AuditPruned(AuditPruned { first_seq, last_seq, through, archive })])
}

/// `retention.swept` of `deleted` entries of `kind` past their retention (refused for the
/// audit retention, whose deletions are `audit.pruned`, and for none).
pub(crate) fn record_sweep(
    kind: RetentionKind,
    deleted: u32,
    before: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    if kind == RetentionKind::Audit {
        return Err(Rejection::field("kind", "log records are pruned, not swept"));
    }
    if deleted == 0 {
        return Err(Rejection::field("deleted", "nothing was deleted"));
    }
    Ok(vec![Event::RetentionSwept(RetentionSwept { kind, deleted, before })])
}

/// `health.changed` only when a component's health changes; a component's first report is
/// recorded only when it is unhealthy.
pub(crate) fn set_health(state: &State, component: String, ok: bool, message: String) -> Vec<Event> {
    let message = if ok { String::new() } else { message };
    let unchanged = state.health.get(&component).is_some_and(|h| h.ok == ok && h.message == message);
    let first_ok = ok && !state.health.contains_key(&component);
    if unchanged || first_ok {
        return vec![];
    }
    vec![Event::HealthChanged(HealthChanged { component, ok, message })]
}

impl State {
    pub(crate) fn bootstrap_token_rotated(
        &mut self,
        e: &SettingsBootstrapTokenRotated,
        at: Timestamp,
    ) -> Folded {
        self.settings.bootstrap_fingerprint = Some(e.fingerprint.clone());
        self.settings.previous_token_valid_until = Some(e.previous_valid_until);
        self.settings.bootstrap_rotated_at = Some(at);
        Ok(())
    }

    /// An old job retention keeps its meaning as the audit retention: the jobs left with
    /// their records.
    pub(crate) fn retention_changed(&mut self, e: &SettingsRetentionChanged) -> Folded {
        self.settings.retention.audit_days = Some(e.days);
        Ok(())
    }

    pub(crate) fn retention_set(&mut self, e: &SettingsRetentionSet) -> Folded {
        *self.settings.retention.slot(e.kind) = e.days;
        Ok(())
    }

    pub(crate) fn audit_pruned(&mut self, e: &AuditPruned, at: Timestamp) -> Folded {
        let through = self.pruned_through();
        if e.first_seq > e.last_seq || e.last_seq <= through {
            return Err(format!(
                "prune of records {}..={} after records through {through} were pruned",
                e.first_seq, e.last_seq
            ));
        }
        self.jobs.evict_finished_through(e.through);
        self.settings.last_prune = Some(LogPruned {
            first_seq: e.first_seq,
            last_seq: e.last_seq,
            through: e.through,
            archive: e.archive.clone(),
            at,
        });
        Ok(())
    }

    pub(crate) fn lease_acquired(&mut self, e: &LeaseAcquired, at: Timestamp) -> Folded {
        if e.term <= self.lease_term() {
            return Err(format!(
                "lease term {} is not above the recorded term {}",
                e.term,
                self.lease_term()
            ));
        }
        self.leadership = Some(Leadership { holder: e.holder.clone(), term: e.term, since: at });
        Ok(())
    }

    pub(crate) fn health_changed(&mut self, e: &HealthChanged, at: Timestamp) -> Folded {
        let health = Health { ok: e.ok, message: e.message.clone(), since: at };
        self.health.insert(e.component.clone(), health);
        Ok(())
    }
}
