//! The one path every command takes into the engine, from the WebSocket and HTTP alike:
//! authorise, queue without waiting, and await the engine's answer. A command refused at
//! the door is answered at once and still audited: every refusal of an authorised client
//! gets its row (the sender is held back, never the row dropped, when the log is full);
//! a stranger's refusals are rate-limited per address by the [`FloodGuard`], so a
//! flood costs a few rows a minute, not one per frame.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::warn;
use watchtower_bridge::{AuditFull, Envelope, Refused, Reply, now_ms};
use watchtower_protocol::{AuditEntry, ErrorCode, GodCommand, GodResponse};

use crate::flood::Verdict;
use crate::live::{is_live, main_run};
use crate::state::ServerState;

/// How long a sender waits for the engine before giving up on an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a refusal waits for room in the audit log before it is counted as lost
/// (only if the engine has stopped draining it, i.e. the service is going down).
const AUDIT_WAIT: Duration = Duration::from_secs(5);

/// An answer on its way: already known (refused at the door) or awaited from the engine.
pub type Answer = Pin<Box<dyn Future<Output = Answered> + Send>>;

/// The engine's answer, with the run the command went to (`command_result` messages).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answered {
    /// The answer.
    #[serde(flatten)]
    pub response: GodResponse,
    /// The run the command was for (the main run unless it named another).
    pub run_id: Option<i64>,
}

/// Who sent a command: the transport and the peer, for the audit log and the flood guard.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `websocket` or `http`.
    pub transport: &'static str,
    /// The peer's address.
    pub peer: std::net::SocketAddr,
}

impl Sender {
    fn source(&self) -> String {
        format!("{} {}", self.transport, self.peer)
    }
}

/// Queues `command` for `run` (`None`: the main run) at once (so commands keep their
/// arrival order) and returns its answer, to be awaited. Never waits to queue: a refusal
/// is an answer that is ready (its audit row may wait for room in the log).
pub fn enqueue(
    state: &Arc<ServerState>,
    command: GodCommand,
    run: Option<i64>,
    authorized: bool,
    from: &Sender,
) -> Answer {
    let run_id = run.or_else(|| main_run(state));
    let answer = enqueue_for(state, command, run, authorized, from);
    Box::pin(async move { Answered { response: answer.await, run_id } })
}

fn enqueue_for(
    state: &Arc<ServerState>,
    command: GodCommand,
    run: Option<i64>,
    authorized: bool,
    from: &Sender,
) -> Pin<Box<dyn Future<Output = GodResponse> + Send>> {
    let received_at_ms = now_ms();
    if let Some(message) = state.read_only() {
        // No engine drains the bridge here and the store is another process's: answered
        // at once, counted, not audited.
        state.metrics.commands_rejected.inc();
        return Box::pin(std::future::ready(GodResponse::rejected(&command, None, ErrorCode::Unavailable, message)));
    }
    if !authorized {
        let response = GodResponse::rejected(
            &command,
            None,
            ErrorCode::Unauthorized,
            "unauthorised: commands need the access token printed when Watchtower started (the ?token=… of the dashboard URL)",
        );
        state.metrics.commands_rejected.inc();
        match state.flood.admit(from.transport, from.peer) {
            Verdict::Record => {
                let entry = AuditEntry { command, received_at_ms, source: from.source(), response: response.clone() };
                state.audit_or_count(entry);
            }
            Verdict::Count => {
                state.metrics.refusals_suppressed.inc();
            }
        }
        return Box::pin(std::future::ready(response));
    }
    if let Some(run) = run.filter(|&r| !is_live(state, r)) {
        let response = GodResponse::rejected(
            &command,
            None,
            ErrorCode::UnknownRun,
            format!(
                "run {run} is not live here: it never was, or it has been dropped or has ended (see GET /api/runs)"
            ),
        );
        state.metrics.commands_rejected.inc();
        let entry = AuditEntry { command, received_at_ms, source: from.source(), response: response.clone() };
        let state = Arc::clone(state);
        return Box::pin(async move {
            record(&state, entry).await;
            response
        });
    }
    // What an answer that never comes from the engine echoes back.
    let echo = GodCommand { id: command.id.clone(), key: command.key.clone(), value: serde_json::Value::Null };
    let (tx, answer) = oneshot::channel();
    let reply = Reply::new(move |response| {
        let _ = tx.send(response); // the sender may have gone: fine
    });
    let envelope = Envelope { command, received_at_ms, source: from.source(), reply: Some(reply), run };
    let refused = match state.bridge.queue.try_send(envelope) {
        Ok(()) => None,
        Err(Refused::Full(e)) => Some((
            *e,
            ErrorCode::QueueFull,
            format!(
                "queue full: {} commands are waiting for the engine; try again shortly",
                state.bridge.queue.capacity()
            ),
        )),
        Err(Refused::Closed(e)) => {
            Some((*e, ErrorCode::Unavailable, "the engine has stopped; the command was not applied".to_string()))
        }
    };
    let state = Arc::clone(state);
    if let Some((envelope, code, message)) = refused {
        let Envelope { command, received_at_ms, source, .. } = envelope;
        let response = GodResponse::rejected(&command, None, code, message);
        state.metrics.commands_rejected.inc();
        let entry = AuditEntry { command, received_at_ms, source, response: response.clone() };
        // An authorised sender's refusal must have its row: queued now, or, if the log is
        // full, by a task of its own that waits for room (so a sender that goes away
        // cannot take the row with it).
        if let Err(AuditFull(back)) = state.bridge.audit.push(entry) {
            tokio::spawn(async move { record(&state, *back).await });
        }
        return Box::pin(std::future::ready(response));
    }
    Box::pin(async move {
        let response = match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(response)) => response,
            // Dropped unanswered: the engine's closing drain answers every queued command,
            // so this only happens if the engine thread died outright.
            Ok(Err(_)) => GodResponse::rejected(
                &echo,
                None,
                ErrorCode::Unavailable,
                "the engine stopped before applying the command",
            ),
            Err(_) => GodResponse::rejected(
                &echo,
                None,
                ErrorCode::Unavailable,
                "no answer from the engine within 30 s; the command may still be applied",
            ),
        };
        if response.success {
            state.metrics.commands_accepted.inc();
        } else {
            state.metrics.commands_rejected.inc();
        }
        response
    })
}

/// Puts `entry` in the audit log, waiting (a little at a time, up to [`AUDIT_WAIT`]) for
/// room: the engine side drains the log at least every 50 ms.
async fn record(state: &ServerState, mut entry: AuditEntry) {
    let deadline = tokio::time::Instant::now() + AUDIT_WAIT;
    loop {
        match state.bridge.audit.push(entry) {
            Ok(()) => return,
            Err(AuditFull(back)) if tokio::time::Instant::now() < deadline => {
                entry = *back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(_) => {
                state.metrics.unaudited.inc();
                warn!("audit log full for {AUDIT_WAIT:?}: a refused command was answered but not recorded");
                return;
            }
        }
    }
}
