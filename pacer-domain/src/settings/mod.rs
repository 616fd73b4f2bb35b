//! Settings and health: what operators change in the console's Settings page (job retention,
//! bootstrap-token rotation) and each component's health as Pacer observed it. Their facts,
//! the rules that accept or refuse a change, and how each fact folds into [`State`].

use crate::event::Event;
use crate::rejection::Rejection;
use crate::state::{Folded, State};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Days a finished job stays in the jobs view unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// Longest retention, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3_650;

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

/// Settings changed through the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Days a finished job stays in the jobs view (1 to [`MAX_RETENTION_DAYS`], default
    /// [`DEFAULT_RETENTION_DAYS`]); older ones are evicted as the log advances.
    pub retention_days: u32,
    /// Fingerprint of the current bootstrap token; `None` until the first rotation.
    pub bootstrap_fingerprint: Option<String>,
    /// The previous bootstrap token is accepted until then; `None` until the first rotation.
    pub previous_token_valid_until: Option<Timestamp>,
    /// When the bootstrap token was last rotated; `None` until the first rotation.
    pub bootstrap_rotated_at: Option<Timestamp>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
            bootstrap_fingerprint: None,
            previous_token_valid_until: None,
            bootstrap_rotated_at: None,
        }
    }
}

/// `settings.bootstrap_token_rotated`: an operator rotated the pools' bootstrap token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsBootstrapTokenRotated {
    /// A short fingerprint of the new token (never the token).
    pub fingerprint: String,
    /// Until when the previous token stays valid.
    pub previous_valid_until: Timestamp,
}

/// `settings.retention_changed`: an operator changed job retention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRetentionChanged {
    /// Days a finished job stays in the jobs view, 1..=[`MAX_RETENTION_DAYS`].
    pub days: u32,
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

/// `settings.retention_changed`, for 1 to [`MAX_RETENTION_DAYS`] days.
pub(crate) fn set_retention(days: u32) -> Result<Vec<Event>, Rejection> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(Rejection::field("days", format!("must be between 1 and {MAX_RETENTION_DAYS}")));
    }
    Ok(vec![Event::SettingsRetentionChanged(SettingsRetentionChanged { days })])
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

    pub(crate) fn retention_changed(&mut self, e: &SettingsRetentionChanged) -> Folded {
        self.settings.retention_days = e.days;
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
