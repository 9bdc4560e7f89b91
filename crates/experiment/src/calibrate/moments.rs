//! Moments of a series: what a calibration compares between the model and its target.
//!
//! A moment is a statistic (`mean`, `sd`, `skewness`, `kurtosis`, `acf<k>`, `ccf<k>`
//! with a second indicator) of one indicator's series, optionally after a transform
//! (`diff:` first differences, `hp:` the Hodrick–Prescott cycle). The statistics follow
//! the usual numpy/scipy/statsmodels conventions, so a number can be checked there:
//! `sd` is the population standard deviation (numpy's `std`), `skewness` and `kurtosis`
//! scipy's biased defaults (kurtosis in excess of 3), `acf<k>` statsmodels' `acf`
//! (autocovariance at lag k over the variance, both divided by n) and `ccf<k>` the
//! correlation of x_t with y_{t+k} normalised the same way (statsmodels' `ccf`).

use std::fmt;

/// How a series is transformed before its statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// The series as it is.
    Level,
    /// First differences x_t − x_{t−1}.
    Diff,
    /// The Hodrick–Prescott cycle (the series less its trend) with the spec's λ.
    Hp,
}

/// The statistic of a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stat {
    /// Mean.
    Mean,
    /// Population standard deviation.
    Sd,
    /// Skewness (biased, scipy's default).
    Skewness,
    /// Excess kurtosis (biased, scipy's default).
    Kurtosis,
    /// Autocorrelation at lag k.
    Acf(usize),
    /// Correlation of this indicator at t with `other` at t + k.
    Ccf(usize, String),
}

/// One moment: an indicator, a transform and a statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// The indicator (a name of [`watchtower_protocol::Indicators::FIELDS`]).
    pub indicator: String,
    /// The transform applied first.
    pub transform: Transform,
    /// The statistic.
    pub stat: Stat,
}

/// Longest lag a moment may take.
pub const MAX_LAG: usize = 1000;

impl Moment {
    /// Reads `[diff:|hp:]stat` (`mean`, `sd`, `skewness`, `kurtosis`, `acf<k>`,
    /// `ccf<k>(<other indicator>)`) of `indicator`.
    pub fn parse(indicator: &str, text: &str) -> Result<Self, String> {
        let (transform, rest) = match text.split_once(':') {
            Some(("diff", rest)) => (Transform::Diff, rest),
            Some(("hp", rest)) => (Transform::Hp, rest),
            Some((other, _)) => return Err(format!("unknown transform `{other}:`; use `diff:` or `hp:`")),
            None => (Transform::Level, text),
        };
        let lag = |digits: &str| -> Result<usize, String> {
            match digits.parse::<usize>() {
                Ok(k) if (1..=MAX_LAG).contains(&k) || (k == 0 && rest.starts_with("ccf")) => Ok(k),
                _ => Err(format!("`{text}`: the lag must be a whole number from 1 (0 for ccf) to {MAX_LAG}")),
            }
        };
        let stat = match rest {
            "mean" => Stat::Mean,
            "sd" => Stat::Sd,
            "skewness" => Stat::Skewness,
            "kurtosis" => Stat::Kurtosis,
            _ if rest.starts_with("acf") => Stat::Acf(lag(&rest[3..])?),
            _ if rest.starts_with("ccf") => {
                let inner = &rest[3..];
                let (digits, other) = inner.strip_suffix(')').and_then(|s| s.split_once('(')).ok_or_else(|| {
                    format!("`{text}`: write a cross-correlation as ccf<k>(<indicator>), e.g. ccf1(inflation)")
                })?;
                Stat::Ccf(lag(digits)?, other.trim().to_string())
            }
            _ => {
                return Err(format!(
                    "unknown moment `{text}`; use mean, sd, skewness, kurtosis, acf<k>, ccf<k>(<indicator>), each optionally after diff: or hp:"
                ));
            }
        };
        Ok(Moment { indicator: indicator.to_string(), transform, stat })
    }

    /// The indicators the moment reads.
    pub fn indicators(&self) -> Vec<&str> {
        match &self.stat {
            Stat::Ccf(_, other) => vec![&self.indicator, other],
            _ => vec![&self.indicator],
        }
    }

    /// The moment of `series` (the moment's indicator) and `other` (the second
    /// indicator of a cross-correlation; ignored otherwise), with HP smoothing `lambda`.
    /// NaN when the series is too short for it.
    pub fn of(&self, series: &[f64], other: &[f64], lambda: f64) -> f64 {
        let x = transform(series, self.transform, lambda);
        match &self.stat {
            Stat::Mean => mean(&x),
            Stat::Sd => sd(&x),
            Stat::Skewness => skewness(&x),
            Stat::Kurtosis => kurtosis(&x),
            Stat::Acf(k) => acf(&x, *k),
            Stat::Ccf(k, _) => ccf(&x, &transform(other, self.transform, lambda), *k),
        }
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.indicator)?;
        match self.transform {
            Transform::Level => {}
            Transform::Diff => write!(f, "diff:")?,
            Transform::Hp => write!(f, "hp:")?,
        }
        match &self.stat {
            Stat::Mean => write!(f, "mean"),
            Stat::Sd => write!(f, "sd"),
            Stat::Skewness => write!(f, "skewness"),
            Stat::Kurtosis => write!(f, "kurtosis"),
            Stat::Acf(k) => write!(f, "acf{k}"),
            Stat::Ccf(k, other) => write!(f, "ccf{k}({other})"),
        }
    }
}

/// The series after `t`.
pub fn transform(x: &[f64], t: Transform, lambda: f64) -> Vec<f64> {
    match t {
        Transform::Level => x.to_vec(),
        Transform::Diff => x.windows(2).map(|w| w[1] - w[0]).collect(),
        Transform::Hp => {
            let trend = hp_trend(x, lambda);
            x.iter().zip(&trend).map(|(x, t)| x - t).collect()
        }
    }
}

/// Mean (NaN when empty).
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() { f64::NAN } else { x.iter().sum::<f64>() / x.len() as f64 }
}

/// The k-th central moment, dividing by n.
fn central(x: &[f64], k: i32) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(k)).sum::<f64>() / x.len() as f64
}

/// Population standard deviation.
pub fn sd(x: &[f64]) -> f64 {
    central(x, 2).sqrt()
}

/// Skewness m3 / m2^1.5 (scipy.stats.skew, bias=True).
pub fn skewness(x: &[f64]) -> f64 {
    central(x, 3) / central(x, 2).powf(1.5)
}

/// Excess kurtosis m4 / m2² − 3 (scipy.stats.kurtosis, fisher=True, bias=True).
pub fn kurtosis(x: &[f64]) -> f64 {
    central(x, 4) / central(x, 2).powi(2) - 3.0
}

/// Autocorrelation at lag k (statsmodels' `acf`).
pub fn acf(x: &[f64], k: usize) -> f64 {
    ccf(x, x, k)
}

/// Σ (x_t − x̄)(y_{t+k} − ȳ) / (n sd_x sd_y) (statsmodels' `ccf(y, x)` at lag k, unadjusted).
pub fn ccf(x: &[f64], y: &[f64], k: usize) -> f64 {
    let n = x.len().min(y.len());
    if n <= k || n < 2 {
        return f64::NAN;
    }
    let (x, y) = (&x[..n], &y[..n]);
    let (mx, my) = (mean(x), mean(y));
    let cov = (0..n - k).map(|t| (x[t] - mx) * (y[t + k] - my)).sum::<f64>() / n as f64;
    cov / (sd(x) * sd(y))
}

/// The Hodrick–Prescott trend: the τ minimising Σ(x − τ)² + λ Σ(Δ²τ)², the solution of
/// (I + λ D'D) τ = x with D the second-difference operator. The matrix is pentadiagonal
/// and positive definite, so a banded Cholesky (LDLᵀ) solves it in O(n).
pub fn hp_trend(x: &[f64], lambda: f64) -> Vec<f64> {
    let n = x.len();
    if n < 3 {
        return x.to_vec();
    }
    // The three diagonals of A = I + λ D'D (main, first, second off-diagonal).
    let mut a0 = vec![0.0; n];
    let mut a1 = vec![0.0; n];
    let mut a2 = vec![0.0; n];
    for r in 0..n - 2 {
        // Row r of D is (1, −2, 1) at columns r, r+1, r+2.
        let d = [1.0, -2.0, 1.0];
        for i in 0..3 {
            a0[r + i] += lambda * d[i] * d[i];
            if i < 2 {
                a1[r + i] += lambda * d[i] * d[i + 1];
            }
        }
        a2[r] += lambda * d[0] * d[2];
    }
    a0.iter_mut().for_each(|v| *v += 1.0);
    // LDLᵀ with L unit lower-triangular of bandwidth 2.
    let mut dd = vec![0.0; n];
    let mut l1 = vec![0.0; n];
    let mut l2 = vec![0.0; n];
    for i in 0..n {
        let mut d = a0[i];
        if i >= 1 {
            d -= l1[i - 1] * l1[i - 1] * dd[i - 1];
        }
        if i >= 2 {
            d -= l2[i - 2] * l2[i - 2] * dd[i - 2];
        }
        dd[i] = d;
        if i + 1 < n {
            let mut v = a1[i];
            if i >= 1 {
                v -= l2[i - 1] * l1[i - 1] * dd[i - 1];
            }
            l1[i] = v / d;
        }
        if i + 2 < n {
            l2[i] = a2[i] / d;
        }
    }
    // Solve L z = x, D w = z, Lᵀ τ = w.
    let mut z = x.to_vec();
    for i in 0..n {
        if i >= 1 {
            z[i] -= l1[i - 1] * z[i - 1];
        }
        if i >= 2 {
            z[i] -= l2[i - 2] * z[i - 2];
        }
    }
    for i in 0..n {
        z[i] /= dd[i];
    }
    for i in (0..n).rev() {
        if i + 1 < n {
            z[i] -= l1[i] * z[i + 1];
        }
        if i + 2 < n {
            z[i] -= l2[i] * z[i + 2];
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: [f64; 8] = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 9.0, 7.0];
    const Y: [f64; 8] = [2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 8.0, 9.0];

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn statistics_match_numpy_scipy_and_statsmodels() {
        // Values computed by hand (plain Python) from the definitions numpy/scipy use.
        close(mean(&X), 4.625);
        let m2 = X.iter().map(|v| (v - 4.625f64).powi(2)).sum::<f64>() / 8.0;
        close(sd(&X), m2.sqrt());
        close(sd(&X), 2.496873044429772);
        let m3 = X.iter().map(|v| (v - 4.625f64).powi(3)).sum::<f64>() / 8.0;
        let m4 = X.iter().map(|v| (v - 4.625f64).powi(4)).sum::<f64>() / 8.0;
        close(skewness(&X), m3 / m2.powf(1.5));
        close(kurtosis(&X), m4 / (m2 * m2) - 3.0);
        // Σ (x_t − x̄)(x_{t+1} − x̄) over Σ (x − x̄)² = 49.875.
        let dev: Vec<f64> = X.iter().map(|v| v - 4.625).collect();
        let c1: f64 = (0..7).map(|t| dev[t] * dev[t + 1]).sum();
        close(acf(&X, 1), c1 / 49.875);
        close(acf(&X, 1), 0.4909147869674185);
        // ccf at lag 0 is the Pearson correlation.
        let r = {
            let (mx, my) = (mean(&X), mean(&Y));
            let sxy: f64 = X.iter().zip(&Y).map(|(x, y)| (x - mx) * (y - my)).sum();
            let sxx: f64 = X.iter().map(|x| (x - mx).powi(2)).sum();
            let syy: f64 = Y.iter().map(|y| (y - my).powi(2)).sum();
            sxy / (sxx * syy).sqrt()
        };
        close(ccf(&X, &Y, 0), r);
        assert!(ccf(&X, &Y, 8).is_nan());
    }

    #[test]
    fn moments_parse_and_apply_their_transform() {
        let m = Moment::parse("inflation", "diff:sd").unwrap();
        assert_eq!(m.to_string(), "inflation.diff:sd");
        let d: Vec<f64> = X.windows(2).map(|w| w[1] - w[0]).collect();
        close(m.of(&X, &[], 1600.0), sd(&d));
        let c = Moment::parse("unemployment_rate", "hp:ccf1(inflation)").unwrap();
        assert_eq!(c.indicators(), ["unemployment_rate", "inflation"]);
        assert_eq!(c.stat, Stat::Ccf(1, "inflation".into()));
        assert_eq!(Moment::parse("x", "acf4").unwrap().stat, Stat::Acf(4));
        for bad in ["acf0", "acf", "median", "log:sd", "ccf1", "ccf1(x"] {
            assert!(Moment::parse("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hp_trend_solves_its_normal_equations() {
        let x: Vec<f64> = (0..50).map(|t| (t as f64 * 0.3).sin() + 0.05 * t as f64).collect();
        let lambda = 1600.0;
        let tau = hp_trend(&x, lambda);
        // (I + λ D'D) τ = x, checked row by row with D'D written out.
        let n = x.len();
        let dd = |tau: &[f64], i: usize| -> f64 {
            // (D'D τ)_i = Σ_r D[r][i] (τ_r − 2τ_{r+1} + τ_{r+2})
            let mut s = 0.0;
            for r in i.saturating_sub(2)..=i.min(n - 3) {
                let second = tau[r] - 2.0 * tau[r + 1] + tau[r + 2];
                let coef = [1.0, -2.0, 1.0][i - r];
                s += coef * second;
            }
            s
        };
        for i in 0..n {
            assert!((tau[i] + lambda * dd(&tau, i) - x[i]).abs() < 1e-9, "row {i}");
        }
        // A straight line is its own trend.
        let line: Vec<f64> = (0..20).map(|t| 2.0 + 0.5 * t as f64).collect();
        for (a, b) in hp_trend(&line, lambda).iter().zip(&line) {
            assert!((a - b).abs() < 1e-9);
        }
    }
}
