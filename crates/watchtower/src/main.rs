//! `watchtower`: run an agent-based economy tick by tick, watch it live in the browser
//! and steer it.
//!
//! This binary is the only place the parts meet (DESIGN.md §1): it parses the command
//! line, builds the registry, takes the data directory's lock, wires the engine to the
//! store (and, for `serve`, to the server), and shuts everything down in order.

mod error;
mod history;
mod lock;
mod run;
mod settings;
mod shutdown;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::error::AppError;
use crate::shutdown::Shutdown;

/// Run an agent-based economy tick by tick, watch it live in the browser and steer it.
#[derive(Debug, Parser)]
#[command(name = "watchtower", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the economy headless for a number of ticks, persisting every tick.
    Run(run::RunArgs),
    /// List the runs in a data directory.
    Runs(history::RunsArgs),
    /// Write a run's ticks as CSV or JSON lines.
    Export(history::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("WATCHTOWER_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), AppError> {
    match cli.command {
        Command::Run(args) => {
            let shutdown =
                Shutdown::install().map_err(|e| AppError::Usage(format!("cannot install signal handlers: {e}")))?;
            run::run(args, &shutdown)
        }
        Command::Runs(args) => history::runs(args),
        Command::Export(args) => history::export(args),
    }
}
