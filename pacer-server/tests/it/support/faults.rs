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
