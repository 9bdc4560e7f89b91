//! Distribution summaries and Gini coefficients of agent populations, computed exactly
//! every tick.
//!
//! Values are ordered in reused buffers (no allocation per tick once warm). When their
//! range is small (Boltzmann wealth, firm head-counts) they are counted, and every
//! statistic is read off the count table in O(range); otherwise they are radix-sorted
//! (on 32-bit offsets when the range allows, halving the passes). Both are O(n), which
//! keeps telemetry from dominating the tick at a million agents.

use watchtower_protocol::{Distribution, Histogram};

/// Bins of every histogram.
pub const HISTOGRAM_BINS: usize = 20;

/// Reusable buffers for summarising populations.
#[derive(Debug, Default, Clone)]
pub struct Summarizer {
    input: Vec<i64>,
    sorted: Vec<i64>,
    counts: Vec<u32>,
    narrow: Vec<u32>,
}

/// A population's summary and its Gini coefficient.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationSummary {
    /// The distribution summary for telemetry.
    pub distribution: Distribution,
    /// Gini coefficient (0 for an empty or non-positive total).
    pub gini: f64,
}

/// Values in ascending order: either sorted out, or as counts of each value from `min`.
enum Ordered<'a> {
    Sorted(&'a [i64]),
    Counted { min: i64, counts: &'a [u32], n: usize },
}

impl Ordered<'_> {
    fn len(&self) -> usize {
        match self {
            Ordered::Sorted(v) => v.len(),
            Ordered::Counted { n, .. } => *n,
        }
    }

    /// Calls `f(value, count)` for the values in ascending order (a sorted value is a run
    /// of one). Generic rather than an iterator object: this runs once per agent.
    #[inline]
    fn for_each_run(&self, mut f: impl FnMut(i64, u64)) {
        match self {
            Ordered::Sorted(v) => v.iter().for_each(|&x| f(x, 1)),
            Ordered::Counted { min, counts, .. } => {
                for (i, &c) in counts.iter().enumerate() {
                    if c > 0 {
                        f(min + i as i64, u64::from(c));
                    }
                }
            }
        }
    }

    /// The values at the 0-based `ranks` (ascending), in one pass over the counts.
    fn at(&self, ranks: &[usize]) -> Vec<i64> {
        match self {
            Ordered::Sorted(v) => ranks.iter().map(|&r| v[r]).collect(),
            Ordered::Counted { min, counts, .. } => {
                let mut out = Vec::with_capacity(ranks.len());
                let mut seen = 0u64;
                let mut wanted = ranks.iter().peekable();
                for (i, &c) in counts.iter().enumerate() {
                    seen += u64::from(c);
                    while wanted.next_if(|&&r| (r as u64) < seen).is_some() {
                        out.push(min + i as i64);
                    }
                }
                out
            }
        }
    }
}

impl Summarizer {
    /// Summarises `values`, naming the result `name` with `unit`.
    pub fn summarize(&mut self, name: &str, unit: &str, values: impl Iterator<Item = i64>) -> PopulationSummary {
        self.input.clear();
        self.input.extend(values);
        let ordered = order(&self.input, &mut self.sorted, &mut self.counts, &mut self.narrow);
        PopulationSummary { distribution: describe(name, unit, &ordered), gini: gini(&ordered) }
    }

    /// Summarises a slice, copying it only if it must be sorted.
    pub fn summarize_slice(&mut self, name: &str, unit: &str, values: &[i64]) -> PopulationSummary {
        let ordered = order(values, &mut self.sorted, &mut self.counts, &mut self.narrow);
        PopulationSummary { distribution: describe(name, unit, &ordered), gini: gini(&ordered) }
    }
}

fn order<'a>(
    values: &'a [i64],
    sorted: &'a mut Vec<i64>,
    counts: &'a mut Vec<u32>,
    narrow: &mut Vec<u32>,
) -> Ordered<'a> {
    if values.is_empty() {
        return Ordered::Sorted(values);
    }
    let (min, max) = values.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = (i128::from(max) - i128::from(min)) as u128;
    if range <= 2 * values.len() as u128 + 4096 {
        counts.clear();
        counts.resize(range as usize + 1, 0);
        for &v in values {
            counts[(v - min) as usize] += 1;
        }
        return Ordered::Counted { min, counts, n: values.len() };
    }
    sorted.clear();
    sorted.extend_from_slice(values);
    let values = sorted;
    if range <= u128::from(u32::MAX) {
        narrow.clear();
        narrow.extend(values.iter().map(|&v| (v - min) as u32));
        radsort::sort(narrow);
        for (v, &o) in values.iter_mut().zip(narrow.iter()) {
            *v = min + i64::from(o);
        }
    } else {
        radsort::sort(values);
    }
    Ordered::Sorted(values)
}

/// Gini coefficient of ascending values: Σᵢ (2i − n + 1)·xᵢ / (n·Σx), i from 0.
fn gini(ordered: &Ordered<'_>) -> f64 {
    let n = ordered.len();
    let mut total: i128 = 0;
    let mut weighted = 0.0_f64;
    let mut rank = 0u64; // rank of the first element of the current run
    ordered.for_each_run(|value, count| {
        total += i128::from(value) * i128::from(count);
        // Σ over ranks r..r+c of (2r' − n + 1) = c·(2r + c − 1) − c·(n − 1).
        let c = count as f64;
        weighted += value as f64 * (c * (2.0 * rank as f64 + c - 1.0) - c * (n as f64 - 1.0));
        rank += count;
    });
    if n == 0 || total <= 0 { 0.0 } else { weighted / (n as f64 * total as f64) }
}

/// Where the `q`-quantile sits among `n` ascending values: the two ranks to interpolate
/// between and the weight of the upper one (numpy's default, linear).
fn quantile_ranks(n: usize, q: f64) -> (usize, usize, f64) {
    let pos = q * (n - 1) as f64;
    let lo = pos.floor() as usize;
    (lo, (lo + 1).min(n - 1), pos - lo as f64)
}

fn describe(name: &str, unit: &str, ordered: &Ordered<'_>) -> Distribution {
    let n = ordered.len();
    if n == 0 {
        return Distribution { name: name.into(), unit: unit.into(), ..Distribution::default() };
    }
    // Every rank needed (extremes and the two neighbours of each quantile), in one lookup.
    let quantiles = [0.1, 0.5, 0.9].map(|q| quantile_ranks(n, q));
    let mut ranks: Vec<usize> = quantiles.iter().flat_map(|&(lo, hi, _)| [lo, hi]).chain([0, n - 1]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let values = ordered.at(&ranks);
    let value_at = |rank: usize| values[ranks.binary_search(&rank).expect("requested")] as f64;
    let [p10, p50, p90] = quantiles.map(|(lo, hi, w)| value_at(lo) + (value_at(hi) - value_at(lo)) * w);
    let (min, max) = (values[0], values[values.len() - 1]);
    let mut total: i128 = 0;
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    // Bin b holds values v with floor((v − min)·BINS/span) = b, that is v below the edge
    // min + ceil((b + 1)·span/BINS). The edges are exact integers computed once; the
    // ascending values then move a cursor along them (no division per value), so a value
    // on an edge lands in the same bin at any scale.
    let span = i128::from(max) - i128::from(min);
    let bins = HISTOGRAM_BINS as i128;
    let edges: Vec<i128> = (1..=bins).map(|b| i128::from(min) + (b * span + bins - 1) / bins).collect();
    let mut bin = 0;
    ordered.for_each_run(|value, count| {
        total += i128::from(value) * i128::from(count);
        while span > 0 && bin < HISTOGRAM_BINS - 1 && i128::from(value) >= edges[bin] {
            bin += 1;
        }
        counts[bin] += count;
    });
    Distribution {
        name: name.into(),
        unit: unit.into(),
        count: n as u64,
        mean: total as f64 / n as f64,
        min: min as f64,
        p10,
        p50,
        p90,
        max: max as f64,
        histogram: Histogram { lo: min as f64, hi: max as f64, counts },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(values: &[i64]) -> PopulationSummary {
        Summarizer::default().summarize("x", "u", values.iter().copied())
    }

    #[test]
    fn gini_of_known_distributions() {
        assert_eq!(summary(&[5, 5, 5, 5]).gini, 0.0);
        assert_eq!(summary(&[5, 5, 5, 5]).distribution.histogram.counts[0], 4, "one value: the first bin");
        // One person holds everything: (n − 1)/n.
        assert!((summary(&[0, 0, 10, 0]).gini - 0.75).abs() < 1e-12);
        assert!((summary(&[4, 1, 3, 2]).gini - 0.25).abs() < 1e-12);
    }

    #[test]
    fn both_orderings_give_the_same_summary() {
        let small: Vec<i64> = (0..1000).map(|i| (i * 7919) % 13).collect();
        let wide: Vec<i64> = small.iter().map(|&v| v * 1_000_000_007).collect();
        let (a, b) = (summary(&small), summary(&wide));
        assert!((a.gini - b.gini).abs() < 1e-12);
        assert_eq!(a.distribution.histogram.counts, b.distribution.histogram.counts);
        assert_eq!(a.distribution.count, 1000);
        assert_eq!(a.distribution.p50 * 1_000_000_007.0, b.distribution.p50);
        assert_eq!(a.distribution.p10 * 1_000_000_007.0, b.distribution.p10);
        assert_eq!(a.distribution.histogram.counts.iter().sum::<u64>(), 1000);
        assert!((a.distribution.mean * 1_000_000_007.0 - b.distribution.mean).abs() < 1e-3);
    }

    #[test]
    fn quantiles_interpolate() {
        let d = summary(&[50, 10, 40, 20, 30]).distribution;
        assert_eq!((d.min, d.p10, d.p50, d.p90, d.max), (10.0, 14.0, 30.0, 46.0, 50.0));
        let wide = summary(&[50_000_000_000, 10_000_000_000, 40_000_000_000, 20_000_000_000, 30_000_000_000]);
        assert_eq!(wide.distribution.p10, 14_000_000_000.0);
    }
}
