//! Fault-injecting peers: a proxy in front of moto that hangs chosen EC2 calls, as an EC2 whose
//! answer never comes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use warp::Filter;
use warp::http::{Method, Response};

/// Forwards every request to its target, except the first `times` calls of the chosen EC2
/// actions (dry runs aside), which it holds forever (the caller's timeout is the only way out).
pub struct HangingProxy {
    /// The proxy's URL, to use in place of the target's.
    pub url: String,
    hung: Arc<AtomicUsize>,
}

impl HangingProxy {
    pub async fn start(target: &str, actions: &'static [&'static str], times: usize) -> HangingProxy {
        let target = target.trim_end_matches('/').to_owned();
        let hung = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::new();
        let counter = hung.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .and_then(
                move |method: Method,
                      path: warp::path::FullPath,
                      headers: warp::http::HeaderMap,
                      body: bytes::Bytes| {
                    let (client, target, counter) = (client.clone(), target.clone(), counter.clone());
                    async move {
                        let text = String::from_utf8_lossy(&body);
                        let chosen = actions.iter().any(|a| text.contains(&format!("Action={a}&")))
                            && !text.contains("DryRun=true");
                        if chosen && counter.fetch_add(1, Ordering::SeqCst) < times {
                            std::future::pending::<()>().await;
                        }
                        let mut request =
                            client.request(method, format!("{target}{}", path.as_str())).body(body);
                        for (name, value) in &headers {
                            if name != "host" && name != "content-length" {
                                request = request.header(name, value);
                            }
                        }
                        let answer = request.send().await.map_err(|_| warp::reject())?;
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
        HangingProxy { url: format!("http://{addr}"), hung }
    }

    /// Calls of the chosen actions seen so far (held or forwarded; dry runs aside).
    pub fn chosen_calls(&self) -> usize {
        self.hung.load(Ordering::SeqCst)
    }
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
