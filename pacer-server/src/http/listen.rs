//! Serving the routes on a bound listener, over plain TCP or TLS: one task per connection
//! (HTTP/1.1 with upgrades for the GraphQL socket, or HTTP/2 when TLS negotiates it), the peer
//! address handed to the routes as a request extension, and a graceful end that stops
//! accepting and lets open requests finish. A TLS handshake gets [`HANDSHAKE_TIMEOUT`]: a
//! client that connects and says nothing holds a socket for that long, not forever.

use super::Http;
use super::client::Peer;
use crate::tls::Tls;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower_service::Service;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the routes on `listener` (over TLS when `tls` is given) until `stop` resolves, then
/// waits for the requests in progress.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    http: Arc<Http>,
    tls: Option<Arc<Tls>>,
    stop: impl Future<Output = ()>,
) {
    let service = warp::service(super::routes(http));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config.clone()));
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(problem) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%problem, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let handler =
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(Peer(peer));
                service.clone().call(request)
            });
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let served = match acceptor {
                None => {
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), handler);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection =
                                builder.serve_connection_with_upgrades(TokioIo::new(stream), handler);
                            watcher.watch(connection.into_owned()).await
                        }
                        Ok(Err(problem)) => {
                            tracing::debug!(%peer, %problem, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(problem) = served {
                tracing::debug!(%peer, %problem, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
