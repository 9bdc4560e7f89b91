//! The one trait a model implements to run inside Watchtower's tick.
//!
//! A model fills phases 1–7 and captures telemetry at phase 8; the scheduler owns phase 0
//! (commands), the books check after every phase, and the hooks. Mark-0 and the
//! Boltzmann benchmark both implement it, so they share the tick, ledger, registry,
//! store, server and dashboard.

use watchtower_protocol::Telemetry;

use crate::capture::{Capture, Mark};
use crate::ledger::{Ledger, LedgerError};
use crate::phase::Phase;
use crate::registry::{ModelKind, Registry};
use crate::rng::Streams;
use crate::workers::Workers;

/// What a model may touch during a phase.
pub struct Context<'a> {
    /// The tick being run.
    pub tick: u64,
    /// The balances; the model's only way to move money.
    pub ledger: &'a mut Ledger,
    /// The run's random streams.
    pub streams: &'a Streams,
    /// The threads the phase may use (see [`crate::workers`]).
    pub workers: &'a dyn Workers,
}

/// What a model sees while it captures telemetry (phase 8).
pub struct CaptureContext<'a> {
    /// The tick that just settled.
    pub tick: u64,
    /// The registry's version, stamped on the telemetry.
    pub registry_version: u64,
    /// The balances (read-only).
    pub ledger: &'a Ledger,
    /// What must be captured; what is not asked for may be left out (see [`Capture`]).
    pub capture: Capture,
    /// The threads the capture may use.
    pub workers: &'a dyn Workers,
    /// Called with [`Mark::Statistics`] when the statistics start (for profiling).
    pub probe: &'a mut dyn FnMut(Mark),
}

/// Why a model phase failed. The run stops: the books can no longer be trusted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A transfer failed (overflow).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A flow is too large (or not a number) for integer cents: the economy has left the
    /// range the books can represent, typically through hyperinflation.
    #[error("{what} of {value:e} cents cannot be booked: the economy has left the range integer money can represent")]
    Unrepresentable {
        /// Which flow.
        what: &'static str,
        /// Its value in cents.
        value: f64,
    },
    /// A clearing account did not return to zero.
    #[error("clearing account `{account}` holds {balance} cents at the end of the phase")]
    Clearing {
        /// The account's name.
        account: &'static str,
        /// Its balance.
        balance: i64,
    },
}

/// An economy that runs inside the nine-phase tick.
pub trait Model: Send {
    /// Which model this is.
    fn kind(&self) -> ModelKind;

    /// Re-reads typed parameters; called at genesis and whenever a command changed the
    /// registry.
    fn configure(&mut self, registry: &Registry);

    /// An independent copy of the whole state, which continues exactly as this one
    /// would (a fork).
    fn fork(&self) -> Box<dyn Model>;

    /// The run's random streams were replaced ([`crate::Simulation::reseed`]): forget
    /// any draw made ahead from the old ones, so every number from here on comes from
    /// the new streams. Nothing to do for a model that draws only inside its tick.
    fn reseeded(&mut self) {}

    /// Appends the whole state to `out`, for a checkpoint; the model's own `load` reads
    /// it back (with the parameters from the registry).
    fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error>;

    /// The phases (among [`Phase::MODEL`]) the model fills; only these run, and the books
    /// are checked after each.
    fn phases(&self) -> &'static [Phase];

    /// Runs the model's part of `phase` (one of [`Model::phases`]).
    fn run_phase(&mut self, phase: Phase, ctx: &mut Context<'_>) -> Result<(), ModelError>;

    /// Captures telemetry from the settled state at the end of `ctx.tick`: at least what
    /// `ctx.capture` asks for.
    fn capture(&mut self, ctx: &mut CaptureContext<'_>) -> Telemetry;

    /// The agents' state vectors for analytics (t-SNE): one row per agent, at most
    /// `limit` rows, chosen deterministically.
    fn agent_features(&self, ledger: &Ledger, limit: usize) -> watchtower_protocol::FeatureTable;
}

/// The structural choices of a run: fixed once the economy exists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    /// Which model.
    pub model: ModelKind,
    /// The seed of every random stream.
    pub seed: u64,
    /// Mark-0: households.
    pub households: usize,
    /// Mark-0: firms.
    pub firms: usize,
    /// Boltzmann: agents.
    pub agents: usize,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self { model: ModelKind::Mark0, seed: 1, households: 10_000, firms: 1_000, agents: 10_000 }
    }
}
