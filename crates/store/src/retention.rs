//! Retention: a live run's disk use has a bound the operator chooses (`--keep-ticks N`).
//!
//! The per-tick rows (`ticks`, `agent_stats`) of the last `N` ticks are kept whole.
//! Older ones are *thinned*: a row is kept only if its tick is a multiple of the run's
//! stride `K`, so the long chart keeps its shape. `K` starts at [`FIRST_STRIDE`] and is
//! doubled whenever more than [`MAX_THINNED_ROWS`] older rows would be kept (the older
//! rows are then thinned again to the new stride), so the older history holds between
//! half of that and that many rows however long the run goes: the database stops
//! growing. Every audited command is kept, and so are the checkpoints a resume and a
//! replay need:
//!
//! - The thinning stops at the newest checkpoint at or before the window's start (its
//!   tick is `runs.thinned_before`): every row from there on is whole, and that
//!   checkpoint is kept ([`crate::checkpoints::prune`] never deletes it), so a resume,
//!   or a replay from the window's start, re-runs and compares whole rows.
//! - Older checkpoints are deleted, but a branch's starting one (its own genesis).
//! - A run's genesis needs no checkpoint (it is rebuilt from the seed and the parameters
//!   at start) and every command is kept, so a replay from genesis stays possible; it
//!   compares the rows the thinning kept before `thinned_before` and every row after.
//!
//! The work runs on the writer thread, in the transaction it is about to commit, at
//! most [`BATCH_TICKS`] ticks' rows at a time, so a tick is never held up for long.
//! SQLite puts the pages it frees on its free list and reuses them for new rows, so
//! the file stops growing without a vacuum (docs/PERFORMANCE.md measures it).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::StoreError;

/// The stride older rows are first thinned to: 1 row in 100.
pub const FIRST_STRIDE: u64 = 100;

/// The most rows older than the window a run keeps: past it, the stride doubles.
pub const MAX_THINNED_ROWS: u64 = 4_000;

/// The most ticks' rows one step looks at (deletes at most that many rows per table).
pub const BATCH_TICKS: u64 = 2_048;

/// What a store keeps of the runs it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest ticks kept whole (at least 1).
    pub keep_ticks: u64,
    /// The stride older rows are first thinned to ([`FIRST_STRIDE`]).
    pub first_stride: u64,
    /// The most older rows kept before the stride doubles ([`MAX_THINNED_ROWS`]).
    pub max_thinned_rows: u64,
}

impl Retention {
    /// The newest `keep_ticks` ticks whole, older ones thinned as documented above.
    pub fn keep(keep_ticks: u64) -> Self {
        Self { keep_ticks: keep_ticks.max(1), first_stride: FIRST_STRIDE, max_thinned_rows: MAX_THINNED_ROWS }
    }
}

/// What was thinned of a run, as its row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thinned {
    /// Ticks before this one keep one row in [`Thinned::every`]; from it on, every row.
    pub before: u64,
    /// The stride: a tick before [`Thinned::before`] is kept iff it is a multiple of it.
    pub every: u64,
}

impl std::fmt::Display for Thinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ticks 0–{} kept 1 in {}", grouped(self.before.saturating_sub(1)), grouped(self.every))
    }
}

/// `1234567` -> `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One run's thinning on the writer thread: what is stored, and a re-thinning to a
/// doubled stride in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct Thinning {
    loaded: bool,
    before: u64,
    every: u64,
    /// A re-thinning to this stride, done below the second tick.
    sweep: Option<(u64, u64)>,
}

impl Thinning {
    fn load(&mut self, conn: &Connection, run_id: i64, first_stride: u64) -> Result<(), StoreError> {
        if !self.loaded {
            let stored: Option<(Option<i64>, Option<i64>)> = conn
                .query_row("SELECT thinned_before, thin_every FROM runs WHERE id = ?1", [run_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let (before, every) = stored.unwrap_or_default();
            self.before = before.unwrap_or(0).max(0) as u64;
            self.every = every.map_or(first_stride, |e| e.max(1) as u64);
            self.loaded = true;
        }
        Ok(())
    }

    /// One bounded step of run `run_id`'s thinning, whose newest stored tick is `last`;
    /// returns whether it changed anything.
    pub(crate) fn step(
        &mut self,
        conn: &Connection,
        run_id: i64,
        last: u64,
        retention: Retention,
    ) -> Result<bool, StoreError> {
        self.load(conn, run_id, retention.first_stride.max(1))?;
        if let Some((every, done)) = self.sweep {
            // Thinning again, to the doubled stride, what is already thinned.
            let to = done.saturating_add(BATCH_TICKS.saturating_mul(self.every)).min(self.before);
            thin(conn, run_id, done, to, every)?;
            if to >= self.before {
                self.every = every;
                self.sweep = None;
                record(conn, run_id, self.before, self.every)?;
            } else {
                self.sweep = Some((every, to));
            }
            return Ok(true);
        }
        let window_start = (last + 1).saturating_sub(retention.keep_ticks.max(1));
        let boundary: Option<i64> = conn
            .prepare_cached("SELECT max(tick) FROM checkpoints WHERE run_id = ?1 AND tick <= ?2")?
            .query_row(params![run_id, window_start as i64], |r| r.get(0))?;
        let Some(boundary) = boundary.map(|b| b.max(0) as u64).filter(|&b| b > self.before) else {
            return Ok(false);
        };
        let to = self.before.saturating_add(BATCH_TICKS).min(boundary);
        thin(conn, run_id, self.before, to, self.every)?;
        self.before = to;
        if to == boundary {
            // The checkpoints before the new boundary are no longer needed, but a
            // branch's starting one.
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM checkpoints WHERE run_id = ?1 AND tick < ?2
                       AND tick IS NOT (SELECT fork_tick FROM runs WHERE id = ?1 AND parent_run_id IS NOT NULL)",
                )?
                .execute(params![run_id, to as i64])?;
            if deleted > 0 {
                crate::checkpoints::forget_unused_blobs(conn)?;
            }
        }
        record(conn, run_id, self.before, self.every)?;
        if self.before / self.every > retention.max_thinned_rows.max(1) {
            self.sweep = Some((self.every.saturating_mul(2), 0));
        }
        Ok(true)
    }
}

/// Deletes run `run_id`'s rows of ticks in `from..to` that are not multiples of `every`.
fn thin(conn: &Connection, run_id: i64, from: u64, to: u64, every: u64) -> Result<(), StoreError> {
    let args = params![run_id, from as i64, to as i64, every.max(1) as i64];
    // `agent_stats` rows name their tick's row (a foreign key): they go first.
    conn.prepare_cached("DELETE FROM agent_stats WHERE run_id = ?1 AND tick >= ?2 AND tick < ?3 AND tick % ?4 <> 0")?
        .execute(args)?;
    conn.prepare_cached("DELETE FROM ticks WHERE run_id = ?1 AND tick >= ?2 AND tick < ?3 AND tick % ?4 <> 0")?
        .execute(args)?;
    Ok(())
}

fn record(conn: &Connection, run_id: i64, before: u64, every: u64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE runs SET thinned_before = ?2, thin_every = ?3 WHERE id = ?1")?.execute(params![
        run_id,
        before as i64,
        every as i64
    ])?;
    Ok(())
}
