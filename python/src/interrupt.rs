//! Long work from Python that Ctrl-C can stop: the work runs on a thread of its own with
//! the GIL released while this thread looks at Python's signals, so a `KeyboardInterrupt`
//! asks the work to stop (through its [`Stop`]) and is raised once it has stopped.

use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use watchtower_runner::Stop;

/// Runs `work` to its end; Ctrl-C requests `stop` and, once `work` returns, raises the
/// `KeyboardInterrupt`. A panic in `work` is a `RuntimeError` naming `what`.
pub fn interruptible<T: Send>(py: Python<'_>, stop: &Stop, what: &str, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    let (result, interrupted) = py.detach(|| {
        std::thread::scope(|scope| {
            let worker = scope.spawn(work);
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
    result.map_err(|_| PyRuntimeError::new_err(format!("{what} panicked")))
}
