//! `/graphql`: POST for queries and mutations (CSRF-guarded, session required except for
//! `authInfo`), the `graphql-transport-ws` WebSocket for subscriptions (Origin checked, session
//! from the cookie or the `connection_init` payload), GraphiQL on GET.

use super::client::{csrf, origin_allowed, principal};
use super::{ApiError, Http, with};
use crate::auth::Principal;
use crate::graphql::ErrorCode;
use async_graphql::http::{GraphiQLSource, WebSocketProtocols};
use async_graphql::{Data, Request};
use async_graphql_warp::{GraphQLWebSocket, graphql_protocol};
use std::sync::Arc;
use warp::http::StatusCode;
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
                let schema = http.schema.clone();
                let reply = ws.on_upgrade(move |socket| {
                    GraphQLWebSocket::new(socket, schema, protocol)
                        .on_connection_init(move |payload| async move {
                            let principal = if principal.allowed() {
                                principal
                            } else {
                                let session = payload
                                    .get("authorization")
                                    .and_then(|v| v.as_str())
                                    .and_then(super::client::bearer_token)
                                    .unwrap_or_default();
                                http.auth.session_principal(&http.engine, session)
                            };
                            if !principal.allowed() {
                                let code = ErrorCode::Unauthenticated.as_str();
                                return Err(async_graphql::Error::new(format!("{code}: sign in first")));
                            }
                            let mut data = Data::default();
                            data.insert(principal);
                            Ok(data)
                        })
                        .serve()
                });
                let reply = warp::reply::with_header(
                    reply,
                    "Sec-WebSocket-Protocol",
                    protocol.sec_websocket_protocol(),
                );
                Ok::<_, Rejection>(reply.into_response())
            },
        );
    let graphiql = warp::path!("graphql").and(warp::get()).map(|| {
        warp::reply::html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .title("Pacer GraphQL")
                .finish(),
        )
    });
    post.or(websocket).or(graphiql)
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
