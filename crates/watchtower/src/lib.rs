//! `watchtower`: run an agent-based economy tick by tick, watch it live in the browser
//! and steer it.
//!
//! This crate is the only place the parts meet (DESIGN.md §1): it parses the command
//! line, takes the data directory's lock (all but `view`, which only reads), and wires
//! the runner (scenario, tick loop, sinks) to the store and, for `serve`, to the server;
//! then it shuts everything down in order. The benchmarks are a crate of their own
//! (`crates/bench`, `watchtower-bench`): `bench` hands them a way to start a
//! [`serve::Service`] and prints their report. It is a library too, so tests can start a
//! [`serve::Service`] in their own process and talk to it over a real socket.

/// Prints a status line on stdout. A closed stdout (the reader went away) must not turn a
/// clean shutdown into a panic, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod bench;
pub mod calibrate;
pub mod error;
pub mod experiment;
pub mod history;
pub mod listen;
pub mod replay;
pub mod run;
pub mod sensitivity;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod view;
pub mod whatif;

use clap::{Parser, Subcommand};

use crate::error::AppError;

/// Run an agent-based economy tick by tick, watch it live in the browser and steer it.
///
/// Without a subcommand, `watchtower` serves the dashboard (same options as `serve`).
#[derive(Debug, Parser)]
#[command(name = "watchtower", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: serve::ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the dashboard and run the economy live (the default).
    Serve(serve::ServeArgs),
    /// Serve the dashboard read-only over an existing data directory, beside the process
    /// writing it (a running experiment, say): no economy, no lock, no commands.
    View(view::ViewArgs),
    /// Run the economy headless for a number of ticks, persisting every tick.
    Run(run::RunArgs),
    /// List the runs in a data directory.
    Runs(history::RunsArgs),
    /// Write a run's ticks (CSV or JSON lines) or an experiment's table (also Parquet).
    Export(history::ExportArgs),
    /// Run an experiment: a grid of settings × seeds, summarised run by run.
    Experiment(experiment::ExperimentArgs),
    /// Estimate free parameters from moments of data or of a synthetic truth (the method
    /// of simulated moments), with standard errors, 90% intervals and a J test.
    Calibrate(calibrate::CalibrateArgs),
    /// List the experiments (and calibrations) in a data directory.
    Experiments(experiment::ExperimentsArgs),
    /// Which parameter matters: the Sobol indices (first and total order, with 95%
    /// intervals) of a Sobol design's summary columns.
    Sensitivity(sensitivity::SensitivityArgs),
    /// Re-run a recorded run from its seed, parameters and commands, and check that every
    /// tick comes out identical.
    Replay(replay::ReplayArgs),
    /// Measure performance (docs/PERFORMANCE.md).
    Bench(watchtower_bench::BenchArgs),
}

impl Cli {
    /// Whether this command line serves (for the default log level).
    pub fn serves(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve(_) | Command::View(_)))
    }
}

/// Runs the command the line asks for.
pub fn dispatch(cli: Cli) -> Result<(), AppError> {
    let signals = || shutdown::install().map_err(|e| AppError::Startup(format!("cannot install signal handlers: {e}")));
    match cli.command {
        None => serve::serve(cli.serve, &signals()?),
        Some(Command::Serve(args)) => serve::serve(args, &signals()?),
        Some(Command::View(args)) => view::view(args, &signals()?),
        Some(Command::Run(args)) if args.fork_of.is_some() => whatif::fork_of(&args, &signals()?),
        Some(Command::Run(args)) => run::run(args, &signals()?),
        Some(Command::Runs(args)) => history::runs(args),
        Some(Command::Export(args)) => history::export(args),
        Some(Command::Experiment(args)) => experiment::experiment(args, &signals()?),
        Some(Command::Calibrate(args)) => calibrate::calibrate(args, &signals()?),
        Some(Command::Experiments(args)) => experiment::experiments(args),
        Some(Command::Sensitivity(args)) => sensitivity::sensitivity(args),
        Some(Command::Replay(args)) => replay::replay(args),
        Some(Command::Bench(args)) => bench::bench(args),
    }
}
