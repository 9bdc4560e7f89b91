//! `/metrics` in the Prometheus text format, from a registry owned by the server (not a
//! process-global recorder, so several servers in one process keep separate counts).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    pub ticks: Gauge,
    pub ticks_per_second: Gauge<f64, AtomicU64>,
    pub clients: Gauge,
    pub commands_accepted: Counter,
    pub commands_rejected: Counter,
    pub frames_sent: Counter,
    pub frames_skipped: Counter,
    pub queue_depth: Gauge,
    pub money_drift: Gauge,
    pub unaudited: Counter,
    pub refusals_suppressed: Counter,
    pub http_requests: Counter,
    pub reads_refused: Counter,
    pub connections: Gauge,
    pub connections_refused: Counter,
    pub hosts_refused: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("watchtower");
        let m = Self {
            ticks: Gauge::default(),
            ticks_per_second: Gauge::default(),
            clients: Gauge::default(),
            commands_accepted: Counter::default(),
            commands_rejected: Counter::default(),
            frames_sent: Counter::default(),
            frames_skipped: Counter::default(),
            queue_depth: Gauge::default(),
            money_drift: Gauge::default(),
            unaudited: Counter::default(),
            refusals_suppressed: Counter::default(),
            http_requests: Counter::default(),
            reads_refused: Counter::default(),
            connections: Gauge::default(),
            connections_refused: Counter::default(),
            hosts_refused: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("ticks", "Ticks completed by the engine", m.ticks.clone());
        registry.register(
            "ticks_per_second",
            "Engine ticks per second over the last second",
            m.ticks_per_second.clone(),
        );
        registry.register("clients_connected", "WebSocket clients connected", m.clients.clone());
        registry.register("commands_accepted", "Commands applied by the engine", m.commands_accepted.clone());
        registry.register(
            "commands_rejected",
            "Commands refused (validation, authorisation, queue full)",
            m.commands_rejected.clone(),
        );
        registry.register("frames_sent", "Telemetry frames sent to WebSocket clients", m.frames_sent.clone());
        registry.register("frames_skipped", "Frames a slow client skipped (latest wins)", m.frames_skipped.clone());
        registry.register("queue_depth", "Commands waiting for the engine", m.queue_depth.clone());
        registry.register("money_drift_cents", "Sum of all balances (0 when the books balance)", m.money_drift.clone());
        registry.register("unaudited_rejections", "Door rejections the audit log could not take", m.unaudited.clone());
        registry.register(
            "refusals_summarised",
            "Unauthorised commands counted in a flood's summary row instead of a row each",
            m.refusals_suppressed.clone(),
        );
        registry.register("http_requests", "HTTP requests served", m.http_requests.clone());
        registry.register(
            "reads_refused",
            "Store reads refused with 503 because every reader stayed busy",
            m.reads_refused.clone(),
        );
        registry.register("connections_open", "TCP connections open (WebSockets included)", m.connections.clone());
        registry.register(
            "connections_refused",
            "Connections closed at once because --max-connections were open",
            m.connections_refused.clone(),
        );
        registry.register(
            "hosts_refused",
            "Requests refused because their Host is not one this server answers to",
            m.hosts_refused.clone(),
        );
        Self { registry, ..m }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
