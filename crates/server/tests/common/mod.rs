//! A server over a real socket on loopback, reading a test's database: what the API
//! tests start the same way.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use watchtower_server::connections::Limits;
use watchtower_server::{Bridge, ServerConfig, ServerState};
use watchtower_store::History;

/// A server serving the database at `path` read-only, on a port of its own.
pub struct TestServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    runtime: tokio::runtime::Runtime,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Serves `path` with no engine behind it and no experiment reader.
    pub fn start(path: &Path) -> Self {
        let config = ServerConfig {
            token: "a-test-token".into(),
            allowed_origins: vec![],
            run_id: None,
            history: Some(History::open(path, 2).unwrap()),
            fault_injection: false,
            allowed_hosts: vec![],
            limits: Limits::default(),
            experiments: None,
            viewer: None,
        };
        let state = ServerState::new(config, Bridge::default());
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cancel = CancellationToken::new();
        let server = runtime.spawn(watchtower_server::serve(listener, Arc::clone(&state), cancel.clone()));
        Self { port, runtime, cancel, server }
    }

    /// Stops it and checks it ended cleanly.
    pub fn stop(self) {
        self.cancel.cancel();
        self.runtime.block_on(self.server).unwrap().unwrap();
    }
}
