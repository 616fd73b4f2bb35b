//! The console's only way out: GraphQL over `POST /graphql` (queries and mutations), GraphQL
//! over WebSocket (`graphql-transport-ws`, subscriptions) and the few auth REST endpoints. Every
//! POST carries `X-Pacer-Request: 1` and same-origin cookies. Errors are decoded once here into
//! [`ApiError`], with the server's field errors kept for inline display. Every operation is typed
//! by cynic ([`ops`]) and runs through [`run`] (or [`ws::subscribe`]).

pub(crate) mod ops;
mod transport;
pub(crate) mod ws;

use dioxus::prelude::*;
use pacer_domain::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt;

pub(crate) use transport::{copy_text, now, set_root_attribute, set_title, sleep_ms, store, stored};

/// Set when the server answers `UNAUTHENTICATED`; the shell then sends the browser to sign in.
pub(crate) static SESSION_LOST: GlobalSignal<bool> = Signal::global(|| false);

/// What kind of failure an [`ApiError`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// No (or an expired) session.
    Unauthenticated,
    /// Bad input; see the field errors.
    Invalid,
    /// The thing asked for does not exist.
    NotFound,
    /// Conflicts with the current state (a name taken, …).
    Conflict,
    /// AWS refused or failed.
    Aws,
    /// A subscription fell behind and must resubscribe.
    Resync,
    /// The request never got an answer (network, server down).
    Network,
    /// Any other error code, or none.
    Other(String),
}

impl ErrorKind {
    fn from_code(code: &str) -> Self {
        match code {
            "UNAUTHENTICATED" => ErrorKind::Unauthenticated,
            "INVALID_INPUT" => ErrorKind::Invalid,
            "NOT_FOUND" => ErrorKind::NotFound,
            "CONFLICT" => ErrorKind::Conflict,
            "AWS_ERROR" => ErrorKind::Aws,
            "RESYNC" => ErrorKind::Resync,
            other => ErrorKind::Other(other.to_owned()),
        }
    }
}

/// A failed API call, ready to show.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// What to tell the operator.
    pub message: String,
    /// Fields at fault (snake_case domain paths such as `instance_types[1]`).
    pub fields: Vec<FieldError>,
}

impl ApiError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), fields: Vec::new() }
    }

    /// A transport failure.
    pub(crate) fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Decodes a GraphQL errors array (from a POST answer or a subscription `error`/`next`).
pub(crate) fn decode_errors(errors: &[Value]) -> ApiError {
    let mut kind = None;
    let mut messages = Vec::new();
    let mut fields = Vec::new();
    for error in errors {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("request failed");
        let extensions = error.get("extensions");
        let code = extensions.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("");
        if kind.is_none() {
            kind = Some(ErrorKind::from_code(code));
        }
        match extensions.and_then(|e| e.get("field")).and_then(Value::as_str) {
            Some(field) => fields.push(FieldError::new(field, strip_field_prefix(message, field))),
            None => messages.push(message.to_owned()),
        }
    }
    let message = if messages.is_empty() {
        match fields.as_slice() {
            [] => "request failed".to_owned(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        }
    } else {
        messages.join("; ")
    };
    ApiError { kind: kind.unwrap_or(ErrorKind::Other(String::new())), message, fields }
}

/// Servers often prefix a field error's message with its field (`name: required`); inline
/// display already names the field.
fn strip_field_prefix(message: &str, field: &str) -> String {
    message.strip_prefix(field).and_then(|m| m.strip_prefix(": ")).unwrap_or(message).to_owned()
}

/// Decodes a `POST /graphql` answer into `T`, or the error it carries.
pub(crate) fn decode_response<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, ApiError> {
    let value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(_) if status == 401 => return Err(ApiError::new(ErrorKind::Unauthenticated, "not signed in")),
        Err(_) => return Err(ApiError::network(format!("the server answered {status} without GraphQL"))),
    };
    if let Some(errors) = value.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
        return Err(decode_errors(errors));
    }
    if status == 401 {
        return Err(ApiError::new(ErrorKind::Unauthenticated, "not signed in"));
    }
    let data = value.get("data").cloned().unwrap_or(Value::Null);
    serde_json::from_value(data).map_err(|e| ApiError::new(ErrorKind::Other("DECODE".into()), e.to_string()))
}

/// Runs one query or mutation; a lost session is flagged for the shell.
pub(crate) async fn run<T: DeserializeOwned, V: serde::Serialize>(
    operation: cynic::Operation<T, V>,
) -> Result<T, ApiError> {
    let body = serde_json::to_string(&operation)
        .map_err(|e| ApiError::new(ErrorKind::Other("ENCODE".into()), e.to_string()))?;
    let (status, text) = transport::post("/graphql", body).await.map_err(ApiError::network)?;
    let result = decode_response(status, &text);
    if let Err(ApiError { kind: ErrorKind::Unauthenticated, .. }) = &result {
        *SESSION_LOST.write() = true;
    }
    result
}

/// Why a password sign-in failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LoginError {
    /// Wrong email or password.
    BadCredentials(String),
    /// Too many attempts; wait.
    Throttled(String),
    /// Anything else.
    Other(String),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::BadCredentials(m) | LoginError::Throttled(m) | LoginError::Other(m) => f.write_str(m),
        }
    }
}

/// Decodes the answer of `POST /auth/login`.
pub(crate) fn decode_login(status: u16, body: &str) -> Result<(), LoginError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = value.get("message").and_then(Value::as_str).map(str::to_owned);
    match (status, value.get("error").and_then(Value::as_str)) {
        (_, Some("bad_credentials")) | (401, _) => {
            Err(LoginError::BadCredentials(message.unwrap_or_else(|| "wrong email or password".into())))
        }
        (_, Some("throttled")) | (429, _) => Err(LoginError::Throttled(
            message.unwrap_or_else(|| "too many attempts; wait a minute and try again".into()),
        )),
        _ => Err(LoginError::Other(message.unwrap_or_else(|| format!("sign-in failed ({status})")))),
    }
}

/// Signs in with email and password; the server sets the session cookie.
pub(crate) async fn login(email: &str, password: &str) -> Result<(), LoginError> {
    let body = json!({ "email": email, "password": password }).to_string();
    let (status, text) = transport::post("/auth/login", body).await.map_err(LoginError::Other)?;
    decode_login(status, &text)
}

/// Signs out (revokes the session server-side).
pub(crate) async fn logout() -> Result<(), ApiError> {
    let (status, _) = transport::post("/auth/logout", "{}".to_owned()).await.map_err(ApiError::network)?;
    if (200..300).contains(&status) || status == 401 {
        Ok(())
    } else {
        Err(ApiError::network(format!("sign-out failed ({status})")))
    }
}

/// The words for an OIDC failure code the server redirects back with (`/login?error=…`).
pub(crate) fn oidc_error_text(code: &str) -> String {
    match code {
        "not_allowed" => "Your account is not on this console's allowlist.".to_owned(),
        "email_unverified" => "Your identity provider has not verified your email address.".to_owned(),
        "bad_state" => {
            "The sign-in attempt expired or was started in another tab. Please try again.".to_owned()
        }
        "bad_nonce" => {
            "The identity provider's answer did not match this sign-in attempt. Please try again.".to_owned()
        }
        "provider_error" => "The identity provider reported an error.".to_owned(),
        "code_exchange_failed" => "Pacer could not complete sign-in with the identity provider.".to_owned(),
        "invalid_token" => "The identity provider's token could not be verified.".to_owned(),
        "disabled" => "An operator has switched off your account; ask them to enable it.".to_owned(),
        "throttled" => {
            "Too many sign-in attempts from your network; wait a few minutes and try again.".to_owned()
        }
        other => format!("Single sign-on failed ({other})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops::AuthInfoData;

    #[test]
    fn decodes_data() {
        let body = r#"{"data":{"authInfo":{"disabled":false,"localEnabled":true,"oidcEnabled":false,"signedIn":true}}}"#;
        let data: AuthInfoData = decode_response(200, body).expect("ok");
        assert!(data.auth_info.signed_in && data.auth_info.local_enabled);
    }

    #[test]
    fn decodes_field_errors_in_domain_form() {
        let body = r#"{"data":null,"errors":[
            {"message":"instance_types[1]: must look like family.size, e.g. m7i.large",
             "extensions":{"code":"INVALID_INPUT","field":"instance_types[1]"}},
            {"message":"must look like ami-0123456789abcdef0","extensions":{"code":"INVALID_INPUT","field":"ami_id"}}]}"#;
        let err = decode_response::<AuthInfoData>(200, body).expect_err("invalid");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.fields,
            vec![
                FieldError::new("instance_types[1]", "must look like family.size, e.g. m7i.large"),
                FieldError::new("ami_id", "must look like ami-0123456789abcdef0"),
            ]
        );
        assert_eq!(err.message, "instance_types[1]: must look like family.size, e.g. m7i.large (and 1 more)");
    }

    #[test]
    fn decodes_codes_and_transport_failures() {
        let body = r#"{"errors":[{"message":"sign in first","extensions":{"code":"UNAUTHENTICATED"}}]}"#;
        let err = decode_response::<AuthInfoData>(200, body).expect_err("unauth");
        assert_eq!((err.kind, err.message.as_str()), (ErrorKind::Unauthenticated, "sign in first"));
        let err = decode_response::<AuthInfoData>(401, "").expect_err("unauth");
        assert_eq!(err.kind, ErrorKind::Unauthenticated);
        let err = decode_response::<AuthInfoData>(502, "<html>").expect_err("network");
        assert_eq!(err.kind, ErrorKind::Network);
        let body = r#"{"errors":[{"message":"pool #9 not found","extensions":{"code":"NOT_FOUND"}}]}"#;
        assert_eq!(decode_response::<AuthInfoData>(200, body).expect_err("nf").kind, ErrorKind::NotFound);
    }

    #[test]
    fn decodes_login_answers() {
        assert_eq!(decode_login(200, ""), Ok(()));
        assert_eq!(
            decode_login(401, r#"{"error":"bad_credentials","message":"wrong email or password"}"#),
            Err(LoginError::BadCredentials("wrong email or password".into()))
        );
        assert!(matches!(decode_login(429, r#"{"error":"throttled"}"#), Err(LoginError::Throttled(_))));
        assert!(matches!(decode_login(500, "oops"), Err(LoginError::Other(_))));
        assert_eq!(
            decode_login(403, r#"{"error":"disabled","message":"this account is disabled"}"#),
            Err(LoginError::Other("this account is disabled".into()))
        );
    }

    #[test]
    fn every_oidc_code_has_words() {
        for code in [
            "not_allowed",
            "email_unverified",
            "bad_state",
            "bad_nonce",
            "provider_error",
            "code_exchange_failed",
            "invalid_token",
            "disabled",
            "throttled",
        ] {
            let text = oidc_error_text(code);
            assert!(!text.contains(code), "{code} is explained in words, got {text}");
        }
        assert!(oidc_error_text("weird").contains("weird"));
    }
}
