//! What every handler shares: the bridge to the engine, the store's read side, the access
//! rules, the metrics and the latest serialised frame.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, watch};
pub use watchtower_bridge::{Bridge, Published};
use watchtower_store::History;

use crate::metrics::Metrics;
use crate::readers::Readers;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The access token commands must present.
    pub token: String,
    /// Origins allowed to open a WebSocket or post commands from a browser, besides the
    /// server's own loopback addresses (for example `http://my-lab-host:8000`).
    pub allowed_origins: Vec<String>,
    /// The run being written, for history and audit defaults.
    pub run_id: Option<i64>,
    /// The store's read side.
    pub history: Option<History>,
    /// Serve the `POST /api/debug/crash` fault hook (debug builds only).
    pub fault_injection: bool,
    /// Host names (or addresses) requests may be addressed to, besides the server's own
    /// (`--allow-host`; see `host.rs`).
    pub allowed_hosts: Vec<String>,
    /// How many connections, and for how long idle ones are kept.
    pub limits: crate::connections::Limits,
}

/// One serialised broadcast: the same bytes go to every client.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Increases by one per frame, so a client can count what it skipped.
    pub seq: u64,
    /// The JSON text (the main run's telemetry, or the status before it).
    pub text: Utf8Bytes,
    /// The run `text` is of (`None` for a status).
    pub run_id: Option<i64>,
    /// Each live what-if branch's telemetry frame, with its run id.
    pub branches: Arc<[(i64, Utf8Bytes)]>,
    /// The live runs message and its version, sent to a client when it changed.
    pub runs: Option<(u64, Utf8Bytes)>,
}

/// Shared by every handler.
pub struct ServerState {
    pub(crate) config: ServerConfig,
    pub(crate) bridge: Bridge,
    pub(crate) metrics: Metrics,
    /// Rate-limits the audit rows of strangers' refused commands.
    pub(crate) flood: crate::flood::FloodGuard,
    /// The store's read side behind its gate (none without a store).
    pub(crate) readers: Option<Readers>,
    pub(crate) frames: watch::Sender<Frame>,
    /// Set by the fault hook; the serving task panics when notified.
    pub(crate) crash: Notify,
    /// The address the server is listening on (origins are checked against it).
    pub(crate) port: std::sync::atomic::AtomicU16,
}

impl ServerState {
    /// State for a server that talks to the engine through `bridge`.
    pub fn new(config: ServerConfig, bridge: Bridge) -> Arc<Self> {
        let (frames, _) = watch::channel(Frame {
            seq: 0,
            text: Utf8Bytes::from_static(INITIALIZING),
            run_id: None,
            branches: Arc::new([]),
            runs: None,
        });
        let metrics = Metrics::new();
        let readers = config.history.clone().map(|h| Readers::new(h, metrics.reads_refused.clone()));
        Arc::new(Self {
            config,
            bridge,
            metrics,
            flood: Default::default(),
            readers,
            frames,
            crash: Notify::new(),
            port: std::sync::atomic::AtomicU16::new(0),
        })
    }

    /// Records every refusal flood still being counted (at shutdown, after the server's
    /// tasks are gone), so its summary row is not lost.
    pub fn close_floods(&self) {
        for row in self.flood.close_windows(true) {
            crate::commands::audit_or_count(self, row);
        }
    }

    /// Whether the first snapshot exists (genesis done, tick 0 settled) and the engine
    /// has not failed since.
    pub fn ready(&self) -> bool {
        self.bridge.telemetry.load().is_some() && self.bridge.failure.load().is_none()
    }
}

/// The frame clients get until the engine is ready.
pub const INITIALIZING: &str = r#"{"type":"status","state":"initializing"}"#;
