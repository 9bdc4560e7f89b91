//! A calibration in the store, as an experiment whose runs are its simulations: one
//! `run_summaries` row per simulation (its evaluation, kind, parameters, seed, moments
//! and the evaluation's loss), written through the one writer thread when its
//! evaluation's last seed finishes. `watchtower experiments` lists it (its layout says
//! `"kind": "calibration"`), `export --experiment` writes its rows, `calibrate --resume`
//! replays them. A data target's file is pinned by its SHA-256, kept in the layout
//! (`"data": {"file", "sha256"}`), so a resume or a replay reads the same data or none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use watchtower_store::experiments::{NewExperiment, StoredSummary, create_experiment, insert_summary};
use watchtower_store::{History, Store};

use crate::calibrate::search::{Evaluation, Kind};
use crate::calibrate::spec::{CalibrationSpec, Target};
use crate::execute::ExperimentError;

/// The version of a stored simulation's encoding (experiments' summaries are 1).
pub const SIMULATION_FORMAT: i64 = 101;

/// What `layout.kind` says of a calibration.
pub const KIND: &str = "calibration";

/// One simulation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSimulation {
    /// Its evaluation.
    pub evaluation: u64,
    /// The evaluation's kind.
    pub kind: Kind,
    /// The evaluation's point on the unit cube.
    pub unit: Vec<f64>,
    /// The evaluation's seeds (this simulation's is `seeds[position]`).
    pub seeds: Vec<u64>,
    /// Which of them.
    pub position: u32,
    /// This simulation's moments.
    pub moments: Vec<f64>,
    /// The evaluation's loss.
    pub loss: f64,
}

/// What readers that do not parse the spec need, and a data target's pinned hash.
pub fn layout(spec: &CalibrationSpec) -> serde_json::Value {
    let mut layout = serde_json::json!({
        "kind": KIND,
        "model": spec.base.model.name(),
        "ticks": spec.base.ticks,
        "warmup": spec.base.warmup,
        "free": spec.free.iter().map(|f| serde_json::json!({"key": f.key, "min": f.min, "max": f.max, "log": f.log})).collect::<Vec<_>>(),
        "moments": spec.moment_names(),
        "ensemble": spec.ensemble,
        "budget": spec.budget,
        "weighting": spec.weighting.name(),
        "columns": columns(spec),
    });
    if let Target::Data(d) = &spec.target {
        layout["data"] = serde_json::json!({"file": d.file, "sha256": d.sha256});
    }
    layout
}

/// The columns of a calibration's table, in order.
pub fn columns(spec: &CalibrationSpec) -> Vec<String> {
    let mut c: Vec<String> = ["simulation", "evaluation", "kind", "seed"].map(String::from).to_vec();
    c.extend(spec.free.iter().map(|f| f.key.clone()));
    c.extend(spec.moment_names());
    c.push("loss".into());
    c
}

/// Records a new calibration and returns its id; a data target's file is pinned first
/// (its SHA-256 recorded in `spec` and stored), so the calibration fits those bytes only.
pub fn create(store: &Store, spec: &mut CalibrationSpec) -> Result<i64, ExperimentError> {
    if let Target::Data(d) = &mut spec.target {
        d.pin().map_err(ExperimentError::Other)?;
    }
    let new = NewExperiment {
        name: spec.base.name.clone(),
        source: spec.base.source.clone(),
        spec: spec.base.text.clone(),
        overrides: spec.base.overrides.clone(),
        layout: layout(spec),
        runs: spec.budget,
        points: 0,
    };
    Ok(store.call(move |c| create_experiment(c, &new))?)
}

fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// A simulation's tidy row.
pub fn row(spec: &CalibrationSpec, simulation: u64, s: &StoredSimulation) -> serde_json::Value {
    let mut row = serde_json::Map::new();
    row.insert("simulation".into(), simulation.into());
    row.insert("evaluation".into(), s.evaluation.into());
    row.insert("kind".into(), s.kind.name().into());
    row.insert("seed".into(), s.seeds[s.position as usize].into());
    for (f, u) in spec.free.iter().zip(&s.unit) {
        row.insert(f.key.clone(), number(f.value(*u)));
    }
    for (name, v) in spec.moment_names().into_iter().zip(&s.moments) {
        row.insert(name, number(*v));
    }
    row.insert("loss".into(), number(s.loss));
    row.into()
}

/// Queues an evaluation's simulations (numbered from `first`) for the writer.
pub fn submit(
    store: &Store,
    id: i64,
    spec: &CalibrationSpec,
    e: &Evaluation,
    first: u64,
) -> Result<(), ExperimentError> {
    for (k, moments) in e.per_seed.iter().enumerate() {
        let s = StoredSimulation {
            evaluation: e.index,
            kind: e.kind,
            unit: e.unit.clone(),
            seeds: e.seeds.clone(),
            position: k as u32,
            moments: moments.clone(),
            loss: e.loss,
        };
        let stored = StoredSummary {
            experiment_id: id,
            run: first + k as u64,
            point: e.index,
            seed: e.seeds[k],
            phase: None,
            error: moments.iter().any(|v| !v.is_finite()).then(|| "the run failed or a moment is undefined".into()),
            row: row(spec, first + k as u64, &s),
            format: SIMULATION_FORMAT,
            summary: postcard::to_allocvec(&s).expect("simulations serialise"),
        };
        store.submit(move |c| insert_summary(c, &stored))?;
    }
    Ok(())
}

/// A calibration read back.
pub struct Loaded {
    /// Its spec.
    pub spec: CalibrationSpec,
    /// Its status (`running`, `finished`, `interrupted`, `failed`).
    pub status: String,
    /// The evaluations whose every simulation is stored, by index.
    pub evaluations: BTreeMap<u64, Evaluation>,
    /// Every stored simulation's row, by simulation.
    pub rows: Vec<serde_json::Value>,
}

/// Whether experiment `layout` is a calibration's.
pub fn is_calibration(layout: &serde_json::Value) -> bool {
    layout.get("kind").and_then(|k| k.as_str()) == Some(KIND)
}

/// Reads calibration `id`: `None` when there is no such experiment.
pub fn load(history: &History, id: i64) -> Result<Option<Loaded>, ExperimentError> {
    let Some(detail) = history.experiment(id)? else { return Ok(None) };
    if !is_calibration(&detail.row.layout) {
        return Err(ExperimentError::Other(format!(
            "experiment {id} is not a calibration (resume it with watchtower experiment --resume {id})"
        )));
    }
    let mut spec = CalibrationSpec::parse(&detail.spec, &detail.row.source, &detail.overrides)?;
    // The data it was fitted to (a calibration stored before data were pinned has none).
    if let Target::Data(d) = &mut spec.target {
        d.sha256 = detail.row.layout.pointer("/data/sha256").and_then(|h| h.as_str()).map(String::from);
    }
    let mut partial: BTreeMap<u64, Evaluation> = BTreeMap::new();
    let mut rows = Vec::new();
    for r in history.run_summaries(id, 0, usize::MAX)? {
        if r.format != SIMULATION_FORMAT {
            return Err(ExperimentError::Other(format!(
                "calibration {id}, simulation {}: written by another version of Watchtower (format {})",
                r.run, r.format
            )));
        }
        let s: StoredSimulation = postcard::from_bytes(&r.summary)
            .map_err(|e| ExperimentError::Other(format!("calibration {id}, simulation {}: unreadable: {e}", r.run)))?;
        rows.push(r.row);
        let e = partial.entry(s.evaluation).or_insert_with(|| Evaluation {
            index: s.evaluation,
            kind: s.kind,
            unit: s.unit.clone(),
            seeds: s.seeds.clone(),
            per_seed: vec![Vec::new(); s.seeds.len()],
            loss: s.loss,
        });
        if let Some(slot) = e.per_seed.get_mut(s.position as usize) {
            *slot = s.moments;
        }
    }
    let evaluations = partial.into_iter().filter(|(_, e)| e.per_seed.iter().all(|s| !s.is_empty())).collect();
    Ok(Some(Loaded { spec, status: detail.row.status, evaluations, rows }))
}
