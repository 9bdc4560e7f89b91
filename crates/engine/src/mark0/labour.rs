//! The labour market: which household works for which firm.
//!
//! A firm's production Yᵢ stays continuous, as in the papers; its head-count is Yᵢ·H/N
//! rounded by the largest-remainder method, so head-counts sum to round(ΣYᵢ·H/N) and
//! the households' unemployment rate is the model's u to within one household. When a
//! head-count falls, the firm lets go its most recent hires; when it rises, it hires
//! from the front of the queue of unemployed households (longest unemployed first).
//! Only changes are touched, so a tick costs O(firms + hires + fires).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Marks a household without an employer.
pub(super) const UNEMPLOYED: u32 = u32::MAX;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Labour {
    /// Each household's employer, or [`UNEMPLOYED`].
    pub employer: Vec<u32>,
    /// Each firm's employees, oldest hire first (the order decides who is let go).
    pub staff: Vec<Vec<u32>>,
    /// Unemployed households, longest unemployed first (the order decides who is hired).
    pub pool: VecDeque<u32>,
    /// Scratch: head-count targets, recomputed by every rebalance.
    #[serde(skip)]
    target: Vec<u32>,
    /// Scratch.
    #[serde(skip)]
    remainders: Vec<(f64, u32)>,
    /// Scratch.
    #[serde(skip)]
    buckets: Vec<u32>,
    /// Scratch: the firms below their target, in firm order.
    #[serde(skip)]
    hiring: Vec<u32>,
}

impl Labour {
    /// Everyone unemployed, in household order.
    pub fn new(firms: usize, households: usize) -> Self {
        Self {
            employer: vec![UNEMPLOYED; households],
            staff: vec![Vec::new(); firms],
            pool: (0..households as u32).collect(),
            target: vec![0; firms],
            remainders: Vec::with_capacity(firms),
            buckets: Vec::new(),
            hiring: Vec::new(),
        }
    }

    /// Re-creates the scratch a checkpoint does not keep, for `firms` firms.
    pub fn restored(&mut self, firms: usize) {
        self.target = vec![0; firms];
        self.remainders = Vec::with_capacity(firms);
    }

    /// Households with an employer.
    pub fn employed(&self) -> usize {
        self.employer.len() - self.pool.len()
    }

    /// Matches head-counts to `output` (dead firms employ nobody).
    pub fn rebalance(&mut self, output: &[f64], alive: &[bool], households_per_unit: f64) {
        self.set_targets(output, alive, households_per_unit);
        // One pass over the firms: those above their target fire now (to the back of the
        // queue, before anyone is hired), those below are noted and hire after, in firm
        // order; a firm at its target is not touched again.
        self.hiring.clear();
        for (firm, staff) in self.staff.iter_mut().enumerate() {
            let target = self.target[firm] as usize;
            if staff.len() < target {
                self.hiring.push(firm as u32);
            }
            while staff.len() > target {
                let h = staff.pop().expect("len > target >= 0");
                self.employer[h as usize] = UNEMPLOYED;
                self.pool.push_back(h);
            }
        }
        for &firm in &self.hiring {
            let staff = &mut self.staff[firm as usize];
            let target = self.target[firm as usize] as usize;
            while staff.len() < target {
                let h = self.pool.pop_front().expect("targets sum to at most H");
                self.employer[h as usize] = firm;
                staff.push(h);
            }
        }
    }

    /// Largest-remainder apportionment of the households over the firms' quotas.
    #[inline(never)] // twice a tick; kept apart so profiles name it
    fn set_targets(&mut self, output: &[f64], alive: &[bool], per_unit: f64) {
        let households = self.employer.len();
        // 0 for a dead firm, by a multiplication rather than a branch on a coin flip
        // (a quota is never negative, so this is the same +0.0).
        let quota = |i: usize| (output[i] * per_unit).max(0.0) * f64::from(u8::from(alive[i]));
        // One pass sums the quotas and splits them, as if they fit (they nearly always
        // do: a quota times 1 is itself); if they do not, a second pass splits them again.
        let (mut given, mut fractional, total_quota) = self.split_quotas(&quota, 1.0);
        // ΣY can exceed N by a rounding hair; never employ more households than exist.
        let squeeze = if total_quota > households as f64 { households as f64 / total_quota } else { 1.0 };
        if squeeze != 1.0 {
            (given, fractional, _) = self.split_quotas(&quota, squeeze);
        }
        let seats = (total_quota * squeeze).round().min(households as f64) as u64;
        let extra = (seats.saturating_sub(given) as usize).min(fractional);
        if extra == 0 {
            return;
        }
        // Largest remainders first; ties go to the lower firm index (a total order, so
        // the result is deterministic). A remainder's bucket ⌊r·1024⌋ (exact: a power of
        // two) never decreases as r grows, so the firms in the buckets above the one
        // where the `extra`-th largest falls all get a seat, and only that one bucket is
        // ordered: the same seats as a full selection gives.
        let (mut threshold, mut above) = (0, 0);
        for b in (0..BUCKETS).rev() {
            let here = (0..4).map(|lane| self.buckets[lane * (BUCKETS + 1) + b] as usize).sum::<usize>();
            if above + here >= extra {
                threshold = b;
                break;
            }
            above += here;
        }
        // The tied bucket's remainders, written without a branch: each is stored at the
        // next free place, which advances only past the ones that belong there.
        let ties = (0..4).map(|lane| self.buckets[lane * (BUCKETS + 1) + threshold] as usize).sum::<usize>();
        let mut tied = vec![(0.0, 0); ties + 1];
        let mut count = 0;
        for &(r, i) in &self.remainders {
            let b = bucket(r);
            self.target[i as usize] += u32::from(r > 0.0 && b > threshold);
            tied[count] = (r, i);
            count += usize::from(r > 0.0 && b == threshold);
        }
        tied.truncate(count);
        let needed = extra - above;
        let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if needed < tied.len() {
            tied.select_nth_unstable_by(needed - 1, order);
        }
        for &(_, i) in &tied[..needed] {
            self.target[i as usize] += 1;
        }
    }
}

impl Labour {
    /// Each firm's whole seats at `quota(i)·squeeze` into the targets, and its remainder
    /// (0 for a whole quota) counted into its bucket of [0, 1), without a branch the
    /// processor would mispredict. Returns the seats given, the firms with a remainder,
    /// and the quotas' sum (in firm order, as `Iterator::sum` adds them).
    fn split_quotas(&mut self, quota: &impl Fn(usize) -> f64, squeeze: f64) -> (u64, usize, f64) {
        // Every place is written below: no need to clear the scratch.
        let n = self.target.len();
        self.remainders.resize(n, (0.0, 0));
        // Four interleaved count tables, so that consecutive firms falling in the same
        // bucket do not wait on each other's increments.
        self.buckets.clear();
        self.buckets.resize(4 * (BUCKETS + 1), 0);
        let (mut given, mut fractional, mut total) = (0u64, 0usize, -0.0_f64);
        for (i, t) in self.target.iter_mut().enumerate() {
            let quota = quota(i);
            total += quota;
            let q = quota * squeeze;
            // ⌊q⌋ for 0 ≤ q < 2⁶³ (a quota is at most H): one signed conversion, where
            // `floor` is a library call and unsigned conversions a branchy sequence on
            // baseline x86-64.
            let whole = q as i64;
            *t = whole as u32;
            given += whole as u64;
            let whole = whole as f64;
            let remainder = if q > whole { q - whole } else { 0.0 };
            self.remainders[i] = (remainder, i as u32);
            // Whole quotas are counted apart, in a bucket past the last.
            let b = if remainder > 0.0 { bucket(remainder) } else { BUCKETS };
            self.buckets[(i & 3) * (BUCKETS + 1) + b] += 1;
            fractional += usize::from(remainder > 0.0);
        }
        (given, fractional, total)
    }
}

/// Buckets of the remainders: this many equal slices of [0, 1).
const BUCKETS: usize = 1024;

/// The bucket of a remainder in [0, 1): ⌊r·1024⌋.
#[inline]
fn bucket(r: f64) -> usize {
    ((r * BUCKETS as f64) as i32 as usize).min(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_counts_follow_the_largest_remainders() {
        let mut labour = Labour::new(3, 10);
        // Quotas 4.6, 3.3, 2.1 (sum 10): floors 4, 3, 2 and one extra seat to firm 0.
        labour.rebalance(&[0.46, 0.33, 0.21], &[true; 3], 10.0);
        let counts: Vec<usize> = labour.staff.iter().map(Vec::len).collect();
        assert_eq!(counts, [5, 3, 2]);
        assert_eq!(labour.employed(), 10);
        // Firm 1 dies: its staff joins the back of the queue.
        labour.rebalance(&[0.46, 0.0, 0.21], &[true, false, true], 10.0);
        assert_eq!(labour.staff[1].len(), 0);
        assert_eq!(labour.employed(), 7);
        for (firm, staff) in labour.staff.iter().enumerate() {
            for &h in staff {
                assert_eq!(labour.employer[h as usize], firm as u32);
            }
        }
    }

    /// The rule as first written: a full selection of the largest remainders.
    fn reference_targets(output: &[f64], households: usize) -> Vec<u32> {
        let total: f64 = output.iter().sum();
        let squeeze = if total > households as f64 { households as f64 / total } else { 1.0 };
        let seats = (total * squeeze).round().min(households as f64) as u64;
        let mut remainders = Vec::new();
        let mut given = 0;
        let mut target: Vec<u32> = output
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let q = q * squeeze;
                let whole = q.floor();
                given += whole as u64;
                if q > whole {
                    remainders.push((q - whole, i as u32));
                }
                whole as u32
            })
            .collect();
        let extra = (seats.saturating_sub(given) as usize).min(remainders.len());
        if extra > 0 {
            let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            if extra < remainders.len() {
                remainders.select_nth_unstable_by(extra - 1, order);
            }
            for &(_, i) in &remainders[..extra] {
                target[i as usize] += 1;
            }
        }
        target
    }

    #[test]
    fn head_counts_are_those_of_a_full_selection() {
        // Many ties (few distinct quotas) and many near-equal remainders in one bucket.
        for (firms, distinct) in [(1_000usize, 7u32), (5_000, 1_000_000), (37, 3), (4_096, 4_096 * 3)] {
            for scale in [0.3, 1.0, 2.7] {
                let quotas: Vec<f64> = (0..firms as u32)
                    .map(|i| scale * f64::from((i.wrapping_mul(2_654_435_761) % distinct) + 1) / f64::from(distinct))
                    .collect();
                for room in [1.3, 0.8] {
                    let households = (quotas.iter().sum::<f64>() * room) as usize + 1;
                    let mut labour = Labour::new(firms, households);
                    labour.set_targets(&quotas, &vec![true; firms], 1.0);
                    let expected = reference_targets(&quotas, households);
                    assert_eq!(labour.target, expected, "{firms} firms, {distinct} values, room {room}");
                }
            }
        }
    }

    #[test]
    fn fires_the_latest_hires_and_hires_the_longest_unemployed() {
        let mut labour = Labour::new(1, 5);
        labour.rebalance(&[0.3], &[true], 10.0);
        assert_eq!(labour.staff[0], [0, 1, 2]);
        labour.rebalance(&[0.1], &[true], 10.0);
        assert_eq!(labour.staff[0], [0]);
        assert_eq!(labour.pool, [3, 4, 2, 1]);
        labour.rebalance(&[0.2], &[true], 10.0);
        assert_eq!(labour.staff[0], [0, 3]);
    }
}
