//! Who is calling: the client address (believing `X-Forwarded-For` only from trusted proxies),
//! the bearer token of an `Authorization` value, the session principal from the cookie or that
//! token, and the CSRF guard for state-changing requests.

use super::{ApiError, Http, with};
use crate::auth::Principal;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

/// The header every state-changing request from the console carries.
pub(super) const CSRF_HEADER: &str = "x-pacer-request";

/// The TCP peer of a request, put in its extensions by the server loop (`listen.rs`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer(pub(super) SocketAddr);

/// The client's address: the peer, or the right-most untrusted `X-Forwarded-For` hop when the
/// peer is a trusted proxy.
pub(super) fn client_ip(
    peer: Option<SocketAddr>,
    forwarded: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let peer = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    forwarded
        .into_iter()
        .flat_map(|h| h.split(','))
        .rev()
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// Extracts the client address.
pub(super) fn ip(http: Arc<Http>) -> impl Filter<Extract = (IpAddr,), Error = Rejection> + Clone {
    warp::ext::optional::<Peer>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and(with(http))
        .map(|peer: Option<Peer>, forwarded: Option<String>, http: Arc<Http>| {
            client_ip(peer.map(|Peer(addr)| addr), forwarded.as_deref(), &http.trusted_proxies)
        })
}

/// The token of an `Authorization: Bearer <token>` value (a header, or the same field of a
/// WebSocket `connection_init` payload): the scheme matched case-insensitively (RFC 7235), the
/// token trimmed; `None` for another scheme or an empty token. One parser for session ids
/// (API clients that signed in through `/auth/login`), runner tokens and the GraphQL socket.
pub(super) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Extracts the principal from the session cookie or a bearer session id.
pub(super) fn principal(http: Arc<Http>) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    warp::header::optional::<String>("cookie")
        .and(warp::header::optional::<String>("authorization"))
        .and(with(http))
        .map(|cookie: Option<String>, authorization: Option<String>, http: Arc<Http>| {
            match authorization.as_deref().and_then(bearer_token) {
                Some(session) => http.auth.session_principal(&http.engine, session),
                None => http.auth.principal(&http.engine, cookie.as_deref()),
            }
        })
}

/// Whether an `Origin` header (when present) is one Pacer serves.
pub(super) fn origin_allowed(http: &Http, origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else { return true };
    let origin = origin.trim_end_matches('/');
    if http.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    host.is_some_and(|host| origin == format!("http://{host}") || origin == format!("https://{host}"))
}

/// Whether a request has a shape no other site can make a browser send: the console's custom
/// header, a bearer session (never attached by a browser on its own), or a JSON body (which a
/// cross-site page can only send after a CORS preflight Pacer never grants).
fn csrf_safe(marker: Option<&str>, authorization: Option<&str>, content_type: Option<&str>) -> bool {
    let json = content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
    marker.is_some() || authorization.and_then(bearer_token).is_some() || json
}

/// Refuses state-changing requests of a shape another site could forge, or with a foreign
/// `Origin`.
pub(super) fn csrf(http: Arc<Http>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>(CSRF_HEADER)
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("host"))
        .and(with(http))
        .and_then(
            |marker: Option<String>,
             authorization: Option<String>,
             content_type: Option<String>,
             origin: Option<String>,
             host: Option<String>,
             http: Arc<Http>| async move {
                if !csrf_safe(marker.as_deref(), authorization.as_deref(), content_type.as_deref()) {
                    return Err(warp::reject::custom(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf",
                        format!("state-changing requests need a JSON body or the {CSRF_HEADER} header"),
                    )));
                }
                if !origin_allowed(&http, origin.as_deref(), host.as_deref()) {
                    return Err(warp::reject::custom(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "origin",
                        "foreign origin",
                    )));
                }
                Ok(())
            },
        )
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let proxy = Some(SocketAddr::from(([10, 1, 2, 3], 443)));
        let stranger = Some(SocketAddr::from(([203, 0, 113, 9], 443)));
        assert_eq!(client_ip(stranger, Some("1.2.3.4"), &trusted), IpAddr::from([203, 0, 113, 9]));
        assert_eq!(client_ip(proxy, Some("1.2.3.4, 10.9.9.9"), &trusted), IpAddr::from([1, 2, 3, 4]));
        assert_eq!(client_ip(proxy, Some("garbage"), &trusted), IpAddr::from([10, 1, 2, 3]));
        assert_eq!(client_ip(proxy, None, &[]), IpAddr::from([10, 1, 2, 3]));
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token(""), None);
    }

    #[test]
    fn only_unforgeable_shapes_are_csrf_safe() {
        assert!(csrf_safe(Some("1"), None, Some("text/plain")));
        assert!(csrf_safe(None, Some("Bearer abc"), None));
        assert!(csrf_safe(None, None, Some("application/json; charset=utf-8")));
        assert!(!csrf_safe(None, None, Some("text/plain")));
        assert!(!csrf_safe(None, None, Some("application/x-www-form-urlencoded")));
        assert!(!csrf_safe(None, Some("Basic abc"), None));
        assert!(!csrf_safe(None, None, None));
    }
}
