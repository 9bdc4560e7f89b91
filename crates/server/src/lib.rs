//! Watchtower's live server: HTTP, WebSocket and the embedded dashboard (DESIGN.md §6).
//!
//! The server knows the protocol crate and the store's read side, never an engine type:
//! it talks to the engine only through the [`Bridge`] (a bounded command queue and
//! single-slot exchanges). Nothing a client does (connecting, reading slowly, flooding
//! commands, disconnecting) can make the engine wait.
//!
//! Nor can heavy readers or a crowd of idle sockets take the server down: store reads pass
//! a gate of a few permits (`readers.rs`), history is streamed a page at a time
//! (`history.rs`), connections are capped and idle ones closed (`connections.rs`), and a
//! request addressed to a host the server does not answer to is refused (`host.rs`).
//!
//! Endpoints: `/` (dashboard), `/ws`, `/healthz`, `/readyz`, `/metrics`, and under `/api`:
//! `commands` (POST), `registry`, `snapshot`, `history`, `audit`, `runs`, `experiments`,
//! `experiments/{id}`, `experiments/{id}/fan`, `experiments/{id}/cells`,
//! `admin/embedding-map` (and `/refresh`, POST), and the what-if branches:
//! `runs/{id}/fork` (POST), `runs/{id}` (DELETE) and `runs/{id}/drop` (POST).

mod access;
mod api;
mod broadcast;
mod commands;
pub mod connections;
mod dashboard;
mod flood;
mod history;
mod host;
mod metrics;
mod query;
mod readers;
mod runs;
mod state;
pub mod wire;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use host::check_allowed as check_allowed_host;
pub use state::{Bridge, CellsQuery, ExperimentAnswer, ExperimentReader, Published, ServerConfig, ServerState};
pub use ws::MAX_MESSAGE;

/// The routes, sharing `state`; WebSockets close when `cancel` fires.
pub fn router(state: Arc<ServerState>, cancel: CancellationToken) -> Router {
    let counted = Arc::clone(&state);
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/{*path}", get(dashboard::asset))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/api/commands", post(api::command))
        .route("/api/registry", get(runs::registry))
        .route("/api/snapshot", get(runs::snapshot))
        .route("/api/history", get(history::history))
        .route("/api/audit", get(api::audit))
        .route("/api/runs", get(runs::runs))
        .route("/api/runs/{id}/fork", post(runs::fork))
        .route("/api/runs/{id}", delete(runs::drop_run))
        .route("/api/runs/{id}/drop", post(runs::drop_run))
        .route("/api/experiments", get(api::experiments))
        .route("/api/experiments/{id}", get(api::experiment))
        .route("/api/experiments/{id}/fan", get(api::experiment_fan))
        .route("/api/experiments/{id}/cells", get(api::experiment_cells))
        .route("/api/admin/embedding-map", get(api::embedding))
        .route("/api/admin/embedding-map/refresh", post(api::refresh_embedding))
        .route("/api/debug/crash", post(api::crash))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE))
        .layer(axum::middleware::from_fn(move |request, next: axum::middleware::Next| {
            counted.metrics.http_requests.inc();
            next.run(request)
        }))
        .with_state((state, cancel))
}

/// Serves on `listener` until `cancel`, then closes every WebSocket and returns.
///
/// Panics if the fault hook (`POST /api/debug/crash`, debug builds) fires: that is its
/// purpose, so the app's supervision can be tested.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, cancel: CancellationToken) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    state.port.store(local.port(), std::sync::atomic::Ordering::Relaxed);
    // A child token: a crash of this serving instance closes its sockets, not the app.
    let instance = cancel.child_token();
    let broadcaster = tokio::spawn(broadcast::run(Arc::clone(&state), instance.clone()));
    let floods = tokio::spawn(summarise_floods(Arc::clone(&state), instance.clone()));
    let config = &state.config;
    let hosts =
        host::Hosts::new(local, &config.allowed_hosts, &config.allowed_origins, state.metrics.hosts_refused.clone());
    let app = router(Arc::clone(&state), instance.clone())
        .layer(axum::middleware::from_fn_with_state(Arc::new(hosts), host::check));
    let server = connections::accept(listener, app, config.limits, &state.metrics, instance.clone());
    tokio::select! {
        () = server => {}
        _ = state.crash.notified() => {
            instance.cancel();
            broadcaster.abort();
            panic!("injected server fault (POST /api/debug/crash)");
        }
    };
    instance.cancel();
    broadcaster.abort();
    let _ = floods.await;
    Ok(())
}

/// Every second, records the refusal floods whose window has closed; at the end, all.
async fn summarise_floods(state: Arc<ServerState>, cancel: tokio_util::sync::CancellationToken) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let closing = tokio::select! {
            _ = cancel.cancelled() => true,
            _ = interval.tick() => false,
        };
        for row in state.flood.close_windows(closing) {
            commands::audit_or_count(&state, row);
        }
        if closing {
            return;
        }
    }
}
