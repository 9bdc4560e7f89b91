//! The search: a sequence of batches of evaluations, each batch a pure function of the
//! spec and the batches before it, so neither `--jobs` nor an interruption and its
//! resume changes a number.
//!
//! ```text
//! batch 0   the target (a synthetic truth's run); the covariance Σ₀ of its moments, for
//!           the weighting, by a moving-block bootstrap of its series, as for data
//! batch 1   a scrambled Sobol design: the space-filling start
//! then      one point at a time where a Gaussian process of the log loss expects the
//!           most improvement (over Sobol candidates and a box around the best); for a
//!           synthetic target, halfway, K runs at the best point so far give the
//!           weighting's covariance (two-step efficient MSM) and every loss is recomputed
//! then      Nelder–Mead (argmin) from the best point, until the budget's reserve
//! then      the 2p points of the Jacobian's differences at the best point
//! estimate  the minimum of the moments' local linear fit around the best point
//!           ([`refine`]: the best of many noisy points is a lucky one)
//! last      K runs at the estimate (Σ there)
//! ```
//!
//! Every search point runs on the same `ensemble` seeds (common random numbers), so
//! differences between nearby points are mostly the parameters' doing; in an economy
//! with crises the surface is still rough (a small move sends a seed through another
//! crisis), which is why the estimate is a local fit's minimum ([`refine`]). The
//! target's seed is never among the seeds.

use std::cell::RefCell;

use argmin::core::{CostFunction, Error as ArgminError, Executor};
use argmin::solver::neldermead::NelderMead;
use nalgebra::DMatrix;

use crate::calibrate::data::{Observed, bootstrap};
use crate::calibrate::estimate::{
    self, Inputs, Outlier, Uncertainty, Weights, difference_points, regime_covariance, weights,
};
use crate::calibrate::jacobian;
use crate::calibrate::refine;
use crate::calibrate::simulate::{Simulated, series};
use crate::calibrate::spec::{CalibrationSpec, Target};
use crate::calibrate::surrogate::Gp;

/// What an evaluation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// The synthetic target's run.
    Target,
    /// Runs for the moments' covariance (at the centre, then at the estimate).
    Covariance,
    /// A point of the search.
    Search,
    /// A point of the Jacobian's differences.
    Jacobian,
}

impl Kind {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Target => "target",
            Kind::Covariance => "covariance",
            Kind::Search => "search",
            Kind::Jacobian => "jacobian",
        }
    }
}

/// One evaluation to run: a point on the unit cube and its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What it is for.
    pub kind: Kind,
    /// The point (for the target, the truth's free values on the unit scale).
    pub unit: Vec<f64>,
    /// Its seeds.
    pub seeds: Vec<u64>,
}

/// One evaluation done.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Its index in the calibration, 0-based.
    pub index: u64,
    /// What it was for.
    pub kind: Kind,
    /// The point on the unit cube.
    pub unit: Vec<f64>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Each seed's moments (NaN for a failed run).
    pub per_seed: Vec<Vec<f64>>,
    /// The loss of the seeds' mean moments (NaN before the weighting is known).
    pub loss: f64,
}

impl Evaluation {
    /// Its loss g'Wg, g = `target` − its mean moments; not a number for the target's own
    /// run. The one place a loss is computed: as an evaluation is made (the pool, the
    /// Python module's executors) and again when the weighting changes.
    pub fn loss_with(&self, target: &[f64], w: &DMatrix<f64>) -> f64 {
        if self.kind == Kind::Target {
            return f64::NAN;
        }
        let g: Vec<f64> = target.iter().zip(self.moments()).map(|(t, m)| t - m).collect();
        estimate::loss(&g, w)
    }

    /// The mean over the seeds of each moment.
    pub fn moments(&self) -> Vec<f64> {
        let m = self.per_seed.first().map_or(0, Vec::len);
        (0..m).map(|j| self.per_seed.iter().map(|s| s[j]).sum::<f64>() / self.per_seed.len() as f64).collect()
    }
}

/// Why the search stopped before its end.
#[derive(Debug)]
pub enum Halt {
    /// Interrupted (Ctrl-C): the evaluations so far are stored; resume continues.
    Stopped,
    /// An error, in words.
    Error(String),
}

/// Runs batches of evaluations: the caller's pool, store and replay of what was stored.
pub trait Evaluator {
    /// Runs `requests` (in parallel, each on its seeds) and returns their evaluations
    /// in the order asked, each with its loss when the loss is known.
    fn batch(&mut self, requests: Vec<Request>) -> Result<Vec<Evaluation>, Halt>;
    /// From now on, losses are g'Wg with g = target − model.
    fn set_loss(&mut self, target: Vec<f64>, weights: DMatrix<f64>);
    /// The stop the simulations watch (Ctrl-C).
    fn stop(&self) -> Option<&watchtower_runner::session::Stop>;
}

/// How the budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// Runs for each covariance (at the centre, at the estimate).
    pub covariance_runs: u64,
    /// Sobol points.
    pub start: u64,
    /// Expected-improvement points.
    pub improvement: u64,
    /// Nelder–Mead points at most.
    pub polish: u64,
}

impl Allocation {
    /// The split of the spec's budget: the fixed costs (target, covariances, Jacobian),
    /// then of the points left ~30% Sobol, ~40% expected improvement, the rest polish.
    pub fn of(spec: &CalibrationSpec) -> Result<Allocation, String> {
        let (p, m, s) = (spec.free.len() as u64, spec.moments.len() as u64, spec.ensemble);
        let synthetic = matches!(spec.target, Target::Synthetic { .. });
        let covariance_runs = if synthetic { (4 * m).max(16) } else { 0 };
        // The target's run (stored), its series run again for the bootstrap, K runs at the
        // search's halfway best (the second step's weighting) and K at the estimate, the
        // Jacobian's 2p points.
        let fixed = 2 * u64::from(synthetic) + 2 * covariance_runs + 2 * p * s;
        let min_points = 2 * p + 4;
        let need = fixed + min_points * s;
        if spec.budget < need {
            return Err(format!(
                "budget {} is too small for {p} free parameter(s), {m} moments and an ensemble of {s}: at least {need} simulations ({fixed} for the target, the covariances and the Jacobian, {} for {min_points} points)",
                spec.budget,
                min_points * s
            ));
        }
        let points = (spec.budget - fixed) / s;
        let start = (points * 3 / 10).max(p + 2);
        let improvement = (points - start) * 4 / 7;
        Ok(Allocation { covariance_runs, start, improvement, polish: points - start - improvement })
    }
}

/// A calibration's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The estimate on the unit cube.
    pub unit: Vec<f64>,
    /// The estimate in the parameters' units.
    pub estimates: Vec<f64>,
    /// The target's moments.
    pub target: Vec<f64>,
    /// Standard errors, intervals, J test, moment table, warnings.
    pub uncertainty: Uncertainty,
    /// Every evaluation, by index.
    pub evaluations: Vec<Evaluation>,
    /// Simulations run (the target's included).
    pub simulations: u64,
    /// The loss at the estimate (of the local fit's moments when refined).
    pub loss: f64,
    /// How the estimate was found.
    pub estimate: Estimate,
    /// How the Jacobian behind the standard errors was found.
    pub jacobian: jacobian::Source,
    /// The loss's weighting, and the covariance samples and Hartlap factor it came from.
    pub weights: Weights,
}

/// How the estimate was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Estimate {
    /// The minimum of the local fit of the moments ([`refine`]), reached in `steps`
    /// Gauss–Newton steps from the best point searched (evaluation `from`).
    Refined {
        /// The Gauss–Newton steps taken.
        steps: usize,
        /// Whether they stopped at a minimum of the fit (else a `WARNING`).
        converged: bool,
        /// The best point searched, where they started.
        from: u64,
    },
    /// The best point searched: no local fit could be made there.
    Best {
        /// Its evaluation.
        index: u64,
    },
}

impl Estimate {
    /// For the report's `method`.
    pub fn describe(&self) -> String {
        match self {
            Estimate::Refined { steps, converged: true, from } => format!(
                "the estimate is the minimum of the moments' local linear fit ({steps} Gauss–Newton steps from the best point searched, evaluation {from}), its fit error in the standard errors"
            ),
            Estimate::Refined { steps, converged: false, from } => format!(
                "the estimate is where the Gauss–Newton steps on the moments' local linear fit stopped short of its minimum ({steps} steps from the best point searched, evaluation {from}), its fit error in the standard errors"
            ),
            Estimate::Best { index } => {
                format!(
                    "the estimate is the best point searched (evaluation {index}): too few evaluations near it for a local fit"
                )
            }
        }
    }
}

/// Scrambled Sobol points on the unit cube: point `i` of `n`, `dims` coordinates,
/// Owen-scrambled by `seed`.
fn sobol(n: u64, dims: usize, seed: u32) -> Vec<Vec<f64>> {
    (0..n as u32).map(|i| (0..dims as u32).map(|d| f64::from(sobol_burley::sample(i, d, seed))).collect()).collect()
}

/// The calibration: all its batches, then the estimate and its uncertainty.
pub fn calibrate(spec: &CalibrationSpec, ev: &mut dyn Evaluator) -> Result<Outcome, Halt> {
    let alloc = Allocation::of(spec).map_err(Halt::Error)?;
    let p = spec.free.len();
    let s = spec.ensemble;
    let ensemble = spec.seeds(0, s);
    let cov_seeds = spec.seeds(s, alloc.covariance_runs);
    let mut all: Vec<Evaluation> = Vec::new();

    // Batch 0: the target and the covariance at the centre.
    let (target, sigma0, correction) = match &spec.target {
        Target::Synthetic { set, seed } => {
            let truth: Vec<f64> = spec
                .free
                .iter()
                .map(|f| {
                    let v = set.iter().find(|o| o.key == f.key).map_or(f64::NAN, |o| match o.value {
                        watchtower_engine::RawValue::Int(i) => i as f64,
                        watchtower_engine::RawValue::Float(x) => x,
                        _ => f64::NAN,
                    });
                    f.unit(v)
                })
                .collect();
            let got = ev.batch(vec![Request { kind: Kind::Target, unit: truth, seeds: vec![*seed] }])?;
            let target = got[0].moments();
            if target.iter().any(|v| !v.is_finite()) {
                return Err(Halt::Error(format!(
                    "the synthetic target's run gave moments that are not numbers ({:?}): the truth's economy failed or a moment is undefined",
                    target
                )));
            }
            all.extend(got);
            // The target's own noise, as data's: a block bootstrap of its series (run again,
            // a pure function of its scenario, so a resume needs nothing stored).
            let scenario = spec.target_scenario().expect("synthetic");
            let series = match series(spec, &scenario, ev.stop()) {
                Ok(series) => series,
                Err(Simulated::Stopped) => return Err(Halt::Stopped),
                Err(other) => return Err(Halt::Error(format!("the synthetic target's run failed: {other:?}"))),
            };
            let observed = Observed { indicators: spec.indicators(), series };
            let block = (spec.base.window() as usize / 25).max(8);
            let (_, sigma0) = bootstrap(&observed, &spec.moments, spec.hp_lambda, block, 500, 1);
            (target, sigma0, 1.0 + 1.0 / s as f64)
        }
        Target::Data(d) => {
            let observed = d.load().map_err(Halt::Error)?;
            for m in &spec.moments {
                for i in m.indicators() {
                    if d.column(i).is_none() {
                        return Err(Halt::Error(format!(
                            "{}: moment {m} reads `{i}`, which no column of the data block gives",
                            d.file
                        )));
                    }
                }
            }
            let (target, sigma) = bootstrap(&observed, &spec.moments, spec.hp_lambda, d.block, d.samples, d.seed);
            let n_data = observed.series[0].len() as f64;
            let n_sim = (spec.base.window() / d.ticks_per_observation) as f64;
            (target, sigma, 1.0 + n_data / (s as f64 * n_sim))
        }
    };
    let w = weights(spec.weighting, &sigma0).map_err(|e| {
        Halt::Error(match &spec.target {
            Target::Data(d) => format!(
                "{}, target.data.bootstrap.samples {}: {e}, a draw whose moments are not all numbers being no sample; raise `samples` or list fewer `moments`",
                d.file, d.samples
            ),
            Target::Synthetic { .. } => format!(
                "the synthetic target's bootstrap: {e}, a draw whose moments are not all numbers being no sample; list fewer `moments`"
            ),
        })
    })?;
    ev.set_loss(target.clone(), w.matrix.clone());

    // Batch 1: the Sobol start.
    let start: Vec<Request> = sobol(alloc.start, p, 0x5eed)
        .into_iter()
        .map(|u| Request { kind: Kind::Search, unit: u, seeds: ensemble.clone() })
        .collect();
    all.extend(ev.batch(start)?);

    // Expected improvement, one point a batch; for a synthetic target, halfway through,
    // the second step of two-step efficient MSM: Σ from K runs at the best point so far
    // replaces the bootstrap's in the weighting, and every loss so far is computed again
    // under it (each evaluation keeps its per-seed moments, so this costs no simulation).
    // One run's bootstrap gets the moments' correlations across seeds wrong — from 25
    // blocks of one series, the skewness and the firms' side look less noisy and less
    // correlated than they are — and R is identified by just such a combination: on the
    // two-parameter recovery the bootstrap's weighting gave R a standard error of 0.47
    // where K runs at the estimate give about 0.05.
    let mut regimes: Vec<Option<String>> = Vec::new();
    let w = match &spec.target {
        Target::Synthetic { .. } if alloc.covariance_runs > 0 => {
            improve(&mut all, ev, p, &ensemble, 0..alloc.improvement / 2)?;
            let at = best_of(&all).unit.clone();
            let got = ev.batch(vec![Request { kind: Kind::Covariance, unit: at, seeds: cov_seeds.clone() }])?;
            let (sigma1, out) = regime_covariance(&got[0].per_seed);
            regimes.push(regime_warning("at the search's halfway best point (the weighting's Σ)", spec, &got[0], &out));
            let w = weights(spec.weighting, &sigma1).map_err(|e| {
                Halt::Error(format!("the second step's covariance: {e}; raise `ensemble`, or list fewer `moments`"))
            })?;
            ev.set_loss(target.clone(), w.matrix.clone());
            all.extend(got);
            for e in all.iter_mut().filter(|e| e.kind == Kind::Search) {
                e.loss = e.loss_with(&target, &w.matrix);
            }
            improve(&mut all, ev, p, &ensemble, alloc.improvement / 2..alloc.improvement)?;
            w
        }
        _ => {
            improve(&mut all, ev, p, &ensemble, 0..alloc.improvement)?;
            w
        }
    };

    // Nelder–Mead from the best point.
    let best = best_of(&all).unit.clone();
    let simplex: Vec<Vec<f64>> = std::iter::once(best.clone())
        .chain((0..p).map(|j| {
            let mut v = best.clone();
            v[j] = if v[j] + 0.05 <= 1.0 { v[j] + 0.05 } else { v[j] - 0.05 };
            v
        }))
        .collect();
    let polish = Polish {
        ev: RefCell::new(ev),
        seeds: ensemble.clone(),
        left: RefCell::new(alloc.polish),
        found: RefCell::new(Vec::new()),
    };
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12).map_err(|e| Halt::Error(e.to_string()))?;
    let result = Executor::new(&polish, solver).configure(|c| c.max_iters(alloc.polish)).run().map(|_| ());
    let Polish { ev, found, .. } = polish;
    let ev = ev.into_inner();
    let found = found.into_inner();
    all.extend(found);
    if let Err(e) = result {
        match e.downcast::<Halted>() {
            Ok(Halted::Stopped) => return Err(Halt::Stopped),
            Ok(Halted::Error(e)) => return Err(Halt::Error(e)),
            Ok(Halted::Spent) => {}
            Err(e) => return Err(Halt::Error(format!("Nelder–Mead: {e}"))),
        }
    }

    // The Jacobian's difference points at the best point, then the estimate: the minimum
    // of the local fit of the moments around it (with those points in the fit, which
    // they give spread where the polish left the points along a line; the best point
    // itself when no fit can be made), then Σ there.
    let best = best_of(&all).clone();
    let mut diff = Vec::new();
    for j in 0..p {
        let (plus, minus, _) = difference_points(&best.unit, j);
        diff.push(Request { kind: Kind::Jacobian, unit: plus, seeds: ensemble.clone() });
        diff.push(Request { kind: Kind::Jacobian, unit: minus, seeds: ensemble.clone() });
    }
    let jac = ev.batch(diff)?;
    let m = spec.moments.len();
    let mut differences = vec![vec![0.0; p]; m];
    for j in 0..p {
        let (_, _, h) = difference_points(&best.unit, j);
        let (plus, minus) = (jac[2 * j].moments(), jac[2 * j + 1].moments());
        for i in 0..m {
            differences[i][j] = (plus[i] - minus[i]) / h;
        }
    }
    all.extend(jac);
    let refined = refine::refine(&all, &best.unit, &target, &w.matrix);
    let at = refined.as_ref().map_or_else(|| best.unit.clone(), |r| r.unit.clone());
    let sigma = if alloc.covariance_runs > 0 {
        let got = ev.batch(vec![Request { kind: Kind::Covariance, unit: at.clone(), seeds: cov_seeds }])?;
        let (sigma, out) = regime_covariance(&got[0].per_seed);
        regimes.push(regime_warning("at the estimate (the standard errors' Σ)", spec, &got[0], &out));
        all.extend(got);
        sigma
    } else {
        sigma0
    };
    // The fit at the estimate gives G, the model's moments there and their error; with
    // none (too few points near the best point), G is the differences and the model's
    // moments the best point's own.
    let (jacobian, jacobian_source, model, fit_noise, jacobian_cov, loss, estimate) = match refined {
        Some(r) => {
            let loss = refine::fit_loss(&r.fit, &target, &w.matrix);
            let source = jacobian::Source::Regression { points: r.fit.points, other_regime: r.fit.other_regime };
            let estimate = Estimate::Refined { steps: r.steps, converged: r.converged, from: best.index };
            let jacobian::Regression { jacobian, intercept, intercept_cov, slope_cov, .. } = r.fit;
            (jacobian, source, intercept, Some(intercept_cov), Some(slope_cov), loss, estimate)
        }
        None => (
            differences,
            jacobian::Source::Differences,
            best.moments(),
            None,
            None,
            best.loss,
            Estimate::Best { index: best.index },
        ),
    };
    let names = spec.moment_names();
    let mut uncertainty = estimate::uncertainty(&Inputs {
        free: &spec.free,
        unit: &at,
        names: &names,
        target: &target,
        model: &model,
        jacobian: &jacobian,
        sigma: &sigma,
        weights: &w.matrix,
        correction,
        fit_noise: fit_noise.as_deref(),
        jacobian_cov: jacobian_cov.as_deref(),
    });
    uncertainty.warnings.extend(regimes.into_iter().flatten());
    if let Estimate::Refined { converged: false, steps, .. } = estimate {
        uncertainty.warnings.push(format!(
            "WARNING: the estimate is where the refinement stopped after {steps} Gauss–Newton step(s), not a minimum of the moments' local fit: its minimum lies beyond the points the search evaluated (or the steps ran out), so the search did not reach the best fit and the standard errors, which assume a minimum, understate the uncertainty; raise `budget` or widen the search's bounds"
        ));
    }
    // The target's series run for the bootstrap counts too.
    let simulations = all.iter().map(|e| e.seeds.len() as u64).sum::<u64>() + u64::from(alloc.covariance_runs > 0);
    Ok(Outcome {
        estimates: spec.free.iter().zip(&at).map(|(f, u)| f.value(*u)).collect(),
        unit: at,
        target,
        uncertainty,
        evaluations: all,
        simulations,
        loss,
        estimate,
        jacobian: jacobian_source,
        weights: w,
    })
}

/// The warning for the covariance runs `e` of which `out` (from
/// [`estimate::other_regime`]) ended in another regime, or `None` when none did.
fn regime_warning(at: &str, spec: &CalibrationSpec, e: &Evaluation, out: &[Outlier]) -> Option<String> {
    let first = out.first()?;
    let (i, j, value, median, sds) = (first.run, first.moment, first.value, first.median, first.sds);
    let names = spec.moment_names();
    let seeds: Vec<String> = out.iter().map(|o| e.seeds[o.run].to_string()).collect();
    Some(format!(
        "WARNING: {} of the {} runs {at} ended in another regime than the rest (seed {}: {} {value:.4} against a median of {median:.4}, {sds:.0} robust sd away; seeds {}) and are left out of Σ: near these parameters the economy leaves its usual regime in about {} of {} runs within the window, which the standard errors, being of one regime, do not include",
        out.len(),
        e.seeds.len(),
        e.seeds[i],
        names[j],
        seeds.join(", "),
        out.len(),
        e.seeds.len(),
    ))
}

/// The expected-improvement steps `steps`, one point a batch.
fn improve(
    all: &mut Vec<Evaluation>,
    ev: &mut dyn Evaluator,
    p: usize,
    ensemble: &[u64],
    steps: std::ops::Range<u64>,
) -> Result<(), Halt> {
    for step in steps {
        let searched: Vec<&Evaluation> = all.iter().filter(|e| e.kind == Kind::Search).collect();
        let next = improvement_point(&searched, p, step as u32);
        all.extend(ev.batch(vec![Request { kind: Kind::Search, unit: next, seeds: ensemble.to_vec() }])?);
    }
    Ok(())
}

/// The search point with the least loss (the first of equals).
fn best_of(all: &[Evaluation]) -> &Evaluation {
    all.iter()
        .filter(|e| e.kind == Kind::Search)
        .min_by(|a, b| a.loss.total_cmp(&b.loss).then(a.index.cmp(&b.index)))
        .expect("the start has points")
}

/// Where the Gaussian process of the log loss expects the most improvement: over 1,024
/// scrambled Sobol candidates (a new scramble each step) and 256 in a box of ±0.1 around
/// the best point; a candidate within 1e-9 of a point already evaluated is skipped.
fn improvement_point(searched: &[&Evaluation], p: usize, step: u32) -> Vec<f64> {
    let finite: Vec<&&Evaluation> = searched.iter().filter(|e| e.loss.is_finite()).collect();
    let worst = finite.iter().map(|e| e.loss).fold(0.0f64, f64::max);
    let x: Vec<Vec<f64>> = searched.iter().map(|e| e.unit.clone()).collect();
    // A failed point counts as the worst seen, so the process learns to avoid it.
    let y: Vec<f64> =
        searched.iter().map(|e| (if e.loss.is_finite() { e.loss } else { worst }).max(1e-300).ln()).collect();
    let best = searched.iter().min_by(|a, b| a.loss.total_cmp(&b.loss).then(a.index.cmp(&b.index))).expect("points");
    let f_best = y.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut candidates = sobol(1024, p, 1000 + step);
    candidates.extend(
        sobol(256, p, 5000 + step)
            .into_iter()
            .map(|c| c.iter().zip(&best.unit).map(|(c, b)| (b + 0.2 * (c - 0.5)).clamp(0.0, 1.0)).collect()),
    );
    let Some(gp) = Gp::fit(&x, &y) else { return candidates[0].clone() };
    let mut pick = (f64::NEG_INFINITY, candidates[0].clone());
    for c in candidates {
        if x.iter().any(|xi| xi.iter().zip(&c).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) < 1e-9) {
            continue;
        }
        let ei = gp.expected_improvement(&c, f_best);
        if ei > pick.0 {
            pick = (ei, c);
        }
    }
    pick.1
}

/// Why the polish's cost function stopped the solver.
#[derive(Debug, thiserror::Error)]
enum Halted {
    #[error("the polish's budget is spent")]
    Spent,
    #[error("stopped")]
    Stopped,
    #[error("{0}")]
    Error(String),
}

/// Nelder–Mead's cost: one evaluation a call, on the unit cube (clamped to it).
struct Polish<'e> {
    ev: RefCell<&'e mut dyn Evaluator>,
    seeds: Vec<u64>,
    left: RefCell<u64>,
    found: RefCell<Vec<Evaluation>>,
}

impl CostFunction for &Polish<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, u: &Vec<f64>) -> Result<f64, ArgminError> {
        if *self.left.borrow() == 0 {
            return Err(Halted::Spent.into());
        }
        *self.left.borrow_mut() -= 1;
        let unit: Vec<f64> = u.iter().map(|v| v.clamp(0.0, 1.0)).collect();
        let got = self.ev.borrow_mut().batch(vec![Request { kind: Kind::Search, unit, seeds: self.seeds.clone() }]);
        match got {
            Ok(mut e) => {
                let e = e.remove(0);
                let loss = e.loss;
                self.found.borrow_mut().push(e);
                // Outside the cube the cost grows with the distance, so the simplex turns back.
                let outside: f64 = u.iter().map(|v| (v - v.clamp(0.0, 1.0)).abs()).sum();
                Ok(if loss.is_finite() { loss * (1.0 + outside) + outside } else { f64::MAX })
            }
            Err(Halt::Stopped) => Err(Halted::Stopped.into()),
            Err(Halt::Error(e)) => Err(Halted::Error(e).into()),
        }
    }
}
