//! `GET /ws`: telemetry out, commands in, on one socket.
//!
//! Out: `{"type":"hello",…}` once (with `"viewer":DIR` from a read-only viewer, which then
//! sends `{"type":"status","state":"viewer","dir":DIR}` and nothing live), then
//! `{"type":"status","state":"initializing"}` until the engine is ready, then `{"type":"telemetry","run_id":…,"tick":…,…}` at 10 Hz for
//! the main run and each live what-if branch (the latest frame; a slow client skips),
//! `{"type":"runs",…}` whenever the live runs change (and first thing),
//! `{"type":"command_result",…,"run_id":…}` for each command it sent, and
//! `{"type":"error",…}` for a message that is not a command (the socket stays open).
//! `/ws?runs=1,5` sends the telemetry of those runs only.
//!
//! In: `{"type":"command","id":"c1","key":"government.income_tax_rate","value":0.3}`,
//! with `"run":ID` for a branch.
//! Messages over 64 KiB are refused by closing the socket (1009, message too big).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::access::{origin_ok, token_ok};
use crate::commands::{Answer, Sender, enqueue};
use crate::live::main_run;
use crate::respond::Tagged;
use crate::state::{AppState, ServerState};
use crate::wire::parse_targeted_message;

/// Largest message a client may send.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Commands a client may have waiting for answers before its socket is read again.
const MAX_IN_FLIGHT: usize = 128;

/// A client that cannot take one frame in this long is disconnected (it will reconnect).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    /// Comma-separated run ids whose telemetry the client wants (default: every live run).
    runs: Option<String>,
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State((state, cancel)): AppState,
    Query(query): Query<WsQuery>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !origin_ok(&state, &headers) {
        return (
            StatusCode::FORBIDDEN,
            "forbidden: pages from this origin may not open Watchtower's WebSocket (start watchtower with --allow-origin to allow one)",
        )
            .into_response();
    }
    let authorized = token_ok(&state, query.token.as_deref());
    let filter = match query.runs.as_deref().map(parse_runs).transpose() {
        Ok(filter) => filter,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(move |socket| {
        client(socket, state, authorized, Sender { transport: "websocket", peer }, filter, cancel)
    })
}

/// `1,5` → `[1, 5]`.
fn parse_runs(text: &str) -> Result<Vec<i64>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| format!("runs={text}: expected run ids separated by commas")))
        .collect()
}

fn json<T: serde::Serialize>(kind: &'static str, payload: &T) -> Message {
    Message::Text(serde_json::to_string(&Tagged { kind, payload }).expect("serialises").into())
}

fn error(code: &str, message: String) -> Message {
    Message::Text(serde_json::json!({"type": "error", "code": code, "message": message}).to_string().into())
}

async fn client(
    socket: WebSocket,
    state: Arc<ServerState>,
    authorized: bool,
    from: Sender,
    filter: Option<Vec<i64>>,
    cancel: CancellationToken,
) {
    let wanted = |run: Option<i64>| match (&filter, run) {
        (Some(runs), Some(run)) => runs.contains(&run),
        _ => true,
    };
    let mut runs_sent = None;
    state.metrics.clients.inc();
    let (mut sink, mut stream) = socket.split();
    let mut frames = state.frames.subscribe();
    frames.mark_changed(); // send the current frame straight away
    let mut last_seq = None;
    let mut in_flight: FuturesOrdered<Answer> = FuturesOrdered::new();
    let hello = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "run_id": state.config.run_id,
        "main": main_run(&state),
        "authorized": authorized,
        "viewer": state.config.viewer,
    });

    macro_rules! send {
        ($message:expr) => {
            tokio::select! {
                sent = tokio::time::timeout(SEND_TIMEOUT, sink.send($message)) => {
                    if !matches!(sent, Ok(Ok(()))) { break; }
                }
                _ = cancel.cancelled() => break,
            }
        };
    }

    loop {
        if last_seq.is_none() {
            send!(json("hello", &hello));
            last_seq = Some(0);
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                let close = CloseFrame { code: close_code::AWAY, reason: Utf8Bytes::from_static("server shutting down") };
                let _ = tokio::time::timeout(Duration::from_millis(200), sink.send(Message::Close(Some(close)))).await;
                break;
            }
            Some(response) = in_flight.next(), if !in_flight.is_empty() => {
                send!(json("command_result", &response));
            }
            changed = frames.changed() => {
                if changed.is_err() { break; }
                let frame = frames.borrow_and_update().clone();
                if let Some(previous) = last_seq.filter(|&s| s > 0 && frame.seq > s + 1) {
                    state.metrics.frames_skipped.inc_by(frame.seq - previous - 1);
                }
                last_seq = Some(frame.seq);
                if let Some((version, runs)) = &frame.runs && runs_sent != Some(*version) {
                    runs_sent = Some(*version);
                    send!(Message::Text(runs.clone()));
                }
                if wanted(frame.run_id) {
                    send!(Message::Text(frame.text));
                    state.metrics.frames_sent.inc();
                }
                for (run, text) in frame.branches.iter() {
                    if wanted(Some(*run)) {
                        send!(Message::Text(text.clone()));
                        state.metrics.frames_sent.inc();
                    }
                }
            }
            message = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                match message {
                    Some(Ok(Message::Text(text))) => match parse_targeted_message(&text) {
                        Ok(t) => in_flight.push_back(enqueue(&state, t.command, t.run, authorized, &from)),
                        Err(message) => send!(error("malformed", message)),
                    },
                    Some(Ok(Message::Binary(_))) => send!(error("malformed", "binary messages are not supported; send JSON text".into())),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                }
            }
        }
    }
    state.metrics.clients.dec();
}
