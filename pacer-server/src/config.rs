//! Configuration (SPEC §10): one typed [`Config`] read from a YAML file with `PACER_` environment
//! overrides (`server.public_url` ← `PACER_SERVER_PUBLIC_URL`), validated once at start with
//! every error naming its key. Secrets are wrapped in [`Secret`] so they cannot be printed;
//! [`Config::redacted`] is what gets logged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

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

/// Everything `pacer serve` needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// Event log.
    pub storage: StorageConfig,
    /// EC2.
    pub aws: AwsConfig,
    /// GitHub App.
    pub github: GitHubConfig,
    /// Console and API sign-in.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Dispatcher.
    #[serde(default)]
    pub dispatcher: DispatcherConfig,
    /// Reaper.
    #[serde(default)]
    pub reaper: ReaperConfig,
    /// Logs.
    #[serde(default)]
    pub logging: LoggingConfig,
}

/// `server.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address.
    pub addr: String,
    /// The URL instances and browsers use to reach Pacer (default: `http://` + the bound
    /// address).
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (IPs or CIDRs).
    pub trusted_proxies: Vec<String>,
    /// Extra origins allowed for WebSocket upgrades and state-changing requests.
    pub allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:3000".into(),
            public_url: None,
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// `storage.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Data directory (event log, snapshots, secrets).
    pub path: PathBuf,
    /// Write a snapshot after this many new records (and at shutdown).
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
}

fn default_snapshot_every() -> u64 {
    100_000
}

/// `aws.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region.
    pub region: String,
    /// EC2 endpoint override (e.g. moto).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Pricing API endpoint override.
    #[serde(default)]
    pub pricing_endpoint_url: Option<String>,
}

/// `github.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// GitHub App id.
    pub app_id: u64,
    /// PEM file of the App's private key.
    pub private_key_path: PathBuf,
    /// Webhook secret.
    pub webhook_secret: Secret,
    /// REST API base.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Where runner releases are downloaded from (pinned versions).
    #[serde(default = "default_runner_download_url")]
    pub runner_download_url: String,
    /// How often failed deliveries are redelivered (seconds; 0 = never).
    #[serde(default = "default_redelivery_seconds")]
    pub redelivery_interval_seconds: u64,
}

fn default_api_url() -> String {
    "https://api.github.com".into()
}

fn default_runner_download_url() -> String {
    "https://github.com/actions/runner/releases/download".into()
}

fn default_redelivery_seconds() -> u64 {
    300
}

/// `auth.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
#[serde(deny_unknown_fields, default)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// Offer "Sign in with SSO".
    pub enabled: bool,
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Callback URL (defaults to `<public_url>/auth/oidc/callback`).
    pub redirect_url: String,
    /// Allowed emails (verified).
    pub allowed_emails: Vec<String>,
    /// Allowed email domains (verified).
    pub allowed_domains: Vec<String>,
    /// Allowed groups.
    pub allowed_groups: Vec<String>,
    /// The claim carrying groups.
    pub groups_claim: String,
}

/// `dispatcher.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherConfig {
    /// Launch calls in flight at once.
    pub max_concurrent_launches: usize,
    /// Safety-net sweep period in seconds.
    pub sweep_seconds: u64,
    /// Waits after the 1st, 2nd, … capacity failure; the last repeats.
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
#[serde(deny_unknown_fields, default)]
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

/// `logging.*`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or a full filter.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: "text".into() }
    }
}

/// Every key an environment variable may override, in dotted form.
pub const KEYS: &[&str] = &[
    "server.addr",
    "server.public_url",
    "server.trusted_proxies",
    "server.allowed_origins",
    "storage.path",
    "storage.snapshot_every",
    "aws.region",
    "aws.endpoint_url",
    "aws.pricing_endpoint_url",
    "github.app_id",
    "github.private_key_path",
    "github.webhook_secret",
    "github.api_url",
    "github.runner_download_url",
    "github.redelivery_interval_seconds",
    "auth.disabled",
    "auth.session_ttl_hours",
    "auth.local.email",
    "auth.oidc.enabled",
    "auth.oidc.issuer",
    "auth.oidc.client_id",
    "auth.oidc.client_secret",
    "auth.oidc.redirect_url",
    "auth.oidc.allowed_emails",
    "auth.oidc.allowed_domains",
    "auth.oidc.allowed_groups",
    "auth.oidc.groups_claim",
    "dispatcher.max_concurrent_launches",
    "dispatcher.sweep_seconds",
    "dispatcher.capacity_backoff_seconds",
    "dispatcher.max_launch_attempts",
    "reaper.interval_seconds",
    "reaper.orphan_grace_minutes",
    "logging.level",
    "logging.format",
];

/// The environment variable overriding `key`.
pub fn env_name(key: &str) -> String {
    format!("PACER_{}", key.replace('.', "_").to_ascii_uppercase())
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

/// Every configuration error found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl Config {
    /// Reads `path` (when given), applies `PACER_*` overrides from `env`, parses and validates.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let one = |key: &str, message: String| ConfigErrors(vec![ConfigError { key: key.into(), message }]);
        let mut tree = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| one("--config", format!("cannot read {}: {e}", path.display())))?;
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
                    .map_err(|e| one("--config", format!("{} is not valid YAML: {e}", path.display())))?
            }
            None => serde_yaml_ng::Value::Mapping(Default::default()),
        };
        if tree.is_null() {
            tree = serde_yaml_ng::Value::Mapping(Default::default());
        }
        for key in KEYS {
            if let Some(raw) = env(&env_name(key)) {
                set_path(&mut tree, key, env_value(key, &raw));
            }
        }
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            // "missing field `aws`" names the key itself; point at it.
            let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
            let key = match (missing, path.as_str()) {
                (Some(field), ".") => field.to_owned(),
                (Some(field), path) => format!("{path}.{field}"),
                (None, ".") => "config".to_owned(),
                (None, path) => path.to_owned(),
            };
            one(&key, message)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Every rule that needs more than the types, with the key at fault.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut err =
            |key: &str, message: &str| errors.push(ConfigError { key: key.into(), message: message.into() });
        if self.server.addr.parse::<SocketAddr>().is_err() {
            err("server.addr", "must be an address like 127.0.0.1:3000 or [::]:3000");
        }
        if let Some(public_url) = &self.server.public_url {
            match url::Url::parse(public_url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                _ => err("server.public_url", "must be an http(s) URL instances can reach"),
            }
        }
        for proxy in &self.server.trusted_proxies {
            if proxy.parse::<IpAddr>().is_err() && proxy.parse::<ipnet::IpNet>().is_err() {
                err("server.trusted_proxies", "each entry must be an IP address or CIDR");
            }
        }
        for origin in &self.server.allowed_origins {
            if !url::Url::parse(origin).is_ok_and(|u| u.host().is_some()) {
                err("server.allowed_origins", "each entry must be an origin like https://pacer.example.com");
            }
        }
        if self.storage.path.as_os_str().is_empty() {
            err("storage.path", "required");
        }
        if self.storage.snapshot_every == 0 {
            err("storage.snapshot_every", "must be at least 1");
        }
        if self.aws.region.trim().is_empty() {
            err("aws.region", "required");
        }
        for (key, value) in [
            ("aws.endpoint_url", &self.aws.endpoint_url),
            ("aws.pricing_endpoint_url", &self.aws.pricing_endpoint_url),
        ] {
            if value.as_deref().is_some_and(|v| url::Url::parse(v).is_err()) {
                err(key, "must be a URL");
            }
        }
        if self.github.app_id == 0 {
            err("github.app_id", "required (the GitHub App's numeric id)");
        }
        match std::fs::read_to_string(&self.github.private_key_path) {
            Ok(pem) if pem.contains("PRIVATE KEY-----") => {}
            Ok(_) => err("github.private_key_path", "is not a PEM private key"),
            Err(_) => err("github.private_key_path", "cannot be read"),
        }
        if self.github.webhook_secret.expose().len() < 16 {
            err("github.webhook_secret", "must be at least 16 characters");
        }
        for (key, value) in [
            ("github.api_url", &self.github.api_url),
            ("github.runner_download_url", &self.github.runner_download_url),
        ] {
            if !url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
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
            if !url::Url::parse(&oidc.issuer).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                err("auth.oidc.issuer", "must be the issuer's URL");
            }
            if oidc.client_id.is_empty() {
                err("auth.oidc.client_id", "required when OIDC is enabled");
            }
            if !oidc.redirect_url.is_empty() && url::Url::parse(&oidc.redirect_url).is_err() {
                err("auth.oidc.redirect_url", "must be a URL");
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
        if !matches!(self.logging.format.as_str(), "text" | "json") {
            err("logging.format", "must be text or json");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.logging.level).is_err() {
            err("logging.level", "must be a level (error, warn, info, debug, trace) or a filter");
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    /// The effective configuration as YAML with every secret replaced by `***`.
    pub fn redacted(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("<unprintable: {e}>"))
    }
}

fn is_email(text: &str) -> bool {
    text.split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.') && !text.contains(' '))
}

/// Lists may be given as `a,b` in the environment; everything else is a YAML scalar.
fn env_value(key: &str, raw: &str) -> serde_yaml_ng::Value {
    let list_keys = [
        "trusted_proxies",
        "allowed_origins",
        "allowed_emails",
        "allowed_domains",
        "allowed_groups",
        "backoff_seconds",
    ];
    if list_keys.iter().any(|k| key.ends_with(k)) && !raw.trim_start().starts_with('[') {
        return serde_yaml_ng::Value::Sequence(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.into()).collect(),
        );
    }
    let secret_like =
        key.ends_with("secret") || key.ends_with("path") || key.ends_with("url") || key.ends_with("email");
    if secret_like {
        return serde_yaml_ng::Value::String(raw.to_owned());
    }
    serde_yaml_ng::from_str(raw).unwrap_or_else(|_| serde_yaml_ng::Value::String(raw.to_owned()))
}

fn set_path(tree: &mut serde_yaml_ng::Value, key: &str, value: serde_yaml_ng::Value) {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_mapping() {
            *node = serde_yaml_ng::Value::Mapping(Default::default());
        }
        let Some(map) = node.as_mapping_mut() else { return };
        let entry_key = serde_yaml_ng::Value::String((*part).to_owned());
        if i + 1 == parts.len() {
            map.insert(entry_key, value);
            return;
        }
        node = map.entry(entry_key).or_insert(serde_yaml_ng::Value::Mapping(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pacer.yaml");
        std::fs::write(&path, yaml.replace("$DIR", &dir.path().display().to_string())).expect("write");
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(Some(&path), |k| env.get(k).cloned())
    }

    fn keys(errors: ConfigErrors) -> Vec<String> {
        errors.0.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn a_minimal_file_gets_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pacer.yaml");
        std::fs::write(&path, minimal(dir.path())).expect("write");
        let config = Config::load(Some(&path), |_| None).expect("valid");
        assert_eq!(config.server.addr, "127.0.0.1:3000");
        assert_eq!(config.dispatcher.max_concurrent_launches, 32);
        assert_eq!(config.github.api_url, "https://api.github.com");
    }

    #[test]
    fn environment_overrides_win_and_lists_split_on_commas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pacer.yaml");
        std::fs::write(&path, minimal(dir.path())).expect("write");
        let env = HashMap::from([
            ("PACER_SERVER_ADDR".to_owned(), "0.0.0.0:8080".to_owned()),
            ("PACER_SERVER_TRUSTED_PROXIES".to_owned(), "10.0.0.0/8, 192.168.1.1".to_owned()),
            ("PACER_GITHUB_WEBHOOK_SECRET".to_owned(), "0123456789abcdef-from-env".to_owned()),
            ("PACER_AUTH_DISABLED".to_owned(), "true".to_owned()),
        ]);
        let config = Config::load(Some(&path), |k| env.get(k).cloned()).expect("valid");
        assert_eq!(config.server.addr, "0.0.0.0:8080");
        assert_eq!(config.server.trusted_proxies, ["10.0.0.0/8", "192.168.1.1"]);
        assert_eq!(config.github.webhook_secret.expose(), "0123456789abcdef-from-env");
        assert!(config.auth.disabled);
    }

    #[test]
    fn errors_name_their_keys() {
        let typo = load("storage:\n  path: x\n  pth: y\n", &[]).unwrap_err();
        assert_eq!(keys(typo), ["storage.pth"]);
        let missing = load("storage:\n  path: x\n", &[]).unwrap_err();
        assert_eq!(keys(missing), ["aws"]);
        let wrong_type = load("storage:\n  path: x\n  snapshot_every: lots\n", &[]).unwrap_err();
        assert_eq!(keys(wrong_type), ["storage.snapshot_every"]);
        let yaml = "server:\n  addr: nope\n  public_url: ftp://x\nstorage:\n  path: ''\naws:\n  region: ''\ngithub:\n  app_id: 0\n  private_key_path: /nonexistent\n  webhook_secret: short\ndispatcher:\n  max_concurrent_launches: 0\nlogging:\n  format: xml\n";
        assert_eq!(
            keys(load(yaml, &[]).unwrap_err()),
            [
                "server.addr",
                "server.public_url",
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
    fn secrets_never_print() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pacer.yaml");
        std::fs::write(&path, minimal(dir.path())).expect("write");
        let config = Config::load(Some(&path), |_| None).expect("valid");
        let shown = format!("{config:?}\n{}", config.redacted());
        assert!(!shown.contains("Everybody"), "{shown}");
        assert!(config.redacted().contains("webhook_secret: '***'"), "{}", config.redacted());
    }

    #[test]
    fn every_key_maps_to_one_env_var() {
        assert_eq!(env_name("server.public_url"), "PACER_SERVER_PUBLIC_URL");
        assert_eq!(env_name("auth.oidc.client_secret"), "PACER_AUTH_OIDC_CLIENT_SECRET");
        let names: std::collections::BTreeSet<String> = KEYS.iter().map(|k| env_name(k)).collect();
        assert_eq!(names.len(), KEYS.len());
    }
}
