//! `GET /setup/github-app?code=…&state=…`: where GitHub sends the operator back after they
//! confirmed the App's manifest ([`crate::app_setup`]). A `state` Pacer did not hand out, or
//! one already used, is refused before anything is called or written; otherwise the code is
//! exchanged once, the App's key and webhook secret go to the vault, `github_app.created` is
//! recorded as the operator who started the creation, and the browser lands on Settings with
//! the outcome (`?github_app=created` or `?github_app_error=…`).

use super::{Http, with};
use crate::app::Meta;
use crate::app_setup::SetupError;
use pacer_domain::{Actor, Command, GithubAppCreated};
use serde::Deserialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

#[derive(Deserialize)]
struct Back {
    code: Option<String>,
    state: Option<String>,
}

/// The Settings page with `outcome` as its query.
fn to_settings(outcome: &str) -> warp::reply::Response {
    let reply = warp::reply::with_status(warp::reply::reply(), StatusCode::SEE_OTHER);
    warp::reply::with_header(reply, "location", format!("/settings?{outcome}")).into_response()
}

fn failed(error: &SetupError) -> warp::reply::Response {
    let message: String = url::form_urlencoded::byte_serialize(error.to_string().as_bytes()).collect();
    to_settings(&format!("github_app_error={message}"))
}

async fn back(query: Back, http: Arc<Http>) -> Result<warp::reply::Response, Rejection> {
    let setup = &http.github_app;
    let started_by = match query.state.as_deref().map(|state| setup.take(state)) {
        Some(Ok(email)) => email,
        Some(Err(error)) => return Ok(failed(&error)),
        None => return Ok(failed(&SetupError::UnknownState)),
    };
    let credentials = match setup.convert(query.code.as_deref().unwrap_or_default()).await {
        Ok(credentials) => credentials,
        Err(error) => return Ok(failed(&error)),
    };
    let engine = &http.engine;
    if let Err(error) = engine.secrets.set_github_app(&credentials).await {
        return Ok(failed(&SetupError::Failed(format!("the App could not be stored: {error}"))));
    }
    if let Err(error) = setup.install(credentials.clone()) {
        return Ok(failed(&SetupError::Failed(format!("the App's key is unusable: {error}"))));
    }
    let created = GithubAppCreated {
        app_id: credentials.id,
        slug: credentials.slug,
        owner: credentials.owner,
        html_url: credentials.html_url,
    };
    tracing::info!(app_id = created.app_id, slug = %created.slug, by = %started_by, "GitHub App created from its manifest");
    let meta = Meta::by(Actor::User(started_by));
    if let Err(error) = engine.app.execute(Command::RecordGitHubApp(created), meta).await {
        // The App is stored and in use; only its record is missing.
        tracing::error!(%error, "github_app.created could not be recorded");
    }
    Ok(to_settings("github_app=created"))
}

pub(super) fn route(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("setup" / "github-app")
        .and(warp::get())
        .and(warp::query::<Back>())
        .and(with(http))
        .and_then(back)
}
