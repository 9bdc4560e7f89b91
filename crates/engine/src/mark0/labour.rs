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
    /// Scratch: each firm's head-count (`staff[i].len()`), side by side so that a
    /// rebalance finds the firms whose target moved without visiting every staff list.
    #[serde(skip)]
    heads: Vec<u32>,
    /// Scratch: head-count targets, recomputed by every rebalance.
    #[serde(skip)]
    target: Vec<u32>,
    /// Scratch: each firm's whole seats ⌊quota⌋ at the last rebalance.
    #[serde(skip)]
    whole: Vec<u32>,
    /// Scratch: each firm's remainder at the last rebalance (0 for a whole quota), and
    /// the firm.
    #[serde(skip)]
    remainders: Vec<(f64, u32)>,
    /// Scratch: how many remainders fall in each bucket, in four interleaved tables.
    #[serde(skip)]
    buckets: Vec<u32>,
    /// Scratch: the remainders of the bucket where the last seat falls.
    #[serde(skip)]
    tied: Vec<(f64, u32)>,
    /// Scratch: the firms above their target, in firm order (and one place more).
    #[serde(skip)]
    firing: Vec<u32>,
    /// Scratch: the firms below their target, in firm order (and one place more).
    #[serde(skip)]
    hiring: Vec<u32>,
    /// What the last rebalance split, when a later one may start from it.
    #[serde(skip)]
    split: Option<Split>,
}

/// The totals of the last rebalance's split of the quotas into whole seats and
/// remainders (`whole`, `remainders` and `buckets` hold it firm by firm). Kept only when
/// the quotas were split as they are (not squeezed), so a rebalance after a few firms'
/// quotas changed can replace theirs and keep every other firm's.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// The households per unit of output the quotas were taken at.
    per_unit: f64,
    /// Σ whole seats.
    given: u64,
    /// Firms with a remainder.
    fractional: usize,
}

impl Labour {
    /// Everyone unemployed, in household order.
    pub fn new(firms: usize, households: usize) -> Self {
        Self {
            employer: vec![UNEMPLOYED; households],
            staff: vec![Vec::new(); firms],
            pool: (0..households as u32).collect(),
            heads: vec![0; firms],
            target: vec![0; firms],
            whole: vec![0; firms],
            remainders: Vec::with_capacity(firms),
            buckets: Vec::new(),
            tied: Vec::new(),
            firing: Vec::new(),
            hiring: Vec::new(),
            split: None,
        }
    }

    /// Re-creates the scratch a checkpoint does not keep, for `firms` firms.
    pub fn restored(&mut self, firms: usize) {
        self.heads = self.staff.iter().map(|staff| staff.len() as u32).collect();
        self.target = vec![0; firms];
        self.whole = vec![0; firms];
        self.remainders = Vec::with_capacity(firms);
        self.split = None;
    }

    /// Households with an employer.
    pub fn employed(&self) -> usize {
        self.employer.len() - self.pool.len()
    }

    /// Matches head-counts to `output` (dead firms employ nobody).
    pub fn rebalance(&mut self, output: &[f64], alive: &[bool], households_per_unit: f64) {
        self.set_targets(output, alive, households_per_unit);
        self.move_staff();
    }

    /// [`rebalance`](Self::rebalance) when, since the last one, only the firms in `changed`
    /// (in any order, each once) may have a different output or life: every other firm's
    /// whole seats and remainder are taken from the last split instead of being found
    /// again. The same head-counts, the same households: the quotas' sum is still added
    /// in firm order and the remainders still ranked over every firm.
    pub fn rebalance_changed(&mut self, output: &[f64], alive: &[bool], households_per_unit: f64, changed: &[usize]) {
        match self.split {
            Some(split) if split.per_unit.to_bits() == households_per_unit.to_bits() => {
                self.set_targets_changed(output, alive, split, changed);
            }
            _ => self.set_targets(output, alive, households_per_unit),
        }
        self.move_staff();
    }

    /// Fires and hires until every head-count is its target: the firms above it fire
    /// (to the back of the queue, before anyone is hired), then those below it hire, each
    /// in firm order; no other firm's staff is visited.
    fn move_staff(&mut self) {
        let Self { employer, staff, pool, heads, target, firing, hiring, .. } = self;
        // One pass over the head-counts lists the firms to fire and to hire, without a
        // branch on whether a firm's target moved (a coin flip the processor would
        // mispredict): every firm is written at the next free place of both lists, which
        // advances only past the ones that belong there. The lists are then walked
        // without such a branch, so the visits of the staff lists overlap.
        let n = heads.len();
        firing.resize(n + 1, 0);
        hiring.resize(n + 1, 0);
        let (mut fire, mut hire) = (0, 0);
        for (firm, (&head, &target)) in heads.iter().zip(target.iter()).enumerate() {
            firing[fire] = firm as u32;
            fire += usize::from(head > target);
            hiring[hire] = firm as u32;
            hire += usize::from(head < target);
        }
        for &firm in &firing[..fire] {
            let (firm, target) = (firm as usize, target[firm as usize]);
            for h in staff[firm].drain(target as usize..).rev() {
                employer[h as usize] = UNEMPLOYED;
                pool.push_back(h);
            }
            heads[firm] = target;
        }
        for &firm in &hiring[..hire] {
            let (staff, head) = (&mut staff[firm as usize], &mut heads[firm as usize]);
            let target = target[firm as usize];
            for _ in *head..target {
                let h = pool.pop_front().expect("targets sum to at most H");
                employer[h as usize] = firm;
                staff.push(h);
            }
            *head = target;
        }
    }

    /// Each firm's quota: 0 for a dead firm, by a multiplication rather than a branch on
    /// a coin flip (a quota is never negative, so this is the same +0.0).
    #[inline]
    fn quota(output: &[f64], alive: &[bool], per_unit: f64, i: usize) -> f64 {
        (output[i] * per_unit).max(0.0) * f64::from(u8::from(alive[i]))
    }

    /// Largest-remainder apportionment of the households over the firms' quotas.
    #[inline(never)] // twice a tick; kept apart so profiles name it
    fn set_targets(&mut self, output: &[f64], alive: &[bool], per_unit: f64) {
        let households = self.employer.len();
        let quota = |i: usize| Self::quota(output, alive, per_unit, i);
        // One pass sums the quotas and splits them, as if they fit (they nearly always
        // do: a quota times 1 is itself); if they do not, a second pass splits them again.
        let (mut given, mut fractional, total_quota) = self.split_quotas(&quota, 1.0);
        // ΣY can exceed N by a rounding hair; never employ more households than exist.
        let squeeze = if total_quota > households as f64 { households as f64 / total_quota } else { 1.0 };
        self.split = (squeeze == 1.0).then_some(Split { per_unit, given, fractional });
        if squeeze != 1.0 {
            (given, fractional, _) = self.split_quotas(&quota, squeeze);
        }
        self.give_extra_seats(given, fractional, total_quota * squeeze);
    }

    /// [`set_targets`](Self::set_targets) from the last split, in which only the firms in
    /// `changed` have other quotas now. If the quotas no longer fit, they are all split
    /// again, squeezed.
    #[inline(never)] // kept apart so profiles name it
    fn set_targets_changed(&mut self, output: &[f64], alive: &[bool], mut split: Split, changed: &[usize]) {
        let per_unit = split.per_unit;
        let quota = |i: usize| Self::quota(output, alive, per_unit, i);
        // The sum in firm order, as `split_quotas` adds it.
        let mut total_quota = -0.0_f64;
        for i in 0..self.target.len() {
            total_quota += quota(i);
        }
        if total_quota > self.employer.len() as f64 {
            return self.set_targets(output, alive, per_unit);
        }
        for &i in changed {
            // The firm's part of the last split out, its part of this one in.
            let (old, lane) = (self.remainders[i].0, (i & 3) * (BUCKETS + 1));
            split.given -= u64::from(self.whole[i]);
            split.fractional -= usize::from(old > 0.0);
            self.buckets[lane + if old > 0.0 { bucket(old) } else { BUCKETS }] -= 1;
            let (whole, remainder) = whole_and_remainder(quota(i));
            self.whole[i] = whole as u32;
            self.remainders[i] = (remainder, i as u32);
            split.given += whole as u64;
            split.fractional += usize::from(remainder > 0.0);
            self.buckets[lane + if remainder > 0.0 { bucket(remainder) } else { BUCKETS }] += 1;
        }
        self.split = Some(split);
        self.give_extra_seats(split.given, split.fractional, total_quota);
    }

    /// The targets: each firm's whole seats, and one more for each of the largest
    /// remainders until `seats` (the households to employ, before rounding) are given.
    fn give_extra_seats(&mut self, given: u64, fractional: usize, seats: f64) {
        let seats = seats.round().min(self.employer.len() as f64) as u64;
        let extra = (seats.saturating_sub(given) as usize).min(fractional);
        if extra == 0 {
            self.target.copy_from_slice(&self.whole);
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
        let tied = &mut self.tied;
        tied.clear();
        tied.resize(ties + 1, (0.0, 0));
        // A remainder r lies above the tied bucket when r ≥ (threshold + 1)/1024, and in
        // it when threshold/1024 ≤ r below that: the bucket's bounds, exact (powers of
        // two), compared with rather than each remainder's bucket found again.
        let (low, high) = (threshold as f64 / BUCKETS as f64, (threshold + 1) as f64 / BUCKETS as f64);
        let mut count = 0;
        let n = self.target.len();
        let (target, whole, remainders) = (&mut self.target[..n], &self.whole[..n], &self.remainders[..n]);
        for ((t, &w), &(r, i)) in target.iter_mut().zip(whole).zip(remainders) {
            *t = w + u32::from(r >= high);
            tied[count] = (r, i);
            count += usize::from(r > 0.0 && r >= low && r < high);
        }
        tied.truncate(count);
        let needed = extra - above;
        let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if needed < tied.len() {
            tied.select_nth_unstable_by(needed - 1, order);
        }
        for &(_, i) in &tied[..needed] {
            target[i as usize] += 1;
        }
    }
}

/// ⌊q⌋ and q − ⌊q⌋ (0 for a whole q) for 0 ≤ q < 2⁶³ (a quota is at most H): one signed
/// conversion, where `floor` is a library call and unsigned conversions a branchy
/// sequence on baseline x86-64.
#[inline]
fn whole_and_remainder(q: f64) -> (i64, f64) {
    let whole = q as i64;
    let w = whole as f64;
    (whole, if q > w { q - w } else { 0.0 })
}

impl Labour {
    /// Each firm's whole seats at `quota(i)·squeeze`, and its remainder (0 for a whole
    /// quota) counted into its bucket of [0, 1), without a branch the processor would
    /// mispredict. Returns the seats given, the firms with a remainder, and the quotas'
    /// sum (in firm order, as `Iterator::sum` adds them).
    fn split_quotas(&mut self, quota: &impl Fn(usize) -> f64, squeeze: f64) -> (u64, usize, f64) {
        // Every place is written below: no need to clear the scratch.
        let n = self.target.len();
        self.remainders.resize(n, (0.0, 0));
        // Four interleaved count tables, so that consecutive firms falling in the same
        // bucket do not wait on each other's increments.
        self.buckets.clear();
        self.buckets.resize(4 * (BUCKETS + 1), 0);
        let (mut given, mut fractional, mut total) = (0u64, 0usize, -0.0_f64);
        let (whole, remainders, buckets) = (&mut self.whole[..n], &mut self.remainders[..n], &mut self.buckets[..]);
        for (i, (w, r)) in whole.iter_mut().zip(remainders.iter_mut()).enumerate() {
            let quota = quota(i);
            total += quota;
            let (seats, remainder) = whole_and_remainder(quota * squeeze);
            *w = seats as u32;
            given += seats as u64;
            *r = (remainder, i as u32);
            // Whole quotas are counted apart, in a bucket past the last.
            let b = if remainder > 0.0 { bucket(remainder) } else { BUCKETS };
            buckets[(i & 3) * (BUCKETS + 1) + b] += 1;
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
    fn a_rebalance_of_the_changed_firms_is_a_full_one() {
        // Two economies rebalanced alike, one in full every time, the other from the
        // last split for the firms that changed: deaths, revivals, outputs that move,
        // ties (few distinct outputs), and quotas that no longer fit (squeezed).
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (firms, households, distinct) in [(500usize, 400usize, 5u64), (1_000, 1_000, 1_000_000), (64, 300, 3)] {
            let per_unit = households as f64 / firms as f64;
            let mut output: Vec<f64> = (0..firms).map(|_| (next() % distinct) as f64 / distinct as f64).collect();
            let mut alive = vec![true; firms];
            let (mut full, mut changed) = (Labour::new(firms, households), Labour::new(firms, households));
            full.rebalance(&output, &alive, per_unit);
            changed.rebalance(&output, &alive, per_unit);
            for round in 0..200 {
                let mut moved = Vec::new();
                for i in 0..firms {
                    if next() % 13 == 0 {
                        moved.push(i);
                        alive[i] = next() % 4 != 0;
                        // Now and then so much output that the quotas must be squeezed.
                        let scale = if round % 17 == 5 { 50.0 } else { 1.0 };
                        output[i] = if alive[i] { scale * (next() % distinct) as f64 / distinct as f64 } else { 0.0 };
                    }
                }
                // Any order of the changed firms.
                moved.reverse();
                full.rebalance(&output, &alive, per_unit);
                changed.rebalance_changed(&output, &alive, per_unit, &moved);
                assert_eq!(changed.target, full.target, "{firms} firms, round {round}");
                assert_eq!(changed.staff, full.staff, "{firms} firms, round {round}");
                assert_eq!(changed.employer, full.employer);
                assert_eq!(changed.pool, full.pool);
                if round % 3 == 0 {
                    // A whole rebalance now and then, as phase 2 does every tick.
                    full.rebalance(&output, &alive, per_unit);
                    changed.rebalance(&output, &alive, per_unit);
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
