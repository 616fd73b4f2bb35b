//! Assembling and running a Pacer: open the log ([`Storage`]: RocksDB, or DynamoDB shared by
//! replicas), load the state (snapshot + tail), start the decider and the engine loops (on
//! replicas, the effects under the lease), serve HTTP on a bound listener until the shutdown
//! future resolves, then stop accepting, finish launches in flight and write a final snapshot.
//! Tests build the same thing on port 0.

use crate::app::App;
use crate::app_setup::AppSetup;
use crate::auth::Auth;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, StorageBackend, TlsConfig, TlsMode, base_url};
use crate::engine::lease::Leadership;
use crate::engine::{Engine, EngineSettings};
use crate::github::{GitHub, GitHubApp};
use crate::http::Http;
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use crate::tls::{Tls, certificate_hosts};
use anyhow::Context;
use pacer_aws::{Compute, Ec2Compute, Ec2Settings, Throttled};
use pacer_store::{DynamoLog, DynamoSettings, EventLog, LeaseTable, RocksLog, Snapshotter, load_state};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How the HTTP side is set up.
pub struct ServerOptions {
    /// The GitHub App (its webhook secret; its creation from the manifest when it has none).
    pub github_app: Arc<AppSetup>,
    /// Sign-in.
    pub auth: Arc<Auth>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Extra allowed origins (the public URL's origin is always allowed).
    pub allowed_origins: Vec<String>,
    /// Extra host names a request's `Host` may name (the public URL's host, the allowed
    /// origins' hosts and loopback always may).
    pub allowed_hosts: Vec<String>,
    /// HTTPS.
    pub tls: TlsConfig,
    /// Connections at once and the header timeout.
    pub limits: crate::http::ConnectionLimits,
}

/// The outside world a Pacer talks to.
pub struct Peers {
    /// EC2.
    pub compute: Arc<dyn Compute>,
    /// GitHub.
    pub github: Arc<dyn GitHub>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Whose signature proves an instance's identity (AWS's, for the region).
    pub identity: Arc<pacer_aws::IdentityVerifier>,
}

/// A running Pacer.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The engine.
    pub engine: Arc<Engine>,
    server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Stops accepting, finishes in-flight launches, writes a snapshot, stops the core.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.engine.shutdown().await;
    }

    /// Resolves when the HTTP server ends (after `shutdown_signal`).
    pub async fn wait(self, shutdown_signal: impl Future<Output = ()>) {
        shutdown_signal.await;
        tracing::info!("shutting down: no new requests; finishing launches in flight");
        self.shutdown().await;
        tracing::info!("stopped");
    }
}

/// Where a Pacer keeps its event log.
#[derive(Clone, Debug)]
pub enum Storage {
    /// RocksDB in the data directory: one Pacer on one machine.
    RocksDb,
    /// A DynamoDB table, snapshots in S3, shared by replicas; this one contends for the
    /// effects lease as `replica_id`.
    DynamoDb {
        /// The table and bucket.
        settings: Box<DynamoSettings>,
        /// Create them when missing.
        create: bool,
        /// This replica's id in the lease.
        replica_id: String,
        /// How long a silent holder keeps the lease.
        lease: Duration,
    },
}

impl Storage {
    /// The storage `storage.*` configures.
    pub fn of(config: &Config) -> Storage {
        match config.storage.backend {
            StorageBackend::RocksDb => Storage::RocksDb,
            StorageBackend::DynamoDb => {
                let dynamo = &config.storage.dynamodb;
                let mut settings = DynamoSettings::new(
                    dynamo.table.clone(),
                    dynamo.bucket.clone(),
                    config.aws.region.clone(),
                );
                settings.prefix = dynamo.prefix.clone();
                settings.endpoint_url = dynamo.endpoint_url.as_ref().map(|url| base_url(url).to_owned());
                settings.profile = config.aws.profile.clone();
                settings.poll_interval = Duration::from_millis(dynamo.poll_interval_ms);
                Storage::DynamoDb {
                    settings: Box::new(settings),
                    create: dynamo.create,
                    replica_id: dynamo.replica_id.clone().unwrap_or_else(default_replica_id),
                    lease: Duration::from_secs(dynamo.lease_seconds),
                }
            }
        }
    }

    /// Opens the log (RocksDB in `data_dir`), telling `observer` each group write's duration;
    /// with DynamoDB, also the table of the effects lease.
    pub(crate) async fn open(
        &self,
        data_dir: &Path,
        observer: pacer_store::WriteObserver,
    ) -> anyhow::Result<(Arc<dyn EventLog>, Option<Arc<dyn LeaseTable>>)> {
        let storage = self.clone();
        let data_dir = data_dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || -> Result<_, pacer_store::StoreError> {
            Ok(match storage {
                Storage::RocksDb => {
                    (Arc::new(RocksLog::open_observed(&data_dir, observer)?) as Arc<dyn EventLog>, None)
                }
                Storage::DynamoDb { settings, create, .. } => {
                    if create {
                        DynamoLog::ensure_storage(&settings)?;
                    }
                    let log = DynamoLog::open(&settings, observer)?;
                    let lease = log.lease_table();
                    (Arc::new(log) as Arc<dyn EventLog>, Some(lease))
                }
            })
        })
        .await?
        .context("opening the event log")?;
        Ok(opened)
    }
}

/// A replica id unique among the processes that share a log: the host name and process id.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "pacer".into());
    let host: String =
        host.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).take(50).collect();
    format!("{host}:{}", std::process::id())
}

/// Opens the data directory and starts everything on `listener`.
pub async fn start(
    data_dir: &Path,
    settings: EngineSettings,
    options: ServerOptions,
    peers: Peers,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Running> {
    start_on(&Storage::RocksDb, data_dir, settings, options, peers, listener).await
}

/// Opens `storage` and starts everything on `listener`; `data_dir` holds this Pacer's own
/// files (and the log, with RocksDB).
pub async fn start_on(
    storage: &Storage,
    data_dir: &Path,
    mut settings: EngineSettings,
    options: ServerOptions,
    peers: Peers,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Running> {
    let metrics = Metrics::new();
    let (log, lease_table) = storage.open(data_dir, metrics.log_write_observer()).await?;
    let (state, report, snapshotter) = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || {
            // The snapshots' own copy, which follows the log from here (see `Snapshotter`).
            load_state(&*log).map(|(state, report)| {
                let snapshotter = Snapshotter::following(state.clone(), report.snapshot_seq);
                (state, report, snapshotter)
            })
        })
        .await?
        .context("loading state from the log")?
    };
    tracing::info!(
        records = state.last_seq,
        snapshot = report.snapshot_seq,
        replayed = report.replayed,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "state loaded"
    );
    settings.data_dir = data_dir.to_path_buf();
    let tls = Tls::from_config(&options.tls, data_dir, certificate_hosts(&settings.public_url))
        .context("server.tls")?
        .map(Arc::new);
    if let Some(tls) = &tls {
        let identity = tls.identity();
        if options.tls.mode == TlsMode::SelfSigned {
            settings.public_key_pin = Some(identity.pin.clone());
        }
        eprintln!(
            "pacer: TLS certificate SHA-256 fingerprint {}\npacer: TLS public-key pin {}",
            identity.fingerprint, identity.pin
        );
    }
    crate::tls::spawn_reloader(tls.clone())?;
    let secrets = Arc::new(Secrets::open(log.clone(), data_dir).context("opening the secrets")?);
    if !options.github_app.is_configured() {
        match secrets.github_app() {
            Some(app) => {
                tracing::info!(app_id = app.id, slug = %app.slug, "using the GitHub App created from its manifest");
                options.github_app.install(app).context("the GitHub App kept in the vault")?;
            }
            None => tracing::warn!(
                "no GitHub App is set up: webhooks are refused until one is created (console → Settings → Create GitHub App)"
            ),
        }
    }
    let app = {
        let metrics = metrics.clone();
        App::start(
            state,
            log,
            peers.clock.clone(),
            Box::new(move |records, state| metrics.observe(records, state)),
        )
    };
    let engine = Engine::new(app, peers.compute, peers.github, peers.identity, secrets, metrics, settings);
    engine.snapshot_from(snapshotter);
    match (storage, lease_table) {
        // The lease holder brings the templates up to date when it takes the lease.
        (Storage::DynamoDb { replica_id, lease, .. }, Some(table)) => {
            engine.share_effects(Arc::new(Leadership::new(replica_id.clone(), *lease, table)));
        }
        _ => engine.sync_templates_recording_health().await,
    }
    if let Some(password) = options.auth.ensure_bootstrap_user(&engine).await? {
        // Printed once, on the first start; only its hash is kept.
        eprintln!(
            "pacer: created the bootstrap user {} with password {password}\npacer: this password is shown only now",
            options.auth.local_email
        );
    }
    engine.spawn_loops();
    options.auth.start_upkeep(&engine).await;
    let public_origin = url::Url::parse(&engine.settings.public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut allowed_origins = options.allowed_origins;
    allowed_origins.push(public_origin);
    let allowed_hosts =
        crate::http::allowed_hosts(&engine.settings.public_url, &allowed_origins, &options.allowed_hosts);
    if allowed_hosts.is_none() {
        tracing::warn!(
            "server.public_url is not set and Pacer listens on every address: requests are not checked for their Host; set server.public_url"
        );
    }
    let schema = crate::graphql::schema(engine.clone(), options.auth.clone(), options.github_app.clone());
    let http = Arc::new(Http {
        engine: engine.clone(),
        github_app: options.github_app,
        ready: Default::default(),
        auth: options.auth,
        schema,
        trusted_proxies: options.trusted_proxies,
        allowed_origins,
        allowed_hosts,
    });
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server =
        tokio::spawn(crate::http::listen::serve(listener, http.clone(), tls, options.limits, async move {
            let _ = stopped.await;
        }));
    http.ready.store(true, Ordering::Release);
    tracing::info!(%addr, scheme, "pacer listening");
    // A fixed line on stderr so scripts and tests started on port 0 learn the address.
    eprintln!("pacer: listening on {scheme}://{addr}");
    Ok(Running { addr, engine, server, stop })
}

/// The engine settings of a configuration, for a server bound to `addr`.
pub(crate) fn engine_settings(config: &Config, addr: SocketAddr) -> EngineSettings {
    let public_url = match &config.server.public_url {
        Some(url) => base_url(url).to_owned(),
        None if config.server.tls.mode == TlsMode::None => format!("http://{addr}"),
        None => format!("https://{addr}"),
    };
    EngineSettings {
        public_url,
        runner_download_url: base_url(&config.github.runner_download_url).to_owned(),
        max_concurrent_launches: config.dispatcher.max_concurrent_launches,
        sweep: Duration::from_secs(config.dispatcher.sweep_seconds),
        reaper_interval: Duration::from_secs(config.reaper.interval_seconds),
        orphan_grace: Duration::from_secs(config.reaper.orphan_grace_minutes * 60),
        redelivery_interval: Duration::from_secs(config.github.redelivery_interval_seconds),
        snapshot_every: config.storage.snapshot_every,
        retry_policy: pacer_domain::RetryPolicy {
            backoff_ms: config
                .dispatcher
                .capacity_backoff_seconds
                .iter()
                .map(|s| *s as i64 * 1_000)
                .collect(),
            max_attempts: config.dispatcher.max_launch_attempts,
        },
        public_key_pin: None,
        data_dir: std::path::PathBuf::new(),
        retention: config.retention.clone(),
    }
}

/// AWS's identity certificate for the configured region plus `aws.identity_certificates`.
pub(crate) fn identity_verifier(config: &Config) -> anyhow::Result<pacer_aws::IdentityVerifier> {
    let mut extra = String::new();
    for path in &config.aws.identity_certificates {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading aws.identity_certificates {}", path.display()))?;
        extra.push_str(&pem);
        extra.push('\n');
    }
    pacer_aws::IdentityVerifier::for_region(&config.aws.region, &extra)
        .with_context(|| "aws.identity_certificates".to_owned())
}

/// The GitHub App `github.*` configures (app id and key file).
fn configured_github_app(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<GitHubApp> {
    let github = &config.github;
    let key = std::fs::read(&github.private_key_path)
        .with_context(|| format!("reading github.private_key_path {}", github.private_key_path.display()))?;
    let timeout = Duration::from_secs(github.request_timeout_seconds);
    GitHubApp::new(base_url(&github.api_url), github.app_id, &key, timeout, clock)
}

/// `pacer serve`: real EC2 and GitHub from the configuration, until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // One set of EC2 rate limits for everything the engine calls: dispatcher, reaper, template sync.
    let ec2 = Arc::new(Ec2Compute::connect(ec2_settings(&config)).await);
    let compute: Arc<dyn Compute> = Arc::new(Throttled::new(ec2, &config.aws.rate_limits.limits()));
    let timeout = Duration::from_secs(config.github.request_timeout_seconds);
    let (github, github_app): (Arc<dyn GitHub>, _) = if config.github.app_configured() {
        let app = configured_github_app(&config, clock.clone())?;
        (Arc::new(app), AppSetup::configured(config.github.webhook_secret.clone()))
    } else {
        let setup = AppSetup::by_manifest(
            base_url(&config.github.api_url),
            &config.github.web_url(),
            timeout,
            clock.clone(),
        );
        (setup.github(), setup)
    };
    let listener = tokio::net::TcpListener::bind(config.server.addr)
        .await
        .with_context(|| format!("binding server.addr {}", config.server.addr))?;
    let addr = listener.local_addr()?;
    let settings = engine_settings(&config, addr);
    let mut options = server_options(&config, &settings.public_url)?;
    options.github_app = Arc::new(github_app);
    let identity = Arc::new(identity_verifier(&config)?);
    let peers = Peers { compute, github, clock, identity };
    let storage = Storage::of(&config);
    let running = start_on(&storage, &config.storage.path, settings, options, peers, listener).await?;
    running.wait(shutdown_signal()).await;
    Ok(())
}

/// `pacer doctor`: the checks from outside a running Pacer. The bound repositories and an App
/// created in the console are read from the data directory when no Pacer holds it.
pub(crate) async fn doctor(config: &Config) -> anyhow::Result<Vec<crate::doctor::Check>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let compute = Ec2Compute::connect(ec2_settings(config)).await;
    let data = &config.storage.path;
    let storage = Storage::of(config);
    let opened = match &storage {
        Storage::RocksDb if !data.join("db").exists() => {
            Err(format!("no Pacer data in {} yet: no repository is bound", data.display()))
        }
        Storage::RocksDb => RocksLog::open(data).map(|log| Arc::new(log) as Arc<dyn EventLog>).map_err(|error| {
            format!(
                "the data directory could not be opened ({error}); while Pacer runs, its Settings page checks the installations"
            )
        }),
        Storage::DynamoDb { .. } => storage
            .open(data, Box::new(|_| {}))
            .await
            .map(|(log, _)| log)
            .map_err(|error| format!("{error:#}")),
    };
    let read = opened.and_then(|log| {
        let stored = crate::secrets::stored_github_app(&*log);
        let state = load_state(&*log).map_err(|e| format!("the event log could not be read: {e}"))?;
        Ok((state.0, stored))
    });
    let log_place = match (&storage, &read) {
        (Storage::RocksDb, _) => crate::doctor::LogPlace::Disk(data),
        (Storage::DynamoDb { settings, .. }, Ok((state, _))) => crate::doctor::LogPlace::Shared(Ok(format!(
            "table {} and bucket {} answer; the log holds {} records{}",
            settings.table,
            settings.bucket,
            state.last_seq,
            state.leadership.as_ref().map_or_else(String::new, |l| format!(
                "; {} took the effects lease last, under term {}",
                l.holder, l.term
            ))
        ))),
        (Storage::DynamoDb { .. }, Err(error)) => crate::doctor::LogPlace::Shared(Err(error.clone())),
    };
    let (served, stored_app) = match read {
        Ok((state, stored)) => (Ok(crate::doctor::Served::of(&state.config)), stored),
        Err(error) => (Err(error), None),
    };
    let github: Option<GitHubApp> = if config.github.app_configured() {
        Some(configured_github_app(config, clock.clone())?)
    } else {
        let timeout = Duration::from_secs(config.github.request_timeout_seconds);
        let api = base_url(&config.github.api_url);
        stored_app
            .map(|app| GitHubApp::new(api, app.id, app.pem.as_bytes(), timeout, clock.clone()))
            .transpose()?
    };
    let settings = engine_settings(config, config.server.addr);
    let subject = crate::doctor::Subject {
        compute: &compute,
        github: github.as_ref().map(|g| g as &dyn GitHub),
        public_url: &settings.public_url,
        self_signed: config.server.tls.mode == TlsMode::SelfSigned,
        log: log_place,
        served,
        now: clock.now(),
    };
    Ok(crate::doctor::run(&subject).await)
}

/// The EC2 settings of a configuration (IAM goes through the EC2 endpoint override too).
pub(crate) fn ec2_settings(config: &Config) -> Ec2Settings {
    let endpoint = |url: &Option<url::Url>| url.as_ref().map(|url| base_url(url).to_owned());
    let mut ec2 = Ec2Settings::new(config.aws.region.clone());
    ec2.profile = config.aws.profile.clone();
    ec2.endpoint_url = endpoint(&config.aws.endpoint_url);
    ec2.iam_endpoint_url = endpoint(&config.aws.endpoint_url);
    ec2.pricing_endpoint_url = endpoint(&config.aws.pricing_endpoint_url);
    ec2.operation_timeout = Duration::from_secs(config.aws.operation_timeout_seconds);
    ec2
}

/// The HTTP options of a configuration.
pub(crate) fn server_options(config: &Config, public_url: &str) -> anyhow::Result<ServerOptions> {
    let oidc = &config.auth.oidc;
    if oidc.enabled
        && !oidc.allowed_groups.is_empty()
        && oidc.scopes.iter().all(|scope| matches!(scope.as_str(), "openid" | "email" | "profile"))
    {
        tracing::warn!(
            scopes = %oidc.scopes.join(" "),
            "auth.oidc.allowed_groups is set, but auth.oidc.scopes asks for no groups scope: a provider that sends groups only for a scope (such as `groups`) sends none, and nobody signs in by group; add it to auth.oidc.scopes"
        );
    }
    let oidc = if oidc.enabled && !config.auth.disabled {
        let redirect_url = match &oidc.redirect_url {
            Some(url) => url.to_string(),
            None => format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')),
        };
        Some(crate::auth::oidc::Oidc::new(crate::auth::oidc::OidcSettings {
            issuer: oidc.issuer.as_ref().map(url::Url::as_str).unwrap_or_default().to_owned(),
            client_id: oidc.client_id.clone(),
            client_secret: oidc.client_secret.expose().to_owned(),
            redirect_url,
            allowed_emails: oidc.allowed_emails.clone(),
            allowed_domains: oidc.allowed_domains.clone(),
            allowed_groups: oidc.allowed_groups.clone(),
            groups_claim: oidc.groups_claim.clone(),
            scopes: oidc.scopes.clone(),
            require_email_verified: oidc.require_email_verified,
        })?)
    } else {
        None
    };
    let auth = Auth::new(
        config.auth.disabled,
        config.auth.local.email.clone(),
        config.auth.session_ttl_hours,
        public_url.starts_with("https://"),
        oidc,
    );
    Ok(ServerOptions {
        github_app: Arc::new(AppSetup::configured(config.github.webhook_secret.clone())),
        auth: Arc::new(auth),
        trusted_proxies: config.server.trusted_proxies.clone(),
        allowed_origins: config
            .server
            .allowed_origins
            .iter()
            .map(|o| o.origin().ascii_serialization())
            .collect(),
        allowed_hosts: config.server.allowed_hosts.clone(),
        tls: config.server.tls.clone(),
        limits: config.server.connection_limits(),
    })
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
