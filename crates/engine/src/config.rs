//! Start-up configuration: presets, `--config` files and `--set` overrides, applied to
//! the registry in that order.
//!
//! A configuration file has the shape of `economy_params.yaml` (area → key), where a key
//! is either a bare value (`income_tax_rate: 0.3`) or a map with only `value`. Ranges,
//! units and descriptions are fixed by the registry, so a file may not redefine them.
//! Every error names the key and, for files, the line. The engine does no I/O: callers
//! read the files and pass their text. A file may also hold a top-level `schedule:` (see
//! [`SCHEDULE`]), which is skipped here.

use std::fmt;

use crate::registry::{RawValue, Registry, RegistryError};

/// Where a setting came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// `preset sim`, a file path, or `--set`.
    pub source: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// One `key = value` setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Full key.
    pub key: String,
    /// The value as given.
    pub value: RawValue,
    /// Where it was given.
    pub origin: Origin,
}

/// A configuration that cannot be applied; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML, or not area → key → value.
    #[error("{origin}: {message}")]
    Shape {
        /// Where.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// The registry refused a setting.
    #[error("{origin}: {source}")]
    Invalid {
        /// Where.
        origin: Origin,
        /// Why.
        source: RegistryError,
    },
    /// A `--set` argument without `=`.
    #[error("--set {arg}: expected KEY=VALUE, e.g. --set government.income_tax_rate=0.3")]
    BadSet {
        /// The argument.
        arg: String,
    },
    /// No preset of that name.
    #[error("unknown preset `{name}`; the presets are: {}", preset_names().join(", "))]
    UnknownPreset {
        /// The name given.
        name: String,
    },
}

/// The one top-level key of a settings file that is not an area: a list of commands to
/// apply at given ticks, which the runner reads (the engine has no notion of a schedule).
pub const SCHEDULE: &str = "schedule";

/// The named starting points for `--preset`.
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "watchtower",
        include_str!("../presets/watchtower.yaml"),
        "Mark-0 with the 2017 bank and central bank, and the government on (the default)",
    ),
    (
        "mark0-2017",
        include_str!("../presets/mark0-2017.yaml"),
        "the papers' 2017 setting with the central-bank block, government off",
    ),
    ("mark0-2015", include_str!("../presets/mark0-2015.yaml"), "the papers' 2015 setting, government off"),
    ("sim", include_str!("../presets/sim.yaml"), "Godley & Lavoie's SIM: the firm sector reduced to SIM's assumptions"),
];

/// The names of all presets.
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(name, _, _)| *name).collect()
}

/// The settings of a preset.
pub fn preset(name: &str) -> Result<Vec<Override>, ConfigError> {
    let (_, text, _) = PRESETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ConfigError::UnknownPreset { name: name.to_string() })?;
    parse_overlay(text, &format!("preset {name}"))
}

/// Parses a configuration file's text.
pub fn parse_overlay(text: &str, source: &str) -> Result<Vec<Override>, ConfigError> {
    use serde_yaml_ng::Value as Y;
    let at = |line: Option<usize>| Origin { source: source.to_string(), line };
    let shape = |line, message: String| ConfigError::Shape { origin: at(line), message };
    let root: Y = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        shape(line, e.to_string())
    })?;
    let areas = match root {
        Y::Null => return Ok(Vec::new()),
        Y::Mapping(m) => m,
        _ => return Err(shape(None, "expected a map of areas (government:, bank:, ...)".into())),
    };
    let mut out = Vec::new();
    for (area, entries) in areas {
        let area = scalar_name(&area).ok_or_else(|| shape(None, "area names must be text".into()))?;
        if area == SCHEDULE {
            continue; // commands at ticks, not settings: the runner reads them
        }
        let area_line = locate(text, &area, None);
        let Y::Mapping(entries) = entries else {
            return Err(shape(area_line, format!("`{area}` must be a map of keys to values")));
        };
        for (name, entry) in entries {
            let name =
                scalar_name(&name).ok_or_else(|| shape(area_line, format!("keys under `{area}` must be text")))?;
            let key = format!("{area}.{name}");
            let line = locate(text, &area, Some(&name));
            let value = match entry {
                Y::Mapping(fields) => {
                    let mut value = None;
                    for (field, v) in fields {
                        match scalar_name(&field).as_deref() {
                            Some("value") => value = Some(v),
                            other => {
                                return Err(shape(
                                    line,
                                    format!(
                                        "`{key}`: only `value` can be set here (found `{}`); ranges, units and descriptions come from economy_params.yaml",
                                        other.unwrap_or("?")
                                    ),
                                ));
                            }
                        }
                    }
                    value.ok_or_else(|| shape(line, format!("`{key}`: missing `value`")))?
                }
                bare => bare,
            };
            out.push(Override { key, value: RawValue::from(&value), origin: at(line) });
        }
    }
    Ok(out)
}

/// Parses one `--set KEY=VALUE` argument.
pub fn parse_set(arg: &str) -> Result<Override, ConfigError> {
    let (key, value) = arg.split_once('=').ok_or_else(|| ConfigError::BadSet { arg: arg.to_string() })?;
    if key.trim().is_empty() {
        return Err(ConfigError::BadSet { arg: arg.to_string() });
    }
    Ok(Override {
        key: key.trim().to_string(),
        value: RawValue::from_cli(value),
        origin: Origin { source: format!("--set {arg}"), line: None },
    })
}

/// Applies settings in order. All are validated on a copy first, so an error in the
/// last one leaves the registry exactly as it was.
pub fn apply_overrides(registry: &mut Registry, overrides: &[Override]) -> Result<(), ConfigError> {
    let mut staged = registry.clone();
    for o in overrides {
        staged
            .set_initial(&o.key, &o.value)
            .map_err(|source| ConfigError::Invalid { origin: o.origin.clone(), source })?;
    }
    *registry = staged;
    Ok(())
}

fn scalar_name(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Finds the 1-based line of `area:` (or of `name:` inside it) in block-style YAML.
/// Best effort: flow-style files simply get no line number.
fn locate(text: &str, area: &str, name: Option<&str>) -> Option<usize> {
    let mut in_area = false;
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        if content.trim().is_empty() {
            continue;
        }
        let indented = content.starts_with([' ', '\t']);
        let label = content.trim().split(':').next().unwrap_or("").trim().trim_matches(['"', '\'']);
        if !indented {
            in_area = label == area;
            if in_area && name.is_none() {
                return Some(i + 1);
            }
        } else if in_area && Some(label) == name {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ModelKind;

    #[test]
    fn bare_values_and_value_maps_both_work() {
        let text = "government:\n  income_tax_rate: 0.3\n  corporate_tax_rate:\n    value: 0.1\n";
        let mut r = Registry::builtin(ModelKind::Mark0);
        apply_overrides(&mut r, &parse_overlay(text, "my.yaml").unwrap()).unwrap();
        assert_eq!(r.f64("government.income_tax_rate"), 0.3);
        assert_eq!(r.f64("government.corporate_tax_rate"), 0.1);
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let mut r = Registry::builtin(ModelKind::Mark0);
        let text = "# comment\ngovernment:\n  income_tax_rate: 0.3\n  income_tax_rat: 0.3\n";
        let err = apply_overrides(&mut r, &parse_overlay(text, "my.yaml").unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("my.yaml, line 4: unknown key `government.income_tax_rat`"), "{msg}");
        assert!(msg.contains("did you mean `government.income_tax_rate`"), "{msg}");
        // The valid first line was not applied either.
        assert_eq!(r.f64("government.income_tax_rate"), 0.2);

        let text = "bank:\n  policy_rate: 7\n";
        let msg = apply_overrides(&mut r, &parse_overlay(text, "b.yaml").unwrap()).unwrap_err().to_string();
        assert!(msg.starts_with("b.yaml, line 2: `bank.policy_rate` = 7 is out of range"), "{msg}");

        let text = "bank:\n  policy_rate:\n    value: 0.01\n    max: 9\n";
        let msg = parse_overlay(text, "c.yaml").unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("only `value` can be set"), "{msg}");

        let msg = parse_overlay("bank: [1, 2", "d.yaml").unwrap_err().to_string();
        assert!(msg.starts_with("d.yaml"), "{msg}");
    }

    #[test]
    fn set_overrides_parse_and_name_bad_input() {
        let o = parse_set("government.income_tax_rate=0.3").unwrap();
        assert_eq!(o.value, RawValue::Float(0.3));
        assert!(parse_set("government.income_tax_rate").is_err());
        let mut r = Registry::builtin(ModelKind::Mark0);
        let err = apply_overrides(&mut r, &[parse_set("firms.bankruptcy_threshold=nan").unwrap()]).unwrap_err();
        assert!(err.to_string().contains("`firms.bankruptcy_threshold` takes a finite number, not NaN"), "{err}");
    }

    #[test]
    fn every_preset_applies() {
        for name in preset_names() {
            let mut r = Registry::builtin(ModelKind::Mark0);
            apply_overrides(&mut r, &preset(name).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(matches!(preset("mark0-2016"), Err(ConfigError::UnknownPreset { .. })));
    }
}
