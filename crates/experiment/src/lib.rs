//! Experiments: a grid of scenarios × seeds, run one per core, each run summarised as
//! it goes; the table is a pure function of the spec, whatever the parallelism, the
//! shard or the interruptions.
//!
//! ```text
//! spec (YAML, checked) ──> Plan: run index -> (grid point, seed, Scenario)
//!                            │
//!        run_one(index) ─────┤  Session::run + SummarySink (+ a fork's branch)
//!                            v
//!        execute(plan, runs, jobs, stop, recording, done) ──> RunSummary, as each finishes
//!                            │
//!                            v
//!        ExperimentTable (sorted by run) ──> CSV | JSON lines | Parquet | Arrow RecordBatch
//!                                       └──> points(): mean and 95% CI per grid point
//!                                       └──> cells: a column over one or two axes (the heat map's)
//!                                       └──> plot(): heat map | line | fan chart (PNG)
//!                                       └──> fan: the fan chart's numbers (the dashboard's)
//!
//! ensemble: one state's futures in pairs (baseline, branch) on common random numbers
//!           ──> a change's effect with its 95% interval, per indicator and per tick
//! ```
//!
//! Stored in a data directory ([`lifecycle`]): created or resumed → the missing runs
//! executed → each summary submitted to the one writer thread as its run finishes →
//! the experiment marked → the writer flushed → the table loaded back; [`report`] says
//! what came out, in words.
//!
//! The CLI (`watchtower experiment`) and the Python module share these pieces; the CLI
//! adds argument parsing, the directory lock, the progress bar, signals and printing.

pub mod calibrate;
pub mod cells;
pub mod design;
pub mod ensemble;
pub mod execute;
pub mod fan;
pub mod lifecycle;
pub mod meta;
pub mod plan;
pub mod plot;
pub mod report;
pub mod sensitivity;
pub mod spec;
pub mod store;
pub mod summary;
pub mod table;

pub use design::{Design, Sobol};
pub use execute::{ExperimentError, NoRecording, Recording, RunEnd, RunRecorder, execute, run_one};
pub use lifecycle::{Finished, Start, Stored};
pub use plan::{Plan, PlannedRun, Shard};
pub use spec::{ExperimentSpec, SpecError};
pub use summary::{ArmSummary, RunSummary, Stats, SummarySink};
pub use table::{ExperimentTable, Interval, Merged, PointSummary, TableFormat, merge_shards};
