//! The logit weights e^x, one per firm, twice a tick: the wage logit that steers the
//! unemployed (phase 2) and the price logit that steers demand (phase 6).
//!
//! Every number of a run depends on these weights to the last bit, and they have always
//! been libm's `exp` (the libm crate's port of FreeBSD's `e_exp.c`). That `exp` is a
//! call per firm with branches on the argument's range, a tenth of the crisis economy's
//! time. [`weights`] computes the very same values for a whole slice: libm's algorithm
//! with its branches turned into selections, the same operations on the same operands in
//! the same order, so the same bits, in a loop without calls or branches that the
//! compiler can vectorise. Arguments for which that algorithm takes a special path
//! (|x| ≥ 708.39…, where `exp` overflows or its scaling needs more than one step) send
//! the whole slice to libm itself; the logits never come near them in a sane economy.

use std::hint::select_unpredictable;

/// Arguments at or below this count as zero (the authors' cut-off): their weight is
/// written as −1, which marks it (e^x > 0 above the floor).
const FLOOR: f64 = -100.0;

// libm's constants (e_exp.c), by their bits as its source gives them.
const LN2HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INVLN2: f64 = f64::from_bits(0x3ff7_1547_652b_82fe);
const P1: f64 = f64::from_bits(0x3fc5_5555_5555_553e);
const P2: f64 = f64::from_bits(0xbf66_c16c_16be_bd93);
const P3: f64 = f64::from_bits(0x3f11_566a_af25_de2c);
const P4: f64 = f64::from_bits(0xbebb_bd41_c5d2_6bf1);
const P5: f64 = f64::from_bits(0x3e66_3769_72be_a4d0);

// libm's branches compare the high 32 bits of |x|'s bits with a constant; for |x| not a
// NaN that is a comparison of |x| with the double whose high word is the constant (or
// the next one, for a strict comparison) and whose low word is 0.
/// `hx >= 0x4086232b`: |x| ≥ 708.39…, libm's special cases.
const SPECIAL: f64 = f64::from_bits(0x4086_232b_0000_0000);
/// `hx >= 0x3ff0a2b2`: |x| ≥ 1.5·ln 2, reduced by k = [x/ln 2].
const ROUNDED: f64 = f64::from_bits(0x3ff0_a2b2_0000_0000);
/// `hx > 0x3fd62e42`: |x| > 0.5·ln 2, reduced by k = ±1.
const REDUCED: f64 = f64::from_bits(0x3fd6_2e43_0000_0000);
/// `hx > 0x3e300000`: |x| > 2⁻²⁸; below it, e^x is 1 + x.
const TINY: f64 = f64::from_bits(0x3e30_0001_0000_0000);

/// Replaces each firm's argument in `xs` by its weight: e^x (as `libm::exp(x)`, bit for
/// bit) above the floor, −1 at or below it (or for a NaN).
///
/// libm's own branches cost nothing when nearly every argument takes the same path, and
/// its shortest path (|x| ≤ 0.5·ln 2, no reduction) is cheaper than the selections: the
/// price logit, whose prices sit within a few percent of the lowest, is such a slice.
/// The wage logit, whose arguments spread over libm's paths, is not. So a slice in which
/// fewer than one argument in sixteen needs a reduction goes to libm, any other to the
/// selections; both give the same bits.
pub(super) fn weights(xs: &mut [f64]) {
    // A NaN is never at or above SPECIAL, nor above the floor: it takes the floor's −1.
    let (special, reduced) = xs.iter().fold((false, 0usize), |(special, reduced), &x| {
        (special | (x >= SPECIAL), reduced + usize::from(x > FLOOR && x.abs() >= REDUCED))
    });
    if special || reduced * 16 < xs.len() {
        for x in xs.iter_mut() {
            *x = if *x > FLOOR { libm::exp(*x) } else { -1.0 };
        }
        return;
    }
    for x in xs.iter_mut() {
        *x = select_unpredictable(*x > FLOOR, exp(*x), -1.0);
    }
}

/// 1.5·2⁵²: added to and taken from a double below 2⁵¹ in magnitude, rounds it to an
/// integer (to nearest, ties to even); added to a whole number below 2¹², leaves that
/// number in the low bits.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// `libm::exp(x)` for |x| < 708.39… (not a NaN), in arithmetic alone: no conversion to
/// an integer, and every choice a selection the compiler is told not to turn into a
/// branch (which of libm's paths an argument takes follows the firms' wages or prices,
/// which the processor cannot predict).
#[inline(always)]
fn exp(x: f64) -> f64 {
    let a = x.abs();
    // Argument reduction: x = k·ln 2 + r, r = hi − lo, with libm's k: the integer part
    // (towards zero) of x/ln 2 ± ½ from 1.5·ln 2 up, ±1 above 0.5·ln 2, else 0. For
    // k = 0 the same formulas give hi = x − 0 = x, lo = 0 and r = x, libm's values on
    // that path. Here |t| < 1,100: `ROUNDER` rounds it exactly, and one step towards
    // zero where that rounding went away from it makes the integer part.
    let t = INVLN2 * x + 0.5_f64.copysign(x);
    let nearest = (t + ROUNDER) - ROUNDER;
    let whole = nearest - select_unpredictable(t >= 0.0 && nearest > t, 1.0, 0.0)
        + select_unpredictable(t < 0.0 && nearest < t, 1.0, 0.0);
    let k = select_unpredictable(a >= ROUNDED, whole, select_unpredictable(a >= REDUCED, 1.0_f64.copysign(x), 0.0));
    let hi = x - k * LN2HI;
    let lo = k * LN2LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // scalbn(y, k) for −1022 ≤ k ≤ 1023 is y·2^k (and y·1 = y for k = 0): 2^k's bits
    // are k + 1023 shifted into the exponent, and k + 1023 + 2⁵² holds k + 1023 in its
    // low bits (the bits above shift out).
    let scale = f64::from_bits((k + 1023.0 + 4_503_599_627_370_496.0).to_bits() << 52);
    select_unpredictable(a >= TINY, y * scale, 1.0 + x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exp` against libm, for an argument in its range.
    fn same(x: f64) {
        if x.is_nan() || x.abs() >= SPECIAL {
            return;
        }
        assert_eq!(exp(x).to_bits(), libm::exp(x).to_bits(), "e^{x:e} ({:#018x})", x.to_bits());
    }

    #[test]
    fn the_same_bits_as_libm() {
        // Around every boundary of libm's paths, a few thousand ulps either way.
        for edge in [0.0, TINY, REDUCED, ROUNDED, SPECIAL, 100.0, 1.0, 0.5, 10.0, 700.0] {
            for sign in [1.0, -1.0] {
                let bits = (sign * edge).to_bits();
                for d in 0..4_000u64 {
                    same(f64::from_bits(bits.wrapping_add(d)));
                    same(f64::from_bits(bits.wrapping_sub(d)));
                }
            }
        }
        // Random arguments over the whole range, uniform and by bit pattern.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2_000_000 {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            same(1_500.0 * u - 750.0);
            same(20.0 * u - 10.0);
            same(0.7 * u - 0.35);
            same(f64::from_bits(next()));
        }
        for x in [-0.0, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 708.0, -708.0] {
            same(x);
        }
    }

    /// `weights` of `xs` against libm's weights, element by element.
    fn weighs_as_libm(xs: &[f64]) {
        let mut got = xs.to_vec();
        weights(&mut got);
        for (x, w) in xs.iter().zip(got) {
            let want = if *x > FLOOR { libm::exp(*x) } else { -1.0 };
            assert_eq!(w.to_bits(), want.to_bits(), "e^{x:e}");
        }
    }

    #[test]
    fn every_slice_weighs_as_libm() {
        // A special argument: libm throughout.
        weighs_as_libm(&[-3.5, 0.25, 709.5, -120.0, f64::NAN, 2.0, f64::INFINITY, f64::NEG_INFINITY]);
        // Spread over every path: the selections.
        weighs_as_libm(&(0..1_000).map(|i| -150.0 + 0.173 * f64::from(i)).collect::<Vec<_>>());
        // Nearly all without a reduction: libm.
        weighs_as_libm(
            &(0..1_000).map(|i| -0.3 + 0.0006 * f64::from(i) + if i == 7 { -5.0 } else { 0.0 }).collect::<Vec<_>>(),
        );
        weighs_as_libm(&[]);
    }
}
