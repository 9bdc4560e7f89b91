//! Sobol sensitivity indices of a Sobol design's outputs, computed as SALib's
//! `sobol.analyze` computes them, so the point estimates agree with SALib's on the same
//! outputs to floating-point precision:
//!
//! - the outputs Y (one per point of the design, in the design's order) are first
//!   standardised by their mean and standard deviation (population, as numpy's);
//! - A, B, AB_i (and BA_i) are read from Y in SALib's row order ([`crate::design`]);
//! - first order (Saltelli 2010): `mean(B · (AB_i − A)) / var([A, B])`;
//! - total order (Jansen): `mean((A − AB_i)²) / 2 / var([A, B])`;
//! - second order (Saltelli 2002): `mean(BA_i · AB_k − A · B) / var([A, B]) − S_i − S_k`;
//! - 95% intervals: `z · sd` of the same estimators over 100 bootstrap resamples of the
//!   base samples (the same resamples for every index). The resamples are drawn from a
//!   seeded generator, so the intervals are the same on every run (but not SALib's,
//!   whose resamples come from numpy's generator).
//!
//! An experiment with several seeds per point feeds the analysis each point's mean over
//! its seeds: the indices are those of the seed-averaged output.

use std::collections::BTreeMap;

use arrow::array::{Array, Float64Array, UInt64Array};
use arrow::record_batch::RecordBatch;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;

use crate::design::{Design, Morris, Sobol};
use crate::execute::ExperimentError;
use crate::spec::ExperimentSpec;

/// Bootstrap resamples, as SALib's default.
pub const RESAMPLES: usize = 100;

/// The standard normal's 97.5% quantile: the half-width of a 95% interval in sds.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The seed of the bootstrap's generator.
const BOOTSTRAP_SEED: u64 = 0x5a17e111;

/// The schema metadata key of a designed experiment's Arrow table: the design and its
/// parameters as JSON (`{"sobol": {...}, "parameters": [...]}`), so a table alone can be
/// analysed.
pub const META_DESIGN: &str = "watchtower.experiment.design";

/// One parameter's indices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[allow(non_snake_case)]
pub struct Index {
    /// First order.
    pub S1: f64,
    /// Half-width of its 95% interval.
    pub S1_conf: f64,
    /// Total order.
    pub ST: f64,
    /// Half-width of its 95% interval.
    pub ST_conf: f64,
}

/// A pair's second-order index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pair {
    /// The first parameter's position.
    pub a: usize,
    /// The second's (above `a`).
    pub b: usize,
    /// S2.
    pub s2: f64,
    /// Half-width of its 95% interval.
    pub conf: f64,
}

/// The indices of one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Indices {
    /// One per parameter, in the design's order.
    pub first: Vec<Index>,
    /// Every pair, when the design serves second order.
    pub second: Vec<Pair>,
    /// Whether the output is the same at every point (every index is then 0, as SALib
    /// has it).
    pub constant: bool,
}

/// Analyses `y`, the outputs of a Sobol design over `d` parameters in the design's
/// order, as SALib's `sobol.analyze(problem, y, calc_second_order)` does.
pub fn analyze(y: &[f64], d: usize, second_order: bool) -> Result<Indices, String> {
    let step = if second_order { 2 * d + 2 } else { d + 2 };
    if d == 0 || y.is_empty() || !y.len().is_multiple_of(step) {
        return Err(format!(
            "{} outputs are not a Sobol design over {d} parameters ({step} points per base sample)",
            y.len()
        ));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(format!("output {i} is not a finite number"));
    }
    let n = y.len() / step;
    let len = y.len() as f64;
    let mean = y.iter().sum::<f64>() / len;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len).sqrt();
    let constant = sd.is_nan() || sd <= 0.0;
    let y: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
    let column = |k: usize| -> Vec<f64> { (0..n).map(|j| y[j * step + k]).collect() };
    let a = column(0);
    let b = column(step - 1);
    let ab: Vec<Vec<f64>> = (0..d).map(|i| column(i + 1)).collect();
    let ba: Vec<Vec<f64>> = if second_order { (0..d).map(|i| column(i + 1 + d)).collect() } else { Vec::new() };

    let all: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let resamples: Vec<Vec<usize>> = (0..RESAMPLES)
        .map(|_| (0..n).map(|_| ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize).collect())
        .collect();
    let conf = |f: &dyn Fn(&[usize]) -> f64| {
        let xs: Vec<f64> = resamples.iter().map(|r| f(r)).collect();
        Z95 * sd_ddof1(&xs)
    };
    let first = (0..d)
        .map(|i| Index {
            S1: first_order(&a, &ab[i], &b, &all),
            S1_conf: conf(&|r| first_order(&a, &ab[i], &b, r)),
            ST: total_order(&a, &ab[i], &b, &all),
            ST_conf: conf(&|r| total_order(&a, &ab[i], &b, r)),
        })
        .collect();
    let mut second = Vec::new();
    if second_order {
        for i in 0..d {
            for k in i + 1..d {
                let s2 = |r: &[usize]| {
                    let v = ratio(
                        r.iter().map(|&j| ba[i][j] * ab[k][j] - a[j] * b[j]).sum::<f64>() / r.len() as f64,
                        &a,
                        &b,
                        r,
                    );
                    v - first_order(&a, &ab[i], &b, r) - first_order(&a, &ab[k], &b, r)
                };
                second.push(Pair { a: i, b: k, s2: s2(&all), conf: conf(&s2) });
            }
        }
    }
    Ok(Indices { first, second, constant })
}

/// `np.var(np.r_[A[r], B[r]])`: the population variance of A and B together.
fn variance(a: &[f64], b: &[f64], r: &[usize]) -> f64 {
    let n = 2.0 * r.len() as f64;
    let mean = r.iter().map(|&j| a[j] + b[j]).sum::<f64>() / n;
    r.iter().map(|&j| (a[j] - mean).powi(2) + (b[j] - mean).powi(2)).sum::<f64>() / n
}

/// `numerator / var([A, B])`, or 0 where A and B do not vary (their variance within
/// machine epsilon, or not a number), as SALib has it. (SALib also checks their range;
/// a variance above epsilon implies a range above it.)
fn ratio(numerator: f64, a: &[f64], b: &[f64], r: &[usize]) -> f64 {
    let var = variance(a, b, r);
    if var > f64::EPSILON { numerator / var } else { 0.0 }
}

fn first_order(a: &[f64], ab: &[f64], b: &[f64], r: &[usize]) -> f64 {
    ratio(r.iter().map(|&j| b[j] * (ab[j] - a[j])).sum::<f64>() / r.len() as f64, a, b, r)
}

fn total_order(a: &[f64], ab: &[f64], b: &[f64], r: &[usize]) -> f64 {
    ratio(0.5 * (r.iter().map(|&j| (a[j] - ab[j]).powi(2)).sum::<f64>() / r.len() as f64), a, b, r)
}

fn sd_ddof1(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// One parameter's Morris measures (elementary effects), as SALib's `morris.analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Effect {
    /// μ, the mean elementary effect.
    pub mu: f64,
    /// μ*, the mean absolute elementary effect: how much the parameter matters.
    pub mu_star: f64,
    /// σ, their sd (ddof 1): how much the effect depends on the others (interactions or
    /// non-linearity).
    pub sigma: f64,
    /// Half-width of μ*'s 95% bootstrap interval.
    pub mu_star_conf: f64,
}

/// The elementary effects of `y`, the outputs of a Morris design over `d` parameters in
/// its order, and their measures, as SALib's `morris.analyze` computes them: for each
/// trajectory and parameter, (y where it is higher − y where it is lower) / Δ.
pub fn morris(y: &[f64], design: &Morris, d: usize) -> Result<Vec<Effect>, String> {
    if d == 0 || y.len() != design.points(d) {
        return Err(format!(
            "{} outputs are not a Morris design of {} trajectories over {d} parameters",
            y.len(),
            design.trajectories
        ));
    }
    let r = design.trajectories;
    let delta = design.delta();
    let mut ee = vec![vec![0.0; r]; d];
    for t in 0..r {
        let tr = design.trajectory(t as u64, d);
        let rows = &y[t * (d + 1)..(t + 1) * (d + 1)];
        for (j, e) in ee.iter_mut().enumerate() {
            let k = tr.step[j];
            let diff = rows[k] - rows[k - 1];
            e[t] = if tr.up[j] { diff } else { -diff } / delta;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    Ok(ee
        .iter()
        .map(|e| {
            let n = e.len() as f64;
            let mu = e.iter().sum::<f64>() / n;
            let mu_star = e.iter().map(|x| x.abs()).sum::<f64>() / n;
            let resampled: Vec<f64> = (0..RESAMPLES)
                .map(|_| {
                    (0..e.len())
                        .map(|_| e[((u128::from(rng.next_u64()) * e.len() as u128) >> 64) as usize].abs())
                        .sum::<f64>()
                        / n
                })
                .collect();
            Effect { mu, mu_star, sigma: sd_ddof1(e), mu_star_conf: Z95 * sd_ddof1(&resampled) }
        })
        .collect())
}

/// What the analysis of one column found.
#[derive(Debug, Clone, PartialEq)]
pub enum Measures {
    /// A Sobol design's indices.
    Sobol(Indices),
    /// A Morris design's measures, one per parameter.
    Morris(Vec<Effect>),
}

/// The indices of one summary column of an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnIndices {
    /// The column (`unemployment_rate_mean`).
    pub column: String,
    /// The parameters (the axes' keys), in the design's order.
    pub parameters: Vec<String>,
    /// The indices (or Morris's measures).
    pub measures: Measures,
    /// Seeds averaged into each point's output.
    pub seeds: usize,
    /// What a reader should know, in plain words (interactions, too few samples).
    pub notes: Vec<String>,
}

impl ColumnIndices {
    /// The parameters' positions, the largest total order (Morris: μ*) first.
    pub fn by_total_order(&self) -> Vec<usize> {
        let key = |i: usize| match &self.measures {
            Measures::Sobol(ix) => ix.first[i].ST,
            Measures::Morris(e) => e[i].mu_star,
        };
        let mut order: Vec<usize> = (0..self.parameters.len()).collect();
        order.sort_by(|&x, &y| key(y).total_cmp(&key(x)));
        order
    }

    /// `{parameter: {S1, S1_conf, ST, ST_conf}}` (and `S2`, `S2_conf` maps to the other
    /// parameters, with second order); Morris: `{parameter: {mu, mu_star, sigma,
    /// mu_star_conf}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let indices = match &self.measures {
            Measures::Sobol(ix) => ix,
            Measures::Morris(e) => {
                return self
                    .parameters
                    .iter()
                    .zip(e)
                    .map(|(p, e)| (p.clone(), serde_json::to_value(e).expect("numbers serialise")))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
        };
        let mut out = serde_json::Map::new();
        for (i, (p, ix)) in self.parameters.iter().zip(&indices.first).enumerate() {
            let mut v = serde_json::to_value(ix).expect("numbers serialise");
            if !indices.second.is_empty() {
                let (mut s2, mut conf) = (serde_json::Map::new(), serde_json::Map::new());
                for pair in indices.second.iter().filter(|q| q.a == i || q.b == i) {
                    let other = &self.parameters[if pair.a == i { pair.b } else { pair.a }];
                    s2.insert(other.clone(), json_number(pair.s2));
                    conf.insert(other.clone(), json_number(pair.conf));
                }
                v["S2"] = s2.into();
                v["S2_conf"] = conf.into();
            }
            out.insert(p.clone(), v);
        }
        out.into()
    }
}

fn json_number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into)
}

/// Plain-language notes on a column's indices: when the first-order indices fall far
/// short of 1 (interactions carry much of the variance) or the intervals of the
/// parameters that matter are wider than their indices (more samples needed).
pub fn notes(parameters: &[String], ix: &Indices, samples: usize, seeds: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if ix.constant {
        notes.push("the output does not vary across the design: there is nothing to apportion".to_string());
        return notes;
    }
    let sum: f64 = ix.first.iter().map(|i| i.S1).sum();
    if sum < 0.7 {
        notes.push(format!(
            "the first-order indices add up to {sum:.2}, far from 1: interactions between parameters carry much of the variance (the total-order indices include them)"
        ));
        if seeds <= 1 {
            notes.push(
                "each point ran one seed: a run's own randomness shows up as interactions; more seeds per point average it out"
                    .to_string(),
            );
        }
    } else if sum > 1.3 {
        notes.push(format!(
            "the first-order indices add up to {sum:.2}, above 1: the estimates are noisy; more samples needed"
        ));
    }
    let wide: Vec<&str> = parameters
        .iter()
        .zip(&ix.first)
        .filter(|(_, i)| i.ST >= 0.05 && (i.S1_conf > i.S1.abs() || i.ST_conf > i.ST))
        .map(|(p, _)| p.as_str())
        .collect();
    if !wide.is_empty() {
        notes.push(format!(
            "the intervals of {} are wider than the indices: more samples needed (samples: {} → {} halves them)",
            wide.join(", "),
            samples,
            samples * 4
        ));
    }
    notes
}

/// The columns analysed by default: every `<indicator>_mean` of the spec's indicators.
pub fn default_columns(spec: &ExperimentSpec) -> Vec<String> {
    spec.indicators.iter().map(|i| format!("{i}_mean")).collect()
}

/// The design and parameters of an experiment, as stored in its Arrow table's schema
/// metadata ([`META_DESIGN`]).
pub fn design_metadata(spec: &ExperimentSpec) -> Option<String> {
    match spec.design {
        Design::Grid => None,
        Design::Sobol(_) | Design::Morris(_) => {
            let mut v = spec.design.layout();
            v["parameters"] = spec.axes.iter().map(|a| a.key.clone()).collect::<Vec<_>>().into();
            Some(v.to_string())
        }
    }
}

/// The Sobol indices of `columns` (default: [`default_columns`]'s, read from the
/// table's `_mean` columns) of an experiment's Arrow table, which must carry its design
/// ([`META_DESIGN`], as [`crate::ExperimentTable::to_record_batch`] writes it) and hold
/// every run of it. Each point's output is its mean over its seeds.
pub fn of_batch(batch: &RecordBatch, columns: &[String]) -> Result<Vec<ColumnIndices>, ExperimentError> {
    let bad = |m: String| ExperimentError::Other(m);
    let schema = batch.schema();
    let meta = schema.metadata().get(META_DESIGN).ok_or_else(|| {
        bad("this experiment is not a Sobol design (nor a Morris one): give it `design: {sobol: {samples: N, seed: S}}` and axes as ranges {from: A, to: B}".into())
    })?;
    let meta: serde_json::Value = serde_json::from_str(meta).map_err(|e| bad(format!("{META_DESIGN}: {e}")))?;
    let m = &meta["morris"];
    let morris_design = m.is_object().then(|| Morris {
        trajectories: m["trajectories"].as_u64().unwrap_or(0) as usize,
        levels: m["levels"].as_u64().unwrap_or(4) as usize,
        seed: m["seed"].as_u64().unwrap_or(0),
    });
    let sobol = &meta["sobol"];
    let design = Sobol {
        samples: sobol["samples"].as_u64().unwrap_or(0) as usize,
        seed: sobol["seed"].as_u64().unwrap_or(0) as u32,
        second_order: sobol["second_order"].as_bool().unwrap_or(false),
    };
    let parameters: Vec<String> = meta["parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let points = morris_design.map_or_else(|| design.points(parameters.len()), |m| m.points(parameters.len()));
    let columns: Vec<String> = if columns.is_empty() {
        schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n.ends_with("_mean") && !n.starts_with("branch_"))
            .collect()
    } else {
        columns.to_vec()
    };
    let point = batch
        .column_by_name("point")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .ok_or_else(|| bad("the table has no `point` column".into()))?;
    let run = batch.column_by_name("run").and_then(|c| c.as_any().downcast_ref::<UInt64Array>());
    let mut out = Vec::new();
    for column in columns {
        let values =
            batch.column_by_name(&column).and_then(|c| c.as_any().downcast_ref::<Float64Array>()).ok_or_else(|| {
                let choices: Vec<&str> = schema
                    .fields()
                    .iter()
                    .filter(|f| *f.data_type() == arrow::datatypes::DataType::Float64)
                    .map(|f| f.name().as_str())
                    .collect();
                bad(format!(
                    "--indicator {column}: not a column of reals of this experiment; choose one of {}",
                    choices.join(", ")
                ))
            })?;
        let mut by_point: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
        for i in 0..batch.num_rows() {
            if values.is_null(i) {
                let r = run.map_or(i as u64, |r| r.value(i));
                return Err(bad(format!(
                    "run {r} has no `{column}` (it failed): the design's outputs must all be numbers"
                )));
            }
            let e = by_point.entry(point.value(i)).or_insert((0.0, 0));
            e.0 += values.value(i);
            e.1 += 1;
        }
        if by_point.len() != points || by_point.keys().next_back().is_some_and(|&p| p as usize >= points) {
            let missing = (0..points as u64).find(|p| !by_point.contains_key(p)).unwrap_or(points as u64);
            return Err(bad(format!(
                "the table holds {} of the design's {points} points (point {missing} has no run): finish the experiment first (`watchtower experiment --resume ID`)",
                by_point.len()
            )));
        }
        let seeds = by_point.values().map(|e| e.1).max().unwrap_or(0);
        let y: Vec<f64> = by_point.values().map(|(sum, k)| sum / *k as f64).collect();
        let (measures, notes) = match &morris_design {
            Some(m) => {
                let e = morris(&y, m, parameters.len()).map_err(|e| bad(format!("{column}: {e}")))?;
                (Measures::Morris(e), Vec::new())
            }
            None => {
                let indices =
                    analyze(&y, parameters.len(), design.second_order).map_err(|e| bad(format!("{column}: {e}")))?;
                let notes = notes(&parameters, &indices, design.samples, seeds);
                (Measures::Sobol(indices), notes)
            }
        };
        out.push(ColumnIndices { column, parameters: parameters.clone(), measures, seeds, notes });
    }
    Ok(out)
}

/// The indices as a text table: per column, each parameter's S1 ± conf and ST ± conf,
/// the largest total order first, then the notes.
pub fn to_text(results: &[ColumnIndices]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for r in results {
        let seeds = if r.seeds > 1 {
            format!(" (each point's output is its mean over {} seeds)", r.seeds)
        } else {
            String::new()
        };
        let _ = writeln!(s, "{}{seeds}", r.column);
        let width = r.parameters.iter().map(String::len).max().unwrap_or(9).max(9);
        let indices = match &r.measures {
            Measures::Sobol(ix) => ix,
            Measures::Morris(e) => {
                let _ = writeln!(s, "  {:<width$}  {:>21}  {:>10}  {:>10}", "parameter", "mu* (Morris)", "mu", "sigma");
                for i in r.by_total_order() {
                    let line = format!(
                        "  {:<width$}  {:>10.4} ± {:<8.4}  {:>10.4}  {:>10.4}",
                        r.parameters[i], e[i].mu_star, e[i].mu_star_conf, e[i].mu, e[i].sigma
                    );
                    let _ = writeln!(s, "{}", line.trim_end());
                }
                let _ = writeln!(
                    s,
                    "  mu*: mean |elementary effect| (how much it matters); sigma: their sd (interactions, non-linearity); ± is a 95% bootstrap interval\n"
                );
                continue;
            }
        };
        let _ = writeln!(s, "  {:<width$}  {:>17}  {:>17}", "parameter", "S1 (first order)", "ST (total order)");
        for i in r.by_total_order() {
            let ix = &indices.first[i];
            let line = format!(
                "  {:<width$}  {:>7.3} ± {:<7.3}  {:>7.3} ± {:<7.3}",
                r.parameters[i], ix.S1, ix.S1_conf, ix.ST, ix.ST_conf
            );
            let _ = writeln!(s, "{}", line.trim_end());
        }
        for p in &indices.second {
            let _ = writeln!(s, "  S2 {} × {}: {:.3} ± {:.3}", r.parameters[p.a], r.parameters[p.b], p.s2, p.conf);
        }
        let sum: f64 = indices.first.iter().map(|i| i.S1).sum();
        let _ = writeln!(s, "  sum of S1: {sum:.3}; ± is a 95% bootstrap interval ({RESAMPLES} resamples)");
        for n in &r.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        s.push('\n');
    }
    s
}

/// `{column: {parameter: {S1, S1_conf, ST, ST_conf}}}`.
pub fn to_json(results: &[ColumnIndices]) -> serde_json::Value {
    results.iter().map(|r| (r.column.clone(), r.to_json())).collect::<serde_json::Map<_, _>>().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ishigami's function over [-π, π]³ with a = 7, b = 0.1, whose indices are known.
    fn ishigami(x: &[f64]) -> f64 {
        x[0].sin() + 7.0 * x[1].sin().powi(2) + 0.1 * x[2].powi(4) * x[0].sin()
    }

    fn design(samples: usize, second_order: bool) -> (Sobol, Vec<f64>) {
        let s = Sobol { samples, seed: 11, second_order };
        let pi = std::f64::consts::PI;
        let ranges = [(-pi, pi); 3];
        let y = (0..s.points(3) as u64).map(|p| ishigami(&s.values(p, &ranges))).collect();
        (s, y)
    }

    #[test]
    fn ishigamis_indices_come_out() {
        // Analytic: S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437; S13 = 0.2437.
        let (_, y) = design(4096, true);
        let ix = analyze(&y, 3, true).unwrap();
        let (s1, st) = ([0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]);
        for i in 0..3 {
            assert!((ix.first[i].S1 - s1[i]).abs() < 0.03, "S1[{i}] = {}", ix.first[i].S1);
            assert!((ix.first[i].ST - st[i]).abs() < 0.03, "ST[{i}] = {}", ix.first[i].ST);
            assert!(ix.first[i].S1_conf > 0.0 && ix.first[i].S1_conf < 0.1);
        }
        let s13 = ix.second.iter().find(|p| (p.a, p.b) == (0, 2)).unwrap();
        assert!((s13.s2 - 0.2437).abs() < 0.06, "S13 = {}", s13.s2);
        assert_eq!(ix.second.len(), 3);
        // The same outputs give the same intervals: the bootstrap is seeded.
        assert_eq!(analyze(&y, 3, true).unwrap(), ix);
    }

    #[test]
    fn the_estimators_are_salibs() {
        // By hand on one tiny design (N = 2, D = 1): Y = [A0, AB0, B0, A1, AB1, B1].
        let y = [1.0, 2.0, 4.0, 3.0, 3.5, 0.0];
        let ix = analyze(&y, 1, false).unwrap();
        let m = y.iter().sum::<f64>() / 6.0;
        let sd = (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 6.0).sqrt();
        let z: Vec<f64> = y.iter().map(|v| (v - m) / sd).collect();
        let (a, ab, b) = ([z[0], z[3]], [z[1], z[4]], [z[2], z[5]]);
        let ab_mean = (a[0] + a[1] + b[0] + b[1]) / 4.0;
        let var = [a[0], a[1], b[0], b[1]].iter().map(|v| (v - ab_mean).powi(2)).sum::<f64>() / 4.0;
        let s1 = (b[0] * (ab[0] - a[0]) + b[1] * (ab[1] - a[1])) / 2.0 / var;
        let st = 0.5 * ((a[0] - ab[0]).powi(2) + (a[1] - ab[1]).powi(2)) / 2.0 / var;
        assert!((ix.first[0].S1 - s1).abs() < 1e-12);
        assert!((ix.first[0].ST - st).abs() < 1e-12);
        assert!(analyze(&y[..5], 1, false).unwrap_err().contains("not a Sobol design"));
    }

    #[test]
    fn morris_measures_elementary_effects() {
        // y = 3 x0 + 0 x1 + x2² over the unit cube: x0's effect is 3 everywhere, x1 has
        // none, x2's depends on where it is.
        let m = Morris { trajectories: 50, levels: 4, seed: 5 };
        let y: Vec<f64> = (0..m.points(3) as u64)
            .map(|p| {
                let x = m.unit(p, 3);
                3.0 * x[0] + x[2] * x[2]
            })
            .collect();
        let e = morris(&y, &m, 3).unwrap();
        assert!((e[0].mu_star - 3.0).abs() < 1e-12 && (e[0].mu - 3.0).abs() < 1e-12 && e[0].sigma.abs() < 1e-12);
        assert_eq!((e[1].mu_star, e[1].sigma), (0.0, 0.0));
        // x2 moves by 2/3 between 0 and 2/3 or between 1/3 and 1: effects 2/3 and 4/3.
        assert!(e[2].mu_star > 0.6 && e[2].mu_star < 1.4 && e[2].sigma > 0.1, "{:?}", e[2]);
        assert!(e[2].mu_star_conf > 0.0);
        assert!(morris(&y[1..], &m, 3).is_err());
    }

    #[test]
    fn notes_say_when_interactions_dominate_or_samples_are_few() {
        let p = vec!["x".to_string(), "y".to_string()];
        let i = |s1: f64, st: f64, conf: f64| Index { S1: s1, S1_conf: conf, ST: st, ST_conf: conf };
        let ix = Indices { first: vec![i(0.1, 0.9, 0.02), i(0.1, 0.9, 0.02)], second: vec![], constant: false };
        assert!(notes(&p, &ix, 64, 2)[0].contains("interactions"));
        assert!(notes(&p, &ix, 64, 1)[1].contains("one seed"));
        let ix = Indices { first: vec![i(0.5, 0.5, 0.6), i(0.45, 0.5, 0.02)], second: vec![], constant: false };
        let n = notes(&p, &ix, 64, 1);
        assert_eq!(n.len(), 1);
        assert!(n[0].contains("intervals of x are wider") && n[0].contains("64 → 256"), "{n:?}");
        let flat = analyze(&[1.0; 8], 2, false).unwrap();
        assert!(notes(&p, &flat, 2, 1)[0].contains("does not vary"));
        assert_eq!(flat.first[0].S1, 0.0, "SALib's 0 for a constant output");
    }
}
