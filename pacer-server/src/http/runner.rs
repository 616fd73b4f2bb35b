//! Runner callbacks: `/api/runner/bootstrap|register|complete|error|heartbeat`. Bootstrap takes
//! the pool's bootstrap token and the instance's AWS-signed identity document, the others the
//! per-job callback token; tokens are bearer tokens. Status codes: 401 bad token, 403 a
//! credential that does not reach this instance (recorded), 409 try again (launch not recorded
//! yet), 410 already done, 503 GitHub or storage temporarily unavailable (retry), 424 GitHub
//! refused.

use super::{ApiError, Http, bearer, json_body, with};
use crate::engine::{CallbackError, IdentityProof, RegisterAnswer};
use serde::Deserialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

const SMALL_BODY: u64 = 16 * 1024;
const ERROR_BODY: u64 = 512 * 1024;

#[derive(Deserialize)]
struct CompleteBody {
    exit_code: i32,
}

#[derive(Deserialize)]
struct ErrorReport {
    stage: String,
    exit_code: i32,
    #[serde(default)]
    line: u32,
    #[serde(default)]
    log: String,
}

fn reject(error: CallbackError) -> Rejection {
    let (status, code) = match &error {
        CallbackError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        CallbackError::Retry(_) => (StatusCode::CONFLICT, "retry"),
        CallbackError::Gone(_) => (StatusCode::GONE, "gone"),
        CallbackError::GitHubTemporary(_) => (StatusCode::SERVICE_UNAVAILABLE, "github_unavailable"),
        CallbackError::GitHubRefused(_) => (StatusCode::FAILED_DEPENDENCY, "github_refused"),
        CallbackError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        CallbackError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        CallbackError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        CallbackError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
    };
    warp::reject::custom(ApiError::new(status, code, error.to_string()))
}

fn token(token: Option<String>) -> Result<String, Rejection> {
    token.ok_or_else(|| reject(CallbackError::Unauthorized))
}

fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-")
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(super) fn routes(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let base = warp::path("api").and(warp::path("runner")).and(warp::post());
    let bootstrap = base
        .and(warp::path!("bootstrap"))
        .and(warp::body::content_length_limit(SMALL_BODY))
        .and(bearer())
        .and(warp::body::bytes())
        .and(with(http.clone()))
        .and_then(|token_value: Option<String>, body: bytes::Bytes, http: Arc<Http>| async move {
            let token_value = token(token_value)?;
            let proof: IdentityProof = json_body(&body).map_err(warp::reject::custom)?;
            if proof.instance_id.as_deref().is_some_and(|id| !is_instance_id(id)) {
                return Err(warp::reject::custom(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "instance_id must be an EC2 instance id",
                )));
            }
            let answer = http.engine.runner_bootstrap(&token_value, &proof).await.map_err(reject)?;
            Ok::<_, Rejection>(warp::reply::json(&answer))
        });
    let register = base
        .and(warp::path!("register"))
        .and(warp::body::content_length_limit(SMALL_BODY))
        .and(bearer())
        .and(with(http.clone()))
        .and_then(|token_value: Option<String>, http: Arc<Http>| async move {
            let token_value = token(token_value)?;
            let answer = http.engine.runner_register(&token_value).await.map_err(reject)?;
            Ok::<_, Rejection>(match answer {
                RegisterAnswer::Runner(registration) => warp::reply::json(&registration).into_response(),
                // Stopped capacity, ready: Pacer stops the instance; it stands by until then.
                RegisterAnswer::StandBy => StatusCode::NO_CONTENT.into_response(),
            })
        });
    let complete = base
        .and(warp::path!("complete"))
        .and(warp::body::content_length_limit(SMALL_BODY))
        .and(bearer())
        .and(warp::body::bytes())
        .and(with(http.clone()))
        .and_then(|token_value: Option<String>, body: bytes::Bytes, http: Arc<Http>| async move {
            let token_value = token(token_value)?;
            let body: CompleteBody = json_body(&body).map_err(warp::reject::custom)?;
            http.engine.runner_complete(&token_value, body.exit_code).await.map_err(reject)?;
            Ok::<_, Rejection>(warp::reply::json(&serde_json::json!({"status": "recorded"})))
        });
    let heartbeat = base
        .and(warp::path!("heartbeat"))
        .and(warp::body::content_length_limit(SMALL_BODY))
        .and(bearer())
        .and(with(http.clone()))
        .and_then(|token_value: Option<String>, http: Arc<Http>| async move {
            let token_value = token(token_value)?;
            http.engine.runner_heartbeat(&token_value).await.map_err(reject)?;
            Ok::<_, Rejection>(warp::reply::json(&serde_json::json!({"status": "seen"})))
        });
    let error = base
        .and(warp::path!("error"))
        .and(warp::body::content_length_limit(ERROR_BODY))
        .and(bearer())
        .and(warp::body::bytes())
        .and(with(http))
        .and_then(|token_value: Option<String>, body: bytes::Bytes, http: Arc<Http>| async move {
            let token_value = token(token_value)?;
            let report: ErrorReport = json_body(&body).map_err(warp::reject::custom)?;
            http.engine
                .runner_error(&token_value, report.stage, report.exit_code, report.line, report.log)
                .await
                .map_err(reject)?;
            Ok::<_, Rejection>(warp::reply::json(&serde_json::json!({"status": "recorded"})))
        });
    bootstrap.or(register).or(complete).or(heartbeat).or(error)
}
