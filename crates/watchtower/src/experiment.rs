//! `watchtower experiment`, `experiment merge`, `experiments` and
//! `export --experiment`: argument parsing and wiring; the engine of it is
//! `watchtower_experiment`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use watchtower_experiment::store as stored;
use watchtower_experiment::{
    ExperimentSpec, ExperimentTable, Finished, NoRecording, Plan, Shard, Start, Stored, TableFormat, execute,
    merge_shards, plot,
};
use watchtower_runner::Stop;
use watchtower_runner::progress::RunsProgress;
use watchtower_store::{History, RunStatus};

use crate::error::AppError;
use crate::settings::DataDirArg;
use watchtower_store::DirLock;
use watchtower_store::outputs::{Output, Sidecar};

/// Arguments of `watchtower experiment`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    command: Option<ExperimentCommand>,
    /// The spec: a YAML file (see experiments/ for examples).
    #[arg(value_name = "SPEC.yaml", required_unless_present = "resume")]
    pub spec: Option<PathBuf>,
    /// Runs at once, one per thread (default: every core; at most 4 × the cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Change the spec: a top-level key (ticks=500, seeds=3, warmup=100, firms=100, ...)
    /// or a setting of every run (bank.policy_rate=0.01).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write the table (one row per run) to FILE: .csv, .jsonl or .parquet.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Format of --out when its extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<TableFormatArg>,
    /// Continue experiment ID: run only the runs it is missing.
    #[arg(long, value_name = "ID", conflicts_with_all = ["spec", "set", "shard"])]
    pub resume: Option<i64>,
    /// Run only the I-th (0-based) of N slices of the runs and write them to --out
    /// (Parquet); no database. For job arrays: --shard $SLURM_ARRAY_TASK_ID/N.
    #[arg(long, value_name = "I/N", conflicts_with = "keep_ticks")]
    pub shard: Option<Shard>,
    /// Also record every run's ticks in the store (as ordinary runs linked to the
    /// experiment): many rows.
    #[arg(long)]
    pub keep_ticks: bool,
    /// Draw a picture (PNG): a heat map over the first two axes, a line over one axis,
    /// or a fan chart over ticks for an ensemble.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// The summary column to draw (default: the first indicator's mean, e.g.
    /// unemployment_rate_mean; `effect_<indicator>` with a fork).
    #[arg(long, value_name = "COLUMN")]
    pub plot_summary: Option<String>,
    /// Replace --out and --plot if they exist (without it, an existing file is refused).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Subcommand)]
enum ExperimentCommand {
    /// Combine shard files (written with --shard) into the table one machine would write.
    Merge(MergeArgs),
}

/// Arguments of `watchtower experiment merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The shard files.
    #[arg(required = true, value_name = "SHARD.parquet")]
    pub files: Vec<PathBuf>,
    /// Write the combined table to FILE (.csv, .jsonl or .parquet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Format of --out when its extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<TableFormatArg>,
    /// Write what there is even if shards are missing.
    #[arg(long)]
    pub allow_missing: bool,
    /// Draw a picture (PNG), as `experiment --plot`.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// The summary column to draw.
    #[arg(long, value_name = "COLUMN")]
    pub plot_summary: Option<String>,
    /// The data directory whose files --out must never overwrite.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Replace --out and --plot if they exist (without it, an existing file is refused).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `watchtower experiments`.
#[derive(Debug, Clone, Args)]
pub struct ExperimentsArgs {
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `csv`, `jsonl` or `parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormatArg {
    /// Comma-separated, header row first.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (zstd).
    Parquet,
}

impl From<TableFormatArg> for TableFormat {
    fn from(f: TableFormatArg) -> Self {
        match f {
            TableFormatArg::Csv => TableFormat::Csv,
            TableFormatArg::Jsonl => TableFormat::Jsonl,
            TableFormatArg::Parquet => TableFormat::Parquet,
        }
    }
}

fn table_format(format: Option<TableFormatArg>, out: &Path) -> Result<TableFormat, AppError> {
    format
        .map(TableFormat::from)
        .or_else(|| TableFormat::from_path(out))
        .ok_or_else(|| AppError::Usage(format!("--out {}: say --format csv, jsonl or parquet", out.display())))
}

/// Writes `table` to `out` through the one policy for output files ([`Output`]).
pub fn write_table(
    table: &ExperimentTable,
    out: &Path,
    format: TableFormat,
    data_dir: &Path,
    force: bool,
) -> Result<(), AppError> {
    let output = Output::create(out, data_dir, force)?;
    // A CSV table carries no units: its sidecar (FILE.csv.json) says them.
    let sidecar = (format == TableFormat::Csv).then(|| Sidecar::create(out, data_dir, force)).transpose()?;
    table.write(&output.file()?, format)?;
    output.commit()?;
    if let Some(sidecar) = sidecar {
        sidecar.commit(&table.metadata())?;
    }
    Ok(())
}

/// Draws `column` of `table` to `png`, through the one policy for output files.
fn draw(table: &ExperimentTable, column: &str, png: &Path, data_dir: &Path, force: bool) -> Result<(), AppError> {
    let output = Output::create(png, data_dir, force)?;
    plot::plot(table, column, output.path())?;
    Ok(output.commit()?)
}

/// Refuses, before any work, the files a command would write at its end: `--out` and
/// `--plot` as [`watchtower_store::outputs::check`] does, and a `--plot` that is not a `.png`.
pub fn check_outputs(out: Option<&Path>, png: Option<&Path>, data_dir: &Path, force: bool) -> Result<(), AppError> {
    if let Some(png) = png
        && !png.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(AppError::Usage(format!("--plot {}: the picture is a PNG; name it FILE.png", png.display())));
    }
    let sidecar = out.filter(|o| TableFormat::from_path(o) == Some(TableFormat::Csv)).map(Sidecar::path);
    for file in [out, png, sidecar.as_deref()].into_iter().flatten() {
        watchtower_store::outputs::check(file, data_dir, force)?;
    }
    Ok(())
}

fn plot_column(table: &ExperimentTable, chosen: &Option<String>) -> Result<String, AppError> {
    Ok(plot::column(table.spec(), chosen.as_deref())?)
}

/// The most jobs per core `--jobs` may ask for.
pub const JOBS_PER_CORE: usize = 4;

/// Runs `watchtower experiment` (or `experiment merge`).
pub fn experiment(args: ExperimentArgs, stop: &Stop) -> Result<(), AppError> {
    if let Some(ExperimentCommand::Merge(m)) = args.command {
        return merge(m);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores);
    if jobs == 0 {
        return Err(AppError::Usage("--jobs must be at least 1".into()));
    }
    // Each job is a thread running a whole economy: far past the cores they only share
    // them (2,000 jobs on 2 cores finished nothing in 20 s) and multiply the memory.
    let most = JOBS_PER_CORE * cores;
    if jobs > most {
        return Err(AppError::Usage(format!(
            "--jobs {jobs} is too many: at most {JOBS_PER_CORE} × the {cores} core{} here, {most} \
             (runs beyond the cores only wait for one another)",
            if cores == 1 { "" } else { "s" }
        )));
    }
    let format = args.out.as_deref().map(|o| table_format(args.format, o)).transpose()?;
    check_outputs(args.out.as_deref(), args.plot.as_deref(), &args.data.data_dir, args.force)?;
    if let Some(shard) = args.shard {
        return run_shard(&args, shard, jobs, stop);
    }
    // The spec (or the stored one), checked whole before anything else.
    let start = match (&args.spec, args.resume) {
        (Some(path), None) => {
            let spec = read_spec(path, &args.set)?;
            if args.plot.is_some() {
                plot::column(&spec, args.plot_summary.as_deref())?;
            }
            Start::New(Box::new(spec))
        }
        _ => Start::Resume(args.resume.expect("clap: spec or resume")),
    };
    if let Start::Resume(_) = start {
        args.data.to_resume()?;
    }
    let _lock = DirLock::acquire(&args.data.data_dir)?;
    let stored = Stored::open(&args.data.database(), start)?;
    if args.plot.is_some() {
        plot_column(stored.table(), &args.plot_summary)?;
    }
    let (id, plan) = (stored.id(), stored.plan().clone());
    let spec = plan.spec();
    say!(
        "experiment {id} `{}`: {} runs ({} {} × {} seeds), {} to run on {jobs} thread{}; {}",
        spec.name,
        plan.len(),
        plan.points(),
        match spec.design {
            watchtower_experiment::Design::Grid => "grid points",
            watchtower_experiment::Design::Sobol(_) => "points of a Sobol design",
            watchtower_experiment::Design::Morris(_) => "points of a Morris design",
        },
        spec.seeds.len(),
        plan.len() - stored.done(),
        if jobs == 1 { "" } else { "s" },
        args.data.database().display()
    );
    let mut progress = RunsProgress::new(plan.len(), stored.done());
    let finished = stored.run(jobs, args.keep_ticks, stop, || progress.inc());
    progress.finish();
    let Finished { status, table, ran, elapsed, .. } = finished?;
    let rate = ran as f64 / elapsed.as_secs_f64().max(1e-9);
    say!(
        "experiment {id} {}: {} of {} runs stored; this process ran {} in {:.1} s ({rate:.2} runs/s, {jobs} job{})",
        status.as_str(),
        table.len(),
        plan.len(),
        ran,
        elapsed.as_secs_f64(),
        if jobs == 1 { "" } else { "s" }
    );
    report(&table);
    if status == RunStatus::Interrupted {
        say!("interrupted: finished runs are kept; continue with `watchtower experiment --resume {id}`");
    }
    if let (Some(out), Some(format)) = (&args.out, format) {
        write_table(&table, out, format, &args.data.data_dir, args.force)?;
        say!("table written to {}", out.display());
    }
    if let Some(png) = &args.plot {
        let column = plot_column(&table, &args.plot_summary)?;
        draw(&table, &column, png, &args.data.data_dir, args.force)?;
        say!("picture of {column} written to {}", png.display());
    }
    Ok(())
}

fn read_spec(path: &Path, set: &[String]) -> Result<ExperimentSpec, AppError> {
    let text = watchtower_runner::scenario::read_yaml(path)?;
    Ok(ExperimentSpec::parse_with(&text, &path.display().to_string(), set)
        .map_err(watchtower_experiment::ExperimentError::from)?)
}

fn run_shard(args: &ExperimentArgs, shard: Shard, jobs: usize, stop: &Stop) -> Result<(), AppError> {
    let path = args.spec.as_deref().ok_or_else(|| AppError::Usage("--shard needs the spec".into()))?;
    let out = args
        .out
        .as_deref()
        .ok_or_else(|| AppError::Usage("--shard I/N needs --out FILE.parquet (its slice of the table)".into()))?;
    if table_format(args.format, out)? != TableFormat::Parquet {
        return Err(AppError::Usage(format!("--shard writes Parquet: --out {} should end in .parquet", out.display())));
    }
    let spec = read_spec(path, &args.set)?;
    let plan = Plan::new(spec);
    let runs: Vec<u64> = plan.shard(shard).collect();
    let mut table = ExperimentTable::new(plan.clone());
    if args.plot.is_some() {
        return Err(AppError::Usage("--plot draws the whole table: use it with `experiment merge`".into()));
    }
    say!("shard {shard} of `{}`: {} of {} runs on {jobs} thread(s)", plan.spec().name, runs.len(), plan.len());
    let mut progress = RunsProgress::new(runs.len() as u64, 0);
    let started = Instant::now();
    let executed = execute(&plan, &runs, jobs, stop, &NoRecording, |summary| {
        table.insert(summary);
        progress.inc();
        Ok(())
    })?;
    progress.finish();
    if executed.stopped {
        return Err(AppError::Usage(format!(
            "shard {shard} interrupted after {} of {} runs; nothing written (run the shard again)",
            executed.finished,
            runs.len()
        )));
    }
    let output = Output::create(out, &args.data.data_dir, args.force)?;
    table.write_parquet(&output.file()?, Some(shard))?;
    output.commit()?;
    say!(
        "shard {shard}: {} runs in {:.1} s written to {}",
        executed.finished,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn merge(args: MergeArgs) -> Result<(), AppError> {
    let format = table_format(args.format, &args.out)?;
    check_outputs(Some(&args.out), args.plot.as_deref(), &args.data.data_dir, args.force)?;
    for input in args.files.iter().chain(&args.plot) {
        if watchtower_store::outputs::same(input, &args.out) {
            return Err(AppError::Usage(format!(
                "refusing to write {}: it is one of the files being merged (or the --plot); choose another --out",
                args.out.display()
            )));
        }
    }
    if let Some(png) = &args.plot
        && args.files.iter().any(|input| watchtower_store::outputs::same(input, png))
    {
        return Err(AppError::Usage(format!(
            "refusing to write {}: it is one of the files being merged; choose another --plot",
            png.display()
        )));
    }
    let merged = merge_shards(&args.files)?;
    let table = &merged.table;
    let missing_runs = table.missing();
    if !merged.missing_shards.is_empty() || !missing_runs.is_empty() {
        let shards: Vec<String> = merged.missing_shards.iter().map(|i| format!("{i}/{}", merged.shards)).collect();
        let message = format!(
            "missing shard(s): {} ({} of {} runs missing)",
            if shards.is_empty() { "none, but runs are missing".into() } else { shards.join(", ") },
            missing_runs.len(),
            table.plan().len()
        );
        if !args.allow_missing {
            return Err(AppError::Usage(format!("{message}; nothing written (--allow-missing writes what there is)")));
        }
        eprintln!("warning: {message}");
    }
    write_table(table, &args.out, format, &args.data.data_dir, args.force)?;
    say!(
        "merged {} shard file(s) of {} ({} runs of {}) into {}",
        args.files.len(),
        merged.shards,
        table.len(),
        table.plan().len(),
        args.out.display()
    );
    report(table);
    if let Some(png) = &args.plot {
        let column = plot_column(table, &args.plot_summary)?;
        draw(table, &column, png, &args.data.data_dir, args.force)?;
        say!("picture of {column} written to {}", png.display());
    }
    Ok(())
}

/// The closing summary: phases, and for small grids each point's means (and a fork's
/// effects) with their 95% intervals.
fn report(table: &ExperimentTable) {
    for line in watchtower_experiment::report::lines(table) {
        say!("{line}");
    }
}

/// Lists the experiments.
pub fn experiments(args: ExperimentsArgs) -> Result<(), AppError> {
    let history = History::open(&args.data.database(), 1)?;
    let list = history.experiments()?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&list).expect("rows serialise"));
        return Ok(());
    }
    say!(
        "{:>4}  {:<11}  {:<32}  {:>13}  {:>7}  {:<24}  {:<24}",
        "id",
        "status",
        "name",
        "runs done",
        "points",
        "started (UTC)",
        "ended (UTC)"
    );
    for e in list {
        say!(
            "{:>4}  {:<11}  {:<32}  {:>13}  {:>7}  {:<24}  {:<24}",
            e.id,
            e.status,
            e.name,
            format!("{}/{}", e.done, e.runs),
            if watchtower_experiment::calibrate::store::is_calibration(&e.layout) {
                "calib.".to_string()
            } else {
                e.points.to_string()
            },
            e.started_at,
            e.ended_at.unwrap_or_default()
        );
    }
    Ok(())
}

/// The stored experiment `experiment` names: an id, or `latest`.
pub fn load(data: &DataDirArg, experiment: &str) -> Result<stored::Loaded, AppError> {
    let history = History::open(&data.database(), 1)?;
    let id = match experiment {
        "latest" => history
            .latest_experiment()?
            .ok_or_else(|| AppError::Usage("the database holds no experiments yet".into()))?,
        id => id
            .parse()
            .map_err(|_| AppError::Usage(format!("--experiment {id}: expected an experiment id or `latest`")))?,
    };
    stored::load(&history, id)?
        .ok_or_else(|| AppError::Usage(format!("no experiment {id} in {}", data.database().display())))
}

/// The stored calibration `experiment` names (an id, or `latest`), or `None` when it
/// names an experiment that is not a calibration.
fn load_calibration(
    data: &DataDirArg,
    experiment: &str,
) -> Result<Option<watchtower_experiment::calibrate::store::Loaded>, AppError> {
    use watchtower_experiment::calibrate::store as calibration;
    let history = History::open(&data.database(), 1)?;
    let id = match experiment {
        "latest" => history.latest_experiment()?,
        id => id.parse().ok(),
    };
    let Some(detail) = id.map(|id| history.experiment(id)).transpose()?.flatten() else { return Ok(None) };
    if !calibration::is_calibration(&detail.row.layout) {
        return Ok(None);
    }
    Ok(calibration::load(&history, detail.row.id)?)
}

/// `watchtower export --experiment ID|latest`: the tidy table (a calibration's: one row
/// per simulation).
pub fn export(
    data: &DataDirArg,
    experiment: &str,
    format: Option<TableFormatArg>,
    out: Option<&Path>,
    force: bool,
) -> Result<(), AppError> {
    let format =
        format.map(TableFormat::from).or_else(|| out.and_then(TableFormat::from_path)).unwrap_or(TableFormat::Csv);
    if let Some(calibration) = load_calibration(data, experiment)? {
        let (spec, rows) = (&calibration.spec, &calibration.rows);
        return match out {
            Some(path) => {
                let output = Output::create(path, &data.data_dir, force)?;
                watchtower_experiment::calibrate::table::write(spec, rows, &output.file()?, format)?;
                Ok(output.commit()?)
            }
            None if format == TableFormat::Parquet => Err(AppError::Usage("--format parquet needs --out FILE".into())),
            None => {
                let mut stdout = std::io::stdout();
                match watchtower_experiment::calibrate::table::write(spec, rows, &mut stdout, format) {
                    Err(watchtower_experiment::ExperimentError::Other(m)) if m.contains("Broken pipe") => Ok(()),
                    other => Ok(other?),
                }
            }
        };
    }
    let loaded = load(data, experiment)?;
    match out {
        Some(path) => write_table(&loaded.table, path, format, &data.data_dir, force),
        None if format == TableFormat::Parquet => Err(AppError::Usage("--format parquet needs --out FILE".into())),
        None => {
            let mut stdout = std::io::stdout();
            match loaded.table.write(&mut stdout, format) {
                Err(watchtower_experiment::ExperimentError::Other(m)) if m.contains("Broken pipe") => Ok(()),
                other => {
                    let _ = stdout.flush();
                    Ok(other?)
                }
            }
        }
    }
}
