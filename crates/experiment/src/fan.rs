//! The fan chart's numbers: an ensemble's indicator over ticks, as the mean across seeds
//! and its 95% interval (Student's t) for each block of ticks of the runs' traces, for
//! the baseline and, with a fork, the branch (drawn from its fork on). `plot.rs` draws
//! them in a PNG; the server serves them as JSON (`GET /api/experiments/{id}/fan`) for
//! the dashboard to draw, so the picture and the page show the same numbers.

use serde_json::{Value, json};
use watchtower_store::History;

use crate::execute::ExperimentError;
use crate::spec::ExperimentSpec;
use crate::summary::{RunSummary, TRACE_POINTS};
use crate::table::{ExperimentTable, Interval};

/// One arm of the fan: the baseline (or the runs, without a fork) or the branch.
#[derive(Debug, Clone, PartialEq)]
pub struct FanArm {
    /// Whether this is a fork's branch.
    pub branch: bool,
    /// How many runs' traces it averages (failed runs left out).
    pub runs: usize,
    /// Per block: the block's middle tick and the interval across runs.
    pub points: Vec<(f64, Interval)>,
}

/// Ticks per block of a trace: the runs' ticks over at most [`TRACE_POINTS`] blocks.
pub fn block(ticks: u64) -> u64 {
    ticks.div_ceil(TRACE_POINTS).max(1)
}

/// One arm's sums per block, gathered run by run: the values' count and sum (first
/// pass), then their squared deviations from the block's mean (second pass). These are
/// [`Interval::of`]'s two passes, in the same order, so the numbers are the same; but a
/// run's summary is needed only while it is being added, not all of them at once.
#[derive(Debug, Clone, Default)]
struct ArmSums {
    branch: bool,
    runs: usize,
    n: Vec<usize>,
    sum: Vec<f64>,
    dev: Vec<f64>,
}

impl ArmSums {
    /// Run `s`'s trace of `indicator` in this arm, if it has one (failed runs have none).
    fn trace<'a>(&self, s: &'a RunSummary, indicator: usize) -> Option<&'a Vec<f64>> {
        let arm = if self.branch { s.branch.as_ref() } else { Some(&s.baseline) };
        arm.filter(|_| s.error.is_none()).and_then(|a| a.traces.get(indicator))
    }

    fn add(&mut self, s: &RunSummary, indicator: usize) {
        let Some(trace) = self.trace(s, indicator) else { return };
        self.runs += 1;
        if trace.len() > self.n.len() {
            self.n.resize(trace.len(), 0);
            self.sum.resize(trace.len(), 0.0);
            self.dev.resize(trace.len(), 0.0);
        }
        for (j, &x) in trace.iter().enumerate().filter(|(_, x)| !x.is_nan()) {
            self.n[j] += 1;
            self.sum[j] += x;
        }
    }

    fn deviate(&mut self, s: &RunSummary, indicator: usize) {
        let Some(trace) = self.trace(s, indicator) else { return };
        for (j, &x) in trace.iter().enumerate().filter(|(_, x)| !x.is_nan()) {
            let mean = self.sum[j] / self.n[j] as f64;
            self.dev[j] += (x - mean).powi(2);
        }
    }

    fn finish(self, spec: &ExperimentSpec) -> FanArm {
        let block = block(spec.ticks);
        // A branch is drawn from its fork on (before it, it is the baseline).
        let from = if self.branch { spec.fork.as_ref().map_or(0, |f| f.tick) } else { 0 };
        let points = (0..self.n.len())
            .filter(|&j| (j as u64 + 1) * block > from)
            .map(|j| {
                let start = j as u64 * block;
                let end = ((j as u64 + 1) * block).min(spec.ticks);
                ((start + end) as f64 / 2.0, Interval::from_sums(self.n[j], self.sum[j], self.dev[j]))
            })
            .collect();
        FanArm { branch: self.branch, runs: self.runs, points }
    }
}

/// The arms (`branches`: false for the baseline, true for a fork's branch) of indicator
/// `indicator`'s fan over the runs `each` visits; `each` is called twice, and must visit
/// the same runs in the same order both times.
fn arms<E>(
    spec: &ExperimentSpec,
    indicator: usize,
    branches: &[bool],
    mut each: impl FnMut(&mut dyn FnMut(&RunSummary)) -> Result<(), E>,
) -> Result<Vec<FanArm>, E> {
    let mut sums: Vec<ArmSums> = branches.iter().map(|&branch| ArmSums { branch, ..Default::default() }).collect();
    each(&mut |s| sums.iter_mut().for_each(|a| a.add(s, indicator)))?;
    each(&mut |s| sums.iter_mut().for_each(|a| a.deviate(s, indicator)))?;
    Ok(sums.into_iter().map(|a| a.finish(spec)).collect())
}

/// Indicator `indicator`'s (its index in the spec) fan for one arm of `table`'s runs.
pub fn arm(table: &ExperimentTable, indicator: usize, branch: bool) -> FanArm {
    let visit = |f: &mut dyn FnMut(&RunSummary)| -> Result<(), std::convert::Infallible> {
        table.summaries().for_each(f);
        Ok(())
    };
    let Ok(mut arms) = arms(table.spec(), indicator, &[branch], visit);
    arms.remove(0)
}

/// The arms a fan draws: the baseline (or the runs), and the branch with a fork.
fn branches(spec: &ExperimentSpec) -> &'static [bool] {
    if spec.fork.is_some() { &[false, true] } else { &[false] }
}

/// Indicator `name`'s index in the spec, or why the spec has no fan of it.
fn indicator(spec: &ExperimentSpec, name: &str) -> Result<usize, String> {
    spec.indicators.iter().position(|i| i == name).ok_or_else(|| {
        format!(
            "`indicator` = {name} is not summarised by this experiment; it summarises {}",
            spec.indicators.join(", ")
        )
    })
}

/// The fan of indicator `name` as JSON: `{"indicator", "ticks", "block", "fork_tick",
/// "arms": [{"arm": "baseline"|"branch", "runs": N, "points": [{"tick", "mean", "lo",
/// "hi", "n"}]}], "effects": […]}` (`lo` and `hi` are null with fewer than two runs). A
/// grid keeps no traces: its arms have no points. With a fork, `effects` is the
/// ensemble's effect table ([`effects_json`]), else empty.
pub fn fan_json(table: &ExperimentTable, name: &str) -> Result<Value, String> {
    let spec = table.spec();
    let indicator = indicator(spec, name)?;
    let arms = branches(spec).iter().map(|&branch| arm(table, indicator, branch)).collect::<Vec<_>>();
    let mut effects = Effects::new(spec);
    table.summaries().for_each(|s| effects.add(s));
    Ok(json_of(spec, name, &arms, &effects))
}

/// A fork's effects across the runs, gathered run by run: per indicator, each finished
/// run's effect (branch mean − baseline mean over the window) and baseline mean, as
/// [`ExperimentTable::points`] takes them.
struct Effects {
    fork: bool,
    effect: Vec<Vec<f64>>,
    baseline: Vec<Vec<f64>>,
}

impl Effects {
    fn new(spec: &ExperimentSpec) -> Self {
        let n = spec.indicators.len();
        Self { fork: spec.fork.is_some(), effect: vec![Vec::new(); n], baseline: vec![Vec::new(); n] }
    }

    fn add(&mut self, s: &RunSummary) {
        if !self.fork || s.error.is_some() {
            return;
        }
        for i in 0..self.effect.len() {
            self.effect[i].push(s.effect(i));
            self.baseline[i].push(s.baseline.stats[i].mean);
        }
    }
}

/// An ensemble's effect table as JSON: per summarised indicator `{"indicator", "label",
/// "unit", "effect", "lo", "hi", "runs", "baseline", "level_unit"}`: the mean across runs
/// of the branch's window mean minus the baseline's, with its Student's t 95% interval
/// (the numbers of the table's `effect_*` columns and of the CLI's report), read in the
/// units of the live forecast (`ensemble::measured`: a share's effect in percentage
/// points).
fn effects_json(spec: &ExperimentSpec, effects: &Effects) -> Value {
    let number = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    if !effects.fork {
        return json!([]);
    }
    let rows = spec.indicators.iter().enumerate().map(|(i, name)| {
        let m = crate::ensemble::measured(name);
        let e = Interval::of(effects.effect[i].iter().copied());
        let level = Interval::of(effects.baseline[i].iter().copied());
        json!({
            "indicator": name, "label": m.label, "unit": m.effect_unit,
            "effect": number(e.mean * m.scale), "lo": number(e.lo * m.scale), "hi": number(e.hi * m.scale),
            "runs": e.n, "baseline": number(level.mean * m.scale), "level_unit": m.level_unit,
        })
    });
    Value::Array(rows.collect())
}

fn json_of(spec: &ExperimentSpec, name: &str, arms: &[FanArm], effects: &Effects) -> Value {
    let number = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({
        "effects": effects_json(spec, effects),
        "indicator": name,
        "ticks": spec.ticks,
        "block": block(spec.ticks),
        "fork_tick": spec.fork.as_ref().map(|f| f.tick),
        "arms": arms.iter().map(|a| json!({
            "arm": if a.branch { "branch" } else { "baseline" },
            "runs": a.runs,
            "points": a.points.iter().map(|(tick, i)| json!({
                "tick": tick, "mean": number(i.mean), "lo": number(i.lo), "hi": number(i.hi), "n": i.n,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// What a reader of the store asked for: the fan, no such experiment, or a question
/// that has no answer (an indicator the experiment does not summarise).
#[derive(Debug, Clone, PartialEq)]
pub enum FanAnswer {
    /// The fan chart's numbers ([`fan_json`]).
    Fan(Value),
    /// No experiment with that id.
    NoExperiment,
    /// No fan of that indicator here: the experiment does not summarise it, or it is a
    /// grid (whose runs keep no traces).
    NotSummarised(String),
}

/// Summaries read from the store at a time while a fan is computed: the most a fan
/// holds at once (about 8 KB each at 200 trace points and five indicators).
const FAN_PAGE: usize = 256;

/// Experiment `id`'s fan of indicator `name`, read from the store a page of summaries at
/// a time (twice: [`ArmSums`]), so its memory does not grow with the number of runs. A
/// grid is refused: its runs keep no traces, so it has no fan.
pub fn read(history: &History, id: i64, name: &str) -> Result<FanAnswer, ExperimentError> {
    let Some(detail) = history.experiment(id)? else { return Ok(FanAnswer::NoExperiment) };
    let spec = ExperimentSpec::parse_with(&detail.spec, &detail.row.source, &detail.overrides)?;
    if !spec.axes.is_empty() {
        return Ok(FanAnswer::NotSummarised(format!(
            "experiment {id} is a grid: its runs keep no traces over ticks, so it has no fan chart \
             (an ensemble, a spec without axes, has one)"
        )));
    }
    let indicator = match indicator(&spec, name) {
        Ok(indicator) => indicator,
        Err(message) => return Ok(FanAnswer::NotSummarised(message)),
    };
    let planned = spec.runs() as u64;
    let mut each = |visit: &mut dyn FnMut(&RunSummary)| -> Result<(), ExperimentError> {
        let mut from = 0;
        loop {
            let rows = history.encoded_summaries(id, from, FAN_PAGE)?;
            let Some(&(last, _, _)) = rows.last() else { return Ok(()) };
            from = last + 1;
            for (run, format, bytes) in rows {
                visit(&crate::store::decode(id, run, format, &bytes, planned)?);
            }
        }
    };
    let arms = arms(&spec, indicator, branches(&spec), &mut each)?;
    let mut effects = Effects::new(&spec);
    if effects.fork {
        each(&mut |s| effects.add(s))?;
    }
    Ok(FanAnswer::Fan(json_of(&spec, name, &arms, &effects)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::ArmSummary;

    /// Runs with traces of uneven lengths, NaNs and a failed run: the sums gathered run
    /// by run give `Interval::of`'s numbers over each block, bit for bit.
    #[test]
    fn sums_run_by_run_are_interval_of_bit_for_bit() {
        let spec = ExperimentSpec::parse("name: t\nticks: 5\nseeds: 4\n", "t.yaml").unwrap();
        let traces = [vec![0.1, 0.25, f64::NAN, 1e9], vec![0.3, -0.0, 7.5], vec![-2.0, 0.125, 3.0, 1e-9, 4.0], vec![]];
        let summaries: Vec<RunSummary> = traces
            .iter()
            .enumerate()
            .map(|(run, trace)| RunSummary {
                run: run as u64,
                point: 0,
                seed: run as u64 + 1,
                ticks: 5,
                baseline: ArmSummary { phase: None, stats: vec![], traces: vec![trace.clone()] },
                branch: None,
                error: (run == 3).then(|| "failed".to_string()),
            })
            .collect();
        let each = |visit: &mut dyn FnMut(&RunSummary)| -> Result<(), ()> {
            summaries.iter().for_each(visit);
            Ok(())
        };
        let arm = arms(&spec, 0, &[false], each).unwrap().remove(0);
        assert_eq!(arm.runs, 3);
        assert_eq!(arm.points.len(), 5);
        for (j, (_, got)) in arm.points.iter().enumerate() {
            let want = Interval::of(traces[..3].iter().filter_map(|t| t.get(j).copied()));
            let bits = |i: &Interval| [i.mean.to_bits(), i.lo.to_bits(), i.hi.to_bits(), i.n as u64];
            assert_eq!(bits(got), bits(&want), "block {j}");
        }
    }
}
