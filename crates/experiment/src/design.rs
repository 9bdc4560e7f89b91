//! Designs: which points an experiment runs. A grid (the product of the axes' values,
//! the default) or a Saltelli design for Sobol sensitivity indices over ranges.
//!
//! The Saltelli design takes one scrambled Sobol sequence in 2D dimensions (D = the
//! number of axes): its first D coordinates are the matrix A, the other D the matrix B,
//! as SALib's `sobol.sample` builds them. Its points come in SALib's order, so the
//! exported `point` column can be handed to SALib's `sobol.analyze` as it is: for each
//! base sample j, A_j, then A_j with column i taken from B_j for i = 1..D, then (second
//! order only) B_j with column i taken from A_j for i = 1..D, then B_j. The sequence is
//! Owen-scrambled by its seed (`sobol_burley`), so a point is computed from its index
//! alone: any run of any shard knows its values without the others.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sobol_burley::NUM_DIMENSIONS;

/// How an experiment picks its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Design {
    /// The product of the axes' values, the last axis varying fastest.
    #[default]
    Grid,
    /// A Saltelli design over the axes' ranges, for Sobol indices.
    Sobol(Sobol),
    /// Morris trajectories over the axes' ranges, for elementary effects (screening).
    Morris(Morris),
}

impl Design {
    /// What the design is, for the stored layout (`null` for a grid).
    pub fn layout(&self) -> serde_json::Value {
        match self {
            Design::Grid => serde_json::Value::Null,
            Design::Sobol(s) => serde_json::json!({"sobol": {
                "samples": s.samples, "seed": s.seed, "second_order": s.second_order,
            }}),
            Design::Morris(m) => serde_json::json!({"morris": {
                "trajectories": m.trajectories, "levels": m.levels, "seed": m.seed,
            }}),
        }
    }

    /// The design's points with `d` parameters (a grid's are its axes' product).
    pub fn points(&self, d: usize) -> Option<usize> {
        match self {
            Design::Grid => None,
            Design::Sobol(s) => Some(s.points(d)),
            Design::Morris(m) => Some(m.points(d)),
        }
    }

    /// Point `point`'s values over the axes' `ranges` (none for a grid).
    pub fn values(&self, point: u64, ranges: &[(f64, f64)]) -> Option<Vec<f64>> {
        match self {
            Design::Grid => None,
            Design::Sobol(s) => Some(s.values(point, ranges)),
            Design::Morris(m) => Some(m.values(point, ranges)),
        }
    }

    /// Its name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Design::Grid => "grid",
            Design::Sobol(_) => "Sobol",
            Design::Morris(_) => "Morris",
        }
    }
}

/// `design: {morris: {trajectories: R, levels: p, seed: S}}`: R trajectories of D + 1
/// points on a p-level grid of the unit cube, each moving one parameter at a time by
/// Δ = p / (2(p − 1)), in the order of SALib's `morris.sample` (without optimised
/// trajectories): trajectory t's start x* (each coordinate one of the p/2 levels of
/// [0, 1 − Δ]), the order the parameters move in and their directions are drawn from
/// a generator seeded by (seed, t), so a point is computed from its index alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Morris {
    /// R, the trajectories.
    pub trajectories: usize,
    /// p, the grid's levels (even).
    pub levels: usize,
    /// The generator's seed.
    pub seed: u64,
}

/// One Morris trajectory: where it starts and how it moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// x*, the lower corner of each parameter's step.
    pub start: Vec<f64>,
    /// The step (1..=D) at which each parameter moves.
    pub step: Vec<usize>,
    /// Whether each parameter moves up (from x* to x* + Δ) or down.
    pub up: Vec<bool>,
}

impl Morris {
    /// Most trajectories.
    pub const MAX_TRAJECTORIES: usize = 1_000_000;

    /// Δ, the step: p / (2(p − 1)).
    pub fn delta(&self) -> f64 {
        self.levels as f64 / (2.0 * (self.levels as f64 - 1.0))
    }

    /// The design's points with `d` parameters: R·(D + 1).
    pub fn points(&self, d: usize) -> usize {
        self.trajectories * (d + 1)
    }

    /// Trajectory `t` over `d` parameters.
    pub fn trajectory(&self, t: u64, d: usize) -> Trajectory {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(t);
        let mut below = |n: usize| ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize;
        // A random order of the parameters (Fisher–Yates): order[k] moves at step k + 1.
        let mut order: Vec<usize> = (0..d).collect();
        for i in (1..d).rev() {
            order.swap(i, below(i + 1));
        }
        let mut step = vec![0; d];
        for (k, &j) in order.iter().enumerate() {
            step[j] = k + 1;
        }
        let up = (0..d).map(|_| below(2) == 1).collect();
        let n = self.levels / 2;
        let top = 1.0 - self.delta();
        let start = (0..d).map(|_| if n <= 1 { 0.0 } else { top * below(n) as f64 / (n - 1) as f64 }).collect();
        Trajectory { start, step, up }
    }

    /// Point `point`'s coordinates in the unit cube.
    pub fn unit(&self, point: u64, d: usize) -> Vec<f64> {
        let (t, k) = (point / (d as u64 + 1), (point % (d as u64 + 1)) as usize);
        let tr = self.trajectory(t, d);
        (0..d).map(|j| if (tr.step[j] <= k) == tr.up[j] { tr.start[j] + self.delta() } else { tr.start[j] }).collect()
    }

    /// Point `point`'s values, scaled to the ranges as SALib scales.
    pub fn values(&self, point: u64, ranges: &[(f64, f64)]) -> Vec<f64> {
        self.unit(point, ranges.len()).into_iter().zip(ranges).map(|(u, (from, to))| u * (to - from) + from).collect()
    }
}

/// `design: {sobol: {samples: N, seed: S, second_order: false}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sobol {
    /// N, the base samples (rows of A and of B). SALib advises a power of two.
    pub samples: usize,
    /// The sequence's scrambling seed.
    pub seed: u32,
    /// Whether the design also serves second-order indices: 2D + 2 points per base
    /// sample instead of D + 2.
    pub second_order: bool,
}

impl Sobol {
    /// Most base samples: the sequence's index is 16 bits.
    pub const MAX_SAMPLES: usize = 1 << 16;
    /// Most parameters: A and B take two dimensions each of the sequence's.
    pub const MAX_PARAMETERS: usize = NUM_DIMENSIONS as usize / 2;

    /// Points per base sample with `d` parameters: D + 2, or 2D + 2 with second order.
    pub fn block(&self, d: usize) -> usize {
        if self.second_order { 2 * d + 2 } else { d + 2 }
    }

    /// The design's points with `d` parameters.
    pub fn points(&self, d: usize) -> usize {
        self.samples * self.block(d)
    }

    /// Point `point`'s coordinates in the unit cube, in SALib's order.
    pub fn unit(&self, point: u64, d: usize) -> Vec<f64> {
        let block = self.block(d) as u64;
        let (j, k) = ((point / block) as u32, (point % block) as usize);
        let last = self.block(d) - 1;
        (0..d)
            .map(|i| {
                let from_b = match k {
                    0 => false,
                    k if k == last => true,
                    // A_j with column k-1 from B_j.
                    k if k <= d => i == k - 1,
                    // B_j with column k-1-d from A_j (second order).
                    k => i != k - 1 - d,
                };
                let dim = if from_b { i + d } else { i };
                f64::from(sobol_burley::sample(j, dim as u32, self.seed))
            })
            .collect()
    }

    /// Point `point`'s values, each axis's unit coordinate scaled to its range as SALib
    /// scales (`u * (to - from) + from`).
    pub fn values(&self, point: u64, ranges: &[(f64, f64)]) -> Vec<f64> {
        self.unit(point, ranges.len()).into_iter().zip(ranges).map(|(u, (from, to))| u * (to - from) + from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_come_in_saltellis_order() {
        let s = Sobol { samples: 4, seed: 7, second_order: false };
        let d = 3;
        assert_eq!(s.points(d), 20);
        for j in 0..4u64 {
            let base = j * 5;
            let a = s.unit(base, d);
            let b = s.unit(base + 4, d);
            assert!(a.iter().zip(&b).all(|(x, y)| x != y), "A and B are different dimensions");
            for i in 0..d {
                let ab = s.unit(base + 1 + i as u64, d);
                for c in 0..d {
                    assert_eq!(ab[c], if c == i { b[c] } else { a[c] });
                }
            }
            assert!(a.iter().chain(&b).all(|u| (0.0..1.0).contains(u)));
        }
        let s2 = Sobol { second_order: true, ..s };
        assert_eq!(s2.points(d), 32);
        let (a, b) = (s2.unit(8, d), s2.unit(15, d));
        assert_eq!(a, s.unit(5, d));
        let ba = s2.unit(8 + 4 + 1, d);
        assert_eq!(ba, vec![b[0], a[1], b[2]], "B with column 2 from A");
        let scaled = s.values(0, &[(1.0, 3.0), (0.0, 1.0), (-1.0, 1.0)]);
        let u = s.unit(0, d);
        assert_eq!(scaled[0], u[0] * 2.0 + 1.0);
    }

    #[test]
    fn a_morris_trajectory_moves_one_parameter_a_step_at_a_time() {
        let m = Morris { trajectories: 5, levels: 4, seed: 7 };
        let d = 3;
        assert_eq!((m.points(d), m.delta()), (20, 2.0 / 3.0));
        for t in 0..5u64 {
            let rows: Vec<Vec<f64>> = (0..=d as u64).map(|k| m.unit(t * 4 + k, d)).collect();
            let mut moved = vec![false; d];
            for k in 1..=d {
                let changed: Vec<usize> = (0..d).filter(|&j| rows[k][j] != rows[k - 1][j]).collect();
                assert_eq!(changed.len(), 1, "one parameter per step: {rows:?}");
                let j = changed[0];
                assert!(!moved[j]);
                moved[j] = true;
                assert!(((rows[k][j] - rows[k - 1][j]).abs() - m.delta()).abs() < 1e-12);
            }
            for row in &rows {
                for &u in row {
                    assert!([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0].iter().any(|l| (u - l).abs() < 1e-12), "{u}");
                }
            }
        }
        assert_ne!(m.trajectory(0, d), m.trajectory(1, d));
    }

    #[test]
    fn the_base_samples_fill_the_cube_evenly() {
        // A Sobol sequence puts one point of any 2^k prefix in each of 2^k slices of a
        // dimension: a property a pseudo-random design does not have.
        let s = Sobol { samples: 64, seed: 3, second_order: false };
        for dim in 0..4 {
            let mut slices = [0; 64];
            for j in 0..64u64 {
                let u = s.unit(j * 4, 2)[dim % 2];
                let u = if dim < 2 { u } else { s.unit(j * 4 + 3, 2)[dim % 2] };
                slices[(u * 64.0) as usize] += 1;
            }
            assert!(slices.iter().all(|&n| n == 1), "dimension {dim}: {slices:?}");
        }
    }
}
