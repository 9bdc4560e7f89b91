//! The one tick loop.
//!
//! A [`Session`] owns a simulation and its schedule. [`Session::run`] repeats one cycle
//! until a tick target, a stop request or a sink ends it:
//!
//! 1. the [`Driver`] says whether the next cycle is a tick, an idle cycle (a paused live
//!    engine still applies commands) or the end, after any wait it wants (pacing);
//! 2. the commands due: the schedule's for this tick first, then those the driver
//!    collected (a live queue), in arrival order;
//! 3. the engine runs the tick (phases 0–8) or an idle cycle (phase 0 only);
//! 4. each command's sender gets its answer, and every answer becomes an audit entry;
//! 5. every sink sees the cycle, and the driver last (it counts steps, say).
//!
//! `serve`, `run`, `replay`, `experiment`, the benchmarks and the Python module all run
//! here; they differ only in their driver and their sinks.
//!
//! What the engine captures each tick is what the sinks read: the union of their
//! [`Sink::needs`] (and of [`Session::require`]). A stored or replayed run reads
//! everything; an experiment's summary reads a few indicators, and the Gini
//! coefficients and distributions nobody reads are not computed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use watchtower_bridge::Reply;
use watchtower_engine::{Capture, EngineError, Simulation, TickOutcome};
use watchtower_protocol::{AuditEntry, GodCommand};

use crate::schedule::Schedule;
use crate::sink::{Flow, Sink, SinkError};

/// Wall-clock milliseconds since the Unix epoch (outside the engine, which has no clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The source recorded for scheduled commands.
pub const SCHEDULE_SOURCE: &str = "schedule";

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
}

/// What the next cycle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run a tick.
    Tick,
    /// Apply waiting commands without running a tick (paused, or between paced ticks).
    Idle,
    /// End the run.
    Stop,
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

/// What decides, between cycles, what happens next.
pub trait Driver {
    /// Waits as long as it wants, then says what the next cycle is.
    fn next(&mut self, simulation: &Simulation) -> Next;

    /// Adds commands that arrived to `into`, in arrival order.
    fn collect(&mut self, _into: &mut Vec<Pending>) {}

    /// Adds commands refused before they reached the engine, to be recorded.
    fn refusals(&mut self, _into: &mut Vec<AuditEntry>) {}

    /// Sees the settled cycle, after the sinks.
    fn settled(&mut self, _cycle: &Cycle<'_>) {}
}

/// A flag that asks a run to stop after the cycle in flight: set by a signal handler,
/// an API call or the program itself.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A flag over `flag` (for signal handlers that set an `AtomicBool`).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        Self(flag)
    }

    /// Asks for the stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A run without a person at the controls: tick after tick, as fast as it goes, until the
/// target or a stop request. The simulation controls (`sim.paused`, `sim.tick_rate`,
/// `sim.step`) are recorded but do not hold it up.
#[derive(Debug, Clone, Default)]
pub struct Headless {
    stop: Option<Stop>,
}

impl Headless {
    /// Headless, stopping early when `stop` is requested.
    pub fn until_stopped(stop: Stop) -> Self {
        Self { stop: Some(stop) }
    }
}

impl Driver for Headless {
    fn next(&mut self, _simulation: &Simulation) -> Next {
        if self.stop.as_ref().is_some_and(Stop::requested) { Next::Stop } else { Next::Tick }
    }
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

/// A simulation and its schedule, driven by the one tick loop.
pub struct Session {
    simulation: Simulation,
    schedule: Schedule,
    /// Index of the first scheduled entry not yet applied.
    next_scheduled: usize,
    pending: Vec<Pending>,
    audit: Vec<AuditEntry>,
    required: Capture,
}

impl Session {
    /// A session over `simulation`, applying `schedule` at its ticks.
    pub fn new(simulation: Simulation, schedule: Schedule) -> Self {
        Self {
            simulation,
            schedule,
            next_scheduled: 0,
            pending: Vec::new(),
            audit: Vec::new(),
            required: Capture::NONE,
        }
    }

    /// Has every tick capture at least `capture`, whatever the sinks need: for a caller
    /// that reads the telemetry outside a sink (through [`Simulation::telemetry`], say).
    pub fn require(&mut self, capture: Capture) {
        self.required = capture;
    }

    /// The simulation (read-only; steer it with commands).
    pub fn simulation(&self) -> &Simulation {
        &self.simulation
    }

    /// The simulation, mutably: to submit a command outside the loop, or lend it threads.
    pub fn simulation_mut(&mut self) -> &mut Simulation {
        &mut self.simulation
    }

    /// Gives the simulation back.
    pub fn into_simulation(self) -> Simulation {
        self.simulation
    }

    /// Runs cycles until the simulation has run `until` ticks (if given), the driver
    /// says stop, or a sink does. An engine or sink error ends the run at once.
    pub fn run(
        &mut self,
        until: Option<u64>,
        driver: &mut dyn Driver,
        sinks: &mut [&mut dyn Sink],
    ) -> Result<Ended, RunError> {
        let capture = sinks.iter().fold(self.required, |wanted, sink| wanted.union(sink.needs()));
        self.simulation.set_capture(capture);
        loop {
            if until.is_some_and(|target| self.simulation.tick() >= target) {
                return Ok(Ended::Target);
            }
            let next = driver.next(&self.simulation);
            if next == Next::Stop {
                return Ok(Ended::Stopped);
            }
            let tick = self.simulation.tick();
            let received_at_ms = now_ms();
            for entry in self.schedule.due(&mut self.next_scheduled, tick) {
                self.pending.push(Pending {
                    command: entry.command(),
                    received_at_ms,
                    source: SCHEDULE_SOURCE.into(),
                    reply: None,
                });
            }
            driver.collect(&mut self.pending);
            for p in &self.pending {
                self.simulation.submit(p.command.clone());
            }
            let outcome = match next {
                Next::Tick => Some(self.simulation.step()?),
                _ => None,
            };
            let responses = match &outcome {
                Some(o) => o.responses.clone(),
                None => self.simulation.idle(),
            };
            self.audit.clear();
            for (p, response) in self.pending.drain(..).zip(responses) {
                if let Some(reply) = p.reply {
                    reply.send(response.clone());
                }
                self.audit.push(AuditEntry {
                    command: p.command,
                    received_at_ms: p.received_at_ms,
                    source: p.source,
                    response,
                });
            }
            driver.refusals(&mut self.audit);
            let cycle = Cycle { outcome: outcome.as_ref(), audit: &self.audit, simulation: &self.simulation };
            let mut flow = Flow::Continue;
            for sink in sinks.iter_mut() {
                if sink.settled(&cycle)? == Flow::Stop {
                    flow = Flow::Stop;
                }
            }
            driver.settled(&cycle);
            if flow == Flow::Stop {
                return Ok(Ended::BySink);
            }
        }
    }
}
