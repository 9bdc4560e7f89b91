//! The registry: every tunable parameter, its type, unit, range, default and description
//! (DESIGN.md §4, the seeds' GlobalRegistry).
//!
//! The schema and defaults come from the engine crate's `economy_params.yaml` (the file at
//! the repository root is a symbolic link to it), compiled into the binary so it runs from anywhere. [`Registry::apply`] is the one
//! gate through which values change while the economy runs: it validates the type,
//! finiteness and range and either applies the value and returns the old and new value,
//! or returns an error that names the key and changes nothing.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use watchtower_protocol::{ParamInfo, ParamKind, ParamValue, RegistrySnapshot};

/// The registry file shipped with Watchtower.
pub const BUILTIN_REGISTRY: &str = include_str!("../economy_params.yaml");

/// The key of the time mapping: how many ticks make a year.
pub const TICKS_PER_YEAR: &str = "economy.ticks_per_year";

/// Which model a parameter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Mark-0 with a government.
    Mark0,
    /// The Boltzmann wealth benchmark.
    Boltzmann,
}

impl ModelKind {
    /// The model's name as it appears in telemetry and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mark0 => "mark0",
            ModelKind::Boltzmann => "boltzmann",
        }
    }

    /// The model called `name` (as `name` spells it), if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        [ModelKind::Mark0, ModelKind::Boltzmann].into_iter().find(|m| m.name() == name)
    }
}

/// A value as it arrives from outside (JSON, YAML, the command line), before the
/// registry has checked it against a key.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A real number, possibly NaN or infinite (YAML `.nan`, `--set k=inf`).
    Float(f64),
    /// Text.
    Text(String),
    /// Null, a list or a map: never a valid parameter value.
    Other(&'static str),
}

impl RawValue {
    /// What kind of thing this is, for error messages.
    fn describe(&self) -> String {
        match self {
            RawValue::Bool(b) => format!("{b}"),
            RawValue::Int(i) => format!("{i}"),
            RawValue::Float(x) => format!("{x}"),
            RawValue::Text(s) if s.chars().count() > 40 => "a long string".to_string(),
            RawValue::Text(s) => format!("the string {s:?}"),
            RawValue::Other(kind) => (*kind).to_string(),
        }
    }

    /// The value as the JSON a command carries (null for what has no JSON form: NaN, the
    /// infinities, lists and maps, which the registry refuses anyway).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            RawValue::Bool(b) => (*b).into(),
            RawValue::Int(i) => (*i).into(),
            RawValue::Float(x) => serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into),
            RawValue::Text(t) => t.clone().into(),
            RawValue::Other(_) => serde_json::Value::Null,
        }
    }

    /// The one coercion of a written value: `--set KEY=VALUE` (run, fork, an experiment's
    /// `--set`) and an unquoted scalar of a YAML file (settings, schedules, a spec's
    /// `set:`) are all read here, as YAML reads a plain scalar: `true`/`false`, whole
    /// numbers, reals (including `nan`, `inf`, `.nan` and `.inf`, which the registry then
    /// refuses by name), `null`/`~`/nothing, and anything else is text. So the same text
    /// means the same value whichever way it was given.
    pub fn from_text(text: &str) -> Self {
        let t = text.trim();
        match t {
            "true" => return RawValue::Bool(true),
            "false" => return RawValue::Bool(false),
            "~" | "null" | "Null" | "NULL" | "" => return RawValue::Other("null"),
            ".nan" | ".NaN" | ".NAN" => return RawValue::Float(f64::NAN),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return RawValue::Float(f64::INFINITY),
            "-.inf" | "-.Inf" | "-.INF" => return RawValue::Float(f64::NEG_INFINITY),
            _ => {}
        }
        if let Ok(i) = t.parse::<i64>() {
            return RawValue::Int(i);
        }
        if let Ok(x) = t.parse::<f64>() {
            return RawValue::Float(x);
        }
        RawValue::Text(t.to_string())
    }
}

impl From<&serde_json::Value> for RawValue {
    fn from(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Bool(b) => RawValue::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => RawValue::Int(i),
                None => RawValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => RawValue::Text(s.clone()),
            serde_json::Value::Null => RawValue::Other("null"),
            serde_json::Value::Array(_) => RawValue::Other("a list"),
            serde_json::Value::Object(_) => RawValue::Other("an object"),
        }
    }
}

impl From<&serde_yaml_ng::Value> for RawValue {
    fn from(value: &serde_yaml_ng::Value) -> Self {
        use serde_yaml_ng::Value as Y;
        match value {
            Y::Bool(b) => RawValue::Bool(*b),
            Y::Number(n) => match n.as_i64() {
                Some(i) => RawValue::Int(i),
                None => RawValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Y::String(s) => RawValue::Text(s.clone()),
            Y::Null => RawValue::Other("null"),
            Y::Sequence(_) => RawValue::Other("a list"),
            Y::Mapping(_) => RawValue::Other("a map"),
            Y::Tagged(_) => RawValue::Other("a tagged value"),
        }
    }
}

/// Why a value was refused. Every variant names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// No such key.
    #[error("unknown key `{key}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        /// The key as given.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// The value's type does not fit the key.
    #[error("`{key}` takes {expected}, not {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What the key takes.
        expected: ParamKind,
        /// What was given.
        found: String,
    },
    /// NaN or infinity.
    #[error("`{key}` takes a finite number, not {found}")]
    NotFinite {
        /// The key.
        key: String,
        /// What was given.
        found: String,
    },
    /// Outside `[min, max]`.
    #[error("`{key}` = {value} is out of range: it must be between {min} and {max} ({unit})")]
    OutOfRange {
        /// The key.
        key: String,
        /// What was given.
        value: f64,
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
        /// The key's unit.
        unit: String,
    },
    /// Structural parameters are fixed once the economy exists.
    #[error("`{key}` can only be set before the run starts (--set or --config), not while it runs")]
    NotLive {
        /// The key.
        key: String,
    },
}

impl RegistryError {
    /// The protocol's code for this error.
    pub fn code(&self) -> watchtower_protocol::ErrorCode {
        use watchtower_protocol::ErrorCode as C;
        match self {
            RegistryError::UnknownKey { .. } => C::UnknownKey,
            RegistryError::WrongType { .. } => C::WrongType,
            RegistryError::NotFinite { .. } => C::NotFinite,
            RegistryError::OutOfRange { .. } => C::OutOfRange,
            RegistryError::NotLive { .. } => C::NotLive,
        }
    }
}

/// The registry file could not be loaded (a bug in `economy_params.yaml`).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Not valid YAML of the expected shape.
    #[error("economy_params.yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// An entry contradicts itself.
    #[error("economy_params.yaml: `{key}`: {problem}")]
    Entry {
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// One parameter's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Full key, `area.name`.
    pub key: String,
    /// The area.
    pub area: String,
    /// Type.
    pub kind: ParamKind,
    /// Default value.
    pub default: ParamValue,
    /// Range (numbers).
    pub min: Option<f64>,
    /// Range (numbers).
    pub max: Option<f64>,
    /// Unit in words.
    pub unit: String,
    /// Model symbol.
    pub symbol: Option<String>,
    /// Source of the default.
    pub source: Option<String>,
    /// One line.
    pub description: String,
    /// Changeable while running.
    pub live: bool,
    /// Acts once and reads back as its default.
    pub trigger: bool,
    /// 0 is accepted besides `[min, max]` (a rate where 0 means "no limit").
    pub zero_allowed: bool,
    /// `None` for parameters of every model.
    pub model: Option<ModelKind>,
}

/// An applied change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The key.
    pub key: String,
    /// Before.
    pub old: ParamValue,
    /// After (for a trigger, the value that acted; it reads back as its default).
    pub new: ParamValue,
}

/// The live values of every parameter of one model.
#[derive(Debug, Clone)]
pub struct Registry {
    specs: Vec<ParamSpec>,
    values: Vec<ParamValue>,
    index: BTreeMap<String, usize>,
    version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryYaml {
    value: serde_yaml_ng::Value,
    #[serde(rename = "type")]
    kind: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    unit: String,
    symbol: Option<String>,
    source: Option<String>,
    description: String,
    live: Option<bool>,
    trigger: Option<bool>,
    zero_allowed: Option<bool>,
    model: Option<String>,
}

impl Registry {
    /// The built-in registry, restricted to `model`'s parameters.
    pub fn builtin(model: ModelKind) -> Self {
        Self::from_yaml(BUILTIN_REGISTRY, model).expect("the built-in economy_params.yaml is valid (tested)")
    }

    /// Loads a registry schema from YAML text, keeping `model`'s parameters.
    pub fn from_yaml(text: &str, model: ModelKind) -> Result<Self, SchemaError> {
        let areas: BTreeMap<String, BTreeMap<String, EntryYaml>> = serde_yaml_ng::from_str(text)?;
        let mut specs = Vec::new();
        for (area, entries) in areas {
            for (name, entry) in entries {
                let spec = Self::spec(&area, &name, entry)?;
                if spec.model.is_none_or(|m| m == model) {
                    specs.push(spec);
                }
            }
        }
        specs.sort_by(|a, b| a.key.cmp(&b.key));
        let values = specs.iter().map(|s| s.default).collect();
        let index = specs.iter().enumerate().map(|(i, s)| (s.key.clone(), i)).collect();
        Ok(Self { specs, values, index, version: 0 })
    }

    fn spec(area: &str, name: &str, entry: EntryYaml) -> Result<ParamSpec, SchemaError> {
        let key = format!("{area}.{name}");
        let bad = |problem: String| SchemaError::Entry { key: key.clone(), problem };
        let kind = match entry.kind.as_deref().unwrap_or("float") {
            "float" => ParamKind::Float,
            "int" => ParamKind::Int,
            "bool" => ParamKind::Bool,
            other => return Err(bad(format!("unknown type `{other}`"))),
        };
        let model = match entry.model.as_deref().unwrap_or("mark0") {
            "any" => None,
            name => Some(ModelKind::from_name(name).ok_or_else(|| bad(format!("unknown model `{name}`")))?),
        };
        let mut spec = ParamSpec {
            key: key.clone(),
            area: area.to_string(),
            kind,
            default: ParamValue::Bool(false),
            min: entry.min,
            max: entry.max,
            unit: entry.unit,
            symbol: entry.symbol,
            source: entry.source,
            description: entry.description,
            live: entry.live.unwrap_or(true),
            trigger: entry.trigger.unwrap_or(false),
            zero_allowed: entry.zero_allowed.unwrap_or(false),
            model,
        };
        if kind != ParamKind::Bool && (spec.min.is_none() || spec.max.is_none()) {
            return Err(bad("numbers need a min and a max".into()));
        }
        spec.default = validate(&spec, &RawValue::from(&entry.value)).map_err(|e| bad(e.to_string()))?;
        Ok(spec)
    }

    /// Applies a command while the economy runs: validates, then changes the value.
    /// Structural (`live: false`) keys are refused.
    pub fn apply(&mut self, key: &str, value: &RawValue) -> Result<Change, RegistryError> {
        let i = self.lookup(key)?;
        if !self.specs[i].live {
            return Err(RegistryError::NotLive { key: key.to_string() });
        }
        self.set_at(i, value)
    }

    /// Sets a value before the run starts (presets, `--config`, `--set`): like
    /// [`Registry::apply`] but structural keys are allowed.
    pub fn set_initial(&mut self, key: &str, value: &RawValue) -> Result<Change, RegistryError> {
        let i = self.lookup(key)?;
        self.set_at(i, value)
    }

    fn set_at(&mut self, i: usize, value: &RawValue) -> Result<Change, RegistryError> {
        let spec = &self.specs[i];
        let new = validate(spec, value)?;
        let old = self.values[i];
        if !spec.trigger {
            self.values[i] = new;
        }
        self.version += 1;
        Ok(Change { key: spec.key.clone(), old, new })
    }

    fn lookup(&self, key: &str) -> Result<usize, RegistryError> {
        self.index
            .get(key)
            .copied()
            .ok_or_else(|| RegistryError::UnknownKey { key: key.to_string(), suggestion: self.suggest(key) })
    }

    /// The known key closest to `key`, if it is plausibly a typo of it.
    pub fn suggest(&self, key: &str) -> Option<String> {
        crate::suggest::closest(key, self.specs.iter().map(|s| s.key.as_str())).map(str::to_string)
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// A parameter's current value.
    pub fn get(&self, key: &str) -> Option<ParamValue> {
        self.index.get(key).map(|&i| self.values[i])
    }

    /// A numeric parameter the model relies on. Panics if the key is missing, which
    /// would be a mismatch between the model and `economy_params.yaml` (tested).
    pub fn f64(&self, key: &str) -> f64 {
        self.get(key).unwrap_or_else(|| panic!("registry has no `{key}`")).as_f64()
    }

    /// How many ticks make a year (`economy.ticks_per_year`, docs/MODEL.md §8): the time
    /// mapping outputs read rates per year and time in years by. No rule of a model reads it.
    pub fn ticks_per_year(&self) -> f64 {
        self.f64(TICKS_PER_YEAR)
    }

    /// A switch the model relies on; panics like [`Registry::f64`].
    pub fn flag(&self, key: &str) -> bool {
        self.f64(key) != 0.0
    }

    /// Puts the change counter back where a checkpoint found it (the values were set
    /// through [`Registry::set_initial`], which counts too).
    pub(crate) fn restore_version(&mut self, version: u64) {
        self.version = version;
    }

    /// Increases with every applied change; models re-read their parameters when it moves.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every parameter's schema, sorted by key.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The public view of the registry.
    pub fn snapshot(&self) -> RegistrySnapshot {
        let params = self
            .specs
            .iter()
            .zip(&self.values)
            .map(|(s, v)| ParamInfo {
                key: s.key.clone(),
                area: s.area.clone(),
                kind: s.kind,
                value: *v,
                default: s.default,
                min: s.min,
                max: s.max,
                unit: s.unit.clone(),
                symbol: s.symbol.clone(),
                description: s.description.clone(),
                source: s.source.clone(),
                live: s.live,
                zero_allowed: s.zero_allowed,
            })
            .collect();
        RegistrySnapshot { version: self.version, params }
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (s, v) in self.specs.iter().zip(&self.values) {
            writeln!(f, "{} = {}", s.key, v)?;
        }
        Ok(())
    }
}

/// Checks `value` against `spec` and converts it to the key's type.
fn validate(spec: &ParamSpec, value: &RawValue) -> Result<ParamValue, RegistryError> {
    let key = || spec.key.clone();
    let wrong = || RegistryError::WrongType { key: key(), expected: spec.kind, found: value.describe() };
    let number = match (spec.kind, value) {
        (ParamKind::Bool, RawValue::Bool(b)) => return Ok(ParamValue::Bool(*b)),
        (ParamKind::Bool, _) => return Err(wrong()),
        (_, RawValue::Int(i)) => *i as f64,
        (_, RawValue::Float(x)) => *x,
        (_, _) => return Err(wrong()),
    };
    if !number.is_finite() {
        return Err(RegistryError::NotFinite { key: key(), found: value.describe() });
    }
    let (min, max) = (spec.min.unwrap_or(f64::MIN), spec.max.unwrap_or(f64::MAX));
    let zero = spec.zero_allowed && number == 0.0;
    if !zero && !(min..=max).contains(&number) {
        let unit = if spec.zero_allowed { format!("{}; or 0", spec.unit) } else { spec.unit.clone() };
        return Err(RegistryError::OutOfRange { key: key(), value: number, min, max, unit });
    }
    match spec.kind {
        ParamKind::Float => Ok(ParamValue::Float(number)),
        ParamKind::Int => match value {
            RawValue::Int(i) => Ok(ParamValue::Int(*i)),
            _ if number.fract() == 0.0 => Ok(ParamValue::Int(number as i64)),
            _ => Err(wrong()),
        },
        ParamKind::Bool => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::builtin(ModelKind::Mark0)
    }

    #[test]
    fn builtin_registry_loads_for_both_models() {
        let mark0 = registry();
        assert!(mark0.contains("government.income_tax_rate"));
        assert!(mark0.contains("sim.paused"));
        assert!(!mark0.contains("boltzmann.initial_wealth"));
        let boltzmann = Registry::builtin(ModelKind::Boltzmann);
        assert!(boltzmann.contains("boltzmann.initial_wealth"));
        assert!(!boltzmann.contains("firms.hiring_firing_ratio"));
    }

    #[test]
    fn apply_returns_old_and_new() {
        let mut r = registry();
        let change = r.apply("government.income_tax_rate", &RawValue::Float(0.3)).unwrap();
        assert_eq!(change.old, ParamValue::Float(0.2));
        assert_eq!(change.new, ParamValue::Float(0.3));
        assert_eq!(r.f64("government.income_tax_rate"), 0.3);
        assert_eq!(r.version(), 1);
        // Integers are fine for real-valued keys.
        r.apply("government.income_tax_rate", &RawValue::Int(0)).unwrap();
        assert_eq!(r.get("government.income_tax_rate"), Some(ParamValue::Float(0.0)));
    }

    #[test]
    fn every_kind_of_bad_value_is_refused_and_changes_nothing() {
        let mut r = registry();
        let before = r.snapshot();
        let cases: Vec<(&str, RawValue, &str)> = vec![
            ("government.income_tax", RawValue::Float(0.3), "did you mean `government.income_tax_rate`"),
            ("nonsense", RawValue::Float(0.3), "unknown key `nonsense`"),
            ("government.income_tax_rate", RawValue::Text("0.3".into()), "takes a number"),
            ("government.income_tax_rate", RawValue::Bool(true), "takes a number"),
            ("government.income_tax_rate", RawValue::Other("null"), "not null"),
            ("government.income_tax_rate", RawValue::Float(f64::NAN), "finite number, not NaN"),
            ("government.income_tax_rate", RawValue::Float(f64::INFINITY), "finite number, not inf"),
            ("government.income_tax_rate", RawValue::Float(f64::NEG_INFINITY), "finite number, not -inf"),
            ("government.income_tax_rate", RawValue::Float(1.5), "must be between 0 and 0.9"),
            ("government.income_tax_rate", RawValue::Float(-0.1), "out of range"),
            ("sim.paused", RawValue::Int(1), "takes true or false"),
            ("sim.step", RawValue::Float(2.5), "takes a whole number"),
            ("firms.initial_production", RawValue::Float(0.4), "only be set before the run starts"),
        ];
        for (key, value, needle) in cases {
            let err = r.apply(key, &value).unwrap_err().to_string();
            assert!(err.contains(needle), "{key} = {value:?}: {err}");
            assert!(err.contains(key) || key == "nonsense" || err.contains("unknown key"), "{err}");
        }
        assert_eq!(r.snapshot(), before, "a rejected command changes nothing");
    }

    #[test]
    fn triggers_act_once_and_read_back_as_default() {
        let mut r = registry();
        let change = r.apply("sim.step", &RawValue::Int(5)).unwrap();
        assert_eq!(change.new, ParamValue::Int(5));
        assert_eq!(r.get("sim.step"), Some(ParamValue::Int(0)));
    }

    #[test]
    fn cli_values_parse_like_yaml_scalars() {
        assert_eq!(RawValue::from_text("0.3"), RawValue::Float(0.3));
        assert_eq!(RawValue::from_text("3"), RawValue::Int(3));
        assert_eq!(RawValue::from_text("true"), RawValue::Bool(true));
        assert!(matches!(RawValue::from_text("NaN"), RawValue::Float(x) if x.is_nan()));
        assert_eq!(RawValue::from_text("-inf"), RawValue::Float(f64::NEG_INFINITY));
        assert_eq!(RawValue::from_text("high"), RawValue::Text("high".into()));
    }
}
