//! `watchtower run`: the economy headless, as fast as it goes, every tick persisted and
//! its state checkpointed; `--resume` continues an interrupted run where it stopped,
//! `--fork-of` runs a what-if from a recorded run instead ([`crate::whatif`], which
//! `dispatch` calls for it).

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use watchtower_runner::checkpoints::Checkpointer;
use watchtower_runner::progress::Progress;
use watchtower_runner::resume::{Resumable, Resumed};
use watchtower_runner::scenario::tick_metadata;
use watchtower_runner::sink::{Recorder, TickFile};
use watchtower_runner::workers::Pool;
use watchtower_runner::{Headless, RunError, RunReport, Session, Sink, Stop};
use watchtower_store::{Format, RunStatus, TickWriter, Writer};

use crate::error::AppError;
use crate::settings::{CheckpointArgs, DataDirArg, EconomyArgs};
use watchtower_store::DirLock;
use watchtower_store::outputs::{Output, Sidecar};

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
    /// With --fork-of: run S pairs instead of one, each baseline and branch re-seeded
    /// alike at the fork (common random numbers), and print each indicator's effect with
    /// its 95% interval across the pairs; --out gets the per-tick mean effect and band.
    #[arg(long, value_name = "S", requires = "fork_of")]
    pub seeds: Option<usize>,
    /// With --seeds: pairs run at once, one per thread (default: every core). The numbers
    /// are the same for any value.
    #[arg(long, value_name = "N", requires = "seeds")]
    pub jobs: Option<usize>,
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

/// Runs the economy for `--ticks` ticks (or until SIGINT/SIGTERM), or resumes a run
/// (`--fork-of` is [`crate::whatif::fork_of`]'s, which `dispatch` calls instead).
pub fn run(args: RunArgs, stop: &Stop) -> Result<(), AppError> {
    if args.resume.is_some() && !args.no_store {
        args.data.to_resume()?;
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
    let checkpoints = args.checkpoints.options()?;
    let writer_options = args.checkpoints.writer_options()?;
    let mut out = match &args.out {
        Some(path) => {
            let format = out_format(&args, path)?;
            let output = Output::create(path, &args.data.data_dir, args.force)?;
            // A CSV carries no units: its sidecar (FILE.csv.json) says them.
            let sidecar =
                (format == Format::Csv).then(|| Sidecar::create(path, &args.data.data_dir, args.force)).transpose()?;
            Some((TickFile::new(TickWriter::new(BufWriter::new(output.file()?), format)), output, sidecar))
        }
        None => None,
    };
    // The lock first: a second instance must fail before it opens any database connection.
    if args.no_store && args.resume.is_some() {
        return Err(AppError::Usage("--resume continues a stored run: it cannot be --no-store".into()));
    }
    let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
    let (model, target, writer, mut simulation, schedule, checkpointer) = match (args.resume, fresh) {
        (Some(explicit), _) => {
            let resumable = Resumable::find(&args.data.database(), explicit)?;
            let target = args.ticks.or(resumable.run.tick_target).ok_or_else(|| {
                AppError::Usage(format!("run {} has no tick target (it was served): say --ticks N", resumable.run.id))
            })?;
            let rebuilt = resumable.rebuild(stop)?;
            // A target it has passed would end it for good, over no tick at all (checked
            // on the rebuilt tick, before anything is written).
            if target < rebuilt.tick {
                return Err(AppError::Usage(format!(
                    "run {} has reached tick {}: --ticks {target} is below it and would end the run for good over \
                     no tick (--ticks is the run's whole tick target, not ticks to add); nothing was changed",
                    rebuilt.run.id, rebuilt.tick
                )));
            }
            for damaged in &rebuilt.damaged {
                eprintln!("Warning: run {}: {damaged}; passed over for an older one", rebuilt.run.id);
            }
            eprintln!(
                "Resuming run {} at tick {} ({}; {} stored ticks re-run and found identical)",
                rebuilt.run.id,
                rebuilt.tick,
                rebuilt
                    .checkpoint
                    .map_or("no checkpoint: re-run from genesis".into(), |c| format!("checkpoint at tick {c}")),
                rebuilt.verified
            );
            let Resumed { rebuilt, writer, checkpointer } =
                rebuilt.resume(&args.data.database(), checkpoints, writer_options)?;
            (rebuilt.scenario.model, target, Some(writer), rebuilt.simulation, rebuilt.schedule, checkpointer)
        }
        (None, fresh) => {
            let ticks = args.ticks.expect("clap requires --ticks without --resume");
            let (scenario, registry) = fresh.expect("checked above");
            let writer = match lock {
                Some(_) => Some(Writer::start_planned(
                    &args.data.database(),
                    &scenario.run_info(&registry),
                    &scenario.plan(Some(ticks)),
                    writer_options,
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
            let checkpointer = match (&writer, checkpoints) {
                (Some(w), Some(options)) => Some(Checkpointer::new(w.store().handle(), w.run_id(), options, 0)),
                _ => None,
            };
            (scenario.model, ticks, writer, simulation, scenario.schedule.clone(), checkpointer)
        }
    };
    simulation.set_workers(Pool::machine().map_err(|e| AppError::Startup(format!("cannot start threads: {e}")))?);

    let first = simulation.tick();
    let mut recorder = writer.as_ref().map(|w| Recorder::new(w.sender()));
    // Stopped early by a signal, the run is left interrupted: its last checkpoint is
    // taken where it stopped, so a resume starts right there, with nothing to re-run.
    let mut checkpointer = checkpointer.map(Checkpointer::closing);
    let mut progress = Progress::new(target, model);
    let mut report = RunReport::new(model, target);
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut progress, &mut report];
    if let Some(r) = recorder.as_mut() {
        sinks.push(r);
    }
    // After the recorder: a checkpoint at tick T is written after every tick before T.
    if let Some(c) = checkpointer.as_mut() {
        sinks.push(c);
    }
    if let Some((o, _, _)) = out.as_mut() {
        sinks.push(o);
    }
    let metadata = tick_metadata(simulation.spec(), simulation.registry());
    let mut session = Session::new(simulation, schedule);
    let started = Instant::now();
    // Every sink is finished when it returns: the bar cleared, the files flushed.
    let result = session.run(Some(target), &mut Headless::until_stopped(stop.clone()), &mut sinks);
    let elapsed = started.elapsed();
    let reached = session.simulation().tick();
    let ran = reached - first;

    let (status, error) = match &result {
        Err(RunError::Engine(e)) => (RunStatus::Failed, Some(e.to_string())),
        // A sink failed: the store's writer reports its own error when it finishes.
        Err(RunError::Sink(e)) => (RunStatus::Failed, Some(e.to_string())),
        Ok(_) if reached < target => (RunStatus::Interrupted, None),
        Ok(_) => (RunStatus::Finished, None),
    };
    let stored = match writer {
        Some(w) => Some(w.finish(status, error)?),
        None => None,
    };
    // Only a run that ended well (to its target, or stopped by a signal) puts its table
    // in place (the session has flushed it); a failed one leaves no half table behind.
    if let (Some((_, output, sidecar)), Ok(_)) = (out, &result) {
        output.commit()?;
        if let Some(sidecar) = sidecar {
            sidecar.commit(&metadata)?;
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
