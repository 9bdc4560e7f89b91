//! The compiled part of the Python package `watchtower`: the engine and the runner,
//! linked in (no subprocess, no HTTP).
//!
//! - [`economy`]: `Economy`, a runner `Session` stepped from Python, its history as Arrow.
//! - [`recorded`]: runs recorded in `watchtower.db`, as Arrow tables or rebuilt economies.
//! - [`experiment`]: experiments on the runner's experiment engine, here or in chunks on
//!   Ray or any `concurrent.futures` executor, assembled by the table code the CLI uses.
//! - [`calibrate`]: calibrations (the method of simulated moments) in a data directory,
//!   run by the code `watchtower calibrate` runs (its simulations here, or shipped to Ray
//!   or an executor by batch), returned as its `--json` and `--out`.
//! - [`columns`]: every tick's indicators as Arrow columns, handed over without a copy.
//! - [`interrupt`]: long work that Ctrl-C stops.
//! - [`convert`], [`scenario`]: Python values in, the registry's checks and messages out.
//!
//! The Python side (`python/watchtower/__init__.py`) re-exports these and adds what is
//! plain Python (handing chunks of runs to Ray or an executor).

pub mod calibrate;
pub mod columns;
pub mod convert;
pub mod economy;
pub mod experiment;
pub mod interrupt;
pub mod recorded;
pub mod scenario;

use pyo3::prelude::*;

/// The compiled part of the `watchtower` package.
#[pymodule]
fn _watchtower(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<economy::Economy>()?;
    m.add("CommandError", py.get_type::<convert::CommandError>())?;
    m.add("EngineError", py.get_type::<convert::EngineError>())?;
    m.add_function(wrap_pyfunction!(recorded::_read_run, m)?)?;
    m.add_function(wrap_pyfunction!(economy::_set_slice_ms, m)?)?;
    m.add_function(wrap_pyfunction!(economy::indicator_names, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::_plan_runs, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::_execute, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::run_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::_assemble, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::_sensitivity, m)?)?;
    m.add_function(wrap_pyfunction!(calibrate::_calibrate, m)?)?;
    m.add_function(wrap_pyfunction!(calibrate::_simulate, m)?)?;
    Ok(())
}
