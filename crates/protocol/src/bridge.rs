//! The bridge between the engine thread and the server's tasks (DESIGN.md §1).
//!
//! Two primitives, both safe to share between threads and neither able to block the
//! engine:
//!
//! - [`CommandQueue`]: bounded at [`COMMAND_QUEUE_CAPACITY`]. The server calls
//!   [`CommandQueue::try_send`], which never waits: a full queue is reported to the
//!   sender, never dropped silently. The engine drains it at phase 0.
//! - [`Latest`]: a single slot holding the newest value (telemetry, registry). The
//!   engine overwrites it at phase 8; readers load an `Arc` without locking, so a slow
//!   reader can never hold the engine up. Readers that fall behind simply see a newer
//!   value next time: latest wins.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use crate::command::{GodCommand, GodResponse};
use crate::telemetry::AuditEntry;

/// How many commands may wait for the engine (DESIGN.md §1).
pub const COMMAND_QUEUE_CAPACITY: usize = 100;

/// How many door rejections (unauthorised, queue full) may wait to be audited.
const REJECTION_LOG_CAPACITY: usize = 1_000;

/// Where the engine's answer to one command goes.
pub type ReplyReceiver = oneshot::Receiver<GodResponse>;

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
    pub reply: Option<oneshot::Sender<GodResponse>>,
}

impl Envelope {
    /// Wraps `command`, returning the envelope and the receiver of its answer.
    pub fn new(command: GodCommand, received_at_ms: u64, source: String) -> (Self, ReplyReceiver) {
        let (tx, rx) = oneshot::channel();
        let envelope = Self { command, received_at_ms, source, reply: Some(tx) };
        (envelope, rx)
    }
}

/// The queue was full; the command was not queued and is handed back.
#[derive(Debug, thiserror::Error)]
#[error("queue full: the engine has {COMMAND_QUEUE_CAPACITY} commands waiting; try again shortly")]
pub struct QueueFull(pub Box<Envelope>);

/// The bounded queue of commands from the server to the engine, plus the log of
/// commands refused at the door, which the engine's side audits in order.
#[derive(Debug, Clone)]
pub struct CommandQueue {
    tx: Sender<Envelope>,
    rx: Receiver<Envelope>,
    rejected_tx: Sender<AuditEntry>,
    rejected_rx: Receiver<AuditEntry>,
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
        let (rejected_tx, rejected_rx) = crossbeam_channel::bounded(REJECTION_LOG_CAPACITY);
        Self { tx, rx, rejected_tx, rejected_rx }
    }

    /// Queues a command without waiting. A full queue hands the envelope back.
    pub fn try_send(&self, envelope: Envelope) -> Result<(), QueueFull> {
        self.tx.try_send(envelope).map_err(|e| match e {
            TrySendError::Full(envelope) | TrySendError::Disconnected(envelope) => QueueFull(Box::new(envelope)),
        })
    }

    /// Records a command refused before it reached the engine, so the audit log keeps
    /// it. Returns `false` if the rejection log itself is full (the refusal still
    /// reached its sender; only the audit row is lost, and the caller counts it).
    pub fn log_rejection(&self, entry: AuditEntry) -> bool {
        self.rejected_tx.try_send(entry).is_ok()
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

    /// Takes every waiting door rejection, oldest first, without blocking.
    pub fn drain_rejections(&self) -> impl Iterator<Item = AuditEntry> + '_ {
        self.rejected_rx.try_iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn command(id: &str) -> GodCommand {
        GodCommand { id: id.into(), key: "sim.paused".into(), value: serde_json::json!(true) }
    }

    #[test]
    fn full_queue_hands_the_command_back() {
        let queue = CommandQueue::with_capacity(2);
        for id in ["a", "b"] {
            queue.try_send(Envelope::new(command(id), 0, "test".into()).0).unwrap();
        }
        let QueueFull(back) = queue.try_send(Envelope::new(command("c"), 0, "test".into()).0).unwrap_err();
        assert_eq!(back.command.id, "c");
        let drained: Vec<_> = queue.drain().map(|e| e.command.id).collect();
        assert_eq!(drained, ["a", "b"]);
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
