//! Threads for the engine: a rayon pool lent to a simulation through the engine's
//! `Workers` seam (the engine itself owns no threads).

use std::sync::Arc;

use watchtower_engine::workers::{Task, Workers};

/// A pool of `width` threads.
#[derive(Debug)]
pub struct Pool {
    pool: rayon::ThreadPool,
}

impl Pool {
    /// A pool of `threads` threads (at least one), named `engine-worker-N`.
    pub fn new(threads: usize) -> std::io::Result<Arc<Self>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("engine-worker-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Arc::new(Self { pool }))
    }

    /// A pool as wide as the machine.
    pub fn machine() -> std::io::Result<Arc<Self>> {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Workers for Pool {
    fn run(&self, tasks: &mut [Task<'_>]) {
        match tasks {
            [] => {}
            [only] => only(),
            [a, b] => {
                self.pool.join(a, b);
            }
            _ => self.pool.scope(|scope| {
                for task in tasks.iter_mut() {
                    scope.spawn(move |_| task());
                }
            }),
        }
    }

    fn width(&self) -> usize {
        self.pool.current_num_threads()
    }
}
