//! `/auth/login`, `/auth/logout`, `/auth/oidc/start`, `/auth/oidc/callback` and the backup
//! download `/api/backup/export`.

use super::client::{csrf, ip, principal};
use super::{ApiError, Http, json_body, with};
use crate::app::Meta;
use crate::auth::{LoginError, Principal};
use pacer_domain::{AuthMethod, AuthOidcLoginDenied, AuthRecord, Command, UserCreated};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Start {
    login_hint: Option<String>,
}

fn redirect(location: &str) -> warp::reply::Response {
    let reply = warp::reply::with_status(warp::reply::reply(), StatusCode::FOUND);
    warp::reply::with_header(reply, "location", location).into_response()
}

/// Adds a `Set-Cookie` (appended: a reply may set several cookies).
fn with_cookie(reply: impl Reply, cookie: String) -> warp::reply::Response {
    let mut response = reply.into_response();
    if let Ok(value) = warp::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().append("set-cookie", value);
    }
    response
}

async fn login(body: bytes::Bytes, ip: IpAddr, http: Arc<Http>) -> Result<warp::reply::Response, Rejection> {
    if http.auth.disabled {
        return Err(warp::reject::custom(ApiError::new(
            StatusCode::CONFLICT,
            "auth_disabled",
            "sign-in is disabled",
        )));
    }
    let login: Login = json_body(&body).map_err(warp::reject::custom)?;
    match http.auth.login(&http.engine, &login.email, &login.password, ip).await {
        Ok((id, session)) => {
            let body = warp::reply::json(&serde_json::json!({"email": session.email}));
            Ok(with_cookie(body, http.auth.session_cookie(&id)))
        }
        Err(error) => {
            let (status, code) = match error {
                LoginError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
                LoginError::Throttled => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
                LoginError::Disabled => (StatusCode::FORBIDDEN, "disabled"),
                LoginError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            };
            Err(warp::reject::custom(ApiError::new(status, code, error.to_string())))
        }
    }
}

async fn logout(principal: Principal, http: Arc<Http>) -> Result<warp::reply::Response, Rejection> {
    http.auth.logout(&http.engine, &principal).await;
    Ok(with_cookie(warp::reply::json(&serde_json::json!({"status": "signed_out"})), http.auth.clear_cookie()))
}

async fn oidc_start(query: Start, ip: IpAddr, http: Arc<Http>) -> Result<warp::reply::Response, Rejection> {
    let Some(oidc) = http.auth.oidc.as_ref().filter(|_| !http.auth.disabled) else {
        return Err(warp::reject::not_found());
    };
    if !http.auth.admit_sso_start(&http.engine, ip) {
        return Ok(redirect("/login?error=throttled"));
    }
    match oidc.start(http.engine.app.now().millis(), query.login_hint.as_deref()).await {
        Ok((url, state)) => Ok(with_cookie(redirect(&url), flow_cookie(&http, &state, 600))),
        Err(error) => {
            tracing::warn!(error = %error.detail(), "cannot start an OIDC sign-in");
            Ok(redirect(&format!("/login?error={}", error.code())))
        }
    }
}

/// The cookie binding an OIDC flow's `state` to the browser that started it (Lax: the
/// provider's redirect back is a cross-site top-level navigation).
const FLOW_COOKIE: &str = "pacer_oidc_state";

fn flow_cookie(http: &Http, state: &str, max_age: u32) -> String {
    let secure = if http.auth.secure { "; Secure" } else { "" };
    format!("{FLOW_COOKIE}={state}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

async fn oidc_callback(
    query: Callback,
    cookies: Option<String>,
    ip: IpAddr,
    http: Arc<Http>,
) -> Result<warp::reply::Response, Rejection> {
    let Some(oidc) = http.auth.oidc.as_ref().filter(|_| !http.auth.disabled) else {
        return Err(warp::reject::not_found());
    };
    let now = http.engine.app.now();
    let started_here =
        |state: &str| cookies.as_deref().and_then(|c| crate::auth::cookie(c, FLOW_COOKIE)) == Some(state);
    let clear = flow_cookie(&http, "", 0);
    // Only a flow this browser started is answered, and so recorded: a stranger's callback
    // (with any error text it likes) writes nothing.
    let Some(state) = query.state.as_deref().filter(|state| started_here(state)) else {
        let bad_state = crate::auth::oidc::OidcError::BadState;
        return Ok(with_cookie(redirect(&format!("/login?error={}", bad_state.code())), clear));
    };
    let result = match (&query.error, &query.code) {
        (Some(error), _) => Err(crate::auth::oidc::OidcError::Provider(crate::auth::capped(error))),
        (None, Some(code)) => oidc.finish(now.millis(), state, code).await,
        (None, None) => Err(crate::auth::oidc::OidcError::BadState),
    };
    Ok(with_cookie(callback_outcome(result, ip, &http).await, clear))
}

async fn callback_outcome(
    result: Result<crate::auth::oidc::Identity, crate::auth::oidc::OidcError>,
    ip: IpAddr,
    http: &Http,
) -> warp::reply::Response {
    let now = http.engine.app.now();
    let engine = &http.engine;
    match result {
        Ok(identity) if engine.app.state().users.get(&identity.email).is_some_and(|u| u.disabled) => {
            deny(http, crate::auth::oidc::OidcError::Disabled(identity.email), ip).await
        }
        Ok(identity) => {
            if !engine.app.state().users.contains_key(&identity.email) {
                let record = AuthRecord::UserCreated(UserCreated {
                    email: identity.email.clone(),
                    method: AuthMethod::Oidc,
                });
                if let Err(e) = engine
                    .app
                    .execute(Command::RecordAuth(record), Meta::by(pacer_domain::Actor::System))
                    .await
                {
                    tracing::warn!(%e, "could not record a new OIDC user");
                }
            }
            let (email, groups) = (identity.email, identity.groups);
            match http.auth.start_session(engine, &email, AuthMethod::Oidc, groups, ip, now).await {
                Ok((id, _)) => with_cookie(redirect("/"), http.auth.session_cookie(&id)),
                Err(_) => redirect("/login?error=provider_error"),
            }
        }
        Err(error) => deny(http, error, ip).await,
    }
}

/// Records a refused OIDC sign-in and sends the browser back to the sign-in page.
async fn deny(http: &Http, error: crate::auth::oidc::OidcError, ip: IpAddr) -> warp::reply::Response {
    tracing::warn!(reason = %error.detail(), %ip, "OIDC sign-in refused");
    let email = match &error {
        crate::auth::oidc::OidcError::NotAllowed(email) | crate::auth::oidc::OidcError::Disabled(email) => {
            email.clone()
        }
        _ => String::new(),
    };
    let record = AuthRecord::OidcDenied(AuthOidcLoginDenied {
        email: crate::auth::capped(&email),
        reason: crate::auth::capped(&error.detail()),
        ip: ip.to_string(),
    });
    let _ = http.engine.app.execute(Command::RecordAuth(record), Meta::by(pacer_domain::Actor::System)).await;
    redirect(&format!("/login?error={}", error.code()))
}

async fn export(principal: Principal, http: Arc<Http>) -> Result<warp::reply::Response, Rejection> {
    if !principal.allowed() {
        return Err(warp::reject::custom(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first",
        )));
    }
    let backup = http.engine.export_backup(Meta::by(principal.actor())).await.map_err(|e| {
        warp::reject::custom(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()))
    })?;
    let body = serde_json::to_string_pretty(&backup).unwrap_or_default();
    let name = format!("attachment; filename=\"pacer-backup-{}.json\"", http.engine.app.now().date());
    let reply = warp::reply::with_header(body, "content-type", "application/json");
    Ok(warp::reply::with_header(reply, "content-disposition", name).into_response())
}

pub(super) fn routes(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let login = warp::path!("auth" / "login")
        .and(warp::post())
        .and(warp::body::content_length_limit(16 * 1024))
        .and(csrf(http.clone()))
        .and(warp::body::bytes())
        .and(ip(http.clone()))
        .and(with(http.clone()))
        .and_then(login);
    let logout = warp::path!("auth" / "logout")
        .and(warp::post())
        .and(csrf(http.clone()))
        .and(principal(http.clone()))
        .and(with(http.clone()))
        .and_then(logout);
    let start = warp::path!("auth" / "oidc" / "start")
        .and(warp::get())
        .and(warp::query::<Start>())
        .and(ip(http.clone()))
        .and(with(http.clone()))
        .and_then(oidc_start);
    let callback = warp::path!("auth" / "oidc" / "callback")
        .and(warp::get())
        .and(warp::query::<Callback>())
        .and(warp::header::optional::<String>("cookie"))
        .and(ip(http.clone()))
        .and(with(http.clone()))
        .and_then(oidc_callback);
    let export = warp::path!("api" / "backup" / "export")
        .and(warp::get())
        .and(principal(http.clone()))
        .and(with(http))
        .and_then(export);
    login.or(logout).or(start).or(callback).or(export)
}
