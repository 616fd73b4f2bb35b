//! Secret material Pacer keeps beside its log, never in it: the bootstrap keys (current and,
//! after a rotation, the previous one until its grace ends) and each pool's token generation,
//! the key that signs per-job callback tokens, the hashes of issued callback tokens, password
//! hashes and session hashes. They live in the log's vault ([`EventLog::vault_get`]): written
//! in the same group commit as the log's records, so a burst of bootstraps and sign-ins shares
//! fsyncs; durable before a change is answered (writes run on the blocking pool, never on an
//! async worker); read from memory, where only durable changes appear. Expired sessions and
//! callback tokens are pruned. Entries, JSON: `bootstrap` (the keys, current first),
//! `callback_key`, `pool/<id>` (a pool's generation), `callback/<instance>` (token hash and
//! expiry), `password/<email>` and `session/<SHA-256 of the id>`. A data directory of an
//! earlier version kept them in `secrets.json`: the first start imports that file in one write
//! and deletes it.
//!
//! A pool's bootstrap token is derived, not stored: `pb1.<pool>.<generation>.<mac>`, the MAC an
//! HMAC-SHA256 of the pool and generation under the bootstrap key. Each pool's instances carry
//! their pool's token only, so a token read on one pool's instance bootstraps nothing of
//! another pool; rotating one pool bumps its generation, rotating all replaces the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use pacer_domain::Timestamp;
use pacer_store::{Batch, EventLog, StoreError, VaultWrite};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
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

pub(crate) fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

const BOOTSTRAP: &str = "bootstrap";
const CALLBACK_KEY: &str = "callback_key";
const POOL: &str = "pool/";
const CALLBACK: &str = "callback/";
const PASSWORD: &str = "password/";
const SESSION: &str = "session/";
const GITHUB_APP: &str = "github_app";

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

/// An issued callback token: only its hash, and when it expires (for pruning).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct IssuedCallback {
    hash: String,
    expires_at: i64,
}

/// `secrets.json` as earlier versions wrote it, imported once.
#[derive(Debug, Default, Deserialize)]
struct LegacyFile {
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

fn put(key: impl Into<String>, value: &impl Serialize) -> VaultWrite {
    // Serialising these plain structs and strings to JSON cannot fail.
    let value = serde_json::to_vec(value).unwrap_or_default();
    VaultWrite { key: key.into(), value: Some(value) }
}

fn delete(key: impl Into<String>) -> VaultWrite {
    VaultWrite { key: key.into(), value: None }
}

impl LegacyFile {
    fn into_writes(self) -> Vec<VaultWrite> {
        let mut writes = vec![put(BOOTSTRAP, &self.bootstrap), put(CALLBACK_KEY, &self.callback_key)];
        writes.extend(self.pool_generations.iter().map(|(pool, g)| put(format!("{POOL}{pool}"), g)));
        // Their expiry was not kept: they expire with their instances (the reaper prunes them).
        let forever = IssuedCallback { hash: String::new(), expires_at: i64::MAX };
        writes.extend(self.callback_tokens.into_iter().map(|(instance, hash)| {
            put(format!("{CALLBACK}{instance}"), &IssuedCallback { hash, ..forever.clone() })
        }));
        writes
            .extend(self.password_hashes.iter().map(|(email, hash)| put(format!("{PASSWORD}{email}"), hash)));
        writes.extend(self.sessions.iter().map(|(key, session)| put(format!("{SESSION}{key}"), session)));
        writes
    }
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

/// The secrets, in the log's vault.
pub struct Secrets {
    log: Arc<dyn EventLog>,
    /// Made once, never rotated.
    callback_key: String,
    /// Serialises the read-modify-write of rotations (every other change is a blind write).
    rotation: tokio::sync::Mutex<()>,
    /// Bumped whenever sessions end before their time, so open WebSockets re-check theirs.
    sessions_ended: tokio::sync::watch::Sender<u64>,
}

impl Secrets {
    /// The secrets in `log`'s vault, made on first use; imports (and deletes) the
    /// `secrets.json` of an earlier version from the data directory `dir`.
    pub fn open(log: Arc<dyn EventLog>, dir: &Path) -> anyhow::Result<Secrets> {
        std::fs::create_dir_all(dir)?;
        // The data directory holds the log and the secrets: its owner only.
        #[cfg(unix)]
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let legacy = dir.join("secrets.json");
        match std::fs::read(&legacy) {
            Ok(bytes) => {
                let file: LegacyFile = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", legacy.display()))?;
                log.append(Batch { vault: file.into_writes(), ..Batch::default() })?;
                std::fs::remove_file(&legacy)?;
                std::fs::File::open(dir)?.sync_all()?;
                tracing::info!(file = %legacy.display(), "secrets imported into the log's vault; file deleted");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", legacy.display())),
        }
        let mut fresh = Vec::new();
        if log.vault_get(BOOTSTRAP).is_none() {
            fresh.push(put(BOOTSTRAP, &vec![BootstrapToken { token: random_token(), valid_until: None }]));
        }
        if log.vault_get(CALLBACK_KEY).is_none() {
            fresh.push(put(CALLBACK_KEY, &random_token()));
        }
        if !fresh.is_empty() {
            log.append(Batch { vault: fresh, ..Batch::default() })?;
        }
        let callback_key =
            read(&*log, CALLBACK_KEY).ok_or_else(|| anyhow::anyhow!("the callback key is unreadable"))?;
        Ok(Secrets {
            log,
            callback_key,
            rotation: tokio::sync::Mutex::new(()),
            sessions_ended: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Writes `changes` durably, on the blocking pool; they are visible once this returns.
    async fn write(&self, changes: Vec<VaultWrite>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.append(Batch { vault: changes, ..Batch::default() }))
            .await
            .map_err(|e| StoreError::Write(e.to_string()))?
            .map(|_| ())
    }

    fn bootstrap_keys(&self) -> Vec<BootstrapToken> {
        read(&*self.log, BOOTSTRAP).unwrap_or_default()
    }

    fn generation(&self, pool: u64) -> PoolGeneration {
        read(&*self.log, &format!("{POOL}{pool}")).unwrap_or_default()
    }

    /// A fingerprint of the current bootstrap key (shown to operators; it changes with every
    /// rotation of all pools' tokens).
    pub fn bootstrap_fingerprint(&self) -> String {
        fingerprint(&self.bootstrap_keys().first().map(|t| t.token.clone()).unwrap_or_default())
    }

    /// The bootstrap key's first four characters and the rest masked, for the console.
    pub fn bootstrap_masked(&self) -> String {
        let keys = self.bootstrap_keys();
        let key = keys.first().map(|t| t.token.as_str()).unwrap_or_default();
        format!("{}{}", key.chars().take(4).collect::<String>(), "•".repeat(12))
    }

    /// The current bootstrap token of `pool` (goes into its launch template's user data).
    pub fn pool_bootstrap_token(&self, pool: u64) -> String {
        let keys = self.bootstrap_keys();
        let key = keys.first().map(|t| t.token.as_str()).unwrap_or_default();
        pool_token(key, pool, self.generation(pool).current)
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
        let in_grace = |until: Option<i64>| until.is_none_or(|until| now.millis() < until);
        let signed = self
            .bootstrap_keys()
            .iter()
            .filter(|key| in_grace(key.valid_until))
            .any(|key| equal(&pool_token(&key.token, pool, generation), token));
        let state = self.generation(pool);
        let current = generation == state.current;
        let previous = generation.checked_add(1) == Some(state.current)
            && state.previous_valid_until.is_some_and(|until| now.millis() < until);
        (signed && (current || previous)).then_some(pool)
    }

    /// Moves `pool` to a new token generation; its previous token stays valid until
    /// `previous_valid_until`. Returns the new token.
    pub async fn rotate_pool_bootstrap(
        &self,
        pool: u64,
        previous_valid_until: Timestamp,
    ) -> Result<String, StoreError> {
        let _rotation = self.rotation.lock().await;
        let mut generation = self.generation(pool);
        generation.current = generation.current.saturating_add(1);
        generation.previous_valid_until = Some(previous_valid_until.millis());
        self.write(vec![put(format!("{POOL}{pool}"), &generation)]).await?;
        Ok(self.pool_bootstrap_token(pool))
    }

    /// Replaces the bootstrap key, and so every pool's token; the previous key stays valid
    /// until `previous_valid_until`. Returns the new key's fingerprint.
    pub async fn rotate_bootstrap(&self, previous_valid_until: Timestamp) -> Result<String, StoreError> {
        let _rotation = self.rotation.lock().await;
        let token = random_token();
        let previous = self
            .bootstrap_keys()
            .into_iter()
            .take(1)
            .map(|old| BootstrapToken { valid_until: Some(previous_valid_until.millis()), ..old });
        let keys: Vec<BootstrapToken> =
            std::iter::once(BootstrapToken { token: token.clone(), valid_until: None })
                .chain(previous)
                .collect();
        self.write(vec![put(BOOTSTRAP, &keys)]).await?;
        Ok(fingerprint(&token))
    }

    fn mac(&self, message: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.callback_key.as_bytes()).unwrap_or_else(|_| {
                // HMAC accepts keys of any length; this branch cannot be taken.
                <Hmac<Sha256> as Mac>::new_from_slice(b"pacer").expect("a 5-byte key is valid")
            });
        mac.update(message.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Issues the callback token of `instance` for `job`, valid until `expires`; only its hash
    /// is kept, and issuing again replaces the previous one.
    pub async fn issue_callback(
        &self,
        job: u64,
        instance: &str,
        expires: Timestamp,
    ) -> Result<String, StoreError> {
        let body = format!("v1.{job}.{instance}.{}", expires.millis());
        let token = format!("{body}.{}", self.mac(&body));
        let issued = IssuedCallback { hash: sha256_hex(&token), expires_at: expires.millis() };
        self.write(vec![put(format!("{CALLBACK}{instance}"), &issued)]).await?;
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
        let issued: Option<IssuedCallback> = read(&*self.log, &format!("{CALLBACK}{instance}"));
        if !issued.is_some_and(|issued| equal(&issued.hash, &sha256_hex(token))) {
            return Err(TokenError::Invalid);
        }
        if now.millis() >= expires {
            return Err(TokenError::Expired);
        }
        Ok(CallbackClaims { job, instance: instance.to_owned() })
    }

    /// Forgets the callback tokens of instances not in `live`, and expired ones.
    pub async fn prune_callbacks(
        &self,
        now: Timestamp,
        live: impl Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        let stale = scan::<IssuedCallback>(&*self.log, CALLBACK)
            .into_iter()
            .filter(|(instance, issued)| !live(instance) || issued.expires_at <= now.millis())
            .map(|(instance, _)| delete(format!("{CALLBACK}{instance}")))
            .collect();
        self.write(stale).await
    }

    /// The stored password hash of a user.
    pub fn password_hash(&self, email: &str) -> Option<String> {
        read(&*self.log, &format!("{PASSWORD}{}", email.to_ascii_lowercase()))
    }

    /// Stores a user's password hash.
    pub async fn set_password_hash(&self, email: &str, hash: String) -> Result<(), StoreError> {
        self.write(vec![put(format!("{PASSWORD}{}", email.to_ascii_lowercase()), &hash)]).await
    }

    /// The GitHub App created from its manifest, if any.
    #[cfg(feature = "standalone")]
    pub(crate) fn github_app(&self) -> Option<crate::app_setup::AppCredentials> {
        stored_github_app(&*self.log)
    }

    /// Keeps the GitHub App created from its manifest.
    pub(crate) async fn set_github_app(
        &self,
        app: &crate::app_setup::AppCredentials,
    ) -> Result<(), StoreError> {
        self.write(vec![put(GITHUB_APP, app)]).await
    }

    /// Stores a session under the hash of its id.
    pub async fn put_session(&self, session_id: &str, session: Session) -> Result<(), StoreError> {
        self.write(vec![put(format!("{SESSION}{}", sha256_hex(session_id)), &session)]).await
    }

    /// The live session with this id.
    pub fn session(&self, session_id: &str, now: Timestamp) -> Option<Session> {
        read::<Session>(&*self.log, &format!("{SESSION}{}", sha256_hex(session_id)))
            .filter(|s| s.expires_at > now.millis())
    }

    /// Revokes a session.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.write(vec![delete(format!("{SESSION}{}", sha256_hex(session_id)))]).await?;
        self.sessions_ended.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Ends the sessions `end` picks and forgets expired ones; the number ended (expired ones not
    /// counted). Nothing changes when the write fails.
    pub async fn end_sessions(
        &self,
        now: Timestamp,
        end: impl Fn(&Session) -> bool,
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        let mut writes = Vec::new();
        for (key, session) in scan::<Session>(&*self.log, SESSION) {
            let expired = session.expires_at <= now.millis();
            if expired || end(&session) {
                ended += usize::from(!expired);
                writes.push(delete(format!("{SESSION}{key}")));
            }
        }
        self.write(writes).await?;
        if ended > 0 {
            self.sessions_ended.send_modify(|n| *n += 1);
        }
        Ok(ended)
    }

    /// Changes whenever sessions end before their time (logout, a disabled user, a failed
    /// re-check); holders of a session then check theirs.
    pub fn sessions_ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sessions_ended.subscribe()
    }
}

/// The vault entry under `key`, decoded.
/// The GitHub App created from its manifest, as `log`'s vault keeps it.
#[cfg(feature = "standalone")]
pub(crate) fn stored_github_app(log: &dyn EventLog) -> Option<crate::app_setup::AppCredentials> {
    read(log, GITHUB_APP)
}

fn read<T: DeserializeOwned>(log: &dyn EventLog, key: &str) -> Option<T> {
    serde_json::from_slice(&log.vault_get(key)?).ok()
}

/// The vault entries under `prefix`, decoded, keyed by the rest of their key.
fn scan<T: DeserializeOwned>(log: &dyn EventLog, prefix: &str) -> Vec<(String, T)> {
    log.vault_scan(prefix)
        .into_iter()
        .filter_map(|(key, value)| {
            Some((key.strip_prefix(prefix)?.to_owned(), serde_json::from_slice(&value).ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_store::{MemoryLog, RocksLog};

    fn open(dir: &Path) -> Secrets {
        Secrets::open(Arc::new(MemoryLog::new()), dir).expect("open")
    }

    #[tokio::test]
    async fn callback_tokens_are_signed_issued_once_expire_and_are_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log: Arc<dyn EventLog> = Arc::new(RocksLog::open(&dir.path().join("log")).expect("log"));
        let secrets = Secrets::open(log.clone(), dir.path()).expect("open");
        let now = Timestamp(1_000_000);
        let token = secrets.issue_callback(7, "i-1", now.plus_millis(60_000)).await.expect("issue");
        assert_eq!(
            secrets.check_callback(&token, now),
            Ok(CallbackClaims { job: 7, instance: "i-1".into() })
        );
        assert_eq!(secrets.check_callback(&token, now.plus_millis(60_000)), Err(TokenError::Expired));
        let forged = token.replace("v1.7.", "v1.8.");
        assert_eq!(secrets.check_callback(&forged, now), Err(TokenError::Invalid));
        let second = secrets.issue_callback(7, "i-1", now.plus_millis(90_000)).await.expect("issue");
        assert_eq!(secrets.check_callback(&token, now), Err(TokenError::Invalid), "only the latest counts");
        // Kept across a restart, and nothing in clear but what Pacer must hand out.
        drop(secrets);
        drop(log);
        let log: Arc<dyn EventLog> = Arc::new(RocksLog::open(&dir.path().join("log")).expect("reopen"));
        let reopened = Secrets::open(log.clone(), dir.path()).expect("reopen");
        assert!(reopened.check_callback(&second, now).is_ok());
        assert!(
            log.vault_scan("").iter().all(|(_, value)| !String::from_utf8_lossy(value).contains(&second))
        );
        // Pruned once its instance is gone, or once expired.
        let other = reopened.issue_callback(8, "i-2", now.plus_millis(1_000)).await.expect("issue");
        reopened.prune_callbacks(now, |_| true).await.expect("prune");
        assert!(reopened.check_callback(&other, now).is_ok(), "live and unexpired: kept");
        reopened.prune_callbacks(now.plus_millis(1_000), |_| true).await.expect("prune");
        assert_eq!(reopened.check_callback(&other, now), Err(TokenError::Invalid), "expired: pruned");
        reopened.prune_callbacks(now, |instance| instance != "i-1").await.expect("prune");
        assert_eq!(reopened.check_callback(&second, now), Err(TokenError::Invalid), "gone: pruned");
    }

    #[tokio::test]
    async fn sessions_are_durable_before_answered_and_expired_ones_are_pruned() {
        let log = Arc::new(MemoryLog::new());
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::open(log.clone(), dir.path()).expect("open");
        let now = Timestamp(1_000);
        let session = |email: &str, expires_at| Session {
            email: email.into(),
            expires_at,
            oidc: false,
            groups: vec![],
        };
        secrets.put_session("a", session("a@x.io", 5_000)).await.expect("put");
        secrets.put_session("b", session("b@x.io", 2_000)).await.expect("put");
        assert!(secrets.session("a", now).is_some() && secrets.session("b", now).is_some());
        assert_eq!(secrets.end_sessions(Timestamp(3_000), |_| false).await.expect("prune"), 0);
        assert_eq!(log.vault_scan(SESSION).len(), 1, "the expired one is gone from the store");

        // A failed write changes nothing, in memory either.
        log.fail_writes(true);
        assert!(secrets.revoke_session("a").await.is_err());
        assert!(secrets.session("a", now).is_some(), "a logout that was not saved did not happen");
        log.fail_writes(false);
        log.recover().expect("recover");
        secrets.revoke_session("a").await.expect("revoke");
        assert!(secrets.session("a", now).is_none());
    }

    #[tokio::test]
    async fn an_earlier_secrets_file_is_imported_once_and_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let legacy = serde_json::json!({
            "bootstrap": [{"token": "k".repeat(43), "valid_until": null}],
            "pool_generations": {"3": {"current": 2, "previous_valid_until": null}},
            "callback_key": "c".repeat(43),
            "callback_tokens": {"i-9": "00"},
            "password_hashes": {"ops@example.com": "$argon2id$x"},
            "sessions": {(sha256_hex("sid")): {"email": "ops@example.com", "expires_at": i64::MAX}}
        });
        std::fs::write(dir.path().join("secrets.json"), legacy.to_string()).expect("write");
        let secrets = open(dir.path());
        assert!(!dir.path().join("secrets.json").exists(), "deleted once imported");
        assert_eq!(secrets.pool_bootstrap_token(3), pool_token(&"k".repeat(43), 3, 2));
        assert_eq!(secrets.password_hash("OPS@example.com").as_deref(), Some("$argon2id$x"));
        assert!(secrets.session("sid", Timestamp(0)).is_some());
        assert_eq!(secrets.callback_key, "c".repeat(43));
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        open(&data);
        let mode = std::fs::metadata(&data).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[tokio::test]
    async fn bootstrap_rotation_keeps_the_previous_token_for_its_grace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = open(dir.path());
        let old = secrets.pool_bootstrap_token(7);
        let now = Timestamp(1_000);
        assert_eq!(secrets.check_pool_bootstrap(&old, now), Some(7));
        let before = secrets.bootstrap_fingerprint();
        let fingerprint = secrets.rotate_bootstrap(now.plus_millis(500)).await.expect("rotate");
        assert_ne!(before, fingerprint);
        assert_eq!(secrets.bootstrap_fingerprint(), fingerprint);
        let new = secrets.pool_bootstrap_token(7);
        assert_ne!(old, new);
        assert_eq!(secrets.check_pool_bootstrap(&old, now), Some(7));
        assert_eq!(secrets.check_pool_bootstrap(&old, now.plus_millis(500)), None);
        assert_eq!(secrets.check_pool_bootstrap(&new, now.plus_millis(10_000_000)), Some(7));
        assert_eq!(secrets.check_pool_bootstrap("nope", now), None);
        secrets.rotate_bootstrap(now.plus_millis(900)).await.expect("rotate");
        let third = secrets.pool_bootstrap_token(7);
        assert_eq!(secrets.check_pool_bootstrap(&old, now), None, "only one previous key is kept");
        assert!(
            secrets.check_pool_bootstrap(&new, now).is_some()
                && secrets.check_pool_bootstrap(&third, now).is_some()
        );
    }

    #[tokio::test]
    async fn a_pool_token_reaches_its_pool_only_and_rotates_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = open(dir.path());
        let now = Timestamp(1_000);
        let (one, two) = (secrets.pool_bootstrap_token(1), secrets.pool_bootstrap_token(2));
        assert_ne!(one, two);
        assert_eq!(secrets.check_pool_bootstrap(&two, now), Some(2));
        // Claiming another pool or a later generation with the same MAC is a forgery.
        let forged = one.replacen("pb1.1.", "pb1.2.", 1);
        assert_eq!(secrets.check_pool_bootstrap(&forged, now), None);
        let ahead = one.replacen("pb1.1.0.", "pb1.1.1.", 1);
        assert_eq!(secrets.check_pool_bootstrap(&ahead, now), None);
        let rotated = secrets.rotate_pool_bootstrap(1, now.plus_millis(500)).await.expect("rotate");
        assert!(rotated.starts_with("pb1.1.1."), "{rotated}");
        assert_eq!(secrets.pool_bootstrap_token(2), two, "other pools keep their token");
        assert_eq!(secrets.check_pool_bootstrap(&one, now), Some(1), "the previous one in its grace");
        assert_eq!(secrets.check_pool_bootstrap(&one, now.plus_millis(500)), None);
        assert_eq!(secrets.check_pool_bootstrap(&rotated, now.plus_millis(500)), Some(1));
    }
}
