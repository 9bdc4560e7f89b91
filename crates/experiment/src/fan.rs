//! The fan chart's numbers: an ensemble's indicator over ticks, as the mean across seeds
//! and its 95% interval (Student's t) for each block of ticks of the runs' traces, for
//! the baseline and, with a fork, the branch (drawn from its fork on). `plot.rs` draws
//! them in a PNG; the server serves them as JSON (`GET /api/experiments/{id}/fan`) for
//! the dashboard to draw, so the picture and the page show the same numbers.

use serde_json::{Value, json};

use crate::summary::TRACE_POINTS;
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

/// Indicator `indicator`'s (its index in the spec) fan for one arm of `table`'s runs.
pub fn arm(table: &ExperimentTable, indicator: usize, branch: bool) -> FanArm {
    let spec = table.spec();
    let block = block(spec.ticks);
    let traces: Vec<&Vec<f64>> = table
        .summaries()
        .filter(|s| s.error.is_none())
        .filter_map(|s| if branch { s.branch.as_ref() } else { Some(&s.baseline) })
        .filter_map(|a| a.traces.get(indicator))
        .collect();
    let len = traces.iter().map(|t| t.len()).max().unwrap_or(0);
    // A branch is drawn from its fork on (before it, it is the baseline).
    let from = if branch { spec.fork.as_ref().map_or(0, |f| f.tick) } else { 0 };
    let points = (0..len)
        .filter(|&j| (j as u64 + 1) * block > from)
        .map(|j| {
            let start = j as u64 * block;
            let end = ((j as u64 + 1) * block).min(spec.ticks);
            ((start + end) as f64 / 2.0, Interval::of(traces.iter().filter_map(|t| t.get(j).copied())))
        })
        .collect();
    FanArm { branch, runs: traces.len(), points }
}

/// The fan of indicator `name` as JSON: `{"indicator", "ticks", "block", "fork_tick",
/// "arms": [{"arm": "baseline"|"branch", "runs": N, "points": [{"tick", "mean", "lo",
/// "hi", "n"}]}]}` (`lo` and `hi` are null with fewer than two runs). A grid keeps no
/// traces: its arms have no points.
pub fn fan_json(table: &ExperimentTable, name: &str) -> Result<Value, String> {
    let spec = table.spec();
    let Some(indicator) = spec.indicators.iter().position(|i| i == name) else {
        return Err(format!(
            "`indicator` = {name} is not summarised by this experiment; it summarises {}",
            spec.indicators.join(", ")
        ));
    };
    let mut arms = vec![arm(table, indicator, false)];
    if spec.fork.is_some() {
        arms.push(arm(table, indicator, true));
    }
    let number = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    Ok(json!({
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
    }))
}

/// What a reader of the store asked for: the fan, no such experiment, or a question
/// that has no answer (an indicator the experiment does not summarise).
#[derive(Debug, Clone, PartialEq)]
pub enum FanAnswer {
    /// The fan chart's numbers ([`fan_json`]).
    Fan(Value),
    /// No experiment with that id.
    NoExperiment,
    /// The indicator is not one of the experiment's.
    NotSummarised(String),
}
