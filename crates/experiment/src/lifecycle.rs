//! An experiment stored in a data directory, from its start to its table: created (or
//! resumed), its missing runs executed on `jobs` threads with each summary submitted to
//! the one writer thread as its run finishes, the experiment marked, the writer flushed,
//! and the table loaded back from what was written, so a resumed experiment's table is
//! the uninterrupted one's.
//!
//! ```text
//! Stored::open(database, New(spec) | Resume(id))   create or resume; which runs are missing
//!     └─ run(jobs, keep_ticks, stop, on_run)       execute → submit → finish → flush → load
//!            └─ Finished { status, table, ... }    the caller prints, writes, plots
//! ```
//!
//! The caller holds the data directory's lock; this module opens the store itself so
//! the binary and the Python module share one lifecycle.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchtower_runner::Stop;
use watchtower_store::{History, RunStatus, Store, WriterOptions};

use crate::execute::{ExperimentError, NoRecording, Recording, execute};
use crate::plan::Plan;
use crate::spec::ExperimentSpec;
use crate::store::{self as stored, KeepTicks};
use crate::table::ExperimentTable;

/// Where an experiment comes from.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new experiment of this (checked) spec.
    New(Box<ExperimentSpec>),
    /// Experiment `id` of the database, continued: only its missing runs are run.
    Resume(i64),
}

/// An experiment recorded in a store, ready to run the runs it is missing.
pub struct Stored {
    store: Arc<Store>,
    history: History,
    id: i64,
    plan: Plan,
    done: BTreeSet<u64>,
    /// The table stored so far (empty for a new experiment).
    table: ExperimentTable,
    /// Whether it was stored before (and is marked running again when it runs).
    resumed: bool,
}

/// How a stored experiment's execution ended.
pub struct Finished {
    /// The experiment's id.
    pub id: i64,
    /// Finished, or interrupted (finished runs are kept; `Resume` continues it).
    pub status: RunStatus,
    /// The whole table, as stored.
    pub table: ExperimentTable,
    /// The runs this process executed.
    pub ran: usize,
    /// How long they took.
    pub elapsed: Duration,
}

impl Stored {
    /// Opens the database (creating it if needed) and records a new experiment, or finds
    /// the experiment to resume (marked running again only when [`Stored::run`] starts,
    /// so a caller's own checks can still refuse it untouched).
    pub fn open(database: &Path, start: Start) -> Result<Self, ExperimentError> {
        let store = Arc::new(Store::open(database, WriterOptions::default())?);
        let history = History::open(database, 2)?;
        let resumed = matches!(start, Start::Resume(_));
        let (id, plan, table) = match start {
            Start::New(spec) => {
                let plan = Plan::new(*spec);
                (stored::create(&store, &plan)?, plan.clone(), ExperimentTable::new(plan))
            }
            Start::Resume(id) => {
                let loaded = stored::load(&history, id)?
                    .ok_or_else(|| ExperimentError::Other(format!("no experiment {id} in {}", database.display())))?;
                (id, loaded.table.plan().clone(), loaded.table)
            }
        };
        let done = table.summaries().map(|s| s.run).collect();
        Ok(Stored { store, history, id, plan, done, table, resumed })
    }

    /// The experiment's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// What it runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The table stored so far.
    pub fn table(&self) -> &ExperimentTable {
        &self.table
    }

    /// The runs stored already.
    pub fn done(&self) -> u64 {
        self.done.len() as u64
    }

    /// The runs still to run, in order.
    pub fn missing(&self) -> Vec<u64> {
        (0..self.plan.len()).filter(|r| !self.done.contains(r)).collect()
    }

    /// Runs the missing runs on `jobs` threads (also recording each run's ticks with
    /// `keep_ticks`), submits each summary as its run finishes and calls `on_run`, then
    /// marks the experiment finished, interrupted (`stop`) or failed, flushes the writer,
    /// loads the table back and closes the store. An engine or store error is returned
    /// after the experiment has been marked failed.
    pub fn run(
        self,
        jobs: usize,
        keep_ticks: bool,
        stop: &Stop,
        mut on_run: impl FnMut(),
    ) -> Result<Finished, ExperimentError> {
        let missing = self.missing();
        let Stored { store, history, id, plan, resumed, .. } = self;
        if resumed {
            store.call(move |c| watchtower_store::experiments::resume_experiment(c, id))?;
        }
        let rows = ExperimentTable::new(plan.clone());
        let keep = KeepTicks::new(Arc::clone(&store), id);
        let recording: &dyn Recording = if keep_ticks { &keep } else { &NoRecording };
        let started = Instant::now();
        let result = execute(&plan, &missing, jobs, stop, recording, |summary| {
            stored::submit(&store, id, &rows, &summary)?;
            on_run();
            Ok(())
        });
        let elapsed = started.elapsed();
        let (status, error) = match &result {
            Err(e) => (RunStatus::Failed, Some(e.to_string())),
            Ok(x) if x.stopped => (RunStatus::Interrupted, None),
            Ok(_) => (RunStatus::Finished, None),
        };
        stored::finish(&store, id, status, error)?;
        store.flush()?;
        let executed = result?;
        let table = stored::load(&history, id)?
            .ok_or_else(|| ExperimentError::Other(format!("experiment {id} vanished while it ran")))?
            .table;
        drop(history);
        drop(keep);
        match Arc::try_unwrap(store) {
            Ok(store) => store.close()?,
            Err(_) => unreachable!("the pool's threads have ended"),
        }
        Ok(Finished { id, status, table, ran: executed.finished, elapsed })
    }
}
