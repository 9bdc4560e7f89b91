//! The app's errors: every way a command can fail, each with a message a person can act on.

use std::path::PathBuf;

/// Why `watchtower` stopped with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A preset, config file, schedule or `--set` was refused, or the economy cannot be built.
    #[error(transparent)]
    Scenario(#[from] watchtower_runner::ScenarioError),
    /// The run stopped: the engine failed or a sink (the store, an output file) did.
    #[error(transparent)]
    Run(#[from] watchtower_runner::RunError),
    /// The engine failed outside a run's loop (building a benchmark's economy, say).
    #[error("the engine stopped: {0}")]
    Engine(#[from] watchtower_engine::EngineError),
    /// The engine's thread panicked: a bug, reported with its message.
    #[error("the engine thread panicked: {0}")]
    EnginePanicked(String),
    /// An experiment failed (its spec, a run, its table).
    #[error(transparent)]
    Experiment(#[from] watchtower_experiment::ExperimentError),
    /// An output file was refused or could not be written.
    #[error(transparent)]
    Output(#[from] watchtower_store::OutputError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] watchtower_store::StoreError),
    /// A recorded run cannot be rebuilt.
    #[error(transparent)]
    Replay(#[from] watchtower_runner::replay::ReplayError),
    /// A recorded run cannot be resumed or forked.
    #[error(transparent)]
    Resume(Box<watchtower_runner::resume::ResumeError>),
    /// A benchmark stopped before its report.
    #[error(transparent)]
    Bench(Box<watchtower_bench::BenchError>),
    /// Another process holds the data directory.
    #[error(transparent)]
    Lock(#[from] watchtower_store::LockError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `watchtower replay` found a tick that does not come out as stored.
    #[error("{0}")]
    NotReproducible(String),
    /// Something the program needs from the system could not be had: a thread, the
    /// async runtime, a port, signal handlers, random bytes for the token.
    #[error("{0}")]
    Startup(String),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
}

impl From<watchtower_runner::resume::ResumeError> for AppError {
    fn from(e: watchtower_runner::resume::ResumeError) -> Self {
        AppError::Resume(Box::new(e))
    }
}

impl From<watchtower_bench::BenchError> for AppError {
    fn from(e: watchtower_bench::BenchError) -> Self {
        AppError::Bench(Box::new(e))
    }
}

impl From<watchtower_runner::live_engine::EngineFailure> for AppError {
    fn from(e: watchtower_runner::live_engine::EngineFailure) -> Self {
        use watchtower_runner::live_engine::EngineFailure;
        match e {
            EngineFailure::Genesis(e) => AppError::Engine(e),
            EngineFailure::Run(e) => AppError::Run(e),
            EngineFailure::Panicked(message) => AppError::EnginePanicked(message),
        }
    }
}

impl AppError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AppError::Io { path: path.into(), source }
    }
}
