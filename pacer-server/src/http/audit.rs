//! `GET /api/audit/export?from_seq=&to_seq=`: a range of the log with its chain hashes, one JSON
//! line per record (`pacer_store::export_chain`), streamed as it is read, to a signed-in user.
//! `tools/audit/check-export.py` checks one without Pacer.

use super::client::principal;
use super::{ApiError, Http, with};
use crate::auth::Principal;
use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use serde::Deserialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// The range asked for: from seq 1 and to the log's end unless given.
#[derive(Deserialize)]
struct Range {
    from_seq: Option<u64>,
    to_seq: Option<u64>,
}

/// Bytes of lines gathered before they are sent on.
const CHUNK_BYTES: usize = 64 << 10;
/// Chunks read ahead of the client.
const CHUNKS_AHEAD: usize = 4;

fn invalid(message: &str) -> Rejection {
    warp::reject::custom(ApiError::new(StatusCode::BAD_REQUEST, "invalid_range", message))
}

async fn export(
    range: Range,
    principal: Principal,
    http: Arc<Http>,
) -> Result<warp::reply::Response, Rejection> {
    if !principal.allowed() {
        return Err(warp::reject::custom(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first",
        )));
    }
    let log = http.engine.app.log().clone();
    let from = range.from_seq.unwrap_or(1);
    if from == 0 {
        return Err(invalid("from_seq starts at 1"));
    }
    let to = range.to_seq.unwrap_or_else(|| log.last_seq());
    if to < from {
        return Err(invalid("to_seq is before from_seq"));
    }
    let (mut chunks, body) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut send = |chunk| futures::executor::block_on(chunks.send(chunk)).is_ok();
        let mut lines = Vec::with_capacity(CHUNK_BYTES);
        let exported = pacer_store::export_chain(&*log, from, to, &mut |line| {
            lines.extend_from_slice(line);
            lines.len() < CHUNK_BYTES || send(Ok(Bytes::from(std::mem::take(&mut lines))))
        });
        match exported {
            Ok(_) if !lines.is_empty() => {
                send(Ok(lines.into()));
            }
            Ok(_) => {}
            // The answer has begun: cutting it off tells the client it is incomplete.
            Err(error) => {
                tracing::warn!(%error, from, to, "the audit export could not read the log");
                send(Err(std::io::Error::other("the log could not be read")));
            }
        }
    });
    let name = format!("attachment; filename=\"pacer-audit-{from}-{to}.jsonl\"");
    let reply = warp::reply::with_header(warp::reply::stream(body), "content-type", "application/x-ndjson");
    Ok(warp::reply::with_header(reply, "content-disposition", name).into_response())
}

pub(super) fn route(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "audit" / "export")
        .and(warp::get())
        .and(warp::query::<Range>())
        .and(principal(http.clone()))
        .and(with(http))
        .and_then(export)
}
