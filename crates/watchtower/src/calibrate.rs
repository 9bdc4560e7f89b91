//! `watchtower calibrate SPEC.yaml`: estimate free parameters by the method of
//! simulated moments, stored and resumable like an experiment; argument parsing,
//! wiring and printing only (the engine of it is `watchtower_experiment::calibrate`).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use watchtower_experiment::calibrate::lifecycle::{Start, Stored};
use watchtower_experiment::calibrate::{CalibrationSpec, report, store as stored, table};
use watchtower_experiment::{ExperimentError, TableFormat};
use watchtower_runner::Stop;
use watchtower_runner::progress::RunsProgress;
use watchtower_store::{DirLock, History, RunStatus};

use crate::error::AppError;
use crate::experiment::{JOBS_PER_CORE, check_outputs};
use crate::settings::DataDirArg;
use watchtower_store::outputs::Output;

/// Arguments of `watchtower calibrate`.
#[derive(Debug, Clone, Args)]
pub struct CalibrateArgs {
    /// The spec: a YAML file (see experiments/calibrate-*.yaml and docs/CALIBRATION.md).
    #[arg(value_name = "SPEC.yaml", required_unless_present = "resume")]
    pub spec: Option<PathBuf>,
    /// Simulations at once, one per thread (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Change the spec: a top-level key (ticks=500, firms=100, ...) or a setting of every
    /// run (bank.policy_rate=0.01).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue calibration ID: its stored evaluations are replayed, the rest simulated.
    #[arg(long, value_name = "ID", conflicts_with_all = ["spec", "set"])]
    pub resume: Option<i64>,
    /// Write every simulation (evaluation, kind, seed, parameters, moments, loss) to
    /// FILE: .csv, .jsonl or .parquet.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw the fit (PNG): each moment against its target with its interval, the loss
    /// over evaluations and the search in parameter space.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object: estimates, std_errors, intervals (90%), simulations,
    /// moments [{name, target, model, se, t}], j_test, warnings.
    #[arg(long)]
    pub json: bool,
    /// Replace --out and --plot if they exist (without it, an existing file is refused).
    #[arg(long)]
    pub force: bool,
}

/// Prints a status line unless stdout is the JSON's.
macro_rules! note {
    ($json:expr, $($arg:tt)*) => {{
        if $json { eprintln!($($arg)*) } else { say!($($arg)*) }
    }};
}

/// Runs `watchtower calibrate`.
pub fn calibrate(args: CalibrateArgs, stop: &Stop) -> Result<(), AppError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores);
    if jobs == 0 || jobs > JOBS_PER_CORE * cores {
        return Err(AppError::Usage(format!(
            "--jobs {jobs}: between 1 and {JOBS_PER_CORE} × the {cores} cores here, {}",
            JOBS_PER_CORE * cores
        )));
    }
    let format = match &args.out {
        Some(out) => Some(
            TableFormat::from_path(out)
                .ok_or_else(|| AppError::Usage(format!("--out {}: name it .csv, .jsonl or .parquet", out.display())))?,
        ),
        None => None,
    };
    check_outputs(args.out.as_deref(), args.plot.as_deref(), &args.data.data_dir, args.force)?;
    let start = match (&args.spec, args.resume) {
        (Some(path), None) => {
            let text = watchtower_runner::scenario::read_yaml(path)?;
            let spec =
                CalibrationSpec::parse(&text, &path.display().to_string(), &args.set).map_err(ExperimentError::from)?;
            watchtower_experiment::calibrate::search::Allocation::of(&spec).map_err(AppError::Usage)?;
            if let watchtower_experiment::calibrate::spec::Target::Data(d) = &spec.target {
                d.load().map_err(AppError::Usage)?;
            }
            Start::New(Box::new(spec))
        }
        _ => {
            args.data.to_resume()?;
            Start::Resume(args.resume.expect("clap: spec or resume"))
        }
    };
    let _lock = DirLock::acquire(&args.data.data_dir)?;
    let database = args.data.database();
    let stored_calibration = Stored::open(&database, start)?;
    let id = stored_calibration.id();
    let spec = stored_calibration.spec().clone();
    note!(
        args.json,
        "calibration {id} `{}`: {} free parameter(s), {} moments, {} seeds a point, at most {} simulations ({} stored) on {jobs} thread{}; {}",
        spec.base.name,
        spec.free.len(),
        spec.moments.len(),
        spec.ensemble,
        spec.budget,
        stored_calibration.stored_simulations(),
        if jobs == 1 { "" } else { "s" },
        database.display()
    );
    let mut progress = RunsProgress::new(spec.budget, stored_calibration.stored_simulations());
    let finished = stored_calibration.run(jobs, stop, |p| {
        let best = if p.best.is_finite() { format!("best loss {:.4}", p.best) } else { "no loss yet".into() };
        progress.set(p.simulations, &format!("{} evaluations, {best}", p.evaluations))
    });
    progress.finish();
    let finished = finished?;
    note!(
        args.json,
        "calibration {id} {}: this process ran {} simulations in {:.1} s",
        finished.status.as_str(),
        finished.ran,
        finished.elapsed.as_secs_f64()
    );
    match finished.status {
        RunStatus::Interrupted => {
            note!(args.json, "interrupted: evaluations are kept; continue with `watchtower calibrate --resume {id}`");
            return Ok(());
        }
        RunStatus::Failed => {
            return Err(AppError::Usage(format!("calibration {id} failed: {}", finished.error.unwrap_or_default())));
        }
        _ => {}
    }
    let outcome = finished.outcome.expect("a finished calibration has its outcome");
    if args.json {
        let json = report::to_json(id, &spec, &outcome);
        say!("{}", serde_json::to_string_pretty(&json).expect("JSON serialises"));
    } else {
        let _ = std::io::stdout().write_all(report::text(&spec, &outcome).as_bytes());
    }
    if let (Some(out), Some(format)) = (&args.out, format) {
        let history = History::open(&database, 1)?;
        let loaded = stored::load(&history, id)?.expect("the calibration just stored");
        let output = Output::create(out, &args.data.data_dir, args.force)?;
        table::write(&spec, &loaded.rows, &output.file()?, format)?;
        output.commit()?;
        note!(args.json, "simulations written to {}", out.display());
    }
    if let Some(png) = &args.plot {
        let output = Output::create(png, &args.data.data_dir, args.force)?;
        watchtower_experiment::calibrate::plot::draw(&spec, &outcome, output.path())?;
        output.commit()?;
        note!(args.json, "picture of the fit written to {}", png.display());
    }
    Ok(())
}
