//! The answers the handlers share, so each says its errors one way: a JSON `{"error": …}`
//! with its status ([`problem`]), the 404s of a server without a store or without a live
//! run, a store read through the readers' gate answered as JSON ([`read_json`]), and the
//! `type` tag every message to a client carries ([`Tagged`]).
//!
//! It sits below the handlers (`api.rs`, `experiments.rs`, `runs.rs`, `history.rs`,
//! `ws.rs`) and uses only the state and the readers' gate, so no handler imports another.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use watchtower_store::History;

use crate::readers::QUEUE_WAIT;
use crate::state::ServerState;

/// `{"error": message}` with `status`.
pub fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// 404 for the store's endpoints when the server runs without one (`--no-store`).
pub fn no_store() -> Response {
    problem(StatusCode::NOT_FOUND, "history is not available: this server runs without a store")
}

/// 404 from a viewer for what only a live run has (its registry, snapshot, embedding map):
/// a viewer has none, and "initializing" would promise one.
pub fn not_live(state: &ServerState) -> Option<Response> {
    state.config.viewer.as_ref().map(|dir| {
        problem(
            StatusCode::NOT_FOUND,
            format!(
                "no live run: this is a read-only viewer of {dir} (recorded runs are under /api/runs and /api/history)"
            ),
        )
    })
}

/// Runs `query` on the store through the readers' gate (`readers.rs`) and answers its
/// value as JSON: 503 with `Retry-After` when every reader stays busy, never a pool
/// timeout.
pub async fn read_json<T: Serialize + Send + 'static>(
    state: &ServerState,
    query: impl FnOnce(&History) -> Result<T, watchtower_store::StoreError> + Send + 'static,
) -> Response {
    let Some(readers) = &state.readers else {
        return no_store();
    };
    match readers.read(QUEUE_WAIT, query).await {
        Ok(value) => Json(value).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A message with its `type` tag ahead of the payload's own fields.
#[derive(Serialize)]
pub struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub payload: &'a T,
}
