//! Operations typed by cynic: each response struct is a fragment of the committed
//! `pacer-server/schema.graphql` (registered by `build.rs`), so a field, argument or type that
//! drifts from the schema fails the build, and the document is generated from the struct. The
//! documents still in [`super::queries`] move here one page at a time.

use cynic::{MutationBuilder, Operation, QueryBuilder};

#[cynic::schema("pacer")]
mod schema {}

/// An instant as the API writes it (RFC 3339, UTC); reads as the `&str` it holds.
#[derive(cynic::Scalar, Clone, Debug, PartialEq)]
pub(crate) struct DateTime(pub String);

impl std::ops::Deref for DateTime {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DateTime {
    fn from(text: &str) -> Self {
        DateTime(text.to_owned())
    }
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

/// Operator settings as the Settings page shows them.
#[derive(cynic::QueryFragment, Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub retention_days: i32,
    pub bootstrap_token_fingerprint: Option<String>,
    pub previous_token_valid_until: Option<DateTime>,
    pub public_url: String,
}

/// The answer to [`settings`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct SettingsData {
    pub settings: Settings,
}

/// The Settings page.
pub(crate) fn settings() -> Operation<SettingsData, ()> {
    SettingsData::build(())
}

/// The answer to [`rotate_bootstrap_token`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation")]
pub(crate) struct RotateData {
    pub rotate_bootstrap_token: Settings,
}

/// Rotates the runners' bootstrap token.
pub(crate) fn rotate_bootstrap_token() -> Operation<RotateData, ()> {
    RotateData::build(())
}

/// The variables of [`set_retention`].
#[derive(cynic::QueryVariables, Debug)]
pub(crate) struct SetRetentionVars {
    /// Days of audit and job history kept.
    pub days: i32,
}

/// The answer to [`set_retention`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation", variables = "SetRetentionVars")]
pub(crate) struct SetRetentionData {
    #[arguments(days: $days)]
    pub set_retention: Settings,
}

/// Sets the audit/job retention to `days` (checked by `forms::check_retention`; a count past
/// `i32::MAX` is sent as `i32::MAX` for the server to refuse).
pub(crate) fn set_retention(days: u32) -> Operation<SetRetentionData, SetRetentionVars> {
    SetRetentionData::build(SetRetentionVars { days: i32::try_from(days).unwrap_or(i32::MAX) })
}

/// The answer to [`reconcile_now`].
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Mutation")]
pub(crate) struct ReconcileData {
    pub reconcile_now: bool,
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
        let op = set_retention(30);
        assert_eq!(
            op.query,
            "mutation SetRetentionData($days: Int!) {\n  setRetention(days: $days) {\n    retentionDays\n    bootstrapTokenFingerprint\n    previousTokenValidUntil\n    publicUrl\n  }\n}\n"
        );
        assert_eq!(
            serde_json::to_value(&op.variables).expect("variables"),
            serde_json::json!({ "days": 30 })
        );
        assert!(auth_info().query.contains("authInfo {"));
    }

    #[test]
    fn settings_decode_from_the_api_shape() {
        let json = r#"{"settings":{"retentionDays":30,"bootstrapTokenFingerprint":null,
            "previousTokenValidUntil":"2026-11-29T11:00:00Z","publicUrl":"https://pacer.example"}}"#;
        let data: SettingsData = serde_json::from_str(json).expect("decodes");
        assert_eq!(data.settings.previous_token_valid_until.as_deref(), Some("2026-11-29T11:00:00Z"));
    }
}
