//! Calibrations from Python, on the experiment crate's calibration (`watchtower
//! calibrate`'s): the spec is read and checked by `CalibrationSpec`, the calibration is
//! recorded in a data directory and run by `lifecycle::Stored` (the code the binary
//! runs), and the result is `report::to_json` and `table::to_record_batch` of the stored
//! rows. So the JSON is the CLI's `--json` and the table its `--out`, bit for bit.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use watchtower_experiment::calibrate::lifecycle::{Start, Stored};
use watchtower_experiment::calibrate::spec::Target;
use watchtower_experiment::calibrate::{CalibrationSpec, report, search::Allocation, store as stored, table};
use watchtower_runner::Stop;
use watchtower_store::{DATABASE_FILE, DirLock, History, RunStatus};

use crate::columns::to_pyarrow;

/// Reads and checks a calibration spec, as `watchtower calibrate` does before it runs:
/// `ValueError` with the file, line and key otherwise.
fn spec(text: &str, source: &str) -> PyResult<CalibrationSpec> {
    let spec = CalibrationSpec::parse(text, source, &[]).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Allocation::of(&spec).map_err(PyValueError::new_err)?;
    if let Target::Data(d) = &spec.target {
        d.load().map_err(PyValueError::new_err)?;
    }
    Ok(spec)
}

/// Runs a calibration in data directory `data_dir` (created if needed, locked while it
/// runs; it is listed by `watchtower experiments` and shown by `watchtower view`) on
/// `jobs` threads (default: every core), and returns its `--json` object as text and
/// its table of simulations (Arrow). Ctrl-C stops it (`KeyboardInterrupt`; its
/// evaluations are kept, `watchtower calibrate --resume ID` continues it).
#[pyfunction]
#[pyo3(signature = (text, source, data_dir, jobs = None))]
pub fn _calibrate<'py>(
    py: Python<'py>,
    text: &str,
    source: &str,
    data_dir: PathBuf,
    jobs: Option<usize>,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    let spec = spec(text, source)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let _lock = DirLock::acquire(&data_dir).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let database = data_dir.join(DATABASE_FILE);
    let err = |e: watchtower_experiment::ExperimentError| PyRuntimeError::new_err(e.to_string());
    let stored_calibration = Stored::open(&database, Start::New(Box::new(spec))).map_err(err)?;
    let stop = Stop::default();
    let (result, interrupted) = py.detach(|| {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| stored_calibration.run(jobs, &stop, |_| {}));
            // Look at Python's signals (Ctrl-C) while the simulations go on.
            let mut interrupted = None;
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
                if interrupted.is_none()
                    && let Err(e) = Python::attach(|py| py.check_signals())
                {
                    stop.request();
                    interrupted = Some(e);
                }
            }
            (worker.join(), interrupted)
        })
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    let finished = match result {
        Ok(r) => r.map_err(err)?,
        Err(_) => return Err(PyRuntimeError::new_err("a calibration thread panicked")),
    };
    let id = finished.id;
    match finished.status {
        RunStatus::Finished => {}
        RunStatus::Failed => {
            return Err(PyRuntimeError::new_err(format!(
                "calibration {id} failed: {}",
                finished.error.unwrap_or_default()
            )));
        }
        other => {
            return Err(PyRuntimeError::new_err(format!("calibration {id} {}", other.as_str())));
        }
    }
    let outcome = finished.outcome.expect("a finished calibration has its outcome");
    let json = report::to_json(id, &finished.spec, &outcome).to_string();
    let history = History::open(&database, 1).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let loaded = stored::load(&history, id).map_err(err)?.expect("the calibration just stored");
    let batch = table::to_record_batch(&finished.spec, &loaded.rows);
    let schema = batch.schema();
    Ok((json, to_pyarrow(py, vec![batch], schema)?))
}
