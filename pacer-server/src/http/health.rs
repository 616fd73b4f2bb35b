//! `/healthz` (the process answers), `/readyz` (state loaded, storage writable) and `/metrics`
//! (Prometheus text).

use super::{Http, with};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub(super) fn routes(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let readyz = warp::path!("readyz").and(warp::get()).and(with(http.clone())).map(|http: Arc<Http>| {
        let (status, body) = if !http.ready.load(Ordering::Acquire) {
            (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({"status": "starting"}))
        } else if let Some(reason) = http.engine.app.failure() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "storage_unavailable", "message": reason}),
            )
        } else {
            (StatusCode::OK, serde_json::json!({"status": "ready", "seq": http.engine.app.state().last_seq}))
        };
        warp::reply::with_status(warp::reply::json(&body), status)
    });
    let metrics = warp::path!("metrics").and(warp::get()).and(with(http)).map(|http: Arc<Http>| {
        let engine = &http.engine;
        engine.metrics.rate_limits(&engine.compute.rate_limits());
        let text = engine.metrics.render(&engine.app.state(), engine.launch_slots(), engine.replication());
        warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4")
    });
    healthz.or(readyz).or(metrics)
}
