//! The console, embedded at build time (see `build.rs`): static files with their content
//! types, an ETag and `Cache-Control: no-cache`, an SPA fallback to `index.html` for every other
//! path outside the API, and the console's security headers.

use super::ApiError;
use sha2::Digest as _;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// The Content-Security-Policy of the console; forms may also post to `form_target` (GitHub's
/// web origin, while the App is to be created from its manifest).
fn console_csp(form_target: Option<&str>) -> String {
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action {form_action}"
    )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The ETag of embedded file `index` (SHA-256 prefix, computed once per file).
fn etag(index: usize) -> &'static str {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        assets::ASSETS
            .iter()
            .map(|(_, bytes)| {
                let digest = sha2::Sha256::digest(bytes);
                format!("\"{}\"", hex::encode(&digest[..8]))
            })
            .collect()
    });
    tags.get(index).map_or("\"\"", String::as_str)
}

/// Whether the console is built into this binary.
pub(super) fn embedded() -> bool {
    !assets::ASSETS.is_empty()
}

/// The embedded file at `path`: its index, route and bytes.
fn find(path: &str) -> Option<(usize, &'static str, &'static [u8])> {
    assets::ASSETS.iter().enumerate().find(|(_, (route, _))| *route == path).map(|(i, (r, b))| (i, *r, *b))
}

/// The Content-Security-Policy of GraphiQL (`GET /graphql`): its scripts are Pacer's own files
/// too, but its editor sets inline styles.
const GRAPHIQL_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds the security headers, with `csp` as the Content-Security-Policy, to any reply.
fn secured(reply: impl Reply, csp: HeaderValue) -> warp::reply::Response {
    let mut response = reply.into_response();
    let headers = response.headers_mut();
    headers.insert("content-security-policy", csp);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

/// `GET` of any path outside the API: a file, or `index.html` for client-side routes.
pub(super) fn route(
    form_target: Option<String>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    // An origin is printable ASCII; should one ever not be, nothing at all is allowed.
    let csp = HeaderValue::from_str(&console_csp(form_target.as_deref()))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    warp::get()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(warp::header::optional::<String>("accept-encoding"))
        .and_then(move |path: warp::path::FullPath, if_none_match: Option<String>, accept_encoding: Option<String>| {
            let csp = csp.clone();
            async move {
            let path = path.as_str();
            let reserved = ["/api/", "/auth/", "/graphql", "/healthz", "/readyz", "/metrics"];
            if reserved.iter().any(|r| path.starts_with(r)) {
                return Err(warp::reject::not_found());
            }
            if !embedded() {
                return Err(warp::reject::custom(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "console_not_built",
                    "this pacer binary was built without the console; run scripts/build-console.sh, then rebuild",
                )));
            }
            let found = find(path).or_else(|| find("/index.html")).ok_or_else(warp::reject::not_found)?;
            Ok::<_, Rejection>(file(found, if_none_match, accept_encoding, csp))
            }
        })
}

/// `GET /graphql`: GraphiQL, from the files embedded with the console.
pub(super) fn graphiql() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("graphql")
        .and(warp::get())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(warp::header::optional::<String>("accept-encoding"))
        .and_then(|if_none_match: Option<String>, accept_encoding: Option<String>| async move {
            let Some(found) = find("/graphiql/index.html") else {
                return Err(warp::reject::custom(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "console_not_built",
                    "this pacer binary was built without the console and GraphiQL; run scripts/build-console.sh, then rebuild",
                )));
            };
            Ok::<_, Rejection>(file(found, if_none_match, accept_encoding, HeaderValue::from_static(GRAPHIQL_CSP)))
        })
}

/// An embedded file as an answer: its gzip copy when the client takes gzip, 304 for a matching
/// ETag, revalidated on every load, under `csp`.
fn file(
    (index, route, bytes): (usize, &'static str, &'static [u8]),
    if_none_match: Option<String>,
    accept_encoding: Option<String>,
    csp: HeaderValue,
) -> warp::reply::Response {
    // build-console.sh stores a gzip copy beside large files.
    let gzipped = accept_encoding
        .as_deref()
        .is_some_and(|a| a.split(',').any(|e| e.trim().starts_with("gzip")))
        .then(|| find(&format!("{route}.gz")))
        .flatten();
    let (index, body, encoding) = match gzipped {
        Some((gz, _, gz_bytes)) => (gz, gz_bytes, Some("gzip")),
        None => (index, bytes, None),
    };
    let tag = etag(index);
    if if_none_match.as_deref() == Some(tag) {
        let reply = warp::reply::with_status(warp::reply::reply(), StatusCode::NOT_MODIFIED);
        return secured(warp::reply::with_header(reply, "etag", tag), csp.clone());
    }
    let mut response = warp::reply::with_header(body, "content-type", content_type(route)).into_response();
    let headers = response.headers_mut();
    // Revalidated on every load (cheap with the ETag), so a new binary's console shows at once.
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    headers.insert("vary", HeaderValue::from_static("accept-encoding"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        headers.insert("etag", tag);
    }
    if let Some(encoding) = encoding {
        headers.insert("content-encoding", HeaderValue::from_static(encoding));
    }
    secured(response, csp)
}
