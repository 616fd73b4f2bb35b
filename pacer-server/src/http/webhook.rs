//! `POST /api/webhook`: a 1 MiB body limit, the HMAC-SHA256 signature verified on the
//! raw bytes before anything is parsed, delivery dedupe, and an answer only once the resulting
//! events are durable. No outbound call happens inside the request.

use super::{ApiError, Http, lenient_json, with};
use crate::app::{AppError, Meta};
use crate::metrics::WebhookOutcome;
use crate::payloads::RawPayload;
use hmac::{Hmac, Mac};
use pacer_domain::{
    Actor, Command, Conclusion, Event, Recorded, Timestamp, WebhookPayload, WorkflowAction, WorkflowJobHook,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Instant;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// Largest webhook body.
pub(super) const MAX_BODY: u64 = 1024 * 1024;

pub(super) fn route(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "webhook")
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::header::optional::<String>("x-hub-signature-256"))
        .and(warp::header::optional::<String>("x-github-event"))
        .and(warp::header::optional::<String>("x-github-delivery"))
        .and(warp::body::bytes())
        .and(with(http))
        .and_then(handle)
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`, compared
/// in constant time.
pub(super) fn signature_valid(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex) else { return false };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The `sha256=<hex>` signature of `body` (for tests and the demo's simulated GitHub).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| {
        <Hmac<Sha256> as Mac>::new_from_slice(b"-").expect("HMAC takes keys of any length")
    });
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", hex::encode(digest))
}

#[derive(Deserialize)]
struct WorkflowJobPayload {
    action: String,
    workflow_job: WorkflowJob,
    repository: Repository,
    #[serde(default)]
    sender: Option<Login>,
    #[serde(default)]
    installation: Option<Installation>,
}

#[derive(Deserialize)]
struct WorkflowJob {
    id: u64,
    run_id: u64,
    #[serde(default)]
    run_attempt: Option<u32>,
    #[serde(default)]
    workflow_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    runner_name: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Login {
    login: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct AnyPayload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    hook_id: Option<u64>,
}

fn bad_request(message: impl Into<String>) -> Rejection {
    warp::reject::custom(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message))
}

fn parse(event: &str, body: &[u8]) -> Result<WebhookPayload, Rejection> {
    let malformed = |e: serde_json::Error| {
        warp::reject::custom(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed JSON: {e}"),
        ))
    };
    match event {
        "workflow_job" => {
            let p: WorkflowJobPayload = lenient_json(body).map_err(malformed)?;
            let job = p.workflow_job;
            let time = |text: Option<String>| text.as_deref().and_then(Timestamp::parse_rfc3339);
            let (sender, sender_type) =
                p.sender.map(|s| (s.login, s.kind.unwrap_or_default())).unwrap_or_default();
            Ok(WebhookPayload::WorkflowJob(Box::new(WorkflowJobHook {
                action: WorkflowAction::from(p.action.as_str()),
                github_job_id: job.id,
                run_id: job.run_id,
                run_attempt: job.run_attempt.unwrap_or(1),
                installation_id: p.installation.map(|i| i.id),
                repo: p.repository.full_name,
                workflow: job.workflow_name.unwrap_or_default(),
                job_name: job.name.unwrap_or_default(),
                branch: job.head_branch.unwrap_or_default(),
                sha: job.head_sha.unwrap_or_default(),
                sender,
                labels: job.labels,
                html_url: job.html_url.unwrap_or_default(),
                conclusion: job.conclusion.as_deref().map(Conclusion::from),
                runner_name: job.runner_name.filter(|n| !n.is_empty()),
                created_at: time(job.created_at),
                started_at: time(job.started_at),
                completed_at: time(job.completed_at),
                sender_type,
            })))
        }
        _ => {
            let p: AnyPayload = lenient_json(body).map_err(malformed)?;
            if event == "ping" {
                Ok(WebhookPayload::Ping { hook_id: p.hook_id })
            } else {
                Ok(WebhookPayload::Other { event: event.to_owned(), action: p.action })
            }
        }
    }
}

/// The answer to a recorded delivery: `{"status": OUTCOME, "delivery": ID, …}` with the job and
/// pool of a queued job, or the reason a delivery was ignored or absorbed.
#[derive(Serialize)]
struct Answer<'a> {
    status: WebhookOutcome,
    delivery: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The HTTP status and answer of a delivery's records.
fn answer<'a>(records: &'a [Recorded], delivery: &'a str) -> (StatusCode, Answer<'a>) {
    let answer = |status, job_id, pool_id, reason| Answer { status, delivery, job_id, pool_id, reason };
    for record in records {
        return match &record.event {
            Event::JobQueued(q) if !q.recovered => {
                (StatusCode::OK, answer(WebhookOutcome::Queued, Some(q.job.0), Some(q.pool.0), None))
            }
            Event::JobIgnored(i) => {
                (StatusCode::OK, answer(WebhookOutcome::Ignored, None, None, Some(i.reason.as_str())))
            }
            Event::JobNoPoolMatch(m) => {
                (StatusCode::OK, answer(WebhookOutcome::NoPoolMatch, None, None, Some(m.reason.as_str())))
            }
            Event::WebhookDuplicate(_) => {
                (StatusCode::OK, answer(WebhookOutcome::Duplicate, None, None, None))
            }
            Event::WebhookPinged(_) => (StatusCode::OK, answer(WebhookOutcome::Pong, None, None, None)),
            Event::WebhookIgnored(_) => {
                (StatusCode::ACCEPTED, answer(WebhookOutcome::IgnoredEvent, None, None, None))
            }
            Event::WebhookAbsorbed(a) => (
                StatusCode::OK,
                answer(WebhookOutcome::Absorbed, Some(a.job.0), None, Some(a.reason.as_str())),
            ),
            _ => continue,
        };
    }
    (StatusCode::OK, answer(WebhookOutcome::Accepted, None, None, None))
}

async fn handle(
    signature: Option<String>,
    event: Option<String>,
    delivery: Option<String>,
    body: bytes::Bytes,
    http: Arc<Http>,
) -> Result<warp::reply::Response, Rejection> {
    let started = Instant::now();
    let metrics = &http.engine.metrics;
    let refuse = |outcome: WebhookOutcome, rejection: Rejection| {
        metrics.webhook(outcome, started.elapsed());
        rejection
    };
    let secret = http.github_app.webhook_secret();
    if secret.is_empty() {
        let error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_github_app",
            "no GitHub App is set up yet: create it in the console (Settings) or set github.* in the configuration",
        );
        return Err(refuse(WebhookOutcome::Unavailable, warp::reject::custom(error)));
    }
    let valid = signature.as_deref().is_some_and(|s| signature_valid(secret.expose().as_bytes(), &body, s));
    if !valid {
        let error = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "missing or invalid X-Hub-Signature-256",
        );
        return Err(refuse(WebhookOutcome::BadSignature, warp::reject::custom(error)));
    }
    let event = event
        .filter(|e| !e.is_empty())
        .ok_or_else(|| refuse(WebhookOutcome::BadRequest, bad_request("missing X-GitHub-Event")))?;
    let delivery = delivery
        .filter(|d| !d.is_empty() && d.len() <= 100 && d.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            refuse(WebhookOutcome::BadRequest, bad_request("missing or malformed X-GitHub-Delivery"))
        })?;
    let payload = parse(&event, &body).map_err(|rejection| refuse(WebhookOutcome::Malformed, rejection))?;
    let app = &http.engine.app;
    let (github_job_id, raw_payload) = match &payload {
        WebhookPayload::WorkflowJob(hook) => {
            let raw = RawPayload {
                delivery_id: delivery.clone(),
                action: hook.action.as_str().to_owned(),
                body: body.clone(),
            };
            (Some(hook.github_job_id), Some(Arc::new(raw)))
        }
        _ => (None, None),
    };
    let meta = |keys, raw_payload| Meta {
        actor: Actor::GitHub,
        request_id: Some(delivery.clone()),
        keys,
        fence: None,
        raw_payload,
        vault: Vec::new(),
    };
    // The decider checks the delivery key atomically with the append; a known delivery comes
    // back as a duplicate and is recorded as one (no lookup here: most deliveries are new).
    let command = Command::Webhook { delivery_id: delivery.clone(), payload };
    let records = match app.execute(command, meta(vec![format!("delivery:{delivery}")], raw_payload)).await {
        Ok(records) => records,
        Err(AppError::Duplicate(_)) => {
            let payload = WebhookPayload::Redelivery { event, github_job_id };
            let command = Command::Webhook { delivery_id: delivery.clone(), payload };
            app.execute(command, meta(Vec::new(), None))
                .await
                .map_err(|e| refuse(WebhookOutcome::Unavailable, unavailable(e.to_string())))?
        }
        Err(AppError::Rejected(rejection)) => {
            return Err(refuse(WebhookOutcome::BadRequest, bad_request(rejection.message)));
        }
        Err(error) => return Err(refuse(WebhookOutcome::Unavailable, unavailable(error.to_string()))),
    };
    let (status, answer) = answer(&records, &delivery);
    metrics.webhook(answer.status, started.elapsed());
    Ok(warp::reply::with_status(warp::reply::json(&answer), status).into_response())
}

fn unavailable(message: String) -> Rejection {
    tracing::error!(%message, "webhook not recorded");
    warp::reject::custom(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Pacer cannot record events right now; retry",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_test_vector() {
        let secret = b"It's a Secret to Everybody";
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_valid(secret, b"Hello, World!", signature));
        assert_eq!(sign(secret, b"Hello, World!"), signature);
        assert!(!signature_valid(secret, b"Hello, World?", signature));
        assert!(!signature_valid(secret, b"Hello, World!", "sha1=757107"));
        assert!(!signature_valid(secret, b"Hello, World!", "sha256=zz"));
    }

    #[test]
    fn parses_every_example_payload() {
        let dir = crate::testdata_dir().join("webhooks");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("testdata") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let event = name.split('.').next().unwrap_or_default();
            let body = std::fs::read(&path).expect("read");
            let parsed = parse(event, &body).unwrap_or_else(|_| panic!("{name} parses"));
            match (event, parsed) {
                ("workflow_job", WebhookPayload::WorkflowJob(hook)) => {
                    assert!(hook.github_job_id > 0 && !hook.repo.is_empty(), "{name}");
                    seen += 1;
                }
                ("ping", WebhookPayload::Ping { .. }) | (_, WebhookPayload::Other { .. }) => {}
                (_, other) => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(seen, 8, "all workflow_job examples");
    }
}
