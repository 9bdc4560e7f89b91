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
        for (firm, staff) in self.staff.iter_mut().enumerate() {
            let target = self.target[firm] as usize;
            while staff.len() > target {
                let h = staff.pop().expect("len > target >= 0");
                self.employer[h as usize] = UNEMPLOYED;
                self.pool.push_back(h);
            }
        }
        for (firm, staff) in self.staff.iter_mut().enumerate() {
            let target = self.target[firm] as usize;
            while staff.len() < target {
                let h = self.pool.pop_front().expect("targets sum to at most H");
                self.employer[h as usize] = firm as u32;
                staff.push(h);
            }
        }
    }

    /// Largest-remainder apportionment of the households over the firms' quotas.
    fn set_targets(&mut self, output: &[f64], alive: &[bool], per_unit: f64) {
        let households = self.employer.len();
        let quota = |i: usize| if alive[i] { (output[i] * per_unit).max(0.0) } else { 0.0 };
        let total_quota: f64 = (0..output.len()).map(quota).sum();
        // ΣY can exceed N by a rounding hair; never employ more households than exist.
        let squeeze = if total_quota > households as f64 { households as f64 / total_quota } else { 1.0 };
        let seats = (total_quota * squeeze).round().min(households as f64) as u64;
        self.remainders.clear();
        let mut given = 0u64;
        for (i, t) in self.target.iter_mut().enumerate() {
            let q = quota(i) * squeeze;
            let whole = q.floor();
            *t = whole as u32;
            given += whole as u64;
            if q > whole {
                self.remainders.push((q - whole, i as u32));
            }
        }
        let extra = (seats.saturating_sub(given) as usize).min(self.remainders.len());
        if extra == 0 {
            return;
        }
        // Largest remainders first; ties go to the lower firm index (a total order, so
        // the result is deterministic).
        let order = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if extra < self.remainders.len() {
            self.remainders.select_nth_unstable_by(extra - 1, order);
        }
        for &(_, i) in &self.remainders[..extra] {
            self.target[i as usize] += 1;
        }
    }
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
