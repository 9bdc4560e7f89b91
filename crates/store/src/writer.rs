//! The one writer: a dedicated thread that owns the only write connection.
//!
//! A [`Store`] is that thread. Any number of runs write through it at once (a live run
//! and its what-if branches, the runs of an experiment): [`Store::start_run`] records a
//! run and returns its [`RunWriter`], through which the engine side hands over
//! [`TickRecord`]s and moves on. The thread batches everything into transactions opened
//! with `BEGIN IMMEDIATE` (the write lock is taken up front, so a transaction never has
//! to upgrade from a read and can never deadlock with itself), committing every `batch`
//! messages or every `interval`, whichever comes first. If the disk ever falls behind,
//! the bound makes the sender wait rather than drop a tick: nothing the engine finished
//! is lost.
//!
//! Other parts of the program write their own tables through the same thread with
//! [`Store::call`] (a write whose result they wait for) and [`Store::submit`] (one they
//! do not), so one connection still takes every write.
//!
//! [`Store::close`] commits what is pending, runs `PRAGMA wal_checkpoint(TRUNCATE)` and
//! closes the connection. [`Writer`] is the single-run shorthand the `run` and `serve`
//! commands use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use rusqlite::{Connection, params};
use tracing::{debug, info, warn};
use watchtower_protocol::{AuditEntry, IndicatorValue, Indicators, Telemetry, TickRecord};

use crate::StoreError;
use crate::connection::open_writer;
use crate::retention::{Retention, Thinning};
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

/// What a run is planned to be, beyond what [`RunInfo`] says it is: how far it goes,
/// its schedule and, for a what-if branch, where it came from. Recorded with the run, so
/// a resume can continue it as it was planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPlan {
    /// The tick target it was started with (`--ticks`); `None` runs until stopped.
    pub tick_target: Option<u64>,
    /// Its schedule, as a JSON list of `{tick, key, value}`.
    pub schedule: Option<serde_json::Value>,
    /// For a branch: its parent and fork.
    pub lineage: Option<Lineage>,
}

/// Where a what-if branch came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    /// The run it was forked from.
    pub parent_run_id: i64,
    /// The first tick it ran apart from its parent (the parent's state before this tick).
    pub fork_tick: u64,
    /// A name for people, if one was given.
    pub name: Option<String>,
    /// The settings the fork changed, as a JSON object of key to value.
    pub changes: serde_json::Value,
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
    /// Commit after this many messages.
    pub batch: usize,
    /// Commit at least this often while messages are pending.
    pub interval: Duration,
    /// Messages that may wait in the channel before senders wait.
    pub capacity: usize,
    /// What is kept of the runs it writes (`None`: everything).
    pub retention: Option<Retention>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { batch: 512, interval: Duration::from_millis(100), capacity: 4_096, retention: None }
    }
}

/// What the writer did for one run, reported when the run finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// The run's id.
    pub run_id: i64,
    /// Ticks persisted.
    pub ticks: u64,
    /// Audit entries persisted.
    pub commands: u64,
    /// Transactions committed while the run was open (shared with other runs).
    pub commits: u64,
    /// The last tick persisted.
    pub last_tick: Option<u64>,
}

/// A write to run on the writer's connection, inside its current transaction.
type Job = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

enum Message {
    StartRun { info: RunInfo, plan: RunPlan, reply: Sender<Result<i64, StoreError>> },
    ResumeRun { run_id: i64, at: u64, reply: Sender<Result<(), StoreError>> },
    Record { run_id: i64, record: TickRecord },
    FinishRun { run_id: i64, status: RunStatus, error: Option<String>, reply: Sender<Result<WriterReport, StoreError>> },
    Job(Job),
    Flush(Sender<()>),
    Close,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::StartRun { .. } => "StartRun",
            Message::ResumeRun { .. } => "ResumeRun",
            Message::Record { .. } => "Record",
            Message::FinishRun { .. } => "FinishRun",
            Message::Job(_) => "Job",
            Message::Flush(_) => "Flush",
            Message::Close => "Close",
        })
    }
}

/// The writer thread of one database.
#[derive(Debug)]
pub struct Store {
    tx: Sender<Message>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
    path: PathBuf,
}

impl Store {
    /// Opens the database at `path` (creating and migrating it), marks runs left
    /// `running` by a process that died as `interrupted`, and starts the writer thread.
    /// The caller must hold the data directory's lock.
    pub fn open(path: &Path, options: WriterOptions) -> Result<Self, StoreError> {
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
        let stale = crate::experiments::mark_stale(&conn)?;
        if stale > 0 {
            warn!("marked {stale} experiment(s) left running by a process that died as interrupted");
        }
        let (tx, rx) = bounded(options.capacity);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_loop(conn, rx, options))
            .map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })?;
        info!(path = %path.display(), "store writer started");
        Ok(Self { tx, thread: Some(thread), path: path.to_path_buf() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a new run (`running`) and returns the handle its ticks go through.
    pub fn start_run(&self, info: &RunInfo) -> Result<RunWriter, StoreError> {
        self.handle().start_run(info, &RunPlan::default())
    }

    /// Records a new run with its plan (tick target, schedule, lineage).
    pub fn start_planned(&self, info: &RunInfo, plan: &RunPlan) -> Result<RunWriter, StoreError> {
        self.handle().start_run(info, plan)
    }

    /// Runs `write` on the writer's connection (inside its current transaction) and
    /// returns its result: how other tables are written through the one writer.
    pub fn call<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.handle().call(write)
    }

    /// Queues `write` without waiting for it. If it fails, the writer stops and reports
    /// the error (as a failed tick insert would).
    pub fn submit(
        &self,
        write: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.handle().submit(write)
    }

    /// Waits until everything sent so far is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.handle().flush()
    }

    /// A clonable way into the writer thread, for another thread (the engine's, which
    /// starts what-if branches and hands over checkpoints).
    pub fn handle(&self) -> StoreHandle {
        StoreHandle { tx: self.tx.clone() }
    }

    /// Commits everything, checkpoints the WAL into the database file, closes the
    /// connection and joins the thread. Runs still open stay `running` (and are marked
    /// `interrupted` at the next start).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        // If the thread already died, joining it below returns its error.
        let _ = self.tx.send(Message::Close);
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or(Err(StoreError::WriterGone)),
            None => Ok(()),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.thread.is_some()
            && let Err(e) = self.stop()
        {
            warn!("store writer: {e}");
        }
    }
}

/// A clonable way into a [`Store`]'s writer thread: start or resume runs, and write
/// other tables, from any thread. The thread runs while the `Store` is open.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: Sender<Message>,
}

impl StoreHandle {
    /// Records a new run (`running`) with its plan and returns the handle its ticks go
    /// through.
    pub fn start_run(&self, info: &RunInfo, plan: &RunPlan) -> Result<RunWriter, StoreError> {
        let (reply, answer) = bounded(1);
        self.send(Message::StartRun { info: info.clone(), plan: plan.clone(), reply })?;
        let run_id = answer.recv().map_err(|_| StoreError::WriterGone)??;
        Ok(RunWriter { tx: self.tx.clone(), run_id })
    }

    /// Continues run `run_id` (interrupted): marks it `running` again, notes that it
    /// resumed at tick `at`, and returns the handle its further ticks go through. The
    /// caller must have checked that the run's stored ticks end just before `at`.
    pub fn resume_run(&self, run_id: i64, at: u64) -> Result<RunWriter, StoreError> {
        let (reply, answer) = bounded(1);
        self.send(Message::ResumeRun { run_id, at, reply })?;
        answer.recv().map_err(|_| StoreError::WriterGone)??;
        Ok(RunWriter { tx: self.tx.clone(), run_id })
    }

    /// See [`Store::call`].
    pub fn call<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = bounded(1);
        self.submit(move |conn| {
            let _ = reply.send(write(conn));
            Ok(())
        })?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// See [`Store::submit`].
    pub fn submit(
        &self,
        write: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.send(Message::Job(Box::new(write)))
    }

    /// Waits until everything sent so far is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = bounded(1);
        self.send(Message::Flush(ack))?;
        done.recv().map_err(|_| StoreError::WriterGone)
    }

    fn send(&self, message: Message) -> Result<(), StoreError> {
        self.tx.send(message).map_err(|_| StoreError::WriterGone)
    }
}

/// One run's way into the store: clonable, for the engine's thread.
#[derive(Debug, Clone)]
pub struct RunWriter {
    tx: Sender<Message>,
    run_id: i64,
}

/// The older name of a run's sending handle.
pub type RecordSender = RunWriter;

impl RunWriter {
    /// The run's id.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Hands a record to the writer; waits only if the channel is full.
    pub fn send(&self, record: TickRecord) -> Result<(), StoreError> {
        self.tx.send(Message::Record { run_id: self.run_id, record }).map_err(|_| StoreError::WriterGone)
    }

    /// A way into the same writer thread, for other writes (checkpoints).
    pub fn store(&self) -> StoreHandle {
        StoreHandle { tx: self.tx.clone() }
    }

    /// Ends a what-if branch that was dropped before tick `tick`: its rows stay, the run
    /// is marked `finished` with `dropped_tick`.
    pub fn finish_dropped(&self, tick: u64) -> Result<WriterReport, StoreError> {
        let run_id = self.run_id;
        self.store().submit(move |conn| {
            conn.execute("UPDATE runs SET dropped_tick = ?2 WHERE id = ?1", params![run_id, tick as i64])?;
            Ok(())
        })?;
        self.finish(RunStatus::Finished, None)
    }

    /// Commits the run's records, marks it `status` and reports what was written.
    pub fn finish(&self, status: RunStatus, error: Option<String>) -> Result<WriterReport, StoreError> {
        let (reply, answer) = bounded(1);
        self.tx
            .send(Message::FinishRun { run_id: self.run_id, status, error, reply })
            .map_err(|_| StoreError::WriterGone)?;
        answer.recv().map_err(|_| StoreError::WriterGone)?
    }
}

/// A store with one run: what `watchtower run` and `serve` write.
#[derive(Debug)]
pub struct Writer {
    store: Store,
    run: RunWriter,
}

impl Writer {
    /// Opens the store at `path` and records a new run in it. The caller must hold the
    /// data directory's lock.
    pub fn start(path: &Path, run: &RunInfo, options: WriterOptions) -> Result<Self, StoreError> {
        Self::start_planned(path, run, &RunPlan::default(), options)
    }

    /// Opens the store at `path` and records a new run with its plan in it.
    pub fn start_planned(
        path: &Path,
        run: &RunInfo,
        plan: &RunPlan,
        options: WriterOptions,
    ) -> Result<Self, StoreError> {
        let store = Store::open(path, options)?;
        let run = store.start_planned(run, plan)?;
        info!(run_id = run.run_id, "run started");
        Ok(Self { store, run })
    }

    /// Opens the store at `path` and continues run `run_id` from tick `at` (see
    /// [`StoreHandle::resume_run`]).
    pub fn resume(path: &Path, run_id: i64, at: u64, options: WriterOptions) -> Result<Self, StoreError> {
        let store = Store::open(path, options)?;
        let run = store.handle().resume_run(run_id, at)?;
        info!(run_id, at, "run resumed");
        Ok(Self { store, run })
    }

    /// The id of the run being written.
    pub fn run_id(&self) -> i64 {
        self.run.run_id
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The store, for other writes through the same thread.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle the engine thread can send records through.
    pub fn sender(&self) -> RunWriter {
        self.run.clone()
    }

    /// Waits until everything sent so far is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// Commits everything, marks the run `status`, checkpoints the WAL into the database
    /// file, closes the connection and joins the thread.
    pub fn finish(self, status: RunStatus, error: Option<String>) -> Result<WriterReport, StoreError> {
        let report = self.run.finish(status, error);
        // If the thread died (a full disk, say), closing returns its own error, which is
        // the one to report rather than "the writer has stopped".
        self.store.close()?;
        report
    }
}

/// The writer thread's state.
struct Loop {
    conn: Connection,
    options: WriterOptions,
    open_since: Option<Instant>,
    pending: usize,
    commits: u64,
    reports: HashMap<i64, WriterReport>,
    thinning: HashMap<i64, Thinning>,
    tick_sql: String,
}

fn write_loop(conn: Connection, rx: Receiver<Message>, options: WriterOptions) -> Result<(), StoreError> {
    let mut w = Loop {
        conn,
        options,
        open_since: None,
        pending: 0,
        commits: 0,
        reports: HashMap::new(),
        thinning: HashMap::new(),
        tick_sql: insert_tick_sql(),
    };
    loop {
        let message = match w.open_since {
            Some(since) => match rx.recv_timeout(w.options.interval.saturating_sub(since.elapsed())) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => {
                    w.commit()?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            },
            None => rx.recv().ok(),
        };
        match message {
            Some(Message::Record { run_id, record }) => {
                w.begin()?;
                let mut report =
                    w.reports.get(&run_id).cloned().unwrap_or(WriterReport { run_id, ..Default::default() });
                w.atomically(|conn, tick_sql| insert(conn, tick_sql, run_id, &record, &mut report))?;
                w.reports.insert(run_id, report);
                w.written()?;
            }
            Some(Message::Job(job)) => {
                w.begin()?;
                w.atomically(|conn, _| job(conn))?;
                w.written()?;
            }
            Some(Message::StartRun { info, plan, reply }) => {
                w.begin()?;
                let started = start_run(&w.conn, &info, &plan);
                if let Ok(id) = started {
                    w.reports.insert(id, WriterReport { run_id: id, ..Default::default() });
                }
                // Committed before the id is handed out: the run is visible to readers.
                w.commit()?;
                let _ = reply.send(started);
            }
            Some(Message::ResumeRun { run_id, at, reply }) => {
                w.begin()?;
                let resumed = resume_run(&w.conn, run_id, at);
                if resumed.is_ok() {
                    w.reports.insert(run_id, WriterReport { run_id, ..Default::default() });
                }
                w.commit()?;
                let _ = reply.send(resumed);
            }
            Some(Message::FinishRun { run_id, status, error, reply }) => {
                w.commit()?;
                let mut report = w.reports.remove(&run_id).unwrap_or(WriterReport { run_id, ..Default::default() });
                report.commits = w.commits;
                let closed = close_run(&w.conn, run_id, status, error.as_deref(), &report).map(|()| report);
                let _ = reply.send(closed);
            }
            Some(Message::Flush(ack)) => {
                w.commit()?;
                let _ = ack.send(());
            }
            Some(Message::Close) | None => {
                // Close, or every sender gone without one: keep what we have. Runs still
                // open are not marked here: whoever started them knows how they ended,
                // and the next start marks them interrupted if nobody said.
                w.commit()?;
                return checkpoint(&w.conn);
            }
        }
    }
}

impl Loop {
    /// Runs one message's writes inside a savepoint. If they fail, only they are undone:
    /// everything before them in the open transaction (other runs' ticks, already handed
    /// over) is committed, and then the writer stops with the error.
    fn atomically(
        &mut self,
        write: impl FnOnce(&Connection, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT message")?;
        match write(&self.conn, &self.tick_sql) {
            Ok(()) => Ok(self.conn.execute_batch("RELEASE message")?),
            Err(e) => {
                let kept = self
                    .conn
                    .execute_batch("ROLLBACK TO message; RELEASE message")
                    .map_err(StoreError::from)
                    .and_then(|()| self.commit());
                if let Err(also) = kept {
                    warn!("store writer: could not keep the writes before a failed one: {also}");
                }
                Err(e)
            }
        }
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if self.open_since.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open_since = Some(Instant::now());
        }
        Ok(())
    }

    fn written(&mut self) -> Result<(), StoreError> {
        self.pending += 1;
        if self.pending >= self.options.batch || self.open_since.is_some_and(|t| t.elapsed() >= self.options.interval) {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.open_since.is_some() {
            self.thin()?;
        }
        if self.open_since.take().is_some() {
            self.conn.execute_batch("COMMIT")?;
            self.commits += 1;
            debug!(messages = self.pending, "committed");
            self.pending = 0;
        }
        Ok(())
    }
}

impl Loop {
    /// One bounded step of retention for each open run, in the transaction about to be
    /// committed (see [`crate::retention`]).
    fn thin(&mut self) -> Result<(), StoreError> {
        let Some(retention) = self.options.retention else { return Ok(()) };
        self.thinning.retain(|run, _| self.reports.contains_key(run));
        for (&run_id, report) in &self.reports {
            let Some(last) = report.last_tick else { continue };
            let thinning = self.thinning.entry(run_id).or_default();
            let conn = &self.conn;
            conn.execute_batch("SAVEPOINT thinning")?;
            match thinning.step(conn, run_id, last, retention) {
                Ok(_) => conn.execute_batch("RELEASE thinning")?,
                Err(e) => {
                    conn.execute_batch("ROLLBACK TO thinning; RELEASE thinning")?;
                    *thinning = Thinning::default();
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

fn start_run(conn: &Connection, run: &RunInfo, plan: &RunPlan) -> Result<i64, StoreError> {
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
    let id = conn.last_insert_rowid();
    if *plan != RunPlan::default() {
        let lineage = plan.lineage.as_ref();
        conn.execute(
            "UPDATE runs SET tick_target = ?2, schedule = ?3, parent_run_id = ?4, fork_tick = ?5, branch_name = ?6,
                 changes = ?7
             WHERE id = ?1",
            params![
                id,
                plan.tick_target.map(|t| t.min(i64::MAX as u64) as i64),
                plan.schedule.as_ref().map(|s| s.to_string()),
                lineage.map(|l| l.parent_run_id),
                lineage.map(|l| l.fork_tick as i64),
                lineage.and_then(|l| l.name.clone()),
                lineage.map(|l| l.changes.to_string()),
            ],
        )?;
    }
    Ok(id)
}

fn resume_run(conn: &Connection, run_id: i64, at: u64) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE runs SET status = 'running', ended_at = NULL, error = NULL, last_tick = NULL,
             resumed_at = json_insert(coalesce(resumed_at, '[]'), '$[#]', ?2)
         WHERE id = ?1 AND status <> 'running'",
        params![run_id, at as i64],
    )?;
    if changed == 0 {
        return Err(StoreError::Run(format!("run {run_id} is not in the database, or is running")));
    }
    Ok(())
}

fn close_run(
    conn: &Connection,
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
    info!(run_id, status = status.as_str(), ticks = report.ticks, last_tick = ?report.last_tick, "run closed");
    Ok(())
}

/// Moves the WAL into the database file and empties it, so the directory holds one
/// self-contained file after a clean shutdown.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    let (busy, log, moved): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    if busy != 0 {
        warn!(log, moved, "WAL checkpoint could not complete: a reader still holds the database");
    }
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
