//! An experiment's spec: what to run, read from YAML and checked whole before anything
//! runs. Every error names the file, the line and the key.
//!
//! ```yaml
//! name: mark0-2015-phase-diagram
//! model: mark0            # or boltzmann (then `agents:`)
//! preset: mark0-2015
//! firms: 1000
//! households: 10000
//! ticks: 3000
//! warmup: 1500            # ticks dropped before summarising
//! seeds: 2                # 2 means seeds 1 and 2; or a list [3, 7, 11]
//! set: {bank.policy_rate: 0.0}
//! indicators: [unemployment_rate, inflation]   # optional; the default is five
//! axes:                   # the grid is the product of the axes, times the seeds
//!   firms.hiring_firing_ratio: [0.5, 1, 1.5, 2, 2.5, 3]
//!   firms.bankruptcy_threshold: {from: 0.5, to: 5, steps: 10}   # `log: true`: geometric
//! # or, instead of a grid, a Saltelli design for Sobol indices over ranges:
//! # design: {sobol: {samples: 256, seed: 7, second_order: false}}
//! # axes: {firms.hiring_firing_ratio: {from: 1, to: 4}, ...}
//! schedule:               # commands applied at a tick in every run (optional)
//!   - {tick: 500, set: {government.income_tax_rate: 0.3}}
//! fork: {tick: 500, set: {government.income_tax_rate: 0.3}}   # optional: baseline + branch
//! ```

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;
use watchtower_engine::config::{self, Origin, Override};
use watchtower_engine::{ModelKind, RawValue, Registry};
use watchtower_protocol::Indicators;

use watchtower_engine::yaml::{Doc, YamlError, raw_value};
use watchtower_runner::branches::is_control;
use watchtower_runner::scenario::{DEFAULT_PRESET, Scenario};
use watchtower_runner::schedule::{Schedule, Scheduled};

use crate::design::{Design, Morris, Sobol};

/// The indicators summarised when the spec names none: unemployment, inflation, real
/// output, the wealth Gini and government debt.
pub const DEFAULT_INDICATORS: &[&str] =
    &["unemployment_rate", "inflation", "output_real", "gini_wealth", "government_debt"];

/// The top-level keys a spec takes.
pub const KEYS: &[&str] = &[
    "name",
    "description",
    "model",
    "preset",
    "firms",
    "households",
    "agents",
    "ticks",
    "warmup",
    "seeds",
    "set",
    "indicators",
    "axes",
    "design",
    "schedule",
    "fork",
];

/// Most runs one experiment may plan (grid points × seeds).
pub const MAX_RUNS: usize = 10_000_000;

/// Most ticks one run may have.
pub const MAX_TICKS: u64 = 100_000_000;

/// Longest `name` (and any other text but the description), in characters: an
/// experiment's name is shown in every listing.
pub const MAX_NAME: usize = 256;

/// Longest `description`, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Why a simulation control (`sim.*`) cannot be an axis: the controls pace a live
/// session, and a headless run has no pace to vary.
const CONTROL_IN_SPEC: &str =
    "`sim.*` keys are simulation controls (pause, pace, step), not settings of the economy: they cannot be an axis";

/// Why a simulation control cannot be changed by a fork: it paces every run at once.
const CONTROL_IN_FORK: &str = "is a simulation control: it paces every run at once and cannot differ in a branch";

/// Most values one axis may have.
pub const MAX_AXIS_VALUES: usize = 100_000;

/// One axis of the grid: a registry key and its values, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The registry key, which names the axis's column.
    pub key: String,
    /// The values, as written or expanded from a range; a range without `steps` (a
    /// designed axis) holds its two ends.
    pub values: Vec<RawValue>,
    /// `{from, to}` without `steps`: the range a design (Sobol) samples.
    pub range: Option<(f64, f64)>,
    /// Where the axis was written.
    pub origin: Origin,
}

/// `fork: {tick: T, set: {...}}`: every run is forked at tick T into a baseline and a
/// branch that gets the changes; both continue on the same random streams.
#[derive(Debug, Clone, PartialEq)]
pub struct Fork {
    /// The tick at whose phase 0 the branch's changes apply.
    pub tick: u64,
    /// The changes, as scheduled commands at `tick`.
    pub changes: Vec<Scheduled>,
}

/// A checked experiment spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentSpec {
    /// The experiment's name.
    pub name: String,
    /// Where it came from (a file name), for messages.
    pub source: String,
    /// The YAML as written (recorded with the experiment, so a resume reads it again).
    pub text: String,
    /// `--set` arguments applied on top, in order (recorded likewise).
    pub overrides: Vec<String>,
    /// Which model.
    pub model: ModelKind,
    /// The preset (Mark-0 only).
    pub preset: Option<String>,
    /// Mark-0: firms.
    pub firms: usize,
    /// Mark-0: households.
    pub households: usize,
    /// Boltzmann: agents.
    pub agents: usize,
    /// Ticks per run.
    pub ticks: u64,
    /// Ticks dropped before summarising: the window is `warmup..ticks`.
    pub warmup: u64,
    /// The seeds, each run once at every grid point.
    pub seeds: Vec<u64>,
    /// Settings applied after the preset in every run.
    pub settings: Vec<Override>,
    /// The indicators summarised: names of [`Indicators::FIELDS`].
    pub indicators: Vec<String>,
    /// The axes, in the order written (the last varies fastest).
    pub axes: Vec<Axis>,
    /// How the points are picked: a grid over the axes, or a Sobol design.
    pub design: Design,
    /// Commands at ticks, in every run.
    pub schedule: Schedule,
    /// The fork, if any.
    pub fork: Option<Fork>,
}

/// Why a spec was refused: the place and the reason.
pub type SpecError = YamlError;

fn err(origin: Origin, message: impl Into<String>) -> SpecError {
    YamlError { origin, message: message.into() }
}

impl ExperimentSpec {
    /// Reads and checks a spec from YAML `text`; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, SpecError> {
        Self::parse_with(text, source, &[])
    }

    /// Reads a spec and applies `--set KEY=VALUE` arguments: a top-level key of the spec
    /// (`ticks=200`, `seeds=3`, `warmup=100`, `firms=100`, `households=1000`, `agents=…`,
    /// `name=…`, `preset=…`) replaces the spec's value; a registry key (`area.key=…`)
    /// becomes a setting applied after the spec's `set:`. Everything is checked.
    pub fn parse_with(text: &str, source: &str, overrides: &[String]) -> Result<Self, SpecError> {
        Self::parse_extended(text, source, overrides, &[])
    }

    /// [`ExperimentSpec::parse_with`] for a spec that extends this one (a calibration's):
    /// the top-level keys in `extension` are left to the extension's own reader.
    pub fn parse_extended(
        text: &str,
        source: &str,
        overrides: &[String],
        extension: &[&str],
    ) -> Result<Self, SpecError> {
        let doc = Doc::parse(text, source)?;
        let root = doc.root.as_mapping().ok_or_else(|| doc.error(&doc.root, "a spec is a map of keys"))?;
        let at_root = doc.origin(&doc.root);
        let mut b = Builder::new(&doc);
        for (key, value) in root.iter() {
            let name = key.as_str();
            let key_node = Node::Scalar(key.clone());
            if extension.contains(&name) {
                continue;
            }
            if !KEYS.contains(&name) {
                let known: Vec<&str> = KEYS.iter().chain(extension).copied().collect();
                let hint = suggest(name, &known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                return Err(
                    doc.error(&key_node, format!("unknown key `{name}`{hint}; a spec takes {}", known.join(", ")))
                );
            }
            b.read(name, &key_node, value)?;
        }
        for arg in overrides {
            b.override_arg(arg)?;
        }
        b.finish(text, source, overrides, at_root)
    }

    /// Reads a spec given as a value (a Python dict, a JSON document): it is written out
    /// as JSON, which is YAML, and read as [`ExperimentSpec::parse_with`] reads text, so
    /// errors name the key and the line of that JSON (pretty-printed, one key a line).
    /// The axes come in the order of the value's map, which for `serde_json` is sorted
    /// by key (its `preserve_order` feature is off): to choose their order, pass text.
    pub fn from_value(value: &serde_json::Value, source: &str, overrides: &[String]) -> Result<Self, SpecError> {
        let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
        Self::parse_with(&text, source, overrides)
    }

    /// The number of points: for a grid, the product of the axes' lengths (1 without
    /// axes); for a Sobol design, N·(D+2) or N·(2D+2).
    pub fn points(&self) -> usize {
        self.design.points(self.axes.len()).unwrap_or_else(|| self.axes.iter().map(|a| a.values.len()).product())
    }

    /// The axes' ranges (for a design; a grid axis without one reads as 0..0).
    pub fn ranges(&self) -> Vec<(f64, f64)> {
        self.axes.iter().map(|a| a.range.unwrap_or((0.0, 0.0))).collect()
    }

    /// The number of runs: grid points × seeds.
    pub fn runs(&self) -> usize {
        self.points() * self.seeds.len()
    }

    /// The window's length in ticks.
    pub fn window(&self) -> u64 {
        self.ticks - self.warmup
    }

    /// The scenario of one run: the spec's settings, then the grid point's values.
    pub fn scenario(&self, point: &[RawValue], seed: u64) -> Scenario {
        let mut settings = self.settings.clone();
        for (axis, value) in self.axes.iter().zip(point) {
            settings.push(Override { key: axis.key.clone(), value: value.clone(), origin: axis.origin.clone() });
        }
        Scenario {
            model: self.model,
            seed,
            households: self.households,
            firms: self.firms,
            agents: self.agents,
            preset: self.preset.clone(),
            settings,
            schedule: self.schedule.clone(),
        }
    }

    /// The branch's schedule: the spec's, then the fork's changes at its tick.
    pub fn branch_schedule(&self) -> Option<Schedule> {
        let fork = self.fork.as_ref()?;
        let mut schedule = self.schedule.clone();
        schedule.extend(Schedule::new(fork.changes.clone()));
        Some(schedule)
    }
}

/// The closest of `options` to `word`, if plausibly a typo (the engine's one suggester).
fn suggest<'a>(word: &str, options: &[&'a str]) -> Option<&'a str> {
    watchtower_engine::suggest::closest(word, options.iter().copied())
}

/// A spec being read: each key as found, checked once everything is known.
struct Builder<'d> {
    doc: &'d Doc,
    name: Option<String>,
    model: Option<(ModelKind, Origin)>,
    preset: Option<(String, Origin)>,
    firms: Option<(usize, Origin)>,
    households: Option<(usize, Origin)>,
    agents: Option<(usize, Origin)>,
    ticks: Option<(u64, Origin)>,
    warmup: Option<(u64, Origin)>,
    seeds: Option<(Vec<u64>, Origin)>,
    settings: Vec<Override>,
    indicators: Option<(Vec<String>, Origin)>,
    axes: Vec<Axis>,
    /// Ranges written without `steps`, where: a grid refuses them.
    stepless: Vec<Origin>,
    design: Option<(Design, Origin)>,
    schedule: Schedule,
    fork: Option<(Fork, Origin, Origin)>,
}

impl<'d> Builder<'d> {
    fn new(doc: &'d Doc) -> Self {
        Self {
            doc,
            name: None,
            model: None,
            preset: None,
            firms: None,
            households: None,
            agents: None,
            ticks: None,
            warmup: None,
            seeds: None,
            settings: Vec::new(),
            indicators: None,
            axes: Vec::new(),
            stepless: Vec::new(),
            design: None,
            schedule: Schedule::default(),
            fork: None,
        }
    }

    /// A text value: at most [`MAX_DESCRIPTION`] characters for `description`,
    /// [`MAX_NAME`] for any other key.
    fn text(&self, key: &str, node: &Node) -> Result<String, SpecError> {
        let max = if key == "description" { MAX_DESCRIPTION } else { MAX_NAME };
        match node {
            Node::Scalar(s) if s.as_str().chars().nth(max).is_some() => {
                Err(self.doc.error(node, format!("`{key}` is too long: at most {max} characters")))
            }
            Node::Scalar(s) if !s.as_str().is_empty() => Ok(s.as_str().to_string()),
            _ => Err(self.doc.error(node, format!("`{key}` must be text"))),
        }
    }

    fn count(&self, key: &str, node: &Node, min: u64, max: u64) -> Result<u64, SpecError> {
        match raw_value(node) {
            RawValue::Int(n) if n >= min as i64 && n as u64 <= max => Ok(n as u64),
            RawValue::Int(n) => {
                Err(self.doc.error(node, format!("`{key}` = {n} is out of range: it must be between {min} and {max}")))
            }
            _ => Err(self.doc.error(node, format!("`{key}` must be a whole number between {min} and {max}"))),
        }
    }

    fn read(&mut self, name: &str, key: &Node, value: &Node) -> Result<(), SpecError> {
        let doc = self.doc;
        let at = doc.origin(value);
        match name {
            "name" => self.name = Some(self.text(name, value)?),
            "description" => {
                self.text(name, value)?;
            }
            "model" => {
                let text = self.text(name, value)?;
                let model = ModelKind::from_name(&text).ok_or_else(|| {
                    doc.error(value, format!("`model` = `{text}` is not a model: it is `mark0` or `boltzmann`"))
                })?;
                self.model = Some((model, at));
            }
            "preset" => {
                let text = self.text(name, value)?;
                if !config::preset_names().contains(&text.as_str()) {
                    return Err(doc.error(
                        value,
                        format!(
                            "`preset` = `{text}` is not a preset: the presets are {}",
                            config::preset_names().join(", ")
                        ),
                    ));
                }
                self.preset = Some((text, at));
            }
            "firms" => self.firms = Some((self.count(name, value, 1, 1 << 28)? as usize, at)),
            "households" => self.households = Some((self.count(name, value, 1, 1 << 30)? as usize, at)),
            "agents" => self.agents = Some((self.count(name, value, 1, 1 << 30)? as usize, at)),
            "ticks" => self.ticks = Some((self.count(name, value, 1, MAX_TICKS)?, at)),
            "warmup" => self.warmup = Some((self.count(name, value, 0, MAX_TICKS)?, at)),
            "seeds" => self.seeds = Some((self.seeds(value)?, at)),
            "set" => {
                let map = value.as_mapping().ok_or_else(|| {
                    doc.error(value, "`set` must be a map of KEY: VALUE, e.g. {bank.policy_rate: 0.0}")
                })?;
                for (k, v) in map.iter() {
                    if v.as_mapping().is_some() && !k.as_str().contains('.') {
                        return Err(doc.error(
                            &Node::Scalar(k.clone()),
                            format!("`set`: write keys in full, e.g. `{}.KEY: VALUE`", k.as_str()),
                        ));
                    }
                    self.settings.push(Override {
                        key: k.as_str().to_string(),
                        value: raw_value(v),
                        origin: doc.origin(&Node::Scalar(k.clone())),
                    });
                }
            }
            "indicators" => {
                let list = value
                    .as_sequence()
                    .ok_or_else(|| doc.error(value, "`indicators` must be a list of indicator names"))?;
                let mut names = Vec::new();
                for item in list.iter() {
                    let n = self.text("indicators", item)?;
                    if !Indicators::FIELDS.iter().any(|(f, _)| *f == n) {
                        let fields: Vec<&str> = Indicators::FIELDS.iter().map(|(f, _)| *f).collect();
                        let hint = suggest(&n, &fields).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                        return Err(doc.error(
                            item,
                            format!("`indicators`: `{n}` is not an indicator{hint}; see `watchtower export` columns"),
                        ));
                    }
                    if names.contains(&n) {
                        return Err(doc.error(item, format!("`indicators`: `{n}` is listed twice")));
                    }
                    names.push(n);
                }
                if names.is_empty() {
                    return Err(doc.error(value, "`indicators` must name at least one indicator"));
                }
                self.indicators = Some((names, at));
            }
            "axes" => self.axes(value)?,
            "design" => self.design = Some((self.design(value)?, at)),
            "schedule" => self.schedule = Schedule::parse(doc, value)?,
            "fork" => self.fork(value)?,
            _ => return Err(doc.error(key, format!("unknown key `{name}`"))),
        }
        Ok(())
    }

    fn seeds(&self, node: &Node) -> Result<Vec<u64>, SpecError> {
        if let Some(list) = node.as_sequence() {
            let mut seeds = Vec::new();
            for item in list.iter() {
                let seed = match raw_value(item) {
                    RawValue::Int(s) if s >= 0 => s as u64,
                    _ => return Err(self.doc.error(item, "`seeds`: each seed must be a whole number, 0 or more")),
                };
                if seeds.contains(&seed) {
                    return Err(self.doc.error(item, format!("`seeds`: seed {seed} is listed twice")));
                }
                seeds.push(seed);
            }
            if seeds.is_empty() {
                return Err(self.doc.error(node, "`seeds` must list at least one seed"));
            }
            return Ok(seeds);
        }
        let n = match raw_value(node) {
            RawValue::Int(n) if (1..=MAX_RUNS as i64).contains(&n) => n as u64,
            _ => {
                return Err(self.doc.error(
                    node,
                    format!(
                        "`seeds` must be a count between 1 and {MAX_RUNS} (2 means seeds 1 and 2) or a list of seeds"
                    ),
                ));
            }
        };
        Ok((1..=n).collect())
    }

    fn axes(&mut self, node: &Node) -> Result<(), SpecError> {
        let doc = self.doc;
        let map = node.as_mapping().ok_or_else(|| {
            doc.error(node, "`axes` must be a map of KEY: [values] or KEY: {from: A, to: B, steps: N}")
        })?;
        for (key, value) in map.iter() {
            let key_node = Node::Scalar(key.clone());
            let name = key.as_str().to_string();
            let origin = doc.origin(&key_node);
            if is_control(&name) {
                return Err(doc.error(&key_node, format!("axis `{name}`: {}", CONTROL_IN_SPEC)));
            }
            let mut range = None;
            let values = if let Some(list) = value.as_sequence() {
                let values: Vec<RawValue> = list.iter().map(raw_value).collect();
                for (item, v) in list.iter().zip(&values) {
                    if !matches!(v, RawValue::Int(_) | RawValue::Float(_) | RawValue::Bool(_)) {
                        return Err(doc.error(item, format!("axis `{name}`: each value must be a number or a boolean")));
                    }
                }
                values
            } else if let Some(map) = value.as_mapping() {
                let (values, stepless) = self.range(&name, value, map)?;
                if let Some(ends) = stepless {
                    range = Some(ends);
                    self.stepless.push(doc.origin(value));
                }
                values
            } else {
                return Err(
                    doc.error(value, format!("axis `{name}` must be a list of values or {{from: A, to: B, steps: N}}"))
                );
            };
            if values.is_empty() {
                return Err(doc.error(value, format!("axis `{name}` has no values")));
            }
            if values.len() > MAX_AXIS_VALUES {
                return Err(doc.error(value, format!("axis `{name}` has more than {MAX_AXIS_VALUES} values")));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    return Err(doc.error(value, format!("axis `{name}`: the value {} is listed twice", show(v))));
                }
            }
            self.axes.push(Axis { key: name, values, range, origin });
        }
        Ok(())
    }

    /// A range's values, and its ends when written without `steps` (for a design).
    #[allow(clippy::type_complexity)]
    fn range(
        &self,
        name: &str,
        node: &Node,
        map: &MarkedMappingNode,
    ) -> Result<(Vec<RawValue>, Option<(f64, f64)>), SpecError> {
        let doc = self.doc;
        let (mut from, mut to, mut steps, mut log) = (None, None, None, false);
        for (k, v) in map.iter() {
            let number = |what: &str| match raw_value(v) {
                RawValue::Int(i) => Ok(i as f64),
                RawValue::Float(x) if x.is_finite() => Ok(x),
                _ => Err(doc.error(v, format!("axis `{name}`: `{what}` must be a finite number"))),
            };
            match k.as_str() {
                "from" => from = Some(number("from")?),
                "to" => to = Some(number("to")?),
                "steps" => {
                    steps = Some(self.count(&format!("axis `{name}`: `steps`"), v, 1, MAX_AXIS_VALUES as u64)?)
                }
                "log" => match raw_value(v) {
                    RawValue::Bool(b) => log = b,
                    _ => return Err(doc.error(v, format!("axis `{name}`: `log` must be true or false"))),
                },
                other => {
                    return Err(doc.error(
                        &Node::Scalar(k.clone()),
                        format!("axis `{name}`: unknown key `{other}` (a range takes from, to, steps and log)"),
                    ));
                }
            }
        }
        let missing = |what: &str| doc.error(node, format!("axis `{name}`: the range needs `{what}`"));
        let (from, to) = (from.ok_or_else(|| missing("from"))?, to.ok_or_else(|| missing("to"))?);
        let Some(steps) = steps else {
            if log {
                return Err(missing("steps"));
            }
            if from >= to {
                return Err(doc.error(node, format!("axis `{name}`: a range needs `from` below `to`")));
            }
            return Ok((vec![RawValue::Float(from), RawValue::Float(to)], Some((from, to))));
        };
        if log && (from <= 0.0 || to <= 0.0) {
            return Err(doc.error(node, format!("axis `{name}`: a `log: true` range needs `from` and `to` above 0")));
        }
        if steps == 1 {
            return Ok((vec![RawValue::Float(from)], None));
        }
        let last = (steps - 1) as f64;
        let values = (0..steps)
            .map(|i| {
                let f = i as f64 / last;
                let x = match (i, log) {
                    (0, _) => from,
                    (i, _) if i == steps - 1 => to,
                    (_, false) => round12(from + (to - from) * f),
                    (_, true) => round12(from * (to / from).powf(f)),
                };
                RawValue::Float(x)
            })
            .collect();
        Ok((values, None))
    }

    /// `design: {sobol: {samples: N, seed: S, second_order: false}}`.
    fn design(&self, node: &Node) -> Result<Design, SpecError> {
        let doc = self.doc;
        let shape = "`design` must be {sobol: {samples: N, seed: S}} (optionally `second_order: true`) or {morris: {trajectories: R, levels: P, seed: S}}";
        let map = node.as_mapping().ok_or_else(|| doc.error(node, shape))?;
        let mut design = None;
        for (k, v) in map.iter() {
            match k.as_str() {
                "sobol" => {
                    let inner = v.as_mapping().ok_or_else(|| doc.error(v, shape))?;
                    let (mut samples, mut seed, mut second_order) = (None, 0, false);
                    for (k, v) in inner.iter() {
                        match k.as_str() {
                            "samples" => {
                                samples = Some(self.count("design.sobol.samples", v, 1, Sobol::MAX_SAMPLES as u64)?)
                            }
                            "seed" => seed = self.count("design.sobol.seed", v, 0, u64::from(u32::MAX))? as u32,
                            "second_order" => match raw_value(v) {
                                RawValue::Bool(b) => second_order = b,
                                _ => return Err(doc.error(v, "`design.sobol.second_order` must be true or false")),
                            },
                            other => {
                                return Err(doc.error(
                                    &Node::Scalar(k.clone()),
                                    format!(
                                        "unknown key `{other}` in `design.sobol` (it takes samples, seed and second_order)"
                                    ),
                                ));
                            }
                        }
                    }
                    let samples = samples.ok_or_else(|| doc.error(v, "`design.sobol` needs `samples`"))?;
                    design = Some(Design::Sobol(Sobol { samples: samples as usize, seed, second_order }));
                }
                "morris" => {
                    let inner = v.as_mapping().ok_or_else(|| doc.error(v, shape))?;
                    let (mut trajectories, mut levels, mut seed) = (None, 4, 0);
                    for (k, v) in inner.iter() {
                        match k.as_str() {
                            "trajectories" => {
                                trajectories = Some(self.count(
                                    "design.morris.trajectories",
                                    v,
                                    2,
                                    Morris::MAX_TRAJECTORIES as u64,
                                )?)
                            }
                            "levels" => {
                                levels = self.count("design.morris.levels", v, 2, 1000)? as usize;
                                if levels % 2 == 1 {
                                    return Err(doc.error(v, "`design.morris.levels` must be even (SALib's advice: 4)"));
                                }
                            }
                            "seed" => seed = self.count("design.morris.seed", v, 0, i64::MAX as u64)?,
                            other => {
                                return Err(doc.error(
                                    &Node::Scalar(k.clone()),
                                    format!(
                                        "unknown key `{other}` in `design.morris` (it takes trajectories, levels and seed)"
                                    ),
                                ));
                            }
                        }
                    }
                    let trajectories =
                        trajectories.ok_or_else(|| doc.error(v, "`design.morris` needs `trajectories`"))?;
                    design = Some(Design::Morris(Morris { trajectories: trajectories as usize, levels, seed }));
                }
                other => {
                    return Err(doc.error(
                        &Node::Scalar(k.clone()),
                        format!(
                            "unknown design `{other}`: a design is `sobol` or `morris` (without `design`, the axes make a grid)"
                        ),
                    ));
                }
            }
        }
        design.ok_or_else(|| doc.error(node, shape))
    }

    fn fork(&mut self, node: &Node) -> Result<(), SpecError> {
        let doc = self.doc;
        let map =
            node.as_mapping().ok_or_else(|| doc.error(node, "`fork` must be {tick: T, set: {KEY: VALUE, ...}}"))?;
        let (mut tick, mut set) = (None, None);
        for (k, v) in map.iter() {
            match k.as_str() {
                "tick" => tick = Some(v),
                "set" => set = Some(v),
                other => {
                    return Err(doc.error(
                        &Node::Scalar(k.clone()),
                        format!("unknown key `{other}` in `fork` (it takes `tick` and `set`)"),
                    ));
                }
            }
        }
        let tick_node = tick.ok_or_else(|| doc.error(node, "`fork` needs `tick`"))?;
        let tick_at = doc.origin(tick_node);
        let tick = self.count("fork.tick", tick_node, 0, MAX_TICKS)?;
        let set = set.ok_or_else(|| doc.error(node, "`fork` needs `set`"))?;
        let set_map = set.as_mapping().ok_or_else(|| doc.error(set, "`fork.set` must be a map of KEY: VALUE"))?;
        if let Some((k, _)) = set_map.iter().find(|(k, _)| is_control(k.as_str())) {
            return Err(
                doc.error(&Node::Scalar(k.clone()), format!("`fork.set`: `{}` {}", k.as_str(), CONTROL_IN_FORK))
            );
        }
        let changes: Vec<Scheduled> = set_map
            .iter()
            .map(|(k, v)| Scheduled {
                tick,
                key: k.as_str().to_string(),
                value: raw_value(v),
                origin: doc.origin(&Node::Scalar(k.clone())),
            })
            .collect();
        if changes.is_empty() {
            return Err(doc.error(set, "`fork.set` must change at least one key"));
        }
        self.fork = Some((Fork { tick, changes }, doc.origin(node), tick_at));
        Ok(())
    }

    fn override_arg(&mut self, arg: &str) -> Result<(), SpecError> {
        let origin = Origin { source: format!("--set {arg}"), line: None };
        let (key, value) = arg.split_once('=').ok_or_else(|| {
            err(origin.clone(), "expected KEY=VALUE, e.g. --set ticks=500 or --set bank.policy_rate=0.01")
        })?;
        let key = key.trim();
        if key.contains('.') {
            if self.axes.iter().any(|a| a.key == key) {
                return Err(err(
                    origin,
                    format!("`{key}` is an axis of the grid; change the axis in the spec instead"),
                ));
            }
            let o = config::parse_set(arg).map_err(|e| err(origin.clone(), e.to_string()))?;
            self.settings.push(o);
            return Ok(());
        }
        // A top-level key: read its value as YAML would, then as if written in the spec.
        let fragment = format!("{key}: {value}\n");
        let doc = Doc::parse(&fragment, &origin.source)?;
        let sub = Builder::new(&doc);
        let map = doc.root.as_mapping().ok_or_else(|| err(origin.clone(), "expected KEY=VALUE"))?;
        let (k, v) = map.iter().next().ok_or_else(|| err(origin.clone(), "expected KEY=VALUE"))?;
        let at = origin.clone();
        match k.as_str() {
            "name" => self.name = Some(sub.text("name", v)?),
            "preset" => {
                let mut s = Builder::new(&doc);
                s.read("preset", &Node::Scalar(k.clone()), v)?;
                self.preset = s.preset.map(|(p, _)| (p, at));
            }
            "firms" => self.firms = Some((sub.count("firms", v, 1, 1 << 28)? as usize, at)),
            "households" => self.households = Some((sub.count("households", v, 1, 1 << 30)? as usize, at)),
            "agents" => self.agents = Some((sub.count("agents", v, 1, 1 << 30)? as usize, at)),
            "ticks" => self.ticks = Some((sub.count("ticks", v, 1, MAX_TICKS)?, at)),
            "warmup" => self.warmup = Some((sub.count("warmup", v, 0, MAX_TICKS)?, at)),
            "seeds" => self.seeds = Some((sub.seeds(v)?, at)),
            other => {
                return Err(err(
                    origin,
                    format!(
                        "`{other}` cannot be set here: --set takes a registry key (area.key) or one of name, preset, firms, households, agents, ticks, warmup, seeds"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn finish(
        self,
        text: &str,
        source: &str,
        overrides: &[String],
        at_root: Origin,
    ) -> Result<ExperimentSpec, SpecError> {
        let (model, model_at) = self.model.clone().unwrap_or((ModelKind::Mark0, at_root.clone()));
        let mark0 = model == ModelKind::Mark0;
        let defaults = Scenario::default();
        if !mark0 {
            for (what, at) in [
                ("preset", self.preset.as_ref().map(|p| &p.1)),
                ("firms", self.firms.as_ref().map(|p| &p.1)),
                ("households", self.households.as_ref().map(|p| &p.1)),
            ] {
                if let Some(at) = at {
                    return Err(err(
                        at.clone(),
                        format!("`{what}` applies to the economy (model mark0), not to {}", model.name()),
                    ));
                }
            }
        } else if let Some((_, at)) = &self.agents {
            return Err(err(
                at.clone(),
                "`agents` applies to the Boltzmann model; the economy takes `firms` and `households`",
            ));
        }
        let name = self.name.clone().ok_or_else(|| err(at_root.clone(), "the spec needs `name`"))?;
        let (ticks, _) = self.ticks.clone().ok_or_else(|| err(at_root.clone(), "the spec needs `ticks`"))?;
        let (warmup, warmup_at) = self.warmup.clone().unwrap_or((0, at_root.clone()));
        if warmup >= ticks {
            return Err(err(
                warmup_at,
                format!("`warmup` = {warmup} leaves nothing to summarise: it must be below `ticks` = {ticks}"),
            ));
        }
        let seeds = self.seeds.clone().map_or_else(|| vec![1], |(s, _)| s);
        let indicators = self
            .indicators
            .clone()
            .map_or_else(|| DEFAULT_INDICATORS.iter().map(|s| s.to_string()).collect(), |(i, _)| i);
        let preset =
            if mark0 { Some(self.preset.clone().map_or_else(|| DEFAULT_PRESET.to_string(), |p| p.0)) } else { None };
        let spec = ExperimentSpec {
            name,
            source: source.to_string(),
            text: text.to_string(),
            overrides: overrides.to_vec(),
            model,
            preset,
            firms: self.firms.as_ref().map_or(defaults.firms, |f| f.0),
            households: self.households.as_ref().map_or(defaults.households, |h| h.0),
            agents: self.agents.as_ref().map_or(defaults.agents, |a| a.0),
            ticks,
            warmup,
            seeds,
            settings: self.settings.clone(),
            indicators,
            axes: self.axes.clone(),
            design: self.design.as_ref().map_or(Design::Grid, |d| d.0),
            schedule: self.schedule.clone(),
            fork: self.fork.as_ref().map(|f| f.0.clone()),
        };
        let _ = model_at;
        match (&spec.design, &self.design) {
            (design @ (Design::Sobol(_) | Design::Morris(_)), Some((_, design_at))) => {
                let d = spec.axes.len();
                let name = design.name();
                if d == 0 {
                    return Err(err(
                        design_at.clone(),
                        format!("a {name} design needs `axes`, each a range {{from: A, to: B}}"),
                    ));
                }
                if matches!(design, Design::Sobol(_)) && d > Sobol::MAX_PARAMETERS {
                    return Err(err(
                        design_at.clone(),
                        format!("a Sobol design takes at most {} axes", Sobol::MAX_PARAMETERS),
                    ));
                }
                if let Some(axis) = spec.axes.iter().find(|a| a.range.is_none()) {
                    return Err(err(
                        axis.origin.clone(),
                        format!(
                            "axis `{}`: a {name} design takes each axis as a range {{from: A, to: B}} (no values, no `steps`): the design picks the values",
                            axis.key
                        ),
                    ));
                }
                let runs = spec.points().checked_mul(spec.seeds.len()).filter(|&r| r <= MAX_RUNS);
                if runs.is_none() {
                    return Err(err(
                        design_at.clone(),
                        format!("the design is too large: at most {MAX_RUNS} runs (points × seeds)"),
                    ));
                }
            }
            _ => {
                if let Some(at) = self.stepless.first() {
                    let name = spec.axes.iter().find(|a| a.range.is_some()).map_or("", |a| a.key.as_str());
                    return Err(err(
                        at.clone(),
                        format!("axis `{name}`: the range needs `steps` (or the spec a `design`, e.g. sobol)"),
                    ));
                }
                // The grid's size.
                let mut runs: usize = spec.seeds.len();
                for axis in &spec.axes {
                    runs = runs.checked_mul(axis.values.len()).filter(|&r| r <= MAX_RUNS).ok_or_else(|| {
                        err(
                            axis.origin.clone(),
                            format!("the grid is too large: at most {MAX_RUNS} runs (points × seeds)"),
                        )
                    })?;
                }
            }
        }
        // The settings, the schedule and every axis value, against the registry, as the
        // runs will apply them: nothing runs unless every run can be built.
        let base = spec.scenario(&[], 1).registry().map_err(|e| scenario_error(e, &at_root))?;
        for axis in &spec.axes {
            if !base.contains(&axis.key) {
                let hint = base.suggest(&axis.key).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                return Err(err(axis.origin.clone(), format!("axis `{}` is not a setting{hint}", axis.key)));
            }
            let middle = axis.range.map(|(from, to)| RawValue::Float(from + (to - from) / 2.0));
            for v in axis.values.iter().chain(&middle) {
                let mut r = base.clone();
                r.set_initial(&axis.key, v)
                    .map_err(|e| err(axis.origin.clone(), format!("axis `{}`: {e}", axis.key)))?;
            }
        }
        if let Some((fork, fork_at, tick_at)) = &self.fork {
            if fork.tick >= ticks {
                return Err(err(
                    tick_at.clone(),
                    format!("`fork.tick` = {} must be below `ticks` = {ticks}", fork.tick),
                ));
            }
            let branch = spec.branch_schedule().expect("fork");
            branch.validate(&base)?;
            let _ = fork_at;
        }
        Ok(spec)
    }
}

/// `x` rounded to 12 significant digits, so a range's steps are the numbers a person
/// would write (1.8, not 1.8000000000000003).
fn round12(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// A scenario error, placed: settings errors carry their own file and line.
fn scenario_error(e: watchtower_runner::ScenarioError, at: &Origin) -> SpecError {
    use watchtower_runner::ScenarioError as S;
    match e {
        S::Yaml(y) => y,
        S::Config(config::ConfigError::Invalid { origin, source }) => err(origin, source.to_string()),
        S::Config(config::ConfigError::Shape { origin, message }) => err(origin, message),
        other => err(at.clone(), other.to_string()),
    }
}

/// A value as written in a table or message.
pub fn show(v: &RawValue) -> String {
    match v {
        RawValue::Bool(b) => b.to_string(),
        RawValue::Int(i) => i.to_string(),
        RawValue::Float(x) => format!("{x:?}"),
        RawValue::Text(t) => t.clone(),
        RawValue::Other(o) => (*o).to_string(),
    }
}

/// Registry check used by callers that only have a spec's registry.
pub fn registry_of(spec: &ExperimentSpec) -> Result<Registry, SpecError> {
    spec.scenario(&[], 1).registry().map_err(|e| scenario_error(e, &Origin { source: spec.source.clone(), line: None }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::{Morris, Sobol};

    const SPEC: &str = "name: t\nmodel: mark0\npreset: mark0-2015\nfirms: 10\nhouseholds: 100\nticks: 50\nwarmup: 10\nseeds: 2\nset: {bank.policy_rate: 0.0}\naxes:\n  firms.hiring_firing_ratio: [0.5, 1, 2]\n  firms.bankruptcy_threshold: {from: 0.5, to: 5, steps: 10}\nschedule:\n  - {tick: 20, set: {government.income_tax_rate: 0.3}}\n";

    fn error(text: &str) -> String {
        ExperimentSpec::parse(text, "x.yaml").unwrap_err().to_string()
    }

    #[test]
    fn the_example_parses() {
        let s = ExperimentSpec::parse(SPEC, "x.yaml").unwrap();
        assert_eq!(s.points(), 30);
        assert_eq!(s.runs(), 60);
        assert_eq!(s.seeds, [1, 2]);
        assert_eq!(s.axes[1].values[0], RawValue::Float(0.5));
        assert_eq!(s.axes[1].values[9], RawValue::Float(5.0));
        assert_eq!(s.axes[1].values[1], RawValue::Float(1.0));
        let r = ExperimentSpec::parse(
            "name: r\nticks: 5\naxes:\n  firms.hiring_firing_ratio: {from: 0.3, to: 3, steps: 10}\n",
            "r.yaml",
        )
        .unwrap();
        assert_eq!(r.axes[0].values[5], RawValue::Float(1.8));
        assert_eq!(s.indicators.len(), 5);
        let log = ExperimentSpec::parse(
            "name: l\nticks: 5\naxes:\n  bank.policy_rate: [0.01]\n  firms.bankruptcy_threshold: {from: 0.5, to: 50, steps: 3, log: true}\n",
            "l.yaml",
        )
        .unwrap();
        let v: Vec<f64> =
            log.axes[1].values.iter().map(|v| if let RawValue::Float(x) = v { *x } else { 0.0 }).collect();
        assert_eq!(v[0], 0.5);
        assert_eq!(v[1], 5.0);
        assert_eq!(v[2], 50.0);
    }

    #[test]
    fn simulation_controls_are_neither_axes_nor_fork_changes() {
        let e = error("name: t\nticks: 5\naxes:\n  sim.tick_rate: [1, 2]\n");
        assert!(e.starts_with("x.yaml, line 4: axis `sim.tick_rate`: `sim.*` keys are simulation controls"), "{e}");
        let e =
            error("name: t\nticks: 50\nfork:\n  tick: 10\n  set:\n    bank.policy_rate: 0.01\n    sim.paused: true\n");
        assert!(e.starts_with("x.yaml, line 7: `fork.set`: `sim.paused` is a simulation control"), "{e}");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let e = error("name: t\nticks: 5\nseed: 3\n");
        assert!(e.starts_with("x.yaml, line 3: unknown key `seed` (did you mean `seeds`?)"), "{e}");
        let e = error("name: t\nticks: 5\nwarmup: 5\n");
        assert!(e.starts_with("x.yaml, line 3: `warmup` = 5 leaves nothing"), "{e}");
        let e = error("name: t\nticks: 5\naxes:\n  firms.hiring_firing_ratio: [1, 20]\n");
        assert!(e.starts_with("x.yaml, line 4: axis `firms.hiring_firing_ratio`") && e.contains("out of range"), "{e}");
        let e = error("name: t\nticks: 5\naxes:\n  firms.hiring_ratio: [1]\n");
        assert!(e.starts_with("x.yaml, line 4: axis `firms.hiring_ratio` is not a setting"), "{e}");
        let e = error("name: t\nticks: 5\naxes:\n  firms.bankruptcy_threshold: {from: 1, to: 2}\n");
        assert!(e.contains("line 4") && e.contains("needs `steps`"), "{e}");
        let e = error("name: t\nticks: 5\nset:\n  bank.policy_rat: 0.1\n");
        assert!(e.starts_with("x.yaml, line 4: unknown key `bank.policy_rat`"), "{e}");
        let e = error("name: t\nticks: 0\n");
        assert!(e.starts_with("x.yaml, line 2: `ticks` = 0 is out of range"), "{e}");
        let e = error("name: t\nticks: 5\nmodel: boltzmann\nfirms: 3\n");
        assert!(e.starts_with("x.yaml, line 4: `firms` applies to the economy"), "{e}");
        let e = error("name: t\nticks: 5\nindicators: [unemployment]\n");
        assert!(e.contains("line 3") && e.contains("`unemployment` is not an indicator"), "{e}");
        let e = error("name: t\nticks: 5\nfork: {tick: 9, set: {government.income_tax_rate: 0.3}}\n");
        assert!(e.starts_with("x.yaml, line 3: `fork.tick` = 9 must be below"), "{e}");
        let e = error("name: t\nticks: 50\nfork:\n  tick: 9\n  set:\n    government.income_tax_rate: 3\n");
        assert!(e.starts_with("x.yaml, line 6: `government.income_tax_rate` = 3 is out of range"), "{e}");
        let e = error(&format!("name: {}\nticks: 5\n", "n".repeat(MAX_NAME + 1)));
        assert!(e.contains("`name` is too long: at most 256 characters"), "{e}");
        let e = error(&format!("name: t\ndescription: {}\nticks: 5\n", "d".repeat(MAX_DESCRIPTION + 1)));
        assert!(e.contains("`description` is too long: at most 10000 characters"), "{e}");
        assert!(ExperimentSpec::parse(&format!("name: {}\nticks: 5\n", "n".repeat(MAX_NAME)), "t.yaml").is_ok());
        let e = ExperimentSpec::parse_with(
            "name: t\nticks: 5\n",
            "t.yaml",
            &[format!("name={}", "n".repeat(MAX_NAME + 1))],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("too long"), "{e}");
        let e = error("name: t\nticks: 5\nseeds: [1, 1]\n");
        assert!(e.starts_with("x.yaml, line 3: `seeds`: seed 1 is listed twice"), "{e}");
    }

    #[test]
    fn a_sobol_design_samples_ranges() {
        let s = ExperimentSpec::parse(
            "name: s\nticks: 5\nseeds: 2\ndesign: {sobol: {samples: 8, seed: 7}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 4}\n  firms.price_adjustment: {from: 0.02, to: 0.3}\n",
            "s.yaml",
        )
        .unwrap();
        assert_eq!(s.design, Design::Sobol(Sobol { samples: 8, seed: 7, second_order: false }));
        assert_eq!((s.points(), s.runs()), (32, 64));
        assert_eq!(s.axes[0].range, Some((1.0, 4.0)));
        let second = ExperimentSpec::parse(
            "name: s\nticks: 5\ndesign: {sobol: {samples: 8, seed: 7, second_order: true}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 4}\n  firms.price_adjustment: {from: 0.02, to: 0.3}\n",
            "s.yaml",
        )
        .unwrap();
        assert_eq!(second.points(), 48);
        let e = error("name: t\nticks: 5\ndesign: {sobol: {samples: 8}}\naxes:\n  firms.hiring_firing_ratio: [1, 2]\n");
        assert!(
            e.starts_with(
                "x.yaml, line 5: axis `firms.hiring_firing_ratio`: a Sobol design takes each axis as a range"
            ),
            "{e}"
        );
        let e = error("name: t\nticks: 5\ndesign: {sobol: {samples: 8}}\n");
        assert!(e.starts_with("x.yaml, line 3: a Sobol design needs `axes`"), "{e}");
        let e = error("name: t\nticks: 5\ndesign: {sobol: {seed: 8}}\n");
        assert!(e.starts_with("x.yaml, line 3: `design.sobol` needs `samples`"), "{e}");
        let e = error("name: t\nticks: 5\ndesign:\n  sobol: {samples: 8, seeds: 2}\n");
        assert!(e.starts_with("x.yaml, line 4: unknown key `seeds` in `design.sobol`"), "{e}");
        let m = ExperimentSpec::parse(
            "name: m\nticks: 5\ndesign: {morris: {trajectories: 10, seed: 3}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 4}\n  firms.price_adjustment: {from: 0.02, to: 0.3}\n",
            "m.yaml",
        )
        .unwrap();
        assert_eq!(m.design, Design::Morris(Morris { trajectories: 10, levels: 4, seed: 3 }));
        assert_eq!(m.points(), 30);
        let e = error("name: t\nticks: 5\ndesign: {morris: {trajectories: 8, levels: 3}}\n");
        assert!(e.starts_with("x.yaml, line 3: `design.morris.levels` must be even"), "{e}");
        let e =
            error("name: t\nticks: 5\ndesign: {morris: {trajectories: 8}}\naxes:\n  firms.price_adjustment: [0.1]\n");
        assert!(
            e.starts_with("x.yaml, line 5: axis `firms.price_adjustment`: a Morris design takes each axis as a range"),
            "{e}"
        );
        let e = error("name: t\nticks: 5\ndesign:\n  latin: {samples: 8}\n");
        assert!(e.starts_with("x.yaml, line 4: unknown design `latin`"), "{e}");
        let e = error("name: t\nticks: 5\ndesign: {sobol: {samples: 0}}\n");
        assert!(e.starts_with("x.yaml, line 3: `design.sobol.samples` = 0 is out of range"), "{e}");
        let e = error(
            "name: t\nticks: 5\ndesign: {sobol: {samples: 8}}\naxes:\n  firms.hiring_firing_ratio: {from: 4, to: 1}\n",
        );
        assert!(
            e.starts_with("x.yaml, line 5: axis `firms.hiring_firing_ratio`: a range needs `from` below `to`"),
            "{e}"
        );
        let e = error(
            "name: t\nticks: 5\ndesign: {sobol: {samples: 8}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 40}\n",
        );
        assert!(e.starts_with("x.yaml, line 5: axis `firms.hiring_firing_ratio`") && e.contains("out of range"), "{e}");
    }

    #[test]
    fn a_value_is_read_as_its_json() {
        let v = serde_json::json!({
            "name": "d", "ticks": 50, "warmup": 10, "seeds": [1, 2],
            "axes": {"firms.hiring_firing_ratio": [1.0, 2], "firms.bankruptcy_threshold": {"from": 1, "to": 2, "steps": 3}},
            "fork": {"tick": 20, "set": {"government.income_tax_rate": 0.3}},
        });
        let s = ExperimentSpec::from_value(&v, "dict", &[]).unwrap();
        assert_eq!((s.points(), s.seeds.len()), (6, 2));
        assert_eq!(s.axes[1].key, "firms.hiring_firing_ratio", "a JSON map is sorted by key");
        assert_eq!(s.axes[1].values, [RawValue::Float(1.0), RawValue::Int(2)]);
        let bad = serde_json::json!({"name": "d", "ticks": 50, "seeds": 0});
        let e = ExperimentSpec::from_value(&bad, "dict", &[]).unwrap_err().to_string();
        assert!(e.starts_with("dict, line") && e.contains("`seeds` must be a count"), "{e}");
    }

    #[test]
    fn set_arguments_change_the_spec_or_the_settings() {
        let args = vec!["ticks=20".to_string(), "seeds=[5, 6, 7]".into(), "bank.default_cost_share=0.5".into()];
        let s = ExperimentSpec::parse_with(SPEC, "x.yaml", &args).unwrap();
        assert_eq!(s.ticks, 20);
        assert_eq!(s.seeds, [5, 6, 7]);
        assert_eq!(s.settings.last().unwrap().key, "bank.default_cost_share");
        let e = ExperimentSpec::parse_with(SPEC, "x.yaml", &["firms.hiring_firing_ratio=2".into()]).unwrap_err();
        assert!(e.to_string().contains("is an axis"), "{e}");
        let e = ExperimentSpec::parse_with(SPEC, "x.yaml", &["ticks=5".into()]).unwrap_err();
        assert!(e.to_string().contains("`warmup` = 10 leaves nothing"), "{e}");
    }
}

#[cfg(test)]
mod examples {
    use super::*;

    #[test]
    fn the_examples_in_experiments_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("calibrate-")) {
                    // A calibration's spec extends an experiment's; its own reader checks it.
                    crate::calibrate::CalibrationSpec::parse(&text, &path.display().to_string(), &[])
                        .unwrap_or_else(|e| panic!("{e}"));
                    continue;
                }
                let spec = ExperimentSpec::parse(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
                if spec.name == "mark0-2015-phase-diagram" {
                    assert!(spec.points() >= 100, "the phase diagram has {} points", spec.points());
                }
                seen += 1;
            }
        }
        assert!(seen >= 3);
    }
}
