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
//! A session may carry what-if branches ([`crate::branches`]): copies of the economy
//! that advance in lockstep with the main one, each with its own commands, schedule and
//! sinks. The driver paces the whole group (a pause pauses all); between cycles it may
//! fork or drop branches ([`Driver::regroup`]).
//!
//! What the engine captures each tick is what the sinks read: the union of their
//! [`Sink::needs`] (and of [`Session::require`]). A stored or replayed run reads
//! everything; an experiment's summary reads a few indicators, and the Gini
//! coefficients and distributions nobody reads are not computed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use watchtower_engine::{Capture, Simulation};
use watchtower_protocol::{AuditEntry, ErrorCode, GodResponse};

use crate::branches::{Branches, Group};
use crate::cycle::Flow;
pub use crate::cycle::{Cycle, ENGINE_SOURCE, Ended, Finish, Pending, RunError, SCHEDULE_SOURCE, now_ms};
use crate::schedule::Schedule;
use crate::sink::Sink;

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

    /// Between cycles, before the next one's commands: forks or drops what-if branches
    /// it was asked to (a live session's requests).
    fn regroup(&mut self, _group: &mut Group<'_>) {}
}

/// A flag that asks a run to stop after the cycle in flight: set by a signal handler,
/// an API call or the program itself.
///
/// The program's own requests are kept apart from the signal handlers' flag: a handler
/// that exits at once on a *second* signal arms itself when its flag is set, and the
/// program stopping itself (its engine failed) must not count as the first.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    signalled: Arc<AtomicBool>,
    asked: Arc<AtomicBool>,
}

impl Stop {
    /// A stop that `flag` also requests (a signal handler sets it).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        Self { signalled: flag, asked: Arc::default() }
    }

    /// Asks for the stop.
    pub fn request(&self) {
        self.asked.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for, by a signal or by the program.
    pub fn requested(&self) -> bool {
        self.asked.load(Ordering::SeqCst) || self.signalled.load(Ordering::SeqCst)
    }

    /// Blocks until a stop is asked for, looking every 20 ms (a signal handler can only
    /// set the flag, so a waiter polls it): what a process that serves does while its
    /// other threads work.
    pub fn wait(&self) {
        while !self.requested() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
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

/// A simulation and its schedule, driven by the one tick loop.
pub struct Session {
    simulation: Simulation,
    schedule: Schedule,
    /// Index of the first scheduled entry not yet applied.
    next_scheduled: usize,
    pending: Vec<Pending>,
    audit: Vec<AuditEntry>,
    branches: Branches,
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
            branches: Branches::default(),
            required: Capture::NONE,
        }
    }

    /// Has every tick capture at least `capture`, whatever the sinks need: for a caller
    /// that reads the telemetry outside a sink (through [`Simulation::telemetry`], say).
    pub fn require(&mut self, capture: Capture) {
        self.required = self.required.union(capture);
    }

    /// The what-if branches running in lockstep with the simulation.
    pub fn branches(&self) -> &Branches {
        &self.branches
    }

    /// The branches, mutably: to add one, lend them threads, or close them.
    pub fn branches_mut(&mut self) -> &mut Branches {
        &mut self.branches
    }

    /// The schedule and the index of its first entry not yet applied (a fork copies
    /// both).
    pub fn schedule(&self) -> (&Schedule, usize) {
        (&self.schedule, self.next_scheduled)
    }

    /// The simulation (read-only; steer it with commands).
    pub fn simulation(&self) -> &Simulation {
        &self.simulation
    }

    /// The simulation, mutably: to lend it threads, or submit a command outside the loop
    /// (it is applied at the next phase 0 and recorded with the source `engine`).
    pub fn simulation_mut(&mut self) -> &mut Simulation {
        &mut self.simulation
    }

    /// Gives the simulation back.
    pub fn into_simulation(self) -> Simulation {
        self.simulation
    }

    /// An independent copy that continues as this session would: the simulation's
    /// [`fork`](Simulation::fork), and the schedule where this session stands (entries
    /// already applied, in a tick or an idle cycle, are not applied again). Between
    /// runs; a fork that receives no command stays identical to its origin. The copy is
    /// a session of its own, without this one's what-if branches (they are other runs).
    pub fn fork(&self) -> Session {
        Session {
            simulation: self.simulation.fork(),
            schedule: self.schedule.clone(),
            next_scheduled: self.next_scheduled,
            pending: Vec::new(),
            audit: Vec::new(),
            branches: Branches::default(),
            required: self.required,
        }
    }

    /// After the engine failed (or panicked) in a cycle: answers every command that
    /// cycle had taken `unavailable`, and returns their audit entries, so none is lost.
    /// The engine may have applied them before it failed; the tick never settled.
    pub fn abandon(&mut self) -> Vec<AuditEntry> {
        let tick = self.simulation.tick();
        self.pending
            .drain(..)
            .map(|p| {
                let response = GodResponse::rejected(
                    &p.command,
                    Some(tick),
                    ErrorCode::Unavailable,
                    format!("the engine failed during tick {tick}, which never settled"),
                );
                if let Some(reply) = p.reply {
                    reply.send(response.clone());
                }
                AuditEntry { command: p.command, received_at_ms: p.received_at_ms, source: p.source, response }
            })
            .collect()
    }

    /// Runs cycles until the simulation has run `until` ticks (if given), the driver
    /// says stop, or a sink does. An engine or sink error ends the run at once. Then,
    /// however it ended, every sink is [finished](Sink::finish).
    pub fn run(
        &mut self,
        until: Option<u64>,
        driver: &mut dyn Driver,
        sinks: &mut [&mut dyn Sink],
    ) -> Result<Ended, RunError> {
        let ended = self.cycles(until, driver, sinks);
        let end = Finish { simulation: &self.simulation, ended: ended.as_ref().copied() };
        let mut finished = Ok(());
        for sink in sinks.iter_mut() {
            if let Err(e) = sink.finish(&end) {
                finished = finished.and(Err(e));
            }
        }
        let ended = ended?;
        finished?;
        Ok(ended)
    }

    /// The cycles of [`Session::run`].
    fn cycles(
        &mut self,
        until: Option<u64>,
        driver: &mut dyn Driver,
        sinks: &mut [&mut dyn Sink],
    ) -> Result<Ended, RunError> {
        let required = self.required;
        let wanted = |sinks: &[&mut dyn Sink], tick| {
            sinks.iter().fold(required, |wanted, sink| wanted.union(sink.needs_at(tick)))
        };
        self.simulation.set_capture(wanted(sinks, self.simulation.tick()));
        loop {
            if until.is_some_and(|target| self.simulation.tick() >= target) {
                return Ok(Ended::Target);
            }
            let next = driver.next(&self.simulation);
            if next == Next::Stop {
                return Ok(Ended::Stopped);
            }
            driver.regroup(&mut Group::new(&self.simulation, &self.schedule, self.next_scheduled, &mut self.branches));
            let tick = self.simulation.tick();
            let received_at_ms = now_ms();
            for entry in self.schedule.due(&mut self.next_scheduled, tick) {
                self.pending.push(Pending {
                    command: entry.command(),
                    received_at_ms,
                    source: SCHEDULE_SOURCE.into(),
                    reply: None,
                    run: None,
                });
            }
            self.branches.schedule_due(tick, received_at_ms);
            driver.collect(&mut self.pending);
            // Commands for a branch go to it; for a run not (or no longer) live, answered now.
            let misrouted = self.branches.route(&mut self.pending, tick);
            // Commands may already wait (a hook's, a checkpoint's): ours follow them.
            let ours = self.simulation.waiting().len();
            for p in &self.pending {
                self.simulation.submit(p.command.clone());
            }
            let outcome = match next {
                Next::Tick => {
                    self.simulation.set_capture(wanted(sinks, tick));
                    Some(self.branches.step(&mut self.simulation)?)
                }
                _ => {
                    self.branches.idle();
                    None
                }
            };
            let responses = match &outcome {
                Some(o) => o.responses.clone(),
                None => self.simulation.idle(),
            };
            self.audit.clear();
            let n = self.pending.len();
            let mut pending = self.pending.drain(..);
            for (i, (command, response)) in self.simulation.last_applied().iter().zip(responses).enumerate() {
                let entry = match (ours..ours + n).contains(&i).then(|| pending.next()).flatten() {
                    Some(p) => {
                        if let Some(reply) = p.reply {
                            reply.send(response.clone());
                        }
                        AuditEntry { command: p.command, received_at_ms: p.received_at_ms, source: p.source, response }
                    }
                    None => {
                        AuditEntry { command: command.clone(), received_at_ms, source: ENGINE_SOURCE.into(), response }
                    }
                };
                self.audit.push(entry);
            }
            drop(pending);
            self.audit.extend(misrouted);
            driver.refusals(&mut self.audit);
            // Each branch's sinks see its own cycle first (a paired table reads both).
            self.branches.settle(next == Next::Tick);
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
