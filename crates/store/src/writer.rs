//! The one writer: a dedicated thread that owns the only write connection.
//!
//! The engine hands it [`TickRecord`]s through a bounded channel and moves on. The
//! thread batches them into transactions opened with `BEGIN IMMEDIATE` (the write lock
//! is taken up front, so a transaction never has to upgrade from a read and can never
//! deadlock with itself), committing every `batch` records or every `interval`,
//! whichever comes first. If the disk ever falls behind, the bound makes the engine wait
//! on `send` rather than drop a tick: nothing the engine finished is lost.
//!
//! [`Writer::finish`] commits what is pending, marks the run, runs
//! `PRAGMA wal_checkpoint(TRUNCATE)` and closes the connection.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use rusqlite::{Connection, params};
use tracing::{debug, info, warn};
use watchtower_protocol::{AuditEntry, IndicatorValue, Indicators, Telemetry, TickRecord};

use crate::StoreError;
use crate::connection::open_writer;
use crate::schema;

/// What a run is, recorded when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// `mark0` or `boltzmann`.
    pub model: String,
    /// The seed.
    pub seed: u64,
    /// Households (Mark-0).
    pub households: u64,
    /// Firms (Mark-0).
    pub firms: u64,
    /// Agents (Boltzmann).
    pub agents: u64,
    /// Every registry value at start, as a JSON object.
    pub parameters: serde_json::Value,
    /// The program and model version that produced it.
    pub model_version: String,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Ran to its end, or was stopped by the user and shut down cleanly.
    Finished,
    /// Stopped early (a signal before the planned end, or found dead at the next start).
    Interrupted,
    /// The engine stopped with an error.
    Failed,
}

impl RunStatus {
    /// The value stored in `runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Finished => "finished",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
}

/// Batching of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Commit after this many records.
    pub batch: usize,
    /// Commit at least this often while records are pending.
    pub interval: Duration,
    /// Records that may wait in the channel before the engine waits.
    pub capacity: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { batch: 512, interval: Duration::from_millis(100), capacity: 4_096 }
    }
}

/// What the writer did, reported when it finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// The run's id.
    pub run_id: i64,
    /// Ticks persisted.
    pub ticks: u64,
    /// Audit entries persisted.
    pub commands: u64,
    /// Transactions committed.
    pub commits: u64,
    /// The last tick persisted.
    pub last_tick: Option<u64>,
}

enum Message {
    Record(TickRecord),
    Flush(Sender<()>),
    Finish { status: RunStatus, error: Option<String> },
}

/// A clonable handle for sending records from the engine thread.
#[derive(Debug, Clone)]
pub struct RecordSender {
    tx: Sender<Message>,
}

impl RecordSender {
    /// Hands a record to the writer; waits only if the channel is full.
    pub fn send(&self, record: TickRecord) -> Result<(), StoreError> {
        self.tx.send(Message::Record(record)).map_err(|_| StoreError::WriterGone)
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Record(_) => "Record",
            Message::Flush(_) => "Flush",
            Message::Finish { .. } => "Finish",
        })
    }
}

/// The writer thread's handle.
#[derive(Debug)]
pub struct Writer {
    tx: Sender<Message>,
    thread: Option<JoinHandle<Result<WriterReport, StoreError>>>,
    run_id: i64,
    path: PathBuf,
}

impl Writer {
    /// Opens the database at `path` (creating and migrating it), marks runs left
    /// `running` by a process that died as `interrupted`, records the new run and starts
    /// the writer thread. The caller must hold the data directory's lock.
    pub fn start(path: &Path, run: &RunInfo, options: WriterOptions) -> Result<Self, StoreError> {
        let mut conn = open_writer(path)?;
        schema::migrate(&mut conn).map_err(|source| StoreError::Migration { path: path.to_path_buf(), source })?;
        let stale = conn.execute(
            "UPDATE runs SET status = 'interrupted',
                 ended_at = coalesce(ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                 last_tick = (SELECT max(tick) FROM ticks WHERE run_id = runs.id)
             WHERE status = 'running'",
            [],
        )?;
        if stale > 0 {
            warn!("marked {stale} run(s) left running by a process that died as interrupted");
        }
        conn.execute(
            "INSERT INTO runs (model, seed, households, firms, agents, parameters, model_version, started_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'running')",
            params![
                run.model,
                run.seed as i64,
                run.households as i64,
                run.firms as i64,
                run.agents as i64,
                run.parameters.to_string(),
                run.model_version,
            ],
        )?;
        let run_id = conn.last_insert_rowid();
        let (tx, rx) = bounded(options.capacity);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_loop(conn, rx, options, run_id))
            .map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })?;
        info!(run_id, path = %path.display(), "store writer started");
        Ok(Self { tx, thread: Some(thread), run_id, path: path.to_path_buf() })
    }

    /// The id of the run being written.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle the engine thread can send records through.
    pub fn sender(&self) -> RecordSender {
        RecordSender { tx: self.tx.clone() }
    }

    /// Waits until everything sent so far is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = bounded(1);
        self.tx.send(Message::Flush(ack)).map_err(|_| StoreError::WriterGone)?;
        done.recv().map_err(|_| StoreError::WriterGone)
    }

    /// Commits everything, marks the run `status`, checkpoints the WAL into the database
    /// file, closes the connection and joins the thread.
    pub fn finish(mut self, status: RunStatus, error: Option<String>) -> Result<WriterReport, StoreError> {
        self.stop(status, error)
    }

    fn stop(&mut self, status: RunStatus, error: Option<String>) -> Result<WriterReport, StoreError> {
        // If the thread already died, joining it below returns its error.
        let _ = self.tx.send(Message::Finish { status, error });
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or(Err(StoreError::WriterGone)),
            None => Err(StoreError::WriterGone),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Not finished explicitly (an early return or a panic upstream): keep what
            // was sent and say the run was cut short.
            if let Err(e) = self.stop(RunStatus::Interrupted, None) {
                warn!("store writer: {e}");
            }
        }
    }
}

fn write_loop(
    mut conn: Connection,
    rx: Receiver<Message>,
    options: WriterOptions,
    run_id: i64,
) -> Result<WriterReport, StoreError> {
    let mut report = WriterReport { run_id, ..WriterReport::default() };
    let mut open_since: Option<Instant> = None;
    let mut pending = 0usize;
    let tick_sql = insert_tick_sql();
    loop {
        let message = match open_since {
            Some(since) => match rx.recv_timeout(options.interval.saturating_sub(since.elapsed())) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => {
                    commit(&conn, &mut open_since, &mut pending, &mut report)?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            },
            None => rx.recv().ok(),
        };
        match message {
            Some(Message::Record(record)) => {
                if open_since.is_none() {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    open_since = Some(Instant::now());
                }
                insert(&conn, &tick_sql, run_id, &record, &mut report)?;
                pending += 1;
                if pending >= options.batch || open_since.is_some_and(|t| t.elapsed() >= options.interval) {
                    commit(&conn, &mut open_since, &mut pending, &mut report)?;
                }
            }
            Some(Message::Flush(ack)) => {
                commit(&conn, &mut open_since, &mut pending, &mut report)?;
                let _ = ack.send(());
            }
            Some(Message::Finish { status, error }) => {
                commit(&conn, &mut open_since, &mut pending, &mut report)?;
                close(&mut conn, run_id, status, error.as_deref(), &report)?;
                return Ok(report);
            }
            None => {
                // Every sender is gone without a Finish: keep what we have.
                commit(&conn, &mut open_since, &mut pending, &mut report)?;
                close(&mut conn, run_id, RunStatus::Interrupted, None, &report)?;
                return Ok(report);
            }
        }
    }
}

fn commit(
    conn: &Connection,
    open_since: &mut Option<Instant>,
    pending: &mut usize,
    report: &mut WriterReport,
) -> Result<(), StoreError> {
    if open_since.take().is_some() {
        conn.execute_batch("COMMIT")?;
        report.commits += 1;
        debug!(records = *pending, "committed");
        *pending = 0;
    }
    Ok(())
}

fn close(
    conn: &mut Connection,
    run_id: i64,
    status: RunStatus,
    error: Option<&str>,
    report: &WriterReport,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE runs SET status = ?2, error = ?3, ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
             last_tick = (SELECT max(tick) FROM ticks WHERE run_id = ?1)
         WHERE id = ?1",
        params![run_id, status.as_str(), error],
    )?;
    // Move the WAL into the database file and empty it, so the directory holds one
    // self-contained file after a clean shutdown.
    let (busy, log, moved): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    if busy != 0 {
        warn!(log, moved, "WAL checkpoint could not complete: a reader still holds the database");
    }
    info!(run_id, status = status.as_str(), ticks = report.ticks, last_tick = ?report.last_tick, "run closed");
    Ok(())
}

/// `INSERT INTO ticks (run_id, tick, <every indicator>) VALUES (?, ...)`.
fn insert_tick_sql() -> String {
    let columns: Vec<&str> = Indicators::FIELDS.iter().map(|(name, _)| *name).collect();
    let holes: Vec<String> = (1..=columns.len() + 2).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO ticks (run_id, tick, {}) VALUES ({})", columns.join(", "), holes.join(", "))
}

fn insert(
    conn: &Connection,
    tick_sql: &str,
    run_id: i64,
    record: &TickRecord,
    report: &mut WriterReport,
) -> Result<(), StoreError> {
    if let Some(telemetry) = &record.telemetry {
        insert_telemetry(conn, tick_sql, run_id, telemetry)?;
        report.ticks += 1;
        report.last_tick = Some(telemetry.tick);
    }
    for entry in &record.audit {
        insert_audit(conn, run_id, entry)?;
        report.commands += 1;
    }
    Ok(())
}

fn insert_telemetry(conn: &Connection, tick_sql: &str, run_id: i64, t: &Telemetry) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(tick_sql)?;
    stmt.raw_bind_parameter(1, run_id)?;
    stmt.raw_bind_parameter(2, t.tick as i64)?;
    for (i, value) in t.indicators.values().enumerate() {
        match value {
            IndicatorValue::Int(v) => stmt.raw_bind_parameter(i + 3, v)?,
            IndicatorValue::Real(v) => stmt.raw_bind_parameter(i + 3, v)?,
        }
    }
    stmt.raw_execute()?;
    let mut stats = conn.prepare_cached(
        "INSERT INTO agent_stats (run_id, tick, name, unit, count, mean, min, p10, p50, p90, max, hist_lo, hist_hi, histogram)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for d in &t.distributions {
        stats.execute(params![
            run_id,
            t.tick as i64,
            d.name,
            d.unit,
            d.count as i64,
            d.mean,
            d.min,
            d.p10,
            d.p50,
            d.p90,
            d.max,
            d.histogram.lo,
            d.histogram.hi,
            serde_json::to_string(&d.histogram.counts).expect("counts serialise"),
        ])?;
    }
    Ok(())
}

/// Longest id, key or source kept in an audit row, in characters: a client chooses its
/// ids and keys, and a refused command must not cost more disk than a valid one.
pub const AUDIT_TEXT_LIMIT: usize = 128;

/// Longest value (as JSON text) or error message kept in an audit row.
pub const AUDIT_VALUE_LIMIT: usize = 1_024;

/// `text` cut to `limit` characters, marked with `…` when cut.
fn clip(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => text.into(),
        Some((end, _)) => format!("{}…", &text[..end]).into(),
    }
}

fn insert_audit(conn: &Connection, run_id: i64, entry: &AuditEntry) -> Result<(), StoreError> {
    let r = &entry.response;
    let json = |v: &Option<watchtower_protocol::ParamValue>| v.map(|v| serde_json::to_string(&v).expect("value"));
    let value = entry.command.value.to_string();
    conn.prepare_cached(
        "INSERT INTO commands (run_id, command_id, key, value, received_at_ms, applied_tick, success, code, error, old, new, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        run_id,
        clip(&entry.command.id, AUDIT_TEXT_LIMIT),
        clip(&entry.command.key, AUDIT_TEXT_LIMIT),
        clip(&value, AUDIT_VALUE_LIMIT),
        entry.received_at_ms as i64,
        r.applied_tick.map(|t| t as i64),
        r.success,
        r.code.map(|c| serde_json::to_value(c).expect("code").as_str().unwrap_or_default().to_string()),
        r.error.as_deref().map(|e| clip(e, AUDIT_VALUE_LIMIT)),
        json(&r.old),
        json(&r.new),
        clip(&entry.source, AUDIT_TEXT_LIMIT),
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn clip_cuts_on_characters() {
        assert_eq!(super::clip("abc", 3), "abc");
        assert_eq!(super::clip("abcd", 3), "abc…");
        assert_eq!(super::clip("ééé", 2), "éé…");
    }
}
