//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use serde_json::json;
use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation, config};
use watchtower_protocol::GodCommand;

/// A small economy that runs thousands of ticks per second.
pub fn small_spec(seed: u64) -> RunSpec {
    RunSpec { seed, firms: 50, households: 500, ..RunSpec::default() }
}

/// A simulation of `spec` with `preset` and `settings` (`key=value`).
pub fn simulation(spec: RunSpec, preset: &str, settings: &[&str]) -> Simulation {
    let mut registry = Registry::builtin(spec.model);
    let mut all = config::preset(preset).unwrap();
    all.extend(settings.iter().map(|s| config::parse_set(s).unwrap()));
    config::apply_overrides(&mut registry, &all).unwrap();
    Simulation::new(spec, registry).unwrap()
}

/// A default-economy simulation.
pub fn default_simulation(spec: RunSpec) -> Simulation {
    assert_eq!(spec.model, ModelKind::Mark0);
    simulation(spec, "watchtower", &[])
}

/// A command.
pub fn command(id: &str, key: &str, value: serde_json::Value) -> GodCommand {
    GodCommand { id: id.into(), key: key.into(), value }
}

/// A valid command.
pub fn tax(id: &str, rate: f64) -> GodCommand {
    command(id, "government.income_tax_rate", json!(rate))
}
