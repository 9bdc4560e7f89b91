//! Experiments from Python, on the runner's experiment engine (`watchtower experiment`'s):
//! the spec is read and checked by `ExperimentSpec`, runs are `run_one(plan, index)` (a
//! pure function of the spec and the index), and every table is built by
//! `ExperimentTable`, which sorts by run index. So a table is the CLI's, bit for bit,
//! wherever its runs ran.
//!
//! - [`_execute`]: every run on this machine, one per core (the runner's `execute`).
//! - [`run_chunk`]: some runs, in order, on the calling thread: what one Ray task or one
//!   `concurrent.futures` job does. Its table is the rows of those runs with a `_summary`
//!   column of each run's encoded summary (as a shard file of `--shard` carries).
//! - [`_assemble`]: chunks' tables, in any order, into the one table.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3_arrow::PyTable;
use watchtower_experiment::{
    ExperimentError, ExperimentSpec, ExperimentTable, NoRecording, Plan, RunSummary, execute, run_one,
};
use watchtower_runner::Stop;

use crate::columns::to_pyarrow;
use crate::interrupt::interruptible;

/// The column of a chunk's table that carries each run's encoded summary.
pub const SUMMARY_COLUMN: &str = "_summary";

fn plan(text: &str, source: &str) -> PyResult<Plan> {
    let spec = ExperimentSpec::parse(text, source).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(Plan::new(spec))
}

fn experiment_error(e: ExperimentError) -> PyErr {
    match e {
        ExperimentError::Spec(e) => PyValueError::new_err(e.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// The number of runs a spec plans (and whether it is valid: `ValueError` with the file,
/// line and key otherwise).
#[pyfunction]
pub fn _plan_runs(text: &str, source: &str) -> PyResult<u64> {
    Ok(plan(text, source)?.len())
}

/// Runs every run of the spec on this machine, `jobs` at once (default: every core),
/// and returns the summary table. Ctrl-C stops it (`KeyboardInterrupt`).
#[pyfunction]
#[pyo3(signature = (text, source, jobs = None))]
pub fn _execute<'py>(py: Python<'py>, text: &str, source: &str, jobs: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
    let plan = plan(text, source)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let runs: Vec<u64> = (0..plan.len()).collect();
    let stop = Stop::default();
    let mut table = ExperimentTable::new(plan.clone());
    interruptible(py, &stop, "an experiment thread", || {
        execute(&plan, &runs, jobs, &stop, &NoRecording, |summary| {
            table.insert(summary);
            Ok(())
        })
    })?
    .map_err(experiment_error)?;
    let batch = table.to_record_batch();
    let schema = batch.schema();
    to_pyarrow(py, vec![batch], schema)
}

/// Runs runs `indices` of the spec, in order, on the calling thread (the GIL released),
/// and returns their rows with each run's encoded summary in a `_summary` column: what
/// one task of a Ray or `concurrent.futures` experiment does. Pass the tables of every
/// chunk to `_assemble`.
#[pyfunction]
pub fn run_chunk<'py>(py: Python<'py>, text: &str, source: &str, indices: Vec<u64>) -> PyResult<Bound<'py, PyAny>> {
    let plan = plan(text, source)?;
    if let Some(bad) = indices.iter().find(|&&i| i >= plan.len()) {
        return Err(PyValueError::new_err(format!("run {bad} is outside the plan ({} runs)", plan.len())));
    }
    let batch = py.detach(|| -> PyResult<RecordBatch> {
        let mut table = ExperimentTable::new(plan.clone());
        for &index in &indices {
            let summary = run_one(&plan, index, None, &NoRecording)
                .map_err(experiment_error)?
                .ok_or_else(|| PyRuntimeError::new_err(format!("run {index} was stopped")))?;
            table.insert(summary);
        }
        Ok(with_summaries(&table))
    })?;
    let schema = batch.schema();
    to_pyarrow(py, vec![batch], schema)
}

/// The table's rows and, beside them, each run's encoded summary.
fn with_summaries(table: &ExperimentTable) -> RecordBatch {
    let batch = table.to_record_batch();
    let summaries: Vec<Vec<u8>> = table.summaries().map(RunSummary::encode).collect();
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(SUMMARY_COLUMN, DataType::Binary, false)));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(BinaryArray::from_iter_values(summaries.iter())));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("one more column of as many rows")
}

/// The chunks' tables (from `run_chunk`, in any order) as the experiment's table, sorted
/// by run index: the same table `watchtower experiment` writes. Every run of the plan
/// must be there, once.
#[pyfunction]
pub fn _assemble<'py>(py: Python<'py>, text: &str, source: &str, chunks: Vec<PyTable>) -> PyResult<Bound<'py, PyAny>> {
    let plan = plan(text, source)?;
    let batch = py.detach(|| -> PyResult<RecordBatch> {
        let mut table = ExperimentTable::new(plan.clone());
        for chunk in chunks {
            let (batches, _) = chunk.into_inner();
            for batch in batches {
                let column = batch
                    .column_by_name(SUMMARY_COLUMN)
                    .and_then(|c| c.as_any().downcast_ref::<BinaryArray>())
                    .ok_or_else(|| PyValueError::new_err("not a table of run_chunk: it has no `_summary` column"))?;
                for i in 0..column.len() {
                    let summary = RunSummary::decode(column.value(i)).map_err(PyValueError::new_err)?;
                    if summary.run >= plan.len() {
                        return Err(PyValueError::new_err(format!(
                            "a chunk holds run {}, outside the plan: is it of another spec?",
                            summary.run
                        )));
                    }
                    if table.contains(summary.run) {
                        return Err(PyValueError::new_err(format!("run {} came back twice", summary.run)));
                    }
                    table.insert(summary);
                }
            }
        }
        let missing = table.missing();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(10).map(u64::to_string).collect();
            return Err(PyRuntimeError::new_err(format!(
                "{} of {} runs did not come back (runs {}{})",
                missing.len(),
                plan.len(),
                shown.join(", "),
                if missing.len() > 10 { ", ..." } else { "" }
            )));
        }
        Ok(table.to_record_batch())
    })?;
    let schema = batch.schema();
    to_pyarrow(py, vec![batch], schema)
}

/// The Sobol indices of an experiment's table (a Sobol design's, every run present):
/// one row per summary column and parameter, with `S1`, `S1_conf`, `ST`, `ST_conf`
/// (a Morris design's: `mu`, `mu_star`, `sigma`, `mu_star_conf`);
/// `columns` empty means every `<indicator>_mean`. `design` is the design's JSON
/// (`{"sobol": {...}, "parameters": [...]}`) for a table that lost its schema metadata.
#[pyfunction]
#[pyo3(signature = (table, columns, design = None))]
pub fn _sensitivity<'py>(
    py: Python<'py>,
    table: PyTable,
    columns: Vec<String>,
    design: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    use watchtower_experiment::sensitivity::{META_DESIGN, of_batch};
    let (batches, schema) = table.into_inner();
    let mut metadata = schema.metadata().clone();
    if let Some(design) = design {
        metadata.insert(META_DESIGN.to_string(), design);
    }
    let schema = Arc::new(schema.as_ref().clone().with_metadata(metadata));
    let batch = arrow_select::concat::concat_batches(&schema, &batches)
        .and_then(|b| b.with_schema(schema.clone()))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let results = py.detach(|| of_batch(&batch, &columns)).map_err(|e| PyValueError::new_err(e.to_string()))?;
    use watchtower_experiment::sensitivity::Measures;
    let morris = results.iter().any(|r| matches!(r.measures, Measures::Morris(_)));
    let labels: [&str; 4] =
        if morris { ["mu", "mu_star", "sigma", "mu_star_conf"] } else { ["S1", "S1_conf", "ST", "ST_conf"] };
    let mut names = (Vec::new(), Vec::new());
    let mut values: [Vec<f64>; 4] = Default::default();
    for r in &results {
        let rows: Vec<[f64; 4]> = match &r.measures {
            Measures::Sobol(ix) => ix.first.iter().map(|i| [i.S1, i.S1_conf, i.ST, i.ST_conf]).collect(),
            Measures::Morris(e) => e.iter().map(|e| [e.mu, e.mu_star, e.sigma, e.mu_star_conf]).collect(),
        };
        for (p, row) in r.parameters.iter().zip(rows) {
            names.0.push(r.column.clone());
            names.1.push(p.clone());
            for (v, x) in values.iter_mut().zip(row) {
                v.push(x);
            }
        }
    }
    let notes: serde_json::Map<String, serde_json::Value> =
        results.iter().map(|r| (r.column.clone(), r.notes.clone().into())).collect();
    let seeds = results.first().map_or(0, |r| r.seeds);
    let mut fields =
        vec![Field::new("indicator", DataType::Utf8, false), Field::new("parameter", DataType::Utf8, false)];
    let mut arrays: Vec<ArrayRef> =
        vec![Arc::new(arrow_array::StringArray::from(names.0)), Arc::new(arrow_array::StringArray::from(names.1))];
    for (name, v) in labels.into_iter().zip(values) {
        fields.push(Field::new(name, DataType::Float64, false));
        arrays.push(Arc::new(arrow_array::Float64Array::from(v)));
    }
    let meta = [
        ("notes".to_string(), serde_json::Value::from(notes).to_string()),
        ("seeds_averaged".to_string(), seeds.to_string()),
    ];
    let schema = Arc::new(Schema::new_with_metadata(fields, meta.into()));
    let out = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    to_pyarrow(py, vec![out], schema)
}
