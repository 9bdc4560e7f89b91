//! The threads a tick may use, lent by the caller.
//!
//! The engine owns no threads and pulls in no thread pool: a phase that can use more
//! than one core splits its work into independent tasks and hands them to the
//! [`Workers`] it was given. The runner lends a real pool; the default,
//! [`Sequential`], runs the tasks one after the other on the engine's thread. Every
//! task's result depends only on its inputs (random streams are keyed by seed, purpose,
//! tick and chunk, never by thread), so the numbers are the same whichever runs them.

use std::fmt::Debug;
use std::sync::Arc;

/// A task: a closure over its own share of the state.
pub type Task<'a> = &'a mut (dyn FnMut() + Send);

/// Runs independent tasks, possibly several at once.
pub trait Workers: Send + Sync + Debug {
    /// Runs every task once and returns when all are done. The tasks touch disjoint
    /// state, so the order and the overlap cannot change what they compute.
    fn run(&self, tasks: &mut [Task<'_>]);

    /// How many tasks may run at once (1 for [`Sequential`]); phases use it to decide
    /// whether splitting pays.
    fn width(&self) -> usize;

    /// Runs `body` (a whole tick) where handing out tasks costs least. A pool runs it on
    /// one of its own threads, so that a task no other thread has started by the time
    /// the others are done is simply taken back and run there, instead of waited for.
    /// By default, here.
    fn enter(&self, body: &mut (dyn FnMut() + Send)) {
        body();
    }
}

/// Runs tasks one after the other on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequential;

impl Workers for Sequential {
    fn run(&self, tasks: &mut [Task<'_>]) {
        for task in tasks {
            task();
        }
    }

    fn width(&self) -> usize {
        1
    }
}

/// The workers a simulation uses unless it is given others.
pub fn sequential() -> Arc<dyn Workers> {
    Arc::new(Sequential)
}
