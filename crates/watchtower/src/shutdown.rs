//! Graceful shutdown on SIGINT and SIGTERM.
//!
//! The first signal sets a flag that the engine loop checks between ticks: it finishes
//! the tick in flight, and the app flushes the store, marks the run, checkpoints the WAL,
//! releases the lock and exits 0. A second signal while that is under way exits at once
//! (status 130), for the person whose patience ran out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// A flag set by the first SIGINT or SIGTERM (or by the app itself).
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// Installs the signal handlers.
    pub fn install() -> std::io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Order matters: the exit on a second signal is armed only once the flag is set.
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(Self(flag))
    }

    /// Whether shutdown was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Requests shutdown from inside the program.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
