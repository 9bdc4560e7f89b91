//! The read side: a pool of read-only connections for history queries.
//!
//! In WAL mode a reader sees the last committed state and never blocks the writer;
//! with the busy timeout a reader that meets a lock (a checkpoint, a WAL recovery)
//! waits instead of failing. So any number of readers (the server's HTTP handlers,
//! `watchtower export` in another process) can query while the engine writes.

use std::path::Path;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{OpenFlags, OptionalExtension, Row, params};
use serde::Serialize;
use watchtower_protocol::{IndicatorValue, Indicators};

use crate::StoreError;
use crate::connection::configure;

/// One run, as `watchtower runs` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Id.
    pub id: i64,
    /// `mark0` or `boltzmann`.
    pub model: String,
    /// Seed.
    pub seed: u64,
    /// Households.
    pub households: u64,
    /// Firms.
    pub firms: u64,
    /// Agents.
    pub agents: u64,
    /// `running`, `finished`, `interrupted` or `failed`.
    pub status: String,
    /// UTC, ISO 8601.
    pub started_at: String,
    /// UTC, ISO 8601.
    pub ended_at: Option<String>,
    /// Last tick persisted.
    pub last_tick: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Registry values at start.
    pub parameters: serde_json::Value,
    /// Program and model version.
    pub model_version: String,
    /// A what-if branch's parent run.
    pub parent_run_id: Option<i64>,
    /// The first tick a branch ran apart from its parent.
    pub fork_tick: Option<u64>,
    /// A branch's name, if it was given one.
    pub branch_name: Option<String>,
    /// The settings a branch's fork changed (a JSON object), or null.
    pub changes: serde_json::Value,
    /// A dropped branch: the tick before which it was dropped.
    pub dropped_tick: Option<u64>,
    /// The tick target the run was started with.
    pub tick_target: Option<u64>,
    /// The run's schedule as planned (a JSON list of `{tick, key, value}`), or null.
    pub schedule: serde_json::Value,
    /// The ticks it was resumed at, after a crash or an interruption.
    pub resumed_at: Vec<u64>,
    /// What retention (`--keep-ticks`) thinned of its per-tick rows, if anything.
    pub thinned: Option<crate::Thinned>,
}

/// Most characters of a free-text field (a branch's name, an error, an experiment's
/// name) in a listing: whatever a database holds, a listing's row stays small.
pub const LISTED_TEXT: usize = 1_024;

/// Longest schedule (JSON bytes) a run listing carries; a longer one is null there (the
/// run's own reads, resume and replay, still see it whole).
pub const LISTED_SCHEDULE: usize = 65_536;

/// The columns [`run_row`] reads, in its order; `listed`: with the listing's caps.
fn run_columns(listed: bool) -> String {
    let (branch, error, schedule) = if listed {
        (
            format!("substr(branch_name, 1, {LISTED_TEXT})"),
            format!("substr(error, 1, {LISTED_TEXT})"),
            format!("CASE WHEN length(CAST(schedule AS BLOB)) <= {LISTED_SCHEDULE} THEN schedule END"),
        )
    } else {
        ("branch_name".to_string(), "error".to_string(), "schedule".to_string())
    };
    format!(
        "id, model, seed, households, firms, agents, status, started_at, ended_at,
         coalesce(last_tick, (SELECT max(tick) FROM ticks WHERE run_id = runs.id)),
         {error}, parameters, model_version,
         parent_run_id, fork_tick, {branch}, changes, dropped_tick, tick_target, {schedule}, resumed_at,
         thinned_before, thin_every"
    )
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let tick = |t: Option<i64>| t.map(|t| t as u64);
    Ok(RunRow {
        id: r.get(0)?,
        model: r.get(1)?,
        seed: r.get::<_, i64>(2)? as u64,
        households: r.get::<_, i64>(3)? as u64,
        firms: r.get::<_, i64>(4)? as u64,
        agents: r.get::<_, i64>(5)? as u64,
        status: r.get(6)?,
        started_at: r.get(7)?,
        ended_at: r.get(8)?,
        last_tick: tick(r.get(9)?),
        error: r.get(10)?,
        parameters: serde_json::from_str(&r.get::<_, String>(11)?).unwrap_or_default(),
        model_version: r.get(12)?,
        parent_run_id: r.get(13)?,
        fork_tick: tick(r.get(14)?),
        branch_name: r.get(15)?,
        changes: json(r.get(16)?),
        dropped_tick: tick(r.get(17)?),
        tick_target: tick(r.get(18)?),
        schedule: json(r.get(19)?),
        resumed_at: serde_json::from_value(json(r.get(20)?)).unwrap_or_default(),
        thinned: match (tick(r.get(21)?), tick(r.get(22)?)) {
            (Some(before), Some(every)) if before > 0 => Some(crate::Thinned { before, every }),
            _ => None,
        },
    })
}

/// One persisted tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickRow {
    /// The tick.
    pub tick: u64,
    /// Its indicators.
    #[serde(flatten)]
    pub indicators: Indicators,
}

/// One audited command, newest first in listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Arrival order.
    pub seq: i64,
    /// The run.
    pub run_id: i64,
    /// The client's id.
    pub id: String,
    /// Registry key.
    pub key: String,
    /// The value as received.
    pub value: serde_json::Value,
    /// When the server received it, ms since the epoch.
    pub received_at_ms: i64,
    /// Who sent it: transport and peer address.
    pub source: String,
    /// Tick whose phase 0 handled it.
    pub applied_tick: Option<u64>,
    /// Applied or not.
    pub success: bool,
    /// Error code.
    pub code: Option<String>,
    /// Error in words.
    pub error: Option<String>,
    /// Value before.
    pub old: Option<serde_json::Value>,
    /// Value after.
    pub new: Option<serde_json::Value>,
}

/// The read-only connection pool.
#[derive(Debug, Clone)]
pub struct History {
    pool: Pool<SqliteConnectionManager>,
}

impl History {
    /// Opens `size` read-only connections to the database at `path`, which must exist.
    pub fn open(path: &Path, size: u32) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| configure(c));
        let pool = Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Pool { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(Self { pool })
    }

    /// How many connections the pool holds: at most this many queries run at once.
    pub fn size(&self) -> u32 {
        self.pool.max_size()
    }

    /// A pooled read-only connection, for queries not offered here (and tests).
    pub fn connection(&self) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        self.pool.get().map_err(|e| StoreError::Pool { path: Default::default(), message: e.to_string() })
    }

    /// Every run, newest first, whole (what resume and replay read; the API lists them
    /// a page at a time with [`History::runs_page`]).
    pub fn runs(&self) -> Result<Vec<RunRow>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!("SELECT {} FROM runs ORDER BY id DESC", run_columns(false)))?;
        let rows = stmt.query_map([], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One page of the runs, newest first: those with an id below `before` (every run
    /// without it), at most `limit`, each handed to `visit` as it comes off the cursor, so
    /// a listing never holds more than the row it is writing. Free text is cut to
    /// [`LISTED_TEXT`] characters and a schedule longer than [`LISTED_SCHEDULE`] bytes is
    /// left out (null), so no row is larger than its columns' caps.
    pub fn runs_page(
        &self,
        before: Option<i64>,
        limit: usize,
        mut visit: impl FnMut(RunRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.connection()?;
        let mut stmt =
            conn.prepare(&format!("SELECT {} FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT ?2", run_columns(true)))?;
        let before = before.unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![before, limit.min(i64::MAX as usize) as i64])?;
        while let Some(row) = rows.next()? {
            visit(run_row(row)?)?;
        }
        Ok(())
    }

    /// The newest run's id.
    pub fn latest_run(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.connection()?;
        Ok(conn.query_row("SELECT max(id) FROM runs", [], |r| r.get(0)).optional()?.flatten())
    }

    /// The last tick persisted for `run` at or before `to` (a primary-key lookup).
    pub fn last_tick(&self, run: i64, to: u64) -> Result<Option<u64>, StoreError> {
        let conn = self.connection()?;
        let to = sql_bound(to);
        let last: Option<i64> =
            conn.query_row("SELECT max(tick) FROM ticks WHERE run_id = ?1 AND tick <= ?2", params![run, to], |r| {
                r.get(0)
            })?;
        Ok(last.map(|t| t as u64))
    }

    /// Ticks `from..=to` of `run`, at most `limit`, oldest first.
    pub fn ticks(&self, run: i64, from: u64, to: u64, limit: usize) -> Result<Vec<TickRow>, StoreError> {
        let mut out = Vec::new();
        self.for_each_tick(run, from, to, limit, |tick, values| {
            out.push(TickRow { tick, indicators: indicators_from(values) });
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams ticks `from..=to` of `run` (at most `limit`) as raw indicator values in
    /// the order of [`Indicators::FIELDS`], without building a row per tick.
    pub fn for_each_tick(
        &self,
        run: i64,
        from: u64,
        to: u64,
        limit: usize,
        mut f: impl FnMut(u64, &[IndicatorValue]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // No stored tick is past i64::MAX (SQLite's INTEGER): nothing to read.
        let Ok(from) = i64::try_from(from) else { return Ok(()) };
        let conn = self.connection()?;
        let columns: Vec<&str> = Indicators::FIELDS.iter().map(|(n, _)| *n).collect();
        let sql = format!(
            "SELECT tick, {} FROM ticks WHERE run_id = ?1 AND tick BETWEEN ?2 AND ?3 ORDER BY tick LIMIT ?4",
            columns.join(", ")
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params![run, from, sql_bound(to), sql_bound(limit as u64)])?;
        let mut values = Vec::with_capacity(columns.len());
        while let Some(row) = rows.next()? {
            values.clear();
            for (i, (_, kind)) in Indicators::FIELDS.iter().enumerate() {
                values.push(read_value(row, i + 1, kind)?);
            }
            f(row.get::<_, i64>(0)? as u64, &values)?;
        }
        Ok(())
    }

    /// The newest `limit` audited commands, of `run` or of every run.
    pub fn audit(&self, run: Option<i64>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(
            "SELECT id, run_id, command_id, key, value, received_at_ms, applied_tick, success, code, error, old, new, source
             FROM commands WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        let rows = stmt.query_map(params![run, sql_bound(limit as u64)], |r| {
            Ok(AuditRow {
                seq: r.get(0)?,
                run_id: r.get(1)?,
                id: r.get(2)?,
                key: r.get(3)?,
                value: json(r.get(4)?).unwrap_or(serde_json::Value::Null),
                received_at_ms: r.get(5)?,
                applied_tick: r.get::<_, Option<i64>>(6)?.map(|t| t as u64),
                success: r.get(7)?,
                code: r.get(8)?,
                error: r.get(9)?,
                old: json(r.get(10)?),
                new: json(r.get(11)?),
                source: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl History {
    /// The commands that changed `run`, in the order the engine applied them, with the
    /// tick whose phase 0 applied each: what a replay must submit.
    pub fn applied_commands(&self, run: i64) -> Result<Vec<(u64, watchtower_protocol::GodCommand)>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(
            "SELECT applied_tick, command_id, key, value FROM commands
             WHERE run_id = ?1 AND success = 1 AND applied_tick IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([run], |r| {
            let text: String = r.get(3)?;
            let value = serde_json::from_str(&text)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e)))?;
            Ok((r.get::<_, i64>(0)? as u64, watchtower_protocol::GodCommand { id: r.get(1)?, key: r.get(2)?, value }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An upper bound (a last tick, a row count) from a caller, as SQLite's INTEGER: past
/// `i64::MAX` it saturates, which bounds nothing more, where a cast (`as i64`) would
/// wrap to a negative number and turn "everything up to the end" into "nothing", or a
/// huge `from` into tick 0.
fn sql_bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn read_value(row: &Row<'_>, i: usize, kind: &str) -> rusqlite::Result<IndicatorValue> {
    Ok(if kind == "INTEGER" { IndicatorValue::Int(row.get(i)?) } else { IndicatorValue::Real(row.get(i)?) })
}

/// Rebuilds [`Indicators`] from values in the order of [`Indicators::FIELDS`].
pub fn indicators_from(values: &[IndicatorValue]) -> Indicators {
    let map: serde_json::Map<String, serde_json::Value> = Indicators::FIELDS
        .iter()
        .zip(values)
        .map(|((name, _), v)| {
            let v = match *v {
                IndicatorValue::Int(i) => serde_json::Value::from(i),
                IndicatorValue::Real(x) => serde_json::Value::from(x),
            };
            (name.to_string(), v)
        })
        .collect();
    serde_json::from_value(serde_json::Value::Object(map)).expect("FIELDS and Indicators agree")
}
