//! Sign-in: sessions in an HttpOnly, SameSite=Strict cookie backed by a server-side
//! record (revocation is immediate); local sign-in with argon2id hashes, a bootstrap user whose
//! random password is printed once, throttling per client address and per account, uniform
//! timing for unknown users, every attempt audited; OpenID Connect in [`oidc`].

pub(crate) mod oidc;
mod throttle;

use crate::app::{App, Meta};
use crate::engine::Engine;
use crate::secrets::{Secrets, Session, random_token};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pacer_domain::{
    Actor, AuthLoginFailed, AuthLoginSucceeded, AuthLogout, AuthMethod, AuthOidcLoginDenied, AuthRecord,
    Command, Timestamp, UserCreated, UserDisabled, UserEnabled,
};
use std::net::IpAddr;
use std::sync::Arc;
use throttle::{Key, Throttle, Verdict, client_source};

/// The session cookie over http.
pub(crate) const COOKIE: &str = "pacer_session";
/// The session cookie over https: the `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, host-only and for `/`, so no sibling host can plant or overwrite it.
pub(crate) const SECURE_COOKIE: &str = "__Host-pacer_session";
/// Password verifications running at once (argon2id takes ~19 MiB each); more get 429 at once.
const VERIFICATIONS: usize = 4;
/// How often sessions are re-checked against the users and the OIDC allowlists.
pub(crate) const REVALIDATE_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Longest text of a caller's recorded in the log (an email is at most 254 characters).
pub(crate) const RECORDED_TEXT: usize = 254;

/// `text` cut to [`RECORDED_TEXT`] characters, for the log.
pub(crate) fn capped(text: &str) -> String {
    text.chars().take(RECORDED_TEXT).collect()
}

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
    /// Too many attempts from this address, or for this account from this address, or too many
    /// verifications under way.
    #[error("too many attempts; try again later")]
    Throttled,
    /// The right password, but an operator disabled the account.
    #[error("this account is disabled")]
    Disabled,
    /// The log or the secrets file refused the write; the caller should retry later.
    #[error("sign-in is unavailable right now")]
    Unavailable,
}

/// Why a user could not be disabled or enabled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserChangeError {
    /// The domain refused it (unknown user, already in that state).
    #[error("{}", .0.message)]
    Rejected(pacer_domain::Rejection),
    /// Operators cannot disable themselves (they would lose the console at once).
    #[error("you cannot disable your own account")]
    Yourself,
    /// The log refused the write.
    #[error("{0}")]
    Unavailable(String),
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
    /// Attempts per client and per account, counted before any work.
    throttle: Throttle,
    verifications: tokio::sync::Semaphore,
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
            throttle: Throttle::default(),
            verifications: tokio::sync::Semaphore::new(VERIFICATIONS),
            dummy_hash: hash_password(&random_token()).unwrap_or_default(),
        }
    }

    /// On first start with no users, creates the bootstrap user with a random password and
    /// returns that password (to be printed once). `None` when users exist or auth is off.
    pub async fn ensure_bootstrap_user(&self, engine: &Engine) -> anyhow::Result<Option<String>> {
        if self.disabled || !engine.app.state().users.is_empty() {
            return Ok(None);
        }
        let password =
            create_local_user(&engine.app, &engine.secrets, &self.local_email, Actor::System).await?;
        Ok(Some(password))
    }

    /// Local sign-in: a new session id, or why not. Every attempt is audited.
    pub async fn login(
        &self,
        engine: &Engine,
        email: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<(String, Session), LoginError> {
        let email = capped(&email.trim().to_ascii_lowercase());
        let now = engine.app.now();
        let source = client_source(ip);
        let account = Key::Account { email: email.clone(), source: source.clone() };
        let keys = [Key::SignIn { source }, account.clone()];
        let record = |reason: &str| {
            Command::RecordAuth(AuthRecord::LoginFailed(AuthLoginFailed {
                email: email.clone(),
                method: AuthMethod::Local,
                ip: ip.to_string(),
                reason: reason.to_owned(),
            }))
        };
        if self.throttle.attempt(&keys, now.millis()) == Verdict::Refused {
            // Recorded once per key and window, with the count, by the upkeep.
            engine.metrics.throttled();
            return Err(LoginError::Throttled);
        }
        let Ok(_verifying) = self.verifications.try_acquire() else {
            return Err(LoginError::Throttled);
        };
        let known = engine.app.state().users.contains_key(&email);
        let stored = engine.secrets.password_hash(&email).filter(|_| known);
        // Unknown users cost the same verification as known ones.
        let hash = stored.clone().unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.to_owned();
        // At a low priority: a burst of sign-ins waits for the webhooks, not the other way round.
        let verify = move || verify_password(&password, &hash);
        let valid = crate::background::run_niced("pacer-password", crate::background::LOW, verify)
            .await
            .unwrap_or(false);
        if !(valid && stored.is_some()) {
            let _ = engine.app.execute(record("bad_credentials"), Meta::by(Actor::System)).await;
            return Err(LoginError::BadCredentials);
        }
        if user_disabled(engine, &email) {
            let _ = engine.app.execute(record("disabled"), Meta::by(Actor::System)).await;
            return Err(LoginError::Disabled);
        }
        self.throttle.forget(&account);
        self.start_session(engine, &email, AuthMethod::Local, Vec::new(), ip, now).await
    }

    /// Opens a session for a user whose identity is established (with the OIDC groups it was
    /// admitted with), and audits it.
    pub async fn start_session(
        &self,
        engine: &Engine,
        email: &str,
        method: AuthMethod,
        groups: Vec<String>,
        ip: IpAddr,
        now: Timestamp,
    ) -> Result<(String, Session), LoginError> {
        let id = random_token();
        let session = Session {
            email: email.to_owned(),
            expires_at: now.millis() + self.session_ttl_ms,
            oidc: method == AuthMethod::Oidc,
            groups,
        };
        engine.secrets.put_session(&id, session.clone()).await.map_err(|_| LoginError::Unavailable)?;
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
            if let Err(error) = engine.secrets.revoke_session(session).await {
                tracing::warn!(%error, "a session could not be revoked");
            }
            let record = AuthRecord::Logout(AuthLogout { email: email.clone() });
            let _ =
                engine.app.execute(Command::RecordAuth(record), Meta::by(Actor::User(email.clone()))).await;
        }
    }

    /// Ends the sessions that would not be granted today: of disabled or unknown users, and OIDC
    /// sessions whose email and groups the allowlists no longer admit (or with OIDC turned
    /// off); forgets expired ones. Runs at start and every [`REVALIDATE_EVERY`].
    pub async fn revalidate_sessions(&self, engine: &Engine) -> Result<usize, pacer_store::StoreError> {
        let enabled: std::collections::HashSet<String> = engine
            .app
            .state()
            .users
            .iter()
            .filter(|(_, u)| !u.disabled)
            .map(|(key, _)| key.clone())
            .collect();
        let granted = |session: &Session| {
            let admitted = !session.oidc
                || self.oidc.as_ref().is_some_and(|oidc| {
                    let identity =
                        oidc::Identity { email: session.email.clone(), groups: session.groups.clone() };
                    oidc.allows(&identity)
                });
            enabled.contains(&session.email.to_ascii_lowercase()) && admitted
        };
        engine.secrets.end_sessions(engine.app.now(), |session| !granted(session)).await
    }

    /// Re-checks every session once, before any request is served (a session the users or the
    /// allowlists no longer admit must not answer even the first one), then runs the upkeep
    /// until shutdown: every session re-checked every [`REVALIDATE_EVERY`]; every minute, each
    /// run of throttled attempts that began a window ago recorded once with its count (at
    /// shutdown, every run under way).
    pub async fn start_upkeep(self: &Arc<Self>, engine: &Arc<Engine>) {
        log_revalidation(self.revalidate_sessions(engine).await);
        let (auth, engine_for_task) = (self.clone(), engine.clone());
        engine.spawn_task(move |mut shutdown| async move {
            let engine = engine_for_task;
            let first = tokio::time::Instant::now() + REVALIDATE_EVERY;
            let mut revalidate = tokio::time::interval_at(first, REVALIDATE_EVERY);
            let mut minute = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = shutdown.changed() => {
                        auth.record_runs(&engine, auth.throttle.all_runs()).await;
                        return;
                    }
                    _ = minute.tick() => {
                        let ended = auth.throttle.ended_runs(engine.app.now().millis());
                        auth.record_runs(&engine, ended).await;
                    }
                    _ = revalidate.tick() => log_revalidation(auth.revalidate_sessions(&engine).await),
                }
            }
        });
    }

    /// Records each ended run of throttled attempts as one record with the count.
    async fn record_runs(&self, engine: &Engine, runs: Vec<(Key, u64)>) {
        for (key, refused) in runs {
            let reason = format!("throttled: {refused} attempts refused");
            let record = match key {
                Key::SignIn { source } => AuthRecord::LoginFailed(AuthLoginFailed {
                    email: String::new(),
                    method: AuthMethod::Local,
                    ip: source,
                    reason,
                }),
                Key::Account { email, source } => AuthRecord::LoginFailed(AuthLoginFailed {
                    email,
                    method: AuthMethod::Local,
                    ip: source,
                    reason,
                }),
                Key::SsoStart { source } => {
                    AuthRecord::OidcDenied(AuthOidcLoginDenied { email: String::new(), reason, ip: source })
                }
            };
            if let Err(e) = engine.app.execute(Command::RecordAuth(record), Meta::by(Actor::System)).await {
                tracing::warn!(%e, "could not record throttled attempts");
            }
        }
    }

    /// Whether this client may start another SSO sign-in now (30 per 15 minutes); refusals are
    /// recorded once per window, with their count, by the upkeep.
    pub fn admit_sso_start(&self, engine: &Engine, ip: IpAddr) -> bool {
        let key = Key::SsoStart { source: client_source(ip) };
        let verdict = self.throttle.attempt(&[key], engine.app.now().millis());
        if verdict == Verdict::Refused {
            engine.metrics.throttled();
        }
        verdict == Verdict::Allowed
    }

    /// Who sends this `Cookie` header.
    pub fn principal(&self, engine: &Engine, cookies: Option<&str>) -> Principal {
        if self.disabled {
            return Principal::Operator;
        }
        match cookies.and_then(|c| cookie(c, self.cookie_name())) {
            Some(id) => self.session_principal(engine, id),
            None => Principal::Anonymous,
        }
    }

    /// Who holds session `id`.
    pub fn session_principal(&self, engine: &Engine, id: &str) -> Principal {
        if self.disabled {
            return Principal::Operator;
        }
        match engine.secrets.session(id, engine.app.now()).filter(|s| !user_disabled(engine, &s.email)) {
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
            Principal::User { session, email, .. } => {
                engine.secrets.session(session, engine.app.now()).is_some() && !user_disabled(engine, email)
            }
            Principal::Operator => true,
            Principal::Anonymous => false,
        }
    }

    /// The `Set-Cookie` value for a new session.
    pub fn session_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.cookie_name(),
            self.session_ttl_ms / 1_000
        )
    }

    /// The session cookie's name: `__Host-` prefixed over https.
    fn cookie_name(&self) -> &'static str {
        if self.secure { SECURE_COOKIE } else { COOKIE }
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", self.cookie_name())
    }
}

/// Creates a local user with a random password, audited as `by`; the password (to be shown once,
/// only its hash is kept). Refused when a user with this email exists.
pub(crate) async fn create_local_user(
    app: &App,
    secrets: &Secrets,
    email: &str,
    by: Actor,
) -> anyhow::Result<String> {
    let email = email.trim().to_ascii_lowercase();
    let looks_like_email = email.len() <= RECORDED_TEXT
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'));
    anyhow::ensure!(looks_like_email, "{email:?} is not an email address");
    anyhow::ensure!(!app.state().users.contains_key(&email), "a user {email} exists already");
    let password: String = random_token().chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    secrets.set_password_hash(&email, hash).await?;
    let record = AuthRecord::UserCreated(UserCreated { email, method: AuthMethod::Local });
    app.execute(Command::RecordAuth(record), Meta::by(by)).await?;
    Ok(password)
}

/// Disables (`disabled`) or enables a user, audited as `by`; disabling ends every session of the
/// user at once, open WebSockets included. Also serves `pacer user` on a stopped Pacer.
pub(crate) async fn set_user_disabled(
    app: &App,
    secrets: &Secrets,
    email: &str,
    disabled: bool,
    by: Actor,
) -> Result<(), UserChangeError> {
    let email = email.trim().to_ascii_lowercase();
    if disabled && by == Actor::User(email.clone()) {
        return Err(UserChangeError::Yourself);
    }
    let record = if disabled {
        AuthRecord::UserDisabled(UserDisabled { email: email.clone() })
    } else {
        AuthRecord::UserEnabled(UserEnabled { email: email.clone() })
    };
    app.execute(Command::RecordAuth(record), Meta::by(by)).await.map_err(|e| match e {
        crate::app::AppError::Rejected(rejection) => UserChangeError::Rejected(rejection),
        other => UserChangeError::Unavailable(other.to_string()),
    })?;
    if disabled
        && let Err(e) = secrets.end_sessions(app.now(), |s| s.email.eq_ignore_ascii_case(&email)).await
    {
        tracing::warn!(%e, "the disabled user's sessions ended, but saving that failed");
    }
    Ok(())
}

/// Whether an operator disabled the user with this email.
fn user_disabled(engine: &Engine, email: &str) -> bool {
    engine.app.state().users.get(&email.to_ascii_lowercase()).is_some_and(|u| u.disabled)
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        (key == name).then_some(value).filter(|v| !v.is_empty())
    })
}

/// Logs what a re-check of the sessions ended.
fn log_revalidation(ended: Result<usize, pacer_store::StoreError>) {
    match ended {
        Ok(0) => {}
        Ok(ended) => tracing::info!(ended, "ended sessions no longer granted"),
        Err(e) => tracing::warn!(%e, "ended sessions no longer granted, but saving that failed"),
    }
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
        let https = Auth::new(false, "a@example.test".into(), 12, true, None);
        assert!(https.session_cookie("abc").starts_with("__Host-pacer_session=abc; Path=/;"));
        assert!(https.session_cookie("abc").ends_with("; Secure"));
        assert!(https.clear_cookie().starts_with("__Host-pacer_session=;"));
        let http = Auth::new(false, "a@example.test".into(), 12, false, None);
        assert!(http.session_cookie("abc").starts_with("pacer_session=abc;"));
    }
}
