//! `/graphql`: POST for queries and mutations (CSRF-guarded, session required except for
//! `authInfo`), the `graphql-transport-ws` WebSocket for subscriptions (Origin checked, session
//! from the cookie or the `connection_init` payload, closed when the session ends), GraphiQL on
//! GET (embedded with the console, see `console.rs`).

use super::client::{csrf, origin_allowed, principal};
use super::{ApiError, Http, with};
use crate::auth::Principal;
use crate::graphql::ErrorCode;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::{Data, Request};
use async_graphql_warp::graphql_protocol;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use warp::http::StatusCode;
use warp::ws::{Message, WebSocket};
use warp::{Filter, Rejection, Reply};

/// Largest GraphQL request body.
const MAX_BODY: u64 = 256 * 1024;

/// Whether a document only asks for what anyone may see (`authInfo`, `__typename`).
fn open_to_anyone(query: &str) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else { return false };
    document.operations.iter().all(|(_, operation)| {
        operation.node.selection_set.node.items.iter().all(|selection| match &selection.node {
            async_graphql::parser::types::Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "authInfo" | "__typename")
            }
            _ => false,
        })
    })
}

fn graphql_error(status: StatusCode, code: ErrorCode, message: &str) -> warp::reply::Response {
    let body = serde_json::json!({"data": null, "errors": [{"message": message, "extensions": {"code": code.as_str()}}]});
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

async fn execute(
    principal: Principal,
    body: bytes::Bytes,
    http: Arc<Http>,
) -> Result<warp::reply::Response, Rejection> {
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return Ok(graphql_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                &format!("not a GraphQL request: {e}"),
            ));
        }
    };
    if !principal.allowed() && !open_to_anyone(&request.query) {
        return Ok(graphql_error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, "sign in first"));
    }
    let response = http.schema.execute(request.data(principal)).await;
    Ok(warp::reply::json(&response).into_response())
}

/// How often an open socket re-checks its session besides when sessions end early (so an
/// expiry closes it within this).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// Serves one GraphQL WebSocket. The session comes from the upgrade's cookie or the
/// `connection_init` payload; the socket is closed with 4401 as soon as that session ends
/// (logout, expiry, a disabled user), and every operation re-checks it first ([`SessionCheck`]).
///
/// [`SessionCheck`]: crate::graphql
async fn serve_socket(
    socket: WebSocket,
    http: Arc<Http>,
    protocol: WebSocketProtocols,
    principal: Principal,
) {
    let (mut sink, stream) = socket.split();
    let input = stream.take_while(|message| std::future::ready(message.is_ok())).filter_map(|message| {
        let message = message.ok().filter(|m| m.is_text() || m.is_binary());
        std::future::ready(message.map(Message::into_bytes))
    });
    let (signed_in, holder) = watch::channel(None::<Principal>);
    let init = http.clone();
    let mut output = async_graphql::http::WebSocket::new(http.schema.clone(), input, protocol)
        .on_connection_init(move |payload| async move {
            let principal = if principal.allowed() {
                principal
            } else {
                let session = payload
                    .get("authorization")
                    .and_then(|v| v.as_str())
                    .and_then(super::client::bearer_token)
                    .unwrap_or_default();
                init.auth.session_principal(&init.engine, session)
            };
            if !principal.allowed() {
                let code = ErrorCode::Unauthenticated.as_str();
                return Err(async_graphql::Error::new(format!("{code}: sign in first")));
            }
            let _ = signed_in.send(Some(principal.clone()));
            let mut data = Data::default();
            data.insert(principal);
            Ok(data)
        });
    let mut ended = http.engine.secrets.sessions_ended();
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    loop {
        tokio::select! {
            message = output.next() => {
                let message = match message {
                    Some(WsMessage::Text(text)) => Message::text(text),
                    Some(WsMessage::Close(code, reason)) => Message::close_with(code, reason),
                    None => return,
                };
                if sink.send(message).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(()) = ended.changed() => {}
            _ = recheck.tick() => {}
        }
        let live = holder.borrow().as_ref().is_none_or(|p| http.auth.still_valid(&http.engine, p));
        if !live {
            let _ = sink.send(Message::close_with(4401u16, "the session ended; sign in again")).await;
            return;
        }
    }
}

pub(super) fn routes(http: Arc<Http>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let post = warp::path!("graphql")
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(csrf(http.clone()))
        .and(principal(http.clone()))
        .and(warp::body::bytes())
        .and(with(http.clone()))
        .and_then(execute);
    let websocket = warp::path!("graphql")
        .and(warp::ws())
        .and(graphql_protocol())
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("host"))
        .and(principal(http.clone()))
        .and(with(http.clone()))
        .and_then(
            |ws: warp::ws::Ws,
             protocol: WebSocketProtocols,
             origin: Option<String>,
             host: Option<String>,
             principal: Principal,
             http: Arc<Http>| async move {
                // Answered here rather than rejected, so no other /graphql route (GraphiQL) takes it.
                if !origin_allowed(&http, origin.as_deref(), host.as_deref()) {
                    return Ok(
                        ApiError::new(StatusCode::FORBIDDEN, "origin", "foreign origin").into_response()
                    );
                }
                let reply = ws.on_upgrade(move |socket| serve_socket(socket, http, protocol, principal));
                let reply = warp::reply::with_header(
                    reply,
                    "Sec-WebSocket-Protocol",
                    protocol.sec_websocket_protocol(),
                );
                Ok::<_, Rejection>(reply.into_response())
            },
        );
    post.or(websocket).or(super::console::graphiql())
}

#[cfg(test)]
mod tests {
    use super::open_to_anyone;

    #[test]
    fn only_auth_info_is_open() {
        assert!(open_to_anyone("{ authInfo { disabled } }"));
        assert!(open_to_anyone("query Q { authInfo { signedIn } __typename }"));
        assert!(!open_to_anyone("{ authInfo { disabled } jobs { totalCount } }"));
        assert!(!open_to_anyone("{ ...F } fragment F on Query { jobs { totalCount } }"));
        assert!(!open_to_anyone("mutation { logout }"));
        assert!(!open_to_anyone("not graphql"));
    }
}
