//! From command-line arguments to a registry and a run specification.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use watchtower_engine::{ModelKind, Registry, RunSpec, config};
use watchtower_store::RunInfo;

use crate::error::AppError;

/// The model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Mark-0 with a government (docs/MODEL.md).
    Mark0,
    /// The Boltzmann wealth benchmark.
    Boltzmann,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Mark0 => ModelKind::Mark0,
            ModelArg::Boltzmann => ModelKind::Boltzmann,
        }
    }
}

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
    /// A YAML file of settings, shaped like economy_params.yaml (applied after the preset).
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
}

impl EconomyArgs {
    /// The run's structural choices.
    pub fn spec(&self) -> RunSpec {
        RunSpec {
            model: self.model.into(),
            seed: self.seed,
            households: self.households,
            firms: self.firms,
            agents: self.agents,
        }
    }

    /// The registry after the preset, config files and overrides, in that order.
    pub fn registry(&self) -> Result<Registry, AppError> {
        let model = ModelKind::from(self.model);
        let mut registry = Registry::builtin(model);
        let mut settings = Vec::new();
        match (model, &self.preset) {
            (ModelKind::Mark0, preset) => settings.extend(config::preset(preset.as_deref().unwrap_or("watchtower"))?),
            (ModelKind::Boltzmann, Some(_)) => {
                return Err(AppError::Usage("--preset applies to the economy (--model mark0) only".into()));
            }
            (ModelKind::Boltzmann, None) => {}
        }
        for file in &self.config {
            let text = std::fs::read_to_string(file).map_err(|e| AppError::io(file, e))?;
            settings.extend(config::parse_overlay(&text, &file.display().to_string())?);
        }
        for arg in &self.set {
            settings.push(config::parse_set(arg)?);
        }
        config::apply_overrides(&mut registry, &settings)?;
        Ok(registry)
    }

    /// What the store records about the run.
    pub fn run_info(&self, registry: &Registry) -> RunInfo {
        let spec = self.spec();
        let parameters: serde_json::Map<String, serde_json::Value> = registry
            .snapshot()
            .params
            .into_iter()
            .map(|p| (p.key, serde_json::to_value(p.value).expect("values serialise")))
            .collect();
        RunInfo {
            model: spec.model.name().to_string(),
            seed: spec.seed,
            households: if spec.model == ModelKind::Mark0 { spec.households as u64 } else { 0 },
            firms: if spec.model == ModelKind::Mark0 { spec.firms as u64 } else { 0 },
            agents: if spec.model == ModelKind::Boltzmann { spec.agents as u64 } else { 0 },
            parameters: parameters.into(),
            model_version: format!("watchtower {} / {}", env!("CARGO_PKG_VERSION"), spec.model.name()),
        }
    }
}

/// Formats cents as currency with thousands separators: `-1234567` → `-12,345.67`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", abs % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_is_grouped() {
        assert_eq!(super::money(-123_456_789), "-1,234,567.89");
        assert_eq!(super::money(5), "0.05");
        assert_eq!(super::money(100_000), "1,000.00");
    }
}
