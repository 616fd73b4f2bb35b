//! HTTPS served by the binary (`server.tls`). With a self-signed certificate: webhooks, GraphQL
//! over HTTPS and over WSS, a refusal of any client that does not trust that certificate or its
//! key, and a silent connection hung up on. With the operator's files: a certificate swapped on disk is served to new
//! connections (after a file change, and at once on SIGHUP) while an open socket keeps
//! working, and a broken pair on disk leaves the served certificate alone.

use crate::support::pacer::{Pacer, trusting};
use crate::support::queued_job;
use crate::support::world::World;
use futures::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type SecureSocket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws socket over TLS to `pacer`, trusting only `pem`, acknowledged.
async fn secure_socket(pacer: &Pacer, pem: &[u8]) -> SecureSocket {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.expect("certificate")).expect("a root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let address = pacer.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(address).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls =
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake");
    let url = format!("wss://{address}/graphql");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.expect("upgrade");
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("init");
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    socket
}

async fn next_json(socket: &mut SecureSocket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Close(close) => panic!("closed: {close:?}"),
            _ => continue,
        }
    }
}

/// Whether a client trusting only `pem` gets `/healthz` from `pacer` (a fresh connection).
async fn trusted_by(pacer: &Pacer, pem: &[u8]) -> bool {
    trusting(pem).get(format!("{}/healthz", pacer.url)).send().await.is_ok_and(|r| r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_pacer_serves_webhooks_graphql_and_subscriptions_over_tls() {
    let mut world = World::new().await;
    world.setup.env.push(("PACER_SERVER_TLS_MODE".into(), "self_signed".into()));
    let certificate = world.setup.data().join("tls/self-signed.crt");
    world.setup.tls_trust = Some(certificate.clone());
    let pacer = world.setup.start().await;
    assert!(pacer.url.starts_with("https://127.0.0.1:"), "{}", pacer.url);
    let logs = pacer.logs();
    assert!(logs.contains("pacer: TLS certificate SHA-256 fingerprint "), "{logs}");
    assert!(logs.contains("pacer: TLS public-key pin sha256//"), "{logs}");
    let pem = std::fs::read(&certificate).expect("the generated certificate is kept");

    // A client that does not trust the certificate gets no answer; plain HTTP gets none either.
    assert!(reqwest::Client::new().get(format!("{}/healthz", pacer.url)).send().await.is_err());
    let plain = pacer.url.replacen("https://", "http://", 1);
    assert!(reqwest::Client::new().get(format!("{plain}/healthz")).send().await.is_err());
    // A stranger who connects and never starts the handshake is hung up on (after 10 s).
    let mut silent =
        tokio::net::TcpStream::connect(pacer.url.trim_start_matches("https://")).await.expect("connect");
    let read = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::AsyncReadExt::read(&mut silent, &mut [0u8; 16]),
    )
    .await
    .expect("the server closes a silent connection");
    assert!(matches!(read, Ok(0) | Err(_)), "closed without a byte: {read:?}");

    let (status, _) = pacer.workflow_job("tls-1", &queued_job(501)).await;
    assert_eq!(status, 200);
    pacer.wait_jobs("starting", 1, Duration::from_secs(60)).await;

    let (_, answer) = crate::auth::gql(&pacer, None, "{ jobs { nodes { githubJobId status } } }").await;
    assert_eq!(answer["data"]["jobs"]["nodes"][0]["githubJobId"], "501", "{answer}");

    let mut socket = secure_socket(&pacer, &pem).await;
    let subscribe = json!({"id": "log", "type": "subscribe", "payload": {
        "query": "subscription { events(afterSeq: 0, actions: [\"job.queued\"]) { seq action } }"
    }});
    socket.send(Message::text(subscribe.to_string())).await.expect("subscribe");
    let first = next_json(&mut socket).await;
    assert_eq!(first["payload"]["data"]["events"]["action"], "job.queued", "{first}");
    pacer.stop();
}

/// A certificate for 127.0.0.1 and its key, written to `dir/NAME.crt|key`; returns the PEM
/// certificate.
fn write_pair(dir: &Path, name: &str) -> Vec<u8> {
    let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    std::fs::write(dir.join(format!("{name}.crt")), pair.cert.pem()).expect("write cert");
    std::fs::write(dir.join(format!("{name}.key")), pair.signing_key.serialize_pem()).expect("write key");
    pair.cert.pem().into_bytes()
}

/// Puts pair `name` where Pacer reads its certificate (key first, then certificate, each
/// replaced by a rename as certificate tools do).
fn install(dir: &Path, name: &str) {
    for part in ["key", "crt"] {
        let staged = dir.join(format!("staged.{part}"));
        std::fs::copy(dir.join(format!("{name}.{part}")), &staged).expect("stage");
        std::fs::rename(&staged, dir.join(format!("served.{part}"))).expect("install");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_swapped_on_disk_is_served_without_a_restart() {
    let mut world = World::new().await;
    let dir = world.setup.dir.join("certs");
    std::fs::create_dir_all(&dir).expect("certs dir");
    let [a, b, c] = ["a", "b", "c"].map(|name| write_pair(&dir, name));
    install(&dir, "a");
    let manual = |check: &str| {
        vec![
            ("PACER_SERVER_TLS_MODE".to_owned(), "manual".to_owned()),
            ("PACER_SERVER_TLS_CERT_FILE".to_owned(), dir.join("served.crt").display().to_string()),
            ("PACER_SERVER_TLS_KEY_FILE".to_owned(), dir.join("served.key").display().to_string()),
            ("PACER_SERVER_TLS_RELOAD_CHECK_SECONDS".to_owned(), check.to_owned()),
        ]
    };
    world.setup.env = manual("1");
    world.setup.tls_trust = Some(dir.join("a.crt"));
    let pacer = world.setup.start().await;
    assert!(trusted_by(&pacer, &a).await);
    assert!(!trusted_by(&pacer, &b).await);
    let mut socket = secure_socket(&pacer, &a).await;

    // A pair that does not fit (b's certificate with a's key) is refused: a is still served.
    std::fs::copy(dir.join("b.crt"), dir.join("served.crt")).expect("half a swap");
    pacer
        .wait_for("the refused pair to be logged", Duration::from_secs(30), || async {
            pacer.logs().contains("the TLS certificate files could not be loaded")
        })
        .await;
    assert!(trusted_by(&pacer, &a).await);

    // The whole swap: new connections get b once the change is seen; the open socket stays.
    install(&dir, "b");
    pacer
        .wait_for("the new certificate to be served", Duration::from_secs(30), || trusted_by(&pacer, &b))
        .await;
    assert!(!trusted_by(&pacer, &a).await, "the old certificate is no longer served");
    socket.send(Message::Ping(b"still there".to_vec().into())).await.expect("ping");
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("pong in time") {
            Some(Ok(Message::Pong(payload))) => {
                assert_eq!(&payload[..], b"still there");
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("the socket opened before the swap was dropped: {other:?}"),
        }
    }
    pacer.stop();

    // Files checked only hourly: SIGHUP reloads at once.
    world.setup.env = manual("3600");
    world.setup.tls_trust = Some(dir.join("b.crt"));
    let pacer = world.setup.start().await;
    install(&dir, "c");
    assert!(trusted_by(&pacer, &b).await, "no reload before the signal");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pacer.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    pacer
        .wait_for("SIGHUP to reload the certificate", Duration::from_secs(30), || trusted_by(&pacer, &c))
        .await;
    pacer.stop();
}
