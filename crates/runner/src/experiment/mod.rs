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
//! ```
//!
//! The CLI (`watchtower experiment`) and the Python module share these pieces; the CLI
//! adds the store (summaries written through the one writer thread as each run
//! finishes), the progress bar, signals and shards.

pub mod cells;
pub mod execute;
pub mod fan;
pub mod plan;
pub mod plot;
pub mod spec;
pub mod store;
pub mod summary;
pub mod table;

pub use execute::{ExperimentError, NoRecording, Recording, RunEnd, RunRecorder, execute, run_one};
pub use plan::{Plan, PlannedRun, Shard};
pub use spec::{ExperimentSpec, SpecError};
pub use summary::{ArmSummary, RunSummary, Stats, SummarySink};
pub use table::{ExperimentTable, Interval, Merged, PointSummary, TableFormat, merge_shards};
