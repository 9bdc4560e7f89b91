//! The benchmarks' errors: each says what stopped a measurement, in the words the
//! `watchtower` binary prints before it exits with a failure.

use std::path::PathBuf;

/// The live service's own error (the binary's), kept whole so it prints as it would
/// from `watchtower serve`.
pub type ServeError = Box<dyn std::error::Error + Send + Sync>;

/// Why a benchmark stopped before its report.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A preset or `--set` was refused, or the economy cannot be built.
    #[error(transparent)]
    Scenario(#[from] watchtower_runner::ScenarioError),
    /// A measured run stopped: the engine failed or a sink (the store) did.
    #[error(transparent)]
    Run(#[from] watchtower_runner::RunError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] watchtower_store::StoreError),
    /// The live service (observer, fan-out, branches) could not start or stop cleanly;
    /// its own error, as the binary that started it says it.
    #[error(transparent)]
    Serve(ServeError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something the measurement needs did not happen: a thread, the clients' runtime, a
    /// child process's report, the engine's answer to a request.
    #[error("{0}")]
    Harness(String),
}

impl BenchError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BenchError::Io { path: path.into(), source }
    }
}
