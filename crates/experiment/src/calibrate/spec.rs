//! A calibration's spec: an experiment spec (economy, ticks, warm-up, settings,
//! schedule) extended with what to estimate and against what, checked whole before
//! anything runs; every error names the file, the line and the key.
//!
//! ```yaml
//! free:                                  # the parameters to estimate, with bounds
//!   firms.price_adjustment: {min: 0.02, max: 0.3}
//!   firms.hiring_firing_ratio: {min: 1.0, max: 4.0, log: true}
//! target:                                # a synthetic truth …
//!   synthetic: {set: {firms.price_adjustment: 0.12, firms.hiring_firing_ratio: 2.5}, seed: 99}
//! moments:                               # per indicator, over ticks warmup..ticks-1
//!   unemployment_rate: [mean, sd, acf1]
//!   inflation: [mean, sd, acf1, "diff:sd", "ccf0(unemployment_rate)"]
//! ensemble: 4                            # seeds per point (the same at every point)
//! budget: 600                            # simulations at most, the target's included
//! weighting: inverse                     # identity | diagonal | inverse (the default)
//! hp_lambda: 1600                        # the HP filter's smoothing, for `hp:` moments
//! ```

use marked_yaml::Node;
use watchtower_engine::RawValue;
use watchtower_engine::config::{Origin, Override};
use watchtower_engine::yaml::{Doc, raw_value};
use watchtower_protocol::Indicators;

use crate::calibrate::moments::Moment;
use crate::spec::{ExperimentSpec, SpecError};

/// The fewest observations a data target's model series may have (the window's ticks
/// over `ticks_per_observation`).
pub const MIN_OBSERVATIONS: u64 = 8;

/// The keys a calibration adds to an experiment spec.
pub const KEYS: &[&str] = &["free", "target", "moments", "ensemble", "budget", "weighting", "hp_lambda"];

/// The experiment keys a calibration has no use for: it plans its own points and seeds.
const NOT_HERE: &[&str] = &["axes", "design", "seeds", "fork", "indicators"];

/// Most free parameters.
pub const MAX_FREE: usize = 10;
/// Most moments.
pub const MAX_MOMENTS: usize = 64;
/// Most seeds per point.
pub const MAX_ENSEMBLE: u64 = 256;
/// Most simulations one calibration may spend.
pub const MAX_BUDGET: u64 = 1_000_000;

/// A parameter to estimate: a registry key and its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Free {
    /// The registry key.
    pub key: String,
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Whether the search moves on the logarithm of the value (bounds > 0).
    pub log: bool,
    /// Where it was written.
    pub origin: Origin,
}

impl Free {
    /// The value at `u` in [0, 1] of the search's unit interval.
    pub fn value(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        if self.log {
            (self.min.ln() + u * (self.max.ln() - self.min.ln())).exp().clamp(self.min, self.max)
        } else {
            self.min + u * (self.max - self.min)
        }
    }

    /// Where `value` lies in the unit interval.
    pub fn unit(&self, value: f64) -> f64 {
        if self.log {
            (value.ln() - self.min.ln()) / (self.max.ln() - self.min.ln())
        } else {
            (value - self.min) / (self.max - self.min)
        }
    }
}

/// What the model's moments are compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One run of the model at known values, with a seed of its own.
    Synthetic {
        /// The true values of the free parameters (and any other setting).
        set: Vec<Override>,
        /// Its seed (never one of the ensemble's).
        seed: u64,
    },
    /// Observed series ([`crate::calibrate::data`]).
    Data(crate::calibrate::data::DataSpec),
}

/// How the moments' distances are weighted in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// Every moment alike (scale-dependent: only for moments of one scale).
    Identity,
    /// Each moment by the inverse of its variance.
    Diagonal,
    /// The inverse of the moments' covariance (efficient; the J test's weighting).
    Inverse,
}

impl Weighting {
    /// Its name in a spec.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Identity => "identity",
            Weighting::Diagonal => "diagonal",
            Weighting::Inverse => "inverse",
        }
    }
}

/// A checked calibration spec.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSpec {
    /// The economy, ticks, warm-up, settings and schedule (its seeds, axes and design unused).
    pub base: ExperimentSpec,
    /// The parameters to estimate.
    pub free: Vec<Free>,
    /// What to fit.
    pub target: Target,
    /// The moments, in the spec's order.
    pub moments: Vec<Moment>,
    /// Seeds per evaluated point.
    pub ensemble: u64,
    /// Simulations at most.
    pub budget: u64,
    /// The loss's weighting.
    pub weighting: Weighting,
    /// The HP filter's λ.
    pub hp_lambda: f64,
}

impl CalibrationSpec {
    /// Reads and checks a calibration spec; `overrides` are `--set` arguments as an
    /// experiment takes them.
    pub fn parse(text: &str, source: &str, overrides: &[String]) -> Result<Self, SpecError> {
        let base = ExperimentSpec::parse_extended(text, source, overrides, KEYS)?;
        let doc = Doc::parse(text, source)?;
        let root = doc.root.as_mapping().ok_or_else(|| doc.error(&doc.root, "a spec is a map of keys"))?;
        let mut free = None;
        let mut target = None;
        let mut moments = None;
        let (mut ensemble, mut budget, mut weighting, mut hp_lambda) = (4, None, Weighting::Inverse, 1600.0);
        for (key, value) in root.iter() {
            let key_node = Node::Scalar(key.clone());
            match key.as_str() {
                k if NOT_HERE.contains(&k) => {
                    return Err(doc.error(
                        &key_node,
                        format!("`{k}` has no place in a calibration: it chooses its own points and seeds (`free`, `ensemble`)"),
                    ));
                }
                "free" => free = Some(read_free(&doc, value)?),
                "target" => target = Some(value.clone()),
                "moments" => moments = Some(read_moments(&doc, value)?),
                "ensemble" => ensemble = count(&doc, "ensemble", value, 1, MAX_ENSEMBLE)?,
                "budget" => budget = Some(count(&doc, "budget", value, 1, MAX_BUDGET)?),
                "weighting" => {
                    weighting = match value.as_scalar().map(|s| s.as_str()) {
                        Some("identity") => Weighting::Identity,
                        Some("diagonal") => Weighting::Diagonal,
                        Some("inverse") => Weighting::Inverse,
                        _ => return Err(doc.error(value, "`weighting` is identity, diagonal or inverse")),
                    }
                }
                "hp_lambda" => {
                    hp_lambda = number(&doc, "hp_lambda", value)?;
                    if hp_lambda <= 0.0 {
                        return Err(doc.error(value, "`hp_lambda` must be positive (1600 for quarterly data)"));
                    }
                }
                _ => {}
            }
        }
        let missing =
            |k: &str, example: &str| doc.error(&doc.root, format!("a calibration needs `{k}`, e.g. {example}"));
        let free = free.ok_or_else(|| missing("free", "free: {firms.price_adjustment: {min: 0.02, max: 0.3}}"))?;
        let moments = moments.ok_or_else(|| missing("moments", "moments: {unemployment_rate: [mean, sd, acf1]}"))?;
        let budget = budget.ok_or_else(|| missing("budget", "budget: 600"))?;
        let target_node = target
            .ok_or_else(|| missing("target", "target: {synthetic: {set: {firms.price_adjustment: 0.12}, seed: 99}}"))?;
        let target = read_target(&doc, &target_node, source)?;
        let spec = CalibrationSpec { base, free, target, moments, ensemble, budget, weighting, hp_lambda };
        spec.check(&doc)?;
        Ok(spec)
    }

    /// The whole spec as written (recorded with the calibration, so a resume reads it again).
    pub fn text(&self) -> &str {
        &self.base.text
    }

    /// The checks that need everything read.
    fn check(&self, doc: &Doc) -> Result<(), SpecError> {
        // Every free key must be a setting the economy takes, at both bounds.
        for f in &self.free {
            for v in [f.min, f.max] {
                let scenario = self.scenario(&[v], 1, Some(f));
                scenario.registry().map_err(|e| SpecError { origin: f.origin.clone(), message: e.to_string() })?;
            }
        }
        if let Target::Synthetic { seed, set } = &self.target {
            for f in &self.free {
                if !set.iter().any(|o| o.key == f.key) {
                    return Err(
                        doc.error(&doc.root, format!("the synthetic target sets no value for the free `{}`", f.key))
                    );
                }
            }
            let _ = seed;
            self.target_scenario()
                .expect("synthetic")
                .registry()
                .map_err(|e| SpecError { origin: set[0].origin.clone(), message: e.to_string() })?;
        }
        // A model series of fewer observations than this has no sd or autocorrelation
        // worth matching (and none at all below two).
        if let Target::Data(d) = &self.target {
            // Σ⁻¹ (the weighting, the J test) from B bootstrap draws needs B > m + 2.
            let m = self.moments.len();
            if crate::calibrate::estimate::hartlap(d.samples, m).is_none() {
                return Err(doc.error(
                    &doc.root,
                    format!(
                        "target.data.bootstrap.samples {} is too few for {m} `moments`: the inverse of their covariance \
                         needs more than m + 2 = {} draws (Hartlap's factor (N − m − 2)/(N − 1) would not be positive); \
                         raise `samples` (500 by default) or list fewer moments",
                        d.samples,
                        m + 2
                    ),
                ));
            }
            let window = self.base.window();
            if window / d.ticks_per_observation < MIN_OBSERVATIONS {
                return Err(doc.error(
                    &doc.root,
                    format!(
                        "target.data.ticks_per_observation {} makes {} observations of the {window} ticks from `warmup` to `ticks`; \
                         at least {MIN_OBSERVATIONS} are needed (lengthen `ticks` or lower ticks_per_observation)",
                        d.ticks_per_observation,
                        window / d.ticks_per_observation
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The scenario at free values `values` (in the order of `free`) with `seed`; with
    /// `only`, just that free parameter is set (to the one value given).
    fn scenario(&self, values: &[f64], seed: u64, only: Option<&Free>) -> watchtower_runner::scenario::Scenario {
        let mut scenario = self.base.scenario(&[], seed);
        let free: Vec<&Free> = match only {
            Some(f) => vec![f],
            None => self.free.iter().collect(),
        };
        for (f, v) in free.into_iter().zip(values) {
            scenario.settings.push(Override {
                key: f.key.clone(),
                value: RawValue::Float(*v),
                origin: f.origin.clone(),
            });
        }
        scenario
    }

    /// The scenario of the model at `values` of the free parameters with `seed`.
    pub fn point_scenario(&self, values: &[f64], seed: u64) -> watchtower_runner::scenario::Scenario {
        self.scenario(values, seed, None)
    }

    /// The synthetic target's scenario (`None` for data).
    pub fn target_scenario(&self) -> Option<watchtower_runner::scenario::Scenario> {
        match &self.target {
            Target::Synthetic { set, seed } => {
                let mut scenario = self.base.scenario(&[], *seed);
                scenario.settings.extend(set.iter().cloned());
                Some(scenario)
            }
            Target::Data(_) => None,
        }
    }

    /// The ensemble's seeds: 1, 2, … skipping the synthetic target's seed, so no point
    /// shares the target's random numbers. `offset` starts further along the same
    /// sequence (the seeds of the covariance's extra runs).
    pub fn seeds(&self, offset: u64, count: u64) -> Vec<u64> {
        let avoid = match &self.target {
            Target::Synthetic { seed, .. } => Some(*seed),
            Target::Data(_) => None,
        };
        (1..).filter(|s| Some(*s) != avoid).skip(offset as usize).take(count as usize).collect()
    }

    /// The indicators the moments read, each once, in order of first use.
    pub fn indicators(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.moments {
            for i in m.indicators() {
                if !out.iter().any(|o| o == i) {
                    out.push(i.to_string());
                }
            }
        }
        out
    }

    /// Each moment's name (`indicator.[transform:]stat`).
    pub fn moment_names(&self) -> Vec<String> {
        self.moments.iter().map(ToString::to_string).collect()
    }
}

fn count(doc: &Doc, key: &str, node: &Node, min: u64, max: u64) -> Result<u64, SpecError> {
    match raw_value(node) {
        RawValue::Int(n) if n >= min as i64 && n as u64 <= max => Ok(n as u64),
        _ => Err(doc.error(node, format!("`{key}` must be a whole number between {min} and {max}"))),
    }
}

fn number(doc: &Doc, key: &str, node: &Node) -> Result<f64, SpecError> {
    match raw_value(node) {
        RawValue::Int(n) => Ok(n as f64),
        RawValue::Float(x) if x.is_finite() => Ok(x),
        _ => Err(doc.error(node, format!("`{key}` must be a number"))),
    }
}

fn read_free(doc: &Doc, node: &Node) -> Result<Vec<Free>, SpecError> {
    let map = node.as_mapping().ok_or_else(|| {
        doc.error(node, "`free` is a map of KEY: {min: …, max: …}, e.g. firms.price_adjustment: {min: 0.02, max: 0.3}")
    })?;
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let key = k.as_str().to_string();
        let at = doc.origin(&Node::Scalar(k.clone()));
        let fields = v.as_mapping().ok_or_else(|| {
            doc.error(v, format!("free `{key}`: expected {{min: …, max: …}} (and optionally log: true)"))
        })?;
        let (mut min, mut max, mut log) = (None, None, false);
        for (fk, fv) in fields.iter() {
            match fk.as_str() {
                "min" => min = Some(number(doc, &format!("{key}.min"), fv)?),
                "max" => max = Some(number(doc, &format!("{key}.max"), fv)?),
                "log" => {
                    log = match fv.as_scalar().map(|s| s.as_str()) {
                        Some("true") => true,
                        Some("false") => false,
                        _ => return Err(doc.error(fv, format!("free `{key}`: `log` is true or false"))),
                    }
                }
                other => {
                    return Err(doc.error(
                        &Node::Scalar(fk.clone()),
                        format!("free `{key}`: unknown field `{other}`; a free parameter takes min, max, log"),
                    ));
                }
            }
        }
        let (Some(min), Some(max)) = (min, max) else {
            return Err(doc.error(v, format!("free `{key}`: both `min` and `max` are needed")));
        };
        if min >= max || (log && min <= 0.0) {
            return Err(doc.error(
                v,
                format!("free `{key}`: min must be below max (and above 0 with log: true); got {min} and {max}"),
            ));
        }
        if key.starts_with("sim.") {
            return Err(
                doc.error(v, format!("free `{key}`: `sim.*` keys pace a live session, they are not parameters"))
            );
        }
        out.push(Free { key, min, max, log, origin: at });
    }
    if out.is_empty() || out.len() > MAX_FREE {
        return Err(doc.error(node, format!("`free` must name between 1 and {MAX_FREE} parameters")));
    }
    Ok(out)
}

fn read_moments(doc: &Doc, node: &Node) -> Result<Vec<Moment>, SpecError> {
    let map = node.as_mapping().ok_or_else(|| {
        doc.error(node, "`moments` is a map of indicator: [moments], e.g. inflation: [mean, sd, acf1]")
    })?;
    let known = |name: &str| Indicators::FIELDS.iter().any(|(f, _)| *f == name);
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let indicator = k.as_str();
        if !known(indicator) {
            let names: Vec<&str> = Indicators::FIELDS.iter().map(|(f, _)| *f).collect();
            let hint = watchtower_engine::suggest::closest(indicator, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(
                doc.error(&Node::Scalar(k.clone()), format!("moments: `{indicator}` is not an indicator{hint}"))
            );
        }
        let list = v
            .as_sequence()
            .ok_or_else(|| doc.error(v, format!("moments of `{indicator}`: a list, e.g. [mean, sd, acf1]")))?;
        for item in list.iter() {
            let text = item.as_scalar().map(|s| s.as_str()).unwrap_or_default();
            let m = Moment::parse(indicator, text)
                .map_err(|e| doc.error(item, format!("moments of `{indicator}`: {e}")))?;
            for other in m.indicators() {
                if !known(other) {
                    return Err(doc.error(item, format!("moments of `{indicator}`: `{other}` is not an indicator")));
                }
            }
            if out.contains(&m) {
                return Err(doc.error(item, format!("moment `{m}` is listed twice")));
            }
            out.push(m);
        }
    }
    if out.is_empty() || out.len() > MAX_MOMENTS {
        return Err(doc.error(node, format!("`moments` must list between 1 and {MAX_MOMENTS} moments")));
    }
    Ok(out)
}

fn read_target(doc: &Doc, node: &Node, source: &str) -> Result<Target, SpecError> {
    let map = node.as_mapping().ok_or_else(|| doc.error(node, "`target` is {synthetic: …} or {data: …}"))?;
    if map.len() != 1 {
        return Err(doc.error(node, "`target` is one of {synthetic: {set: …, seed: …}} or {data: …}"));
    }
    let (k, v) = map.iter().next().expect("one entry");
    match k.as_str() {
        "synthetic" => {
            let fields =
                v.as_mapping().ok_or_else(|| doc.error(v, "`synthetic` is {set: {KEY: VALUE, …}, seed: N}"))?;
            let (mut set, mut seed) = (Vec::new(), None);
            for (fk, fv) in fields.iter() {
                match fk.as_str() {
                    "set" => {
                        let entries =
                            fv.as_mapping().ok_or_else(|| doc.error(fv, "`synthetic.set` is a map of KEY: VALUE"))?;
                        for (sk, sv) in entries.iter() {
                            let origin = doc.origin(&Node::Scalar(sk.clone()));
                            set.push(Override { key: sk.as_str().to_string(), value: raw_value(sv), origin });
                        }
                    }
                    "seed" => seed = Some(count(doc, "synthetic.seed", fv, 0, i64::MAX as u64)?),
                    other => {
                        return Err(doc.error(
                            &Node::Scalar(fk.clone()),
                            format!("`synthetic`: unknown field `{other}`; it takes set and seed"),
                        ));
                    }
                }
            }
            let seed = seed.ok_or_else(|| doc.error(v, "`synthetic` needs a `seed` of its own"))?;
            Ok(Target::Synthetic { set, seed })
        }
        "data" => Ok(Target::Data(crate::calibrate::data::DataSpec::read(doc, v, source)?)),
        other => {
            Err(doc
                .error(&Node::Scalar(k.clone()), format!("`target`: unknown kind `{other}`; it is synthetic or data")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SMALL: &str = "name: c\nfirms: 10\nhouseholds: 100\nticks: 80\nwarmup: 20\nfree:\n  firms.price_adjustment: {min: 0.02, max: 0.3}\ntarget:\n  synthetic: {set: {firms.price_adjustment: 0.12}, seed: 2}\nmoments:\n  inflation: [mean, sd, acf1]\n  unemployment_rate: [mean]\nensemble: 3\nbudget: 100\n";

    fn error(text: &str) -> String {
        CalibrationSpec::parse(text, "c.yaml", &[]).unwrap_err().to_string()
    }

    #[test]
    fn a_small_spec_parses() {
        let spec = CalibrationSpec::parse(SMALL, "c.yaml", &[]).unwrap();
        assert_eq!(spec.free.len(), 1);
        assert_eq!(spec.moment_names(), ["inflation.mean", "inflation.sd", "inflation.acf1", "unemployment_rate.mean"]);
        assert_eq!(spec.seeds(0, 3), [1, 3, 4], "the target's seed 2 is skipped");
        assert_eq!(spec.seeds(3, 2), [5, 6]);
        assert_eq!(spec.weighting, Weighting::Inverse);
        assert_eq!(spec.indicators(), ["inflation", "unemployment_rate"]);
        let f = &spec.free[0];
        assert!((f.value(f.unit(0.12)) - 0.12).abs() < 1e-15);
        let log = Free { log: true, min: 1.0, max: 100.0, ..f.clone() };
        assert!((log.value(0.5) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        assert!(error(&SMALL.replace("budget: 100\n", "")).contains("needs `budget`"));
        let e = error(&SMALL.replace("{min: 0.02, max: 0.3}", "{min: 0.3, max: 0.02}"));
        assert!(e.contains("c.yaml, line 7") && e.contains("min must be below max"), "{e}");
        let e = error(&SMALL.replace("inflation: [mean, sd, acf1]", "inflation: [mean, median]"));
        assert!(e.contains("c.yaml, line 11") && e.contains("unknown moment `median`"), "{e}");
        let e = error(&SMALL.replace("firms.price_adjustment: {min", "firms.price_adjustmnt: {min"));
        assert!(e.contains("price_adjustmnt"), "{e}");
        let e = error(&format!("{SMALL}seeds: 3\n"));
        assert!(e.contains("`seeds` has no place"), "{e}");
        let e = error(&SMALL.replace("unemployment_rate: [mean]", "unemployment: [mean]"));
        assert!(e.contains("did you mean `unemployment_rate`"), "{e}");
        // 60 ticks of window in observations of 10 ticks: 6, too few for an sd or an acf.
        let data = "target:\n  data:\n    file: us.csv\n    ticks_per_observation: 10\n    columns:\n      inflation: {column: infl}\n      unemployment_rate: {column: unemp}\n";
        let spec = SMALL.replace("target:\n  synthetic: {set: {firms.price_adjustment: 0.12}, seed: 2}\n", data);
        let e = error(&spec);
        assert!(e.contains("ticks_per_observation 10 makes 6 observations") && e.contains("at least 8"), "{e}");
        assert!(
            CalibrationSpec::parse(
                &spec.replace("ticks_per_observation: 10", "ticks_per_observation: 5"),
                "c.yaml",
                &[]
            )
            .is_ok()
        );
        // Σ⁻¹ of 4 moments from 20 bootstrap draws is fine, from 6 it is not (Hartlap).
        let spec = spec.replace("ticks_per_observation: 10", "ticks_per_observation: 5");
        let few = spec.replace(
            "unemployment_rate: {column: unemp}\n",
            "unemployment_rate: {column: unemp}\n    bootstrap: {samples: 20}\n",
        );
        assert!(CalibrationSpec::parse(&few, "c.yaml", &[]).is_ok());
        let six = "inflation: [mean, sd, acf1, acf2, skewness, kurtosis]";
        let e = error(&few.replace("inflation: [mean, sd, acf1]", &format!("{six}\n  unemployment_rate: [mean, sd, acf1, acf2, skewness, kurtosis, acf3, acf4, acf5, acf6, acf7, acf8]")).replace("  unemployment_rate: [mean]\n", ""));
        assert!(e.contains("bootstrap.samples 20 is too few for 18 `moments`") && e.contains("m + 2 = 20"), "{e}");
    }
}
