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

/// The event of an authentication fact; a second user with the same email is refused.
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
    }])
}

impl State {
    pub(crate) fn user_created(&mut self, e: &UserCreated, at: Timestamp) -> Folded {
        let user = User { email: e.email.clone(), created_at: at, last_login_at: None };
        self.users.entry(e.email.to_ascii_lowercase()).or_insert(user);
        Ok(())
    }

    pub(crate) fn login_succeeded(&mut self, e: &AuthLoginSucceeded, at: Timestamp) -> Folded {
        if let Some(user) = self.users.get_mut(&e.email.to_ascii_lowercase()) {
            user.last_login_at = Some(at);
        }
        Ok(())
    }
}
