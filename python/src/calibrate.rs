//! Calibrations from Python, on the experiment crate's calibration (`watchtower
//! calibrate`'s): the spec is read and checked by `CalibrationSpec`, the calibration is
//! recorded in a data directory and run by `lifecycle::Stored` (the code the binary
//! runs), and the result is `report::to_json` and `table::to_record_batch` of the stored
//! rows. So the JSON is the CLI's `--json` and the table its `--out`, bit for bit.
//!
//! On Ray or an executor, the search still runs here and stores every evaluation as the
//! binary does; only each batch's simulations go out, through a Python callable that
//! ships them ([`_simulate`] runs one: a pure function of the spec, the point and the
//! seed) and returns their moments in the order asked. Moments cross as Python floats,
//! which hold an `f64` exactly, so every number is the one a local run gives.

use std::path::PathBuf;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use watchtower_experiment::calibrate::lifecycle::{Start, Stored};
use watchtower_experiment::calibrate::spec::Target;
use watchtower_experiment::calibrate::{CalibrationSpec, report, search::Allocation, store as stored, table};
use watchtower_runner::Stop;
use watchtower_store::{DATABASE_FILE, DirLock, History, RunStatus};

use nalgebra::DMatrix;
use watchtower_experiment::calibrate::search::{Evaluation, Evaluator, Halt, Kind, Outcome, Request, calibrate};
use watchtower_experiment::calibrate::simulate::{Simulated, simulate};
use watchtower_store::{Store, WriterOptions};

use crate::columns::to_pyarrow;
use crate::interrupt::interruptible;

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
#[pyo3(signature = (text, source, data_dir, jobs = None, run_batch = None))]
pub fn _calibrate<'py>(
    py: Python<'py>,
    text: &str,
    source: &str,
    data_dir: PathBuf,
    jobs: Option<usize>,
    run_batch: Option<Bound<'py, PyAny>>,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    let spec = spec(text, source)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let _lock = DirLock::acquire(&data_dir).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let database = data_dir.join(DATABASE_FILE);
    let err = |e: watchtower_experiment::ExperimentError| PyRuntimeError::new_err(e.to_string());
    if let Some(run_batch) = run_batch {
        let (id, spec, outcome) = remote(&database, spec, run_batch)?;
        return answer(py, &database, id, &spec, &outcome);
    }
    let stored_calibration = Stored::open(&database, Start::New(Box::new(spec))).map_err(err)?;
    let stop = Stop::default();
    let finished = interruptible(py, &stop, "a calibration thread", || stored_calibration.run(jobs, &stop, |_| {}))?
        .map_err(err)?;
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
    answer(py, &database, id, &finished.spec, &outcome)
}

/// The `--json` object and the stored table of a finished calibration.
fn answer<'py>(
    py: Python<'py>,
    database: &std::path::Path,
    id: i64,
    spec: &CalibrationSpec,
    outcome: &Outcome,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    let err = |e: watchtower_experiment::ExperimentError| PyRuntimeError::new_err(e.to_string());
    let json = report::to_json(id, spec, outcome).to_string();
    let history = History::open(database, 1).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let loaded = stored::load(&history, id).map_err(err)?.expect("the calibration just stored");
    let batch = table::to_record_batch(spec, &loaded.rows);
    let schema = batch.schema();
    Ok((json, to_pyarrow(py, vec![batch], schema)?))
}

/// The scenario of a request's point with `seed` (the target's, for the target): as the
/// binary's pool builds it.
fn scenario(spec: &CalibrationSpec, kind: Kind, unit: &[f64], seed: u64) -> watchtower_runner::scenario::Scenario {
    match kind {
        Kind::Target => spec.target_scenario().expect("a target run has a synthetic target"),
        _ => {
            let values: Vec<f64> = spec.free.iter().zip(unit).map(|(f, u)| f.value(*u)).collect();
            spec.point_scenario(&values, seed)
        }
    }
}

/// One simulation of a calibration: the moments of the spec's point `unit` (on the unit
/// cube; `kind` is `target`, `covariance`, `search` or `jacobian`) with `seed`, NaN for a
/// failed run. What one task of a Ray or executor calibration runs, with the GIL released.
#[pyfunction]
pub fn _simulate(
    py: Python<'_>,
    text: &str,
    source: &str,
    kind: &str,
    unit: Vec<f64>,
    seed: u64,
) -> PyResult<Vec<f64>> {
    let spec = CalibrationSpec::parse(text, source, &[]).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let kind = match kind {
        "target" => Kind::Target,
        "covariance" => Kind::Covariance,
        "search" => Kind::Search,
        "jacobian" => Kind::Jacobian,
        other => return Err(PyValueError::new_err(format!("no evaluation kind `{other}`"))),
    };
    if unit.len() != spec.free.len() {
        return Err(PyValueError::new_err(format!(
            "{} coordinates for {} free parameters",
            unit.len(),
            spec.free.len()
        )));
    }
    let m = spec.moments.len();
    Ok(py.detach(|| match simulate(&spec, &scenario(&spec, kind, &unit, seed), None) {
        Simulated::Moments(v) => v,
        Simulated::Failed(_) | Simulated::Stopped => vec![f64::NAN; m],
    }))
}

/// The search's evaluator when the simulations run elsewhere: each batch's simulations
/// handed to `run_batch` (a list of `(kind, unit, seed)`, answered by a list of moment
/// lists in the same order), each evaluation stored as it comes back.
struct Remote<'a, 'py> {
    spec: &'a CalibrationSpec,
    run_batch: Bound<'py, PyAny>,
    store: &'a Store,
    id: i64,
    next: u64,
    next_simulation: u64,
    loss: Option<(Vec<f64>, DMatrix<f64>)>,
    stop: Stop,
    error: Option<PyErr>,
}

impl Evaluator for Remote<'_, '_> {
    fn set_loss(&mut self, target: Vec<f64>, weights: DMatrix<f64>) {
        self.loss = Some((target, weights));
    }

    fn stop(&self) -> Option<&Stop> {
        Some(&self.stop)
    }

    fn batch(&mut self, requests: Vec<Request>) -> Result<Vec<Evaluation>, Halt> {
        let jobs: Vec<(&'static str, Vec<f64>, u64)> =
            requests.iter().flat_map(|r| r.seeds.iter().map(move |&s| (r.kind.name(), r.unit.clone(), s))).collect();
        let answer = self.run_batch.call1((jobs,)).and_then(|a| a.extract::<Vec<Vec<f64>>>());
        let mut moments = match answer {
            Ok(m) if m.len() == requests.iter().map(|r| r.seeds.len()).sum::<usize>() => m.into_iter(),
            Ok(m) => {
                return Err(Halt::Error(format!(
                    "the executor answered {} simulations of a batch of more or fewer",
                    m.len()
                )));
            }
            Err(e) => {
                let words = e.to_string();
                self.error = Some(e);
                return Err(Halt::Error(words));
            }
        };
        let width = self.spec.moment_names().len();
        if let Some(short) = moments.as_slice().iter().position(|m| m.len() != width) {
            return Err(Halt::Error(format!(
                "the executor answered simulation {short} of a batch with {} moments, not the spec's {width}",
                moments.as_slice()[short].len()
            )));
        }
        let mut out = Vec::with_capacity(requests.len());
        for r in requests {
            let per_seed: Vec<Vec<f64>> = moments.by_ref().take(r.seeds.len()).collect();
            let mut e =
                Evaluation { index: self.next, kind: r.kind, unit: r.unit, seeds: r.seeds, per_seed, loss: f64::NAN };
            e.loss = self.loss.as_ref().map_or(f64::NAN, |(target, w)| e.loss_with(target, w));
            stored::submit(self.store, self.id, self.spec, &e, self.next_simulation)
                .map_err(|e| Halt::Error(e.to_string()))?;
            self.next += 1;
            self.next_simulation += e.seeds.len() as u64;
            out.push(e);
        }
        Ok(out)
    }
}

/// A new calibration stored in `database`, its simulations run by `run_batch`.
fn remote(
    database: &std::path::Path,
    mut spec: CalibrationSpec,
    run_batch: Bound<'_, PyAny>,
) -> PyResult<(i64, CalibrationSpec, Outcome)> {
    let err = |e: watchtower_experiment::ExperimentError| PyRuntimeError::new_err(e.to_string());
    let store = Store::open(database, WriterOptions::default()).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let id = stored::create(&store, &mut spec).map_err(err)?;
    let mut ev = Remote {
        spec: &spec,
        run_batch,
        store: &store,
        id,
        next: 0,
        next_simulation: 0,
        loss: None,
        stop: Stop::default(),
        error: None,
    };
    let result = calibrate(&spec, &mut ev);
    let error = ev.error.take();
    let (status, words) = match &result {
        Ok(_) => (RunStatus::Finished, None),
        Err(Halt::Stopped) => (RunStatus::Interrupted, None),
        Err(Halt::Error(e)) => (RunStatus::Failed, Some(e.clone())),
    };
    watchtower_experiment::store::finish(&store, id, status, words).map_err(err)?;
    store.flush().map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    store.close().map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    match result {
        Ok(outcome) => Ok((id, spec, outcome)),
        Err(_) if error.is_some() => Err(error.expect("checked")),
        Err(Halt::Stopped) => Err(PyRuntimeError::new_err(format!("calibration {id} interrupted"))),
        Err(Halt::Error(e)) => Err(PyRuntimeError::new_err(format!("calibration {id} failed: {e}"))),
    }
}
