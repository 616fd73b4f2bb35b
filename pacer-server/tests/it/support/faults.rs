//! Fault-injecting peers: proxies in front of moto that hang chosen EC2 calls (an EC2 whose
//! answer never comes), throttle them (`RequestLimitExceeded`) or refuse a permission's dry
//! runs (an IAM policy without it), and a small disk to fill.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use warp::Filter;
use warp::http::{Method, Response};

/// What a proxy does with one request (its body in hand).
enum Decision {
    /// Pass it on.
    Forward,
    /// Never answer.
    Hang,
    /// Pass it on, then never pass the answer back (the call took effect; the caller never
    /// learns it).
    Swallow,
    /// Answer this instead (status, body).
    Answer(u16, String),
    /// Hold it until the gate opens, then pass it on.
    Gated(tokio::sync::watch::Receiver<bool>),
}

/// A proxy in front of `target` that lets `decide` look at each request body first; the URL to
/// use in place of the target's.
async fn proxy(target: &str, decide: impl Fn(&str) -> Decision + Clone + Send + Sync + 'static) -> String {
    let target = target.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let route = warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .and_then(
            move |method: Method,
                  path: warp::path::FullPath,
                  headers: warp::http::HeaderMap,
                  body: bytes::Bytes| {
                let (client, target, decide) = (client.clone(), target.clone(), decide.clone());
                async move {
                    let decision = decide(&String::from_utf8_lossy(&body));
                    match &decision {
                        Decision::Forward | Decision::Swallow => {}
                        Decision::Gated(gate) => {
                            let _ = gate.clone().wait_for(|open| *open).await;
                        }
                        Decision::Hang => std::future::pending::<()>().await,
                        Decision::Answer(status, text) => {
                            return Response::builder()
                                .status(*status)
                                .header("content-type", "text/xml")
                                .body(text.clone().into_bytes())
                                .map_err(|_| warp::reject());
                        }
                    }
                    let mut request = client.request(method, format!("{target}{}", path.as_str())).body(body);
                    for (name, value) in &headers {
                        if name != "host" && name != "content-length" {
                            request = request.header(name, value);
                        }
                    }
                    let answer = request.send().await.map_err(|_| warp::reject())?;
                    if matches!(decision, Decision::Swallow) {
                        std::future::pending::<()>().await;
                    }
                    let mut response = Response::builder().status(answer.status());
                    for (name, value) in answer.headers() {
                        if name != "content-length" && name != "transfer-encoding" {
                            response = response.header(name, value);
                        }
                    }
                    let bytes = answer.bytes().await.map_err(|_| warp::reject())?;
                    response.body(bytes.to_vec()).map_err(|_| warp::reject())
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(warp::serve(route).incoming(listener).run());
    format!("http://{addr}")
}

/// Forwards every request to its target, except the first `times` calls of the chosen EC2
/// actions (dry runs aside), which it holds forever (the caller's timeout is the only way out);
/// or, [`HangingProxy::swallowing`], passes on and then holds their answers.
pub struct HangingProxy {
    /// The proxy's URL, to use in place of the target's.
    pub url: String,
    hung: Arc<AtomicUsize>,
    gate: Option<tokio::sync::watch::Sender<bool>>,
}

impl HangingProxy {
    pub async fn start(target: &str, actions: &'static [&'static str], times: usize) -> HangingProxy {
        Self::with(target, actions, move |n, _| if n < times { Decision::Hang } else { Decision::Forward })
            .await
    }

    /// Holds the first chosen call until [`HangingProxy::release_first`], then passes it on;
    /// passes the later chosen calls whose body holds `marker` on and holds their answers; holds
    /// every other chosen call unanswered.
    pub async fn swallowing(
        target: &str,
        actions: &'static [&'static str],
        marker: &'static str,
    ) -> HangingProxy {
        let (gate, opened) = tokio::sync::watch::channel(false);
        let mut proxy = Self::with(target, actions, move |n, body| match n {
            0 => Decision::Gated(opened.clone()),
            _ if body.contains(marker) => Decision::Swallow,
            _ => Decision::Hang,
        })
        .await;
        proxy.gate = Some(gate);
        proxy
    }

    /// Lets the first chosen call of a [`HangingProxy::swallowing`] proxy through.
    pub fn release_first(&self) {
        if let Some(gate) = &self.gate {
            gate.send_replace(true);
        }
    }

    /// `decide` gets the count of chosen calls before this one and its body.
    async fn with(
        target: &str,
        actions: &'static [&'static str],
        decide: impl Fn(usize, &str) -> Decision + Clone + Send + Sync + 'static,
    ) -> HangingProxy {
        let hung = Arc::new(AtomicUsize::new(0));
        let counter = hung.clone();
        let url = proxy(target, move |body| {
            let chosen = actions.iter().any(|a| body.contains(&format!("Action={a}&")))
                && !body.contains("DryRun=true");
            if chosen { decide(counter.fetch_add(1, Ordering::SeqCst), body) } else { Decision::Forward }
        })
        .await;
        HangingProxy { url, hung, gate: None }
    }

    /// Calls of the chosen actions seen so far (held or forwarded; dry runs aside).
    pub fn chosen_calls(&self) -> usize {
        self.hung.load(Ordering::SeqCst)
    }
}

/// Forwards every request to its target, except the first `times` calls of the chosen EC2
/// actions (dry runs aside), which it answers 503 `RequestLimitExceeded`, as a throttling EC2.
pub struct ThrottlingProxy {
    /// The proxy's URL, to use in place of the target's.
    pub url: String,
    calls: Arc<AtomicUsize>,
}

impl ThrottlingProxy {
    pub async fn start(target: &str, actions: &'static [&'static str], times: usize) -> ThrottlingProxy {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let url = proxy(target, move |body| {
            let chosen = actions.iter().any(|a| body.contains(&format!("Action={a}&")))
                && !body.contains("DryRun=true");
            if chosen && counter.fetch_add(1, Ordering::SeqCst) < times {
                let error = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>throttled</RequestID></Response>";
                Decision::Answer(503, error.to_owned())
            } else {
                Decision::Forward
            }
        })
        .await;
        ThrottlingProxy { url, calls }
    }

    /// Calls of the chosen actions seen so far (throttled or forwarded; dry runs aside).
    pub fn chosen_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// An EC2 in front of `target` (moto) whose IAM policy lacks `action`: its dry runs answer
/// `UnauthorizedOperation`, as EC2 does; the URL to use in place of the target's.
pub async fn ec2_without(target: &str, action: &'static str) -> String {
    proxy(target, move |body| {
        if body.contains(&format!("Action={action}&")) && body.contains("DryRun=true") {
            let error = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/pacer is not authorized to perform: ec2:{action}</Message></Error></Errors><RequestID>denied</RequestID></Response>"
            );
            Decision::Answer(403, error)
        } else {
            Decision::Forward
        }
    })
    .await
}

/// A small filesystem (tmpfs) mounted over a directory, that a test fills and frees: the
/// test command runs as root, which mounting needs. Unmounted when dropped.
pub struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (e.g. `16m`) at `dir`, created when missing.
    pub fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs at {} failed (the tests run as root)", dir.display());
        SmallDisk { dir: dir.to_path_buf() }
    }

    fn ballast(&self) -> std::path::PathBuf {
        self.dir.join("ballast")
    }

    /// Writes a ballast file until the filesystem has no space left.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.ballast()).expect("ballast");
        let chunk = vec![0u8; 64 << 10];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
    }

    /// Deletes the ballast.
    pub fn free(&self) {
        std::fs::remove_file(self.ballast()).expect("remove the ballast");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
