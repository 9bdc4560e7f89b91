//! A summary column over one or two of the grid's axes: each cell the mean and 95%
//! interval ([`Interval`]) over its runs (its seeds, and the values of any further axes)
//! and the Mark-0 phase most of them ended in. The PNG (`plot.rs`) draws these cells, and
//! the server serves them as JSON (`GET /api/experiments/{id}/cells`) for the dashboard's
//! heat map to draw, so the picture, the page and the printed summary share one set of
//! statistics.

use serde_json::{Value, json};

use watchtower_runner::report::{EconomicPhase, PHASE_SYMBOLS};

use crate::spec::ExperimentSpec;
use crate::summary::{RunSummary, Stats};
use crate::table::{ExperimentTable, Interval, majority};

/// Where a summary column's numbers come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source {
    Baseline(usize, usize),
    Branch(usize, usize),
    Effect(usize),
}

/// Resolves a column name (`unemployment_rate_mean`, `branch_inflation_p95`,
/// `effect_gini_wealth`) against the spec.
pub(crate) fn source(spec: &ExperimentSpec, column: &str) -> Option<Source> {
    if let Some(ind) = column.strip_prefix("effect_") {
        return spec.fork.as_ref().and(spec.indicators.iter().position(|i| i == ind)).map(Source::Effect);
    }
    let (branch, rest) = match column.strip_prefix("branch_") {
        Some(rest) if spec.fork.is_some() => (true, rest),
        _ => (false, column),
    };
    for (i, ind) in spec.indicators.iter().enumerate() {
        if let Some(stat) = rest.strip_prefix(ind.as_str()).and_then(|r| r.strip_prefix('_')) {
            let s = Stats::NAMES.iter().position(|n| *n == stat)?;
            return Some(if branch { Source::Branch(i, s) } else { Source::Baseline(i, s) });
        }
    }
    None
}

/// Run `s`'s number of the column (NaN for a run that stopped with an error).
pub(crate) fn value(src: Source, s: &RunSummary) -> f64 {
    if s.error.is_some() {
        return f64::NAN;
    }
    match src {
        Source::Baseline(i, k) => s.baseline.stats[i].values()[k],
        Source::Branch(i, k) => s.branch.as_ref().map_or(f64::NAN, |b| b.stats[i].values()[k]),
        Source::Effect(i) => s.effect(i),
    }
}

/// The columns `--plot-summary` accepts for this spec.
pub fn plottable(spec: &ExperimentSpec) -> Vec<String> {
    let mut out = Vec::new();
    for ind in &spec.indicators {
        for stat in Stats::NAMES {
            out.push(format!("{ind}_{stat}"));
        }
    }
    if spec.fork.is_some() {
        for ind in &spec.indicators {
            out.push(format!("effect_{ind}"));
        }
    }
    out
}

/// One cell: the runs whose grid point has value `x` on the first axis asked for and `y`
/// on the second.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Index of the value on the horizontal axis.
    pub x: usize,
    /// Index of the value on the vertical axis (0 with one axis).
    pub y: usize,
    /// The column's mean over the cell's runs and its 95% interval (failed runs left out).
    pub value: Interval,
    /// The phase most of its runs (without error) ended in.
    pub phase: Option<EconomicPhase>,
}

/// Column `src` of `table` over axes `x` and `y` (`None`: one row), cell `(x, y)` at
/// `x * ny + y`, every cell of the grid whether or not a run finished there.
pub(crate) fn cells(table: &ExperimentTable, src: Source, x: usize, y: Option<usize>) -> Vec<Cell> {
    let axes = &table.spec().axes;
    let plan = table.plan();
    let (nx, ny) = (axes[x].values.len(), y.map_or(1, |y| axes[y].values.len()));
    let mut values = vec![Vec::new(); nx * ny];
    let mut phases = vec![Vec::new(); nx * ny];
    for s in table.summaries() {
        let idx = plan.point_indices(s.point);
        let cell = idx[x] * ny + y.map_or(0, |y| idx[y]);
        values[cell].push(value(src, s));
        if s.error.is_none()
            && let Some(p) = s.baseline.phase
        {
            phases[cell].push(p);
        }
    }
    values
        .into_iter()
        .zip(phases)
        .enumerate()
        .map(|(cell, (values, phases))| Cell {
            x: cell / ny,
            y: cell % ny,
            value: Interval::of(values),
            phase: majority(phases),
        })
        .collect()
}

/// The cells as JSON: `{"column", "x", "y", "cells": [{"x", "y", "mean", "half", "n",
/// "phase", "summaries": {"mean", "sd", "min", "max", "p5", "p50", "p95"}}]}`, where
/// `half` is the 95% interval's half-width (null with fewer than two runs) and
/// `summaries` the cell's mean of each of the column's indicator's summaries (for an
/// `effect_` column: none). Refused (the reason) for a column or axis the experiment does
/// not have, and for an ensemble (no axes). Defaults: `column` the first indicator's
/// `_mean`, `x` the first axis, `y` another axis when there is one (the second, or the
/// first when `x` is not).
pub fn cells_json(
    table: &ExperimentTable,
    column: Option<&str>,
    x: Option<usize>,
    y: Option<usize>,
) -> Result<Value, String> {
    let spec = table.spec();
    if spec.axes.is_empty() {
        return Err("this experiment has no axes: it has a fan chart (`/fan`), not a heat map".into());
    }
    let column = match column {
        Some(column) => column.to_string(),
        None => format!("{}_mean", spec.indicators.first().ok_or("this experiment summarises no indicator")?),
    };
    let src = source(spec, &column).ok_or_else(|| {
        let known = plottable(spec).join(", ");
        format!("`column` = {column} is not a summary column of this experiment; choose one of {known}")
    })?;
    let axis = |name: &str, i: usize| {
        if i < spec.axes.len() {
            Ok(i)
        } else {
            Err(format!("`{name}` = {i}: the experiment has {} axes (0 to {})", spec.axes.len(), spec.axes.len() - 1))
        }
    };
    let x = axis("x", x.unwrap_or(0))?;
    let y = match y {
        Some(y) => Some(axis("y", y)?),
        None => (spec.axes.len() > 1).then_some(if x == 0 { 1 } else { 0 }),
    };
    if y == Some(x) {
        return Err(format!("`x` and `y` are both axis {x}: choose two different axes"));
    }
    let main = cells(table, src, x, y);
    // The tooltip's line of summaries: each statistic of the same indicator (and arm).
    let siblings: Vec<(&str, Vec<Cell>)> = match src {
        Source::Baseline(i, _) | Source::Branch(i, _) => Stats::NAMES
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let s = if matches!(src, Source::Branch(..)) { Source::Branch(i, k) } else { Source::Baseline(i, k) };
                (*name, cells(table, s, x, y))
            })
            .collect(),
        Source::Effect(_) => Vec::new(),
    };
    let number = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    let scale = Scale::of(main.iter().map(|c| c.value.mean));
    let cells: Vec<Value> = main
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let summaries: serde_json::Map<String, Value> =
                siblings.iter().map(|(name, cells)| (name.to_string(), number(cells[j].value.mean))).collect();
            json!({
                "x": c.x,
                "y": c.y,
                "mean": number(c.value.mean),
                "half": number(c.value.hi - c.value.mean),
                "n": c.value.n,
                "phase": c.phase.map(|p| p.code()),
                "summaries": summaries,
            })
        })
        .collect();
    Ok(json!({
        "column": column, "unit": column_unit(spec, src), "x": x, "y": y, "cells": cells,
        "scale": {"lo": scale.lo, "hi": scale.hi, "ticks": scale.ticks},
        "phases": phase_legend(),
    }))
}

/// The phases' legend: each phase's code, name and rule, and what the symbols mean.
pub fn phase_legend() -> Value {
    let phases: Vec<Value> =
        EconomicPhase::ALL.iter().map(|p| json!({"code": p.code(), "name": p.name(), "rule": p.rule()})).collect();
    json!({"phases": phases, "symbols": PHASE_SYMBOLS})
}

/// The unit of a summary column's numbers as the table holds them (unscaled: a share is
/// a fraction of 1).
pub(crate) fn column_unit(spec: &ExperimentSpec, src: Source) -> String {
    let (i, effect) = match src {
        Source::Baseline(i, _) | Source::Branch(i, _) => (i, false),
        Source::Effect(i) => (i, true),
    };
    let m = crate::ensemble::measured(&spec.indicators[i]);
    match (m.scale == 100.0, effect, m.level_unit.ends_with("per tick")) {
        (true, false, false) => "fraction (0.1 = 10%)".into(),
        (true, false, true) => "fraction per tick (0.01 = 1%)".into(),
        (true, true, false) => "difference of fractions (0.01 = 1 percentage point)".into(),
        (true, true, true) => "difference of fractions per tick (0.01 = 1 percentage point)".into(),
        (false, false, _) => m.level_unit.into(),
        (false, true, _) => m.effect_unit.into(),
    }
}

/// A colour scale over cell values: from the smallest finite value to the largest (half
/// a unit either side of a single value; 0 to 1 with none), and round tick values in it
/// (steps of 1, 2 or 5 × 10ⁿ, about five of them). The PNG and the page draw the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// The value of the scale's bottom colour.
    pub lo: f64,
    /// The value of its top colour.
    pub hi: f64,
    /// Round values within `lo..=hi`, ascending.
    pub ticks: Vec<f64>,
}

impl Scale {
    /// The scale of `values` (NaNs left out).
    pub fn of(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) =
            values.filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        let (lo, hi) = if lo.is_finite() { if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) } } else { (0.0, 1.0) };
        let raw = (hi - lo) / 4.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks = (first..=last)
            .map(|k| format!("{:.decimals$}", k as f64 * step).parse().expect("a number"))
            .map(|t: f64| if t == 0.0 { 0.0 } else { t })
            .collect();
        Self { lo, hi, ticks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_colour_scale_has_round_ticks_inside_it() {
        let s = Scale::of([0.0613, 0.2391, f64::NAN].into_iter());
        assert_eq!((s.lo, s.hi), (0.0613, 0.2391));
        assert_eq!(s.ticks, [0.1, 0.15, 0.2]);
        assert_eq!(Scale::of([-3.2, 41.0].into_iter()).ticks, [0.0, 20.0, 40.0]);
        let one = Scale::of([7.0].into_iter());
        assert_eq!((one.lo, one.hi, one.ticks), (6.5, 7.5, vec![6.5, 7.0, 7.5]));
        assert_eq!(Scale::of(std::iter::empty()).ticks, [0.0, 0.5, 1.0]);
    }
}
