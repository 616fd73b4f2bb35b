//! Test peers: a child process serving HTTP on a free loopback port, killed when dropped, and
//! the Python virtualenv the peers run from (`scripts/install-python-peers.sh`; when it is
//! missing the test fails and says so). pacer-store's tests start moto's DynamoDB and S3 with
//! it; pacer-aws's tests (and pacer-server's, through them) include this file by path for
//! moto's EC2 and the pricing stub.

// Each test crate that includes this file uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where `scripts/install-python-peers.sh` installs the peers.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("PACER_PEERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/pacer/peers"),
    }
}

/// The peers' Python interpreter.
pub fn python() -> PathBuf {
    let python = peers_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "the Python test peers are not installed ({} is missing): run scripts/install-python-peers.sh",
        python.display()
    );
    python
}

/// A loopback port nobody listens on, never handed out twice in this test process (so two
/// tests cannot race for the same port between this probe and the peer's own bind).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

/// Whether an HTTP server answers on `addr`. A bare TCP connect is not proof: on Linux a
/// connect to an unbound loopback port in the ephemeral range can connect to itself (TCP
/// simultaneous open), which would echo our own bytes back instead of an HTTP status line.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    if stream.local_addr().ok() == stream.peer_addr().ok() {
        return false;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// A child process serving HTTP on a loopback port, killed on drop.
pub struct Peer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
}

impl Peer {
    /// Starts `command` (which serves on `port`) with its output in `dir/<name>.log`, and waits
    /// until it answers HTTP.
    pub fn start(dir: &Path, name: &str, mut command: Command, port: u16) -> Peer {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create peer log");
        let err = out.try_clone().expect("clone peer log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        let mut peer = Peer { child, url: format!("http://127.0.0.1:{port}"), log };
        peer.wait_ready(name, port);
        peer
    }

    fn wait_ready(&mut self, name: &str, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited with {status} before listening:\n{}", self.log_text());
            }
            if answers_http(addr) {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("{name} exited with {status} (port {port} taken?):\n{}", self.log_text());
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {port} within 60 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What the peer printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the peer now (the next calls to it fail to connect).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}
