//! Checkpoints while a run is recorded: the engine's whole state stored in the database
//! every [`CheckpointOptions::every_ticks`] ticks or [`CheckpointOptions::every`],
//! whichever comes first, so a run killed by a crash, a `kill -9` or a power cut can be
//! resumed ([`crate::resume`]) instead of started again.
//!
//! The engine thread only copies the simulation in memory ([`Simulation::fork`]: a few
//! vectors cloned); encoding, zstd compression and the insert happen on the store's
//! writer thread, after the ticks sent before it, so a stored checkpoint at tick T always
//! has every tick before T stored with it.

use std::time::{Duration, Instant};

use tracing::warn;
use watchtower_engine::Simulation;
use watchtower_engine::checkpoint::FORMAT;
use watchtower_store::{StoreError, StoreHandle, checkpoints};

use crate::session::{Cycle, Finish};
use crate::sink::{Flow, Sink, SinkError};

/// When checkpoints are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// Every this many ticks (0: not by count).
    pub every_ticks: u64,
    /// At least this often while ticks run.
    pub every: Duration,
}

impl Default for CheckpointOptions {
    /// Every 1,000 ticks or 60 s, whichever comes first.
    fn default() -> Self {
        Self { every_ticks: 1_000, every: Duration::from_secs(60) }
    }
}

/// The sink that takes a run's checkpoints.
pub struct Checkpointer {
    store: StoreHandle,
    run_id: i64,
    options: CheckpointOptions,
    last_tick: u64,
    last_at: Instant,
    /// Whether a run stopped early takes a checkpoint where it stopped.
    closing: bool,
    /// Checkpoints handed to the writer so far.
    pub taken: u64,
    /// Time the engine's thread spent taking them (the copy and the hand-over).
    pub spent: Duration,
}

impl Checkpointer {
    /// Checkpoints of run `run_id`, written through `store`, counting from `tick` (the
    /// simulation's tick when the run starts or resumes).
    pub fn new(store: StoreHandle, run_id: i64, options: CheckpointOptions, tick: u64) -> Self {
        Self {
            store,
            run_id,
            options,
            last_tick: tick,
            last_at: Instant::now(),
            closing: false,
            taken: 0,
            spent: Duration::ZERO,
        }
    }

    /// Also takes a checkpoint where a run stopped early (by a signal): the run is left
    /// interrupted, and a resume starts right there, with nothing to re-run. (A served
    /// run that is stopped has finished, and takes none.)
    pub fn closing(mut self) -> Self {
        self.closing = true;
        self
    }

    /// Takes a checkpoint of `simulation` now (at a fork, at a clean stop).
    pub fn take(&mut self, simulation: &Simulation) -> Result<(), StoreError> {
        self.take_with(simulation, false)
    }

    /// Takes a what-if branch's starting checkpoint: its parent's state at the fork,
    /// whose bytes are stored once however many branches start from it
    /// ([`checkpoints::save_shared`]).
    pub fn take_start(&mut self, simulation: &Simulation) -> Result<(), StoreError> {
        self.take_with(simulation, true)
    }

    fn take_with(&mut self, simulation: &Simulation, shared: bool) -> Result<(), StoreError> {
        let started = Instant::now();
        let copy = simulation.fork();
        let (run_id, tick) = (self.run_id, copy.tick());
        self.last_tick = tick;
        self.last_at = Instant::now();
        self.taken += 1;
        let handed = self.store.submit(move |conn| match copy.checkpoint() {
            Ok(raw) if shared => checkpoints::save_shared(conn, run_id, tick, FORMAT, &raw).map(drop),
            Ok(raw) => checkpoints::save(conn, run_id, tick, FORMAT, &raw).map(drop),
            Err(e) => {
                // A state the engine cannot encode is a bug; the run itself is sound.
                warn!(run_id, tick, "checkpoint skipped: {e}");
                Ok(())
            }
        });
        self.spent += started.elapsed();
        handed
    }

    fn due(&self, tick: u64) -> bool {
        let by_count = self.options.every_ticks > 0 && tick.saturating_sub(self.last_tick) >= self.options.every_ticks;
        by_count || self.last_at.elapsed() >= self.options.every
    }
}

impl Sink for Checkpointer {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if cycle.outcome.is_some() && self.due(cycle.simulation.tick()) {
            self.take(cycle.simulation).map_err(|e| SinkError::new("checkpoints", e))?;
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self, end: &Finish<'_>) -> Result<(), SinkError> {
        if self.closing
            && end.stopped_early()
            && let Err(e) = self.take(end.simulation)
        {
            warn!("the closing checkpoint could not be written: {e}");
        }
        Ok(())
    }
}
