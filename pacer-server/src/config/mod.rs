//! Configuration: one typed [`Config`], layered with figment — its defaults
//! ([`Config::default`]) ← the YAML file ← `PACER_*` environment variables
//! (`server.public_url` ← `PACER_SERVER_PUBLIC_URL`), each layer overriding the one before.
//! Values are typed as they are read (addresses, URLs, networks, the log format, numbers); the
//! rules that need more than a type are checked after. Every error names its key and all of them
//! are reported at once. The keys are the struct's fields ([`Config::keys`]), and a test holds
//! README's reference to them. Secrets are wrapped in [`Secret`] so they cannot be printed;
//! [`Config::redacted`] is what gets logged.

use figment::Figment;
use figment::error::Kind;
use figment::providers::Serialized;
use ipnet::IpNet;
use pacer_aws::{Bucket, BucketLimit, RateLimits};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

mod sources;
mod text;

use sources::{ENVIRONMENT, Environment, YamlFile};
use text::{FromText, list, optional, text};

/// A value that must never be printed, logged or serialized in clear.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; only for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Everything `pacer serve` needs. [`Default`] is the defaults layer: every key at its default,
/// the required ones empty (validation names them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Event log.
    pub storage: StorageConfig,
    /// EC2.
    pub aws: AwsConfig,
    /// GitHub App.
    pub github: GitHubConfig,
    /// Console and API sign-in.
    pub auth: AuthConfig,
    /// Dispatcher.
    pub dispatcher: DispatcherConfig,
    /// Reaper.
    pub reaper: ReaperConfig,
    /// How long what Pacer keeps is kept.
    pub retention: RetentionConfig,
    /// Logs.
    pub logging: LoggingConfig,
}

/// `server.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    #[serde(deserialize_with = "text")]
    pub addr: SocketAddr,
    /// The URL instances and browsers use to reach Pacer (default: `http://` + the bound
    /// address).
    #[serde(deserialize_with = "optional")]
    pub public_url: Option<Url>,
    /// Proxies whose `X-Forwarded-For` is believed (an IP address is a one-address network).
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<IpNet>,
    /// Extra origins allowed for WebSocket upgrades and state-changing requests.
    #[serde(deserialize_with = "list")]
    pub allowed_origins: Vec<Url>,
    /// Extra host names requests may name in `Host` (the public URL's host, the allowed
    /// origins' hosts and loopback are always allowed).
    #[serde(deserialize_with = "list")]
    pub allowed_hosts: Vec<String>,
    /// Connections served at once; more wait in the backlog.
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers (and an idle connection stays).
    pub header_timeout_seconds: u64,
    /// HTTPS.
    pub tls: TlsConfig,
}

impl ServerConfig {
    /// The connection limits these settings ask for.
    pub fn connection_limits(&self) -> crate::http::ConnectionLimits {
        crate::http::ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_seconds),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: None,
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: 4_096,
            header_timeout_seconds: 10,
            tls: TlsConfig::default(),
        }
    }
}

/// `server.tls.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Whether and how Pacer serves HTTPS itself.
    pub mode: TlsMode,
    /// `manual`: the certificate chain (PEM, leaf first).
    #[serde(deserialize_with = "optional")]
    pub cert_file: Option<PathBuf>,
    /// `manual`: the private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(deserialize_with = "optional")]
    pub key_file: Option<PathBuf>,
    /// `manual`: how often the files are checked for a change (SIGHUP reloads at once).
    pub reload_check_seconds: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { mode: TlsMode::None, cert_file: None, key_file: None, reload_check_seconds: 10 }
    }
}

/// `server.tls.mode`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain HTTP (behind a TLS-terminating proxy, or on loopback).
    #[default]
    None,
    /// The operator's certificate and key files.
    Manual,
    /// A certificate Pacer generates once and keeps in the data directory; instances trust it
    /// by its pinned public key.
    SelfSigned,
}

/// `storage.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the event log lives.
    pub backend: StorageBackend,
    /// Data directory (the RocksDB event log, snapshots, secrets; with DynamoDB only this
    /// replica's own files, such as a self-signed certificate); required.
    pub path: PathBuf,
    /// Write a snapshot after this many new records (and at shutdown).
    pub snapshot_every: u64,
    /// `backend: dynamodb`: the shared log.
    pub dynamodb: DynamoConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::RocksDb,
            path: PathBuf::new(),
            snapshot_every: 100_000,
            dynamodb: DynamoConfig::default(),
        }
    }
}

/// `storage.backend`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageBackend {
    /// RocksDB in the data directory: one Pacer on one machine.
    #[default]
    #[serde(rename = "rocksdb")]
    RocksDb,
    /// A DynamoDB table with snapshots in S3, shared by several Pacer replicas.
    #[serde(rename = "dynamodb")]
    DynamoDb,
}

/// `storage.dynamodb.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoConfig {
    /// The DynamoDB table of the log (in `aws.region`); required with backend dynamodb.
    pub table: String,
    /// The S3 bucket for snapshots; required with backend dynamodb.
    pub bucket: String,
    /// A key prefix for the snapshots in the bucket.
    pub prefix: String,
    /// DynamoDB and S3 endpoint override (e.g. moto).
    #[serde(deserialize_with = "optional")]
    pub endpoint_url: Option<Url>,
    /// This replica's id in the effects lease (default: host name and process id); unique
    /// among the replicas.
    #[serde(deserialize_with = "optional")]
    pub replica_id: Option<String>,
    /// How long a silent lease holder keeps the effects (seconds); another replica takes over
    /// after this much silence.
    pub lease_seconds: u64,
    /// How often a replica looks for records the others appended (milliseconds).
    pub poll_interval_ms: u64,
    /// Create the table and the bucket when they are missing (needs `dynamodb:CreateTable`
    /// and `s3:CreateBucket`).
    pub create: bool,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        Self {
            table: String::new(),
            bucket: String::new(),
            prefix: String::new(),
            endpoint_url: None,
            replica_id: None,
            lease_seconds: 15,
            poll_interval_ms: 200,
            create: false,
        }
    }
}

/// `aws.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region; required.
    pub region: String,
    /// A named profile of the shared AWS config and credentials files, used by every AWS client
    /// Pacer builds (EC2, IAM, Pricing; DynamoDB and S3 for a shared log); `None` = the SDK's
    /// default chain.
    #[serde(deserialize_with = "optional")]
    pub profile: Option<String>,
    /// EC2 endpoint override (e.g. moto).
    #[serde(deserialize_with = "optional")]
    pub endpoint_url: Option<Url>,
    /// Pricing API endpoint override.
    #[serde(deserialize_with = "optional")]
    pub pricing_endpoint_url: Option<Url>,
    /// PEM files of certificates trusted for instance identity documents besides AWS's own
    /// for the region (a partition Pacer does not ship, or a test authority).
    #[serde(default, deserialize_with = "list")]
    pub identity_certificates: Vec<PathBuf>,
    /// How long one EC2 or IAM operation may take, its retries included (seconds).
    pub operation_timeout_seconds: u64,
    /// The EC2 token buckets Pacer's calls keep to.
    pub rate_limits: RateLimitsConfig,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: String::new(),
            profile: None,
            endpoint_url: None,
            pricing_endpoint_url: None,
            identity_certificates: Vec::new(),
            operation_timeout_seconds: 30,
            rate_limits: RateLimitsConfig::default(),
        }
    }
}

/// `aws.rate_limits.*`: each EC2 token bucket's `SIZE/REFILL` (tokens, tokens added per
/// second), one key per [`pacer_aws::Bucket`] by its name; the defaults are EC2's documented
/// ones.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// RunInstances requests.
    #[serde(deserialize_with = "text")]
    pub run_instances: BucketLimit,
    /// CreateFleet requests.
    #[serde(deserialize_with = "text")]
    pub create_fleet: BucketLimit,
    /// TerminateInstances requests.
    #[serde(deserialize_with = "text")]
    pub terminate_instances: BucketLimit,
    /// Non-mutating requests (`Describe*`).
    #[serde(deserialize_with = "text")]
    pub describe: BucketLimit,
    /// Other mutating requests (launch-template writes).
    #[serde(deserialize_with = "text")]
    pub mutating: BucketLimit,
    /// Instances launched.
    #[serde(deserialize_with = "text")]
    pub instances_launched: BucketLimit,
    /// Instances terminated.
    #[serde(deserialize_with = "text")]
    pub instances_terminated: BucketLimit,
    /// Instances started (stopped warm capacity a job took).
    #[serde(deserialize_with = "text")]
    pub instances_started: BucketLimit,
    /// Instances stopped (warm capacity once ready).
    #[serde(deserialize_with = "text")]
    pub instances_stopped: BucketLimit,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let documented = Bucket::documented_limit;
        Self {
            run_instances: documented(Bucket::RunInstances),
            create_fleet: documented(Bucket::CreateFleet),
            terminate_instances: documented(Bucket::TerminateInstances),
            describe: documented(Bucket::Describe),
            mutating: documented(Bucket::Mutating),
            instances_launched: documented(Bucket::InstancesLaunched),
            instances_terminated: documented(Bucket::InstancesTerminated),
            instances_started: documented(Bucket::InstancesStarted),
            instances_stopped: documented(Bucket::InstancesStopped),
        }
    }
}

impl RateLimitsConfig {
    /// The limits to give [`pacer_aws::Throttled`].
    pub fn limits(&self) -> RateLimits {
        [
            (Bucket::RunInstances, self.run_instances),
            (Bucket::CreateFleet, self.create_fleet),
            (Bucket::TerminateInstances, self.terminate_instances),
            (Bucket::Describe, self.describe),
            (Bucket::Mutating, self.mutating),
            (Bucket::InstancesLaunched, self.instances_launched),
            (Bucket::InstancesTerminated, self.instances_terminated),
            (Bucket::InstancesStarted, self.instances_started),
            (Bucket::InstancesStopped, self.instances_stopped),
        ]
        .into_iter()
        .fold(RateLimits::default(), |limits, (bucket, limit)| limits.with(bucket, limit))
    }
}

/// The longest `aws.operation_timeout_seconds` and `github.request_timeout_seconds`: a launch
/// (its EC2 calls, then a price lookup of at most 10 s) must end well inside the two minutes
/// after which a claim whose outcome never arrived is returned to the queue.
const MAX_CALL_TIMEOUT_SECONDS: u64 = 60;

/// `github.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// GitHub App id (with the key and the secret; all three unset: the App is created from
    /// its manifest in the console).
    pub app_id: u64,
    /// PEM file of the App's private key.
    pub private_key_path: PathBuf,
    /// Webhook secret.
    pub webhook_secret: Secret,
    /// REST API base.
    #[serde(deserialize_with = "text")]
    pub api_url: Url,
    /// GitHub's web address, where Apps are created (default: from `api_url`).
    #[serde(deserialize_with = "optional")]
    pub web_url: Option<Url>,
    /// Where runner releases are downloaded from (pinned versions).
    #[serde(deserialize_with = "text")]
    pub runner_download_url: Url,
    /// How often failed deliveries are redelivered (seconds; 0 = never).
    pub redelivery_interval_seconds: u64,
    /// How long one GitHub API request may take (seconds).
    pub request_timeout_seconds: u64,
}

impl Default for GitHubConfig {
    fn default() -> Self {
        Self {
            app_id: 0,
            private_key_path: PathBuf::new(),
            webhook_secret: Secret::default(),
            api_url: known_url("https://api.github.com"),
            web_url: None,
            runner_download_url: known_url("https://github.com/actions/runner/releases/download"),
            redelivery_interval_seconds: 300,
            request_timeout_seconds: 30,
        }
    }
}

/// A URL written in this file.
fn known_url(text: &'static str) -> Url {
    Url::parse(text).expect("a default URL parses")
}

/// `auth.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// No sign-in at all (private networks).
    pub disabled: bool,
    /// Session lifetime in hours.
    pub session_ttl_hours: u64,
    /// Local sign-in.
    pub local: LocalAuthConfig,
    /// OpenID Connect.
    pub oidc: OidcConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            session_ttl_hours: 12,
            local: LocalAuthConfig::default(),
            oidc: OidcConfig::default(),
        }
    }
}

/// `auth.local.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalAuthConfig {
    /// The bootstrap user created on first start.
    pub email: String,
}

impl Default for LocalAuthConfig {
    fn default() -> Self {
        Self { email: "admin@pacer.local".into() }
    }
}

/// `auth.oidc.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Offer "Sign in with SSO".
    pub enabled: bool,
    /// Issuer URL (required when enabled).
    #[serde(deserialize_with = "optional")]
    pub issuer: Option<Url>,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Callback URL (default: `<public_url>/auth/oidc/callback`).
    #[serde(deserialize_with = "optional")]
    pub redirect_url: Option<Url>,
    /// The scopes requested; `openid` among them.
    #[serde(deserialize_with = "list")]
    pub scopes: Vec<String>,
    /// Refuse an email the provider does not mark `email_verified: true`.
    pub require_email_verified: bool,
    /// Allowed emails.
    #[serde(deserialize_with = "list")]
    pub allowed_emails: Vec<String>,
    /// Allowed email domains.
    #[serde(deserialize_with = "list")]
    pub allowed_domains: Vec<String>,
    /// Allowed groups.
    #[serde(deserialize_with = "list")]
    pub allowed_groups: Vec<String>,
    /// The claim carrying groups.
    pub groups_claim: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            client_id: String::new(),
            client_secret: Secret::default(),
            redirect_url: None,
            scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
            require_email_verified: true,
            allowed_emails: Vec::new(),
            allowed_domains: Vec::new(),
            allowed_groups: Vec::new(),
            groups_claim: String::new(),
        }
    }
}

/// `dispatcher.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    /// Launch calls in flight at once.
    pub max_concurrent_launches: usize,
    /// Safety-net sweep period in seconds.
    pub sweep_seconds: u64,
    /// Waits after the 1st, 2nd, … capacity failure; the last repeats.
    #[serde(deserialize_with = "list")]
    pub capacity_backoff_seconds: Vec<u64>,
    /// Launch attempts before a job fails.
    pub max_launch_attempts: u32,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            max_concurrent_launches: 32,
            sweep_seconds: 5,
            capacity_backoff_seconds: vec![30, 60, 120, 240, 300],
            max_launch_attempts: pacer_domain::MAX_LAUNCH_ATTEMPTS,
        }
    }
}

/// `reaper.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaperConfig {
    /// Period in seconds.
    pub interval_seconds: u64,
    /// Tagged instances younger than this are never orphans (their launch may be recording).
    pub orphan_grace_minutes: u64,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        Self { interval_seconds: 60, orphan_grace_minutes: 10 }
    }
}

/// `retention.*`: the defaults of the retentions the console can override
/// ([`crate::retention::days`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days log records are kept (pruned below a verified snapshot; finished jobs leave with
    /// them).
    pub audit_days: u32,
    /// Days raw webhook payloads are kept after their job finished.
    pub webhook_days: u32,
    /// Days a failed runner's log output is kept after it arrived.
    pub failure_log_days: u32,
    /// Where pruned log records are archived (gzip JSON lines) before deletion; `None`: not
    /// archived.
    #[serde(deserialize_with = "optional")]
    pub archive_dir: Option<PathBuf>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { audit_days: 90, webhook_days: 7, failure_log_days: 30, archive_dir: None }
    }
}

impl RetentionConfig {
    /// The configured days of `kind`.
    pub fn default_days(&self, kind: pacer_domain::RetentionKind) -> u32 {
        match kind {
            pacer_domain::RetentionKind::Audit => self.audit_days,
            pacer_domain::RetentionKind::Webhook => self.webhook_days,
            pacer_domain::RetentionKind::FailureLog => self.failure_log_days,
        }
    }
}

/// `logging.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or a full filter.
    pub level: String,
    /// How log lines are written.
    pub format: LogFormat,
    /// Where log lines go.
    #[serde(deserialize_with = "text")]
    pub output: LogOutput,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text, output: LogOutput::Stderr }
    }
}

/// `logging.output`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard error.
    #[default]
    Stderr,
    /// Standard output.
    Stdout,
    /// A file the lines are appended to (created when missing).
    File(PathBuf),
}

impl FromText for LogOutput {
    fn from_text(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" => Err("must be stderr, stdout or a file path".into()),
            "stderr" => Ok(LogOutput::Stderr),
            "stdout" => Ok(LogOutput::Stdout),
            path => Ok(LogOutput::File(path.into())),
        }
    }
}

impl Serialize for LogOutput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LogOutput::Stderr => serializer.serialize_str("stderr"),
            LogOutput::Stdout => serializer.serialize_str("stdout"),
            LogOutput::File(path) => serializer.serialize_str(&path.to_string_lossy()),
        }
    }
}

impl LogOutput {
    /// Opens the file of [`LogOutput::File`] for appending (creating it), or explains why it
    /// cannot be; the standard streams need nothing opened.
    pub fn open(&self) -> Result<Option<std::fs::File>, String> {
        let LogOutput::File(path) = self else { return Ok(None) };
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(Some)
            .map_err(|e| format!("cannot open {} to append logs: {e}", path.display()))
    }
}

/// `logging.format`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The environment variable overriding `key`.
pub(crate) fn env_name(key: &str) -> String {
    format!("PACER_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// `url` as a base to append paths to: without the `/` that parsing gives a bare origin
/// (`http://127.0.0.1:5000/` → `http://127.0.0.1:5000`).
#[cfg(feature = "standalone")]
pub(crate) fn base_url(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl ConfigError {
    /// A figment error at the key it is about: a list's key for one of its entries, a field's
    /// own key when it is missing, `config` for the whole. A value from the environment says
    /// which variable set it.
    fn from_figment(error: figment::Error, keys: &[String]) -> ConfigError {
        let mut path = error.path.clone();
        if let Kind::MissingField(field) = &error.kind {
            path.push(field.to_string());
        }
        let key = (1..=path.len())
            .rev()
            .map(|n| path[..n].join("."))
            .find(|key| keys.contains(key))
            .unwrap_or_else(|| if path.is_empty() { "config".to_owned() } else { path.join(".") });
        let mut message = match &error.kind {
            Kind::UnknownVariant(found, expected) => {
                format!("`{found}` must be one of: {}", expected.join(", "))
            }
            Kind::UnknownField(found, expected) => {
                format!("unknown key `{found}` (known here: {})", expected.join(", "))
            }
            kind => kind.to_string(),
        };
        if error.metadata.as_ref().is_some_and(|m| m.name == ENVIRONMENT) {
            message.push_str(&format!(" (from {})", env_name(&key)));
        }
        ConfigError { key, message }
    }
}

/// Every configuration error found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// `errors` in the order of the keys (the file's own errors and unknown keys first).
    fn in_key_order(mut errors: Vec<ConfigError>, keys: &[String]) -> ConfigErrors {
        errors.sort_by_key(|e| keys.iter().position(|k| *k == e.key));
        ConfigErrors(errors)
    }
}

#[cfg(feature = "standalone")]
impl GitHubConfig {
    /// Whether the App is set here (app id, key and webhook secret), rather than created from
    /// its manifest in the console.
    pub fn app_configured(&self) -> bool {
        self.app_id != 0
    }

    /// GitHub's web address: `web_url`, or the one `api_url` implies.
    pub fn web_url(&self) -> String {
        match &self.web_url {
            Some(url) => base_url(url).to_owned(),
            None => crate::app_setup::web_url_of(base_url(&self.api_url)),
        }
    }
}

impl Config {
    /// Layers the defaults, the file at `path` (when given) and the `PACER_*` variables that
    /// `env` returns, reads the result into types and validates it.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let keys = Config::keys();
        let defaults = Figment::from(Serialized::defaults(Config::default()));
        let mut figment = defaults.clone();
        if let Some(path) = path {
            figment = figment.merge(YamlFile::read(path)?);
        }
        figment = figment.merge(Environment::read(&keys, &env));
        let mut errors: Vec<ConfigError> = Vec::new();
        let config = loop {
            match figment.extract_lossy::<Config>() {
                Ok(config) => break config,
                Err(error) => {
                    let error = ConfigError::from_figment(error, &keys);
                    let key = error.key.clone();
                    let seen = errors.iter().any(|e| e.key == key);
                    errors.push(error);
                    // A value of the wrong type is put back to its default so that the rest is
                    // still read and every error reported at once; an unknown key ends here.
                    match defaults.find_value(&key) {
                        Ok(default) if !seen && keys.contains(&key) => {
                            figment = figment.merge(Serialized::default(&key, default));
                        }
                        _ => return Err(ConfigErrors::in_key_order(errors, &keys)),
                    }
                }
            }
        };
        if let Err(ConfigErrors(rules)) = config.validate() {
            // A key whose value could not be read was validated at its default: not its error.
            let unread: Vec<String> = errors.iter().map(|e| e.key.clone()).collect();
            errors.extend(rules.into_iter().filter(|e| !unread.contains(&e.key)));
        }
        #[cfg(feature = "standalone")]
        if let Some(profile) = &config.aws.profile
            && !errors.iter().any(|e| e.key == "aws.profile")
            && let Err(message) = profile_found(profile, &env)
        {
            errors.push(ConfigError { key: "aws.profile".into(), message });
        }
        if errors.is_empty() { Ok(config) } else { Err(ConfigErrors::in_key_order(errors, &keys)) }
    }

    /// Every key in dotted form, in the struct's order: the leaves of the defaults.
    pub fn keys() -> Vec<String> {
        fn leaves(prefix: &str, value: &serde_yaml_ng::Value, keys: &mut Vec<String>) {
            match value.as_mapping() {
                Some(mapping) => {
                    for (name, value) in mapping {
                        let name = name.as_str().unwrap_or_default();
                        let key =
                            if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") };
                        leaves(&key, value, keys);
                    }
                }
                None => keys.push(prefix.to_owned()),
            }
        }
        let defaults = serde_yaml_ng::to_value(Config::default()).expect("the defaults serialize");
        let mut keys = Vec::new();
        leaves("", &defaults, &mut keys);
        keys
    }

    /// Every rule that needs more than the types, with the key at fault.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut err =
            |key: &str, message: &str| errors.push(ConfigError { key: key.into(), message: message.into() });
        let is_http = |url: &Url| matches!(url.scheme(), "http" | "https") && url.host().is_some();
        if self.server.public_url.as_ref().is_some_and(|url| !is_http(url)) {
            err("server.public_url", "must be an http(s) URL instances can reach");
        }
        if self.server.allowed_origins.iter().any(|origin| origin.host().is_none()) {
            err("server.allowed_origins", "each entry must be an origin like https://pacer.example.com");
        }
        if self.server.allowed_hosts.iter().any(|host| url::Host::parse(host).is_err() || host.contains(':'))
        {
            err("server.allowed_hosts", "each entry must be a host name or IPv4 address without a port");
        }
        let tls = &self.server.tls;
        match tls.mode {
            TlsMode::Manual => {
                for (key, file) in
                    [("server.tls.cert_file", &tls.cert_file), ("server.tls.key_file", &tls.key_file)]
                {
                    match file {
                        None => err(key, "required with mode manual"),
                        Some(path) if std::fs::metadata(path).is_err() => err(key, "cannot be read"),
                        Some(_) => {}
                    }
                }
            }
            TlsMode::None | TlsMode::SelfSigned => {
                if tls.cert_file.is_some() || tls.key_file.is_some() {
                    err("server.tls.mode", "cert_file and key_file are used only with mode manual");
                }
            }
        }
        if !(1..=3_600).contains(&tls.reload_check_seconds) {
            err("server.tls.reload_check_seconds", "must be between 1 and 3600");
        }
        if tls.mode != TlsMode::None
            && self.server.public_url.as_ref().is_some_and(|url| url.scheme() != "https")
        {
            err("server.public_url", "must be an https URL when server.tls.mode is not none");
        }
        if self.storage.path.as_os_str().is_empty() {
            err("storage.path", "required");
        }
        if self.storage.snapshot_every == 0 {
            err("storage.snapshot_every", "must be at least 1");
        }
        let dynamo = &self.storage.dynamodb;
        match self.storage.backend {
            StorageBackend::DynamoDb => {
                if dynamo.table.trim().is_empty() {
                    err("storage.dynamodb.table", "required with storage.backend dynamodb");
                }
                if dynamo.bucket.trim().is_empty() {
                    err("storage.dynamodb.bucket", "required with storage.backend dynamodb");
                }
            }
            StorageBackend::RocksDb => {
                if !dynamo.table.is_empty() || !dynamo.bucket.is_empty() {
                    err("storage.dynamodb", "used only with storage.backend dynamodb");
                }
            }
        }
        if !(3..=300).contains(&dynamo.lease_seconds) {
            err("storage.dynamodb.lease_seconds", "must be between 3 and 300");
        }
        if !(10..=10_000).contains(&dynamo.poll_interval_ms) {
            err("storage.dynamodb.poll_interval_ms", "must be between 10 and 10000");
        }
        if let Some(id) = &dynamo.replica_id
            && (id.is_empty()
                || id.len() > 64
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            err("storage.dynamodb.replica_id", "1 to 64 letters, digits, '.', '_', ':' or '-'");
        }
        if self.aws.region.trim().is_empty() {
            err("aws.region", "required");
        }
        if let Some(profile) = &self.aws.profile
            && (profile.chars().count() > 128
                || profile.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '[' | ']')))
        {
            err("aws.profile", "must be a profile name (at most 128 characters, no spaces or brackets)");
        }
        for (key, seconds) in [
            ("aws.operation_timeout_seconds", self.aws.operation_timeout_seconds),
            ("github.request_timeout_seconds", self.github.request_timeout_seconds),
        ] {
            if !(1..=MAX_CALL_TIMEOUT_SECONDS).contains(&seconds) {
                err(
                    key,
                    "must be between 1 and 60 (a launch must end well inside the 2-minute claim expiry)",
                );
            }
        }
        let github = &self.github;
        let app_configured = github.app_id != 0
            || !github.private_key_path.as_os_str().is_empty()
            || !github.webhook_secret.is_empty();
        if app_configured && github.app_id == 0 {
            err("github.app_id", "required with the key and secret (the GitHub App's numeric id)");
        }
        if !app_configured {
            // The App is created from its manifest in the console.
        } else if self.github.private_key_path.as_os_str().is_empty() {
            err("github.private_key_path", "required with app_id");
        } else {
            match std::fs::read_to_string(&self.github.private_key_path) {
                Ok(pem) if pem.contains("PRIVATE KEY-----") => {}
                Ok(_) => err("github.private_key_path", "is not a PEM private key"),
                Err(_) => err("github.private_key_path", "cannot be read"),
            }
        }
        if !app_configured {
            // Created with the App.
        } else if self.github.webhook_secret.is_empty() {
            err("github.webhook_secret", "required with app_id (at least 16 characters)");
        } else if self.github.webhook_secret.expose().len() < 16 {
            err("github.webhook_secret", "must be at least 16 characters");
        }
        for (key, url) in [
            ("github.api_url", &self.github.api_url),
            ("github.runner_download_url", &self.github.runner_download_url),
        ]
        .into_iter()
        .chain(self.github.web_url.as_ref().map(|url| ("github.web_url", url)))
        {
            if !is_http(url) {
                err(key, "must be an http(s) URL");
            }
        }
        if !(1..=720).contains(&self.auth.session_ttl_hours) {
            err("auth.session_ttl_hours", "must be between 1 and 720");
        }
        if !self.auth.disabled && !is_email(&self.auth.local.email) {
            err("auth.local.email", "must be an email address");
        }
        let oidc = &self.auth.oidc;
        if oidc.enabled && !self.auth.disabled {
            if !oidc.issuer.as_ref().is_some_and(is_http) {
                err("auth.oidc.issuer", "must be the issuer's URL");
            }
            if oidc.client_id.is_empty() {
                err("auth.oidc.client_id", "required when OIDC is enabled");
            }
            if oidc.allowed_emails.is_empty()
                && oidc.allowed_domains.is_empty()
                && oidc.allowed_groups.is_empty()
            {
                err(
                    "auth.oidc.allowed_emails",
                    "set allowed_emails, allowed_domains or allowed_groups; nobody may sign in otherwise",
                );
            }
            if !oidc.allowed_groups.is_empty() && oidc.groups_claim.is_empty() {
                err("auth.oidc.groups_claim", "required with allowed_groups");
            }
            if !oidc.scopes.iter().all(|scope| is_scope(scope)) {
                err(
                    "auth.oidc.scopes",
                    "each scope is one word of printable characters (a list, or scopes separated by commas)",
                );
            } else if !oidc.scopes.iter().any(|scope| scope == "openid") {
                err("auth.oidc.scopes", "must include openid (the sign-in is OpenID Connect)");
            }
        }
        if !(16..=1_000_000).contains(&self.server.max_connections) {
            err("server.max_connections", "must be between 16 and 1000000");
        }
        if !(1..=300).contains(&self.server.header_timeout_seconds) {
            err("server.header_timeout_seconds", "must be between 1 and 300");
        }
        if !(1..=1_024).contains(&self.dispatcher.max_concurrent_launches) {
            err("dispatcher.max_concurrent_launches", "must be between 1 and 1024");
        }
        if self.dispatcher.capacity_backoff_seconds.is_empty()
            || self.dispatcher.capacity_backoff_seconds.iter().any(|s| !(1..=3_600).contains(s))
        {
            err("dispatcher.capacity_backoff_seconds", "one or more waits between 1 and 3600 seconds");
        }
        if !(1..=100).contains(&self.dispatcher.max_launch_attempts) {
            err("dispatcher.max_launch_attempts", "must be between 1 and 100");
        }
        if !(1..=300).contains(&self.dispatcher.sweep_seconds) {
            err("dispatcher.sweep_seconds", "must be between 1 and 300");
        }
        if !(5..=3_600).contains(&self.reaper.interval_seconds) {
            err("reaper.interval_seconds", "must be between 5 and 3600");
        }
        for kind in pacer_domain::RetentionKind::ALL {
            if !(1..=pacer_domain::MAX_RETENTION_DAYS).contains(&self.retention.default_days(kind)) {
                let key = format!("retention.{}_days", kind.name());
                err(&key, "must be between 1 and 3650");
            }
        }
        if let Some(dir) = &self.retention.archive_dir
            && dir.exists()
            && !dir.is_dir()
        {
            err("retention.archive_dir", "must be a directory (created when missing)");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.logging.level).is_err() {
            err("logging.level", "must be a level (error, warn, info, debug, trace) or a filter");
        }
        if let LogOutput::File(path) = &self.logging.output {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if path.is_dir() {
                err("logging.output", "is a directory: name a file to append the logs to");
            } else if !parent.is_dir() {
                err("logging.output", "its directory does not exist");
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    /// The effective configuration as YAML with every secret replaced by `***`.
    pub fn redacted(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("<unprintable: {e}>"))
    }
}

/// Whether the shared AWS config or credentials file that `env` points at defines `profile`.
#[cfg(feature = "standalone")]
fn profile_found(profile: &str, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    // The files are read with blocking reads; the future never waits on anything else.
    match futures::executor::block_on(pacer_aws::profile_defined(profile, env)) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "no profile `{profile}` in the shared AWS config or credentials file (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials)"
        )),
        Err(error) => Err(format!("the shared AWS config files cannot be read: {error}")),
    }
}

/// An OAuth scope token (RFC 6749 §3.3): printable ASCII but space, `"` and `\`.
fn is_scope(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
}

fn is_email(text: &str) -> bool {
    text.split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.') && !text.contains(' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    fn key_file(dir: &Path) -> PathBuf {
        let path = dir.join("app.pem");
        std::fs::write(&path, "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")
            .expect("write");
        path
    }

    fn minimal(dir: &Path) -> String {
        format!(
            "storage:\n  path: {}\naws:\n  region: us-east-1\ngithub:\n  app_id: 12\n  private_key_path: {}\n  webhook_secret: It's a Secret to Everybody\n",
            dir.join("data").display(),
            key_file(dir).display()
        )
    }

    /// Loads `yaml` (`$MINIMAL` is replaced by a valid minimal file) with `env`.
    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pacer.yaml");
        std::fs::write(&path, yaml.replace("$MINIMAL", &minimal(dir.path()))).expect("write");
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(Some(&path), |k| env.get(k).cloned())
    }

    fn keys(errors: ConfigErrors) -> Vec<String> {
        errors.0.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn a_minimal_file_gets_defaults() {
        let config = load("$MINIMAL", &[]).expect("valid");
        assert_eq!(config.server.addr, SocketAddr::from(([127, 0, 0, 1], 3000)));
        assert_eq!(config.dispatcher.max_concurrent_launches, 32);
        assert_eq!(config.github.api_url.as_str(), "https://api.github.com/");
        assert_eq!(base_url(&config.github.api_url), "https://api.github.com");
        assert_eq!(config.logging.format, LogFormat::Text);
        assert_eq!(config.dispatcher.capacity_backoff_seconds, [30, 60, 120, 240, 300]);
    }

    #[test]
    fn environment_overrides_win_and_lists_split_on_commas() {
        let env = [
            ("PACER_SERVER_ADDR", "0.0.0.0:8080"),
            ("PACER_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
            ("PACER_GITHUB_WEBHOOK_SECRET", "0123456789abcdef-from-env"),
            ("PACER_AUTH_DISABLED", "true"),
        ];
        let config = load("$MINIMAL", &env).expect("valid");
        assert_eq!(config.server.addr, SocketAddr::from(([0, 0, 0, 0], 8080)));
        let proxies: Vec<String> = config.server.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.1/32"]);
        assert_eq!(config.github.webhook_secret.expose(), "0123456789abcdef-from-env");
        assert!(config.auth.disabled);
    }

    #[test]
    fn environment_values_are_read_as_their_keys_types() {
        let env = [
            ("PACER_GITHUB_APP_ID", "77"),
            ("PACER_GITHUB_WEBHOOK_SECRET", "12345678901234567890"),
            ("PACER_AUTH_OIDC_CLIENT_ID", "0042"),
            ("PACER_DISPATCHER_CAPACITY_BACKOFF_SECONDS", "[10, 20]"),
            ("PACER_LOGGING_FORMAT", "json"),
            ("PACER_SERVER_PUBLIC_URL", "https://pacer.example.com"),
            ("PACER_SERVER_ALLOWED_ORIGINS", ""),
            ("PACER_AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ];
        let config = load("$MINIMAL", &env).expect("valid");
        assert_eq!(config.github.app_id, 77);
        assert_eq!(config.github.webhook_secret.expose(), "12345678901234567890");
        assert_eq!(config.auth.oidc.client_id, "0042");
        assert_eq!(config.dispatcher.capacity_backoff_seconds, [10, 20]);
        assert_eq!(config.logging.format, LogFormat::Json);
        assert_eq!(config.server.public_url.as_ref().map(Url::as_str), Some("https://pacer.example.com/"));
        assert!(config.server.allowed_origins.is_empty());
        assert_eq!(config.aws.endpoint_url.as_ref().map(base_url), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn the_dynamodb_backend_needs_its_table_and_bucket_and_nothing_else_uses_them() {
        let config = load("$MINIMAL", &[]).expect("valid");
        assert_eq!(config.storage.backend, StorageBackend::RocksDb);
        let missing = load("$MINIMAL", &[("PACER_STORAGE_BACKEND", "dynamodb")]).unwrap_err();
        assert_eq!(keys(missing), ["storage.dynamodb.table", "storage.dynamodb.bucket"]);
        let env = [
            ("PACER_STORAGE_BACKEND", "dynamodb"),
            ("PACER_STORAGE_DYNAMODB_TABLE", "pacer-log"),
            ("PACER_STORAGE_DYNAMODB_BUCKET", "pacer-snapshots"),
            ("PACER_STORAGE_DYNAMODB_REPLICA_ID", "pacer-a:1"),
            ("PACER_STORAGE_DYNAMODB_LEASE_SECONDS", "9"),
        ];
        let config = load("$MINIMAL", &env).expect("valid");
        assert_eq!(config.storage.backend, StorageBackend::DynamoDb);
        assert_eq!(
            (config.storage.dynamodb.replica_id.as_deref(), config.storage.dynamodb.lease_seconds),
            (Some("pacer-a:1"), 9)
        );
        let bad = [
            ("PACER_STORAGE_DYNAMODB_TABLE", "pacer-log"),
            ("PACER_STORAGE_DYNAMODB_REPLICA_ID", "a b"),
            ("PACER_STORAGE_DYNAMODB_LEASE_SECONDS", "1"),
            ("PACER_STORAGE_DYNAMODB_POLL_INTERVAL_MS", "0"),
        ];
        assert_eq!(
            keys(load("$MINIMAL", &bad).unwrap_err()),
            [
                "storage.dynamodb",
                "storage.dynamodb.replica_id",
                "storage.dynamodb.lease_seconds",
                "storage.dynamodb.poll_interval_ms"
            ]
        );
    }

    #[test]
    fn retention_defaults_are_days_within_ten_years_and_the_archive_a_directory() {
        let config = load("$MINIMAL", &[]).expect("valid");
        assert_eq!(config.retention, RetentionConfig::default());
        assert_eq!(
            pacer_domain::RetentionKind::ALL.map(|kind| config.retention.default_days(kind)),
            [90, 7, 30]
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = dir.path().join("archive");
        let env = [
            ("PACER_RETENTION_AUDIT_DAYS", "365"),
            ("PACER_RETENTION_FAILURE_LOG_DAYS", "3650"),
            ("PACER_RETENTION_ARCHIVE_DIR", archive.to_str().expect("utf-8")),
        ];
        let config = load("$MINIMAL", &env).expect("valid: the directory is created when missing");
        assert_eq!((config.retention.audit_days, config.retention.failure_log_days), (365, 3_650));
        assert_eq!(config.retention.archive_dir, Some(archive));
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").expect("write");
        let bad = [
            ("PACER_RETENTION_AUDIT_DAYS", "0"),
            ("PACER_RETENTION_WEBHOOK_DAYS", "3651"),
            ("PACER_RETENTION_ARCHIVE_DIR", file.to_str().expect("utf-8")),
        ];
        assert_eq!(
            keys(load("$MINIMAL", &bad).unwrap_err()),
            ["retention.audit_days", "retention.webhook_days", "retention.archive_dir"]
        );
    }

    #[test]
    fn aws_profile_names_a_profile_of_the_shared_files() {
        assert_eq!(load("$MINIMAL", &[]).expect("valid").aws.profile, None, "unset: the default chain");
        let files = tempfile::tempdir().expect("tempdir");
        let config_file = files.path().join("config");
        let credentials_file = files.path().join("credentials");
        std::fs::write(&config_file, "[profile ci]\nregion = us-east-1\n").expect("write");
        std::fs::write(
            &credentials_file,
            "[ci]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
        )
        .expect("write");
        let (config_file, credentials_file) =
            (config_file.display().to_string(), credentials_file.display().to_string());
        let with = |profile: &str| {
            load(
                "$MINIMAL",
                &[
                    ("PACER_AWS_PROFILE", profile),
                    ("AWS_CONFIG_FILE", &config_file),
                    ("AWS_SHARED_CREDENTIALS_FILE", &credentials_file),
                ],
            )
        };
        assert_eq!(with("ci").expect("valid").aws.profile.as_deref(), Some("ci"));
        let unknown = with("prod").unwrap_err();
        assert!(unknown.to_string().contains("aws.profile: no profile `prod`"), "{unknown}");
        for bad in ["two words", "[ci]", &"p".repeat(129)] {
            assert_eq!(keys(with(bad).unwrap_err()), ["aws.profile"], "{bad}");
        }
        let no_files = load("$MINIMAL", &[("PACER_AWS_PROFILE", "ci")]).unwrap_err();
        assert_eq!(keys(no_files), ["aws.profile"], "the files are the ones the environment names");
    }

    #[test]
    fn rate_limits_default_to_ec2s_documented_buckets_one_key_each() {
        let config = load("$MINIMAL", &[]).expect("valid");
        assert_eq!(config.aws.rate_limits.limits(), RateLimits::default());
        let keys = Config::keys();
        for bucket in Bucket::ALL {
            assert!(keys.contains(&format!("aws.rate_limits.{}", bucket.name())), "{bucket:?}");
        }
        let env = [
            ("PACER_AWS_RATE_LIMITS_RUN_INSTANCES", "10/4"),
            ("PACER_AWS_RATE_LIMITS_MUTATING", " 20 / 0.5 "),
        ];
        let limits = load("$MINIMAL", &env).expect("valid").aws.rate_limits.limits();
        assert_eq!(limits.get(Bucket::RunInstances).to_string(), "10/4");
        assert_eq!(limits.get(Bucket::Mutating).to_string(), "20/0.5");
        assert_eq!(limits.get(Bucket::Describe), Bucket::Describe.documented_limit());
        let errors = load("$MINIMAL", &[("PACER_AWS_RATE_LIMITS_DESCRIBE", "100")]).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "aws.rate_limits.describe");
        let message = &errors[0].message;
        assert!(message.contains("`100` must be SIZE/REFILL"), "{message}");
        assert!(message.contains("PACER_AWS_RATE_LIMITS_DESCRIBE"), "{message}");
    }

    #[test]
    fn logging_output_is_a_stream_or_a_file_in_a_directory_that_exists() {
        assert_eq!(load("$MINIMAL", &[]).expect("valid").logging.output, LogOutput::Stderr);
        let output = |value: &str| load("$MINIMAL", &[("PACER_LOGGING_OUTPUT", value)]);
        assert_eq!(output("stdout").expect("valid").logging.output, LogOutput::Stdout);
        assert_eq!(output(" stderr ").expect("valid").logging.output, LogOutput::Stderr);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pacer.log");
        assert_eq!(
            output(&file.display().to_string()).expect("valid").logging.output,
            LogOutput::File(file.clone())
        );
        assert!(!file.exists(), "validation creates nothing");
        for bad in [dir.path().to_path_buf(), dir.path().join("missing/pacer.log")] {
            let errors = output(&bad.display().to_string()).unwrap_err();
            assert_eq!(keys(errors), ["logging.output"], "{}", bad.display());
        }
        let blank = load("$MINIMAL\nlogging:\n  output: ' '\n", &[]).unwrap_err();
        assert!(
            blank.to_string().contains("logging.output: ` ` must be stderr, stdout or a file path"),
            "{blank}"
        );
        let read_back = output(&file.display().to_string()).expect("valid");
        assert!(
            read_back.redacted().contains(&format!("output: {}", file.display())),
            "{}",
            read_back.redacted()
        );
    }

    #[test]
    fn oidc_scopes_include_openid_and_an_unverified_email_is_refused_by_default() {
        let oidc = "$MINIMAL\nauth:\n  oidc:\n    enabled: true\n    issuer: https://sso.example.com\n    client_id: pacer\n    allowed_domains: [example.com]\n";
        let config = load(oidc, &[]).expect("valid");
        assert_eq!(config.auth.oidc.scopes, ["openid", "email", "profile"]);
        assert!(config.auth.oidc.require_email_verified);
        let config = load(
            oidc,
            &[
                ("PACER_AUTH_OIDC_SCOPES", "openid,email,groups"),
                ("PACER_AUTH_OIDC_REQUIRE_EMAIL_VERIFIED", "false"),
            ],
        )
        .expect("valid");
        assert_eq!(config.auth.oidc.scopes, ["openid", "email", "groups"]);
        assert!(!config.auth.oidc.require_email_verified);
        for (scopes, message) in [
            ("email,profile", "must include openid"),
            ("", "must include openid"),
            ("openid email profile", "each scope is one word"),
            ("openid,back\\slash", "each scope is one word"),
        ] {
            let errors = load(oidc, &[("PACER_AUTH_OIDC_SCOPES", scopes)]).unwrap_err();
            assert!(
                errors.to_string().contains(&format!("auth.oidc.scopes: {message}")),
                "{scopes}: {errors}"
            );
        }
        let not_a_bool = load(oidc, &[("PACER_AUTH_OIDC_REQUIRE_EMAIL_VERIFIED", "sometimes")]).unwrap_err();
        assert_eq!(keys(not_a_bool), ["auth.oidc.require_email_verified"]);
    }

    #[test]
    fn errors_name_their_keys() {
        let typo = load("storage:\n  path: x\n  pth: y\n", &[]).unwrap_err();
        assert_eq!(
            typo.to_string(),
            "invalid configuration:\n  - storage.pth: unknown key `pth` (known here: backend, path, snapshot_every, dynamodb)"
        );
        // Without an App in the configuration it is created from the console; only the region
        // is required.
        let missing = load("storage:\n  path: x\n", &[]).unwrap_err();
        assert_eq!(keys(missing), ["aws.region"]);
        let part_of_an_app =
            load("storage:\n  path: x\naws:\n  region: r\ngithub:\n  app_id: 7\n", &[]).unwrap_err();
        assert_eq!(keys(part_of_an_app), ["github.private_key_path", "github.webhook_secret"]);
        let secret_only = load(
            "storage:\n  path: x\naws:\n  region: r\ngithub:\n  webhook_secret: 0123456789abcdef\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(keys(secret_only), ["github.app_id", "github.private_key_path"]);
        let wrong_type = load("$MINIMAL", &[("PACER_STORAGE_SNAPSHOT_EVERY", "lots")]).unwrap_err();
        assert_eq!(keys(wrong_type.clone()), ["storage.snapshot_every"]);
        assert!(wrong_type.to_string().contains("(from PACER_STORAGE_SNAPSHOT_EVERY)"), "{wrong_type}");
        let wrong_type = load("$MINIMAL\nreaper:\n  interval_seconds: lots\n", &[]).unwrap_err();
        assert_eq!(keys(wrong_type), ["reaper.interval_seconds"]);
        let yaml = "server:\n  addr: nope\n  public_url: ftp://x\n  max_connections: 3\n  header_timeout_seconds: 0\nstorage:\n  path: ''\naws:\n  region: ''\ngithub:\n  app_id: 0\n  private_key_path: /nonexistent\n  webhook_secret: short\ndispatcher:\n  max_concurrent_launches: 0\nlogging:\n  format: xml\n";
        assert_eq!(
            keys(load(yaml, &[]).unwrap_err()),
            [
                "server.addr",
                "server.public_url",
                "server.max_connections",
                "server.header_timeout_seconds",
                "storage.path",
                "aws.region",
                "github.app_id",
                "github.private_key_path",
                "github.webhook_secret",
                "dispatcher.max_concurrent_launches",
                "logging.format",
            ]
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_all_reported_with_what_was_expected() {
        let env = [
            ("PACER_SERVER_TRUSTED_PROXIES", "10.0.0.1,not-an-ip"),
            ("PACER_STORAGE_SNAPSHOT_EVERY", "-1"),
            ("PACER_AUTH_DISABLED", "maybe"),
        ];
        let yaml = "$MINIMAL\nserver:\n  addr: localhost\n  allowed_origins: [https://ok.example.com, nope]\nlogging:\n  format: xml\n";
        let errors = load(yaml, &env).unwrap_err();
        let shown = errors.to_string();
        assert_eq!(
            keys(errors),
            [
                "server.addr",
                "server.trusted_proxies",
                "server.allowed_origins",
                "storage.snapshot_every",
                "auth.disabled",
                "logging.format",
            ],
            "{shown}"
        );
        for expected in [
            "server.addr: `localhost` must be an address like 127.0.0.1:3000",
            "server.trusted_proxies: `not-an-ip` must be an IP address or CIDR (from PACER_SERVER_TRUSTED_PROXIES)",
            "server.allowed_origins: `nope` must be a URL",
            "auth.disabled: invalid type",
            "logging.format: `xml` must be one of: text, json",
        ] {
            assert!(shown.contains(expected), "{expected} not in {shown}");
        }
    }

    #[test]
    fn the_file_itself_is_named_when_it_cannot_be_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = Config::load(Some(&dir.path().join("nope.yaml")), |_| None).unwrap_err();
        assert_eq!(keys(missing), ["--config"]);
        assert_eq!(keys(load("server: [\n", &[]).unwrap_err()), ["--config"]);
        assert_eq!(keys(load("- a\n", &[]).unwrap_err()), ["--config"]);
        let empty = load("# nothing yet\n", &[]).unwrap_err();
        assert_eq!(keys(empty)[0], "storage.path");
    }

    #[test]
    fn secrets_never_print() {
        let config = load("$MINIMAL", &[]).expect("valid");
        let shown = format!("{config:?}\n{}", config.redacted());
        assert!(!shown.contains("Everybody"), "{shown}");
        assert!(config.redacted().contains("webhook_secret: '***'"), "{}", config.redacted());
    }

    #[test]
    fn every_key_maps_to_one_env_var() {
        assert_eq!(env_name("server.public_url"), "PACER_SERVER_PUBLIC_URL");
        assert_eq!(env_name("auth.oidc.client_secret"), "PACER_AUTH_OIDC_CLIENT_SECRET");
        let keys = Config::keys();
        assert!(keys.contains(&"auth.oidc.client_secret".to_owned()), "{keys:?}");
        let names: BTreeSet<String> = keys.iter().map(|k| env_name(k)).collect();
        assert_eq!(names.len(), keys.len());
    }

    #[test]
    fn the_effective_configuration_reads_back_as_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = format!(
            "{}server:\n  trusted_proxies: [10.0.0.1]\n  public_url: https://pacer.example.com\n",
            minimal(dir.path())
        );
        let first = dir.path().join("pacer.yaml");
        std::fs::write(&first, yaml).expect("write");
        let env = |key: &str| (key == "PACER_STORAGE_SNAPSHOT_EVERY").then(|| "7".to_owned());
        let config = Config::load(Some(&first), env).expect("valid");
        assert_eq!(config.storage.snapshot_every, 7);
        let effective = dir.path().join("effective.yaml");
        std::fs::write(&effective, config.redacted().replace("'***'", "It's a Secret to Everybody"))
            .expect("write");
        let again = Config::load(Some(&effective), |_| None).expect("valid");
        assert_eq!(again.redacted(), config.redacted());
    }

    /// README's configuration reference: the first cell of each table row, a `section.*` row
    /// listing its keys in backquotes in its last cell.
    fn documented_keys() -> BTreeSet<String> {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
        let section = readme.split("\n## Configuration\n").nth(1).expect("README has ## Configuration");
        let section = section.split("\n## ").next().unwrap_or(section);
        let mut keys = BTreeSet::new();
        for row in section.lines().filter_map(|line| line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap_or_default();
            match key.strip_suffix(".*") {
                Some(prefix) => {
                    let last = row.trim_end_matches('|').rsplit(" | ").next().unwrap_or_default();
                    keys.extend(last.split('`').skip(1).step_by(2).map(|name| format!("{prefix}.{name}")));
                }
                None => {
                    keys.insert(key.to_owned());
                }
            }
        }
        keys
    }

    #[test]
    fn the_readme_documents_every_key_and_nothing_else() {
        let documented = documented_keys();
        let keys: BTreeSet<String> = Config::keys().into_iter().collect();
        assert!(keys.len() > 30, "{keys:?}");
        let undocumented: Vec<&String> = keys.difference(&documented).collect();
        let unknown: Vec<&String> = documented.difference(&keys).collect();
        assert!(
            undocumented.is_empty(),
            "keys missing from README's configuration reference: {undocumented:?}"
        );
        assert!(unknown.is_empty(), "README documents keys the configuration does not have: {unknown:?}");
    }
}
