//! Sign-in (SPEC §9): sessions in an HttpOnly, SameSite=Strict cookie backed by a server-side
//! record (revocation is immediate); local sign-in with argon2id hashes, a bootstrap user whose
//! random password is printed once, throttling per client address and per account, uniform
//! timing for unknown users, every attempt audited; OpenID Connect in [`oidc`].

pub(crate) mod oidc;

use crate::app::Meta;
use crate::engine::Engine;
use crate::secrets::{Session, random_token};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pacer_domain::{
    Actor, AuthLoginFailed, AuthLoginSucceeded, AuthLogout, AuthMethod, AuthRecord, Command, Timestamp,
    UserCreated,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The session cookie.
pub(crate) const COOKIE: &str = "pacer_session";
/// Failed sign-ins allowed per account in [`THROTTLE_WINDOW_MS`].
const ACCOUNT_LIMIT: usize = 5;
/// Failed sign-ins allowed per client address in [`THROTTLE_WINDOW_MS`].
const ADDRESS_LIMIT: usize = 20;
/// The throttling window.
const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1_000;

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Auth is disabled: everyone is the operator.
    Operator,
    /// A signed-in user.
    User {
        /// The user's email, as recorded in the log's actor.
        email: String,
        /// How they signed in.
        method: AuthMethod,
        /// The session id (to revoke on logout).
        session: String,
    },
    /// No valid session: only sign-in and public routes answer.
    Anonymous,
}

impl Principal {
    /// Whether this principal may use the API.
    pub fn allowed(&self) -> bool {
        !matches!(self, Principal::Anonymous)
    }

    /// The actor recorded for what this principal does.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User { email, .. } => Actor::User(email.clone()),
            _ => Actor::User("operator".into()),
        }
    }
}

/// Why a local sign-in failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password (never said which).
    #[error("wrong email or password")]
    BadCredentials,
    /// Too many failures from this address or for this account.
    #[error("too many failed attempts; try again later")]
    Throttled,
    /// The log or the secrets file refused the write; the caller should retry later.
    #[error("sign-in is unavailable right now")]
    Unavailable,
}

/// Sign-in settings and state.
pub struct Auth {
    /// No sign-in at all.
    pub disabled: bool,
    /// The bootstrap user's email.
    pub local_email: String,
    /// Session lifetime.
    pub session_ttl_ms: i64,
    /// Secure cookies (public URL is https).
    pub secure: bool,
    /// OIDC, when enabled.
    pub oidc: Option<oidc::Oidc>,
    failures: Mutex<HashMap<String, Vec<i64>>>,
    dummy_hash: String,
}

fn argon() -> Argon2<'static> {
    Argon2::default()
}

/// An argon2id hash of `password`.
pub(crate) fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon().hash_password(password.as_bytes(), &salt)?.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl Auth {
    /// Sign-in as configured.
    pub fn new(
        disabled: bool,
        local_email: String,
        session_ttl_hours: u64,
        secure: bool,
        oidc: Option<oidc::Oidc>,
    ) -> Auth {
        Auth {
            disabled,
            local_email,
            session_ttl_ms: session_ttl_hours as i64 * 3_600_000,
            secure,
            oidc,
            failures: Mutex::new(HashMap::new()),
            dummy_hash: hash_password(&random_token()).unwrap_or_default(),
        }
    }

    /// On first start with no users, creates the bootstrap user with a random password and
    /// returns that password (to be printed once). `None` when users exist or auth is off.
    pub async fn ensure_bootstrap_user(&self, engine: &Engine) -> anyhow::Result<Option<String>> {
        if self.disabled || !engine.app.state().users.is_empty() {
            return Ok(None);
        }
        let password: String =
            random_token().chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
        let hash =
            hash_password(&password).map_err(|e| anyhow::anyhow!("hashing the bootstrap password: {e}"))?;
        engine.secrets.set_password_hash(&self.local_email, hash)?;
        let record = AuthRecord::UserCreated(UserCreated {
            email: self.local_email.clone(),
            method: AuthMethod::Local,
        });
        engine.app.execute(Command::RecordAuth(record), Meta::by(Actor::System)).await?;
        Ok(Some(password))
    }

    fn throttled(&self, keys: &[String], now: i64) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter().any(|key| {
            let list = failures.entry(key.clone()).or_default();
            list.retain(|t| now - t < THROTTLE_WINDOW_MS);
            let limit = if key.starts_with("ip:") { ADDRESS_LIMIT } else { ACCOUNT_LIMIT };
            list.len() >= limit
        })
    }

    fn note_failure(&self, keys: &[String], now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            failures.entry(key.clone()).or_default().push(now);
        }
    }

    /// Local sign-in: a new session id, or why not. Every attempt is audited.
    pub async fn login(
        &self,
        engine: &Engine,
        email: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<(String, Session), LoginError> {
        let email = email.trim().to_ascii_lowercase();
        let now = engine.app.now();
        let keys = [format!("ip:{ip}"), format!("user:{email}")];
        let record = |reason: &str| {
            Command::RecordAuth(AuthRecord::LoginFailed(AuthLoginFailed {
                email: email.clone(),
                method: AuthMethod::Local,
                ip: ip.to_string(),
                reason: reason.to_owned(),
            }))
        };
        if self.throttled(&keys, now.millis()) {
            let _ = engine.app.execute(record("throttled"), Meta::by(Actor::System)).await;
            return Err(LoginError::Throttled);
        }
        let known = engine.app.state().users.contains_key(&email);
        let stored = engine.secrets.password_hash(&email).filter(|_| known);
        // Unknown users cost the same verification as known ones.
        let hash = stored.clone().unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.to_owned();
        let valid =
            tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false);
        if !(valid && stored.is_some()) {
            self.note_failure(&keys, now.millis());
            let _ = engine.app.execute(record("bad_credentials"), Meta::by(Actor::System)).await;
            return Err(LoginError::BadCredentials);
        }
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&keys[1]);
        self.start_session(engine, &email, AuthMethod::Local, ip, now).await
    }

    /// Opens a session for a user whose identity is established, and audits it.
    pub async fn start_session(
        &self,
        engine: &Engine,
        email: &str,
        method: AuthMethod,
        ip: IpAddr,
        now: Timestamp,
    ) -> Result<(String, Session), LoginError> {
        let id = random_token();
        let session = Session {
            email: email.to_owned(),
            expires_at: now.millis() + self.session_ttl_ms,
            oidc: method == AuthMethod::Oidc,
        };
        engine.secrets.put_session(&id, session.clone()).map_err(|_| LoginError::Unavailable)?;
        let record = AuthRecord::LoginSucceeded(AuthLoginSucceeded {
            email: email.to_owned(),
            method,
            ip: ip.to_string(),
        });
        engine
            .app
            .execute(Command::RecordAuth(record), Meta::by(Actor::User(email.to_owned())))
            .await
            .map_err(|_| LoginError::Unavailable)?;
        Ok((id, session))
    }

    /// Ends a session (audited).
    pub async fn logout(&self, engine: &Engine, principal: &Principal) {
        if let Principal::User { email, session, .. } = principal {
            let _ = engine.secrets.revoke_session(session);
            let record = AuthRecord::Logout(AuthLogout { email: email.clone() });
            let _ =
                engine.app.execute(Command::RecordAuth(record), Meta::by(Actor::User(email.clone()))).await;
        }
    }

    /// Who sends this `Cookie` header.
    pub fn principal(&self, engine: &Engine, cookies: Option<&str>) -> Principal {
        if self.disabled {
            return Principal::Operator;
        }
        match cookies.and_then(|c| cookie(c, COOKIE)) {
            Some(id) => self.session_principal(engine, id),
            None => Principal::Anonymous,
        }
    }

    /// Who holds session `id`.
    pub fn session_principal(&self, engine: &Engine, id: &str) -> Principal {
        if self.disabled {
            return Principal::Operator;
        }
        match engine.secrets.session(id, engine.app.now()) {
            Some(session) => {
                let method = if session.oidc { AuthMethod::Oidc } else { AuthMethod::Local };
                Principal::User { email: session.email, method, session: id.to_owned() }
            }
            None => Principal::Anonymous,
        }
    }

    /// Whether the session behind `principal` is still valid (revocation check for open
    /// WebSockets).
    pub fn still_valid(&self, engine: &Engine, principal: &Principal) -> bool {
        match principal {
            Principal::User { session, .. } => engine.secrets.session(session, engine.app.now()).is_some(),
            Principal::Operator => true,
            Principal::Anonymous => false,
        }
    }

    /// The `Set-Cookie` value for a new session.
    pub fn session_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.session_ttl_ms / 1_000
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        (key == name).then_some(value).filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn cookies_are_found_by_name() {
        assert_eq!(cookie("a=1; pacer_session=abc; b=2", COOKIE), Some("abc"));
        assert_eq!(cookie("pacer_session=", COOKIE), None);
        assert_eq!(cookie("other=1", COOKIE), None);
    }
}
