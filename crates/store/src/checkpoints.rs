//! Checkpoints in the database: the engine's whole state at a tick, compressed with
//! zstd, so a run killed by a crash, a `kill -9` or a power cut continues where it
//! stopped instead of from tick 0, and a what-if branch can be rebuilt from its fork.
//!
//! The engine hands over its versioned bytes (it links no codec and does no I/O); the
//! store compresses them on the writer thread, inside the writer's current transaction,
//! and keeps the last [`KEEP_LAST`] of a run plus the first of every [`KEEP_EVERY`]
//! ticks. A what-if branch's starting checkpoint ([`save_shared`]) keeps its bytes once
//! for every branch forked from the same state, and a dropped branch's later ones are
//! deleted ([`forget_after`]). A checkpoint's `tick` is the first tick its state has not run yet: restored,
//! it runs that tick next. The `format` column is the engine's checkpoint format, so a
//! checkpoint of another format is refused before its bytes are read.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::{History, StoreError};

/// The newest checkpoints of a run that are always kept.
pub const KEEP_LAST: usize = 3;

/// Besides the newest, the first checkpoint in every span of this many ticks is kept.
pub const KEEP_EVERY: u64 = 10_000;

/// The zstd level: level 1 is the fastest and, on an economy's state, within a few
/// percent of level 3's size (docs/PERFORMANCE.md).
pub const LEVEL: i32 = 1;

/// A stored checkpoint, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointInfo {
    /// The run.
    pub run_id: i64,
    /// The first tick the state has not run yet.
    pub tick: u64,
    /// The engine's checkpoint format.
    pub format: u32,
    /// Bytes before compression.
    pub raw_size: u64,
    /// Bytes stored (compressed).
    pub stored_size: u64,
    /// UTC, ISO 8601.
    pub created_at: String,
}

/// What writing one checkpoint cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Bytes before compression.
    pub raw_size: u64,
    /// Bytes stored.
    pub stored_size: u64,
    /// Time spent compressing.
    pub compress: Duration,
    /// Time spent inserting and pruning.
    pub insert: Duration,
}

/// Compresses `raw` and stores it as run `run_id`'s checkpoint at `tick` (replacing one
/// already there), then prunes the run's older checkpoints. Runs on the writer's
/// connection (through `Store::submit` or `Store::call`).
pub fn save(conn: &Connection, run_id: i64, tick: u64, format: u32, raw: &[u8]) -> Result<Saved, StoreError> {
    let started = Instant::now();
    let compressed = compress(run_id, tick, raw)?;
    let compress = started.elapsed();
    let started = Instant::now();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO checkpoints (run_id, tick, format, raw_size, bytes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    )?
    .execute(params![run_id, tick as i64, format, raw.len() as i64, compressed])?;
    prune(conn, run_id)?;
    Ok(Saved { raw_size: raw.len() as u64, stored_size: compressed.len() as u64, compress, insert: started.elapsed() })
}

/// Stores `raw` as run `run_id`'s checkpoint at `tick` like [`save`], but its bytes once
/// for every row with the same bytes: a what-if branch's starting checkpoint, which is
/// its parent's state at the fork (a thousand forks of a paused run store one state).
/// `stored_size` is what this call added: 0 when the state was stored already.
pub fn save_shared(conn: &Connection, run_id: i64, tick: u64, format: u32, raw: &[u8]) -> Result<Saved, StoreError> {
    use sha2::Digest;
    let started = Instant::now();
    let digest: String = sha2::Sha256::digest(raw).iter().map(|b| format!("{b:02x}")).collect();
    let known = conn.prepare_cached("SELECT 1 FROM checkpoint_blobs WHERE digest = ?1")?.exists([&digest])?;
    let mut stored_size = 0;
    if !known {
        let compressed = compress(run_id, tick, raw)?;
        stored_size = compressed.len() as u64;
        conn.prepare_cached("INSERT INTO checkpoint_blobs (digest, bytes) VALUES (?1, ?2)")?
            .execute(params![digest, compressed])?;
    }
    let compress = started.elapsed();
    let started = Instant::now();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO checkpoints (run_id, tick, format, raw_size, bytes, blob, created_at)
         VALUES (?1, ?2, ?3, ?4, X'', ?5, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    )?
    .execute(params![run_id, tick as i64, format, raw.len() as i64, digest])?;
    prune(conn, run_id)?;
    Ok(Saved { raw_size: raw.len() as u64, stored_size, compress, insert: started.elapsed() })
}

/// Deletes run `run_id`'s checkpoints after tick `after` (a dropped branch's: it will
/// not be resumed, and its starting one, shared, is what replays it), and the shared
/// states no row names any more. Returns the rows deleted.
pub fn forget_after(conn: &Connection, run_id: i64, after: u64) -> Result<usize, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM checkpoints WHERE run_id = ?1 AND tick > ?2")?
        .execute(params![run_id, after.min(i64::MAX as u64) as i64])?;
    if deleted > 0 {
        forget_unused_blobs(conn)?;
    }
    Ok(deleted)
}

/// Deletes the shared states no checkpoint names.
pub(crate) fn forget_unused_blobs(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM checkpoint_blobs WHERE NOT EXISTS (SELECT 1 FROM checkpoints WHERE blob = digest)",
        )?
        .execute([])?)
}

/// `raw`, zstd-compressed at [`LEVEL`].
fn compress(run_id: i64, tick: u64, raw: &[u8]) -> Result<Vec<u8>, StoreError> {
    // One compression context per thread (the writer's), reused: no context is
    // allocated and freed per checkpoint.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR
        .with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = Some(zstd::bulk::Compressor::new(LEVEL)?);
            }
            c.as_mut().expect("just made").compress(raw)
        })
        .map_err(|e| StoreError::Checkpoint(format!("cannot compress run {run_id}'s state at tick {tick}: {e}")))
}

/// Deletes run `run_id`'s checkpoints but the newest [`KEEP_LAST`], the first of every
/// [`KEEP_EVERY`] ticks and, for a thinned run, the one its whole rows start from
/// (`runs.thinned_before`, see [`crate::retention`]); and the shared states no row names
/// any more.
pub fn prune(conn: &Connection, run_id: i64) -> Result<usize, StoreError> {
    let shared: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM checkpoints WHERE run_id = ?1 AND blob IS NOT NULL)")?
        .query_row([run_id], |r| r.get(0))?;
    let deleted = conn
        .prepare_cached(
            "DELETE FROM checkpoints WHERE run_id = ?1
           AND tick NOT IN (SELECT tick FROM checkpoints WHERE run_id = ?1 ORDER BY tick DESC LIMIT ?2)
           AND tick NOT IN (SELECT min(tick) FROM checkpoints WHERE run_id = ?1 GROUP BY tick / ?3)
           AND tick IS NOT (SELECT thinned_before FROM runs WHERE id = ?1)",
        )?
        .execute(params![run_id, KEEP_LAST as i64, KEEP_EVERY as i64])?;
    if shared && deleted > 0 {
        forget_unused_blobs(conn)?;
    }
    Ok(deleted)
}

fn info(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointInfo> {
    Ok(CheckpointInfo {
        run_id: r.get(0)?,
        tick: r.get::<_, i64>(1)? as u64,
        format: r.get(2)?,
        raw_size: r.get::<_, i64>(3)? as u64,
        stored_size: r.get::<_, i64>(4)? as u64,
        created_at: r.get(5)?,
    })
}

impl History {
    /// Run `run`'s checkpoints, oldest first, without their bytes.
    pub fn checkpoints(&self, run: i64) -> Result<Vec<CheckpointInfo>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(
            "SELECT run_id, tick, format, raw_size, length(bytes), created_at FROM checkpoints
             WHERE run_id = ?1 ORDER BY tick",
        )?;
        let rows = stmt.query_map([run], info)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Run `run`'s newest checkpoint at or before tick `at`, decompressed: its
    /// description and the engine's bytes. The bytes are not read unless `accept` says
    /// the description is acceptable (the format, say); otherwise its refusal is returned.
    pub fn load_checkpoint<E: From<StoreError>>(
        &self,
        run: i64,
        at: u64,
        accept: impl FnOnce(&CheckpointInfo) -> Result<(), E>,
    ) -> Result<Option<(CheckpointInfo, Vec<u8>)>, E> {
        let conn = self.connection()?;
        let at = at.min(i64::MAX as u64) as i64;
        let found = conn
            .query_row(
                "SELECT run_id, tick, format, raw_size, length(bytes), created_at FROM checkpoints
                 WHERE run_id = ?1 AND tick <= ?2 ORDER BY tick DESC LIMIT 1",
                params![run, at],
                info,
            )
            .optional()
            .map_err(StoreError::from)?;
        let Some(found) = found else { return Ok(None) };
        accept(&found)?;
        let compressed: Vec<u8> = conn
            .query_row(
                "SELECT coalesce(b.bytes, k.bytes) FROM checkpoints k LEFT JOIN checkpoint_blobs b ON b.digest = k.blob
                 WHERE k.run_id = ?1 AND k.tick = ?2",
                params![run, found.tick as i64],
                |r| r.get(0),
            )
            .map_err(StoreError::from)?;
        let raw = zstd::bulk::decompress(&compressed, found.raw_size as usize).map_err(|e| {
            StoreError::Checkpoint(format!("run {run}'s checkpoint at tick {} is damaged: {e}", found.tick))
        })?;
        Ok(Some((found, raw)))
    }
}

/// A command the engine applied to a run, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedCommand {
    /// The tick whose phase 0 (or an idle cycle just before it) applied it.
    pub tick: u64,
    /// The command.
    pub command: watchtower_protocol::GodCommand,
    /// Who sent it (`schedule` for a scheduled one).
    pub source: String,
}

impl History {
    /// The commands that changed `run` at tick `from` or later, in the order the engine
    /// applied them: what a resume or a fork re-applies after a checkpoint.
    pub fn applied_since(&self, run: i64, from: u64) -> Result<Vec<AppliedCommand>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(
            "SELECT applied_tick, command_id, key, value, source FROM commands
             WHERE run_id = ?1 AND success = 1 AND applied_tick >= ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![run, from.min(i64::MAX as u64) as i64], |r| {
            let text: String = r.get(3)?;
            let value = serde_json::from_str(&text)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e)))?;
            Ok(AppliedCommand {
                tick: r.get::<_, i64>(0)? as u64,
                command: watchtower_protocol::GodCommand { id: r.get(1)?, key: r.get(2)?, value },
                source: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
