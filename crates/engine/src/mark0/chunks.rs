//! Household phases, chunk by chunk.
//!
//! A household flow (wages, taxes, consumption, dividends, deposit interest) is one
//! cumulative-rounding split of an aggregate over the households (crate::apportion).
//! Its shares depend only on the running sum of the weights, so the households are cut
//! into chunks of [`HOUSEHOLDS`]: the running sum at each chunk's start is found first
//! (exactly: integer weights are summed per chunk, in any order; real weights are added
//! in household order, as the sequential split adds them), then every chunk pays its
//! households from its own start, on whichever thread the workers give it. The shares,
//! and so every number, are those of the sequential split, bit for bit, for any number
//! of threads.

use std::ops::Range;

use crate::apportion::IntSplit;
use crate::ledger::{AccountId, Ledger, LedgerError};
use crate::model::ModelError;
use crate::rng::CHUNK;
use crate::workers::{Task, Workers};

/// Households per chunk: the engine's chunk of agents.
pub(super) const HOUSEHOLDS: usize = CHUNK;

/// Below this many chunks a phase runs on the engine's thread alone: with fewer, the
/// second core's share is too small to pay for waking it (measured on two cores: no
/// gain at 10,000 households, three chunks; 12% at 20,000, five).
const PARALLEL_FROM: usize = 4;

/// Households from which a phase's independent sequential parts run side by side and
/// the statistics at once (as many as [`PARALLEL_FROM`] chunks).
pub(super) const PARALLEL_HOUSEHOLDS: usize = PARALLEL_FROM * HOUSEHOLDS;

/// Runs `task` on every part: on the workers when there are enough parts to share.
pub(super) fn each<T: Send>(workers: &dyn Workers, parts: &mut [T], task: impl Fn(&mut T) + Sync) {
    each_of(workers, parts, PARALLEL_FROM, task);
}

/// Runs `task` on every part: on the workers when there are at least `from` parts.
pub(super) fn each_of<T: Send>(workers: &dyn Workers, parts: &mut [T], from: usize, task: impl Fn(&mut T) + Sync) {
    if parts.len() < from.max(2) || workers.width() < 2 {
        parts.iter_mut().for_each(&task);
        return;
    }
    let task = &task;
    let mut jobs: Vec<_> = parts.iter_mut().map(|part| move || task(part)).collect();
    let mut tasks: Vec<Task<'_>> = jobs.iter_mut().map(|job| job as Task<'_>).collect();
    workers.run(&mut tasks);
}

/// Runs `a` and `b`, at once when `parallel` and there are two threads: for a phase's
/// sequential parts that do not depend on each other (a running sum over the households
/// beside the firms' work).
pub(super) fn both<A: Send, B: Send>(
    workers: &dyn Workers,
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel || workers.width() < 2 {
        return (a(), b());
    }
    let (mut a, mut b) = (Some(a), Some(b));
    let (mut done_a, mut done_b) = (None, None);
    let mut task_a = || done_a = a.take().map(|f| f());
    let mut task_b = || done_b = b.take().map(|f| f());
    workers.run(&mut [&mut task_a, &mut task_b]);
    (done_a.expect("every task runs"), done_b.expect("every task runs"))
}

/// Pays the households an amount that `split` shares by their positive balances
/// (deposit interest, dividends) from `payer`, chunk by chunk on the workers, each chunk
/// from its running sum in `chunk_starts`: every share is income, and taxable.
#[allow(clippy::too_many_arguments)] // the ledger, the split and the households' two columns
pub(super) fn pay_by_deposits(
    ledger: &mut Ledger,
    workers: &dyn Workers,
    payer: AccountId,
    households: Range<u32>,
    split: &IntSplit,
    chunk_starts: &[i128],
    income: &mut [i64],
    taxable: &mut [i64],
) -> Result<(), LedgerError> {
    ledger.fan(payer, households, HOUSEHOLDS, |fans| {
        let mut parts: Vec<_> = fans
            .iter_mut()
            .zip(income.chunks_mut(HOUSEHOLDS))
            .zip(taxable.chunks_mut(HOUSEHOLDS))
            .zip(chunk_starts)
            .map(|(((fan, income), taxable), &start)| (fan, income, taxable, start as i64, Ok(())))
            .collect();
        each(workers, &mut parts, |(fan, income, taxable, start, result)| {
            let (mut cumulative, mut given) = (*start, split.target(*start));
            *result = (0..fan.len()).try_for_each(|j| {
                cumulative += fan.balances()[j].max(0);
                let target = split.target(cumulative);
                let share = target - given;
                given = target;
                income[j] += share;
                taxable[j] += share;
                fan.pay(j, share)
            });
        });
        parts.into_iter().try_for_each(|p| p.4)
    })
}

/// The running sums at the start of each chunk of `chunk` weights, given each chunk's
/// sum: the exclusive prefix sums, after `before`.
pub(super) fn starts(sums: &[i128], before: i128) -> Vec<i128> {
    let mut at = before;
    sums.iter()
        .map(|&s| {
            let start = at;
            at += s;
            start
        })
        .collect()
}

/// A ledger failure as a model failure.
pub(super) fn ledger(e: LedgerError) -> ModelError {
    ModelError::Ledger(e)
}
