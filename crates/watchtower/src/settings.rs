//! From command-line arguments to a scenario.

use std::path::PathBuf;

use clap::Args;
use watchtower_engine::ModelKind;
use watchtower_runner::Scenario;

use crate::error::AppError;

/// The model to run: spelled once, in the benchmarks' crate, which sits below this one
/// and measures the same models.
pub use watchtower_bench::ModelArg;

/// What economy to build: shared by `run` and `serve`.
#[derive(Debug, Clone, Args)]
pub struct EconomyArgs {
    /// The model.
    #[arg(long, value_enum, default_value_t = ModelArg::Mark0)]
    pub model: ModelArg,
    /// Seed of every random stream; the same seed and commands give the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Households (Mark-0).
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// Firms (Mark-0).
    #[arg(long, default_value_t = 1_000)]
    pub firms: usize,
    /// Agents (Boltzmann).
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// Starting point: watchtower (default), mark0-2017, mark0-2015 or sim (Mark-0 only).
    #[arg(long)]
    pub preset: Option<String>,
    /// A YAML file of settings, shaped like economy_params.yaml, and optionally a
    /// `schedule:` of commands at ticks (applied after the preset).
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Override one setting, e.g. --set government.income_tax_rate=0.3 (applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The data directory (shared by every command that touches the store).
#[derive(Debug, Clone, Args)]
pub struct DataDirArg {
    /// Directory holding watchtower.db and the lock.
    #[arg(long, default_value = "data", env = "WATCHTOWER_DATA_DIR")]
    pub data_dir: PathBuf,
}

impl DataDirArg {
    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join(watchtower_store::DATABASE_FILE)
    }

    /// The database a `--resume` continues, which must be there: checked before the lock
    /// is taken, so a mistyped `--data-dir` creates nothing (no directory, no database).
    pub fn to_resume(&self) -> Result<PathBuf, AppError> {
        let db = self.database();
        if db.is_file() {
            Ok(db)
        } else {
            Err(AppError::Usage(format!(
                "nothing to resume: there is no database at {} (is --data-dir right?); nothing was created",
                db.display()
            )))
        }
    }
}

impl EconomyArgs {
    /// The scenario these flags describe (not yet validated: `Scenario::registry` does).
    pub fn scenario(&self) -> Result<Scenario, AppError> {
        let model = ModelKind::from(self.model);
        let preset = match (model, &self.preset) {
            (ModelKind::Mark0, preset) => {
                Some(preset.clone().unwrap_or_else(|| watchtower_runner::scenario::DEFAULT_PRESET.into()))
            }
            (ModelKind::Boltzmann, Some(_)) => {
                return Err(AppError::Usage("--preset applies to the economy (--model mark0) only".into()));
            }
            (ModelKind::Boltzmann, None) => None,
        };
        let mut scenario = Scenario {
            model,
            seed: self.seed,
            households: self.households,
            firms: self.firms,
            agents: self.agents,
            preset,
            ..Scenario::default()
        };
        for file in &self.config {
            scenario.read_config(file)?;
        }
        for arg in &self.set {
            scenario.set(arg)?;
        }
        Ok(scenario)
    }
}

/// When the engine's state is checkpointed into the database (shared by `run` and
/// `serve`): every N ticks or S seconds, whichever comes first.
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// Checkpoint every N ticks (0: by time only).
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub checkpoint_every: u64,
    /// Checkpoint at least every S seconds while ticks run.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub checkpoint_seconds: f64,
    /// Take no checkpoints (a crashed run then resumes by re-running from tick 0).
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Keep the newest N ticks' rows whole and thin older ones to 1 in 100 (the stride
    /// doubles past 4,000 older rows), so the database stops growing; every command and
    /// the checkpoints a resume needs are kept (docs/CLI.md). Default: keep everything.
    #[arg(long, value_name = "N")]
    pub keep_ticks: Option<u64>,
}

impl CheckpointArgs {
    /// The writer's options: what it keeps (`--keep-ticks`), which needs checkpoints (the
    /// thinning stops at one, so a resume always finds whole rows after it).
    pub fn writer_options(&self) -> Result<watchtower_store::WriterOptions, AppError> {
        let retention = match self.keep_ticks {
            None => None,
            Some(0) => return Err(AppError::Usage("--keep-ticks must be 1 or more".into())),
            Some(_) if self.no_checkpoints => {
                return Err(AppError::Usage(
                    "--keep-ticks needs checkpoints (the rows it keeps start at one): drop --no-checkpoints".into(),
                ));
            }
            Some(n) => Some(watchtower_store::Retention::keep(n)),
        };
        Ok(watchtower_store::WriterOptions { retention, ..Default::default() })
    }

    /// The options, or `None` when switched off.
    pub fn options(&self) -> Result<Option<watchtower_runner::checkpoints::CheckpointOptions>, AppError> {
        if self.no_checkpoints {
            return Ok(None);
        }
        if !(self.checkpoint_seconds.is_finite() && self.checkpoint_seconds > 0.0) {
            return Err(AppError::Usage("--checkpoint-seconds must be a positive number of seconds".into()));
        }
        Ok(Some(watchtower_runner::checkpoints::CheckpointOptions {
            every_ticks: self.checkpoint_every,
            every: std::time::Duration::from_secs_f64(self.checkpoint_seconds),
        }))
    }
}

/// A size in bytes as written on the command line: a whole number of bytes, or one with
/// a unit (`KiB`, `MiB`, `GiB`, `TiB`, or `K`, `M`, `G`, `T` for the same; `KB`, `MB`,
/// `GB`, `TB` for powers of 1,000): `1GiB`, `500M`, `0`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = (text[..split].trim(), text[split..].trim());
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("`{other}` is not a unit of size (bytes, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")),
    };
    let value: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a size (say 1GiB, 500MiB or a number of bytes)"))?;
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{text}` is not a size this machine can have"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_are_read_with_their_units() {
        use super::parse_size;
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5 G"), Ok(3 << 29));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1 parsec").unwrap_err().contains("not a unit"));
        assert!(parse_size("GiB").unwrap_err().contains("not a size"));
        assert!(parse_size("-1").is_err());
    }
}
