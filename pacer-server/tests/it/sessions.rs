//! Sessions end when they should, against the real binary: a WebSocket outliving its logout is
//! refused and closed; a user disabled from the console or from `pacer user` loses every session
//! and socket at once and cannot sign in until enabled; one session's subscriptions are capped,
//! end with their client, and take bounded input.

use crate::auth::{ADMIN, Socket, gql, login, next_json, printed_password, websocket};
use crate::support::pacer::{Pacer, Setup};
use crate::support::world::World;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const OPS: &str = "ops@example.test";

/// `pacer user …` on the stopped Pacer of `setup`; (success, stdout).
fn user_cli(setup: &Setup, args: &[&str]) -> (bool, String) {
    let output = setup
        .command()
        .arg("user")
        .arg("--data")
        .arg(setup.data())
        .args(args)
        .output()
        .expect("run pacer user");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A signed-in graphql-transport-ws connection, acknowledged.
async fn connected(pacer: &Pacer, cookie: &str) -> Socket {
    let mut socket = websocket(pacer, &[("cookie", cookie), ("origin", &pacer.url)]).await.expect("upgrade");
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("init");
    assert_eq!(next_json(&mut socket).await.expect("ack")["type"], "connection_ack");
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    let message = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    socket.send(Message::text(message.to_string())).await.expect("subscribe");
}

/// Reads until the server closes the socket; the close code, or `None` if it ended otherwise.
/// Every message before the close is handed to `seen`.
async fn closed(socket: &mut Socket, mut seen: impl FnMut(Value)) -> Option<CloseCode> {
    loop {
        let next =
            tokio::time::timeout(Duration::from_secs(15), socket.next()).await.expect("closed in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(Message::Text(text))) => seen(serde_json::from_str(&text).unwrap_or(Value::Null)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_with_logout_disable_and_their_sockets() {
    let mut world = World::new().await;
    world.setup.auth = format!("  local:\n    email: {ADMIN}\n");
    let pacer = world.setup.start().await;
    let admin_password = printed_password(&pacer.logs()).expect("the bootstrap password");
    pacer.stop();
    let (ok, out) = user_cli(&world.setup, &["add", OPS]);
    assert!(ok, "{out}");
    let ops_password = printed_password(&out).expect("the new user's password is printed once");
    let (ok, out) = user_cli(&world.setup, &["add", OPS]);
    assert!(!ok && out.contains("exists"), "{out}");
    let pacer = world.setup.start().await;

    // After logout, the same open socket answers no query and is closed.
    let (_, _, admin, _) = login(&pacer, ADMIN, &admin_password).await;
    let admin = admin.expect("admin session");
    let mut socket = connected(&pacer, &admin).await;
    subscribe(&mut socket, "me", "{ me { email } }").await;
    assert_eq!(next_json(&mut socket).await.expect("an answer")["payload"]["data"]["me"]["email"], ADMIN);
    let (status, _) = gql(&pacer, Some(&admin), "mutation { logout }").await;
    assert_eq!(status, 200);
    let _ = socket
        .send(Message::text(
            json!({"id": "again", "type": "subscribe", "payload": {"query": "{ me { email } }"}}).to_string(),
        ))
        .await;
    let mut answered = Vec::new();
    let code = closed(&mut socket, |message| answered.push(message)).await;
    assert_eq!(code, Some(CloseCode::from(4401)), "closed as unauthorized");
    for message in &answered {
        let text = message.to_string();
        assert!(!text.contains(ADMIN) || text.contains("UNAUTHENTICATED"), "answered after logout: {text}");
    }

    // An operator disables another user: that user's sockets close and requests fail at once.
    let (_, _, admin, _) = login(&pacer, ADMIN, &admin_password).await;
    let admin = admin.expect("admin session");
    let (status, _, ops, _) = login(&pacer, OPS, &ops_password).await;
    assert_eq!(status, 200);
    let ops = ops.expect("ops session");
    let mut ops_socket = connected(&pacer, &ops).await;
    subscribe(&mut ops_socket, "1", "subscription { events { seq action } }").await;
    let (_, disabled) = gql(
        &pacer,
        Some(&admin),
        &format!("mutation {{ disableUser(email: \"{OPS}\") {{ email disabled }} }}"),
    )
    .await;
    assert_eq!(disabled["data"]["disableUser"], json!({"email": OPS, "disabled": true}), "{disabled}");
    assert_eq!(closed(&mut ops_socket, |_| {}).await, Some(CloseCode::from(4401)));
    let (status, _) = gql(&pacer, Some(&ops), "{ me { email } }").await;
    assert_eq!(status, 401, "the disabled user's session ended");
    let (status, body, cookie, _) = login(&pacer, OPS, &ops_password).await;
    assert_eq!((status, body["error"].as_str(), cookie), (403, Some("disabled"), None));

    // Refusals, each with its code; the list shows who is disabled.
    let code_of = |body: &Value| body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned);
    let (_, body) =
        gql(&pacer, Some(&admin), &format!("mutation {{ disableUser(email: \"{ADMIN}\") {{ email }} }}"))
            .await;
    assert_eq!(code_of(&body).as_deref(), Some("CONFLICT"), "nobody disables themselves: {body}");
    let (_, body) =
        gql(&pacer, Some(&admin), &format!("mutation {{ disableUser(email: \"{OPS}\") {{ email }} }}")).await;
    assert_eq!(code_of(&body).as_deref(), Some("CONFLICT"), "already disabled: {body}");
    let (_, body) =
        gql(&pacer, Some(&admin), "mutation { enableUser(email: \"nobody@example.test\") { email } }").await;
    assert_eq!(code_of(&body).as_deref(), Some("NOT_FOUND"), "{body}");
    let (_, users) = gql(&pacer, Some(&admin), "{ users { email disabled lastLoginAt } }").await;
    let listed: Vec<(String, bool)> = users["data"]["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| (u["email"].as_str().unwrap_or_default().to_owned(), u["disabled"] == true))
        .collect();
    assert_eq!(listed, vec![(ADMIN.to_owned(), false), (OPS.to_owned(), true)]);

    // Enabled again, the user signs in anew.
    let (_, enabled) =
        gql(&pacer, Some(&admin), &format!("mutation {{ enableUser(email: \"{OPS}\") {{ disabled }} }}"))
            .await;
    assert_eq!(enabled["data"]["enableUser"]["disabled"], false, "{enabled}");
    let (status, _, ops, _) = login(&pacer, OPS, &ops_password).await;
    assert_eq!(status, 200);
    let ops = ops.expect("ops session");

    // The same from the command line of a stopped Pacer: at the next start the session is gone.
    let records = pacer.stop();
    let audited: Vec<(String, String)> = records
        .iter()
        .filter(|r| r.event.name().as_str().starts_with("user."))
        .map(|r| (r.event.name().as_str().to_owned(), r.actor.to_string()))
        .collect();
    assert!(audited.contains(&("user.disabled".into(), ADMIN.into())), "{audited:?}");
    assert!(audited.contains(&("user.enabled".into(), ADMIN.into())), "{audited:?}");
    let (ok, out) = user_cli(&world.setup, &["disable", OPS]);
    assert!(ok, "{out}");
    let (ok, out) = user_cli(&world.setup, &["list"]);
    assert!(ok && out.lines().any(|l| l.starts_with(OPS) && l.contains("disabled")), "{out}");
    let pacer = world.setup.start().await;
    let (status, _) = gql(&pacer, Some(&ops), "{ me { email } }").await;
    assert_eq!(status, 401, "disabled while stopped: the session is gone");
    assert_eq!(login(&pacer, OPS, &ops_password).await.0, 403);
    let records = pacer.stop();
    assert!(
        records
            .iter()
            .any(|r| r.event.name().as_str() == "user.disabled" && r.actor.to_string().ends_with("@cli"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_capped_per_session_and_end_with_their_client() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let live = || pacer.metric("pacer_graphql_subscriptions");

    // 32 live subscriptions (the console opens at most two per tab); the 33rd is refused.
    let mut socket = websocket(&pacer, &[("origin", &pacer.url)]).await.expect("upgrade");
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("init");
    assert_eq!(next_json(&mut socket).await.expect("ack")["type"], "connection_ack");
    for i in 0..32 {
        let query = if i % 2 == 0 {
            "subscription { events { seq } }"
        } else {
            "subscription { overviewChanged { running } }"
        };
        subscribe(&mut socket, &i.to_string(), query).await;
    }
    pacer.wait_for("32 live subscriptions", Duration::from_secs(10), || async { live().await == 32.0 }).await;
    subscribe(&mut socket, "over", "subscription { events { seq } }").await;
    let refused = loop {
        let message = next_json(&mut socket).await.expect("an answer");
        if message["id"] == "over" {
            break message;
        }
    };
    assert_eq!(error_code(&refused), Some("TRY_LATER"), "{refused}");

    // Input lists are bounded: more actions than there are event names is refused.
    let actions: Vec<&str> = std::iter::repeat_n("job.queued", 500).collect();
    let query = format!(
        "subscription {{ events(actions: {}) {{ seq }} }}",
        serde_json::to_string(&actions).expect("json")
    );
    subscribe(&mut socket, "long", &query).await;
    let refused = loop {
        let message = next_json(&mut socket).await.expect("an answer");
        if message["id"] == "long" {
            break message;
        }
    };
    assert_eq!(error_code(&refused), Some("INVALID_INPUT"), "{refused}");
    let statuses = vec!["QUEUED"; 200].join(", ");
    let (_, body) =
        gql_open(&pacer, &format!("{{ jobs(filter: {{statuses: [{statuses}]}}) {{ totalCount }} }}")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "filter.statuses", "{body}");

    // Completing one frees its slot; dropping the client ends every task it had.
    socket.send(Message::text(json!({"id": "0", "type": "complete"}).to_string())).await.expect("complete");
    pacer.wait_for("a slot freed", Duration::from_secs(10), || async { live().await == 31.0 }).await;
    drop(socket);
    pacer
        .wait_for("every subscription task ended", Duration::from_secs(10), || async { live().await == 0.0 })
        .await;
    drop(pacer);
}

/// The code of the first error of a graphql-transport-ws message (`error`, or `next` with errors).
fn error_code(message: &Value) -> Option<&str> {
    let errors = if message["type"] == "error" { &message["payload"] } else { &message["payload"]["errors"] };
    errors[0]["extensions"]["code"].as_str()
}

/// A POST to `/graphql` with auth disabled.
async fn gql_open(pacer: &Pacer, query: &str) -> (u16, Value) {
    gql(pacer, None, query).await
}

/// Issue 19: concurrent sign-ins share fsyncs, and every session answered is durable: after a
/// kill -9 each one still opens the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_signed_in_at_once_survive_kill_9() {
    let mut world = World::new().await;
    world.setup.auth = format!("  local:\n    email: {ADMIN}\n");
    // One sign-in per account (an account takes five attempts per window), twelve accounts,
    // all from one address (which takes twenty).
    let mut accounts = Vec::new();
    for i in 0..12 {
        let email = format!("user{i}@example.test");
        let (ok, said) = user_cli(&world.setup, &["add", &email]);
        assert!(ok, "{said}");
        accounts.push((email, printed_password(&said).expect("a password")));
    }
    let pacer = std::sync::Arc::new(world.setup.start().await);
    // Four at once: as many password verifications as Pacer runs at a time.
    let mut sessions = Vec::new();
    for wave in accounts.chunks(4) {
        let sign_ins: Vec<_> = wave
            .iter()
            .cloned()
            .map(|(email, password)| {
                let pacer = pacer.clone();
                tokio::spawn(async move { (login(&pacer, &email, &password).await, email) })
            })
            .collect();
        for sign_in in sign_ins {
            let ((status, body, cookie, _), email) = sign_in.await.expect("join");
            assert_eq!(status, 200, "{email}: {body}");
            sessions.push((email, cookie.expect("a cookie")));
        }
    }
    pacer.kill_9();
    drop(pacer);
    let pacer = world.setup.start().await;
    for (email, cookie) in &sessions {
        let (status, body) = gql(&pacer, Some(cookie), "{ me { email } }").await;
        assert_eq!((status, body["data"]["me"]["email"].as_str()), (200, Some(email.as_str())), "{body}");
    }
    pacer.stop();
}
