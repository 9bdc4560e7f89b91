//! A scenario from Python arguments: the runner's `Scenario`, filled as the CLI fills it
//! from flags (preset, then settings files, then single settings, then the schedule), so
//! every value meets the same registry checks with the same messages.

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use watchtower_engine::RawValue;
use watchtower_engine::config::{Origin, Override};
use watchtower_runner::{Scenario, Schedule, Scheduled};

use crate::convert::{mapping_items, raw_value, scenario_error, sequence_items, type_name};

/// Adds settings files (`config=`): one path or a list of paths.
pub fn add_config(scenario: &mut Scenario, config: &Bound<'_, PyAny>) -> PyResult<()> {
    let paths: Vec<PathBuf> = if config.is_instance_of::<PyString>() || config.hasattr("__fspath__")? {
        vec![config.extract()?]
    } else {
        sequence_items(config, "config")?.iter().map(|p| p.extract()).collect::<PyResult<_>>()?
    };
    for path in paths {
        scenario.read_config(&path).map_err(scenario_error)?;
    }
    Ok(())
}

/// Adds `settings=`: `{"government.income_tax_rate": 0.3}`, or by area,
/// `{"government": {"income_tax_rate": 0.3}}` (as in a settings file).
pub fn add_settings(scenario: &mut Scenario, settings: &Bound<'_, PyAny>) -> PyResult<()> {
    for (key, value) in mapping_items(settings, "settings")? {
        let key: String = key
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("settings keys must be strings, not {}", type_name(&key))))?;
        if !key.contains('.') && mapping_items(&value, "").is_ok() && !value.is_instance_of::<PyString>() {
            for (name, inner) in mapping_items(&value, "settings")? {
                let name: String = name.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "keys under settings['{key}'] must be strings, not {}",
                        type_name(&name)
                    ))
                })?;
                push(scenario, format!("{key}.{name}"), &inner);
            }
        } else {
            push(scenario, key, &value);
        }
    }
    Ok(())
}

fn push(scenario: &mut Scenario, key: String, value: &Bound<'_, PyAny>) {
    let origin = Origin { source: format!("settings['{key}']"), line: None };
    scenario.settings.push(Override { key, value: raw_value(value), origin });
}

/// Adds `schedule=`: a list of `{"tick": T, "set": {KEY: VALUE, ...}}`, as a settings
/// file's `schedule:` list.
pub fn add_schedule(scenario: &mut Scenario, schedule: &Bound<'_, PyAny>) -> PyResult<()> {
    let mut entries = Vec::new();
    for (i, entry) in sequence_items(schedule, "schedule")?.iter().enumerate() {
        let at = format!("schedule[{i}]");
        let bad = |message: &str| PyValueError::new_err(format!("{at}: {message}"));
        let items = mapping_items(entry, &at)
            .map_err(|_| bad("each entry must be {\"tick\": T, \"set\": {KEY: VALUE, ...}}"))?;
        let (mut tick, mut set) = (None, None);
        for (name, value) in items {
            match name.extract::<String>().as_deref() {
                Ok("tick") => tick = Some(value),
                Ok("set") => set = Some(value),
                _ => return Err(bad(&format!("unknown key {name} in a `schedule` entry (it takes `tick` and `set`)"))),
            }
        }
        let tick = tick.ok_or_else(|| bad("a `schedule` entry needs `tick`"))?;
        let tick = match raw_value(&tick) {
            RawValue::Int(t) if t >= 0 => t as u64,
            _ => return Err(bad("`tick` must be a whole number, 0 or more")),
        };
        let set = set.ok_or_else(|| bad("a `schedule` entry needs `set`"))?;
        let set = mapping_items(&set, &at).map_err(|_| bad("`set` must be a dict of KEY: VALUE"))?;
        for (key, value) in set {
            let key: String =
                key.extract().map_err(|_| bad(&format!("`set` keys must be strings, not {}", type_name(&key))))?;
            entries.push(Scheduled {
                tick,
                key,
                value: raw_value(&value),
                origin: Origin { source: at.clone(), line: None },
            });
        }
    }
    scenario.schedule.extend(Schedule::new(entries));
    Ok(())
}

/// Checks the whole scenario (preset, settings and schedule against the registry) and
/// builds it; the registry's message on the first bad value.
pub fn build(scenario: &Scenario) -> PyResult<watchtower_engine::Simulation> {
    scenario.build().map_err(scenario_error)
}
