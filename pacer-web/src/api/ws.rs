//! GraphQL subscriptions over WebSocket with the `graphql-transport-ws` protocol: one socket per
//! subscription, `connection_init` → `connection_ack` → `subscribe`, answering `ping` with
//! `pong`. The loop reconnects with a capped backoff for as long as the task running it lives
//! (Dioxus drops it with its component), so pages resubscribe by themselves after a server
//! restart or a `RESYNC`.

use super::ApiError;
use cynic::StreamingOperation;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The state of a live subscription, for the "live" indicator and the polling fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LiveState {
    /// Opening the socket or waiting for the server's acknowledgement.
    Connecting,
    /// Subscribed: changes arrive as they happen.
    Live,
    /// Disconnected; retrying soon.
    Down,
}

impl LiveState {
    /// A word for the indicator.
    pub(crate) fn label(self) -> &'static str {
        match self {
            LiveState::Connecting => "connecting",
            LiveState::Live => "live",
            LiveState::Down => "offline",
        }
    }
}

/// The messages a client sends, as JSON text.
pub(crate) fn init_message() -> String {
    json!({ "type": "connection_init", "payload": {} }).to_string()
}

/// The `subscribe` message for operation id `id` (`payload` is the serialized operation:
/// query, variables and operation name).
pub(crate) fn subscribe_message(id: &str, payload: &Value) -> String {
    json!({ "id": id, "type": "subscribe", "payload": payload }).to_string()
}

/// What a server message means to the client.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// The server accepted the connection.
    Ack,
    /// The server pings; answer with this text.
    Ping(String),
    /// One result of the subscription (`data`).
    Next(Value),
    /// The subscription failed (GraphQL errors, e.g. `RESYNC` or `UNAUTHENTICATED`).
    Error(ApiError),
    /// The server ended the subscription.
    Complete,
    /// Anything else (pong, unknown types, other ids).
    Ignore,
}

/// Interprets one server text frame.
pub(crate) fn parse_incoming(text: &str) -> Incoming {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return Incoming::Ignore;
    };
    let payload = message.get("payload");
    match message.get("type").and_then(Value::as_str) {
        Some("connection_ack") => Incoming::Ack,
        Some("ping") => Incoming::Ping(json!({ "type": "pong" }).to_string()),
        Some("next") => {
            let errors = payload.and_then(|p| p.get("errors")).and_then(Value::as_array);
            let data = payload.and_then(|p| p.get("data")).cloned().unwrap_or(Value::Null);
            match errors {
                Some(errors) if !errors.is_empty() && data.is_null() => {
                    Incoming::Error(super::decode_errors(errors))
                }
                _ => Incoming::Next(data),
            }
        }
        Some("error") => {
            let errors = payload.and_then(Value::as_array).cloned().unwrap_or_default();
            Incoming::Error(super::decode_errors(&errors))
        }
        Some("complete") => Incoming::Complete,
        _ => Incoming::Ignore,
    }
}

/// One WebSocket carrying text frames.
pub(crate) trait Socket {
    /// Sends a text frame; false once the socket is gone.
    async fn send(&mut self, text: String) -> bool;
    /// The next text frame; `None` once the socket is closed.
    async fn recv(&mut self) -> Option<String>;
}

/// How one connection ended.
#[derive(Debug, PartialEq)]
pub(crate) enum SessionEnd {
    /// It was subscribed, then closed or fell behind (`RESYNC`): resubscribe at once.
    WasLive,
    /// It never got subscribed, or the server refused the session.
    Failed(Option<ApiError>),
}

/// Speaks the protocol over one socket: init, wait for the ack, subscribe to `operation` as
/// operation `1`, then hand every result's `data` to `on_data` until the socket closes or the
/// server errors.
pub(crate) async fn run_session<S: Socket>(
    socket: &mut S,
    operation: &Value,
    on_data: &mut dyn FnMut(Value),
    on_state: &mut dyn FnMut(LiveState),
) -> SessionEnd {
    if !socket.send(init_message()).await {
        return SessionEnd::Failed(None);
    }
    let mut live = false;
    while let Some(text) = socket.recv().await {
        match parse_incoming(&text) {
            Incoming::Ack if !live => {
                if !socket.send(subscribe_message("1", operation)).await {
                    break;
                }
                live = true;
                on_state(LiveState::Live);
            }
            Incoming::Ping(pong) => {
                if !socket.send(pong).await {
                    break;
                }
            }
            Incoming::Next(data) => on_data(data),
            Incoming::Error(error) => {
                return if live && error.kind != super::ErrorKind::Unauthenticated {
                    SessionEnd::WasLive
                } else {
                    SessionEnd::Failed(Some(error))
                };
            }
            Incoming::Complete => break,
            Incoming::Ack | Incoming::Ignore => {}
        }
    }
    if live { SessionEnd::WasLive } else { SessionEnd::Failed(None) }
}

/// Runs a subscription (see [`super::ops`]) for as long as the calling task lives. Each
/// result's `data` decoded as `T` goes to `on_item`; every state change goes to `on_state`
/// (pages refetch on each `Live`, which closes any gap since their last query).
pub(crate) async fn subscribe<T: DeserializeOwned, V: Serialize>(
    operation: StreamingOperation<T, V>,
    mut on_item: impl FnMut(T),
    mut on_state: impl FnMut(LiveState),
) {
    let Ok(operation) = serde_json::to_value(&operation) else {
        on_state(LiveState::Down);
        return;
    };
    let mut backoff_ms: u32 = 1_000;
    loop {
        on_state(LiveState::Connecting);
        let outcome = match imp::open() {
            Some(mut socket) => {
                let mut on_data = |data: Value| {
                    if let Ok(item) = serde_json::from_value::<T>(data) {
                        on_item(item);
                    }
                };
                run_session(&mut socket, &operation, &mut on_data, &mut on_state).await
            }
            None => SessionEnd::Failed(None),
        };
        match outcome {
            SessionEnd::WasLive => backoff_ms = 1_000,
            SessionEnd::Failed(Some(error)) if error.kind == super::ErrorKind::Unauthenticated => {
                *super::SESSION_LOST.write() = true;
            }
            SessionEnd::Failed(_) => {}
        }
        on_state(LiveState::Down);
        super::sleep_ms(backoff_ms).await;
        backoff_ms = (backoff_ms * 2).min(10_000);
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Socket;
    use futures_util::{SinkExt, StreamExt};
    use gloo_net::websocket::{Message, futures::WebSocket};

    /// The browser's WebSocket.
    pub(super) struct BrowserSocket(WebSocket);

    impl Socket for BrowserSocket {
        async fn send(&mut self, text: String) -> bool {
            self.0.send(Message::Text(text)).await.is_ok()
        }

        async fn recv(&mut self) -> Option<String> {
            loop {
                match self.0.next().await? {
                    Ok(Message::Text(text)) => return Some(text),
                    Ok(Message::Bytes(_)) => {}
                    Err(_) => return None,
                }
            }
        }
    }

    /// Opens `/graphql` on this origin with the `graphql-transport-ws` subprotocol.
    pub(super) fn open() -> Option<BrowserSocket> {
        let url = crate::api::transport::ws_url("/graphql");
        WebSocket::open_with_protocol(&url, "graphql-transport-ws").ok().map(BrowserSocket)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Socket;

    /// No socket exists off the browser.
    pub(super) enum NoSocket {}

    impl Socket for NoSocket {
        async fn send(&mut self, _text: String) -> bool {
            match *self {}
        }

        async fn recv(&mut self) -> Option<String> {
            match *self {}
        }
    }

    /// Subscriptions need a browser: on the host there is nothing to open.
    pub(super) fn open() -> Option<NoSocket> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorKind;

    #[test]
    fn speaks_graphql_transport_ws() {
        let init: Value = serde_json::from_str(&init_message()).expect("json");
        assert_eq!(init, json!({"type": "connection_init", "payload": {}}));
        let operation = serde_json::to_value(crate::api::ops::jobs::job_detail_changed("12")).expect("json");
        let sub: Value = serde_json::from_str(&subscribe_message("1", &operation)).expect("json");
        assert_eq!(sub["type"], "subscribe");
        assert_eq!(sub["id"], "1");
        assert_eq!(sub["payload"]["variables"]["id"], "12");
        assert!(sub["payload"]["query"].as_str().is_some_and(|q| q.starts_with("subscription")));
        assert_eq!(parse_incoming(r#"{"type":"connection_ack"}"#), Incoming::Ack);
        assert_eq!(parse_incoming(r#"{"type":"ping"}"#), Incoming::Ping(r#"{"type":"pong"}"#.into()));
        assert_eq!(parse_incoming(r#"{"type":"pong"}"#), Incoming::Ignore);
        assert_eq!(parse_incoming("not json"), Incoming::Ignore);
        assert_eq!(
            parse_incoming(r#"{"id":"1","type":"next","payload":{"data":{"n":2}}}"#),
            Incoming::Next(json!({"n": 2}))
        );
        assert_eq!(parse_incoming(r#"{"id":"1","type":"complete"}"#), Incoming::Complete);
    }

    /// A scripted server: answers frames from a list and records what the client sent.
    struct Scripted {
        incoming: std::collections::VecDeque<String>,
        sent: Vec<String>,
    }

    impl Socket for Scripted {
        async fn send(&mut self, text: String) -> bool {
            self.sent.push(text);
            true
        }

        async fn recv(&mut self) -> Option<String> {
            self.incoming.pop_front()
        }
    }

    /// Drives a future whose awaits are all ready (the scripted socket never waits).
    fn ready<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    fn session(frames: &[&str]) -> (SessionEnd, Vec<Value>, Vec<LiveState>, Vec<String>) {
        let mut socket =
            Scripted { incoming: frames.iter().map(|f| (*f).to_owned()).collect(), sent: vec![] };
        let (mut data, mut states) = (Vec::new(), Vec::new());
        let end = ready(run_session(
            &mut socket,
            &json!({ "query": "subscription { jobChanged { id } }", "variables": {} }),
            &mut |d| data.push(d),
            &mut |s| states.push(s),
        ));
        let types = socket
            .sent
            .iter()
            .map(|t| {
                serde_json::from_str::<Value>(t).expect("json")["type"].as_str().unwrap_or("").to_owned()
            })
            .collect();
        (end, data, states, types)
    }

    #[test]
    fn a_session_inits_subscribes_answers_pings_and_delivers() {
        let (end, data, states, sent) = session(&[
            r#"{"type":"connection_ack"}"#,
            r#"{"type":"ping"}"#,
            r#"{"id":"1","type":"next","payload":{"data":{"jobChanged":{"id":"1"}}}}"#,
            r#"{"id":"1","type":"next","payload":{"data":{"jobChanged":{"id":"2"}}}}"#,
            r#"{"id":"1","type":"complete"}"#,
        ]);
        assert_eq!(end, SessionEnd::WasLive);
        assert_eq!(sent, ["connection_init", "subscribe", "pong"]);
        assert_eq!(states, [LiveState::Live]);
        assert_eq!(data.len(), 2);
        assert_eq!(data[1]["jobChanged"]["id"], "2");
    }

    #[test]
    fn a_session_that_never_gets_acked_fails() {
        let (end, data, states, sent) = session(&[]);
        assert_eq!(end, SessionEnd::Failed(None));
        assert!(data.is_empty() && states.is_empty());
        assert_eq!(sent, ["connection_init"]);
        let (end, ..) = session(&[
            r#"{"type":"connection_ack"}"#,
            r#"{"id":"1","type":"error","payload":[{"message":"sign in","extensions":{"code":"UNAUTHENTICATED"}}]}"#,
        ]);
        assert!(matches!(end, SessionEnd::Failed(Some(ApiError { kind: ErrorKind::Unauthenticated, .. }))));
        let (end, ..) = session(&[
            r#"{"type":"connection_ack"}"#,
            r#"{"id":"1","type":"next","payload":{"data":null,"errors":[{"message":"behind","extensions":{"code":"RESYNC"}}]}}"#,
        ]);
        assert_eq!(end, SessionEnd::WasLive);
    }

    #[test]
    fn subscription_errors_keep_their_code() {
        let resync = parse_incoming(
            r#"{"id":"1","type":"next","payload":{"data":null,"errors":[{"message":"fell behind","extensions":{"code":"RESYNC"}}]}}"#,
        );
        assert!(matches!(resync, Incoming::Error(ApiError { kind: ErrorKind::Resync, .. })));
        let unauth = parse_incoming(
            r#"{"id":"1","type":"error","payload":[{"message":"sign in","extensions":{"code":"UNAUTHENTICATED"}}]}"#,
        );
        assert!(matches!(unauth, Incoming::Error(ApiError { kind: ErrorKind::Unauthenticated, .. })));
    }
}
