//! `watchtower sensitivity EXPERIMENT`: the Sobol indices of a stored Sobol design,
//! printed as a table or JSON, optionally drawn; the analysis is
//! `watchtower_experiment::sensitivity`'s.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use watchtower_experiment::{plot, sensitivity};

use crate::error::AppError;
use crate::settings::DataDirArg;
use watchtower_store::outputs::Output;

/// Arguments of `watchtower sensitivity`.
#[derive(Debug, Clone, Args)]
pub struct SensitivityArgs {
    /// The experiment (a Sobol design): its id, or `latest`.
    #[arg(value_name = "EXPERIMENT", default_value = "latest")]
    pub experiment: String,
    /// A summary column to analyse (repeatable); default: every `<indicator>_mean`.
    #[arg(long = "indicator", value_name = "COLUMN")]
    pub indicators: Vec<String>,
    /// Print `{column: {parameter: {S1, S1_conf, ST, ST_conf}}}` as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the indices (PNG): bars with their intervals, per column.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Write the table (or the JSON) to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace --out and --plot if they exist (without it, an existing file is refused).
    #[arg(long)]
    pub force: bool,
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Analyses the experiment and prints (or writes) its indices.
pub fn sensitivity(args: SensitivityArgs) -> Result<(), AppError> {
    crate::experiment::check_outputs(args.out.as_deref(), args.plot.as_deref(), &args.data.data_dir, args.force)?;
    let loaded = crate::experiment::load(&args.data, &args.experiment)?;
    let table = &loaded.table;
    let missing = table.missing().len();
    if missing > 0 {
        return Err(AppError::Usage(format!(
            "experiment {} is missing {missing} of its {} runs: finish it first (`watchtower experiment --resume {}`)",
            loaded.detail.row.id,
            table.plan().len(),
            loaded.detail.row.id
        )));
    }
    let results = sensitivity::of_batch(&table.to_record_batch(), &args.indicators)?;
    let text = if args.json {
        serde_json::to_string_pretty(&sensitivity::to_json(&results)).expect("JSON serialises") + "\n"
    } else {
        sensitivity::to_text(&results)
    };
    match &args.out {
        Some(path) => {
            let output = Output::create(path, &args.data.data_dir, args.force)?;
            output.file()?.write_all(text.as_bytes()).map_err(|e| AppError::io(path, e))?;
            output.commit()?;
        }
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
    if let Some(path) = &args.plot {
        let output = Output::create(path, &args.data.data_dir, args.force)?;
        plot::sensitivity(&table.spec().name, &results, output.path())?;
        output.commit()?;
        if args.out.is_some() || !args.json {
            say!("wrote {}", path.display());
        }
    }
    Ok(())
}
