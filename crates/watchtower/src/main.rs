//! `watchtower`: run an agent-based economy tick by tick, watch it live in the browser
//! and steer it.
//!
//! This binary is the only place the parts meet (DESIGN.md §1): it parses the command
//! line, builds the registry, takes the data directory's lock, wires the engine to the
//! store (and, for `serve`, to the server), and shuts everything down in order.

/// Prints a status line on stdout. A closed stdout (the reader went away) must not turn a
/// clean shutdown into a panic, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod analytics;
mod bench;
mod driver;
mod error;
mod history;
mod lock;
mod outputs;
mod replay;
mod run;
mod serve;
mod settings;
mod shutdown;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::error::AppError;
use crate::shutdown::Shutdown;

/// Run an agent-based economy tick by tick, watch it live in the browser and steer it.
///
/// Without a subcommand, `watchtower` serves the dashboard (same options as `serve`).
#[derive(Debug, Parser)]
#[command(name = "watchtower", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: serve::ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the dashboard and run the economy live (the default).
    Serve(serve::ServeArgs),
    /// Run the economy headless for a number of ticks, persisting every tick.
    Run(run::RunArgs),
    /// List the runs in a data directory.
    Runs(history::RunsArgs),
    /// Write a run's ticks as CSV or JSON lines.
    Export(history::ExportArgs),
    /// Re-run a recorded run from its seed, parameters and commands, and check that every
    /// tick comes out identical.
    Replay(replay::ReplayArgs),
    /// Measure performance (docs/PERFORMANCE.md).
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = match cli.command {
        None | Some(Command::Serve(_)) => "info,hyper=warn,tower=warn,axum=warn",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_env("WATCHTOWER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), AppError> {
    let signals = || Shutdown::install().map_err(|e| AppError::Usage(format!("cannot install signal handlers: {e}")));
    match cli.command {
        None => serve::serve(cli.serve, &signals()?),
        Some(Command::Serve(args)) => serve::serve(args, &signals()?),
        Some(Command::Run(args)) => run::run(args, &signals()?),
        Some(Command::Runs(args)) => history::runs(args),
        Some(Command::Export(args)) => history::export(args),
        Some(Command::Replay(args)) => replay::replay(args),
        Some(Command::Bench(args)) => bench::bench(args),
    }
}
