//! The uncertainty of a method-of-simulated-moments estimate.
//!
//! With g(θ) the target's moments less the model's (the mean over S seeds), W the
//! loss's weighting, Σ the covariance of one sample's moments and G = ∂m/∂θ the
//! Jacobian of the model's moments at the estimate (numerical, on the same seeds), the
//! estimate's covariance is the sandwich
//!
//! ```text
//! V = c · (G'WG)⁻¹ G'W Σ W G (G'WG)⁻¹,   c = 1 + 1/S (simulation noise)
//! ```
//!
//! which is c · (G'Σ⁻¹G)⁻¹ for the efficient W = Σ⁻¹ (Gouriéroux & Monfort 1996; for
//! data of length n and simulations of length n_s, c = 1 + n/(S·n_s)). When the model's
//! moments at the estimate are a local fit's ([`refine`](crate::calibrate::refine)), the
//! fit's own covariance F joins c·Σ in the middle of the sandwich. The J statistic
//! h · g'(cΣ + F)⁻¹g is χ² with m − rank(G'WG) degrees of freedom when the model is right.
//! Every Σ here is estimated from N samples (runs, or bootstrap draws), and the inverse
//! of such an estimate is biased up by (N − 1)/(N − m − 2): wherever an inverse is a
//! weighting or in J it is multiplied by Hartlap, Simon & Schneider's (2007)
//! h = (N − m − 2)/(N − 1), and fewer than m + 3 samples are refused. The sandwich
//! was chosen over a likelihood-free posterior because it costs 2p·S simulations, not
//! thousands, and its assumptions (a smooth, locally linear moment map) are checked by
//! the warnings: a parameter whose moments barely move (a flat or collinear Jacobian
//! column) gets the whole of its bounds as its interval and a warning, never a narrow
//! interval around a number the data cannot pin down.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::calibrate::spec::{Free, Weighting};

/// The z of a two-sided 90% interval.
pub const Z90: f64 = 1.6448536269514722;

/// A covariance estimated from samples: the matrix, and how many samples made it (the
/// N of the Hartlap factor of its inverse).
#[derive(Debug, Clone, PartialEq)]
pub struct Covariance {
    /// The sample covariance (m × m).
    pub matrix: Vec<Vec<f64>>,
    /// The samples it was estimated from (those with every value a number).
    pub samples: usize,
}

/// Hartlap, Simon & Schneider (2007): the inverse of a covariance estimated from
/// `samples` Gaussian draws of `m` quantities overestimates the true inverse by
/// (N − 1)/(N − m − 2); multiplying by (N − m − 2)/(N − 1) makes it unbiased. `None`
/// when N ≤ m + 2, where the factor would be zero or negative: too few samples for an
/// inverse at all.
pub fn hartlap(samples: usize, m: usize) -> Option<f64> {
    (samples > m + 2).then(|| (samples - m - 2) as f64 / (samples - 1) as f64)
}

/// The sample covariance (dividing by n − 1) of `draws` (one vector per draw); a draw
/// with a value that is not a number (a failed run) is left out.
pub fn covariance(draws: &[Vec<f64>]) -> Covariance {
    let draws: Vec<&Vec<f64>> = draws.iter().filter(|d| d.iter().all(|v| v.is_finite())).collect();
    let n = draws.len();
    let m = draws.first().map_or(0, |d| d.len());
    let mean: Vec<f64> = (0..m).map(|j| draws.iter().map(|d| d[j]).sum::<f64>() / n as f64).collect();
    let mut cov = vec![vec![0.0; m]; m];
    for d in &draws {
        for i in 0..m {
            for j in 0..m {
                cov[i][j] += (d[i] - mean[i]) * (d[j] - mean[j]);
            }
        }
    }
    let div = (n.max(2) - 1) as f64;
    cov.iter_mut().flatten().for_each(|v| *v /= div);
    Covariance { matrix: cov, samples: n }
}

/// How far from the median, in robust standard deviations (1.4826 × the median absolute
/// deviation), a run's moment must lie for the run to count as another regime.
pub const REGIME_SDS: f64 = 10.0;

/// A run that ended in another regime than the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlier {
    /// Its index among the draws.
    pub run: usize,
    /// The moment that gave it away (the farthest from its median).
    pub moment: usize,
    /// That moment's value in this run.
    pub value: f64,
    /// Its median over the runs.
    pub median: f64,
    /// How many robust standard deviations apart.
    pub sds: f64,
}

/// Runs that ended in another regime than the rest, each with the moment that gave it
/// away.
///
/// Mark-0 is bistable: near parameters where it usually settles with ~10% unemployment,
/// a few seeds in a hundred fall into full unemployment within 2,000 ticks (measured at
/// the two-parameter recovery's estimate: 1 of 72 runs, its unemployment mean 0.80
/// against a median of 0.105, 90 robust sd away). One such run in Σ makes every moment's
/// variance that of a mixture of two economies, and every interval the bounds. The
/// target's run, like the search's, is of the usual regime; Σ is of that regime, and the
/// runs left out are reported with how often the economy leaves it.
pub fn other_regime(draws: &[Vec<f64>]) -> Vec<Outlier> {
    let finite: Vec<usize> = (0..draws.len()).filter(|&i| draws[i].iter().all(|v| v.is_finite())).collect();
    let m = draws.first().map_or(0, Vec::len);
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        crate::summary::quantile(&v, 0.5)
    };
    let mut out = Vec::new();
    let centre: Vec<(f64, f64)> = (0..m)
        .map(|j| {
            let med = median(finite.iter().map(|&i| draws[i][j]).collect());
            let mad = median(finite.iter().map(|&i| (draws[i][j] - med).abs()).collect());
            (med, 1.4826 * mad)
        })
        .collect();
    for &i in &finite {
        let worst = (0..m)
            .filter(|&j| centre[j].1 > 0.0)
            .map(|j| (j, (draws[i][j] - centre[j].0).abs() / centre[j].1))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((j, sds)) = worst.filter(|w| w.1 > REGIME_SDS) {
            out.push(Outlier { run: i, moment: j, value: draws[i][j], median: centre[j].0, sds });
        }
    }
    out
}

/// The covariance of `draws` without the runs of [`other_regime`], and those runs.
pub fn regime_covariance(draws: &[Vec<f64>]) -> (Covariance, Vec<Outlier>) {
    let out = other_regime(draws);
    let kept: Vec<Vec<f64>> =
        draws.iter().enumerate().filter(|(i, _)| !out.iter().any(|o| o.run == *i)).map(|(_, d)| d.clone()).collect();
    (covariance(&kept), out)
}

fn matrix(rows: &[Vec<f64>]) -> DMatrix<f64> {
    let (r, c) = (rows.len(), rows.first().map_or(0, Vec::len));
    DMatrix::from_fn(r, c, |i, j| rows[i][j])
}

/// The inverse of a symmetric positive semi-definite matrix through its eigenvalues,
/// directions with an eigenvalue below 1e-10 of the largest dropped (a pseudo-inverse),
/// and how many were dropped.
pub fn pseudo_inverse(a: &DMatrix<f64>) -> (DMatrix<f64>, usize) {
    let eig = a.clone().symmetric_eigen();
    let top = eig.eigenvalues.iter().cloned().fold(0.0f64, f64::max);
    let mut dropped = 0;
    let inv: DVector<f64> = eig.eigenvalues.map(|l| {
        if top > 0.0 && l > 1e-10 * top {
            1.0 / l
        } else {
            dropped += 1;
            0.0
        }
    });
    let v = &eig.eigenvectors;
    (v * DMatrix::from_diagonal(&inv) * v.transpose(), dropped)
}

/// A loss's weighting matrix and what it was made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// W (m × m).
    pub matrix: DMatrix<f64>,
    /// The samples of the covariance it was computed from.
    pub covariance_samples: usize,
    /// The Hartlap factor the inverse covariance was multiplied by (`inverse` only).
    pub hartlap: Option<f64>,
}

/// The weighting matrix for `cov`, the covariance of the moments: for `inverse`, its
/// pseudo-inverse times the Hartlap factor, and an error in words when it has too few
/// samples for one (the caller names the spec's keys).
pub fn weights(weighting: Weighting, cov: &Covariance) -> Result<Weights, String> {
    let (c, m) = (&cov.matrix, cov.matrix.len());
    let (matrix, hartlap) = match weighting {
        Weighting::Identity => (DMatrix::identity(m, m), None),
        Weighting::Diagonal => {
            (DMatrix::from_fn(m, m, |i, j| if i == j && c[i][i] > 0.0 { 1.0 / c[i][i] } else { 0.0 }), None)
        }
        Weighting::Inverse => {
            let h = hartlap(cov.samples, m).ok_or_else(|| too_few(cov.samples, m))?;
            (pseudo_inverse(&matrix(c)).0 * h, Some(h))
        }
    };
    Ok(Weights { matrix, covariance_samples: cov.samples, hartlap })
}

/// Why a covariance of `samples` samples of `m` moments has no usable inverse.
pub fn too_few(samples: usize, m: usize) -> String {
    format!(
        "the moments' covariance comes from {samples} samples of {m} moments: its inverse needs more than m + 2 = {} (Hartlap's factor (N − m − 2)/(N − 1) would not be positive)",
        m + 2
    )
}

/// The loss g'Wg of the differences `g`.
pub fn loss(g: &[f64], w: &DMatrix<f64>) -> f64 {
    let g = DVector::from_column_slice(g);
    let value = (g.transpose() * w * &g)[(0, 0)];
    if value.is_finite() { value } else { f64::INFINITY }
}

/// One moment's row of the fit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MomentFit {
    /// Its name.
    pub name: String,
    /// The target's value.
    pub target: f64,
    /// The model's at the estimate (mean over the ensemble).
    pub model: f64,
    /// The standard error of target − model: √(c Σᵢᵢ), plus the fit's variance when the
    /// model's moments are a local fit's.
    pub se: f64,
    /// (target − model) / se.
    pub t: f64,
}

/// The J test of over-identifying restrictions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JTest {
    /// h · g'(cΣ + F)⁻¹g, F the fit's covariance (none for an evaluated point).
    pub statistic: f64,
    /// m − rank(G'WG): m − p unless the pseudo-inverse of G'WG dropped directions.
    pub df: usize,
    /// P(χ²_df > statistic).
    pub p_value: f64,
    /// N: the samples Σ was estimated from (runs at the estimate, or bootstrap draws).
    pub covariance_samples: usize,
    /// h = (N − m − 2)/(N − 1), the Hartlap factor of Σ⁻¹.
    pub hartlap: f64,
}

/// The uncertainty of an estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Uncertainty {
    /// Standard errors in the parameters' units (infinite where unidentified).
    pub std_errors: Vec<f64>,
    /// 90% intervals in the parameters' units, within the bounds.
    pub intervals: Vec<(f64, f64)>,
    /// The moment table.
    pub moments: Vec<MomentFit>,
    /// With more moments than parameters.
    pub j_test: Option<JTest>,
    /// What a reader must not miss (unidentified parameters, clipped intervals).
    pub warnings: Vec<String>,
}

/// What the sandwich needs.
pub struct Inputs<'a> {
    /// The free parameters.
    pub free: &'a [Free],
    /// The estimate on the search's unit scale.
    pub unit: &'a [f64],
    /// The moment names.
    pub names: &'a [String],
    /// The target's moments.
    pub target: &'a [f64],
    /// The model's moments at the estimate.
    pub model: &'a [f64],
    /// ∂ model moment i / ∂ unit parameter j (m × p, rows are moments).
    pub jacobian: &'a [Vec<f64>],
    /// Covariance of one sample's moments, and its samples.
    pub sigma: &'a Covariance,
    /// The loss's weighting.
    pub weights: &'a DMatrix<f64>,
    /// The simulation-noise factor c (1 + 1/S).
    pub correction: f64,
    /// The covariance of the model's moments' own error at the estimate when they are a
    /// local fit's (m × m; [`refine`](crate::calibrate::refine)), added to c·Σ wherever
    /// the noise of target − model is meant.
    pub fit_noise: Option<&'a [Vec<f64>]>,
    /// The Jacobian's own covariance when it is a regression's (mp × mp, index
    /// i·p + j; [`Regression::slope_cov`](crate::calibrate::jacobian::Regression)).
    pub jacobian_cov: Option<&'a [Vec<f64>]>,
}

/// Standard errors, 90% intervals, the J test, the moment table and the warnings.
pub fn uncertainty(x: &Inputs<'_>) -> Uncertainty {
    let (m, p) = (x.names.len(), x.free.len());
    let g = matrix(x.jacobian);
    let sigma = matrix(&x.sigma.matrix);
    let w = x.weights;
    let mut warnings = Vec::new();
    // The noise of target − model: the target's and the seeds' (c·Σ), and the fit's.
    let noise = match x.fit_noise {
        Some(f) => &sigma * x.correction + matrix(f),
        None => &sigma * x.correction,
    };
    // A noisy Ĝ makes Ĝ'WĜ too large on average — E[Ĝ'WĜ]ⱼₗ = (G'WG)ⱼₗ +
    // Σᵢᵤ Wᵢᵤ Cov(Ĝᵢⱼ, Ĝᵤₗ) — and so the standard errors too small, the one failure the
    // intervals must not have; that part is taken out. (The meat has a like bias,
    // which would narrow the intervals; it is left, so they err wide.) A direction the
    // noise accounts for wholly drops out of the inverse below, and its parameters are
    // reported as not pinned down.
    let mut bread = g.transpose() * w * &g;
    if let Some(c) = x.jacobian_cov {
        for j in 0..p {
            for l in 0..p {
                let mut bias = 0.0;
                for i in 0..m {
                    for u in 0..m {
                        bias += w[(i, u)] * c[i * p + j][u * p + l];
                    }
                }
                bread[(j, l)] -= bias;
            }
        }
    }
    let (bread_inv, singular) = pseudo_inverse(&bread);
    let meat = g.transpose() * w * &noise * w * &g;
    let v = &bread_inv * meat * &bread_inv;
    // A parameter is unidentified when its Jacobian column is (nearly) flat or lies in
    // the span of the others: then it shares a dropped direction of G'WG.
    let unidentified: Vec<bool> = if singular == 0 {
        vec![false; p]
    } else {
        let eig = bread.clone().symmetric_eigen();
        let top = eig.eigenvalues.iter().cloned().fold(0.0f64, f64::max);
        (0..p)
            .map(|j| {
                eig.eigenvalues
                    .iter()
                    .enumerate()
                    .any(|(k, &l)| !(top > 0.0 && l > 1e-10 * top) && eig.eigenvectors[(j, k)].abs() > 0.1)
            })
            .collect()
    };
    let mut std_errors = Vec::with_capacity(p);
    let mut intervals = Vec::with_capacity(p);
    for (j, f) in x.free.iter().enumerate() {
        let u = x.unit[j];
        let se_u = if unidentified[j] { f64::INFINITY } else { v[(j, j)].max(0.0).sqrt() };
        let (lo, hi) = (u - Z90 * se_u, u + Z90 * se_u);
        let scale = if f.log { f.value(u) * (f.max.ln() - f.min.ln()) } else { f.max - f.min };
        std_errors.push(se_u * scale);
        if !(1e-3..=1.0 - 1e-3).contains(&u) {
            warnings.push(format!(
                "WARNING: {} is estimated at a bound ({}): the best fit may lie beyond [{}, {}], and the sandwich's interval, which assumes an interior minimum, understates the uncertainty",
                f.key,
                f.value(u),
                f.min,
                f.max
            ));
        }
        if unidentified[j] || !se_u.is_finite() {
            warnings.push(format!(
                "WARNING: {} is not identified by these moments (its Jacobian column is flat or collinear with another's): its interval is its bounds [{}, {}], and its estimate means nothing",
                f.key, f.min, f.max
            ));
        } else if hi - lo >= 1.0 {
            warnings.push(format!(
                "WARNING: {}'s 90% interval is wider than its bounds [{}, {}]: the moments barely pin it down; the interval shown is the bounds",
                f.key, f.min, f.max
            ));
        } else if lo < 0.0 || hi > 1.0 {
            warnings.push(format!(
                "note: {}'s 90% interval reaches past a bound and is clipped to [{}, {}]",
                f.key, f.min, f.max
            ));
        }
        // What the warnings say: the whole bounds for a parameter not pinned down.
        let (lo, hi) = if unidentified[j] || !se_u.is_finite() || hi - lo >= 1.0 { (0.0, 1.0) } else { (lo, hi) };
        intervals.push((f.value(lo.max(0.0)), f.value(hi.min(1.0))));
    }
    let moments: Vec<MomentFit> = (0..m)
        .map(|i| {
            let se = noise[(i, i)].max(0.0).sqrt();
            let d = x.target[i] - x.model[i];
            MomentFit { name: x.names[i].clone(), target: x.target[i], model: x.model[i], se, t: d / se }
        })
        .collect();
    // J needs Σ⁻¹, so Σ's samples must number more than m + 2; fewer (failed runs at the
    // estimate) leave the test out with a warning rather than fail the calibration.
    let hartlap_sigma = hartlap(x.sigma.samples, m);
    if m > p && hartlap_sigma.is_none() {
        warnings.push(format!("WARNING: no J test: {}", too_few(x.sigma.samples, m)));
    }
    let j_test = hartlap_sigma.filter(|_| m > p).map(|h| {
        let (noise_inv, _) = pseudo_inverse(&noise);
        let d: Vec<f64> = (0..m).map(|i| x.target[i] - x.model[i]).collect();
        let statistic = h * loss(&d, &noise_inv);
        // The parameters fit rank(G'WG) directions of the moments, not p when some drop.
        let df = m - (p - singular);
        let p_value = ChiSquared::new(df as f64).map_or(f64::NAN, |c| 1.0 - c.cdf(statistic));
        JTest { statistic, df, p_value, covariance_samples: x.sigma.samples, hartlap: h }
    });
    Uncertainty { std_errors, intervals, moments, j_test, warnings }
}

/// The Jacobian's step on the unit scale, and the two points of a central difference
/// at `u` in direction `j` (one-sided where a bound is nearer than the step).
pub const STEP: f64 = 0.05;

/// The points (`plus`, `minus`) of the difference in direction `j`, and their distance.
pub fn difference_points(u: &[f64], j: usize) -> (Vec<f64>, Vec<f64>, f64) {
    let (mut plus, mut minus) = (u.to_vec(), u.to_vec());
    plus[j] = (u[j] + STEP).min(1.0);
    minus[j] = (u[j] - STEP).max(0.0);
    let h = plus[j] - minus[j];
    (plus, minus, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchtower_engine::config::Origin;

    fn free(key: &str) -> Free {
        Free { key: key.into(), min: 0.0, max: 1.0, log: false, origin: Origin { source: "t".into(), line: None } }
    }

    #[test]
    fn a_run_in_another_regime_is_left_out_of_the_covariance_and_named() {
        // 40 runs around 0.1 (±0.01) and one at 0.8 (full unemployment).
        let mut draws: Vec<Vec<f64>> =
            (0..40).map(|i| vec![0.1 + 0.01 * (f64::from(i % 5) - 2.0) / 2.0, f64::from(i % 3)]).collect();
        draws.insert(17, vec![0.8, 1.0]);
        let (cov, out) = regime_covariance(&draws);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].run, out[0].moment, out[0].value), (17, 0, 0.8));
        assert!(out[0].sds > REGIME_SDS);
        assert_eq!(cov.samples, 40);
        assert!(cov.matrix[0][0] < 1e-4, "{:?}", cov.matrix);
        // The usual spread alone is no other regime.
        assert!(other_regime(&draws[..17]).is_empty());
    }

    #[test]
    fn the_sandwich_of_a_linear_model_is_ols() {
        // m(θ) = Aθ with Σ = σ²I and W = I: V = c σ² (A'A)⁻¹, the OLS covariance.
        let a = vec![vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0], vec![1.0, 3.0]];
        let sigma2 = 0.01;
        let sigma = Covariance {
            matrix: (0..4).map(|i| (0..4).map(|j| if i == j { sigma2 } else { 0.0 }).collect()).collect(),
            samples: 28,
        };
        let names: Vec<String> = (0..4).map(|i| format!("m{i}")).collect();
        let theta = [0.4, 0.3];
        let model: Vec<f64> = a.iter().map(|r| r[0] * theta[0] + r[1] * theta[1]).collect();
        let target: Vec<f64> = model.iter().zip([0.1, -0.1, -0.1, 0.1]).map(|(m, e)| m + e).collect();
        let frees = [free("a"), free("b")];
        let run = |w: &DMatrix<f64>, fit: Option<&[Vec<f64>]>| {
            uncertainty(&Inputs {
                free: &frees,
                unit: &theta,
                names: &names,
                target: &target,
                model: &model,
                jacobian: &a,
                sigma: &sigma,
                weights: w,
                correction: 1.25,
                fit_noise: fit,
                jacobian_cov: None,
            })
        };
        let u = run(&weights(Weighting::Identity, &sigma).unwrap().matrix, None);
        // (A'A)⁻¹ = [[7, −3], [−3, 2]] / 10 (A'A = [[4, 6], [6, 14]], det 20).
        let want = [(1.25f64 * sigma2 * 14.0 / 20.0).sqrt(), (1.25f64 * sigma2 * 4.0 / 20.0).sqrt()];
        for (got, want) in u.std_errors.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((u.intervals[1].0 - (0.3 - Z90 * want[1])).abs() < 1e-12);
        // The same with W = h Σ⁻¹ (a multiple of I): the efficient formula gives the same
        // (the sandwich does not depend on W's scale, so neither on Hartlap's factor).
        let w = weights(Weighting::Inverse, &sigma).unwrap().matrix;
        let u2 = run(&w, None);
        for (a, b) in u.std_errors.iter().zip(&u2.std_errors) {
            assert!((a - b).abs() < 1e-12);
        }
        // J = h Σ e² / (σ² c) with 2 degrees of freedom, h = (28 − 4 − 2)/(28 − 1).
        let j = u.j_test.unwrap();
        assert_eq!(j.df, 2);
        assert_eq!((j.covariance_samples, j.hartlap), (28, 22.0 / 27.0));
        assert!((j.statistic - 22.0 / 27.0 * 0.04 / sigma2 / 1.25).abs() < 1e-9);
        assert!((j.p_value - (-j.statistic / 2.0).exp()).abs() < 1e-12, "χ²₂'s tail is e^(−x/2)");
        assert!((u.moments[1].t + 0.1 / (1.25 * sigma2).sqrt()).abs() < 1e-12);
        assert!(u.warnings.is_empty(), "{:?}", u.warnings);
        // With the model's moments a local fit's, of error F = f·I: the noise of
        // target − model is (cσ² + f)I, in the standard errors, the table and J alike.
        let f = 0.003;
        let fit: Vec<Vec<f64>> = (0..4).map(|i| (0..4).map(|j| if i == j { f } else { 0.0 }).collect()).collect();
        let u3 = run(&w, Some(&fit));
        let noise = 1.25 * sigma2 + f;
        let want = [(noise * 14.0 / 20.0).sqrt(), (noise * 4.0 / 20.0).sqrt()];
        for (got, want) in u3.std_errors.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((u3.moments[1].se - noise.sqrt()).abs() < 1e-12);
        assert!((u3.j_test.unwrap().statistic - 22.0 / 27.0 * 0.04 / noise).abs() < 1e-9);
    }

    #[test]
    fn a_noisy_jacobian_widens_the_interval_and_pure_noise_pins_nothing_down() {
        // One parameter, two moments of slope 1 each, Σ = I, W = I: G'WG = 2, V = c/2.
        // Each slope with variance ½ (the regression's noise): Ĝ'WĜ overstates G'WG by
        // ½ + ½ = 1 on average, so the bread is 2 − 1 = 1 and V = c · 1⁻¹ · 2 · 1⁻¹ = 2c.
        let jac = vec![vec![1.0], vec![1.0]];
        let sigma = Covariance { matrix: vec![vec![1.0, 0.0], vec![0.0, 1.0]], samples: 500 };
        let w = weights(Weighting::Identity, &sigma).unwrap().matrix;
        let names = vec!["m0".to_string(), "m1".to_string()];
        let frees = [free("a")];
        let run = |noise: f64| {
            let cov = vec![vec![noise, 0.0], vec![0.0, noise]];
            uncertainty(&Inputs {
                free: &frees,
                unit: &[0.5],
                names: &names,
                target: &[0.0, 0.0],
                model: &[0.0, 0.0],
                jacobian: &jac,
                sigma: &sigma,
                weights: &w,
                correction: 1.25,
                fit_noise: None,
                jacobian_cov: Some(&cov),
            })
        };
        let quiet = run(0.0);
        assert!((quiet.std_errors[0] - (1.25f64 / 2.0).sqrt()).abs() < 1e-12);
        let noisy = run(0.5);
        assert!((noisy.std_errors[0] - (1.25f64 * 2.0).sqrt()).abs() < 1e-12, "{:?}", noisy.std_errors);
        // Slopes whose noise is all there is: not identified, the bounds, a warning.
        let lost = run(1.0);
        assert!(lost.std_errors[0].is_infinite() && lost.intervals[0] == (0.0, 1.0), "{:?}", lost.std_errors);
        assert!(lost.warnings.iter().any(|w| w.contains("not identified")), "{:?}", lost.warnings);
    }

    #[test]
    fn a_parameter_the_moments_ignore_gets_its_bounds_and_a_warning() {
        let jac = vec![vec![1.0, 0.0], vec![2.0, 0.0]];
        let sigma = Covariance { matrix: vec![vec![0.01, 0.0], vec![0.0, 0.01]], samples: 500 };
        let w = weights(Weighting::Inverse, &sigma).unwrap().matrix;
        let names = vec!["m0".to_string(), "m1".to_string()];
        let frees = [free("a"), free("flat")];
        let u = uncertainty(&Inputs {
            free: &frees,
            unit: &[0.5, 0.7],
            names: &names,
            target: &[0.5, 1.0],
            model: &[0.5, 1.0],
            jacobian: &jac,
            sigma: &sigma,
            weights: &w,
            correction: 1.25,
            fit_noise: None,
            jacobian_cov: None,
        });
        assert!(u.std_errors[0].is_finite());
        assert_eq!(u.std_errors[1], f64::INFINITY);
        assert_eq!(u.intervals[1], (0.0, 1.0));
        assert!(u.warnings.iter().any(|w| w.starts_with("WARNING: flat is not identified")), "{:?}", u.warnings);
        // A weak but non-zero column: an interval wider than the bounds, and a warning.
        let jac = vec![vec![1.0, 0.01], vec![2.0, -0.01]];
        let u = uncertainty(&Inputs {
            free: &frees,
            unit: &[0.5, 0.7],
            names: &names,
            target: &[0.5, 1.0],
            model: &[0.5, 1.0],
            jacobian: &jac,
            sigma: &sigma,
            weights: &w,
            correction: 1.25,
            fit_noise: None,
            jacobian_cov: None,
        });
        assert_eq!(u.intervals[1], (0.0, 1.0));
        assert!(u.warnings.iter().any(|w| w.contains("wider than its bounds")), "{:?}", u.warnings);
        // An estimate at a bound is flagged: the sandwich assumes an interior minimum.
        let u = uncertainty(&Inputs {
            free: &frees,
            unit: &[0.0, 0.7],
            names: &names,
            target: &[0.5, 1.0],
            model: &[0.5, 1.0],
            jacobian: &jac,
            sigma: &sigma,
            weights: &w,
            correction: 1.25,
            fit_noise: None,
            jacobian_cov: None,
        });
        assert!(u.warnings.iter().any(|w| w.starts_with("WARNING: a is estimated at a bound")), "{:?}", u.warnings);
    }

    #[test]
    fn a_dropped_direction_is_not_a_degree_of_freedom_fitted() {
        // Three moments, two parameters, the second moving none of them: G'WG has rank 1,
        // so J has 3 − 1 = 2 degrees of freedom, not 3 − 2 = 1.
        let jac = vec![vec![1.0, 0.0], vec![2.0, 0.0], vec![0.5, 0.0]];
        let sigma = Covariance {
            matrix: (0..3).map(|i| (0..3).map(|j| if i == j { 0.01 } else { 0.0 }).collect()).collect(),
            samples: 20,
        };
        let w = weights(Weighting::Inverse, &sigma).unwrap().matrix;
        let names: Vec<String> = (0..3).map(|i| format!("m{i}")).collect();
        let frees = [free("a"), free("flat")];
        let inputs = Inputs {
            free: &frees,
            unit: &[0.5, 0.7],
            names: &names,
            target: &[0.6, 1.0, 0.2],
            model: &[0.5, 1.0, 0.25],
            jacobian: &jac,
            sigma: &sigma,
            weights: &w,
            correction: 1.25,
            fit_noise: None,
            jacobian_cov: None,
        };
        let j = uncertainty(&inputs).j_test.unwrap();
        assert_eq!(j.df, 2);
        // h = (20 − 3 − 2)/19; J = h (0.1² + 0.05²)/0.01/c.
        assert!((j.statistic - 15.0 / 19.0 * 1.25 / 1.25).abs() < 1e-12, "{}", j.statistic);
        // Σ from 5 runs of 3 moments has no usable inverse: no J test, and a warning.
        let few = Covariance { samples: 5, ..sigma.clone() };
        let u = uncertainty(&Inputs { sigma: &few, ..inputs });
        assert!(u.j_test.is_none());
        assert!(u.warnings.iter().any(|w| w.starts_with("WARNING: no J test") && w.contains("5 samples of 3 moments")));
    }

    #[test]
    fn covariance_and_weights() {
        let cov = covariance(&[vec![1.0, 2.0], vec![3.0, 2.0], vec![2.0, 5.0], vec![f64::NAN, 1.0]]);
        assert_eq!(cov.matrix[0][0], 1.0);
        assert_eq!(cov.matrix[1][1], 3.0);
        assert_eq!(cov.matrix[0][1], 0.0);
        assert_eq!(cov.samples, 3, "a draw that is not a number is no sample");
        let w = weights(Weighting::Diagonal, &cov).unwrap();
        assert_eq!((w.covariance_samples, w.hartlap), (3, None));
        let w = w.matrix;
        assert_eq!((w[(0, 0)], w[(1, 1)], w[(0, 1)]), (1.0, 1.0 / 3.0, 0.0));
        assert_eq!(loss(&[1.0, 3.0], &w), 4.0);
        // Inverse: h Σ⁻¹, refused with N ≤ m + 2.
        let e = weights(Weighting::Inverse, &cov).unwrap_err();
        assert!(e.contains("3 samples of 2 moments") && e.contains("more than m + 2 = 4"), "{e}");
        let cov = Covariance { samples: 11, ..cov };
        let w = weights(Weighting::Inverse, &cov).unwrap();
        assert_eq!(w.hartlap, Some(7.0 / 10.0));
        assert!((w.matrix[(0, 0)] - 0.7).abs() < 1e-15 && (w.matrix[(1, 1)] - 0.7 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn hartlaps_factor() {
        assert_eq!(hartlap(28, 7), Some(19.0 / 27.0));
        assert_eq!(hartlap(500, 6), Some(492.0 / 499.0));
        assert_eq!(hartlap(9, 7), None, "N = m + 2");
        assert_eq!(hartlap(10, 7), Some(1.0 / 9.0));
        assert_eq!(hartlap(0, 0), None);
    }
}
