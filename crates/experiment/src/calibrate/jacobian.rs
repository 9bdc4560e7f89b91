//! The Jacobian G = ∂m/∂θ of the model's moments at the estimate, which the sandwich
//! and the J test's degrees of freedom rest on.
//!
//! Central differences at ±5% of each range on the ensemble's seeds are cheap (2p
//! evaluations), but in an economy with crises a 5% step moves the moments less than the
//! seeds do, even on common random numbers: measured on the two-parameter recovery at the
//! issue's size (500 firms, 5,000 households, 4 seeds), the differences gave an
//! unemployment-mean slope in R of +19 standard deviations (of one run) per range, where
//! a regression on the search's points nearby gave −0.9 and 54 runs at R = 2, 2.5 and 3
//! about +2: a slope that size is noise. A noisy G overstates G'Σ⁻¹G and so understates the standard
//! errors: intervals too narrow, the one failure the issue forbids.
//!
//! So G is the slope of a **local linear regression** of the model's moments (the
//! ensemble means, all on the same seeds) on the parameters, over every search and
//! difference point within ±`RADIUS` of the range around the estimate — the Gaussian
//! process and Nelder–Mead put most of the budget there, so this costs no simulation.
//! Where too few points are near, or they spread too little along a parameter for a
//! slope more precise than the central difference's, the differences are used, and the
//! report says which.

use nalgebra::{DMatrix, DVector};

use crate::calibrate::estimate::{STEP, other_regime};
use crate::calibrate::search::{Evaluation, Kind};

/// Half the side of the box around the estimate, as a share of each parameter's range.
pub const RADIUS: f64 = 0.15;

/// How G was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A local linear regression.
    Regression {
        /// The evaluations it was fitted on.
        points: usize,
        /// The evaluations in the box left out, a seed of theirs in another regime.
        other_regime: usize,
    },
    /// Central differences (too few evaluations near the estimate, or too little spread).
    Differences,
}

impl Source {
    /// For the report's `method`.
    pub fn describe(&self) -> String {
        match self {
            Source::Regression { points, other_regime } => format!(
                "Jacobian by a local linear regression on the {points} evaluations within ±{:.0}% of each range of the estimate ({other_regime} left out, a seed of theirs in another regime)",
                RADIUS * 100.0
            ),
            Source::Differences => {
                "Jacobian by central differences at the best point searched (too few evaluations near the estimate for a regression)".to_string()
            }
        }
    }
}

/// The regression's G (m × p, ∂ moment i / ∂ unit parameter j) at `at` from the search
/// and difference points in `all` that lie within the box, or `None` when fewer than
/// 4(p + 1) lie there or a slope would be noisier than the central difference's: with
/// the same noise σ in every evaluation's moments, slope j's variance is
/// σ²·[(X'KX)⁻¹X'K²X(X'KX)⁻¹]ⱼⱼ (K the points' tricube weights) against the
/// difference's 2σ²/h², h the step between its two points.
///
/// A point one of whose seeds ended in another regime (a moment more than
/// [`REGIME_SDS`](crate::calibrate::estimate::REGIME_SDS) robust standard deviations from
/// the median over every seed of the points in the box) is left out: its mean moments
/// are a mixture's, and one such point among 80 made unemployment's slope in R 30
/// standard deviations per range.
pub fn regression(all: &[Evaluation], at: &[f64]) -> Option<Regression> {
    let p = at.len();
    let boxed: Vec<&Evaluation> = all
        .iter()
        .filter(|e| matches!(e.kind, Kind::Search | Kind::Jacobian))
        .filter(|e| e.unit.iter().zip(at).all(|(u, a)| (u - a).abs() <= RADIUS))
        .filter(|e| e.per_seed.iter().flatten().all(|v| v.is_finite()))
        .collect();
    let owners: Vec<usize> =
        boxed.iter().enumerate().flat_map(|(k, e)| std::iter::repeat_n(k, e.per_seed.len())).collect();
    let draws: Vec<Vec<f64>> = boxed.iter().flat_map(|e| e.per_seed.iter().cloned()).collect();
    let mut dropped: Vec<usize> = other_regime(&draws).iter().map(|o| owners[o.run]).collect();
    dropped.dedup();
    // Tricube weights in the box's own distance (the largest offset over the range's
    // share): 1 at the centre, falling smoothly to 0 at the box's edge, so a point's
    // part in the fit grows and fades smoothly as the centre moves instead of jumping
    // as it enters the box (the gates below and the regime filter still decide in
    // steps). A point on the edge weighs nothing and is not counted.
    let weight = |d: &[f64]| {
        let r = d.iter().map(|v| v.abs() / RADIUS).fold(0.0, f64::max).min(1.0);
        (1.0 - r * r * r).powi(3)
    };
    let near: Vec<(Vec<f64>, Vec<f64>, f64)> = boxed
        .iter()
        .enumerate()
        .filter(|(k, _)| !dropped.contains(k))
        .map(|(_, e)| {
            let d: Vec<f64> = e.unit.iter().zip(at).map(|(u, a)| u - a).collect();
            let k = weight(&d);
            (d, e.moments(), k)
        })
        .filter(|(_, _, k)| *k > 0.0)
        .collect();
    let n = near.len();
    // Enough points, counted as the weights count them: (Σk)²/Σk², about half of n for
    // points spread evenly over the box.
    let (sum, squares) = near.iter().fold((0.0, 0.0), |(a, b), (_, _, k)| (a + k, b + k * k));
    if n < 4 * (p + 1) || sum * sum / squares < (4 * (p + 1)) as f64 {
        return None;
    }
    let k: Vec<f64> = near.iter().map(|(_, _, k)| *k).collect();
    let x = DMatrix::from_fn(n, p + 1, |i, j| if j == 0 { 1.0 } else { near[i].0[j - 1] });
    let xk = DMatrix::from_fn(n, p + 1, |i, j| x[(i, j)] * k[i]);
    // β = (X'KX)⁻¹X'Ky; with the same noise σ² in every point, Var β = σ²·A X'K²X A,
    // A = (X'KX)⁻¹.
    let a = (x.transpose() * &xk).try_inverse()?;
    let precision = &a * (xk.transpose() * &xk) * &a;
    let h = 2.0 * STEP;
    if (1..=p).any(|j| precision[(j, j)].is_nan() || precision[(j, j)] > 2.0 / (h * h)) {
        return None;
    }
    // Each point's influence on the fit: β = Σᵢ cᵢ yᵢ with cᵢ the column i of A X'K.
    let influence = &a * xk.transpose();
    let m = near[0].1.len();
    let mut g = vec![vec![0.0; p]; m];
    let mut intercept = vec![0.0; m];
    // Each evaluation's residual from the fit, moment by moment (n × m).
    let mut residuals = DMatrix::zeros(n, m);
    for (i, row) in g.iter_mut().enumerate() {
        let y = DVector::from_fn(n, |r, _| near[r].1[i]);
        let beta = &influence * &y;
        if beta.iter().any(|v| !v.is_finite()) {
            return None;
        }
        intercept[i] = beta[0];
        for j in 0..p {
            row[j] = beta[j + 1];
        }
        residuals.set_column(i, &(&y - &x * &beta));
    }
    // The fit's value at `at` is the intercept Σᵢ c₀ᵢ yᵢ; its covariance, robust to
    // noise that differs from point to point and to the pull of the heavily weighted
    // points near the centre (HC3, MacKinnon & White 1985): Σᵢ c₀ᵢ² eᵢeᵢ' / (1 − hᵢ)²,
    // hᵢ = kᵢ xᵢ'(X'KX)⁻¹xᵢ the point's leverage.
    // The slopes' covariance the same way: Cov(G[i][j], G[u][l]) = Σᵣ c_jr c_lr e_ri e_ru
    // / (1 − hᵣ)², indexed (i·p + j, u·p + l).
    let mut cov = vec![vec![0.0; m]; m];
    let mut slope_cov = vec![vec![0.0; m * p]; m * p];
    for r in 0..n {
        let leverage = k[r] * (x.row(r) * &a * x.row(r).transpose())[(0, 0)];
        if leverage.is_nan() || leverage >= 1.0 - 1e-9 {
            return None;
        }
        let scale = 1.0 / ((1.0 - leverage) * (1.0 - leverage));
        let c2 = influence[(0, r)] * influence[(0, r)] * scale;
        for (u, row) in cov.iter_mut().enumerate() {
            for (v, cell) in row.iter_mut().enumerate() {
                *cell += c2 * residuals[(r, u)] * residuals[(r, v)];
            }
        }
        for (ij, row) in slope_cov.iter_mut().enumerate() {
            let (i, j) = (ij / p, ij % p);
            let left = influence[(j + 1, r)] * residuals[(r, i)] * scale;
            for (ul, cell) in row.iter_mut().enumerate() {
                let (u, l) = (ul / p, ul % p);
                *cell += left * influence[(l + 1, r)] * residuals[(r, u)];
            }
        }
    }
    Some(Regression { jacobian: g, intercept, intercept_cov: cov, slope_cov, points: n, other_regime: dropped.len() })
}

/// A regression's Jacobian.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// ∂ moment i / ∂ unit parameter j (m × p).
    pub jacobian: Vec<Vec<f64>>,
    /// The fitted moments at the point asked for (on the ensemble's seeds).
    pub intercept: Vec<f64>,
    /// Their covariance from the residuals (m × m): how far the fit's own error may
    /// move them, the surface's roughness between nearby points included.
    pub intercept_cov: Vec<Vec<f64>>,
    /// The slopes' covariance from the residuals (mp × mp, index i·p + j for
    /// ∂ moment i / ∂ parameter j): how noisy the Jacobian itself is.
    pub slope_cov: Vec<Vec<f64>>,
    /// The evaluations it was fitted on.
    pub points: usize,
    /// The evaluations in the box left out, a seed of theirs in another regime.
    pub other_regime: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(kind: Kind, unit: Vec<f64>, moments: Vec<f64>) -> Evaluation {
        Evaluation { index: 0, kind, unit, seeds: vec![1], per_seed: vec![moments], loss: 0.0 }
    }

    #[test]
    fn a_linear_moment_map_gives_its_slopes_and_far_points_are_ignored() {
        // m(u) = (2u₀ − u₁, 3u₁) near (0.5, 0.5); a far point on another line is left out.
        let mut all = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                let u = vec![0.4 + 0.05 * f64::from(i), 0.4 + 0.05 * f64::from(j)];
                all.push(eval(Kind::Search, u.clone(), vec![2.0 * u[0] - u[1], 3.0 * u[1]]));
            }
        }
        all.push(eval(Kind::Search, vec![0.95, 0.05], vec![100.0, -100.0]));
        all.push(eval(Kind::Target, vec![0.5, 0.5], vec![7.0, 7.0]));
        let r = regression(&all, &[0.5, 0.5]).expect("enough points");
        assert_eq!((r.points, r.other_regime), (25, 0));
        for (got, want) in r.jacobian.iter().flatten().zip([2.0, -1.0, 0.0, 3.0]) {
            assert!((got - want).abs() < 1e-9, "{:?}", r.jacobian);
        }
    }

    #[test]
    fn a_point_with_a_seed_in_another_regime_is_left_out_of_the_regression() {
        // m(u) = 2u₀ + u₁ on two seeds (±0.001 around it); one point's second seed
        // collapsed (its moment 50).
        let mut all = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                let u = vec![0.4 + 0.05 * f64::from(i), 0.4 + 0.05 * f64::from(j)];
                let m = 2.0 * u[0] + u[1];
                let second = if (i, j) == (2, 3) { 50.0 } else { m - 0.001 * f64::from((i + j) % 3) };
                all.push(Evaluation {
                    index: 0,
                    kind: Kind::Search,
                    unit: u,
                    seeds: vec![1, 2],
                    per_seed: vec![vec![m + 0.001 * f64::from((i + j) % 3)], vec![second]],
                    loss: 0.0,
                });
            }
        }
        let r = regression(&all, &[0.5, 0.5]).expect("enough points");
        assert_eq!((r.points, r.other_regime), (24, 1));
        assert!((r.jacobian[0][0] - 2.0).abs() < 1e-6 && (r.jacobian[0][1] - 1.0).abs() < 1e-6, "{:?}", r.jacobian);
    }

    #[test]
    fn the_intercepts_covariance_is_hc3_of_the_weighted_fit() {
        // One moment on one parameter, 13 points around 0.5 with noise: the intercept and
        // its variance computed the long way — weights, the weighted normal equations,
        // the hat matrix's diagonal — against the regression's.
        let us: Vec<f64> = (0..13).map(|i| 0.5 + 0.02 * (f64::from(i) - 6.0)).collect();
        let noise = [0.3, -0.1, 0.2, -0.4, 0.0, 0.1, -0.2, 0.5, -0.3, 0.1, 0.2, -0.1, 0.0];
        let ys: Vec<f64> = us.iter().zip(noise).map(|(u, e)| 1.0 + 2.0 * u + 0.01 * e).collect();
        let all: Vec<Evaluation> = us.iter().zip(&ys).map(|(u, y)| eval(Kind::Search, vec![*u], vec![*y])).collect();
        let r = regression(&all, &[0.5]).expect("enough points");
        let d: Vec<f64> = us.iter().map(|u| u - 0.5).collect();
        let k: Vec<f64> = d.iter().map(|d| (1.0 - (d.abs() / RADIUS).powi(3)).powi(3)).collect();
        let (s0, s1, s2) =
            (0..13).fold((0.0, 0.0, 0.0), |(a, b, c), i| (a + k[i], b + k[i] * d[i], c + k[i] * d[i] * d[i]));
        let det = s0 * s2 - s1 * s1;
        let (t0, t1) = (0..13).fold((0.0, 0.0), |(a, b), i| (a + k[i] * ys[i], b + k[i] * d[i] * ys[i]));
        let (b0, b1) = ((s2 * t0 - s1 * t1) / det, (s0 * t1 - s1 * t0) / det);
        let mut var = 0.0;
        for i in 0..13 {
            // c₀ᵢ = kᵢ (s₂ − s₁dᵢ)/det; hᵢ = kᵢ (s₂ − 2s₁dᵢ + s₀dᵢ²)/det.
            let c = k[i] * (s2 - s1 * d[i]) / det;
            let h = k[i] * (s2 - 2.0 * s1 * d[i] + s0 * d[i] * d[i]) / det;
            let e = ys[i] - b0 - b1 * d[i];
            var += c * c * e * e / ((1.0 - h) * (1.0 - h));
        }
        assert!((r.intercept[0] - b0).abs() < 1e-12 && (r.jacobian[0][0] - b1).abs() < 1e-9, "{r:?}");
        assert!(
            (r.intercept_cov[0][0] - var).abs() < 1e-12 * var.max(1e-12) * 1e3,
            "{} vs {var}",
            r.intercept_cov[0][0]
        );
        assert!(var > 0.0);
    }

    #[test]
    fn too_few_points_or_no_spread_along_a_parameter_gives_none() {
        let few: Vec<Evaluation> =
            (0..7).map(|i| eval(Kind::Search, vec![0.5, 0.4 + 0.03 * f64::from(i)], vec![1.0])).collect();
        assert!(regression(&few, &[0.5, 0.5]).is_none());
        // Twelve points, all on one line in u₀: u₁'s slope would rest on nothing.
        let line: Vec<Evaluation> =
            (0..12).map(|i| eval(Kind::Search, vec![0.4 + 0.02 * f64::from(i), 0.5], vec![1.0])).collect();
        assert!(regression(&line, &[0.5, 0.5]).is_none());
        // Twelve points spread along u₀ but within ±0.001 in u₁: a slope in u₁ noisier
        // than a difference over ±5%.
        let thin: Vec<Evaluation> = (0..12)
            .map(|i| {
                eval(Kind::Search, vec![0.4 + 0.02 * f64::from(i), 0.5 + 0.001 * f64::from(i % 3) - 0.001], vec![1.0])
            })
            .collect();
        assert!(regression(&thin, &[0.5, 0.5]).is_none());
        // Crowded near the estimate but spread enough along both: the regression.
        let crowd: Vec<Evaluation> = (0..40)
            .map(|i| {
                let (a, b) = (f64::from(i % 7) - 3.0, f64::from(i % 5) - 2.0);
                eval(Kind::Search, vec![0.5 + 0.01 * a, 0.5 + 0.012 * b], vec![a + b])
            })
            .collect();
        assert!(regression(&crowd, &[0.5, 0.5]).is_some());
    }
}
