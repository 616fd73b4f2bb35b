//! Strangers holding connections, against the real binary: a flood of connections that never
//! send a byte cannot take more than `server.max_connections` (the rest wait in the backlog,
//! costing Pacer nothing), and each is cut off after `server.header_timeout_seconds`, as is a
//! client that trickles its headers (slowloris); then Pacer answers again.

use crate::support::world::World;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits (up to 20 s) for the server to close `stream`: its read ends or fails.
async fn closed_by_server(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for 20 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_are_capped_and_cut_off_and_pacer_answers_again() {
    let mut world = World::bare().await;
    world.setup.env.extend([
        ("PACER_SERVER_MAX_CONNECTIONS".to_owned(), "16".to_owned()),
        ("PACER_SERVER_HEADER_TIMEOUT_SECONDS".to_owned(), "2".to_owned()),
    ]);
    let pacer = world.setup.start().await;
    let addr = pacer.url.trim_start_matches("http://").to_owned();
    let healthz = format!("{}/healthz", pacer.url);
    // A new connection per request: none kept alive between them.
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(1_500))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    assert!(quick.get(&healthz).send().await.is_ok_and(|r| r.status().is_success()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Sixteen silent connections take every slot: a request finds no one to answer it.
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(quick.get(&healthz).send().await.is_err(), "a seventeenth connection was served");

    // Each silent one is cut off after the header timeout; then Pacer answers again.
    for stream in &mut silent {
        closed_by_server(stream).await;
    }
    let answered = quick.get(&healthz).send().await.expect("served once the slots are free");
    assert!(answered.status().is_success());

    // A client trickling its headers a byte at a time is cut off too, well before it is done.
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let trickle = async {
        for byte in request {
            if slow.write_all(&[*byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    };
    // The whole request would take 12 s; the server gives it 2.
    let finished = tokio::time::timeout(Duration::from_secs(20), trickle).await.unwrap_or(true);
    let mut rest = Vec::new();
    let answer = slow.read_to_end(&mut rest).await.map(|_| rest).unwrap_or_default();
    assert!(
        !finished || !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "a trickled request was served: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(quick.get(&healthz).send().await.is_ok_and(|r| r.status().is_success()));
}
