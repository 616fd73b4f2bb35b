//! Serving the routes on a bound listener, over plain TCP or TLS: one task per connection
//! (HTTP/1.1 with upgrades for the GraphQL socket, or HTTP/2 when TLS negotiates it), the peer
//! address handed to the routes as a request extension, and a graceful end that stops
//! accepting and lets open requests finish.
//!
//! Strangers cannot hold the server: at most `ConnectionLimits::max_connections` connections
//! are open at once (beyond that, new ones wait in the kernel's backlog until one closes); a TLS
//! handshake gets [`HANDSHAKE_TIMEOUT`]; and an HTTP/1 client must send a request's headers
//! within `ConnectionLimits::header_timeout`, also the longest an idle keep-alive connection
//! stays open between requests (a socket upgraded for GraphQL is past its headers).

use super::client::Peer;
use super::{ConnectionLimits, Http};
use crate::tls::Tls;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower_service::Service;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the routes on `listener` (over TLS when `tls` is given) within `limits` until `stop`
/// resolves, then waits for the requests in progress.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    http: Arc<Http>,
    tls: Option<Arc<Tls>>,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let service = warp::service(super::routes(http));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config.clone()));
    let mut stop = std::pin::pin!(stop);
    loop {
        // A slot first: at the cap, connections wait in the backlog, not in memory.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
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
            let _slot = slot;
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let speaks_within = limits.header_timeout;
            let served = match acceptor {
                None => {
                    let stream = SpeaksWithin::new(stream, speaks_within);
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), handler);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let stream = SpeaksWithin::new(stream, speaks_within);
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

/// A connection that must send its first byte within a deadline: the server works out the
/// protocol from the first bytes (before HTTP/1's header timeout starts), so a client that
/// connects and stays silent would otherwise hold its slot for ever.
struct SpeaksWithin<S> {
    inner: S,
    /// Until the first byte arrives.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> SpeaksWithin<S> {
    fn new(inner: S, within: Duration) -> Self {
        Self { inner, deadline: Some(Box::pin(tokio::time::sleep(within))) }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SpeaksWithin<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.deadline = None,
            Poll::Pending => {
                if let Some(deadline) = self.deadline.as_mut()
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request in time")));
                }
            }
            Poll::Ready(_) => {}
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SpeaksWithin<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
