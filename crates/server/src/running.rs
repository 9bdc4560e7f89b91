//! A server on its own tokio runtime, from the port to the stop: [`Bound`] holds the
//! runtime and the bound port (so a port already taken is refused before the caller
//! creates anything else), [`Bound::serve`] runs [`run`](crate::run) on it (rebinding if
//! the serving task dies), and [`Running::stop`] closes the sockets and the runtime in
//! order. `watchtower serve` and `watchtower view` both start their server this way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::ServerState;

/// The runtime could not start or the port could not be bound; the message says which.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BindError(String);

/// A runtime and a bound port, not serving yet.
pub struct Bound {
    runtime: tokio::runtime::Runtime,
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// Starts the server's runtime and binds `addr` (port 0: any free port).
    pub fn bind(addr: SocketAddr) -> Result<Self, BindError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("server")
            .build()
            .map_err(|e| BindError(format!("cannot start the async runtime: {e}")))?;
        let listener = runtime
            .block_on(TcpListener::bind(addr))
            .map_err(|e| BindError(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| BindError(format!("cannot listen on {addr}: {e}")))?;
        Ok(Self { runtime, listener, addr })
    }

    /// The address bound (with the port chosen, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `state` on the bound port until [`Running::stop`].
    pub fn serve(self, state: Arc<ServerState>) -> Running {
        let cancel = CancellationToken::new();
        let task = self.runtime.spawn(crate::run(self.listener, self.addr, state, cancel.clone()));
        Running { addr: self.addr, runtime: self.runtime, cancel, task }
    }
}

/// A server serving on its runtime.
pub struct Running {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The dashboard's URL, with `token` in its query when there is one (an unspecified
    /// address reads as loopback).
    pub fn url(&self, token: Option<&str>) -> String {
        let ip = self.addr.ip();
        let host = if ip.is_unspecified() { "127.0.0.1".to_string() } else { ip.to_string() };
        let query = token.map_or(String::new(), |t| format!("?token={t}"));
        format!("http://{host}:{}/{query}", self.addr.port())
    }

    /// Stops taking connections and closes every socket (waiting at most a second for
    /// the serving task), then the runtime: when this returns, no task of the server
    /// runs, so nothing is queued or refused after it.
    pub fn stop(self) {
        self.cancel.cancel();
        let _ = self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(1), self.task).await });
        self.runtime.shutdown_timeout(Duration::from_millis(200));
    }
}
