//! The REST surface: webhooks, runner callbacks, health, readiness, metrics and the audit
//! export, as warp filters in the style of warp's `todos` example: one filter function per
//! resource, plain async handlers, shared state injected by one filter, a body limit on every
//! route that takes a body, and one `recover` mapping rejections to a JSON error body. Internal
//! error text is logged, not returned. Before any route, a request naming a `Host` Pacer does
//! not answer for is refused (DNS rebinding).

mod audit;
mod auth_routes;
mod client;
mod console;
mod graphql;
mod health;
#[cfg(feature = "standalone")]
pub(crate) mod listen;
mod runner;
mod setup;
mod webhook;

pub use webhook::sign as webhook_signature;

use crate::app_setup::AppSetup;
use crate::auth::Auth;
use crate::engine::Engine;
use crate::graphql::PacerSchema;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// How many connections are served at once and how long a client may take over a request's
/// headers (`server.max_connections`, `server.header_timeout_seconds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// The longest a client may take to send a request's headers (HTTP/1).
    pub header_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: 4_096, header_timeout: Duration::from_secs(10) }
    }
}

/// What every handler can reach.
pub(crate) struct Http {
    /// The application and its effects: every handler's commands go through it.
    pub engine: Arc<Engine>,
    /// The GitHub App: its webhook secret, its creation from the manifest.
    pub github_app: Arc<AppSetup>,
    /// Set once the state is loaded and the engine runs.
    pub ready: AtomicBool,
    /// Sign-in, sessions and the throttle.
    pub auth: Arc<Auth>,
    /// The GraphQL schema.
    pub schema: PacerSchema,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed for WebSocket upgrades and state-changing requests.
    pub allowed_origins: Vec<String>,
    /// Host names a request's `Host` may name (lower case, no port, IPv6 without brackets);
    /// `None` when Pacer cannot know its own name (no public URL, a wildcard listen address).
    pub allowed_hosts: Option<Vec<String>>,
}

/// The host names requests may name: the public URL's, the allowed origins', the configured
/// extra ones and loopback; `None` when the public URL names a wildcard address (unset, with
/// Pacer listening everywhere), where no name can be checked.
#[cfg(feature = "standalone")]
pub(crate) fn allowed_hosts(public_url: &str, origins: &[String], extra: &[String]) -> Option<Vec<String>> {
    let host_of = |url: &str| url::Url::parse(url).ok().and_then(|u| u.host_str().map(normalize_host));
    let public = host_of(public_url)?;
    if public == "0.0.0.0" || public == "::" {
        return None;
    }
    let mut hosts = vec![public, "localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(origins.iter().filter_map(|o| host_of(o)));
    hosts.extend(extra.iter().map(|h| normalize_host(h)));
    hosts.sort();
    hosts.dedup();
    Some(hosts)
}

/// A host as compared: lower case, IPv6 without brackets.
fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

/// Paths load balancers and scrapers reach by address, exempt from the `Host` check.
const ANY_HOST_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Refuses, before routing, a request whose `Host` is not one Pacer answers for: a page on
/// another site whose name was rebound to Pacer's address sends its own name.
fn known_host(http: Arc<Http>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and(warp::host::optional())
        .and(with(http))
        .and_then(
            |path: warp::path::FullPath, host: Option<warp::host::Authority>, http: Arc<Http>| async move {
                let Some(allowed) = &http.allowed_hosts else { return Ok(()) };
                let named = host.map(|h| normalize_host(h.host()));
                if ANY_HOST_PATHS.contains(&path.as_str()) || named.is_some_and(|h| allowed.contains(&h)) {
                    Ok(())
                } else {
                    Err(warp::reject::custom(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "unknown_host",
                        "this server does not answer for that host; add it to server.allowed_hosts",
                    )))
                }
            },
        )
        .untuple_one()
}

/// A JSON error body: `{"error": "...", "message": "..."}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

/// An error a handler answers with.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The HTTP status answered.
    pub status: StatusCode,
    /// The body's `error`: a stable snake_case code clients can match on.
    pub code: &'static str,
    /// The body's `message`, for people; never internal error text.
    pub message: String,
}

impl ApiError {
    /// An error answer.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl warp::reject::Reject for ApiError {}

impl Reply for ApiError {
    fn into_response(self) -> warp::reply::Response {
        let body = ErrorBody { error: self.code, message: self.message };
        warp::reply::with_status(warp::reply::json(&body), self.status).into_response()
    }
}

/// Injects the shared state.
fn with(http: Arc<Http>) -> impl Filter<Extract = (Arc<Http>,), Error = Infallible> + Clone {
    warp::any().map(move || http.clone())
}

/// The bearer token of the `Authorization` header ([`client::bearer_token`]).
fn bearer() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .map(|value: Option<String>| value.as_deref().and_then(client::bearer_token).map(str::to_owned))
}

/// Every REST route, with errors mapped to JSON.
pub(crate) fn routes(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let routes = webhook::route(http.clone())
        .or(runner::routes(http.clone()))
        .or(health::routes(http.clone()))
        .or(graphql::routes(http.clone()))
        .or(auth_routes::routes(http.clone()))
        .or(audit::route(http.clone()))
        .or(setup::route(http.clone()))
        .or(console::route(http.github_app.form_target()));
    known_host(http)
        .and(routes)
        .recover(recover)
        .with(warp::log::custom(|info| {
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), elapsed_ms = info.elapsed().as_millis() as u64, "http");
        }))
}

/// Maps every rejection to a JSON error with the right status.
pub(crate) async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let error = if let Some(error) = rejection.find::<ApiError>() {
        ApiError::new(error.status, error.code, error.message.clone())
    } else if rejection.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::new(StatusCode::LENGTH_REQUIRED, "length_required", "a Content-Length header is required")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
    } else if rejection.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send application/json")
    } else if let Some(header) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", format!("invalid header {}", header.name()))
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "the request could not be understood")
    };
    Ok(error.into_response())
}

/// Parses a JSON body leniently about invalid UTF-8 (replaced) but strictly about shape.
fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    lenient_json(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {e}")))
}

/// JSON from bytes. The whole body is checked as UTF-8 once and parsed as a `str`, which spares
/// serde_json checking every string and key on its own (15 % fewer instructions for a GitHub
/// webhook); only a body that is not UTF-8 is copied, with the invalid sequences replaced.
fn lenient_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Named {
        name: String,
    }

    #[test]
    fn hosts_come_from_the_public_url_the_origins_and_the_config() {
        let hosts = allowed_hosts(
            "https://Pacer.Example.com:8443",
            &["https://console.example.org".to_owned()],
            &["lb.internal".to_owned()],
        )
        .expect("a named public URL");
        for host in
            ["pacer.example.com", "console.example.org", "lb.internal", "localhost", "127.0.0.1", "::1"]
        {
            assert!(hosts.contains(&host.to_owned()), "{host} in {hosts:?}");
        }
        assert!(!hosts.contains(&"evil.example".to_owned()));
        assert_eq!(allowed_hosts("http://0.0.0.0:3000", &[], &[]), None, "a wildcard address names nothing");
        assert_eq!(normalize_host("[::1]"), "::1");
    }

    #[test]
    fn json_is_lenient_about_utf8_and_strict_about_shape() {
        let valid: Named = lenient_json(br#"{"name":"ok","skipped":"x"}"#).expect("valid");
        assert_eq!(valid, Named { name: "ok".into() });
        let invalid: Named = lenient_json(b"{\"name\":\"a\xffb\"}").expect("replaced");
        assert_eq!(invalid, Named { name: "a\u{fffd}b".into() });
        assert!(lenient_json::<Named>(b"{\"name\":1}").is_err());
        assert!(lenient_json::<Named>(b"{\"name\":\"a\xff").is_err());
        let error = json_body::<Named>(b"nope").expect_err("malformed");
        assert_eq!(error.code, "malformed_json");
    }
}
