//! Start-up configuration: presets, `--config` files and `--set` overrides, applied to
//! the registry in that order.
//!
//! A configuration file has the shape of `economy_params.yaml` (area → key), where a key
//! is either a bare value (`income_tax_rate: 0.3`) or a map with only `value`. Ranges,
//! units and descriptions are fixed by the registry, so a file may not redefine them.
//! Every error names the key and, for files, the line. The engine does no I/O: callers
//! read the files and pass their text. A file may also hold a top-level `schedule:` (see
//! [`SCHEDULE`]), which is skipped here.

use crate::registry::{RawValue, Registry, RegistryError};
use crate::yaml::{self, Doc, Node, YamlError};

pub use crate::yaml::Origin;

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

impl From<YamlError> for ConfigError {
    fn from(e: YamlError) -> Self {
        ConfigError::Shape { origin: e.origin, message: e.message }
    }
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

/// Parses a configuration file's text, with the reader of every user's YAML
/// ([`crate::yaml`]): every error names the file and the line.
pub fn parse_overlay(text: &str, source: &str) -> Result<Vec<Override>, ConfigError> {
    // A file of nothing but comments sets nothing.
    if text.lines().all(|l| l.split('#').next().unwrap_or("").trim().is_empty()) {
        return Ok(Vec::new());
    }
    let doc = Doc::parse(text, source)?;
    let shape = |node: &Node, message: String| ConfigError::from(doc.error(node, message));
    let areas = doc
        .root
        .as_mapping()
        .ok_or_else(|| shape(&doc.root, "expected a map of areas (government:, bank:, ...)".into()))?;
    let mut out = Vec::new();
    for (area_key, entries) in areas.iter() {
        let area = area_key.as_str();
        if area == SCHEDULE {
            continue; // commands at ticks, not settings: the runner reads them
        }
        let area_node = Node::Scalar(area_key.clone());
        let entries = entries
            .as_mapping()
            .ok_or_else(|| shape(&area_node, format!("`{area}` must be a map of keys to values")))?;
        for (name, entry) in entries.iter() {
            let key = format!("{area}.{}", name.as_str());
            let name_node = Node::Scalar(name.clone());
            let value = match entry.as_mapping() {
                Some(fields) => {
                    let mut value = None;
                    for (field, v) in fields.iter() {
                        match field.as_str() {
                            "value" => value = Some(v),
                            other => {
                                return Err(shape(
                                    &name_node,
                                    format!(
                                        "`{key}`: only `value` can be set here (found `{other}`); ranges, units and descriptions come from economy_params.yaml"
                                    ),
                                ));
                            }
                        }
                    }
                    value.ok_or_else(|| shape(&name_node, format!("`{key}`: missing `value`")))?
                }
                None => entry,
            };
            out.push(Override { key, value: yaml::raw_value(value), origin: doc.origin(&name_node) });
        }
    }
    Ok(out)
}

/// Parses one `KEY=VALUE` argument: the one parser of `run --set`, `run --fork-of … --set`
/// and an experiment's `--set KEY=VALUE`, with the one coercion of the value
/// ([`RawValue::from_text`], which also reads a settings file's or a spec's plain scalars).
pub fn parse_set(arg: &str) -> Result<Override, ConfigError> {
    let (key, value) = arg.split_once('=').ok_or_else(|| ConfigError::BadSet { arg: arg.to_string() })?;
    if key.trim().is_empty() {
        return Err(ConfigError::BadSet { arg: arg.to_string() });
    }
    Ok(Override {
        key: key.trim().to_string(),
        value: RawValue::from_text(value),
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
    fn every_style_of_file_keeps_its_lines() {
        let text = "# policy\n{government: {income_tax_rat: 0.3}}\n";
        let mut r = Registry::builtin(ModelKind::Mark0);
        let msg = apply_overrides(&mut r, &parse_overlay(text, "f.yaml").unwrap()).unwrap_err().to_string();
        assert!(msg.starts_with("f.yaml, line 2: unknown key `government.income_tax_rat`"), "{msg}");
        let text = "government:\n  income_tax_rate: 0.3\n  income_tax_rate: 0.2\n";
        let msg = parse_overlay(text, "d.yaml").unwrap_err().to_string();
        assert!(msg.starts_with("d.yaml, line 2: `income_tax_rate` is given twice (again on line 3)"), "{msg}");
        assert!(parse_overlay("# nothing yet\n", "e.yaml").unwrap().is_empty());
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
