//! Threads for the engine: a pool lent to a simulation through the engine's `Workers`
//! seam (the engine itself owns no threads).
//!
//! A pool of width `n` is the calling thread (the engine's) and `n − 1` helper threads.
//! The engine's thread works on a phase's tasks too instead of waiting for the helpers
//! to wake up: every runner claims the next unclaimed task in order until none is left,
//! so a helper that is late, or whose core is busy with the store's writer or the
//! server, simply does fewer of them. Which runner does a task never changes a number
//! (see `watchtower_engine::workers`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use watchtower_engine::workers::{Task, Workers};

/// The environment variable that sets how many threads [`Pool::machine`] lends the
/// engine (by default, one per core).
pub const THREADS_VAR: &str = "WATCHTOWER_ENGINE_THREADS";

/// The engine's thread and `width − 1` helpers.
#[derive(Debug)]
pub struct Pool {
    helpers: Option<rayon::ThreadPool>,
    width: usize,
}

impl Pool {
    /// A pool `threads` wide (at least one): the caller's thread and `threads − 1`
    /// helper threads, named `engine-worker-N`.
    pub fn new(threads: usize) -> std::io::Result<Arc<Self>> {
        let width = threads.max(1);
        let helpers = if width > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(width - 1)
                .thread_name(|i| format!("engine-worker-{i}"))
                .build()
                .map_err(std::io::Error::other)?;
            Some(pool)
        } else {
            None
        };
        Ok(Arc::new(Self { helpers, width }))
    }

    /// A pool as wide as [`Pool::machine_width`].
    pub fn machine() -> std::io::Result<Arc<Self>> {
        Self::new(Self::machine_width())
    }

    /// The number in [`THREADS_VAR`] if it is set to a positive whole number, otherwise
    /// the machine's cores.
    pub fn machine_width() -> usize {
        std::env::var(THREADS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Workers for Pool {
    fn run(&self, tasks: &mut [Task<'_>]) {
        let Some(helpers) = self.helpers.as_ref().filter(|_| tasks.len() > 1) else {
            for task in tasks {
                task();
            }
            return;
        };
        let count = tasks.len();
        // Each task behind its own lock, so whichever runner claims it may call it.
        let slots: Vec<Mutex<&mut Task<'_>>> = tasks.iter_mut().map(Mutex::new).collect();
        let next = AtomicUsize::new(0);
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let mut task = slots[i].lock().expect("a task that panicked ends the run");
                (*task)();
            }
        };
        helpers.in_place_scope(|scope| {
            for _ in 1..self.width.min(count) {
                scope.spawn(|_| work());
            }
            work();
        });
    }

    fn width(&self) -> usize {
        self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_whatever_the_width() {
        for width in [1, 2, 4] {
            let pool = Pool::new(width).unwrap();
            assert_eq!(pool.width(), width);
            let mut counts = vec![0u32; 37];
            let mut tasks: Vec<Box<dyn FnMut() + Send + '_>> =
                counts.iter_mut().map(|c| Box::new(move || *c += 1) as Box<dyn FnMut() + Send>).collect();
            let mut refs: Vec<Task<'_>> = tasks.iter_mut().map(|t| &mut **t as Task<'_>).collect();
            pool.run(&mut refs);
            drop(refs);
            drop(tasks);
            assert!(counts.iter().all(|&c| c == 1), "width {width}: {counts:?}");
        }
    }
}
