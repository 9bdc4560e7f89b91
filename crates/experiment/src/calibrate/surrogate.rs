//! The search's surrogate: a Gaussian process over the unit cube fitted to the log
//! losses seen so far, and the expected improvement of a candidate.
//!
//! Kriging with a constant mean and an isotropic squared-exponential kernel; its length
//! scale and nugget are picked from a fixed grid by the profile likelihood (the process
//! variance in closed form), so the fit is a pure function of the points: no random
//! restarts, no thread pool, the same bits for any `--jobs`. egobox-gp was considered
//! first: its hyper-parameter search draws from the operating system's entropy with one
//! start and reduces multistarts on rayon's global pool, and it brings the linfa and
//! ndarray stack for a 2–10 dimensional fit on a few hundred points.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

/// The length scales tried (on the unit cube).
const LENGTHS: [f64; 7] = [0.05, 0.08, 0.12, 0.18, 0.27, 0.4, 0.6];
/// The nuggets tried, as a share of the process variance (the loss is noisy).
const NUGGETS: [f64; 4] = [1e-6, 1e-3, 1e-2, 0.1];

/// A fitted Gaussian process.
#[derive(Debug, Clone)]
pub struct Gp {
    x: Vec<Vec<f64>>,
    mean: f64,
    variance: f64,
    length: f64,
    nugget: f64,
    chol: nalgebra::Cholesky<f64, nalgebra::Dyn>,
    alpha: DVector<f64>,
}

fn kernel(a: &[f64], b: &[f64], length: f64) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (-0.5 * d2 / (length * length)).exp()
}

impl Gp {
    /// Fits points `x` (in the unit cube) and values `y`; `None` with fewer than 2 points
    /// or no positive-definite fit.
    pub fn fit(x: &[Vec<f64>], y: &[f64]) -> Option<Gp> {
        let n = x.len();
        if n < 2 {
            return None;
        }
        let mean = y.iter().sum::<f64>() / n as f64;
        let r = DVector::from_iterator(n, y.iter().map(|v| v - mean));
        let mut best: Option<(f64, Gp)> = None;
        for &length in &LENGTHS {
            let k = DMatrix::from_fn(n, n, |i, j| kernel(&x[i], &x[j], length));
            for &nugget in &NUGGETS {
                let mut kn = k.clone();
                for i in 0..n {
                    kn[(i, i)] += nugget;
                }
                let Some(chol) = kn.cholesky() else { continue };
                let alpha = chol.solve(&r);
                let variance = (r.dot(&alpha) / n as f64).max(1e-300);
                let log_det: f64 = chol.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum();
                // The profile log likelihood, up to a constant.
                let ll = -0.5 * (n as f64 * variance.ln() + log_det);
                if ll.is_finite() && best.as_ref().is_none_or(|(b, _)| ll > *b) {
                    best = Some((ll, Gp { x: x.to_vec(), mean, variance, length, nugget, chol, alpha }));
                }
            }
        }
        best.map(|(_, gp)| gp)
    }

    /// The predicted mean and standard deviation at `p`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let k = DVector::from_iterator(self.x.len(), self.x.iter().map(|xi| kernel(xi, p, self.length)));
        let mu = self.mean + k.dot(&self.alpha);
        let v = self.chol.solve(&k);
        let var = self.variance * (1.0 + self.nugget - k.dot(&v)).max(0.0);
        (mu, var.sqrt())
    }

    /// The expected improvement on `best` (minimising) at `p`.
    pub fn expected_improvement(&self, p: &[f64], best: f64) -> f64 {
        let (mu, s) = self.predict(p);
        if s <= 0.0 {
            return (best - mu).max(0.0);
        }
        let z = (best - mu) / s;
        let n = Normal::standard();
        (best - mu) * n.cdf(z) + s * n.pdf(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gp_interpolates_and_its_improvement_points_to_the_valley() {
        let f = |p: &[f64]| (p[0] - 0.3).powi(2) + (p[1] - 0.7).powi(2);
        let x: Vec<Vec<f64>> = (0..25).map(|i| vec![(i % 5) as f64 / 4.0, (i / 5) as f64 / 4.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| f(p)).collect();
        let gp = Gp::fit(&x, &y).unwrap();
        for (p, v) in x.iter().zip(&y) {
            let (mu, _) = gp.predict(p);
            assert!((mu - v).abs() < 0.02, "{mu} vs {v}");
        }
        let best = y.iter().cloned().fold(f64::INFINITY, f64::min);
        let near = gp.expected_improvement(&[0.3, 0.7], best);
        let far = gp.expected_improvement(&[1.0, 0.0], best);
        assert!(near > far, "{near} vs {far}");
        assert!(Gp::fit(&x[..1], &y[..1]).is_none());
        // A pure function of its points.
        assert_eq!(Gp::fit(&x, &y).unwrap().predict(&[0.33, 0.5]), gp.predict(&[0.33, 0.5]));
    }
}
