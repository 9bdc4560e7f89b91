//! What one cycle of the tick loop is made of, and how a run ends: the commands waiting
//! for phase 0 ([`Pending`]), the settled [`Cycle`] the sinks and the driver see, whether
//! the loop goes on after a sink ([`Flow`]), and how the run ended ([`Ended`], [`Finish`],
//! [`RunError`]).
//!
//! These are the words the loop ([`crate::session`]), its sinks ([`crate::sink`]) and
//! the what-if branches ([`crate::branches`]) share; they live below all three so none of
//! them has to reach up into another.

use watchtower_bridge::Reply;
pub use watchtower_bridge::now_ms;
use watchtower_engine::{EngineError, Simulation, TickOutcome};
use watchtower_protocol::{AuditEntry, GodCommand};

/// The source recorded for scheduled commands.
pub const SCHEDULE_SOURCE: &str = "schedule";

/// The source recorded for commands the engine applied that no driver collected (a
/// hook's, or one waiting in a restored checkpoint).
pub const ENGINE_SOURCE: &str = "engine";

/// A command waiting for the next phase 0, with whoever waits for its answer.
#[derive(Debug)]
pub struct Pending {
    /// The command.
    pub command: GodCommand,
    /// When it was received, ms since the epoch.
    pub received_at_ms: u64,
    /// Who sent it, for the audit log.
    pub source: String,
    /// Where its answer goes.
    pub reply: Option<Reply>,
    /// The run it is for (a what-if branch's id); `None`: the main run.
    pub run: Option<i64>,
}

/// One settled cycle, as sinks and the driver see it.
pub struct Cycle<'a> {
    /// The tick that ran; `None` for an idle cycle.
    pub outcome: Option<&'a TickOutcome>,
    /// Every command answered in this cycle, and any refused at the door since the last.
    pub audit: &'a [AuditEntry],
    /// The simulation after the cycle (read-only).
    pub simulation: &'a Simulation,
}

/// Whether the loop goes on after a sink has seen a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop after this cycle: the sink has what it wanted (a replay found a difference).
    Stop,
}

/// A sink failed; the loop stops and the run ends with this error.
#[derive(Debug, thiserror::Error)]
#[error("{sink}: {source}")]
pub struct SinkError {
    /// Which sink.
    pub sink: &'static str,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It reached its tick target.
    Target,
    /// The driver stopped it (a signal, a shutdown).
    Stopped,
    /// A sink stopped it (it had what it wanted).
    BySink,
}

/// How a run ended, as its sinks see it in [`Sink::finish`].
pub struct Finish<'a> {
    /// The simulation where the run ended.
    pub simulation: &'a Simulation,
    /// How it ended, or why it failed.
    pub ended: Result<Ended, &'a RunError>,
}

impl Finish<'_> {
    /// Whether it stopped before its end without an error (a stop request, a sink), so a
    /// stored run would be left interrupted.
    pub fn stopped_early(&self) -> bool {
        matches!(self.ended, Ok(Ended::Stopped | Ended::BySink))
    }
}

/// Why a run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The engine failed; the books can no longer be trusted.
    #[error("the engine stopped: {0}")]
    Engine(#[from] EngineError),
    /// A sink failed (the store's writer stopped, an output file could not be written).
    #[error(transparent)]
    Sink(#[from] SinkError),
}
