//! The scheduler: one tick is nine phases, in order, with hooks on any of them.
//!
//! Phase 0 (Intercept) is where the outside world reaches in: its hooks run first and
//! may [`HookContext::submit`] commands, then every waiting command is validated against
//! the registry and applied or rejected, in order, each answered by one `GodResponse`.
//! Phases 1–7 are the model's; after each phase the model fills the books are checked
//! (the balances must sum to zero), and every phase's hooks run. Phase 8 captures telemetry from the settled
//! state and hands it to its hooks, which is where the app publishes it. Nothing here
//! reads a clock, a socket or a file: a seed and a command log determine every number.

use std::sync::Arc;

use tracing::{info, warn};
use watchtower_protocol::{ErrorCode, GodCommand, GodResponse, Telemetry};

use crate::boltzmann::Boltzmann;
use crate::capture::{Capture, Mark, Probe};
use crate::checkpoint::{CheckpointError, State};
use crate::ledger::Ledger;
use crate::mark0::Mark0;
pub use crate::model::RunSpec;
use crate::model::{CaptureContext, Context, Model, ModelError};
use crate::phase::Phase;
use crate::registry::{ModelKind, RawValue, Registry};
use crate::rng::Streams;
use crate::workers::{Workers, sequential};
use watchtower_protocol::FeatureTable;

/// Below this many agents (households, or Boltzmann agents) a tick stays on the
/// caller's thread: measured on two cores, a second thread gained nothing at 10,000
/// households (and took a core from the store's writer and the server) and 12% at 20,000.
const THREADS_FROM: usize = 4 * crate::rng::CHUNK;

/// The control that runs ticks while paused.
pub const STEP: &str = "sim.step";
/// The control that holds the engine between ticks.
pub const PAUSED: &str = "sim.paused";

/// Why the simulation stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// A model phase failed.
    #[error("tick {tick}, {phase}: {source}")]
    Model {
        /// The tick.
        tick: u64,
        /// The phase.
        phase: Phase,
        /// What failed.
        source: ModelError,
    },
    /// The balances no longer sum to zero: money appeared or vanished.
    #[error("tick {tick}, {phase}: the books do not balance: the balances sum to {drift} cents, not 0")]
    BooksUnbalanced {
        /// The tick.
        tick: u64,
        /// The phase after which the drift was found.
        phase: Phase,
        /// The sum of all balances.
        drift: i128,
    },
    /// The run cannot be built as specified.
    #[error("invalid run: {0}")]
    InvalidSpec(String),
}

/// What one tick produced.
#[derive(Debug, Clone)]
pub struct TickOutcome {
    /// The tick that ran.
    pub tick: u64,
    /// Its telemetry.
    pub telemetry: Arc<Telemetry>,
    /// The answers to the commands applied at its phase 0, in order.
    pub responses: Vec<GodResponse>,
}

/// A hook: code run at a phase with a view of the engine.
pub type Hook = Box<dyn FnMut(&mut HookContext<'_>) + Send>;

/// What a hook sees.
pub struct HookContext<'a> {
    tick: u64,
    phase: Phase,
    idle: bool,
    inbox: &'a mut Vec<GodCommand>,
    responses: &'a [GodResponse],
    telemetry: Option<&'a Arc<Telemetry>>,
    ledger: &'a Ledger,
    registry: &'a Registry,
}

impl HookContext<'_> {
    /// The tick running (for an idle cycle, the next tick to run).
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The phase whose hooks are running.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True during an idle cycle (paused): only phases 0 and 8 run and no tick advances.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// Queues a command. Submitted at phase 0 it is applied in this tick's phase 0;
    /// from any other phase it waits for the next tick's.
    pub fn submit(&mut self, command: GodCommand) {
        self.inbox.push(command);
    }

    /// The answers of this tick's phase 0 (empty before it has applied them).
    pub fn responses(&self) -> &[GodResponse] {
        self.responses
    }

    /// The telemetry captured at phase 8 (`None` before).
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry
    }

    /// Sum of all balances right now; 0 when the books balance.
    pub fn money_drift(&self) -> i128 {
        self.ledger.drift()
    }

    /// The registry (read-only).
    pub fn registry(&self) -> &Registry {
        self.registry
    }
}

/// A running economy.
///
/// It can be copied in memory ([`Simulation::fork`]) and saved to bytes
/// ([`Simulation::checkpoint`], [`Simulation::restore`]); either way the copy continues
/// exactly as the original would, bit for bit, given the same commands.
pub struct Simulation {
    spec: RunSpec,
    tick: u64,
    registry: Registry,
    ledger: Ledger,
    streams: Streams,
    model: Box<dyn Model>,
    hooks: [Vec<Hook>; 9],
    inbox: Vec<GodCommand>,
    /// The commands of the last phase 0, answered in this order.
    applied: Vec<GodCommand>,
    telemetry: Option<Arc<Telemetry>>,
    workers: Arc<dyn Workers>,
    capture: Capture,
    probe: Option<Probe>,
}

impl Simulation {
    /// Builds the economy at genesis. `registry` holds the start-up values (presets,
    /// config, overrides already applied).
    pub fn new(spec: RunSpec, registry: Registry) -> Result<Self, EngineError> {
        let streams = Streams::new(spec.seed);
        let (model, ledger): (Box<dyn Model>, Ledger) = match spec.model {
            ModelKind::Mark0 => {
                if spec.firms == 0 || spec.households == 0 {
                    return Err(EngineError::InvalidSpec("Mark-0 needs at least one firm and one household".into()));
                }
                if spec.firms > 1 << 28 || spec.households > 1 << 30 {
                    return Err(EngineError::InvalidSpec("at most 2^28 firms and 2^30 households".into()));
                }
                let (m, l) = Mark0::genesis(spec.firms, spec.households, &registry, &streams)
                    .map_err(|source| EngineError::Model { tick: 0, phase: Phase::Intercept, source })?;
                (Box::new(m), l)
            }
            ModelKind::Boltzmann => {
                if spec.agents == 0 || spec.agents > 1 << 30 {
                    return Err(EngineError::InvalidSpec("Boltzmann needs between 1 and 2^30 agents".into()));
                }
                let (m, l) = Boltzmann::genesis(spec.agents, &registry).map_err(|source| EngineError::Model {
                    tick: 0,
                    phase: Phase::Intercept,
                    source,
                })?;
                (Box::new(m), l)
            }
        };
        let sim = Self {
            spec,
            tick: 0,
            registry,
            ledger,
            streams,
            model,
            hooks: Default::default(),
            inbox: Vec::new(),
            applied: Vec::new(),
            telemetry: None,
            workers: sequential(),
            capture: Capture::FULL,
            probe: None,
        };
        let drift = sim.ledger.drift();
        if drift != 0 {
            return Err(EngineError::BooksUnbalanced { tick: 0, phase: Phase::Intercept, drift });
        }
        Ok(sim)
    }

    /// Lends the simulation threads for the phases that can use them (by default it
    /// runs on the caller's thread only). Threads never change a number.
    pub fn set_workers(&mut self, workers: Arc<dyn Workers>) {
        self.workers = workers;
    }

    /// What phase 8 captures from now on (by default [`Capture::FULL`]): indicators and
    /// distributions nobody reads need not be computed. The economy is the same whatever
    /// is captured; only the telemetry differs, by leaving out what was not asked for.
    pub fn set_capture(&mut self, capture: Capture) {
        self.capture = capture;
    }

    /// What phase 8 captures.
    pub fn capture_level(&self) -> Capture {
        self.capture
    }

    /// Calls `probe` at every [`Mark`] of every tick (or no longer, with `None`): how a
    /// caller times a tick's parts with its own clock, the engine reading none.
    pub fn set_probe(&mut self, probe: Option<Probe>) {
        self.probe = probe;
    }

    /// An independent copy that continues from the same state and random streams: the
    /// model, the ledger, the registry, the streams, the tick and any waiting command,
    /// everything but the hooks and the probe (which are the caller's code, not state).
    pub fn fork(&self) -> Simulation {
        Simulation {
            spec: self.spec.clone(),
            tick: self.tick,
            registry: self.registry.clone(),
            ledger: self.ledger.clone(),
            streams: self.streams.clone(),
            model: self.model.fork(),
            hooks: Default::default(),
            inbox: self.inbox.clone(),
            applied: Vec::new(),
            telemetry: self.telemetry.clone(),
            workers: Arc::clone(&self.workers),
            capture: self.capture,
            probe: None,
        }
    }

    /// Replaces the random streams by those of `seed`, from the next tick on: the same
    /// economy, continued with other draws. How an ensemble runs many futures of one
    /// state (common random numbers: a baseline and its branch re-seeded alike draw the
    /// same numbers). The spec keeps the genesis seed; a checkpoint keeps the new streams.
    pub fn reseed(&mut self, seed: u64) {
        self.streams = Streams::new(seed);
        self.model.reseeded();
    }

    /// The whole state as versioned bytes (see [`crate::checkpoint`]). Between ticks.
    pub fn checkpoint(&self) -> Result<Vec<u8>, CheckpointError> {
        let state = State::new(
            self.spec.clone(),
            self.tick,
            &self.registry,
            self.ledger.clone(),
            self.streams.clone(),
            &self.inbox,
        );
        state.encode(self.model.as_ref())
    }

    /// A simulation restored from [`Simulation::checkpoint`]'s bytes: it continues
    /// exactly where the saved one stood. A checkpoint of another format, or damaged, is
    /// refused and nothing is built.
    pub fn restore(bytes: &[u8]) -> Result<Simulation, CheckpointError> {
        let (state, model_bytes) = State::decode(bytes)?;
        let registry = state.registry()?;
        let damaged = |e: postcard::Error| CheckpointError::Damaged(format!("model state: {e}"));
        let model: Box<dyn Model> = match state.spec.model {
            ModelKind::Mark0 => Box::new(Mark0::load(model_bytes, &registry).map_err(damaged)?),
            ModelKind::Boltzmann => Box::new(Boltzmann::load(model_bytes).map_err(damaged)?),
        };
        let inbox = state.inbox()?;
        let mut sim = Simulation {
            spec: state.spec,
            tick: state.tick,
            registry,
            ledger: state.ledger,
            streams: state.streams,
            model,
            hooks: Default::default(),
            inbox,
            applied: Vec::new(),
            telemetry: None,
            workers: sequential(),
            capture: Capture::FULL,
            probe: None,
        };
        if sim.ledger.drift() != 0 {
            return Err(CheckpointError::Damaged(format!("its balances sum to {} cents, not 0", sim.ledger.drift())));
        }
        // The last tick's telemetry is a function of the state: capture it again.
        sim.telemetry = sim.capture().map(Arc::new);
        Ok(sim)
    }

    /// Registers `hook` to run at `phase`, after hooks registered earlier.
    pub fn register_hook(&mut self, phase: Phase, hook: impl FnMut(&mut HookContext<'_>) + Send + 'static) {
        self.hooks[phase as usize].push(Box::new(hook));
    }

    /// Queues a command for the next phase 0.
    pub fn submit(&mut self, command: GodCommand) {
        self.inbox.push(command);
    }

    /// Runs one tick: phases 0 to 8.
    ///
    /// A tick of an economy large enough for a second core to pay runs inside the lent
    /// workers ([`Workers::enter`]); a smaller one on the caller's thread alone.
    pub fn step(&mut self) -> Result<TickOutcome, EngineError> {
        let agents = match self.spec.model {
            ModelKind::Mark0 => self.spec.households,
            ModelKind::Boltzmann => self.spec.agents,
        };
        if self.workers.width() < 2 || agents < THREADS_FROM {
            return self.tick_here();
        }
        let workers = Arc::clone(&self.workers);
        let mut outcome = None;
        workers.enter(&mut || outcome = Some(self.tick_here()));
        outcome.expect("the workers ran the tick")
    }

    fn tick_here(&mut self) -> Result<TickOutcome, EngineError> {
        let tick = self.tick;
        self.mark(Mark::Phase(Phase::Intercept));
        let responses = self.intercept(tick, false);
        let filled = self.model.phases();
        for phase in Phase::MODEL {
            if filled.contains(&phase) {
                self.mark(Mark::Phase(phase));
                let mut ctx =
                    Context { tick, ledger: &mut self.ledger, streams: &self.streams, workers: self.workers.as_ref() };
                self.model.run_phase(phase, &mut ctx).map_err(|source| EngineError::Model { tick, phase, source })?;
                self.mark(Mark::Books(phase));
                self.check_books(tick, phase)?;
            }
            self.run_hooks(phase, tick, false, &responses, None);
        }
        self.mark(Mark::Capture);
        let telemetry = Arc::new(self.capture_at(tick));
        self.telemetry = Some(Arc::clone(&telemetry));
        self.run_hooks(Phase::Broadcast, tick, false, &responses, Some(&telemetry));
        self.mark(Mark::Done);
        self.tick += 1;
        Ok(TickOutcome { tick, telemetry, responses })
    }

    #[inline]
    fn mark(&mut self, mark: Mark) {
        if let Some(probe) = self.probe.as_mut() {
            probe(mark);
        }
    }

    /// The model's capture of the state as it stands, as telemetry of `tick`.
    fn capture_at(&mut self, tick: u64) -> Telemetry {
        let probe = &mut self.probe;
        let mut probe = |mark: Mark| {
            if let Some(probe) = probe.as_mut() {
                probe(mark);
            }
        };
        let mut ctx = CaptureContext {
            tick,
            registry_version: self.registry.version(),
            ledger: &self.ledger,
            capture: self.capture,
            workers: self.workers.as_ref(),
            probe: &mut probe,
        };
        self.model.capture(&mut ctx)
    }

    /// An idle cycle while paused: phase 0 applies waiting commands and phase 8's hooks
    /// see the answers (and the last telemetry); no tick runs. Commands are recorded as
    /// applied at the next tick, which is where a replay applies them.
    pub fn idle(&mut self) -> Vec<GodResponse> {
        let tick = self.tick;
        let responses = self.intercept(tick, true);
        let telemetry = self.telemetry.clone();
        self.run_hooks(Phase::Broadcast, tick, true, &responses, telemetry.as_ref());
        responses
    }

    fn intercept(&mut self, tick: u64, idle: bool) -> Vec<GodResponse> {
        self.run_hooks(Phase::Intercept, tick, idle, &[], None);
        let version = self.registry.version();
        self.applied = std::mem::take(&mut self.inbox);
        let commands = std::mem::take(&mut self.applied);
        let responses: Vec<GodResponse> = commands.iter().map(|command| self.apply(command, tick)).collect();
        self.applied = commands;
        if self.registry.version() != version {
            self.model.configure(&self.registry);
        }
        responses
    }

    /// Commands waiting for the next phase 0, in the order they will be applied.
    pub fn waiting(&self) -> &[GodCommand] {
        &self.inbox
    }

    /// The commands the last phase 0 applied or refused, in order: the `i`-th answer of
    /// that cycle answers the `i`-th of these (whoever submitted it: a caller, a hook,
    /// a checkpoint's waiting commands).
    pub fn last_applied(&self) -> &[GodCommand] {
        &self.applied
    }

    fn apply(&mut self, command: &GodCommand, tick: u64) -> GodResponse {
        // A step runs ticks while paused; accepted while running, it would be a no-op
        // whose leftover steps ran on after a later pause (a pause cancels them).
        let steps = command.value.as_f64().filter(|n| n.is_finite() && n.fract() == 0.0 && *n > 0.0);
        if command.key == STEP && steps.is_some() && !self.registry.flag(PAUSED) {
            let message = "`sim.step` runs ticks while the simulation is paused: pause it first (sim.paused = true)";
            warn!("Registry rejected command {} at tick {tick}: {message}", command.id);
            return GodResponse::rejected(command, Some(tick), ErrorCode::NotPaused, message);
        }
        match self.registry.apply(&command.key, &RawValue::from(&command.value)) {
            Ok(change) => {
                info!(
                    "Registry updated: {} {} -> {} (command {}, tick {tick})",
                    change.key, change.old, change.new, command.id
                );
                GodResponse::applied(command, tick, change.old, change.new)
            }
            Err(e) => {
                warn!("Registry rejected command {} at tick {tick}: {e}", command.id);
                GodResponse::rejected(command, Some(tick), e.code(), e.to_string())
            }
        }
    }

    fn check_books(&self, tick: u64, phase: Phase) -> Result<(), EngineError> {
        let drift = self.ledger.drift_on(self.workers.as_ref());
        if drift == 0 { Ok(()) } else { Err(EngineError::BooksUnbalanced { tick, phase, drift }) }
    }

    fn run_hooks(
        &mut self,
        phase: Phase,
        tick: u64,
        idle: bool,
        responses: &[GodResponse],
        telemetry: Option<&Arc<Telemetry>>,
    ) {
        if self.hooks[phase as usize].is_empty() {
            return;
        }
        self.mark(Mark::Hooks(phase));
        let hooks = &mut self.hooks[phase as usize];
        let mut ctx = HookContext {
            tick,
            phase,
            idle,
            inbox: &mut self.inbox,
            responses,
            telemetry,
            ledger: &self.ledger,
            registry: &self.registry,
        };
        for hook in hooks.iter_mut() {
            hook(&mut ctx);
        }
    }

    /// The next tick to run (the number of ticks run so far).
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The run's structural choices.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// The registry (read-only; change it with commands).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The balances.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The telemetry of the last tick, if one ran.
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry.as_ref()
    }

    /// Captures telemetry again from the current state (for checking a published
    /// snapshot against the state it came from).
    pub fn capture(&mut self) -> Option<Telemetry> {
        let last = self.tick.checked_sub(1)?;
        Some(self.capture_at(last))
    }

    /// A copy of the agents' state vectors after the last settled tick, at most `limit`
    /// rows (for analytics, which must never run on the engine's thread).
    pub fn agent_features(&self, limit: usize) -> FeatureTable {
        let mut table = self.model.agent_features(&self.ledger, limit);
        table.tick = self.tick.saturating_sub(1);
        table
    }
}
