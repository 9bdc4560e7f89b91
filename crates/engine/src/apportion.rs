//! Splitting a whole number of cents over many recipients so the parts add up exactly.
//!
//! The model computes each aggregate flow once (a sector's wage bill, its sales, the
//! deposit interest) and rounds it once to the cent; these functions then share it out
//! by weight with cumulative rounding: the k-th share is round(T·Cₖ/W) − round(T·Cₖ₋₁/W),
//! where Cₖ is the running sum of weights. The shares sum to T exactly, each is within one
//! cent of its proportional value, the split is O(n) and deterministic, and, unlike
//! rounding each share separately, equal recipients cannot pile their rounding errors
//! into the aggregate (a thousand identical firms each rounding 0.4 cents up would
//! otherwise create 4 dollars).

/// What an apportionment could not pay: all of `total` when every weight was zero.
pub type Unpaid = i64;

/// Rounds a model quantity to whole cents, half away from zero. Inlined arithmetic
/// rather than `f64::round`, which on baseline x86-64 is a library call, and this runs
/// once per household per flow. Saturates at the `i64` range.
#[inline]
pub fn round_cents(x: f64) -> i64 {
    // From 2^52 on every f64 is already a whole number (and adding 0.5 would round).
    if x.abs() >= 4_503_599_627_370_496.0 {
        x as i64
    } else if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// `x / divisor` (`divisor > 0`), rounded half away from zero: how a change of the unit
/// of account rounds every balance and every cent the model keeps.
#[inline]
pub fn divide_rounding(x: i64, divisor: i64) -> i64 {
    let (q, r) = (x / divisor, x % divisor);
    if 2 * r.abs() >= divisor { q + r.signum() } else { q }
}

/// Shares `total` over `(recipient, weight)` pairs (non-negative real weights), calling
/// `pay(recipient, share)` for every non-zero share. The pairs are walked twice (sum,
/// then split), so the iterator must yield the same sequence both times. Returns the
/// unpaid remainder: 0, or `total` if the weights sum to zero.
pub fn by_f64<T, W, F, E>(total: i64, weights: W, mut pay: F) -> Result<Unpaid, E>
where
    W: Iterator<Item = (T, f64)> + Clone,
    F: FnMut(T, i64) -> Result<(), E>,
{
    if total == 0 {
        return Ok(0);
    }
    let sum = weights.clone().fold(0.0_f64, |acc, (_, w)| acc + w.max(0.0));
    if sum <= 0.0 || !sum.is_finite() {
        return Ok(total);
    }
    let scale = total as f64 / sum;
    let mut cumulative = 0.0_f64;
    let mut given = 0_i64;
    for (recipient, w) in weights {
        cumulative += w.max(0.0);
        // The same additions in the same order reach `sum` exactly, so the last
        // positive weight snaps to `total`.
        let target = if cumulative >= sum { total } else { round_cents(cumulative * scale) };
        let share = target - given;
        if share != 0 {
            pay(recipient, share)?;
            given = target;
        }
    }
    debug_assert_eq!(given, total);
    Ok(total - given)
}

/// Shares `total` over `(recipient, weight)` pairs with integer weights (balances,
/// counts). Same contract as [`by_f64`]; the running sum of weights is kept exactly, so
/// the last recipient always closes the total, and each intermediate target is computed
/// in floating point (exact integer division here cost more than the rest of the tick).
pub fn by_i64<T, W, F, E>(total: i64, weights: W, mut pay: F) -> Result<Unpaid, E>
where
    W: Iterator<Item = (T, i64)> + Clone,
    F: FnMut(T, i64) -> Result<(), E>,
{
    if total == 0 {
        return Ok(0);
    }
    let sum: i128 = weights.clone().map(|(_, w)| i128::from(w.max(0))).sum();
    if sum == 0 {
        return Ok(total);
    }
    let Ok(sum) = i64::try_from(sum) else {
        // Beyond 92 quadrillion in weights: rare enough to take the real-valued path.
        return by_f64(total, weights.map(|(r, w)| (r, w as f64)), pay);
    };
    let scale = total as f64 / sum as f64;
    let mut cumulative = 0_i64;
    let mut given = 0_i64;
    for (recipient, w) in weights {
        cumulative += w.max(0);
        let target = if cumulative == sum { total } else { round_cents(cumulative as f64 * scale) };
        let share = target - given;
        if share != 0 {
            pay(recipient, share)?;
            given = target;
        }
    }
    debug_assert_eq!(given, total);
    Ok(0)
}

/// The arithmetic of one split by [`by_f64`], so that it can be done chunk by chunk (on
/// several threads): a chunk that starts from the running sum of the weights before it
/// (negative weights counting as 0, added in order from 0.0, as [`by_f64`] adds them)
/// gives exactly the shares the whole split gives, since each share depends only on the
/// running sums at its recipient and the one before.
#[derive(Debug, Clone, Copy)]
pub struct RealSplit {
    total: i64,
    sum: f64,
    scale: f64,
}

impl RealSplit {
    /// The split of `total` over weights summing to `sum`; `None` when [`by_f64`] pays
    /// nothing (`total` is 0, or the weights sum to nothing: then it is all unpaid).
    pub fn new(total: i64, sum: f64) -> Option<Self> {
        (total != 0 && sum > 0.0 && sum.is_finite()).then(|| Self { total, sum, scale: total as f64 / sum })
    }

    /// Where the cumulative shares stand once the running sum of the weights is
    /// `cumulative`: the share of a recipient is its target minus the one before.
    #[inline]
    pub fn target(&self, cumulative: f64) -> i64 {
        if cumulative >= self.sum { self.total } else { round_cents(cumulative * self.scale) }
    }
}

/// The arithmetic of one split by [`by_i64`] (see [`RealSplit`]); the running sums of
/// integer weights are exact, so they can be added up chunk by chunk too.
#[derive(Debug, Clone, Copy)]
pub struct IntSplit {
    total: i64,
    sum: i64,
    scale: f64,
}

impl IntSplit {
    /// The split of `total` over weights summing to `sum`; `None` when `total` is 0,
    /// when `sum` is 0 (all unpaid), or when `sum` does not fit an `i64` (then
    /// [`by_i64`] splits by real weights: use it).
    pub fn new(total: i64, sum: i128) -> Option<Self> {
        let sum = i64::try_from(sum).ok().filter(|&s| s > 0 && total != 0)?;
        Some(Self { total, sum, scale: total as f64 / sum as f64 })
    }

    /// See [`RealSplit::target`].
    #[inline]
    pub fn target(&self, cumulative: i64) -> i64 {
        if cumulative == self.sum { self.total } else { round_cents(cumulative as f64 * self.scale) }
    }
}

/// Shares `total` equally over `recipients`.
pub fn equally<T, R, F, E>(total: i64, recipients: R, pay: F) -> Result<Unpaid, E>
where
    R: Iterator<Item = T> + Clone,
    F: FnMut(T, i64) -> Result<(), E>,
{
    by_i64(total, recipients.map(|r| (r, 1)), pay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn split_f64(total: i64, weights: &[f64]) -> Vec<i64> {
        let mut out = vec![0; weights.len()];
        let unpaid = by_f64::<_, _, _, Infallible>(total, weights.iter().copied().enumerate(), |i, s| {
            out[i] += s;
            Ok(())
        })
        .unwrap();
        assert_eq!(unpaid, 0);
        out
    }

    #[test]
    fn identical_recipients_do_not_pile_up_rounding() {
        // A thousand firms owed 0.4 cents each: rounding each separately would pay 0.
        let shares = split_f64(400, &[1.0; 1000]);
        assert_eq!(shares.iter().sum::<i64>(), 400);
        assert!(shares.iter().all(|&s| s == 0 || s == 1));
    }

    #[test]
    fn shares_are_within_a_cent_and_sum_exactly() {
        let weights = [0.3, 0.0, 2.5, 1e-9, 7.25, 0.1];
        for total in [-1_000_003, -7, 1, 999, 123_456_789] {
            let shares = split_f64(total, &weights);
            assert_eq!(shares.iter().sum::<i64>(), total);
            let sum: f64 = weights.iter().sum();
            for (s, w) in shares.iter().zip(weights) {
                assert!((*s as f64 - total as f64 * w / sum).abs() <= 1.0);
            }
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        for (x, r) in [(0.5, 1), (-0.5, -1), (0.49, 0), (-1.51, -2), (2.5, 3), (1e17, 100_000_000_000_000_000)] {
            assert_eq!(round_cents(x), r, "{x}");
        }
        assert_eq!(round_cents(9_007_199_254_740_993.0), 9_007_199_254_740_992);
    }

    #[test]
    fn splits_chunk_by_chunk_give_the_whole_splits_shares() {
        let weights: Vec<f64> = (0..1_000).map(|i| ((i * 7919) % 101) as f64 / 7.0 - 1.0).collect();
        let whole = split_f64(123_456_789, &weights);
        let sum = weights.iter().fold(0.0, |a, w| a + w.max(0.0));
        let split = RealSplit::new(123_456_789, sum).unwrap();
        let mut shares = Vec::new();
        let mut start = 0.0_f64;
        for chunk in weights.chunks(64) {
            let (mut cumulative, mut given) = (start, split.target(start));
            for w in chunk {
                cumulative += w.max(0.0);
                let target = split.target(cumulative);
                shares.push(target - given);
                given = target;
            }
            start = cumulative;
        }
        assert_eq!(shares, whole);

        let ints: Vec<i64> = (0..1_000).map(|i| (i * 7919) % 1013 - 100).collect();
        let mut whole = vec![0; ints.len()];
        by_i64::<_, _, _, Infallible>(-987_654, ints.iter().copied().enumerate(), |i, s| {
            whole[i] = s;
            Ok(())
        })
        .unwrap();
        let sum: i128 = ints.iter().map(|&w| i128::from(w.max(0))).sum();
        let split = IntSplit::new(-987_654, sum).unwrap();
        let mut shares = Vec::new();
        let mut start = 0_i64;
        for chunk in ints.chunks(100) {
            let (mut cumulative, mut given) = (start, split.target(start));
            for &w in chunk {
                cumulative += w.max(0);
                let target = split.target(cumulative);
                shares.push(target - given);
                given = target;
            }
            start = cumulative;
        }
        assert_eq!(shares, whole);
        assert!(IntSplit::new(5, i128::from(i64::MAX) + 1).is_none() && IntSplit::new(0, 3).is_none());
    }

    #[test]
    fn integer_weights_are_exact() {
        let mut out = [0_i64; 3];
        equally::<_, _, _, Infallible>(-10, 0..3usize, |i, s| {
            out[i] = s;
            Ok(())
        })
        .unwrap();
        assert_eq!(out.iter().sum::<i64>(), -10);
        assert!(out.iter().all(|&s| (-4..=-3).contains(&s)));
        let zero = by_i64::<_, _, _, Infallible>(5, [(0, 0_i64), (1, 0)].into_iter(), |_, _| Ok(())).unwrap();
        assert_eq!(zero, 5);
    }
}
