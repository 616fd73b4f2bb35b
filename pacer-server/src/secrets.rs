//! Secret material Pacer keeps beside its log, never in it: the bootstrap tokens (current and,
//! after a rotation, the previous one until its grace ends), the key that signs per-job callback
//! tokens, the hashes of issued callback tokens, password hashes and session hashes. Stored as
//! `secrets.json` (mode 0600) in the data directory, replaced atomically on every change.

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

/// A random token: 32 bytes, base64url.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // getrandom only fails when the OS has no entropy source at all; fall back to a hash of
    // time and address, which is still unique, rather than panic.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &bytes);
        bytes.copy_from_slice(&Sha256::digest(seed.as_bytes()));
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
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct File {
    bootstrap: Vec<BootstrapToken>,
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
}

impl Secrets {
    /// Opens `secrets.json` in `dir`, creating it with fresh material when missing.
    pub fn open(dir: &Path) -> anyhow::Result<Secrets> {
        std::fs::create_dir_all(dir)?;
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
        let secrets = Secrets { path, file: Mutex::new(file) };
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

    /// The current bootstrap token (goes into launch templates' user data).
    pub fn bootstrap_token(&self) -> String {
        self.lock().bootstrap.first().map(|t| t.token.clone()).unwrap_or_default()
    }

    /// Whether `token` is the current bootstrap token or a previous one still in its grace.
    pub fn check_bootstrap(&self, token: &str, now: Timestamp) -> bool {
        self.lock()
            .bootstrap
            .iter()
            .any(|t| equal(&t.token, token) && t.valid_until.is_none_or(|until| now.millis() < until))
    }

    /// Replaces the bootstrap token; the previous one stays valid until `previous_valid_until`.
    /// Returns the new token.
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
        Ok(token)
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
        self.update(move |file| file.sessions.remove(&key).is_some())
    }

    /// Revokes every session of a user.
    pub fn revoke_sessions_of(&self, email: &str) -> std::io::Result<()> {
        self.update(|file| file.sessions.retain(|_, s| !s.email.eq_ignore_ascii_case(email)))
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

    #[test]
    fn bootstrap_rotation_keeps_the_previous_token_for_its_grace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::open(dir.path()).expect("open");
        let old = secrets.bootstrap_token();
        let now = Timestamp(1_000);
        assert!(secrets.check_bootstrap(&old, now));
        let new = secrets.rotate_bootstrap(now.plus_millis(500)).expect("rotate");
        assert_ne!(old, new);
        assert_eq!(secrets.bootstrap_token(), new);
        assert!(secrets.check_bootstrap(&old, now));
        assert!(!secrets.check_bootstrap(&old, now.plus_millis(500)));
        assert!(secrets.check_bootstrap(&new, now.plus_millis(10_000_000)));
        assert!(!secrets.check_bootstrap("nope", now));
        let third = secrets.rotate_bootstrap(now.plus_millis(900)).expect("rotate");
        assert!(!secrets.check_bootstrap(&old, now), "only one previous token is kept");
        assert!(secrets.check_bootstrap(&new, now) && secrets.check_bootstrap(&third, now));
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
