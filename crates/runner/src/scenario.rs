//! A scenario: everything that determines a run.
//!
//! The model, its size, the seed, the preset, the settings from files and `--set`
//! (applied in that order, each remembering where it came from) and the schedule. With
//! the same scenario and the same live commands a run gives the same bytes, on any
//! machine and thread count. One piece of code turns a scenario into a simulation,
//! whether it was written as command-line flags, a YAML file, a Python dict, an
//! experiment's grid point, or read back from a recorded run.

use std::path::Path;

use watchtower_engine::config::{self, ConfigError, Override};
use watchtower_engine::{EngineError, ModelKind, Registry, RunSpec, Simulation};
use watchtower_store::{RunInfo, RunPlan};

use crate::schedule::Schedule;
use watchtower_engine::yaml::{self, Doc, YamlError};

/// The preset a Mark-0 scenario starts from unless it names another.
pub const DEFAULT_PRESET: &str = "watchtower";

/// Everything that determines a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Which model.
    pub model: ModelKind,
    /// The seed of every random stream.
    pub seed: u64,
    /// Mark-0: households.
    pub households: usize,
    /// Mark-0: firms.
    pub firms: usize,
    /// Boltzmann: agents.
    pub agents: usize,
    /// The starting point (Mark-0 only); `None` starts from the registry's defaults.
    pub preset: Option<String>,
    /// Settings applied after the preset, in order.
    pub settings: Vec<Override>,
    /// Commands applied at given ticks.
    pub schedule: Schedule,
}

impl Default for Scenario {
    /// The default economy: Mark-0 with 10,000 households and 1,000 firms, seed 1, the
    /// `watchtower` preset.
    fn default() -> Self {
        Self {
            model: ModelKind::Mark0,
            seed: 1,
            households: 10_000,
            firms: 1_000,
            agents: 10_000,
            preset: Some(DEFAULT_PRESET.into()),
            settings: Vec::new(),
            schedule: Schedule::default(),
        }
    }
}

/// Why a scenario cannot be built; nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A preset, file or `--set` was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file's YAML (its schedule, say) was refused.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The combination makes no sense (a preset for the Boltzmann model, say).
    #[error("{0}")]
    Invalid(String),
    /// The engine refused to build the economy (no firms, say).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a recorded run says made it: the program, the model and the engine's numbers
/// version ([`watchtower_engine::NUMBERS`]).
pub fn model_version(model: ModelKind) -> String {
    format!("watchtower {} / {} / numbers {}", env!("CARGO_PKG_VERSION"), model.name(), watchtower_engine::NUMBERS)
}

impl Scenario {
    /// A Boltzmann scenario of `agents` agents.
    pub fn boltzmann(agents: usize, seed: u64) -> Self {
        Self { model: ModelKind::Boltzmann, agents, seed, preset: None, ..Self::default() }
    }

    /// The run's structural choices.
    pub fn spec(&self) -> RunSpec {
        RunSpec {
            model: self.model,
            seed: self.seed,
            households: self.households,
            firms: self.firms,
            agents: self.agents,
        }
    }

    /// Adds one `--set KEY=VALUE`.
    pub fn set(&mut self, arg: &str) -> Result<(), ScenarioError> {
        self.settings.push(config::parse_set(arg)?);
        Ok(())
    }

    /// Adds a settings file: its areas and keys (shaped like `economy_params.yaml`)
    /// become settings, its `schedule:` list joins the schedule.
    pub fn read_config(&mut self, path: &Path) -> Result<(), ScenarioError> {
        let text = read_yaml(path)?;
        self.add_config(&text, &path.display().to_string())
    }

    /// Adds a settings file's text; `source` names it in errors.
    pub fn add_config(&mut self, text: &str, source: &str) -> Result<(), ScenarioError> {
        self.settings.extend(config::parse_overlay(text, source)?);
        // The settings parse above skips a top-level `schedule` however it is written
        // (block or flow style, quoted or not); read it with line numbers here. A file
        // that never says the word has none.
        if text.contains(config::SCHEDULE) {
            let doc = Doc::parse(text, source)?;
            if let Some(node) = doc.root.as_mapping().and_then(|m| m.get(config::SCHEDULE)) {
                self.schedule.extend(Schedule::parse(&doc, node)?);
            }
        }
        Ok(())
    }

    /// The registry after the preset and the settings, with the schedule checked against
    /// it. Nothing is applied unless everything is valid.
    pub fn registry(&self) -> Result<Registry, ScenarioError> {
        let mut registry = Registry::builtin(self.model);
        let mut settings = Vec::new();
        match (self.model, &self.preset) {
            (ModelKind::Mark0, Some(preset)) => settings.extend(config::preset(preset)?),
            (ModelKind::Mark0, None) => {}
            (ModelKind::Boltzmann, Some(_)) => {
                return Err(ScenarioError::Invalid("a preset applies to the economy (model mark0) only".into()));
            }
            (ModelKind::Boltzmann, None) => {}
        }
        settings.extend(self.settings.iter().cloned());
        config::apply_overrides(&mut registry, &settings)?;
        self.schedule.validate(&registry)?;
        Ok(registry)
    }

    /// Builds the economy at genesis.
    pub fn build(&self) -> Result<Simulation, ScenarioError> {
        Ok(Simulation::new(self.spec(), self.registry()?)?)
    }

    /// What the store records about a run of this scenario, given its registry at start.
    pub fn run_info(&self, registry: &Registry) -> RunInfo {
        run_info(&self.spec(), registry)
    }

    /// What the store records about how the run is planned: its tick target and its
    /// schedule (so a resume continues it as planned).
    pub fn plan(&self, tick_target: Option<u64>) -> RunPlan {
        RunPlan { tick_target, schedule: Some(self.schedule.to_json()), lineage: None }
    }
}

/// What the store records about a run of `spec` whose registry at start is `registry`
/// (a scenario's run, or a branch forked with that registry).
pub fn run_info(spec: &RunSpec, registry: &Registry) -> RunInfo {
    let parameters: serde_json::Map<String, serde_json::Value> = registry
        .snapshot()
        .params
        .into_iter()
        .map(|p| (p.key, serde_json::to_value(p.value).expect("values serialise")))
        .collect();
    let mark0 = spec.model == ModelKind::Mark0;
    RunInfo {
        model: spec.model.name().to_string(),
        seed: spec.seed,
        households: if mark0 { spec.households as u64 } else { 0 },
        firms: if mark0 { spec.firms as u64 } else { 0 },
        agents: if mark0 { 0 } else { spec.agents as u64 },
        parameters: parameters.into(),
        model_version: model_version(spec.model),
    }
}

/// The metadata of a table of a run's ticks (a CSV export's sidecar): every column's unit
/// and description, the time mapping (`economy.ticks_per_year` of `registry`), and the
/// run: model, seed, size and every parameter at start.
pub fn tick_metadata(spec: &RunSpec, registry: &Registry) -> serde_json::Value {
    let info = run_info(spec, registry);
    let run = serde_json::json!({
        "model": info.model,
        "seed": info.seed,
        "households": info.households,
        "firms": info.firms,
        "agents": info.agents,
        "model_version": info.model_version,
        "parameters": info.parameters,
    });
    watchtower_protocol::tick_table_metadata(registry.ticks_per_year(), run)
}

/// [`tick_metadata`] of a stored run, from what the store says of it (a run recorded
/// before `economy.ticks_per_year` existed reads the default).
pub fn stored_tick_metadata(row: &watchtower_store::RunRow) -> serde_json::Value {
    let ticks_per_year = row.parameters.get(watchtower_engine::TICKS_PER_YEAR).and_then(serde_json::Value::as_f64);
    let ticks_per_year = ticks_per_year.unwrap_or_else(|| {
        Registry::builtin(ModelKind::from_name(&row.model).unwrap_or(ModelKind::Mark0)).ticks_per_year()
    });
    let run = serde_json::to_value(row).expect("a run row serialises");
    watchtower_protocol::tick_table_metadata(ticks_per_year, run)
}

/// Reads a YAML file a user gave (a settings file, an experiment spec), refusing one over
/// [`yaml::MAX_BYTES`] by its size before reading it, and reading no more than that even
/// from a file that grows meanwhile (a pipe, a device).
pub fn read_yaml(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let io = |source| ScenarioError::Io { path: path.into(), source };
    let too_large = |bytes| io(std::io::Error::new(std::io::ErrorKind::InvalidData, yaml::too_large(bytes)));
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > yaml::MAX_BYTES as u64 {
        return Err(too_large(size));
    }
    let mut text = String::new();
    file.take(yaml::MAX_BYTES as u64 + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() > yaml::MAX_BYTES {
        return Err(too_large(text.len() as u64));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_sets_values_and_schedules_commands() {
        let mut s = Scenario::default();
        s.add_config(
            "government:\n  income_tax_rate: 0.25\nschedule:\n  - {tick: 3, set: {government.income_tax_rate: 0.3}}\n",
            "policy.yaml",
        )
        .unwrap();
        s.set("bank.policy_rate=0.01").unwrap();
        let registry = s.registry().unwrap();
        assert_eq!(registry.f64("government.income_tax_rate"), 0.25);
        assert_eq!(registry.f64("bank.policy_rate"), 0.01);
        assert_eq!(s.schedule.entries().len(), 1);
    }

    #[test]
    fn a_schedule_is_read_however_the_file_writes_it() {
        for text in [
            "{government: {income_tax_rate: 0.25}, schedule: [{tick: 3, set: {bank.policy_rate: 0.01}}]}\n",
            "\"schedule\":\n  - {tick: 3, set: {bank.policy_rate: 0.01}}\n",
            "schedule :\n  - {tick: 3, set: {bank.policy_rate: 0.01}}\n",
        ] {
            let mut s = Scenario::default();
            s.add_config(text, "p.yaml").unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.schedule.entries().len(), 1, "{text}");
        }
    }

    #[test]
    fn a_bad_schedule_is_refused_with_its_line() {
        let mut s = Scenario::default();
        s.add_config("schedule:\n  - {tick: 3, set: {government.income_tax_rate: 3}}\n", "p.yaml").unwrap();
        let err = s.registry().unwrap_err().to_string();
        assert!(err.starts_with("p.yaml, line 2: `government.income_tax_rate` = 3 is out of range"), "{err}");
    }

    #[test]
    fn boltzmann_takes_no_preset() {
        let mut s = Scenario::boltzmann(100, 1);
        s.registry().unwrap();
        s.preset = Some("sim".into());
        assert!(s.registry().unwrap_err().to_string().contains("preset applies to the economy"));
    }
}
