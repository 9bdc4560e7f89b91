//! The registry's public schema: what `GET /api/registry` returns and what the dashboard
//! builds its controls from.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of a registry parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A real number (`f64`).
    Float,
    /// A whole number (`i64`).
    Int,
    /// A switch.
    Bool,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamKind::Float => "a number",
            ParamKind::Int => "a whole number",
            ParamKind::Bool => "true or false",
        })
    }
}

/// A parameter's value; serialised as a bare JSON number or boolean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A switch.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
}

impl ParamValue {
    /// The kind of this value.
    pub fn kind(&self) -> ParamKind {
        match self {
            ParamValue::Bool(_) => ParamKind::Bool,
            ParamValue::Int(_) => ParamKind::Int,
            ParamValue::Float(_) => ParamKind::Float,
        }
    }

    /// The value as a real number (`true` is 1).
    pub fn as_f64(&self) -> f64 {
        match *self {
            ParamValue::Bool(b) => f64::from(u8::from(b)),
            ParamValue::Int(i) => i as f64,
            ParamValue::Float(x) => x,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
        }
    }
}

/// One parameter as the outside world sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// Full key, `area.name`.
    pub key: String,
    /// The area (group) the key belongs to: `government`, `bank`, `firms`, ...
    pub area: String,
    /// The value's type.
    pub kind: ParamKind,
    /// The current value.
    pub value: ParamValue,
    /// The value at start-up from `economy_params.yaml`.
    pub default: ParamValue,
    /// Smallest accepted value (numbers only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    /// Largest accepted value (numbers only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
    /// Unit of the value, in words.
    pub unit: String,
    /// The model's symbol for it, if any (`θ`, `R`, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub symbol: Option<String>,
    /// One line on what it does.
    pub description: String,
    /// Where its default comes from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    /// Whether it can be changed while the simulation runs.
    pub live: bool,
    /// Whether 0 is accepted besides `[min, max]` (a rate where 0 means "no limit").
    #[serde(default)]
    pub zero_allowed: bool,
}

/// The whole registry at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrySnapshot {
    /// Increases by one with every applied change.
    pub version: u64,
    /// Every parameter, sorted by key.
    pub params: Vec<ParamInfo>,
}
