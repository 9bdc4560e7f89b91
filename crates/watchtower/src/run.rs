//! `watchtower run`: the economy headless, as fast as it goes, every tick persisted.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use watchtower_runner::progress::Progress;
use watchtower_runner::sink::{Recorder, TickFile};
use watchtower_runner::workers::Pool;
use watchtower_runner::{Headless, RunError, RunReport, Session, Sink, Stop};
use watchtower_store::{Format, RunStatus, TickWriter, Writer, WriterOptions};

use crate::error::AppError;
use crate::lock::DirLock;
use crate::settings::{DataDirArg, EconomyArgs};

/// Arguments of `watchtower run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The economy.
    #[command(flatten)]
    pub economy: EconomyArgs,
    /// Ticks to run.
    #[arg(long)]
    pub ticks: u64,
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Do not persist: the engine alone (for comparisons and quick experiments).
    #[arg(long)]
    pub no_store: bool,
    /// Also write every tick's indicators to FILE (.csv, or .jsonl for JSON lines).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Format of --out when its extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `csv` or `jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Comma-separated, header row first.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => Format::Csv,
            FormatArg::Jsonl => Format::Jsonl,
        }
    }
}

/// Runs the economy for `--ticks` ticks (or until SIGINT/SIGTERM).
pub fn run(args: RunArgs, stop: &Stop) -> Result<(), AppError> {
    let scenario = args.economy.scenario()?;
    let registry = scenario.registry()?;
    let mut out = match &args.out {
        Some(path) => {
            let format = args
                .format
                .map(Format::from)
                .or_else(|| Format::from_path(path))
                .ok_or_else(|| AppError::Usage(format!("--out {}: say --format csv or jsonl", path.display())))?;
            let file = crate::outputs::create(path, &args.data.data_dir)?;
            Some(TickFile::new(TickWriter::new(BufWriter::new(file), format)))
        }
        None => None,
    };
    // The lock first: a second instance must fail before it opens any database connection.
    let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
    let writer = match lock {
        Some(_) => Some(Writer::start(&args.data.database(), &scenario.run_info(&registry), WriterOptions::default())?),
        None => None,
    };
    let mut simulation = match scenario.build() {
        Ok(sim) => sim,
        Err(e) => {
            if let Some(w) = writer {
                w.finish(RunStatus::Failed, Some(e.to_string()))?;
            }
            return Err(e.into());
        }
    };
    simulation.set_workers(Pool::machine().map_err(|e| AppError::Startup(format!("cannot start threads: {e}")))?);

    let mut recorder = writer.as_ref().map(|w| Recorder::new(w.sender()));
    let mut progress = Progress::new(args.ticks);
    let mut report = RunReport::new(scenario.model);
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut progress, &mut report];
    if let Some(r) = recorder.as_mut() {
        sinks.push(r);
    }
    if let Some(o) = out.as_mut() {
        sinks.push(o);
    }
    let mut session = Session::new(simulation, scenario.schedule.clone());
    let started = Instant::now();
    let result = session.run(Some(args.ticks), &mut Headless::until_stopped(stop.clone()), &mut sinks);
    drop(sinks);
    let elapsed = started.elapsed();
    let ran = session.simulation().tick();
    progress.finish(ran);

    let (status, error) = match &result {
        Err(RunError::Engine(e)) => (RunStatus::Failed, Some(e.to_string())),
        // A sink failed: the store's writer reports its own error when it finishes.
        Err(RunError::Sink(e)) => (RunStatus::Failed, Some(e.to_string())),
        Ok(_) if ran < args.ticks => (RunStatus::Interrupted, None),
        Ok(_) => (RunStatus::Finished, None),
    };
    drop(recorder);
    let stored = match writer {
        Some(w) => Some(w.finish(status, error)?),
        None => None,
    };
    if let Some(out) = out {
        out.finish()?;
    }
    drop(lock);

    if args.json {
        say!("{}", report.to_json(ran, elapsed, stored.as_ref().map(|r| r.run_id)));
    } else {
        let place = match &stored {
            Some(r) => format!("run {} in {}", r.run_id, args.data.database().display()),
            None => "not stored (--no-store)".into(),
        };
        say!("{}", report.table(ran, elapsed, status.as_str(), &place, args.out.as_deref()));
    }
    result.map(drop).map_err(AppError::from)
}
