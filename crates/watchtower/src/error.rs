//! The app's errors: every way a command can fail, each with a message a person can act on.

use std::path::PathBuf;

/// Why `watchtower` stopped with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A preset, config file or `--set` was refused.
    #[error(transparent)]
    Config(#[from] watchtower_engine::ConfigError),
    /// The engine stopped.
    #[error("the engine stopped: {0}")]
    Engine(#[from] watchtower_engine::EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] watchtower_store::StoreError),
    /// Another process holds the data directory.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
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
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
}

impl AppError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AppError::Io { path: path.into(), source }
    }
}
