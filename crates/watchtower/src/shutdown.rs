//! Graceful shutdown on SIGINT and SIGTERM.
//!
//! The first signal sets the runner's [`Stop`] flag, which the tick loop checks between
//! cycles (at least every 50 ms, however slow the pace): it finishes the tick in flight,
//! and the app flushes the store, marks the run, checkpoints the WAL, releases the lock
//! and exits 0. A second signal while that is under way exits at once (status 130), for
//! the person whose patience ran out.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGINT, SIGTERM};
use watchtower_runner::Stop;

/// Installs the signal handlers and returns the flag they set.
pub fn install() -> std::io::Result<Stop> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the exit on a second signal is armed only once the flag is set.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))?;
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    Ok(Stop::from_flag(flag))
}
