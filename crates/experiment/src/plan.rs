//! The plan: run index → (grid point, seed, scenario), fixed by the spec alone.
//!
//! Grid points are numbered in the order of the axes as written, the last axis varying
//! fastest; a design's points in the design's order ([`crate::design`]); run `r` is
//! point `r / seeds` with the `r % seeds`-th seed. So the table
//! of an experiment, sorted by run, has the same rows in the same order however many
//! threads, processes or interruptions produced it.

use std::str::FromStr;
use std::sync::Arc;

use watchtower_engine::RawValue;

use watchtower_runner::scenario::Scenario;

use crate::spec::ExperimentSpec;

/// One planned run.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Its index, 0-based.
    pub index: u64,
    /// Its grid point, 0-based.
    pub point: u64,
    /// Its seed.
    pub seed: u64,
    /// The grid point's value on each axis, in the spec's order.
    pub values: Vec<RawValue>,
    /// What it runs.
    pub scenario: Scenario,
}

/// An experiment's runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Plan {
    spec: Arc<ExperimentSpec>,
}

impl Plan {
    /// The plan of a checked spec.
    pub fn new(spec: ExperimentSpec) -> Self {
        Self { spec: Arc::new(spec) }
    }

    /// The spec.
    pub fn spec(&self) -> &ExperimentSpec {
        &self.spec
    }

    /// Runs in the plan.
    pub fn len(&self) -> u64 {
        self.spec.runs() as u64
    }

    /// Whether the plan has no runs (never: a spec has at least one point and one seed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Grid points.
    pub fn points(&self) -> u64 {
        self.spec.points() as u64
    }

    /// The values of point `point` on each axis.
    pub fn point_values(&self, point: u64) -> Vec<RawValue> {
        if let Some(values) = self.spec.design.values(point, &self.spec.ranges()) {
            return values.into_iter().map(RawValue::Float).collect();
        }
        let mut rest = point as usize;
        let mut values = vec![RawValue::Int(0); self.spec.axes.len()];
        for (slot, axis) in values.iter_mut().zip(&self.spec.axes).rev() {
            let n = axis.values.len();
            *slot = axis.values[rest % n].clone();
            rest /= n;
        }
        values
    }

    /// The grid point's index on each axis (a grid's; a design's points have none).
    pub fn point_indices(&self, point: u64) -> Vec<usize> {
        let mut rest = point as usize;
        let mut idx = vec![0; self.spec.axes.len()];
        for (slot, axis) in idx.iter_mut().zip(&self.spec.axes).rev() {
            let n = axis.values.len();
            *slot = rest % n;
            rest /= n;
        }
        idx
    }

    /// Run `index` (< [`Plan::len`]).
    pub fn run(&self, index: u64) -> PlannedRun {
        assert!(index < self.len(), "run {index} is outside the plan of {} runs", self.len());
        let seeds = self.spec.seeds.len() as u64;
        let point = index / seeds;
        let seed = self.spec.seeds[(index % seeds) as usize];
        let values = self.point_values(point);
        let scenario = self.spec.scenario(&values, seed);
        PlannedRun { index, point, seed, values, scenario }
    }

    /// The runs of `shard`, in order.
    pub fn shard(&self, shard: Shard) -> impl Iterator<Item = u64> + use<> {
        (shard.index..self.len()).step_by(shard.count as usize)
    }
}

/// `I/N`: the I-th (0-based) of N disjoint slices of the runs, taking every N-th run
/// from run I, so every slice gets a fair share of cheap and dear grid points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I, 0-based.
    pub index: u64,
    /// N.
    pub count: u64,
}

impl Shard {
    /// The whole plan as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "--shard {s}: expected I/N with 0 <= I < N, e.g. 0/4 (I is $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX)"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count || count > 1_000_000 {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_walk_the_grid_last_axis_fastest() {
        let spec = ExperimentSpec::parse(
            "name: p\nticks: 5\nseeds: [7, 9]\naxes:\n  firms.hiring_firing_ratio: [1, 2]\n  firms.bankruptcy_threshold: [1, 2, 3]\n",
            "p.yaml",
        )
        .unwrap();
        let plan = Plan::new(spec);
        assert_eq!(plan.len(), 12);
        let r = plan.run(3);
        assert_eq!((r.point, r.seed), (1, 9));
        assert_eq!(r.values, vec![RawValue::Int(1), RawValue::Int(2)]);
        let r = plan.run(11);
        assert_eq!(r.values, vec![RawValue::Int(2), RawValue::Int(3)]);
        assert_eq!(r.scenario.settings.last().unwrap().key, "firms.bankruptcy_threshold");
        let shards: Vec<Vec<u64>> = (0..3).map(|i| plan.shard(Shard { index: i, count: 3 }).collect()).collect();
        assert_eq!(shards[1], [1, 4, 7, 10]);
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), 12);
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert!("4/4".parse::<Shard>().is_err());
    }

    #[test]
    fn a_sobol_designs_runs_walk_its_points_in_salibs_order() {
        let spec = ExperimentSpec::parse(
            "name: s\nticks: 5\nseeds: [7, 9]\ndesign: {sobol: {samples: 4, seed: 3}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 4}\n  firms.price_adjustment: {from: 0.02, to: 0.3}\n",
            "s.yaml",
        )
        .unwrap();
        let plan = Plan::new(spec);
        assert_eq!((plan.points(), plan.len()), (16, 32));
        let x = |run: u64| -> Vec<f64> {
            plan.run(run).values.iter().map(|v| if let RawValue::Float(x) = v { *x } else { f64::NAN }).collect()
        };
        let (a, ab1, ab2, b) = (x(8), x(10), x(12), x(14));
        assert_eq!((plan.run(9).point, plan.run(9).seed), (4, 9));
        assert_eq!(x(9), a, "both seeds of a point run its values");
        assert_eq!(ab1, vec![b[0], a[1]]);
        assert_eq!(ab2, vec![a[0], b[1]]);
        assert!((1.0..4.0).contains(&a[0]) && (0.02..0.3).contains(&a[1]));
        assert_eq!(plan.run(8).scenario.settings.last().unwrap().value, RawValue::Float(a[1]));
    }
}
