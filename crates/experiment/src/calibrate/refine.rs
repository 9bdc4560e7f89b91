//! The estimate as the minimum of the moments' local linear fit, not the best point the
//! search happened to evaluate.
//!
//! Every point's moments are a mean over the same few seeds, and in an economy with
//! crises that mean is a rough surface: a small move of the parameters sends one seed
//! through another crisis and the loss jumps. The search keeps the best of ~100 points
//! on such a surface, and the best of many noisy values is the one whose noise happened
//! to fit the target — a selection the sandwich knows nothing of.
//!
//! So the estimate is found on the local linear regression of the moments on the
//! parameters ([`jacobian::regression`], the 60–100 evaluations within ±15% of each range
//! of it), which averages the roughness out: Gauss–Newton steps
//! θ ← θ + (G'WG)⁺ G'W (target − m̂(θ)), each on the regression centred at the point it
//! starts from and at most the box's half side along each parameter, halved until the
//! fit where it lands exists and has a smaller loss (a descent that cannot cycle), until
//! a step moves less than 10⁻⁶ of every range or none descends (at most [`STEPS`]). The
//! fit's own error at the estimate (the regression intercept's covariance, from its
//! residuals) then joins the target's and the seeds' noise in the sandwich, so a rough
//! surface widens the interval instead of moving the estimate unnoticed. The recoveries
//! in docs/CALIBRATION.md ("Recovery") measure what it changed.

use nalgebra::{DMatrix, DVector};

use crate::calibrate::estimate::pseudo_inverse;
use crate::calibrate::jacobian::{self, RADIUS, Regression};
use crate::calibrate::search::Evaluation;

/// Gauss–Newton steps at most.
pub const STEPS: usize = 20;

/// Halvings of a step that leaves the points behind.
pub const HALVINGS: usize = 8;

/// The refined estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Refined {
    /// On the unit cube.
    pub unit: Vec<f64>,
    /// The steps taken.
    pub steps: usize,
    /// Whether the steps stopped at a minimum of the fit (a step moved less than 10⁻⁶,
    /// or no halving of the step descended while the full step could still be fitted):
    /// `false` when the fit's minimum may lie beyond the evaluated points or the steps
    /// ran out, so `unit` is where the refinement stopped, not a minimum.
    pub converged: bool,
    /// The regression centred at `unit`.
    pub fit: Regression,
}

/// The minimum of the local fit of the moments, starting from the search's best point
/// `start`, or `None` when no regression can be fitted there (too few points near it,
/// or too little spread): then the best point stays the estimate.
pub fn refine(all: &[Evaluation], start: &[f64], target: &[f64], w: &DMatrix<f64>) -> Option<Refined> {
    let mut at = start.to_vec();
    let mut fit = jacobian::regression(all, &at)?;
    let mut loss = fit_loss(&fit, target, w);
    for steps in 1..=STEPS {
        let step = gauss_newton(&fit, target, w);
        // A step is taken only if the fit centred where it lands has a smaller loss
        // there (so the steps descend the smoothed surface and cannot cycle, as they did
        // in three dimensions when every step was taken), and only where a fit can be
        // made (the search may have left that side unexplored); otherwise it is halved,
        // at most `HALVINGS` times. Each coordinate is capped at the box's half side (a
        // box-shaped trust region: the fit means nothing beyond its points).
        // Whether the full step lands where a fit can be made (learnt on the first try).
        let mut full_fits = false;
        let found = (0..=HALVINGS as i32).find_map(|halvings| {
            let next = landing(&at, &step, 0.5f64.powi(halvings));
            let there = jacobian::regression(all, &next)?;
            full_fits |= halvings == 0;
            let l = fit_loss(&there, target, w);
            (l < loss).then_some((next, there, l))
        });
        let Some((next, there, l)) = found else {
            // No step descends: a minimum of the fit to the steps' resolution — unless the
            // full step left the points, when the minimum may lie beyond them.
            return Some(Refined { unit: at, steps: steps - 1, converged: full_fits, fit });
        };
        let moved = next.iter().zip(&at).map(|(n, a)| (n - a).abs()).fold(0.0, f64::max);
        (at, fit, loss) = (next, there, l);
        if moved < 1e-6 {
            return Some(Refined { unit: at, steps, converged: true, fit });
        }
    }
    Some(Refined { unit: at, steps: STEPS, converged: false, fit })
}

/// Where a step lands at `scale` of its length, each coordinate of the step capped at
/// the box's half side and the point kept on the unit cube.
fn landing(at: &[f64], step: &[f64], scale: f64) -> Vec<f64> {
    at.iter().zip(step).map(|(a, d)| (a + scale * d.clamp(-RADIUS, RADIUS)).clamp(0.0, 1.0)).collect()
}

/// The fit's loss at its centre: g'Wg with g = target − the fitted moments.
pub fn fit_loss(fit: &Regression, target: &[f64], w: &DMatrix<f64>) -> f64 {
    let g: Vec<f64> = target.iter().zip(&fit.intercept).map(|(t, m)| t - m).collect();
    crate::calibrate::estimate::loss(&g, w)
}

/// δ = (G'WG)⁺ G'W (target − m̂): the step to the minimum of the fit's loss.
fn gauss_newton(fit: &Regression, target: &[f64], w: &DMatrix<f64>) -> Vec<f64> {
    let m = target.len();
    let p = fit.jacobian.first().map_or(0, Vec::len);
    let g = DMatrix::from_fn(m, p, |i, j| fit.jacobian[i][j]);
    let d = DVector::from_fn(m, |i, _| target[i] - fit.intercept[i]);
    let (inv, _) = pseudo_inverse(&(g.transpose() * w * &g));
    let step = inv * g.transpose() * w * d;
    step.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::search::Kind;

    /// A grid of points around (0.5, 0.5) whose moments are a linear map plus a
    /// deterministic "roughness" that is worst at one grid point.
    fn grid(rough: f64) -> Vec<Evaluation> {
        let mut all = Vec::new();
        for i in 0..7 {
            for j in 0..7 {
                let u = vec![0.35 + 0.05 * f64::from(i), 0.35 + 0.05 * f64::from(j)];
                let bump = if (i, j) == (4, 2) { -rough } else { rough * f64::from((i * 3 + j * 5) % 7) / 7.0 };
                let m = vec![u[0] + u[1] + bump, u[0] - u[1] + bump, 2.0 * u[1] + bump];
                all.push(Evaluation {
                    index: all.len() as u64,
                    kind: Kind::Search,
                    unit: u,
                    seeds: vec![1],
                    per_seed: vec![m],
                    loss: 0.0,
                });
            }
        }
        all
    }

    #[test]
    fn a_linear_map_is_solved_exactly_from_any_nearby_start() {
        // Target: the map's value at (0.47, 0.52); start at a grid point off it.
        let all = grid(0.0);
        let truth = [0.47, 0.52];
        let target = [truth[0] + truth[1], truth[0] - truth[1], 2.0 * truth[1]];
        for start in [[0.55, 0.45], [0.4, 0.6], [0.5, 0.5]] {
            let r = refine(&all, &start, &target, &DMatrix::identity(3, 3)).expect("a fit");
            assert!(r.converged && r.unit.iter().zip(truth).all(|(u, t)| (u - t).abs() < 1e-9), "{:?}", r.unit);
            assert!(r.steps <= 3, "{} steps", r.steps);
        }
        let r = refine(&all, &[0.55, 0.45], &target, &DMatrix::identity(3, 3)).expect("a fit");
        assert!(r.fit.intercept_cov.iter().flatten().all(|v| v.abs() < 1e-20));
    }

    #[test]
    fn the_estimate_is_not_pulled_to_the_luckiest_point_and_the_fit_error_is_reported() {
        // Rough moments, and one point, (0.55, 0.45), whose moments are the target's by
        // luck: its loss is 0, the least of all, and the search would keep it. The
        // refinement starts there and goes to the map's minimum near the truth; the
        // roughness shows as the intercept's variance.
        let rough = 0.02;
        let mut all = grid(rough);
        let truth = [0.47, 0.52];
        let mean_bump = rough * 3.0 / 7.0;
        let target = vec![truth[0] + truth[1] + mean_bump, truth[0] - truth[1] + mean_bump, 2.0 * truth[1] + mean_bump];
        let lucky = all.iter_mut().find(|e| (e.unit[0] - 0.55).abs() < 1e-9 && (e.unit[1] - 0.45).abs() < 1e-9);
        lucky.expect("a grid point").per_seed = vec![target.clone()];
        let r = refine(&all, &[0.55, 0.45], &target, &DMatrix::identity(3, 3)).expect("a fit");
        assert!(r.converged);
        assert!(r.unit.iter().zip(truth).all(|(u, t)| (u - t).abs() < 0.01), "{:?}", r.unit);
        let var = r.fit.intercept_cov[0][0];
        assert!(var > 0.0 && var.sqrt() < rough, "{var}");
    }

    #[test]
    fn a_step_past_the_evaluated_points_is_halved_not_abandoned() {
        // The map's minimum lies at u₀ = 0.95, beyond the points (u₀ ≤ 0.65): the first
        // full step lands where no fit can be made; a halved one moves towards it.
        let all = grid(0.0);
        let truth = [0.95, 0.5];
        let target = [truth[0] + truth[1], truth[0] - truth[1], 2.0 * truth[1]];
        assert!(jacobian::regression(&all, &[0.75, 0.5]).is_none(), "the full step must leave the points");
        let r = refine(&all, &[0.6, 0.5], &target, &DMatrix::identity(3, 3)).expect("a fit");
        assert!(r.steps >= 1 && r.unit[0] > 0.6 && (r.unit[1] - 0.5).abs() < 1e-9, "{r:?}");
        // It never reaches 0.95: it says it stopped short.
        assert!(!r.converged && r.unit[0] < 0.9, "{r:?}");
    }

    #[test]
    fn no_points_near_the_start_leaves_the_best_point() {
        let all = grid(0.0);
        assert!(refine(&all, &[0.0, 1.0], &[0.0; 3], &DMatrix::identity(3, 3)).is_none());
    }
}
