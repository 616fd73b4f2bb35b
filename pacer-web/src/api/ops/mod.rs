//! Every GraphQL operation of the console, typed by cynic: each response struct is a fragment of
//! the committed `pacer-server/schema.graphql` (registered by `build.rs`) and each input a
//! schema input object, so a field, argument, enum variant or type that drifts from the schema
//! fails the build, and the documents are generated from the structs. This module holds the
//! scalars, the enums, the shared fragments and the shell's operations (auth, health,
//! settings); the pages' operations live in [`jobs`], [`stats`] and [`config`].

pub(crate) mod config;
pub(crate) mod inventory;
pub(crate) mod jobs;
pub(crate) mod stats;

use cynic::{MutationBuilder, Operation, QueryBuilder, StreamingOperation, SubscriptionBuilder};
use std::fmt;

#[cynic::schema("pacer")]
mod schema {}

/// Declares a scalar the API writes as a JSON string (ids, 64-bit integers, instants), read as
/// the `&str` it holds.
macro_rules! text_scalar {
    ($(#[$doc:meta])* $name:ident = $graphql:literal) => {
        $(#[$doc])*
        #[derive(cynic::Scalar, Clone, Debug, Default, PartialEq, Eq, Hash)]
        #[cynic(graphql_type = $graphql)]
        pub(crate) struct $name(pub String);

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name(text.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

text_scalar!(
    /// An id (`ID`): a decimal string for jobs, projects and pools.
    Id = "ID"
);
text_scalar!(
    /// A 64-bit integer (`BigInt`), written as a decimal string.
    BigInt = "BigInt"
);
text_scalar!(
    /// An instant as the API writes it (RFC 3339, UTC).
    DateTime = "DateTime"
);

/// Any JSON value (`JSON`): an audit record's payload.
#[derive(cynic::Scalar, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "JSON")]
pub(crate) struct Json(pub serde_json::Value);

/// Declares a schema enum (its variants checked against the schema by cynic) that mirrors the
/// domain enum of the same meaning: both conversions are exhaustive, so a variant added on
/// either side fails the build.
macro_rules! domain_enum {
    ($(#[$doc:meta])* $name:ident => $domain:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name {
            $(
                #[allow(missing_docs)]
                $variant,
            )+
        }

        impl From<$name> for pacer_domain::$domain {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => pacer_domain::$domain::$variant,)+
                }
            }
        }

        /// The API's spelling (`RUN_INSTANCES`).
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(name)) => f.write_str(&name),
                    _ => Err(fmt::Error),
                }
            }
        }

        impl From<pacer_domain::$domain> for $name {
            fn from(value: pacer_domain::$domain) -> Self {
                match value {
                    $(pacer_domain::$domain::$variant => $name::$variant,)+
                }
            }
        }
    };
}

domain_enum!(
    /// Where a job is in its lifecycle ([`pacer_domain::JobStatus`]).
    JobStatus => JobStatus { Queued, Claimed, Starting, Running, Completed, Failed, Cancelled, Reaped }
);
domain_enum!(
    /// Repo- or org-level runners ([`pacer_domain::Scope`]).
    Scope => Scope { Repo, Org }
);
domain_enum!(
    /// How a pool launches ([`pacer_domain::SpawnMethod`]).
    SpawnMethod => SpawnMethod { Fleet, RunInstances }
);
domain_enum!(
    /// How a fleet picks capacity ([`pacer_domain::AllocationStrategy`]).
    AllocationStrategy => AllocationStrategy { Cost, LowestPrice, Capacity, Priority }
);
domain_enum!(
    /// On-demand or spot ([`pacer_domain::Market`]).
    Market => Market { OnDemand, Spot }
);
domain_enum!(
    /// What an import does to one row ([`pacer_domain::ImportAction`]).
    ImportAction => ImportAction { Create, Update, Unchanged }
);
domain_enum!(
    /// What a retention removes ([`pacer_domain::RetentionKind`]).
    RetentionKind => RetentionKind { Audit, Webhook, FailureLog }
);

/// An amount of money.
#[derive(cynic::QueryFragment, Clone, Debug, Default, PartialEq)]
pub(crate) struct Money {
    /// Millionths of a US dollar.
    pub micros: BigInt,
}

/// A user tag.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Tag {
    pub key: String,
    pub value: String,
}

/// Cursor paging.
#[derive(cynic::QueryFragment, Clone, Debug, Default, PartialEq)]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// An event as the `events` subscription delivers it (the shell only needs to know one came).
#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct EventMessage {
    #[expect(dead_code, reason = "a selection needs a field; the shell only counts arrivals")]
    pub seq: BigInt,
}

/// The variables of [`health_changed`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct ActionsVars {
    /// Event names to deliver.
    pub actions: Option<Vec<String>>,
}

/// One answer of [`health_changed`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Subscription", variables = "ActionsVars")]
pub(crate) struct HealthChangedData {
    #[arguments(actions: $actions)]
    #[expect(dead_code, reason = "the shell only counts arrivals")]
    pub events: EventMessage,
}

/// Wakes the banner whenever health changes.
pub(crate) fn health_changed() -> StreamingOperation<HealthChangedData, ActionsVars> {
    HealthChangedData::build(ActionsVars { actions: Some(vec!["health.changed".to_owned()]) })
}

/// `authInfo`: whether auth is on, which sign-in methods exist, whether this browser is in.
#[derive(cynic::QueryFragment, Clone, Debug, Default, PartialEq)]
pub(crate) struct AuthInfo {
    pub disabled: bool,
    pub local_enabled: bool,
    pub oidc_enabled: bool,
    pub signed_in: bool,
}

/// The answer to [`auth_info`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct AuthInfoData {
    pub auth_info: AuthInfo,
}

/// Whether auth is on, which sign-in methods exist, and whether this browser is signed in.
pub(crate) fn auth_info() -> Operation<AuthInfoData, ()> {
    AuthInfoData::build(())
}

/// `me`: the signed-in user for the sidebar.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct User {
    pub email: String,
    pub method: String,
}

/// The answer to [`me`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct MeData {
    pub me: Option<User>,
}

/// The signed-in user (none when auth is off).
pub(crate) fn me() -> Operation<MeData, ()> {
    MeData::build(())
}

/// One component of `health`.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct HealthComponent {
    pub name: String,
    pub ok: bool,
    pub message: String,
    pub since: Option<DateTime>,
}

/// `health`: every component, for the banner.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Health {
    pub ok: bool,
    pub components: Vec<HealthComponent>,
}

/// The answer to [`health`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct HealthData {
    pub health: Health,
}

/// Health of every component.
pub(crate) fn health() -> Operation<HealthData, ()> {
    HealthData::build(())
}

/// One replica as its last heartbeat said.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Replica {
    pub id: String,
    pub seen_at: DateTime,
    pub silent: bool,
    pub last_seq: BigInt,
    pub lag_seconds: f64,
    pub holds_lease: bool,
    pub version: String,
}

/// The replicas sharing the log, the effects lease and the replication lag.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Replication {
    pub me: String,
    pub lease_holder: Option<String>,
    pub term: BigInt,
    pub lease_seconds: f64,
    pub lag_seconds: f64,
    pub races: BigInt,
    pub replicas: Vec<Replica>,
}

/// The answer to [`replication`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct ReplicationData {
    pub replication: Option<Replication>,
}

/// The replicas and the lease (none on a single machine).
pub(crate) fn replication() -> Operation<ReplicationData, ()> {
    ReplicationData::build(())
}

/// One retention: the days in force, the configured default, and whether it is overridden.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct RetentionSetting {
    pub kind: RetentionKind,
    pub days: i32,
    pub default_days: i32,
    pub overridden: bool,
}

/// The log's last prune.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct LogPrune {
    pub first_seq: BigInt,
    pub last_seq: BigInt,
    pub through: DateTime,
    pub at: DateTime,
    pub archive: Option<String>,
}

/// Operator settings as the Settings page shows them.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub retention: Vec<RetentionSetting>,
    pub last_prune: Option<LogPrune>,
    pub bootstrap_token_fingerprint: Option<String>,
    pub previous_token_valid_until: Option<DateTime>,
    pub public_url: String,
    pub bootstrap_token_masked: String,
    pub bootstrap_token_rotated_at: Option<DateTime>,
}

/// Where Pacer's GitHub App comes from.
#[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GitHubAppSource {
    /// `github.*` in the configuration.
    Config,
    /// Created from its manifest in the console.
    Manifest,
    /// None yet.
    None,
}

/// Pacer's GitHub App.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
#[cynic(graphql_type = "GitHubApp")]
pub(crate) struct GitHubApp {
    pub source: GitHubAppSource,
    pub app_id: Option<String>,
    pub slug: Option<String>,
    pub owner: Option<String>,
    pub html_url: Option<String>,
}

/// The answer to [`settings`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct SettingsData {
    pub settings: Settings,
    pub github_app: GitHubApp,
}

/// The Settings page.
pub(crate) fn settings() -> Operation<SettingsData, ()> {
    SettingsData::build(())
}

/// Whether a rotation re-materialised one pool's launch template.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct PoolReversion {
    pub pool_name: String,
    pub template_version: Option<i32>,
    pub error: Option<String>,
}

/// What a rotation did.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct TokenRotation {
    pub settings: Settings,
    pub pools: Vec<PoolReversion>,
}

/// The answer to [`rotate_bootstrap_token`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation")]
pub(crate) struct RotateData {
    pub rotate_bootstrap_token: TokenRotation,
}

/// Rotates the runners' bootstrap token.
pub(crate) fn rotate_bootstrap_token() -> Operation<RotateData, ()> {
    RotateData::build(())
}

/// The variables of [`set_retention`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct SetRetentionVars {
    /// The retention to change.
    pub kind: RetentionKind,
    /// Days to keep; null = the configured default.
    pub days: Option<i32>,
}

/// The answer to [`set_retention`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "SetRetentionVars")]
pub(crate) struct SetRetentionData {
    #[arguments(kind: $kind, days: $days)]
    pub set_retention: Settings,
}

/// Overrides the `kind` retention with `days` (checked by `forms::check_retention`; a count
/// past `i32::MAX` is sent as `i32::MAX` for the server to refuse), or with `None` goes back to
/// the configured default.
pub(crate) fn set_retention(
    kind: RetentionKind,
    days: Option<u32>,
) -> Operation<SetRetentionData, SetRetentionVars> {
    let days = days.map(|days| i32::try_from(days).unwrap_or(i32::MAX));
    SetRetentionData::build(SetRetentionVars { kind, days })
}

/// The variables of [`begin_github_app_creation`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct BeginGitHubAppVars {
    /// The App's name on GitHub.
    pub name: String,
    /// The organization owning it (the signed-in GitHub user without).
    pub organization: Option<String>,
}

/// A creation to post to GitHub.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct GitHubAppCreation {
    pub url: String,
    pub manifest: String,
}

/// The answer to [`begin_github_app_creation`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "BeginGitHubAppVars")]
pub(crate) struct BeginGitHubAppData {
    #[arguments(name: $name, organization: $organization)]
    #[cynic(rename = "beginGitHubAppCreation")]
    pub begin_github_app_creation: GitHubAppCreation,
}

/// Starts creating Pacer's GitHub App from its manifest.
pub(crate) fn begin_github_app_creation(
    name: String,
    organization: Option<String>,
) -> Operation<BeginGitHubAppData, BeginGitHubAppVars> {
    BeginGitHubAppData::build(BeginGitHubAppVars { name, organization })
}

/// How a check went.
#[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckStatus {
    /// Works.
    Ok,
    /// Works, but not as it should.
    Warning,
    /// Broken.
    Failed,
    /// Not checked.
    Skipped,
}

/// One check of `doctor`.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct DoctorCheck {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    pub fix: String,
}

/// The answer to [`doctor`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct DoctorData {
    pub doctor: Vec<DoctorCheck>,
}

/// Runs every check of AWS, GitHub, the public URL and the disk.
pub(crate) fn doctor() -> Operation<DoctorData, ()> {
    DoctorData::build(())
}

/// What a reaper pass found and did.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct ReconcileReport {
    pub checked: i32,
    pub reaped: i32,
    pub gone: i32,
    pub stopped_terminated: i32,
    pub orphans: i32,
    pub problems: Vec<String>,
}

/// The answer to [`reconcile_now`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation")]
pub(crate) struct ReconcileData {
    pub reconcile_now: ReconcileReport,
}

/// Runs the reaper and orphan sweep now.
pub(crate) fn reconcile_now() -> Operation<ReconcileData, ()> {
    ReconcileData::build(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_come_from_the_types() {
        let op = set_retention(RetentionKind::Audit, Some(30));
        assert_eq!(
            op.query,
            "mutation SetRetentionData($kind: RetentionKind!, $days: Int) {\n  setRetention(kind: $kind, days: $days) {\n    retention {\n      kind\n      days\n      defaultDays\n      overridden\n    }\n    lastPrune {\n      firstSeq\n      lastSeq\n      through\n      at\n      archive\n    }\n    bootstrapTokenFingerprint\n    previousTokenValidUntil\n    publicUrl\n    bootstrapTokenMasked\n    bootstrapTokenRotatedAt\n  }\n}\n"
        );
        assert_eq!(
            serde_json::to_value(&op.variables).expect("variables"),
            serde_json::json!({ "kind": "AUDIT", "days": 30 })
        );
        let back = set_retention(RetentionKind::FailureLog, None);
        assert_eq!(
            serde_json::to_value(&back.variables).expect("variables"),
            serde_json::json!({ "kind": "FAILURE_LOG", "days": null })
        );
        assert!(auth_info().query.contains("authInfo {"));
    }

    #[test]
    fn settings_decode_from_the_api_shape() {
        let json = r#"{"settings":{"retention":[{"kind":"AUDIT","days":30,"defaultDays":90,"overridden":true}],
            "lastPrune":{"firstSeq":"1","lastSeq":"5000","through":"2026-11-01T00:00:00Z","at":"2026-11-29T10:00:00Z","archive":null},
            "bootstrapTokenFingerprint":null,
            "previousTokenValidUntil":"2026-11-29T11:00:00Z","publicUrl":"https://pacer.example",
            "bootstrapTokenMasked":"Ab3d••••••••••••","bootstrapTokenRotatedAt":null},
            "githubApp":{"source":"MANIFEST","appId":"4343","slug":"pacer","owner":"octo",
            "htmlUrl":"https://github.com/apps/pacer"}}"#;
        let data: SettingsData = serde_json::from_str(json).expect("decodes");
        assert_eq!(data.settings.previous_token_valid_until.as_deref(), Some("2026-11-29T11:00:00Z"));
        assert_eq!(data.github_app.source, GitHubAppSource::Manifest);
        assert_eq!(data.github_app.slug.as_deref(), Some("pacer"));
        assert_eq!(data.settings.retention[0].kind, RetentionKind::Audit);
        assert_eq!(data.settings.last_prune.map(|p| p.last_seq), Some("5000".into()));
    }
}
