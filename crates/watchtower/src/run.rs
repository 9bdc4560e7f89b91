//! `watchtower run`: the economy headless, as fast as it goes, every tick persisted and
//! its state checkpointed; `--resume` continues an interrupted run where it stopped,
//! `--fork-of` runs a what-if from a recorded run (see [`crate::whatif`]).

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use watchtower_runner::checkpoints::Checkpointer;
use watchtower_runner::progress::Progress;
use watchtower_runner::resume::{find_resumable, rebuild};
use watchtower_runner::sink::{Recorder, TickFile};
use watchtower_runner::workers::Pool;
use watchtower_runner::{Headless, RunError, RunReport, Session, Sink, Stop};
use watchtower_store::{Format, History, RunStatus, TickWriter, Writer, WriterOptions};

use crate::error::AppError;
use crate::lock::DirLock;
use crate::outputs::Output;
use crate::settings::{CheckpointArgs, DataDirArg, EconomyArgs};

/// Arguments of `watchtower run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The economy.
    #[command(flatten)]
    pub economy: EconomyArgs,
    /// Ticks to run (with --resume: the tick target, default the one the run was started
    /// with; with --fork-of: ticks after the fork).
    #[arg(long, required_unless_present = "resume")]
    pub ticks: Option<u64>,
    /// Continue an interrupted run (default: the newest run, if it was interrupted) from
    /// its latest checkpoint, to its tick target, as the same run.
    #[arg(long, value_name = "RUN", num_args = 0..=1, conflicts_with = "fork_of")]
    pub resume: Option<Option<i64>>,
    /// What-if: copy recorded run RUN at tick --at, change the --set settings in the copy,
    /// and run baseline and branch side by side for --ticks ticks; writes the paired table
    /// (baseline, branch, difference per tick) to --out or stdout. Writes nothing to the
    /// database.
    #[arg(long, value_name = "RUN", requires = "at")]
    pub fork_of: Option<i64>,
    /// The tick of --fork-of's copy: its state before that tick runs.
    #[arg(long, value_name = "TICK", requires = "fork_of")]
    pub at: Option<u64>,
    /// Checkpoints.
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Do not persist: the engine alone (for comparisons and quick experiments).
    #[arg(long)]
    pub no_store: bool,
    /// Also write every tick's indicators to FILE (.csv, or .jsonl for JSON lines).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the output file if it exists (without it, an existing file is refused).
    #[arg(long)]
    pub force: bool,
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

/// The `--out` file, if asked for.
pub(crate) fn out_format(args: &RunArgs, path: &std::path::Path) -> Result<Format, AppError> {
    args.format
        .map(Format::from)
        .or_else(|| Format::from_path(path))
        .ok_or_else(|| AppError::Usage(format!("--out {}: say --format csv or jsonl", path.display())))
}

/// Runs the economy for `--ticks` ticks (or until SIGINT/SIGTERM); or resumes a run, or
/// runs a what-if from one.
pub fn run(args: RunArgs, stop: &Stop) -> Result<(), AppError> {
    if args.fork_of.is_some() {
        return crate::whatif::fork_of(&args, stop);
    }
    // Settings are checked before anything is created.
    let fresh = match args.resume {
        None => {
            let scenario = args.economy.scenario()?;
            let registry = scenario.registry()?;
            Some((scenario, registry))
        }
        Some(_) => None,
    };
    let mut out = match &args.out {
        Some(path) => {
            let format = out_format(&args, path)?;
            let output = Output::create(path, &args.data.data_dir, args.force)?;
            Some((TickFile::new(TickWriter::new(BufWriter::new(output.file()?), format)), output))
        }
        None => None,
    };
    // The lock first: a second instance must fail before it opens any database connection.
    if args.no_store && args.resume.is_some() {
        return Err(AppError::Usage("--resume continues a stored run: it cannot be --no-store".into()));
    }
    let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
    let (model, target, writer, mut simulation, schedule, first) = match (args.resume, fresh) {
        (Some(explicit), _) => {
            let db = args.data.database();
            if !db.exists() {
                return Err(AppError::Usage(format!("nothing to resume: there is no database at {}", db.display())));
            }
            let history = History::open(&db, 1)?;
            let row = find_resumable(&history, explicit)?;
            let target = args.ticks.or(row.tick_target).ok_or_else(|| {
                AppError::Usage(format!("run {} has no tick target (it was served): say --ticks N", row.id))
            })?;
            let rebuilt = rebuild(&history, row.id, None, stop)?;
            drop(history);
            eprintln!(
                "Resuming run {} at tick {} ({}; {} stored ticks re-run and found identical)",
                row.id,
                rebuilt.tick,
                rebuilt
                    .checkpoint
                    .map_or("no checkpoint: re-run from genesis".into(), |c| format!("checkpoint at tick {c}")),
                rebuilt.verified
            );
            let writer = Writer::resume(&db, row.id, rebuilt.tick, WriterOptions::default())?;
            (rebuilt.scenario.model, target, Some(writer), rebuilt.simulation, rebuilt.schedule, rebuilt.tick)
        }
        (None, fresh) => {
            let ticks = args.ticks.expect("clap requires --ticks without --resume");
            let (scenario, registry) = fresh.expect("checked above");
            let writer = match lock {
                Some(_) => Some(Writer::start_planned(
                    &args.data.database(),
                    &scenario.run_info(&registry),
                    &scenario.plan(Some(ticks)),
                    WriterOptions::default(),
                )?),
                None => None,
            };
            let simulation = match scenario.build() {
                Ok(sim) => sim,
                Err(e) => {
                    if let Some(w) = writer {
                        w.finish(RunStatus::Failed, Some(e.to_string()))?;
                    }
                    return Err(e.into());
                }
            };
            (scenario.model, ticks, writer, simulation, scenario.schedule.clone(), 0)
        }
    };
    simulation.set_workers(Pool::machine().map_err(|e| AppError::Startup(format!("cannot start threads: {e}")))?);

    let mut recorder = writer.as_ref().map(|w| Recorder::new(w.sender()));
    let checkpoints = args.checkpoints.options()?;
    let mut checkpointer = match (&writer, checkpoints) {
        (Some(w), Some(options)) => Some(Checkpointer::new(w.store().handle(), w.run_id(), options, first)),
        _ => None,
    };
    let mut progress = Progress::new(target);
    let mut report = RunReport::new(model);
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut progress, &mut report];
    if let Some(r) = recorder.as_mut() {
        sinks.push(r);
    }
    // After the recorder: a checkpoint at tick T is written after every tick before T.
    if let Some(c) = checkpointer.as_mut() {
        sinks.push(c);
    }
    if let Some((o, _)) = out.as_mut() {
        sinks.push(o);
    }
    let mut session = Session::new(simulation, schedule);
    let started = Instant::now();
    let result = session.run(Some(target), &mut Headless::until_stopped(stop.clone()), &mut sinks);
    drop(sinks);
    let elapsed = started.elapsed();
    let reached = session.simulation().tick();
    let ran = reached - first;
    progress.finish(reached);

    let (status, error) = match &result {
        Err(RunError::Engine(e)) => (RunStatus::Failed, Some(e.to_string())),
        // A sink failed: the store's writer reports its own error when it finishes.
        Err(RunError::Sink(e)) => (RunStatus::Failed, Some(e.to_string())),
        Ok(_) if reached < target => (RunStatus::Interrupted, None),
        Ok(_) => (RunStatus::Finished, None),
    };
    if let (RunStatus::Interrupted, Some(c)) = (status, checkpointer.as_mut()) {
        // Stopped early by a signal: a resume starts right here, with nothing to re-run.
        if let Err(e) = c.take(session.simulation()) {
            tracing::warn!("the closing checkpoint could not be written: {e}");
        }
    }
    drop(recorder);
    let stored = match writer {
        Some(w) => Some(w.finish(status, error)?),
        None => None,
    };
    if let Some((file, output)) = out {
        file.finish()?;
        // Only a run that ended well (to its target, or stopped by a signal) puts its
        // table in place; a failed one leaves no half table behind.
        if result.is_ok() {
            output.commit()?;
        }
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
