//! Where the engine side and the server meet (DESIGN.md §1).
//!
//! The runner's live session drives the engine on its own thread; the server's tasks
//! run on an async runtime. They share only the values here, all safe to share between
//! threads and none able to make the engine wait:
//!
//! - [`CommandQueue`]: bounded at [`COMMAND_QUEUE_CAPACITY`]. The server calls
//!   [`CommandQueue::try_send`], which never waits: a full queue is reported to the
//!   sender, never dropped silently. The session drains it before every cycle.
//! - [`AuditLog`]: commands refused at the door (no token, queue full), on their way to
//!   the store through the session, so the audit trail keeps them.
//! - [`Latest`]: a single slot holding the newest value (telemetry, registry). The
//!   session overwrites it after every tick; readers load an `Arc` without locking, so a
//!   slow reader can never hold the engine up. Latest wins.
//! - [`Trigger`]: a request flag (a new embedding map, say).
//! - [`Requests`]: asks for what only the engine's thread may do between ticks: fork a
//!   what-if branch, drop one. Answered through a [`Callback`].
//! - [`Forecasts`]: effect forecasts started on the engine's thread, run on threads of
//!   their own, read by the server.
//! - [`LiveRuns`]: the runs advancing together (the main run and its branches), each with
//!   its own telemetry and registry slots, so the server addresses each by run id.
//!
//! Nothing here is async: an answer goes back through a [`Reply`], a callback the
//! server builds around whatever its runtime uses (a oneshot channel, for tokio).

pub mod forecasts;

pub use forecasts::{ForecastPlan, ForecastState, ForecastStatus, Forecasts};

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use watchtower_protocol::{AuditEntry, EmbeddingStatus, GodCommand, GodResponse, RegistrySnapshot, Telemetry};

/// How many commands may wait for the engine (DESIGN.md §1).
pub const COMMAND_QUEUE_CAPACITY: usize = 100;

/// How many door refusals may wait for the session to pass them to the store.
pub const AUDIT_LOG_CAPACITY: usize = 4_096;

/// Where the engine's answer to one command goes: called once, from the engine's
/// thread, so it must not block (sending on a oneshot channel is the usual body).
pub struct Reply(Box<dyn FnOnce(GodResponse) + Send>);

impl Reply {
    /// A reply that calls `deliver` with the answer.
    pub fn new(deliver: impl FnOnce(GodResponse) + Send + 'static) -> Self {
        Self(Box::new(deliver))
    }

    /// Delivers the answer.
    pub fn send(self, response: GodResponse) {
        (self.0)(response);
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

/// A command on its way to the engine, with the means to answer its sender.
#[derive(Debug)]
pub struct Envelope {
    /// The command.
    pub command: GodCommand,
    /// When the server received it, milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// Who sent it, for the audit log: the transport and the peer's address.
    pub source: String,
    /// Where to send the engine's answer; `None` if nobody waits for it.
    pub reply: Option<Reply>,
    /// The run it is for; `None`: the main run.
    pub run: Option<i64>,
}

/// Why a command could not be queued; the envelope is handed back.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The queue is full.
    #[error("queue full: the engine has {COMMAND_QUEUE_CAPACITY} commands waiting; try again shortly")]
    Full(Box<Envelope>),
    /// The engine has stopped and takes no more commands.
    #[error("the engine has stopped")]
    Closed(Box<Envelope>),
}

/// Wall-clock milliseconds since the Unix epoch: when a command was received or a
/// snapshot published (the engine itself has no clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The bounded queue of commands from the server to the engine.
#[derive(Debug, Clone)]
pub struct CommandQueue {
    tx: Sender<Envelope>,
    rx: Receiver<Envelope>,
    /// Whether the engine has stopped taking commands. A sender holds the read side
    /// while it queues, so once [`CommandQueue::close`] returns no send is half done and
    /// a drain after it takes every command ever queued.
    closed: Arc<RwLock<bool>>,
}

impl Default for CommandQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandQueue {
    /// An empty queue with the design's capacity.
    pub fn new() -> Self {
        Self::with_capacity(COMMAND_QUEUE_CAPACITY)
    }

    /// An empty queue holding at most `capacity` commands (tests use small ones).
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        Self { tx, rx, closed: Arc::default() }
    }

    fn closed(&self) -> std::sync::RwLockReadGuard<'_, bool> {
        self.closed.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a command without waiting. A full or closed queue hands the envelope back.
    pub fn try_send(&self, envelope: Envelope) -> Result<(), Refused> {
        let closed = self.closed();
        if *closed {
            return Err(Refused::Closed(Box::new(envelope)));
        }
        self.tx.try_send(envelope).map_err(|e| match e {
            TrySendError::Full(envelope) => Refused::Full(Box::new(envelope)),
            TrySendError::Disconnected(envelope) => Refused::Closed(Box::new(envelope)),
        })
    }

    /// Refuses every command from now on (the engine has stopped). Commands already
    /// queued stay until [`CommandQueue::drain`] takes them, so they can be answered.
    pub fn close(&self) {
        *self.closed.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
    }

    /// Whether the queue refuses commands (the engine has stopped).
    pub fn is_closed(&self) -> bool {
        *self.closed()
    }

    /// Commands waiting now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no command waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.tx.capacity().unwrap_or(COMMAND_QUEUE_CAPACITY)
    }

    /// Takes every waiting command, oldest first, without blocking.
    pub fn drain(&self) -> impl Iterator<Item = Envelope> + '_ {
        self.rx.try_iter()
    }

    /// Waits up to `timeout` for a command and takes it: how an idle engine sleeps
    /// between ticks yet wakes the moment a command arrives.
    pub fn wait(&self, timeout: Duration) -> Option<Envelope> {
        self.rx.recv_timeout(timeout).ok()
    }
}

/// The audit log is full: the entry is handed back (the caller waits and tries again,
/// or counts it).
#[derive(Debug)]
pub struct AuditFull(pub Box<AuditEntry>);

/// Commands refused at the door, waiting to be recorded. Bounded: when it is full, the
/// server holds the sender back rather than drop a row.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: Sender<AuditEntry>,
    rx: Receiver<AuditEntry>,
}

impl Default for AuditLog {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(AUDIT_LOG_CAPACITY);
        Self { tx, rx }
    }
}

impl AuditLog {
    /// Adds a refusal without waiting.
    pub fn push(&self, entry: AuditEntry) -> Result<(), AuditFull> {
        self.tx.try_send(entry).map_err(|e| match e {
            TrySendError::Full(entry) | TrySendError::Disconnected(entry) => AuditFull(Box::new(entry)),
        })
    }

    /// Takes every waiting refusal, oldest first, without blocking.
    pub fn drain(&self) -> impl Iterator<Item = AuditEntry> + '_ {
        self.rx.try_iter()
    }

    /// Refusals waiting now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// A single slot holding the newest value. Writers replace it; readers never block
/// the writer and never see a torn value.
#[derive(Debug)]
pub struct Latest<T> {
    slot: ArcSwapOption<T>,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self { slot: ArcSwapOption::empty() }
    }
}

impl<T> Latest<T> {
    /// An empty slot: nothing published yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the value.
    pub fn publish(&self, value: Arc<T>) {
        self.slot.store(Some(value));
    }

    /// The newest value, if any was published.
    pub fn load(&self) -> Option<Arc<T>> {
        self.slot.load_full()
    }
}

/// A request flag between threads: fired by one side (never waiting), taken by the other.
/// Firing twice before it is taken counts once.
#[derive(Debug, Clone)]
pub struct Trigger {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for Trigger {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Self { tx, rx }
    }
}

impl Trigger {
    /// Raises the flag.
    pub fn fire(&self) {
        let _ = self.tx.try_send(());
    }

    /// Lowers the flag, saying whether it was raised.
    pub fn take(&self) -> bool {
        self.rx.try_recv().is_ok()
    }
}

/// A snapshot as the session published it, with the wall-clock time it was published
/// (so clients can tell how old a frame is when it reaches them).
#[derive(Debug, Clone)]
pub struct Published {
    /// The snapshot.
    pub telemetry: Arc<Telemetry>,
    /// When it was published, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Where an answer goes: called once, from the engine's thread, so it must not block.
pub struct Callback<T>(Box<dyn FnOnce(T) + Send>);

impl<T> Callback<T> {
    /// A callback that calls `deliver` with the answer.
    pub fn new(deliver: impl FnOnce(T) + Send + 'static) -> Self {
        Self(Box::new(deliver))
    }

    /// Delivers the answer.
    pub fn send(self, answer: T) {
        (self.0)(answer);
    }
}

impl<T> std::fmt::Debug for Callback<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callback")
    }
}

/// A new what-if branch, as the engine made it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Forked {
    /// The branch's run id.
    pub run_id: i64,
    /// The run it was forked from.
    pub parent: i64,
    /// The first tick it runs apart from its parent: its state is the parent's before
    /// this tick, with the changes applied at this tick's phase 0.
    pub tick: u64,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// The settings it changed: key to value.
    pub changes: serde_json::Map<String, serde_json::Value>,
}

/// A branch that was dropped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dropped {
    /// Its run id.
    pub run_id: i64,
    /// It ran no tick from this one on.
    pub tick: u64,
}

/// Why a fork or a drop was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Refusal {
    /// A stable code.
    pub code: RefusalCode,
    /// In words a person can act on (a registry error names the key).
    pub message: String,
}

/// Why a fork or a drop was refused, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// No live run has that id.
    UnknownRun,
    /// As many branches as allowed are live already.
    TooManyBranches,
    /// A setting of the fork was refused by the registry.
    Invalid,
    /// The main run cannot be dropped.
    NotABranch,
    /// The engine has stopped, or takes no such request.
    Unavailable,
    /// A forecast is running already: one at a time.
    Busy,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// A request only the engine's thread may carry out, between ticks.
#[derive(Debug)]
pub enum Request {
    /// Copy run `parent` as it stands before its next tick, change `set` in the copy,
    /// and run both in lockstep from then on.
    Fork {
        /// The run to copy.
        parent: i64,
        /// Settings to change in the copy, in order.
        set: Vec<(String, serde_json::Value)>,
        /// A name for people.
        name: Option<String>,
        /// Who asked, for the audit log.
        source: String,
        /// Where the answer goes.
        reply: Callback<Result<Forked, Refusal>>,
    },
    /// Stop running branch `run` (its rows stay in the database).
    Drop {
        /// The branch.
        run: i64,
        /// Where the answer goes.
        reply: Callback<Result<Dropped, Refusal>>,
    },
    /// Copy run `run` as it stands before its next tick and forecast the effect of
    /// `set` across `seeds` pairs of `ticks` ticks, in the background ([`Forecasts`]).
    Forecast {
        /// The run to copy.
        run: i64,
        /// The change.
        set: Vec<(String, serde_json::Value)>,
        /// Pairs.
        seeds: usize,
        /// Ticks each future runs.
        ticks: u64,
        /// Where the answer goes: the forecast as it starts.
        reply: Callback<Result<ForecastStatus, Refusal>>,
    },
}

impl Request {
    /// Answers the request with `refusal` (nothing was done).
    pub fn refuse(self, refusal: Refusal) {
        match self {
            Request::Fork { reply, .. } => reply.send(Err(refusal)),
            Request::Drop { reply, .. } => reply.send(Err(refusal)),
            Request::Forecast { reply, .. } => reply.send(Err(refusal)),
        }
    }
}

/// How many requests may wait for the engine.
pub const REQUEST_QUEUE_CAPACITY: usize = 16;

/// The bounded queue of requests from the server to the engine.
#[derive(Debug, Clone)]
pub struct Requests {
    tx: Sender<Request>,
    rx: Receiver<Request>,
}

impl Default for Requests {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(REQUEST_QUEUE_CAPACITY);
        Self { tx, rx }
    }
}

impl Requests {
    /// Queues a request without waiting; a full queue hands it back.
    pub fn try_send(&self, request: Request) -> Result<(), Request> {
        self.tx.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) | TrySendError::Disconnected(r) => r,
        })
    }

    /// Whether a request waits: the engine then answers it between two ticks, without
    /// waiting for the next one.
    pub fn waiting(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Takes every waiting request, oldest first, without blocking.
    pub fn drain(&self) -> impl Iterator<Item = Request> + '_ {
        self.rx.try_iter()
    }
}

/// One run advancing in this process: the main run or a what-if branch.
#[derive(Debug)]
pub struct LiveRun {
    /// Its run id (the database's; without a store, counted from 1).
    pub run_id: i64,
    /// Whether it is the main run (the one the process started or resumed).
    pub main: bool,
    /// A branch's parent.
    pub parent: Option<i64>,
    /// The first tick a branch ran apart from its parent.
    pub fork_tick: Option<u64>,
    /// A branch's name.
    pub name: Option<String>,
    /// The settings a branch's fork changed.
    pub changes: serde_json::Map<String, serde_json::Value>,
    /// The ticks the run was resumed at.
    pub resumed_at: Vec<u64>,
    /// Its latest telemetry.
    pub telemetry: Arc<Latest<Published>>,
    /// Its latest registry.
    pub registry: Arc<Latest<RegistrySnapshot>>,
}

/// The runs advancing together, main run first; `version` grows with every change.
#[derive(Debug, Clone, Default)]
pub struct LiveRuns {
    /// Increases by one whenever a run joins or leaves.
    pub version: u64,
    /// Main run first, then branches in the order they were forked.
    pub runs: Vec<Arc<LiveRun>>,
}

impl LiveRuns {
    /// The live run `id`.
    pub fn get(&self, id: i64) -> Option<&Arc<LiveRun>> {
        self.runs.iter().find(|r| r.run_id == id)
    }

    /// The main run.
    pub fn main(&self) -> Option<&Arc<LiveRun>> {
        self.runs.iter().find(|r| r.main)
    }
}

/// Everything the engine side and the server share.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// Commands to the engine.
    pub queue: CommandQueue,
    /// Commands refused at the door, to be recorded.
    pub audit: AuditLog,
    /// The latest telemetry (empty until the first tick is settled: not ready).
    pub telemetry: Arc<Latest<Published>>,
    /// The latest registry schema and values.
    pub registry: Arc<Latest<RegistrySnapshot>>,
    /// The embedding map's state (empty when the map is switched off).
    pub embedding: Arc<Latest<EmbeddingStatus>>,
    /// Asks for a new embedding map from the next settled tick.
    pub embedding_refresh: Trigger,
    /// Why the engine stopped, once it has failed: the server then reports unhealthy
    /// instead of serving a frozen economy.
    pub failure: Arc<Latest<String>>,
    /// Debug builds' fault hook: asks the engine side to panic between ticks, so tests can
    /// prove what a dead engine does to the service.
    pub engine_fault: Trigger,
    /// Forks, drops and forecasts, for the engine's thread.
    pub requests: Requests,
    /// The effect forecasts, running and done.
    pub forecasts: Forecasts,
    /// The runs advancing together (empty until the engine has published them). The main
    /// run's slots are [`Bridge::telemetry`] and [`Bridge::registry`].
    pub runs: Arc<Latest<LiveRuns>>,
    /// Free space on the data directory's disk, as the disk guard last saw it (empty
    /// when nothing is stored or the guard is off).
    pub disk: Arc<Latest<DiskStatus>>,
}

/// Free space on the data directory's disk, and what the disk guard made of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiskStatus {
    /// `ok`; `low`: under the warning threshold; `paused`: under the pause threshold,
    /// the run was paused (an audited `sim.paused`).
    pub state: &'static str,
    /// Bytes free for the process on the data directory's file system.
    pub free_bytes: u64,
    /// Under this, a warning.
    pub warn_below: u64,
    /// Under this, the run is paused.
    pub pause_below: u64,
    /// What it means, in words (empty when `ok`).
    pub message: String,
}

impl Default for Bridge {
    fn default() -> Self {
        Self {
            queue: CommandQueue::new(),
            audit: AuditLog::default(),
            telemetry: Arc::new(Latest::new()),
            registry: Arc::new(Latest::new()),
            embedding: Arc::new(Latest::new()),
            embedding_refresh: Trigger::default(),
            failure: Arc::new(Latest::new()),
            engine_fault: Trigger::default(),
            requests: Requests::default(),
            forecasts: Forecasts::default(),
            runs: Arc::new(Latest::new()),
            disk: Arc::new(Latest::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(id: &str) -> GodCommand {
        GodCommand { id: id.into(), key: "sim.paused".into(), value: serde_json::json!(true) }
    }

    fn envelope(id: &str) -> Envelope {
        Envelope { command: command(id), received_at_ms: 0, source: "test".into(), reply: None, run: None }
    }

    #[test]
    fn full_queue_hands_the_command_back() {
        let queue = CommandQueue::with_capacity(2);
        for id in ["a", "b"] {
            queue.try_send(envelope(id)).unwrap();
        }
        let Err(Refused::Full(back)) = queue.try_send(envelope("c")) else { panic!("not refused as full") };
        assert_eq!(back.command.id, "c");
        let drained: Vec<_> = queue.drain().map(|e| e.command.id).collect();
        assert_eq!(drained, ["a", "b"]);
    }

    #[test]
    fn a_closed_queue_refuses_but_keeps_what_it_holds() {
        let queue = CommandQueue::with_capacity(2);
        queue.try_send(envelope("a")).unwrap();
        queue.close();
        assert!(matches!(queue.try_send(envelope("b")), Err(Refused::Closed(_))));
        assert_eq!(queue.drain().count(), 1);
    }

    #[test]
    fn a_waiting_engine_wakes_for_a_command() {
        let queue = CommandQueue::with_capacity(2);
        let sender = queue.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.try_send(envelope("late")).unwrap();
        });
        let started = std::time::Instant::now();
        let got = queue.wait(Duration::from_secs(10)).expect("woken by the command");
        assert_eq!(got.command.id, "late");
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }

    #[test]
    fn latest_wins() {
        let slot = Latest::new();
        assert!(slot.load().is_none());
        slot.publish(Arc::new(1));
        slot.publish(Arc::new(2));
        assert_eq!(*slot.load().unwrap(), 2);
    }
}
