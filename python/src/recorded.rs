//! Recorded runs, read from `watchtower.db` through the store's read side: a run's ticks
//! and commands as Arrow tables, and an economy rebuilt from a run (the runner's
//! `replay::recorded`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};
use watchtower_protocol::Indicators;
use watchtower_runner::Scenario;
use watchtower_runner::replay::{ReplayError, recorded};
use watchtower_store::{AuditRow, DATABASE_FILE, History, RunRow, StoreError};

use crate::columns::{Columns, tick_schema, to_pyarrow};
use crate::convert;

/// The database: `path` itself, or `watchtower.db` inside it if it is a directory.
fn database(path: &Path) -> PathBuf {
    if path.is_dir() { path.join(DATABASE_FILE) } else { path.to_path_buf() }
}

fn store_error(e: StoreError) -> PyErr {
    match e {
        StoreError::Missing { .. } => PyFileNotFoundError::new_err(e.to_string()),
        StoreError::Io { .. } => PyOSError::new_err(e.to_string()),
        other => PyOSError::new_err(other.to_string()),
    }
}

/// Opens the database and finds the run: `"latest"` or a run id.
fn open(path: &Path, run: &Bound<'_, PyAny>) -> PyResult<(History, PathBuf, i64)> {
    let db = database(path);
    let history = History::open(&db, 2).map_err(store_error)?;
    let id = if run.is_instance_of::<PyString>() {
        let name: String = run.extract()?;
        if name != "latest" {
            return Err(PyValueError::new_err(format!("run must be \"latest\" or a run id, not {name:?}")));
        }
        history
            .latest_run()
            .map_err(store_error)?
            .ok_or_else(|| PyValueError::new_err(format!("no runs in {}", db.display())))?
    } else if run.is_instance_of::<PyInt>() {
        run.extract()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "run must be \"latest\" or a run id, not {}",
            convert::type_name(run)
        )));
    };
    Ok((history, db, id))
}

fn run_row(history: &History, db: &Path, id: i64) -> PyResult<RunRow> {
    history
        .runs()
        .map_err(store_error)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| PyValueError::new_err(format!("no run {id} in {}", db.display())))
}

/// Reads one recorded run: `(info, ticks, commands)`, the tables as `pyarrow.Table`.
#[pyfunction]
#[pyo3(signature = (path, run))]
pub fn _read_run<'py>(
    py: Python<'py>,
    path: PathBuf,
    run: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (history, db, id) = open(&path, run)?;
    let (row, ticks, audit) = py.detach(|| -> PyResult<_> {
        let row = run_row(&history, &db, id)?;
        let mut columns = Columns::default();
        history
            .for_each_tick(id, 0, u64::MAX, usize::MAX, |tick, values| {
                columns.push(tick, Indicators::report(values));
                Ok(())
            })
            .map_err(store_error)?;
        let mut audit = history.audit(Some(id), usize::MAX).map_err(store_error)?;
        audit.reverse(); // oldest first
        Ok((row, columns.batches(), audit))
    })?;
    let info = run_info(py, &row)?;
    let ticks = to_pyarrow(py, ticks, tick_schema())?;
    let commands = commands_batch(&audit);
    let schema = commands.schema();
    let commands = to_pyarrow(py, vec![commands], schema)?;
    Ok((info, ticks, commands))
}

/// A recorded run's scenario at genesis: its seed, size, every parameter at start, and
/// its commands as a schedule at the ticks that applied them (`Economy.from_run` builds
/// it).
pub fn scenario(py: Python<'_>, path: PathBuf, run: &Bound<'_, PyAny>) -> PyResult<Scenario> {
    let (history, db, id) = open(&path, run)?;
    let rebuilt = py.detach(|| recorded(&history, id)).map_err(|e| match e {
        ReplayError::Store(e) => store_error(e),
        ReplayError::NoSuchRun(id) => PyValueError::new_err(format!("no run {id} in {}", db.display())),
        other => PyValueError::new_err(other.to_string()),
    })?;
    Ok(rebuilt.scenario)
}

fn run_info<'py>(py: Python<'py>, r: &RunRow) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", r.id)?;
    d.set_item("model", &r.model)?;
    d.set_item("seed", r.seed)?;
    d.set_item("households", r.households)?;
    d.set_item("firms", r.firms)?;
    d.set_item("agents", r.agents)?;
    d.set_item("status", &r.status)?;
    d.set_item("started_at", &r.started_at)?;
    d.set_item("ended_at", &r.ended_at)?;
    d.set_item("last_tick", r.last_tick)?;
    d.set_item("error", &r.error)?;
    d.set_item("parameters", convert::json(py, &r.parameters)?)?;
    d.set_item("model_version", &r.model_version)?;
    // A what-if branch's lineage, a resumed run's resumptions.
    d.set_item("parent_run_id", r.parent_run_id)?;
    d.set_item("fork_tick", r.fork_tick)?;
    d.set_item("branch_name", &r.branch_name)?;
    d.set_item("changes", convert::json(py, &r.changes)?)?;
    d.set_item("dropped_tick", r.dropped_tick)?;
    d.set_item("tick_target", r.tick_target)?;
    d.set_item("schedule", convert::json(py, &r.schedule)?)?;
    d.set_item("resumed_at", &r.resumed_at)?;
    Ok(d)
}

/// The audit rows as a table, oldest first; values as JSON text (a refused value may be
/// of any type).
fn commands_batch(rows: &[AuditRow]) -> RecordBatch {
    let text = |v: &serde_json::Value| v.to_string();
    let schema = Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("received_at_ms", DataType::Int64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("applied_tick", DataType::Int64, true),
        Field::new("success", DataType::Boolean, false),
        Field::new("code", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("old", DataType::Utf8, true),
        Field::new("new", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.seq))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.key.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| text(&r.value)))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.received_at_ms))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.source.as_str()))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.applied_tick.map(|t| t as i64)))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.success)))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.code.clone()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.error.clone()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.old.as_ref().map(text)))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.new.as_ref().map(text)))),
    ];
    RecordBatch::try_new(schema, columns).expect("the columns follow the schema")
}
