//! Watchtower's engine: the economy, with no I/O.
//!
//! No tokio, no SQLite, no sockets, no wall clock inside a tick. A [`Simulation`] is
//! deterministic for a seed and a command log: the same inputs give the same telemetry,
//! bit for bit, on any machine. It knows the protocol crate and nothing else of ours
//! (DESIGN.md §1).
//!
//! - [`ledger`]: integer-cent balances that always sum to zero; the only code that moves money.
//! - [`registry`] and [`config`]: every tunable, validated; presets, files and overrides;
//!   [`yaml`]: the one reader of a user's YAML (with lines); [`suggest`]: "did you mean".
//! - [`simulation`]: the nine-phase tick, hooks, commands at phase 0, telemetry at phase 8.
//! - [`mark0`]: Mark-0 with a government (docs/MODEL.md); [`boltzmann`]: the benchmark model.
//! - [`checkpoint`]: the whole state as versioned bytes; [`workers`]: threads lent by the caller.
//! - [`capture`]: what phase 8 captures, and the marks a profiler may watch.

/// The version of the engine's numbers: it moves whenever the same scenario and commands
/// would give different numbers (a rule changed, a rounding fixed), so a replay of a run
/// recorded by another version can say why it differs. 2: the profit tie rule and the
/// rescaling of untaxed income at a redenomination.
pub const NUMBERS: u32 = 2;

pub mod apportion;
pub mod boltzmann;
pub mod capture;
pub mod checkpoint;
pub mod config;
pub mod ledger;
pub mod mark0;
pub mod model;
pub mod phase;
pub mod registry;
pub mod rng;
pub mod simulation;
pub mod stats;
pub mod suggest;
pub mod workers;
pub mod yaml;

pub use capture::{Capture, Mark, Probe};
pub use checkpoint::CheckpointError;
pub use config::{ConfigError, Override};
pub use ledger::{AccountId, Ledger, LedgerError};
pub use model::{Model, ModelError};
pub use phase::Phase;
pub use registry::{ModelKind, RawValue, Registry, RegistryError, TICKS_PER_YEAR};
pub use simulation::{EngineError, HookContext, RunSpec, Simulation, TickOutcome};
pub use workers::{Sequential, Workers};
