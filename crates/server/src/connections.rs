//! Accepting connections, and closing the ones that only take up room.
//!
//! Every open socket costs a file descriptor. With nothing to close idle ones, about
//! 20,000 sockets that never send a byte used to reach the open-files limit, and from
//! then on the server could accept nothing, `/healthz` included. So, per connection:
//!
//! - **At most `max_connections` open at once** (`--max-connections`, default 4,096: the
//!   documented 1,000 live WebSocket clients and room to spare). Each connection holds a
//!   permit for as long as its socket lives, WebSocket or not; one arriving when none is
//!   left gets a 503 written straight onto the socket (if the socket takes it) and is
//!   closed at once, instead of waiting unanswered in the kernel's backlog.
//! - **A header-read timeout** (`--header-timeout`, default 10 s): a request's head must
//!   arrive in full within it, counted from when the connection opens or its previous
//!   response ends. A socket that sends nothing, sends a head a byte at a time, or sits
//!   idle between keep-alive requests is closed when it runs out (hyper's
//!   `header_read_timeout`).
//! - **An idle timeout** (`--idle-timeout`, default 60 s): a connection on which no byte
//!   moves either way for that long is closed, even in the middle of a response (a client
//!   that stopped reading a long history, a peer that vanished). It is longer than the
//!   30 s a command may wait for the engine's answer.
//!
//! A WebSocket is an HTTP request only until its upgrade: after that neither timeout
//! applies (telemetry keeps it busy, and the WebSocket closes a client that cannot take a
//! frame in 10 s), but it keeps its permit until it closes.

use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::metrics::Metrics;

/// How many connections, and how long idle ones are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Connections open at once, WebSockets included.
    pub max_connections: usize,
    /// Time to receive a request's head, from the connection's opening or the end of
    /// the previous response.
    pub header_timeout: Duration,
    /// Time a connection may pass with no byte moving either way.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_connections: 4_096, header_timeout: Duration::from_secs(10), idle_timeout: Duration::from_secs(60) }
    }
}

/// What a connection past the cap reads before it is closed.
const TOO_MANY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 45\r\nconnection: close\r\n\r\ntoo many connections open; retry in a second\n";

/// Accepts on `listener` and serves `app` on each connection until `cancel`; then asks
/// every connection to finish its request in flight and waits for them.
pub async fn accept(listener: TcpListener, app: Router, limits: Limits, metrics: &Metrics, cancel: CancellationToken) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors (or memory): the cap should keep us short of
                // it, but if not, pause rather than spin, and keep serving who is in.
                warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics.connections_refused.inc();
            let _ = stream.try_write(TOO_MANY);
            continue; // dropped: closed
        };
        let _ = stream.set_nodelay(true); // telemetry frames go out as they are written
        let io = Tracked::new(stream, Slot::new(permit, metrics.connections.clone()));
        tracker.spawn(connection(io, peer, app.clone(), limits, cancel.clone()));
    }
    tracker.close();
    tracker.wait().await;
}

/// Serves HTTP/1.1 on one connection, WebSocket upgrades included, until it closes, runs
/// out of a timeout, or `cancel` asks it to finish.
async fn connection(io: Tracked, peer: SocketAddr, app: Router, limits: Limits, cancel: CancellationToken) {
    let activity = Arc::clone(&io.activity);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // Who sent it reaches the handlers (the audit log names the peer).
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let mut conn = pin!(http.serve_connection(TokioIo::new(io), service).with_upgrades());
    let mut finishing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(%peer, "connection closed: {e}");
                }
                return;
            }
            _ = cancel.cancelled(), if !finishing => {
                conn.as_mut().graceful_shutdown();
                finishing = true;
            }
            () = activity.quiet_for(limits.idle_timeout) => {
                debug!(%peer, "connection idle for {:?}: closed", limits.idle_timeout);
                return; // dropping the connection closes the socket
            }
        }
    }
}

/// A connection's place under the cap: its permit, and its count in the open-connections
/// gauge, both given back when the socket closes (for a WebSocket, long after the HTTP
/// exchange that opened it).
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, open: Gauge) -> Self {
        open.inc();
        Self { _permit: permit, open }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// When bytes last moved on a connection.
struct Activity {
    born: Instant,
    /// Milliseconds after `born`.
    last: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    async fn quiet_for(&self, limit: Duration) {
        loop {
            let last = self.born + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let quiet = last.elapsed();
            if quiet >= limit {
                return;
            }
            tokio::time::sleep(limit - quiet).await;
        }
    }
}

/// A socket that notes when bytes move on it and holds its [`Slot`] until it closes.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: Slot,
}

impl Tracked {
    fn new(stream: TcpStream, slot: Slot) -> Self {
        let activity = Arc::new(Activity { born: Instant::now(), last: AtomicU64::new(0) });
        Self { stream, activity, _slot: slot }
    }

    fn moved<T>(&self, result: Poll<io::Result<T>>, bytes: impl FnOnce(&T) -> usize) -> Poll<io::Result<T>> {
        if let Poll::Ready(Ok(value)) = &result
            && bytes(value) > 0
        {
            self.activity.touch();
        }
        result
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.moved(result, |()| read)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.moved(result, |n| *n)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.moved(result, |n| *n)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_whole_http_response() {
        let text = std::str::from_utf8(TOO_MANY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
        assert_eq!(length, body.len());
    }
}
