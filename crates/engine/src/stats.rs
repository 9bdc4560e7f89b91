//! Distribution summaries and Gini coefficients of agent populations, computed exactly
//! every tick.
//!
//! Values are sorted in a reused buffer (no allocation per tick once warm): by counting
//! when their range is small (Boltzmann wealth, firm head-counts), otherwise by radix
//! sort. Both are O(n), which keeps telemetry from dominating the tick at a million
//! agents.

use watchtower_protocol::{Distribution, Histogram};

/// Bins of every histogram.
pub const HISTOGRAM_BINS: usize = 20;

/// Reusable buffers for summarising populations.
#[derive(Debug, Default, Clone)]
pub struct Summarizer {
    values: Vec<i64>,
    counts: Vec<u32>,
    narrow: Vec<u32>,
}

/// A population's summary and its Gini coefficient.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The distribution summary for telemetry.
    pub distribution: Distribution,
    /// Gini coefficient (0 for an empty or non-positive total).
    pub gini: f64,
}

impl Summarizer {
    /// Summarises `values`, naming the result `name` with `unit`.
    pub fn summarize(&mut self, name: &str, unit: &str, values: impl Iterator<Item = i64>) -> Summary {
        self.values.clear();
        self.values.extend(values);
        sort(&mut self.values, &mut self.counts, &mut self.narrow);
        let distribution = describe(name, unit, &self.values);
        let gini = gini_sorted(&self.values);
        Summary { distribution, gini }
    }
}

fn sort(values: &mut [i64], counts: &mut Vec<u32>, narrow: &mut Vec<u32>) {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return;
    };
    let range = (i128::from(max) - i128::from(min)) as u128;
    if range <= 2 * values.len() as u128 + 4096 {
        counts.clear();
        counts.resize(range as usize + 1, 0);
        for &v in values.iter() {
            counts[(v - min) as usize] += 1;
        }
        let mut i = 0;
        for (offset, &c) in counts.iter().enumerate() {
            values[i..i + c as usize].fill(min + offset as i64);
            i += c as usize;
        }
    } else if range <= u128::from(u32::MAX) {
        // Offsets from the minimum fit in 32 bits: half the radix passes.
        narrow.clear();
        narrow.extend(values.iter().map(|&v| (v - min) as u32));
        radsort::sort(narrow);
        for (v, &o) in values.iter_mut().zip(narrow.iter()) {
            *v = min + i64::from(o);
        }
    } else {
        radsort::sort(values);
    }
}

/// Gini coefficient of ascending `sorted` values: Σᵢ (2i − n + 1)·xᵢ / (n·Σx).
pub fn gini_sorted(sorted: &[i64]) -> f64 {
    let n = sorted.len();
    let total: i128 = sorted.iter().map(|&x| i128::from(x)).sum();
    if n == 0 || total <= 0 {
        return 0.0;
    }
    let weighted: f64 = sorted.iter().enumerate().map(|(i, &x)| (2.0 * i as f64 - n as f64 + 1.0) * x as f64).sum();
    weighted / (n as f64 * total as f64)
}

/// The `q`-quantile of ascending `sorted` values, interpolating linearly between ranks.
pub fn quantile_sorted(sorted: &[i64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let (a, b) = (sorted[lo] as f64, sorted[hi] as f64);
            a + (b - a) * (pos - lo as f64)
        }
    }
}

fn describe(name: &str, unit: &str, sorted: &[i64]) -> Distribution {
    let n = sorted.len();
    if n == 0 {
        return Distribution { name: name.into(), unit: unit.into(), ..Distribution::default() };
    }
    let (min, max) = (sorted[0], sorted[n - 1]);
    let total: i128 = sorted.iter().map(|&x| i128::from(x)).sum();
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    let width = (max - min) as f64 / HISTOGRAM_BINS as f64;
    for &v in sorted {
        let bin = if width > 0.0 { ((v - min) as f64 / width) as usize } else { 0 };
        counts[bin.min(HISTOGRAM_BINS - 1)] += 1;
    }
    Distribution {
        name: name.into(),
        unit: unit.into(),
        count: n as u64,
        mean: total as f64 / n as f64,
        min: min as f64,
        p10: quantile_sorted(sorted, 0.1),
        p50: quantile_sorted(sorted, 0.5),
        p90: quantile_sorted(sorted, 0.9),
        max: max as f64,
        histogram: Histogram { lo: min as f64, hi: max as f64, counts },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_of_known_distributions() {
        assert_eq!(gini_sorted(&[5, 5, 5, 5]), 0.0);
        // One person holds everything: (n − 1)/n.
        assert!((gini_sorted(&[0, 0, 0, 10]) - 0.75).abs() < 1e-12);
        assert!((gini_sorted(&[1, 2, 3, 4]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn both_sort_paths_give_the_same_summary() {
        let small: Vec<i64> = (0..1000).map(|i| (i * 7919) % 13).collect();
        let wide: Vec<i64> = small.iter().map(|&v| v * 1_000_000_007).collect();
        let mut s = Summarizer::default();
        let a = s.summarize("a", "u", small.iter().copied());
        let b = s.summarize("b", "u", wide.iter().copied());
        assert!((a.gini - b.gini).abs() < 1e-12);
        assert_eq!(a.distribution.histogram.counts, b.distribution.histogram.counts);
        assert_eq!(a.distribution.count, 1000);
        assert_eq!(a.distribution.p50 * 1_000_000_007.0, b.distribution.p50);
        assert_eq!(a.distribution.histogram.counts.iter().sum::<u64>(), 1000);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [10, 20, 30, 40, 50];
        assert_eq!(quantile_sorted(&v, 0.5), 30.0);
        assert_eq!(quantile_sorted(&v, 0.1), 14.0);
        assert_eq!(quantile_sorted(&v, 1.0), 50.0);
    }
}
