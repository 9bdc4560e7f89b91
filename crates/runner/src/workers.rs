//! Threads for the engine: a pool lent to a simulation through the engine's `Workers`
//! seam (the engine itself owns no threads).
//!
//! A pool of width `n` is `n` threads, named `engine-worker-N`. The engine enters the
//! pool for a whole tick ([`Workers::enter`]), so the tick runs on one of the pool's
//! threads; when a phase hands out tasks, every thread claims the next unclaimed task in
//! order until none is left. A thread that is late to wake up, or whose core is busy
//! with the store's writer or the server, simply does fewer of them: the tick's thread
//! takes back the share of a helper that has not started (work stealing), rather than
//! wait for it. Which thread does a task never changes a number (see
//! `watchtower_engine::workers`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use watchtower_engine::workers::{Task, Workers};

/// The environment variable that sets how many threads [`Pool::machine`] lends the
/// engine (by default, one per core).
pub const THREADS_VAR: &str = "WATCHTOWER_ENGINE_THREADS";

/// A pool of threads for the engine.
#[derive(Debug)]
pub struct Pool {
    threads: Option<rayon::ThreadPool>,
    width: usize,
}

impl Pool {
    /// A pool `threads` wide (at least one); with one, the caller's thread does
    /// everything and no thread is started.
    pub fn new(threads: usize) -> std::io::Result<Arc<Self>> {
        let width = threads.max(1);
        let threads = if width > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(width)
                .thread_name(|i| format!("engine-worker-{i}"))
                .build()
                .map_err(std::io::Error::other)?;
            Some(pool)
        } else {
            None
        };
        Ok(Arc::new(Self { threads, width }))
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
        let Some(pool) = self.threads.as_ref().filter(|_| tasks.len() > 1) else {
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
        let helpers = 1..self.width.min(count);
        if pool.current_thread_index().is_some() {
            // Inside the pool (a tick entered it): a share no other thread has started
            // when this one is done is taken back and run here.
            pool.scope(|scope| {
                for _ in helpers {
                    scope.spawn(|_| work());
                }
                work();
            });
        } else {
            // From outside: this thread works too, and waits for the others' shares.
            pool.in_place_scope(|scope| {
                for _ in helpers {
                    scope.spawn(|_| work());
                }
                work();
            });
        }
    }

    fn enter(&self, body: &mut (dyn FnMut() + Send)) {
        match &self.threads {
            Some(pool) => pool.install(body),
            None => body(),
        }
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
