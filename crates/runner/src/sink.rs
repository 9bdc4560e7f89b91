//! Sinks: what the tick loop hands each settled cycle to.
//!
//! The loop knows nothing of its consumers (as ripgrep's searcher knows nothing of what
//! its `Sink` does with a match): the store writer, the telemetry publisher, a progress
//! bar, a CSV/JSONL file, a run report, a replay's comparison and an experiment's
//! streaming summary are all sinks. A sink must not hold the loop up: a slow consumer
//! drops or batches, as the telemetry slot and the store's bounded channel do.
//!
//! At the end of every [`Session::run`](crate::Session::run), however it ended, each sink
//! is told so through [`Sink::finish`] (as grep-searcher's `Sink::finish`): a file
//! flushes, a progress bar clears, the checkpointer of a run stopped early takes the
//! checkpoint a resume starts from. What a caller reads after the run (a report, a
//! summary) it reads from the sink itself once `run` returns.

use std::io::Write;

use watchtower_engine::Capture;
use watchtower_protocol::{AuditEntry, TickRecord};
use watchtower_store::{RecordSender, StoreError, TickWriter};

use crate::cycle::{Cycle, Finish};
pub use crate::cycle::{Flow, SinkError};

impl SinkError {
    /// A failure of `sink`.
    pub fn new(sink: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { sink, source: source.into() }
    }
}

/// A consumer of settled cycles.
pub trait Sink {
    /// After every cycle: a tick that settled (its telemetry) or an idle cycle, with the
    /// commands answered in it.
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError>;

    /// What this sink reads of each tick's telemetry: by default everything. The session
    /// has the engine capture the union of its sinks' needs, so an indicator no sink
    /// reads (a Gini coefficient, the distributions) is not computed; a sink that says it
    /// needs less must read nothing else (what was not captured is 0 or empty).
    fn needs(&self) -> Capture {
        Capture::FULL
    }

    /// What this sink reads of the telemetry of tick `tick` (the tick about to run): by
    /// default [`needs`](Sink::needs), the same every tick. A sink that reads some ticks
    /// only (an experiment's summary reads nothing before its warm-up ends) says so here,
    /// so that those ticks skip the statistics; it must read nothing else of them.
    fn needs_at(&self, _tick: u64) -> Capture {
        self.needs()
    }

    /// At the end of every [`Session::run`](crate::Session::run), whatever ended it (the
    /// target, a stop, a sink, an error), after the last cycle: flush, close, report.
    /// Every sink is finished even if one fails; the run's own error comes first, then
    /// the first sink's that failed here. By default nothing.
    fn finish(&mut self, _end: &Finish<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Every tick's indicators into a CSV or JSON-lines file (`run --out`).
pub struct TickFile<W: Write> {
    writer: TickWriter<W>,
}

impl<W: Write> TickFile<W> {
    /// A sink writing through `writer`.
    pub fn new(writer: TickWriter<W>) -> Self {
        Self { writer }
    }
}

impl<W: Write> Sink for TickFile<W> {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            let t = &outcome.telemetry;
            self.writer.write(t.tick, t.indicators.reported()).map_err(|e| SinkError::new("tick file", e))?;
        }
        Ok(Flow::Continue)
    }

    /// Every indicator, no distribution: the file holds the indicators only.
    fn needs(&self) -> Capture {
        Capture::INDICATORS
    }

    /// Flushes the file.
    fn finish(&mut self, _end: &Finish<'_>) -> Result<(), SinkError> {
        self.writer.flush().map_err(|e| SinkError::new("tick file", e))
    }
}

/// Every tick and every answered command into the store, through its writer thread.
pub struct Recorder {
    sender: RecordSender,
}

impl Recorder {
    /// A sink sending to the store's writer.
    pub fn new(sender: RecordSender) -> Self {
        Self { sender }
    }

    /// Records answers given outside a cycle (commands refused at shutdown).
    pub fn record_audit(&self, audit: Vec<AuditEntry>) -> Result<(), StoreError> {
        if audit.is_empty() {
            return Ok(());
        }
        self.sender.send(TickRecord { telemetry: None, audit })
    }
}

impl Sink for Recorder {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        let telemetry = cycle.outcome.map(|o| std::sync::Arc::clone(&o.telemetry));
        if telemetry.is_none() && cycle.audit.is_empty() {
            return Ok(Flow::Continue);
        }
        // Waits only if the writer is far behind: a tick is never dropped.
        self.sender
            .send(TickRecord { telemetry, audit: cycle.audit.to_vec() })
            .map_err(|e| SinkError::new("store", e))?;
        Ok(Flow::Continue)
    }
}
