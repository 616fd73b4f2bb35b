//! HTTPS served by Pacer itself (`server.tls`). `manual` serves the operator's PEM certificate
//! and key, reloaded on SIGHUP and when the files change, without dropping a connection: only
//! handshakes after the reload see the new certificate. `self_signed` generates a certificate
//! once, keeps it in the data directory (`tls/`) and prints its fingerprints; instances trust it
//! by the SHA-256 pin of its public key, which the user data carries. A reload that fails
//! (half-written files, a key that does not match) keeps the certificate in use and says why.

use crate::config::{TlsConfig, TlsMode};
use anyhow::{Context, bail};
use base64::Engine as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use x509_cert::der::{Decode, Encode};

/// The certificate Pacer serves, swapped in place on reload.
pub(crate) struct Tls {
    /// The rustls configuration every handshake uses (its resolver reads `current`).
    pub config: Arc<rustls::ServerConfig>,
    current: Arc<CurrentCertificate>,
    files: Option<CertificateFiles>,
}

/// A certificate as served, with what identifies it.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    /// SHA-256 of the leaf certificate, colon-separated hex (what browsers show).
    pub fingerprint: String,
    /// `sha256//<base64>` of the leaf's public key (curl's `--pinnedpubkey`).
    pub pin: String,
}

#[derive(Debug)]
struct CurrentCertificate(RwLock<(Arc<CertifiedKey>, Identity)>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|current| current.0.clone())
    }
}

/// The files a certificate is read from, and what they looked like when last read.
struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    check_every: Duration,
    seen: std::sync::Mutex<FileStamp>,
}

/// Modification times and lengths: a change in any means "read again".
type FileStamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> FileStamp {
    [cert, key].map(|path| std::fs::metadata(path).map(|m| (m.modified().ok(), m.len())).unwrap_or((None, 0)))
}

/// The provider every handshake and key load uses (the same aws-lc-rs as the AWS clients).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Tls {
    /// The TLS side of `config`: `None` for `mode: none`. `hosts` are the names a generated
    /// certificate covers (the public URL's host, loopback).
    pub(crate) fn from_config(
        config: &TlsConfig,
        data_dir: &Path,
        hosts: Vec<String>,
    ) -> anyhow::Result<Option<Tls>> {
        let (cert, key, check_every) = match config.mode {
            TlsMode::None => return Ok(None),
            TlsMode::Manual => {
                let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) else {
                    bail!("server.tls.mode manual needs cert_file and key_file");
                };
                (cert.clone(), key.clone(), Some(Duration::from_secs(config.reload_check_seconds)))
            }
            TlsMode::SelfSigned => {
                let (cert, key) = self_signed_files(data_dir, hosts)?;
                (cert, key, None)
            }
        };
        let seen = stamp(&cert, &key);
        let loaded = load(&cert, &key)?;
        let current = Arc::new(CurrentCertificate(RwLock::new(loaded)));
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let files = check_every.map(|check_every| CertificateFiles {
            cert,
            key,
            check_every,
            seen: std::sync::Mutex::new(seen),
        });
        Ok(Some(Tls { config: Arc::new(server), current, files }))
    }

    /// The certificate being served.
    pub(crate) fn identity(&self) -> Identity {
        match self.current.0.read() {
            Ok(current) => current.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Reads the files again (`manual`); the certificate in use stays when they cannot be
    /// read or do not make a valid pair. `force` reads even when the files look unchanged.
    pub(crate) fn reload(&self, force: bool) {
        let Some(files) = &self.files else { return };
        let now = stamp(&files.cert, &files.key);
        {
            let Ok(mut seen) = files.seen.lock() else { return };
            if !force && *seen == now {
                return;
            }
            *seen = now;
        }
        match load(&files.cert, &files.key) {
            Ok(loaded) => {
                tracing::info!(fingerprint = %loaded.1.fingerprint, "TLS certificate reloaded");
                if let Ok(mut current) = self.current.0.write() {
                    *current = loaded;
                }
            }
            Err(problem) => tracing::error!(
                problem = format!("{problem:#}"),
                "the TLS certificate files could not be loaded; the previous certificate is still served"
            ),
        }
    }
}

/// Reloads the certificate on SIGHUP and whenever its files change (`manual`), until the
/// runtime ends. SIGHUP is always handled, so a `systemctl reload` never stops Pacer: without
/// certificate files it only says there is nothing to reload.
pub(crate) fn spawn_reloader(tls: Option<Arc<Tls>>) -> anyhow::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listening for SIGHUP")?;
    let check_every = tls.as_ref().and_then(|tls| tls.files.as_ref()).map(|files| files.check_every);
    let mut tick = tokio::time::interval(check_every.unwrap_or(Duration::from_secs(3_600)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let tls = tls.filter(|tls| tls.files.is_some());
    tokio::spawn(async move {
        loop {
            let force = tokio::select! {
                _ = tick.tick() => false,
                signal = hangup.recv() => match signal {
                    Some(()) => true,
                    None => return,
                },
            };
            match &tls {
                None if force => {
                    tracing::info!("SIGHUP: no certificate files to reload (server.tls.mode is not manual)")
                }
                None => {}
                Some(tls) => {
                    let tls = tls.clone();
                    tokio::task::spawn_blocking(move || tls.reload(force)).await.ok();
                }
            }
        }
    });
    Ok(())
}

/// Reads and checks a certificate chain and its key.
fn load(cert: &Path, key: &Path) -> anyhow::Result<(Arc<CertifiedKey>, Identity)> {
    let chain_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    let Some(leaf) = chain.first() else { bail!("{} holds no certificate", cert.display()) };
    let identity =
        identify(leaf).with_context(|| format!("reading the certificate in {}", cert.display()))?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    let certified = CertifiedKey::from_der(chain, private_key, &provider())
        .with_context(|| format!("{} does not fit the certificate in {}", key.display(), cert.display()))?;
    Ok((Arc::new(certified), identity))
}

/// The fingerprint and public-key pin of a DER certificate.
fn identify(leaf: &[u8]) -> anyhow::Result<Identity> {
    let parsed = x509_cert::Certificate::from_der(leaf)?;
    let public_key = parsed.tbs_certificate.subject_public_key_info.to_der()?;
    let fingerprint = Sha256::digest(leaf).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    let pin =
        format!("sha256//{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(public_key)));
    Ok(Identity { fingerprint, pin })
}

/// The self-signed certificate and key in `data_dir/tls`, generated (for `hosts`) when absent.
/// The key file is readable by its owner only.
fn self_signed_files(data_dir: &Path, hosts: Vec<String>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(hosts).context("the certificate's host names")?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Pacer (self-signed)");
    let key_pair = rcgen::KeyPair::generate().context("generating a key")?;
    let certificate = params.self_signed(&key_pair).context("signing the certificate")?;
    write_private(&key, key_pair.serialize_pem().as_bytes())?;
    write_private(&cert, certificate.pem().as_bytes())?;
    tracing::info!(path = %cert.display(), "generated a self-signed TLS certificate");
    Ok((cert, key))
}

/// Writes `bytes` to a new file at `path` with mode 0600, durably.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The host names a generated certificate covers: the public URL's host and loopback.
pub(crate) fn certificate_hosts(public_url: &str) -> Vec<String> {
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = url::Url::parse(public_url).ok().and_then(|u| u.host_str().map(str::to_owned)) {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if !hosts.contains(&host) {
            hosts.insert(0, host);
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed_config() -> TlsConfig {
        TlsConfig { mode: TlsMode::SelfSigned, ..TlsConfig::default() }
    }

    #[test]
    fn a_self_signed_certificate_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = certificate_hosts("https://pacer.example.com:8443");
        assert_eq!(hosts[0], "pacer.example.com");
        let first = Tls::from_config(&self_signed_config(), dir.path(), hosts.clone()).unwrap().unwrap();
        let again = Tls::from_config(&self_signed_config(), dir.path(), hosts).unwrap().unwrap();
        assert_eq!(first.identity().pin, again.identity().pin);
        assert_eq!(first.identity().fingerprint, again.identity().fingerprint);
        assert!(first.identity().pin.starts_with("sha256//"));
        assert_eq!(first.identity().fingerprint.len(), 32 * 3 - 1);
        let mode = std::fs::metadata(dir.path().join("tls/self-signed.key")).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
    }

    #[test]
    fn a_broken_reload_keeps_the_certificate_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let generated =
            Tls::from_config(&self_signed_config(), dir.path(), vec!["localhost".into()]).unwrap().unwrap();
        let manual = TlsConfig {
            mode: TlsMode::Manual,
            cert_file: Some(dir.path().join("tls/self-signed.crt")),
            key_file: Some(dir.path().join("tls/self-signed.key")),
            ..TlsConfig::default()
        };
        let tls = Tls::from_config(&manual, dir.path(), Vec::new()).unwrap().unwrap();
        assert_eq!(tls.identity().pin, generated.identity().pin);
        std::fs::write(dir.path().join("tls/self-signed.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n")
            .unwrap();
        tls.reload(true);
        assert_eq!(tls.identity().pin, generated.identity().pin);
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("c.pem"), one.cert.pem()).unwrap();
        std::fs::write(dir.path().join("k.pem"), other.serialize_pem()).unwrap();
        let problem = load(&dir.path().join("c.pem"), &dir.path().join("k.pem")).unwrap_err();
        assert!(format!("{problem:#}").contains("does not fit the certificate"), "{problem:#}");
    }
}
