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
    scratch: Vec<u32>,
}

/// A population's summary and its Gini coefficient.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationSummary {
    /// The distribution summary for telemetry.
    pub distribution: Distribution,
    /// Gini coefficient (0 for an empty or non-positive total).
    pub gini: f64,
}

/// Values in ascending order: counted (how many of each value from `min`), or sorted
/// as offsets from `min` when their range fits 32 bits, or sorted as they are.
///
/// A population whose range is small next to its size is summarised run by run (a run
/// is a value and how many times it occurs), a wide one value by value; the two add
/// their terms differently, so which one a population gets is fixed by its range and
/// size alone. A small range is counted into a table when the table is small enough to
/// stay in cache, and otherwise sorted and read run by run ([`Ordered::Runs`]): the runs,
/// and so every number, are the same.
enum Ordered<'a> {
    Counted { min: i64, counts: &'a [u32], n: usize },
    Runs { min: i64, offsets: &'a [u32] },
    Narrow { min: i64, offsets: &'a [u32] },
    Wide(&'a [i64]),
}

/// The largest count table (entries) worth filling; a larger range is sorted instead.
const COUNT_TABLE: u128 = 1 << 15;

impl Ordered<'_> {
    fn len(&self) -> usize {
        match self {
            Ordered::Counted { n, .. } => *n,
            Ordered::Narrow { offsets, .. } | Ordered::Runs { offsets, .. } => offsets.len(),
            Ordered::Wide(v) => v.len(),
        }
    }

    /// The value at the 0-based `rank`, for a sorted population.
    #[inline]
    fn sorted_at(&self, rank: usize) -> i64 {
        match self {
            Ordered::Narrow { min, offsets } | Ordered::Runs { min, offsets } => min + i64::from(offsets[rank]),
            Ordered::Wide(v) => v[rank],
            Ordered::Counted { .. } => unreachable!("counted values are read in one pass"),
        }
    }

    /// How many values are below `edge`, for a sorted population.
    fn below(&self, edge: i128) -> usize {
        match self {
            Ordered::Narrow { min, offsets } | Ordered::Runs { min, offsets } => {
                // Offsets below edge − min; every offset is below anything past u32::MAX.
                let limit = edge - i128::from(*min);
                if limit <= 0 {
                    0
                } else if limit > i128::from(u32::MAX) {
                    offsets.len()
                } else {
                    offsets.partition_point(|&o| i128::from(o) < limit)
                }
            }
            Ordered::Wide(v) => v.partition_point(|&x| i128::from(x) < edge),
            Ordered::Counted { .. } => unreachable!("counted values are read in one pass"),
        }
    }
}

impl Summarizer {
    /// Summarises `values`, naming the result `name` with `unit`.
    pub fn summarize(&mut self, name: &str, unit: &str, values: impl Iterator<Item = i64>) -> PopulationSummary {
        let mut input = std::mem::take(&mut self.input);
        input.clear();
        input.extend(values);
        let summary = self.summarize_slice(name, unit, &input);
        self.input = input;
        summary
    }

    /// Summarises a slice, copying it only if it must be sorted.
    pub fn summarize_slice(&mut self, name: &str, unit: &str, values: &[i64]) -> PopulationSummary {
        self.summarize_with(name, unit, values, COUNT_TABLE)
    }

    fn summarize_with(&mut self, name: &str, unit: &str, values: &[i64], table: u128) -> PopulationSummary {
        let ordered = order(values, &mut self.sorted, &mut self.counts, &mut self.narrow, &mut self.scratch, table);
        summarise(name, unit, &ordered)
    }
}

fn order<'a>(
    values: &'a [i64],
    sorted: &'a mut Vec<i64>,
    counts: &'a mut Vec<u32>,
    narrow: &'a mut Vec<u32>,
    scratch: &mut Vec<u32>,
    table: u128,
) -> Ordered<'a> {
    if values.is_empty() {
        return Ordered::Wide(values);
    }
    let (min, max) = values.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = (i128::from(max) - i128::from(min)) as u128;
    let runs = range <= 2 * values.len() as u128 + 4096;
    if runs && range < table {
        counts.clear();
        counts.resize(range as usize + 1, 0);
        for &v in values {
            counts[(v - min) as usize] += 1;
        }
        return Ordered::Counted { min, counts, n: values.len() };
    }
    if range <= u128::from(u32::MAX) {
        narrow.clear();
        narrow.extend(values.iter().map(|&v| (v - min) as u32));
        radix_sort_u32(narrow, scratch, range as u32);
        return if runs { Ordered::Runs { min, offsets: narrow } } else { Ordered::Narrow { min, offsets: narrow } };
    }
    sorted.clear();
    sorted.extend_from_slice(values);
    radsort::sort(sorted);
    Ordered::Wide(sorted)
}

/// Sorts `keys` (all at most `max`) by least-significant-digit radix sort: one pass to
/// count every digit, then one stable scatter per digit that is not the same for every
/// key. Digits are at most 8, 11 or 14 bits wide as the keys number hundreds, thousands
/// or more (a count table costs the same whatever the keys, a pass costs
/// per key), as few as that allows and as narrow as they can then be.
fn radix_sort_u32(keys: &mut Vec<u32>, scratch: &mut Vec<u32>, max: u32) {
    let n = keys.len();
    if n < 2 {
        return;
    }
    // Wider digits for more keys: their count tables cost the same whatever the keys.
    // From a thousand keys an 11-bit table (8 KiB, in L1) costs less than the pass it
    // saves: 17-bit ranges (a few thousand households' cents) sort in two passes, not three.
    let widest = if n >= 1 << 16 {
        14
    } else if n >= 1 << 10 {
        11
    } else {
        8
    };
    let width = 32 - max.leading_zeros();
    let digits = width.div_ceil(widest).max(1);
    let bits = width.div_ceil(digits).max(1);
    let buckets = 1usize << bits;
    let mask = (1u32 << bits) - 1;
    let mut counts = vec![0u32; buckets * digits as usize];
    match digits {
        1 => keys.iter().for_each(|&k| counts[(k & mask) as usize] += 1),
        2 => keys.iter().for_each(|&k| {
            counts[(k & mask) as usize] += 1;
            counts[buckets + ((k >> bits) & mask) as usize] += 1;
        }),
        3 => keys.iter().for_each(|&k| {
            counts[(k & mask) as usize] += 1;
            counts[buckets + ((k >> bits) & mask) as usize] += 1;
            counts[2 * buckets + ((k >> (2 * bits)) & mask) as usize] += 1;
        }),
        _ => keys.iter().for_each(|&k| {
            for d in 0..digits {
                counts[d as usize * buckets + ((k >> (bits * d)) & mask) as usize] += 1;
            }
        }),
    }
    // Every place is written by a pass before it is read: no need to clear it.
    scratch.resize(n, 0);
    let mut in_scratch = false;
    for (d, c) in counts.chunks_mut(buckets).enumerate() {
        if c.iter().any(|&x| x as usize == n) {
            continue; // every key has this digit: the pass would change nothing
        }
        let mut at = 0u32;
        for slot in c.iter_mut() {
            let here = *slot;
            *slot = at;
            at += here;
        }
        let shift = bits * d as u32;
        let (from, to) = if in_scratch { (&**scratch, &mut **keys) } else { (&**keys, &mut **scratch) };
        for &k in from {
            let slot = &mut c[((k >> shift) & mask) as usize];
            to[*slot as usize] = k;
            *slot += 1;
        }
        in_scratch = !in_scratch;
    }
    if in_scratch {
        std::mem::swap(keys, scratch);
    }
}

/// The distribution summary and Gini coefficient of ascending values, in one walk.
fn summarise(name: &str, unit: &str, ordered: &Ordered<'_>) -> PopulationSummary {
    let n = ordered.len();
    if n == 0 {
        let distribution = Distribution { name: name.into(), unit: unit.into(), ..Distribution::default() };
        return PopulationSummary { distribution, gini: 0.0 };
    }
    // Every rank needed (extremes and the two neighbours of each quantile).
    let quantiles = [0.1, 0.5, 0.9].map(|q| quantile_ranks(n, q));
    let mut ranks: Vec<usize> = quantiles.iter().flat_map(|&(lo, hi, _)| [lo, hi]).chain([0, n - 1]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut values = Vec::with_capacity(ranks.len());
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    // Bin b holds values v with floor((v − min)·BINS/span) = b, that is v below the edge
    // min + ceil((b + 1)·span/BINS). The edges are exact integers computed once.
    let (min, max) = match ordered {
        Ordered::Counted { min, counts, .. } => (*min, min + counts.len() as i64 - 1),
        _ => (ordered.sorted_at(0), ordered.sorted_at(n - 1)),
    };
    let span = i128::from(max) - i128::from(min);
    let bins = HISTOGRAM_BINS as i128;
    let edges: Vec<i128> = (1..=bins).map(|b| i128::from(min) + (b * span + bins - 1) / bins).collect();
    // Gini: Σᵢ (2i − n + 1)·xᵢ / (n·Σx), i from 0, accumulated run by run (a sorted value
    // is a run of one) in ascending order.
    let mut total: i128 = 0;
    let mut weighted = 0.0_f64;
    match ordered {
        Ordered::Counted { min, counts: table, .. } => {
            let mut rank = 0u64; // rank of the first element of the current run
            let mut bin = 0;
            let mut wanted = ranks.iter().peekable();
            for (i, &count) in table.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let value = min + i as i64;
                total += i128::from(value) * i128::from(count);
                // Σ over ranks r..r+c of (2r' − n + 1) = c·(2r + c − 1) − c·(n − 1).
                let c = f64::from(count);
                weighted += value as f64 * (c * (2.0 * rank as f64 + c - 1.0) - c * (n as f64 - 1.0));
                rank += u64::from(count);
                while wanted.next_if(|&&r| (r as u64) < rank).is_some() {
                    values.push(value);
                }
                while span > 0 && bin < HISTOGRAM_BINS - 1 && i128::from(value) >= edges[bin] {
                    bin += 1;
                }
                counts[bin] += u64::from(count);
            }
        }
        Ordered::Runs { min, offsets } => {
            // The same runs, in the same order, as a count table gives.
            let mut rank = 0usize;
            while rank < n {
                let o = offsets[rank];
                let mut end = rank + 1;
                while end < n && offsets[end] == o {
                    end += 1;
                }
                let (value, count) = (min + i64::from(o), (end - rank) as u64);
                total += i128::from(value) * i128::from(count);
                let c = count as f64;
                weighted += value as f64 * (c * (2.0 * rank as f64 + c - 1.0) - c * (n as f64 - 1.0));
                rank = end;
            }
        }
        Ordered::Narrow { min, offsets } => {
            let base = *min;
            let mut offset_sum = 0u64;
            for (rank, &o) in offsets.iter().enumerate() {
                offset_sum += u64::from(o);
                let value = base + i64::from(o);
                let c = 1.0_f64;
                weighted += value as f64 * (c * (2.0 * rank as f64 + c - 1.0) - c * (n as f64 - 1.0));
            }
            total = i128::from(base) * n as i128 + i128::from(offset_sum);
        }
        Ordered::Wide(sorted) => {
            for (rank, &value) in sorted.iter().enumerate() {
                total += i128::from(value);
                let c = 1.0_f64;
                weighted += value as f64 * (c * (2.0 * rank as f64 + c - 1.0) - c * (n as f64 - 1.0));
            }
        }
    }
    if !matches!(ordered, Ordered::Counted { .. }) {
        values.extend(ranks.iter().map(|&r| ordered.sorted_at(r)));
        // The bins of sorted values, from how many lie below each edge.
        let mut previous = 0;
        for (b, count) in counts.iter_mut().enumerate() {
            let below = if span == 0 {
                n
            } else if b < HISTOGRAM_BINS - 1 {
                ordered.below(edges[b])
            } else {
                n
            };
            *count = (below - previous) as u64;
            previous = below;
        }
    }
    let gini = if total <= 0 { 0.0 } else { weighted / (n as f64 * total as f64) };
    let value_at = |rank: usize| values[ranks.binary_search(&rank).expect("requested")] as f64;
    let [p10, p50, p90] = quantiles.map(|(lo, hi, w)| value_at(lo) + (value_at(hi) - value_at(lo)) * w);
    let distribution = Distribution {
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
    };
    PopulationSummary { distribution, gini }
}

/// Where the `q`-quantile sits among `n` ascending values: the two ranks to interpolate
/// between and the weight of the upper one (numpy's default, linear).
fn quantile_ranks(n: usize, q: f64) -> (usize, usize, f64) {
    let pos = q * (n - 1) as f64;
    let lo = pos.floor() as usize;
    (lo, (lo + 1).min(n - 1), pos - lo as f64)
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
    fn a_sorted_population_read_run_by_run_is_summarised_as_a_counted_one() {
        let values: Vec<i64> = (0..40_000i64).map(|i| 1_000 + (i * 7_919) % 50_000 - (i % 3) * 17).collect();
        let runs = Summarizer::default().summarize_with("x", "u", &values, COUNT_TABLE);
        let counted = Summarizer::default().summarize_with("x", "u", &values, u128::MAX);
        assert_eq!(runs.gini.to_bits(), counted.gini.to_bits());
        assert_eq!(runs.distribution, counted.distribution);
    }

    #[test]
    fn radix_sort_sorts() {
        let mut keys: Vec<u32> = (0..10_000u32).map(|i| i.wrapping_mul(2_654_435_761) >> (i % 7)).collect();
        let mut expected = keys.clone();
        expected.sort_unstable();
        let max = *keys.iter().max().unwrap();
        radix_sort_u32(&mut keys, &mut Vec::new(), max);
        assert_eq!(keys, expected);
        let mut small: Vec<u32> = (0..5_000u32).map(|i| (i * 7919) % 3_000).collect();
        let mut expected = small.clone();
        expected.sort_unstable();
        radix_sort_u32(&mut small, &mut Vec::new(), 3_000);
        assert_eq!(small, expected);
        let mut many: Vec<u32> = (0..70_000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let mut expected = many.clone();
        expected.sort_unstable();
        radix_sort_u32(&mut many, &mut Vec::new(), u32::MAX);
        assert_eq!(many, expected);
    }

    #[test]
    fn quantiles_interpolate() {
        let d = summary(&[50, 10, 40, 20, 30]).distribution;
        assert_eq!((d.min, d.p10, d.p50, d.p90, d.max), (10.0, 14.0, 30.0, 46.0, 50.0));
        let wide = summary(&[50_000_000_000, 10_000_000_000, 40_000_000_000, 20_000_000_000, 30_000_000_000]);
        assert_eq!(wide.distribution.p10, 14_000_000_000.0);
    }
}
