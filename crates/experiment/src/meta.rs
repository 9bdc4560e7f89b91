//! What each column of an experiment's table means: its unit and description, with the
//! spec, the program's version and the time mapping beside them. Parquet carries it (each
//! Arrow field's metadata, and the file's key-value metadata, the spec under
//! `watchtower.experiment.spec` as in a shard's file), a CSV table its sidecar
//! (`FILE.csv.json`), and the Python module's Arrow tables the same field metadata, so a
//! result read anywhere says what its numbers are.

use std::collections::HashMap;

use watchtower_engine::Registry;
use watchtower_protocol::units::{MONEY_NOTE, time_metadata};
use watchtower_protocol::{Indicators, Unit};

use crate::plan::Plan;
use crate::spec::ExperimentSpec;
use crate::table::META_SPEC;

/// Field metadata key: the column's unit, as a person reads it.
pub const FIELD_UNIT: &str = "unit";
/// Field metadata key: what the column holds.
pub const FIELD_DESCRIPTION: &str = "description";

/// Parquet key-value metadata: every column's unit and description (JSON, the sidecar's
/// `columns`).
pub const META_COLUMNS: &str = "watchtower.columns";
/// Parquet key-value metadata: the program's version.
pub const META_VERSION: &str = "watchtower.version";
/// Parquet key-value metadata: the time mapping (JSON: ticks per year, how rates read).
pub const META_TIME: &str = "watchtower.time";
/// Parquet key-value metadata: how money reads.
pub const META_MONEY: &str = "watchtower.money";

/// What a statistic of [`crate::Stats::NAMES`] is.
fn statistic(stat: &str) -> &'static str {
    match stat {
        "mean" => "Mean over the run's window (ticks warmup to ticks − 1)",
        "sd" => "Population standard deviation over the run's window",
        "min" => "Smallest value over the run's window",
        "max" => "Largest value over the run's window",
        "p5" => "5th percentile over the run's window",
        "p50" => "Median over the run's window",
        "p95" => "95th percentile over the run's window",
        _ => "Statistic over the run's window",
    }
}

/// An indicator's unit and one-line description, by name.
fn indicator(name: &str) -> Option<(Unit, String)> {
    Indicators::COLUMNS.iter().find(|c| c.name == name).map(|c| (c.unit, c.describe()))
}

/// A column's unit (label) and description, for a column of `spec`'s table.
pub fn describe(spec: &ExperimentSpec, registry: &Registry, column: &str) -> (String, String) {
    let of = |unit: Unit, text: String| (unit.label().to_string(), text);
    match column {
        "run" => ("index".into(), "The run's index in the plan (point × seeds + seed's position).".into()),
        "point" => ("index".into(), "The design point's index.".into()),
        "seed" => ("seed".into(), "The run's random seed.".into()),
        "phase" | "branch_phase" => (
            "phase code".into(),
            format!(
                "{}economic phase over the window: FE full employment (mean u < 0.1), FU full unemployment \
                 (mean u > 0.9), EC endogenous crises (sd of u > 0.1), else RU residual unemployment.",
                if column == "phase" { "The run's " } else { "The branch's " }
            ),
        ),
        "error" => ("text".into(), "Why the run failed, empty if it did not.".into()),
        _ => {
            if let Some(axis) = spec.axes.iter().find(|a| a.key == column) {
                let info = registry.snapshot().params.into_iter().find(|p| p.key == axis.key);
                return match info {
                    Some(p) => (p.unit, format!("Axis: {} ({})", p.description, p.key)),
                    None => ("value".into(), format!("Axis: {}", axis.key)),
                };
            }
            if let Some((unit, text)) = column.strip_prefix("effect_").and_then(indicator) {
                let points =
                    if matches!(unit, Unit::Share | Unit::RatePerTick) { " (× 100: percentage points)" } else { "" };
                return of(
                    unit,
                    format!("Effect of the fork: branch mean − baseline mean over the window{points}, of: {text}"),
                );
            }
            let (branch, rest) = match column.strip_prefix("branch_") {
                Some(rest) => (true, rest),
                None => (false, column),
            };
            if let Some((name, stat)) = rest.rsplit_once('_')
                && let Some((unit, text)) = indicator(name)
            {
                let arm = if branch { "The branch's " } else { "" };
                return of(unit, format!("{arm}{} of: {text}", statistic(stat)));
            }
            ("".into(), String::new())
        }
    }
}

/// How many ticks make a year in `plan`'s runs (its first run's registry).
pub fn ticks_per_year(plan: &Plan) -> f64 {
    plan.run(0).scenario.registry().map_or(12.0, |r| r.ticks_per_year())
}

/// The registry `spec`'s axes are described from.
pub fn registry(spec: &ExperimentSpec) -> Registry {
    Registry::builtin(spec.model)
}

/// Each column's field metadata (unit, description), by column name.
pub fn fields(plan: &Plan, columns: &[String]) -> HashMap<String, HashMap<String, String>> {
    let registry = registry(plan.spec());
    columns
        .iter()
        .map(|c| {
            let (unit, text) = describe(plan.spec(), &registry, c);
            (c.clone(), [(FIELD_UNIT.to_string(), unit), (FIELD_DESCRIPTION.to_string(), text)].into())
        })
        .collect()
}

/// The table's metadata as JSON: what a CSV table's sidecar holds, and what Parquet's
/// key-value metadata holds piece by piece.
pub fn table(plan: &Plan, columns: &[String]) -> serde_json::Value {
    let spec = plan.spec();
    let registry = registry(spec);
    let columns: Vec<serde_json::Value> = columns
        .iter()
        .map(|c| {
            let (unit, text) = describe(spec, &registry, c);
            serde_json::json!({ "name": c, "unit": unit, "description": text })
        })
        .collect();
    serde_json::json!({
        "format": "watchtower experiment table",
        "watchtower_version": env!("CARGO_PKG_VERSION"),
        "experiment": spec.name,
        "spec": spec.text,
        "spec_source": spec.source,
        "overrides": spec.overrides,
        "time": time_metadata(ticks_per_year(plan)),
        "money": MONEY_NOTE,
        "columns": columns,
    })
}

/// The key-value pairs Parquet carries (beside each field's own metadata): the version,
/// the time mapping, how money reads, every column, and the spec as written (under
/// [`META_SPEC`], the key a shard's file has it under too, so a file holds it once; a
/// shard's writer adds it with its digests, so `with_spec` is false there).
pub fn parquet_pairs(plan: &Plan, columns: &[String], with_spec: bool) -> Vec<(String, String)> {
    let meta = table(plan, columns);
    let mut pairs = vec![
        (META_VERSION.into(), env!("CARGO_PKG_VERSION").into()),
        (META_TIME.into(), meta["time"].to_string()),
        (META_MONEY.into(), MONEY_NOTE.into()),
        (META_COLUMNS.into(), meta["columns"].to_string()),
    ];
    if with_spec {
        pairs.push((META_SPEC.into(), plan.spec().text.clone()));
    }
    pairs
}
