//! Users and sign-ins as the domain sees them: console users created, every sign-in, failed
//! sign-in, sign-out and OIDC refusal (the audit trail of access), and the user list folded
//! from them. Passwords and sessions are the server's; only their facts are recorded here.

use crate::event::Event;
use crate::rejection::Rejection;
use crate::state::{Folded, State};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A console user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Email as first recorded (users are keyed by its lower-cased form).
    pub email: String,
    /// When the user was created.
    pub created_at: Timestamp,
    /// Last successful sign-in, if any.
    pub last_login_at: Option<Timestamp>,
    /// Disabled by an operator: every session ended, no sign-in until enabled again.
    pub disabled: bool,
}

/// An authentication fact the server asks to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthRecord {
    /// A user was created (refused when the email, case-insensitively, exists).
    UserCreated(UserCreated),
    /// A sign-in succeeded.
    LoginSucceeded(AuthLoginSucceeded),
    /// A sign-in failed.
    LoginFailed(AuthLoginFailed),
    /// A user signed out.
    Logout(AuthLogout),
    /// An OIDC sign-in was refused.
    OidcDenied(AuthOidcLoginDenied),
    /// An operator disabled a user (refused for an unknown or already disabled user).
    UserDisabled(UserDisabled),
    /// An operator enabled a disabled user again (refused for an unknown or enabled user).
    UserEnabled(UserEnabled),
}

/// How a user signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// Email and password, checked against the argon2id hash the server keeps.
    Local,
    /// OpenID Connect (authorization code + PKCE) with the configured issuer.
    Oidc,
}

/// `user.created`: a console user was created (the bootstrap user at first start, or an OIDC
/// user at first sign-in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The user's email, unique case-insensitively.
    pub email: String,
    /// How the user signs in: local password or OIDC.
    pub method: AuthMethod,
}

/// `auth.login_succeeded`: a user signed in and got a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLoginSucceeded {
    /// The user's email.
    pub email: String,
    /// Local password or OIDC.
    pub method: AuthMethod,
    /// The client's IP address (from `X-Forwarded-For` only behind a trusted proxy).
    pub ip: String,
}

/// `auth.login_failed`: a sign-in was refused (never records the password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLoginFailed {
    /// The email tried, trimmed and lower-cased (it may name no user).
    pub email: String,
    /// Local password or OIDC.
    pub method: AuthMethod,
    /// The client's IP address (from `X-Forwarded-For` only behind a trusted proxy).
    pub ip: String,
    /// Why: `bad_credentials` (unknown user or wrong password, not told apart) or `throttled`
    /// (too many recent failures from the client IP or for the account).
    pub reason: String,
}

/// `auth.logout`: a user signed out; the session is revoked at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLogout {
    /// The user's email.
    pub email: String,
}

/// `auth.oidc.login_denied`: an OIDC sign-in was refused (allowlists, unverified email, bad
/// state or token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthOidcLoginDenied {
    /// The verified email the allowlists refused; empty for other refusals.
    pub email: String,
    /// The refusal's code (`not_allowed`, `email_unverified`, `bad_state`, …), then `: ` and
    /// the detail when there is one.
    pub reason: String,
    /// The client's IP address (from `X-Forwarded-For` only behind a trusted proxy).
    pub ip: String,
}

/// `user.disabled`: an operator disabled a user; the server ends every session of the user at
/// once and refuses their sign-ins until `user.enabled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDisabled {
    /// The user's email, lower-cased.
    pub email: String,
}

/// `user.enabled`: an operator enabled a disabled user again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEnabled {
    /// The user's email, lower-cased.
    pub email: String,
}

/// The event of an authentication fact; a second user with the same email is refused, and so is
/// disabling (enabling) a user who is unknown or already disabled (enabled).
pub(crate) fn record(state: &State, record: AuthRecord) -> Result<Vec<Event>, Rejection> {
    Ok(vec![match record {
        AuthRecord::UserCreated(e) => {
            if state.users.contains_key(&e.email.to_ascii_lowercase()) {
                return Err(Rejection::conflict(Some("email"), "a user with this email exists"));
            }
            Event::UserCreated(e)
        }
        AuthRecord::LoginSucceeded(e) => Event::AuthLoginSucceeded(e),
        AuthRecord::LoginFailed(e) => Event::AuthLoginFailed(e),
        AuthRecord::Logout(e) => Event::AuthLogout(e),
        AuthRecord::OidcDenied(e) => Event::AuthOidcLoginDenied(e),
        AuthRecord::UserDisabled(e) => {
            if user_disabled(state, &e.email)? {
                return Err(Rejection::conflict(Some("email"), "the user is already disabled"));
            }
            Event::UserDisabled(e)
        }
        AuthRecord::UserEnabled(e) => {
            if !user_disabled(state, &e.email)? {
                return Err(Rejection::conflict(Some("email"), "the user is not disabled"));
            }
            Event::UserEnabled(e)
        }
    }])
}

/// Whether the user with this email is disabled; NOT_FOUND for an unknown user.
fn user_disabled(state: &State, email: &str) -> Result<bool, Rejection> {
    match state.users.get(&email.to_ascii_lowercase()) {
        Some(user) => Ok(user.disabled),
        None => Err(Rejection::not_found(format!("user {email}"))),
    }
}

impl State {
    pub(crate) fn user_created(&mut self, e: &UserCreated, at: Timestamp) -> Folded {
        let user = User { email: e.email.clone(), created_at: at, last_login_at: None, disabled: false };
        self.users.entry(e.email.to_ascii_lowercase()).or_insert(user);
        Ok(())
    }

    pub(crate) fn login_succeeded(&mut self, e: &AuthLoginSucceeded, at: Timestamp) -> Folded {
        if let Some(user) = self.users.get_mut(&e.email.to_ascii_lowercase()) {
            user.last_login_at = Some(at);
        }
        Ok(())
    }

    pub(crate) fn user_disabled(&mut self, email: &str, disabled: bool) -> Folded {
        match self.users.get_mut(&email.to_ascii_lowercase()) {
            Some(user) => {
                user.disabled = disabled;
                Ok(())
            }
            None => Err(format!("no user {email} to disable or enable")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Recorded};
    use crate::rejection::RejectionCode;

    fn fold(state: &mut State, record: AuthRecord) -> Result<(), RejectionCode> {
        let events = super::record(state, record).map_err(|r| r.code)?;
        for event in events {
            let seq = state.last_seq + 1;
            let at = Timestamp::from_millis(1_000);
            state.evolve(&Recorded { seq, at, actor: Actor::System, request_id: None, event });
        }
        Ok(())
    }

    #[test]
    fn users_are_disabled_and_enabled_once() {
        let mut state = State::default();
        let disable = |email: &str| AuthRecord::UserDisabled(UserDisabled { email: email.into() });
        let enable = |email: &str| AuthRecord::UserEnabled(UserEnabled { email: email.into() });
        assert_eq!(fold(&mut state, disable("ann@example.test")), Err(RejectionCode::NotFound));
        let created = UserCreated { email: "Ann@example.test".into(), method: AuthMethod::Local };
        fold(&mut state, AuthRecord::UserCreated(created)).expect("created");
        assert_eq!(fold(&mut state, enable("ann@example.test")), Err(RejectionCode::Conflict));
        fold(&mut state, disable("ann@example.test")).expect("disabled");
        assert!(state.users["ann@example.test"].disabled);
        assert_eq!(fold(&mut state, disable("ANN@example.test")), Err(RejectionCode::Conflict));
        fold(&mut state, enable("ann@example.test")).expect("enabled");
        assert!(!state.users["ann@example.test"].disabled);
        assert_eq!(state.anomaly_count, 0);
    }
}
