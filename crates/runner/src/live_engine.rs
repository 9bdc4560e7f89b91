//! The live engine of `watchtower serve`: its own OS thread, genesis (or a resumed run's
//! rebuilt state) first, then the live loop ([`Live`] driving, [`Publisher`] and the
//! store's sinks), until a stop, its tick target, an engine error or a panic.
//!
//! Whatever ends it ends the service. A failure (genesis refused, an engine error, a
//! panic, in genesis or in a tick) is published to the bridge at once, so the health
//! checks fail instead of vouching for a frozen economy, and a stop is requested, so
//! the service does not wait for an engine that never comes. The thread hands back an
//! [`EngineExit`]: the ticks run, the failure, and the answers still to be recorded.
//!
//! The app starts it beside the server and never sees an engine type; the server reads
//! and steers it through the [`Bridge`] only.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info};
use watchtower_bridge::{Bridge, Envelope, LiveRun};
use watchtower_engine::{EngineError, Registry, RunSpec, Simulation};
use watchtower_protocol::{AuditEntry, GodCommand};
use watchtower_store::{RunStatus, RunWriter, StoreError};

use crate::checkpoints::{CheckpointOptions, Checkpointer};
use crate::embedding::FeatureTap;
use crate::live::{Live, TICK_RATE};
use crate::live_branches::LiveBranches;
use crate::publisher::Publisher;
use crate::resume::Rebuilt;
use crate::schedule::Schedule;
use crate::session::{RunError, Session, Stop};
use crate::sink::{Recorder, Sink};
use crate::workers::Pool;

/// Why the live engine ended other than by a stop or its tick target.
#[derive(Debug, thiserror::Error)]
pub enum EngineFailure {
    /// Genesis refused to build the economy.
    #[error("the engine stopped: {0}")]
    Genesis(EngineError),
    /// The loop stopped: the engine failed, or a sink (the store) did.
    #[error(transparent)]
    Run(RunError),
    /// The engine's thread panicked: a bug, reported with its message.
    #[error("the engine thread panicked: {0}")]
    Panicked(String),
}

/// What a panic said.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Where the live engine starts.
pub enum Start {
    /// A new run from genesis, with its schedule. Genesis runs on the engine's thread,
    /// where its failure or panic is caught.
    Genesis(RunSpec, Registry, Schedule),
    /// A run resumed where its stored ticks end ([`crate::resume`]).
    Resumed(Box<Rebuilt>),
}

/// Everything the live engine is started with.
pub struct LiveEngine {
    /// Where it starts.
    pub start: Start,
    /// Its way to the server.
    pub bridge: Bridge,
    /// Asks it to stop; it asks for it too when it ends.
    pub stop: Stop,
    /// Ticks to run to; `None`: until stopped (a resumed run: the target it was started
    /// with).
    pub ticks: Option<u64>,
    /// For a resumed run, a new pace (ticks per second): the run's pace is its own, so a
    /// new one is a command, audited. A new run's pace is in its scenario.
    pub tick_rate: Option<f64>,
    /// The store's way in for the main run; `None`: nothing is recorded.
    pub recording: Option<RunWriter>,
    /// The main run's checkpoints, if taken.
    pub checkpointer: Option<Checkpointer>,
    /// When the branches' checkpoints are taken, if recorded.
    pub checkpoints: Option<CheckpointOptions>,
    /// The embedding map's sink, if the map is computed.
    pub tap: Option<FeatureTap>,
    /// Runs effect forecasts asked for through the bridge (none: they are refused).
    pub forecaster: Option<Box<dyn crate::forecast::Forecaster>>,
}

/// How the engine thread ended.
pub struct EngineExit {
    /// The tick it reached.
    pub ticks: u64,
    /// Why it ended, if not by a stop request or its tick target.
    pub failure: Option<EngineFailure>,
    /// Answers given after the loop (commands refused at shutdown), still to be recorded.
    audit: Vec<AuditEntry>,
    /// The store's sink, handed back so the last answers can follow the ticks.
    recorder: Option<Recorder>,
}

impl EngineExit {
    fn failed(failure: EngineFailure, recorder: Option<Recorder>) -> Self {
        Self { ticks: 0, failure: Some(failure), audit: Vec::new(), recorder }
    }

    /// Records the answers given after the loop, after every tick; `None`: nothing is
    /// recorded (no store).
    pub fn record_audit(&mut self) -> Option<Result<(), StoreError>> {
        let audit = std::mem::take(&mut self.audit);
        self.recorder.take().map(|r| r.record_audit(audit))
    }
}

/// The running engine thread.
pub struct EngineThread {
    thread: std::thread::JoinHandle<EngineExit>,
    bridge: Bridge,
}

impl EngineThread {
    /// Waits for the thread (after a stop), then takes the answers given at the bridge's
    /// door since the loop ended, to be recorded with the rest.
    pub fn join(self) -> EngineExit {
        let mut exit = self
            .thread
            .join()
            .unwrap_or_else(|_| EngineExit::failed(EngineFailure::Panicked("while closing".into()), None));
        exit.audit.extend(self.bridge.audit.drain());
        exit
    }
}

impl LiveEngine {
    /// The main run as the bridge lists it (the branches list theirs beside it).
    fn main_run(&self) -> LiveRun {
        let resumed = match &self.start {
            Start::Resumed(rebuilt) => Some(rebuilt),
            Start::Genesis(..) => None,
        };
        let mut resumed_at = Vec::new();
        if let Some(rebuilt) = resumed {
            resumed_at = rebuilt.run.resumed_at.clone();
            resumed_at.push(rebuilt.tick);
        }
        LiveRun {
            run_id: self.recording.as_ref().map_or(1, RunWriter::run_id),
            main: true,
            parent: resumed.and_then(|r| r.run.parent_run_id),
            fork_tick: resumed.and_then(|r| r.run.fork_tick),
            name: resumed.and_then(|r| r.run.branch_name.clone()),
            changes: Default::default(),
            resumed_at,
            telemetry: Arc::clone(&self.bridge.telemetry),
            registry: Arc::clone(&self.bridge.registry),
        }
    }

    /// Queues a resumed run's new pace, publishes the live runs, and starts the
    /// engine's thread.
    pub fn spawn(self) -> std::io::Result<EngineThread> {
        if let (Some(rate), Start::Resumed(_)) = (self.tick_rate, &self.start) {
            let command = GodCommand { id: "command-line".into(), key: TICK_RATE.into(), value: rate.into() };
            let envelope =
                Envelope { command, received_at_ms: 0, source: "command line".into(), reply: None, run: None };
            let _ = self.bridge.queue.try_send(envelope);
        }
        let main = self.main_run();
        let main_id = main.run_id;
        let branches = LiveBranches::new(
            self.bridge.clone(),
            self.recording.as_ref().map(RunWriter::store),
            main,
            self.checkpoints,
        )
        .with_forecaster(self.forecaster);
        let bridge = self.bridge.clone();
        let (start, schedule, until) = match self.start {
            Start::Genesis(spec, registry, schedule) => (Err((spec, registry)), schedule, self.ticks),
            Start::Resumed(rebuilt) => {
                let until = self.ticks.or(rebuilt.run.tick_target);
                (Ok(rebuilt.simulation), rebuilt.schedule, until)
            }
        };
        let engine = Engine {
            bridge: self.bridge,
            stop: self.stop,
            recorder: self.recording.map(Recorder::new),
            checkpointer: self.checkpointer,
            tap: self.tap,
            until,
            branches,
        };
        let thread = std::thread::Builder::new().name("engine".into()).spawn(move || {
            let started = Instant::now();
            // Genesis can fail, or (a bug) panic: either way the service must know, or it
            // would wait for an engine that never comes.
            let built = std::panic::catch_unwind(AssertUnwindSafe(|| match start {
                Ok(simulation) => Ok(simulation),
                Err((spec, registry)) => Simulation::new(spec, registry),
            }));
            let pool = Pool::machine().ok();
            let mut simulation = match built {
                Ok(Ok(simulation)) => simulation,
                Ok(Err(e)) => return engine.failed(EngineFailure::Genesis(e)),
                Err(panic) => return engine.failed(EngineFailure::Panicked(panic_message(panic.as_ref()))),
            };
            if let Some(pool) = &pool {
                simulation.set_workers(pool.clone());
            }
            info!(elapsed = ?started.elapsed(), "genesis done");
            let mut session = Session::new(simulation, schedule);
            session.branches_mut().set_main_run(main_id);
            if let Some(pool) = pool {
                session.branches_mut().set_workers(pool);
            }
            engine.run(session)
        })?;
        Ok(EngineThread { thread, bridge })
    }
}

/// Everything the engine thread owns besides its session.
struct Engine {
    bridge: Bridge,
    stop: Stop,
    recorder: Option<Recorder>,
    checkpointer: Option<Checkpointer>,
    tap: Option<FeatureTap>,
    until: Option<u64>,
    branches: LiveBranches,
}

impl Engine {
    /// Genesis failed: said to the bridge at once, and the service stopped.
    fn failed(self, failure: EngineFailure) -> EngineExit {
        self.bridge.failure.publish(Arc::new(failure.to_string()));
        self.stop.request();
        EngineExit::failed(failure, self.recorder)
    }

    /// Runs the live loop. Whatever ends it (a stop, the tick target, an engine error,
    /// a panic) ends the service: a failure is published to the bridge at once.
    fn run(mut self, mut session: Session) -> EngineExit {
        let mut live = Live::new(self.bridge.clone(), self.stop.clone()).with_branches(self.branches);
        let mut publisher = Publisher::new(self.bridge.clone());
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut sinks: Vec<&mut dyn Sink> = vec![&mut publisher];
            if let Some(r) = self.recorder.as_mut() {
                sinks.push(r);
            }
            if let Some(c) = self.checkpointer.as_mut() {
                sinks.push(c);
            }
            if let Some(t) = self.tap.as_mut() {
                sinks.push(t);
            }
            session.run(self.until, &mut live, &mut sinks)
        }));
        let failure = match outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(EngineFailure::Run(e)),
            Err(panic) => Some(EngineFailure::Panicked(panic_message(panic.as_ref()))),
        };
        if let Some(e) = &failure {
            error!("{e}");
            self.bridge.failure.publish(Arc::new(e.to_string()));
        }
        self.stop.request();
        // The branches end with the session (their rows stay).
        let status = if failure.is_some() { RunStatus::Interrupted } else { RunStatus::Finished };
        session.branches_mut().close_all(status);
        // The failing cycle's commands, then everything still queued: each answered and
        // recorded.
        let mut audit = session.abandon();
        audit.extend(live.close());
        EngineExit { ticks: session.simulation().tick(), failure, audit, recorder: self.recorder }
    }
}
