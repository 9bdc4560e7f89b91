//! What every handler shares: the bridge to the engine, the store's read side, the access
//! rules, the metrics and the latest serialised frame.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
pub use watchtower_bridge::{Bridge, Published};
use watchtower_protocol::AuditEntry;
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
    /// Reads an experiment's statistics from the store (`GET /api/experiments/{id}/fan`
    /// and `/cells`); `None` answers those endpoints 404.
    pub experiments: Option<Arc<dyn ExperimentReader>>,
    /// `Some(DIR)`: a read-only viewer of data directory DIR (`watchtower view`). No
    /// engine runs behind the bridge and another process may be writing the database, so
    /// every command, fork, drop and refresh is refused before it reaches the bridge (and
    /// nothing is audited: a viewer writes nothing); the pages and read APIs serve what
    /// the store holds. The text is what the page shows ("viewer of DIR").
    pub viewer: Option<String>,
}

/// What the server cannot read from the store by itself: an experiment's statistics
/// (the fan chart's per-tick traces are kept in the runner's encoding of each run's
/// summary, and the 95% intervals are the runner's to compute, so the page, the printed
/// summary and the PNG show the same numbers). The binary, which links the runner,
/// supplies them; the server only serves the answer.
pub trait ExperimentReader: Send + Sync + std::fmt::Debug {
    /// Experiment `id`'s fan of indicator `indicator`, read through `history`:
    /// `{"indicator", "ticks", "block", "fork_tick", "arms": [{"arm", "runs", "points":
    /// [{"tick", "mean", "lo", "hi", "n"}]}]}`.
    fn fan(&self, history: &History, id: i64, indicator: &str) -> Result<ExperimentAnswer, String>;

    /// Experiment `id`'s heat-map cells (see [`CellsQuery`]), read through `history`:
    /// `{"column", "x", "y", "cells": [{"x", "y", "mean", "half", "n", "phase",
    /// "summaries"}]}`, `half` the 95% interval's half-width.
    fn cells(&self, history: &History, id: i64, query: &CellsQuery) -> Result<ExperimentAnswer, String>;

    /// A designed (Sobol or Morris) experiment's sensitivity indices of summary column
    /// `indicator` (`None`: every `<indicator>_mean`), read through `history`: the
    /// indices `watchtower sensitivity --json` prints, each column's parameters by total
    /// order, the notes, and the design's progress (`{"design", "parameters",
    /// "progress", "complete", "indices", "order", "notes", "waiting", …}`; the indices
    /// `null` until every run of the design is stored). A grid is `Refused`.
    fn sensitivity(&self, history: &History, id: i64, indicator: Option<&str>) -> Result<ExperimentAnswer, String>;

    /// A calibration's progress and, once finished, its result, read through `history`:
    /// `{"status", "budget", "simulations", "evaluations", "best_loss", "best", "free",
    /// "moments", "result", "meaning", …}`, `result` the `watchtower calibrate --json`
    /// object (`null` until it finishes). An experiment that is not a calibration is
    /// `Refused`.
    fn calibration(&self, history: &History, id: i64) -> Result<ExperimentAnswer, String>;
}

/// The heat map asked for: a summary column over one or two of the grid's axes (each
/// `None`: the experiment's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellsQuery {
    /// The summary column (`unemployment_rate_mean`, `effect_gdp`, …).
    pub column: Option<String>,
    /// The horizontal axis, by its index in the spec.
    pub x: Option<usize>,
    /// The vertical axis, by its index in the spec.
    pub y: Option<usize>,
}

/// An experiment's statistics, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentAnswer {
    /// The JSON to serve (200).
    Found(serde_json::Value),
    /// No experiment with that id (404).
    NoExperiment,
    /// A question the experiment has no answer to: an indicator it does not summarise,
    /// an axis it does not have (400, with the reason).
    Refused(String),
    /// An answer being prepared by another request: ask again (503, `Retry-After`).
    Busy(String),
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

/// What every handler extracts: the shared state, and the token that closes its
/// WebSockets when this serving instance stops.
pub(crate) type AppState = State<(Arc<ServerState>, CancellationToken)>;

/// Shared by every handler.
pub struct ServerState {
    pub(crate) config: ServerConfig,
    pub(crate) bridge: Bridge,
    pub(crate) metrics: Metrics,
    /// Rate-limits the audit rows of strangers' refused commands.
    pub(crate) flood: crate::flood::FloodGuard,
    /// Forks a second, per address and per token.
    pub(crate) forks: crate::fork_limit::ForkLimit,
    /// Rate-limits the audit rows of forks refused for coming too fast.
    pub(crate) fork_flood: crate::flood::FloodGuard,
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
        // A viewer never gets a first tick: its clients are told what it is instead of
        // waiting for an engine.
        let first = match &config.viewer {
            Some(dir) => {
                Utf8Bytes::from(serde_json::json!({"type": "status", "state": "viewer", "dir": dir}).to_string())
            }
            None => Utf8Bytes::from_static(INITIALIZING),
        };
        let (frames, _) =
            watch::channel(Frame { seq: 0, text: first, run_id: None, branches: Arc::new([]), runs: None });
        let metrics = Metrics::new();
        let readers = config.history.clone().map(|h| Readers::new(h, metrics.reads_refused.clone()));
        Arc::new(Self {
            config,
            bridge,
            metrics,
            flood: Default::default(),
            forks: Default::default(),
            fork_flood: crate::flood::FloodGuard::about(crate::flood::About {
                key: "(fork flood)",
                code: watchtower_protocol::ErrorCode::RateLimited,
                what: "forks past the rate limit",
            }),
            readers,
            frames,
            crash: Notify::new(),
            port: std::sync::atomic::AtomicU16::new(0),
        })
    }

    /// Records every refusal flood still being counted (at shutdown, after the server's
    /// tasks are gone), so its summary row is not lost.
    pub fn close_floods(&self) {
        for row in self.flood.close_windows(true).into_iter().chain(self.fork_flood.close_windows(true)) {
            self.audit_or_count(row);
        }
    }

    /// Puts `entry` in the audit log if there is room, else counts it (a stranger's refusal
    /// never holds anything up).
    pub(crate) fn audit_or_count(&self, entry: AuditEntry) {
        if self.bridge.audit.push(entry).is_err() {
            self.metrics.unaudited.inc();
        }
    }

    /// Why a command (or fork, drop, refresh) is refused at once, if this is a viewer.
    pub(crate) fn read_only(&self) -> Option<String> {
        self.config.viewer.as_ref().map(|dir| {
            format!(
                "read-only viewer of {dir}: it runs no economy and takes no commands \
                 (steer the run in the watchtower serve that writes it)"
            )
        })
    }

    /// Whether the first snapshot exists (genesis done, tick 0 settled) and the engine
    /// has not failed since.
    pub fn ready(&self) -> bool {
        self.bridge.telemetry.load().is_some() && self.bridge.failure.load().is_none()
    }
}

/// The frame clients get until the engine is ready.
pub const INITIALIZING: &str = r#"{"type":"status","state":"initializing"}"#;
