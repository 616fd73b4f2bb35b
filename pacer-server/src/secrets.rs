//! Secret material Pacer keeps beside its log, never in it: the bootstrap keys (current and,
//! after a rotation, the previous one until its grace ends) and each pool's token generation,
//! the key that signs per-job callback tokens, the hashes of issued callback tokens, password
//! hashes and session hashes. Stored as `secrets.json` (mode 0600) in the data directory,
//! replaced atomically on every change.
//!
//! A pool's bootstrap token is derived, not stored: `pb1.<pool>.<generation>.<mac>`, the MAC an
//! HMAC-SHA256 of the pool and generation under the bootstrap key. Each pool's instances carry
//! their pool's token only, so a token read on one pool's instance bootstraps nothing of
//! another pool; rotating one pool bumps its generation, rotating all replaces the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use pacer_domain::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use subtle::ConstantTimeEq;

/// A random token: 32 bytes from the OS, base64url.
///
/// # Panics
/// When the OS has no entropy source at all: no token Pacer could make would be secret, so it
/// stops loudly rather than hand out guessable sessions and keys.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if let Err(error) = getrandom::fill(&mut bytes) {
        panic!("the operating system gives no randomness ({error}); Pacer cannot make secrets");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `text`, hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A short public fingerprint of a secret (first 12 hex digits of its SHA-256).
pub(crate) fn fingerprint(secret: &str) -> String {
    sha256_hex(secret)[..12].to_owned()
}

/// The bootstrap token of `pool` at `generation` under `key`.
fn pool_token(key: &str, pool: u64, generation: u32) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be taken.
        <Hmac<Sha256> as Mac>::new_from_slice(b"pacer").expect("a 5-byte key is valid")
    });
    mac.update(format!("pacer/bootstrap/v1/{pool}/{generation}").as_bytes());
    format!("pb1.{pool}.{generation}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct BootstrapToken {
    token: String,
    /// `None` for the current token.
    valid_until: Option<i64>,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The signed-in user's email.
    pub email: String,
    /// When the session ends, UTC milliseconds since the epoch.
    pub expires_at: i64,
    /// Signed in through OIDC (else with a password).
    #[serde(default)]
    pub oidc: bool,
    /// OIDC sessions: the groups the provider named at sign-in, for re-checking the allowlists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A pool's bootstrap token generation; the previous one stays valid until its grace ends.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct PoolGeneration {
    current: u32,
    previous_valid_until: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct File {
    /// The bootstrap keys: the current one first, then the previous one during its grace.
    bootstrap: Vec<BootstrapToken>,
    #[serde(default)]
    pool_generations: BTreeMap<u64, PoolGeneration>,
    callback_key: String,
    #[serde(default)]
    callback_tokens: BTreeMap<String, String>,
    #[serde(default)]
    password_hashes: BTreeMap<String, String>,
    #[serde(default)]
    sessions: BTreeMap<String, Session>,
}

/// What a callback token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackClaims {
    /// The job the instance was launched for (`JobId`'s number).
    pub job: u64,
    /// The EC2 instance id (`i-…`) the token was issued to.
    pub instance: String,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, forged or not issued.
    #[error("invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("expired token")]
    Expired,
}

/// The secrets file.
pub struct Secrets {
    path: PathBuf,
    file: Mutex<File>,
    /// Bumped whenever sessions end before their time, so open WebSockets re-check theirs.
    sessions_ended: tokio::sync::watch::Sender<u64>,
}

impl Secrets {
    /// Opens `secrets.json` in `dir`, creating it with fresh material when missing.
    pub fn open(dir: &Path) -> anyhow::Result<Secrets> {
        std::fs::create_dir_all(dir)?;
        // The data directory holds the log and the secrets: its owner only.
        #[cfg(unix)]
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let path = dir.join("secrets.json");
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File {
                bootstrap: vec![BootstrapToken { token: random_token(), valid_until: None }],
                callback_key: random_token(),
                ..File::default()
            },
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        let secrets =
            Secrets { path, file: Mutex::new(file), sessions_ended: tokio::sync::watch::Sender::new(0) };
        secrets.save(&secrets.lock())?;
        Ok(secrets)
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, file: &File) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut out =
                std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode_0600().open(&tmp)?;
            out.write_all(&serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?)?;
            out.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn update<T>(&self, change: impl FnOnce(&mut File) -> T) -> std::io::Result<T> {
        let mut file = self.lock();
        let out = change(&mut file);
        self.save(&file)?;
        Ok(out)
    }

    /// A fingerprint of the current bootstrap key (shown to operators; it changes with every
    /// rotation of all pools' tokens).
    pub fn bootstrap_fingerprint(&self) -> String {
        fingerprint(&self.lock().bootstrap.first().map(|t| t.token.clone()).unwrap_or_default())
    }

    /// The current bootstrap token of `pool` (goes into its launch template's user data).
    pub fn pool_bootstrap_token(&self, pool: u64) -> String {
        let file = self.lock();
        let key = file.bootstrap.first().map(|t| t.token.as_str()).unwrap_or_default();
        let generation = file.pool_generations.get(&pool).copied().unwrap_or_default().current;
        pool_token(key, pool, generation)
    }

    /// The pool a bootstrap token belongs to, if it is that pool's current token or its
    /// previous one still in its grace, under the current key or the previous one in its grace.
    pub fn check_pool_bootstrap(&self, token: &str, now: Timestamp) -> Option<u64> {
        let mut parts = token.split('.');
        let (Some("pb1"), Some(pool), Some(generation), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let (pool, generation): (u64, u32) = (pool.parse().ok()?, generation.parse().ok()?);
        let file = self.lock();
        let in_grace = |until: Option<i64>| until.is_none_or(|until| now.millis() < until);
        let signed = file
            .bootstrap
            .iter()
            .filter(|key| in_grace(key.valid_until))
            .any(|key| equal(&pool_token(&key.token, pool, generation), token));
        let state = file.pool_generations.get(&pool).copied().unwrap_or_default();
        let current = generation == state.current;
        let previous = generation.checked_add(1) == Some(state.current)
            && state.previous_valid_until.is_some_and(|until| now.millis() < until);
        (signed && (current || previous)).then_some(pool)
    }

    /// Moves `pool` to a new token generation; its previous token stays valid until
    /// `previous_valid_until`. Returns the new token.
    pub fn rotate_pool_bootstrap(
        &self,
        pool: u64,
        previous_valid_until: Timestamp,
    ) -> std::io::Result<String> {
        self.update(|file| {
            let generation = file.pool_generations.entry(pool).or_default();
            generation.current = generation.current.saturating_add(1);
            generation.previous_valid_until = Some(previous_valid_until.millis());
        })?;
        Ok(self.pool_bootstrap_token(pool))
    }

    /// Replaces the bootstrap key, and so every pool's token; the previous key stays valid
    /// until `previous_valid_until`. Returns the new key's fingerprint.
    pub fn rotate_bootstrap(&self, previous_valid_until: Timestamp) -> std::io::Result<String> {
        let token = random_token();
        let new = token.clone();
        self.update(move |file| {
            let mut kept: Vec<BootstrapToken> = file.bootstrap.drain(..).take(1).collect();
            for old in &mut kept {
                old.valid_until = Some(previous_valid_until.millis());
            }
            file.bootstrap =
                std::iter::once(BootstrapToken { token: new, valid_until: None }).chain(kept).collect();
        })?;
        Ok(fingerprint(&token))
    }

    fn mac(&self, message: &str) -> String {
        let key = self.lock().callback_key.clone();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| {
            // HMAC accepts keys of any length; this branch cannot be taken.
            <Hmac<Sha256> as Mac>::new_from_slice(b"pacer").expect("a 5-byte key is valid")
        });
        mac.update(message.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Issues the callback token of `instance` for `job`, valid until `expires`; only its hash
    /// is kept, and issuing again replaces the previous one.
    pub fn issue_callback(&self, job: u64, instance: &str, expires: Timestamp) -> std::io::Result<String> {
        let body = format!("v1.{job}.{instance}.{}", expires.millis());
        let token = format!("{body}.{}", self.mac(&body));
        let hash = sha256_hex(&token);
        let instance = instance.to_owned();
        self.update(move |file| file.callback_tokens.insert(instance, hash))?;
        Ok(token)
    }

    /// Checks a callback token: signature, expiry, and that it is the one issued.
    pub fn check_callback(&self, token: &str, now: Timestamp) -> Result<CallbackClaims, TokenError> {
        let (body, mac) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        if !equal(&self.mac(body), mac) {
            return Err(TokenError::Invalid);
        }
        let mut parts = body.split('.');
        let (Some("v1"), Some(job), Some(instance), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let job: u64 = job.parse().map_err(|_| TokenError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
        let issued = self.lock().callback_tokens.get(instance).is_some_and(|h| equal(h, &sha256_hex(token)));
        if !issued {
            return Err(TokenError::Invalid);
        }
        if now.millis() >= expires {
            return Err(TokenError::Expired);
        }
        Ok(CallbackClaims { job, instance: instance.to_owned() })
    }

    /// Forgets callback tokens of instances not in `live`.
    pub fn prune_callbacks(&self, live: impl Fn(&str) -> bool) -> std::io::Result<()> {
        let stale = self.lock().callback_tokens.keys().any(|i| !live(i));
        if stale {
            self.update(|file| file.callback_tokens.retain(|i, _| live(i)))?;
        }
        Ok(())
    }

    /// The stored password hash of a user.
    pub fn password_hash(&self, email: &str) -> Option<String> {
        self.lock().password_hashes.get(&email.to_ascii_lowercase()).cloned()
    }

    /// Stores a user's password hash.
    pub fn set_password_hash(&self, email: &str, hash: String) -> std::io::Result<()> {
        let email = email.to_ascii_lowercase();
        self.update(move |file| file.password_hashes.insert(email, hash)).map(|_| ())
    }

    /// Stores a session under the hash of its id.
    pub fn put_session(&self, session_id: &str, session: Session) -> std::io::Result<()> {
        let key = sha256_hex(session_id);
        self.update(move |file| {
            file.sessions.insert(key, session);
        })
    }

    /// The live session with this id.
    pub fn session(&self, session_id: &str, now: Timestamp) -> Option<Session> {
        self.lock().sessions.get(&sha256_hex(session_id)).filter(|s| s.expires_at > now.millis()).cloned()
    }

    /// Revokes a session; true when it existed.
    pub fn revoke_session(&self, session_id: &str) -> std::io::Result<bool> {
        let key = sha256_hex(session_id);
        let revoked = self.update(move |file| file.sessions.remove(&key).is_some());
        self.sessions_ended.send_modify(|n| *n += 1);
        revoked
    }

    /// Ends the sessions `end` picks and forgets expired ones; the number ended (expired ones not
    /// counted). The change holds in memory even when saving it fails.
    pub fn end_sessions(&self, now: Timestamp, end: impl Fn(&Session) -> bool) -> std::io::Result<usize> {
        let mut file = self.lock();
        let before = file.sessions.len();
        file.sessions.retain(|_, s| s.expires_at > now.millis());
        let expired = before - file.sessions.len();
        file.sessions.retain(|_, s| !end(s));
        let ended = before - expired - file.sessions.len();
        if ended > 0 {
            self.sessions_ended.send_modify(|n| *n += 1);
        }
        if ended + expired > 0 {
            self.save(&file)?;
        }
        Ok(ended)
    }

    /// Changes whenever sessions end before their time (logout, a disabled user, a failed
    /// re-check); holders of a session then check theirs.
    pub fn sessions_ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sessions_ended.subscribe()
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_tokens_are_signed_issued_once_and_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::open(dir.path()).expect("open");
        let now = Timestamp(1_000_000);
        let token = secrets.issue_callback(7, "i-1", now.plus_millis(60_000)).expect("issue");
        assert_eq!(
            secrets.check_callback(&token, now),
            Ok(CallbackClaims { job: 7, instance: "i-1".into() })
        );
        assert_eq!(secrets.check_callback(&token, now.plus_millis(60_000)), Err(TokenError::Expired));
        let forged = token.replace("v1.7.", "v1.8.");
        assert_eq!(secrets.check_callback(&forged, now), Err(TokenError::Invalid));
        let second = secrets.issue_callback(7, "i-1", now.plus_millis(60_000)).expect("issue");
        if second != token {
            assert_eq!(
                secrets.check_callback(&token, now),
                Err(TokenError::Invalid),
                "only the latest counts"
            );
        }
        // Survives a restart; nothing in clear but the tokens Pacer must hand out.
        let reopened = Secrets::open(dir.path()).expect("reopen");
        assert!(reopened.check_callback(&second, now).is_ok());
        let on_disk = std::fs::read_to_string(dir.path().join("secrets.json")).expect("read");
        assert!(!on_disk.contains(&second));
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_the_secrets_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Secrets::open(&data).expect("open");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("secrets.json")), 0o600);
    }

    #[test]
    fn bootstrap_rotation_keeps_the_previous_token_for_its_grace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::open(dir.path()).expect("open");
        let old = secrets.pool_bootstrap_token(7);
        let now = Timestamp(1_000);
        assert_eq!(secrets.check_pool_bootstrap(&old, now), Some(7));
        let before = secrets.bootstrap_fingerprint();
        let fingerprint = secrets.rotate_bootstrap(now.plus_millis(500)).expect("rotate");
        assert_ne!(before, fingerprint);
        assert_eq!(secrets.bootstrap_fingerprint(), fingerprint);
        let new = secrets.pool_bootstrap_token(7);
        assert_ne!(old, new);
        assert_eq!(secrets.check_pool_bootstrap(&old, now), Some(7));
        assert_eq!(secrets.check_pool_bootstrap(&old, now.plus_millis(500)), None);
        assert_eq!(secrets.check_pool_bootstrap(&new, now.plus_millis(10_000_000)), Some(7));
        assert_eq!(secrets.check_pool_bootstrap("nope", now), None);
        secrets.rotate_bootstrap(now.plus_millis(900)).expect("rotate");
        let third = secrets.pool_bootstrap_token(7);
        assert_eq!(secrets.check_pool_bootstrap(&old, now), None, "only one previous key is kept");
        assert!(
            secrets.check_pool_bootstrap(&new, now).is_some()
                && secrets.check_pool_bootstrap(&third, now).is_some()
        );
    }

    #[test]
    fn a_pool_token_reaches_its_pool_only_and_rotates_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::open(dir.path()).expect("open");
        let now = Timestamp(1_000);
        let (one, two) = (secrets.pool_bootstrap_token(1), secrets.pool_bootstrap_token(2));
        assert_ne!(one, two);
        assert_eq!(secrets.check_pool_bootstrap(&two, now), Some(2));
        // Claiming another pool or a later generation with the same MAC is a forgery.
        let forged = one.replacen("pb1.1.", "pb1.2.", 1);
        assert_eq!(secrets.check_pool_bootstrap(&forged, now), None);
        let ahead = one.replacen("pb1.1.0.", "pb1.1.1.", 1);
        assert_eq!(secrets.check_pool_bootstrap(&ahead, now), None);
        let rotated = secrets.rotate_pool_bootstrap(1, now.plus_millis(500)).expect("rotate");
        assert!(rotated.starts_with("pb1.1.1."), "{rotated}");
        assert_eq!(secrets.pool_bootstrap_token(2), two, "other pools keep their token");
        assert_eq!(secrets.check_pool_bootstrap(&one, now), Some(1), "the previous one in its grace");
        assert_eq!(secrets.check_pool_bootstrap(&one, now.plus_millis(500)), None);
        assert_eq!(secrets.check_pool_bootstrap(&rotated, now.plus_millis(500)), Some(1));
        let reopened = Secrets::open(dir.path()).expect("reopen");
        assert_eq!(reopened.pool_bootstrap_token(1), rotated, "generations are kept on disk");
    }

    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        Secrets::open(dir.path()).expect("open");
        let mode = std::fs::metadata(dir.path().join("secrets.json")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
