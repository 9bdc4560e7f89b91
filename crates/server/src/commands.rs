//! The one path every command takes into the engine, from the WebSocket and HTTP alike:
//! authorise, queue without waiting, and await the engine's answer. A command refused at
//! the door (no token, queue full) is answered at once and still audited.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::warn;
use watchtower_protocol::{AuditEntry, Envelope, ErrorCode, GodCommand, GodResponse, QueueFull};

use crate::state::ServerState;

/// How long a sender waits for the engine before giving up on an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An answer on its way: already known (refused at the door) or awaited from the engine.
pub type Answer = Pin<Box<dyn Future<Output = GodResponse> + Send>>;

/// Queues `command` at once (so commands keep their arrival order) and returns its
/// answer, to be awaited. Never waits: a refusal is an answer that is ready. `source`
/// says who sent it (transport and peer address), for the audit log.
pub fn enqueue(state: &Arc<ServerState>, command: GodCommand, authorized: bool, source: String) -> Answer {
    let received_at_ms = now_ms();
    if !authorized {
        let response = GodResponse::rejected(
            &command,
            None,
            ErrorCode::Unauthorized,
            "unauthorised: commands need the access token printed when Watchtower started (the ?token=… of the dashboard URL)",
        );
        return Box::pin(std::future::ready(refuse(state, command, received_at_ms, source, response)));
    }
    let (envelope, answer) = Envelope::new(command.clone(), received_at_ms, source.clone());
    if let Err(QueueFull(_)) = state.bridge.queue.try_send(envelope) {
        let response = GodResponse::rejected(
            &command,
            None,
            ErrorCode::QueueFull,
            format!(
                "queue full: {} commands are waiting for the engine; try again shortly",
                state.bridge.queue.capacity()
            ),
        );
        return Box::pin(std::future::ready(refuse(state, command, received_at_ms, source, response)));
    }
    let state = Arc::clone(state);
    Box::pin(async move {
        let response = match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => GodResponse::rejected(
                &command,
                None,
                ErrorCode::Unavailable,
                "the engine stopped before applying the command",
            ),
            Err(_) => GodResponse::rejected(
                &command,
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

fn refuse(
    state: &ServerState,
    command: GodCommand,
    received_at_ms: u64,
    source: String,
    response: GodResponse,
) -> GodResponse {
    state.metrics.commands_rejected.inc();
    let entry = AuditEntry { command, received_at_ms, source, response: response.clone() };
    if !state.bridge.queue.log_rejection(entry) {
        state.metrics.unaudited.inc();
        warn!("audit log full: a refused command was answered but not recorded");
    }
    response
}
