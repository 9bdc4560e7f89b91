//! Watchtower's persistence: SQLite in WAL mode that never says "database is locked".
//!
//! - [`connection`]: the one function that configures every connection (DESIGN.md §5).
//! - [`schema`]: versioned migrations: `runs`, `ticks`, `agent_stats`, `commands`.
//! - [`writer`]: the single writer thread that owns the only write connection.
//! - [`history`]: the read-only pool for history queries; [`probe`](mod@probe): a read-only look at a
//!   file before a pool opens it (ours? this schema version?).
//! - [`export`]: ticks as CSV or JSON lines.
//! - [`checkpoints`]: the engine's state at a tick, zstd-compressed, with retention.
//! - [`retention`]: `--keep-ticks`: older per-tick rows thinned, on the writer thread.
//! - [`experiments`]: experiments and their runs' summaries.
//! - [`files`]: the data directory's file names, and how to recognise a store's file anywhere.
//! - [`lock`]: the data directory's lock (`simulation.lock`), one writer per directory.
//! - [`outputs`]: the one policy for files a command writes (never a store's file, never
//!   half a file, never an existing file without `--force`).
//!
//! The store knows the protocol crate and nothing else of ours. The caller of
//! [`Writer::start`] must hold the data directory's [`DirLock`].

pub mod checkpoints;
pub mod connection;
pub mod experiments;
pub mod export;
pub mod files;
pub mod history;
pub mod lock;
pub mod outputs;
pub mod probe;
pub mod retention;
pub mod schema;
pub mod writer;

use std::path::PathBuf;

pub use checkpoints::CheckpointInfo;
pub use experiments::{ExperimentDetail, ExperimentPage, ExperimentRow, NewExperiment, StoredSummary, SummaryRow};
pub use export::{Format, TickWriter};
pub use history::{AuditRow, History, RunRow, TickRow};
pub use lock::{DirLock, LockError};
pub use outputs::{Output, OutputError};
pub use probe::{ProbeError, probe, quick_check};
pub use retention::{Retention, Thinned};
pub use writer::{
    Lineage, RecordSender, RunInfo, RunPlan, RunStatus, RunWriter, Store, StoreHandle, Writer, WriterOptions,
    WriterReport,
};

pub use files::{DATABASE_FILE, LOCK_FILE};

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened as a SQLite database.
    #[error("cannot open {path} as a SQLite database: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The file is a SQLite database, but not Watchtower's; it was not touched.
    #[error("{path} is not a Watchtower database (it holds another application's tables); refusing to write to it")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// No database where one was expected.
    #[error("no Watchtower database at {path}")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The schema could not be brought up to date (for example, a newer Watchtower made it).
    #[error("cannot migrate {path}: {source}")]
    Migration {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite_migration::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The read pool could not provide a connection.
    #[error("read pool for {}: {message}", path.display())]
    Pool {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The writer thread has stopped (its own error was reported when it stopped).
    #[error("the store's writer has stopped")]
    WriterGone,
    /// A file or thread could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A checkpoint could not be compressed or read back.
    #[error("{0}")]
    Checkpoint(String),
    /// The run cannot be resumed or changed as asked (it is not in the database, say).
    #[error("{0}")]
    Run(String),
    /// Writing an export failed.
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

impl StoreError {
    /// A database at `path` that could not be opened or read: the error names the file.
    pub fn open(path: &std::path::Path, source: rusqlite::Error) -> Self {
        StoreError::Open { path: path.to_path_buf(), source }
    }
}
