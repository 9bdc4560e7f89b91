//! `watchtower runs` and `watchtower export`: reading a data directory, from any process,
//! even while a run is being written (read-only connections never block the writer).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use watchtower_protocol::Indicators;
use watchtower_store::{Format, History, StoreError, TickWriter};

use crate::error::AppError;
use crate::experiment::TableFormatArg;
use crate::settings::DataDirArg;
use watchtower_runner::scenario::stored_tick_metadata;
use watchtower_store::outputs::{Output, Sidecar};

/// Arguments of `watchtower runs`.
#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `watchtower export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// The run: its id, or `latest`.
    #[arg(long, default_value = "latest")]
    pub run: String,
    /// Export an experiment's table instead (one row per run): its id, or `latest`.
    #[arg(long, value_name = "ID", conflicts_with_all = ["run", "from", "to"])]
    pub experiment: Option<String>,
    /// csv (default) or jsonl; parquet for an experiment's table.
    #[arg(long, value_enum)]
    pub format: Option<TableFormatArg>,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the output file if it exists (without it, an existing file is refused).
    #[arg(long)]
    pub force: bool,
    /// First tick.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Last tick.
    #[arg(long, default_value_t = u64::MAX)]
    pub to: u64,
}

/// Lists the runs.
pub fn runs(args: RunsArgs) -> Result<(), AppError> {
    let history = History::open(&args.data.database(), 1)?;
    let runs = history.runs()?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&runs).expect("rows serialise"));
        return Ok(());
    }
    say!(
        "{:>4}  {:<11}  {:<9}  {:>6}  {:>22}  {:>9}  {:<24}  {:<24}  notes",
        "id",
        "status",
        "model",
        "seed",
        "size",
        "ticks",
        "started (UTC)",
        "ended (UTC)"
    );
    for r in runs {
        let size = match r.model.as_str() {
            "mark0" => format!("{} hh / {} firms", r.households, r.firms),
            _ => format!("{} agents", r.agents),
        };
        let ticks = r.last_tick.map_or(0, |t| t + 1);
        let notes = crate::whatif::notes(&r);
        say!(
            "{:>4}  {:<11}  {:<9}  {:>6}  {:>22}  {:>9}  {:<24}  {:<24}  {notes}",
            r.id,
            r.status,
            r.model,
            r.seed,
            size,
            ticks,
            r.started_at,
            r.ended_at.unwrap_or_default()
        );
    }
    Ok(())
}

/// The run `arg` names: an id, or `latest`.
pub fn resolve_run(history: &History, arg: &str, data: &DataDirArg) -> Result<i64, AppError> {
    let id = match arg {
        "latest" => history.latest_run()?.ok_or_else(|| AppError::Usage("the database holds no runs yet".into()))?,
        id => id.parse().map_err(|_| AppError::Usage(format!("--run {id}: expected a run id or `latest`")))?,
    };
    if !history.runs()?.iter().any(|r| r.id == id) {
        return Err(AppError::Usage(format!("no run {id} in {}", data.database().display())));
    }
    Ok(id)
}

/// Writes a run's ticks, header row first for CSV (or an experiment's table).
pub fn export(args: ExportArgs) -> Result<(), AppError> {
    // Before anything is opened: `--out` must not be the database being read.
    if let Some(out) = &args.out {
        watchtower_store::outputs::check(out, &args.data.data_dir, args.force)?;
    }
    if let Some(experiment) = &args.experiment {
        return crate::experiment::export(&args.data, experiment, args.format, args.out.as_deref(), args.force);
    }
    let history = History::open(&args.data.database(), 1)?;
    let run = resolve_run(&history, &args.run, &args.data)?;
    let format = match args.format {
        Some(TableFormatArg::Csv) => Some(Format::Csv),
        Some(TableFormatArg::Jsonl) => Some(Format::Jsonl),
        Some(TableFormatArg::Parquet) => {
            return Err(AppError::Usage("--format parquet is for an experiment's table (--experiment ID)".into()));
        }
        None => None,
    };
    let format = format.or_else(|| args.out.as_deref().and_then(Format::from_path)).unwrap_or(Format::Csv);
    let output = args.out.as_deref().map(|path| Output::create(path, &args.data.data_dir, args.force)).transpose()?;
    // A CSV file carries no units: its sidecar (FILE.csv.json) says them.
    let sidecar = match (&args.out, format) {
        (Some(path), Format::Csv) => Some(Sidecar::create(path, &args.data.data_dir, args.force)?),
        _ => None,
    };
    let sink: Box<dyn Write> = match &output {
        Some(output) => Box::new(BufWriter::new(output.file()?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut writer = TickWriter::new(sink, format);
    let written = history
        .for_each_tick(run, args.from, args.to, usize::MAX, |tick, values| {
            writer.write(tick, Indicators::report(values))
        })
        .and_then(|()| writer.finish().map(drop));
    match (written, output) {
        (Ok(()), Some(output)) => {
            output.commit()?;
            if let Some(sidecar) = sidecar {
                let row = history.runs()?.into_iter().find(|r| r.id == run).expect("resolved above");
                sidecar.commit(&stored_tick_metadata(&row))?;
            }
            Ok(())
        }
        // `watchtower export | head`: the reader has what it wanted.
        (Err(StoreError::Output(e)), None) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        (other, _) => Ok(other?),
    }
}
