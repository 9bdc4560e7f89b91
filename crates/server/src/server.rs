//! The top of the server: the supervision that keeps one serving ([`run`]: if the
//! serving task dies, the engine does not notice, and `run` binds the address again and
//! serves anew), one serving instance on a listener ([`serve`]), and its routes
//! ([`router`]), each naming the handler that answers it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::state::ServerState;
use crate::ws::MAX_MESSAGE;
use crate::{api, broadcast, connections, dashboard, experiments, history, host, runs, ws};

/// How long the supervision waits before binding again after the server stopped, or
/// after a bind failed (the old socket may still hold the address).
const REBIND_PAUSE: Duration = Duration::from_millis(100);

/// Serves on `first`, and on `addr` again whenever the serving task dies (returns, fails
/// or panics), until `cancel`. `serve` and `view` run their server this way.
pub async fn run(first: TcpListener, addr: SocketAddr, state: Arc<ServerState>, cancel: CancellationToken) {
    let mut listener = Some(first);
    loop {
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    warn!("cannot listen on {addr} again yet: {e}");
                    tokio::time::sleep(REBIND_PAUSE).await;
                    if cancel.is_cancelled() {
                        return;
                    }
                    continue;
                }
            },
        };
        let task = tokio::spawn(serve(l, Arc::clone(&state), cancel.clone()));
        let result = task.await;
        if cancel.is_cancelled() {
            return;
        }
        match result {
            Ok(Ok(())) => warn!("the server stopped unexpectedly; restarting it"),
            Ok(Err(e)) => error!("the server failed: {e}; restarting it"),
            Err(e) => error!("the server task panicked: {e}; restarting it (the engine is unaffected)"),
        }
        tokio::time::sleep(REBIND_PAUSE).await;
    }
}

/// Serves on `listener` until `cancel`, then closes every WebSocket and returns.
///
/// Panics if the fault hook (`POST /api/debug/crash`, debug builds) fires: that is its
/// purpose, so the app's supervision ([`run`]) can be tested.
pub async fn serve(listener: TcpListener, state: Arc<ServerState>, cancel: CancellationToken) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    state.port.store(local.port(), Ordering::Relaxed);
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
async fn summarise_floods(state: Arc<ServerState>, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        let closing = tokio::select! {
            _ = cancel.cancelled() => true,
            _ = interval.tick() => false,
        };
        for row in state.flood.close_windows(closing).into_iter().chain(state.fork_flood.close_windows(closing)) {
            state.audit_or_count(row);
        }
        if closing {
            return;
        }
    }
}

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
        .route("/api/runs/{id}/forecast", post(runs::forecast))
        .route("/api/forecasts/{id}", get(runs::forecast_status))
        .route("/api/experiments", get(experiments::experiments))
        .route("/api/experiments/{id}", get(experiments::experiment))
        .route("/api/experiments/{id}/fan", get(experiments::experiment_fan))
        .route("/api/experiments/{id}/cells", get(experiments::experiment_cells))
        .route("/api/experiments/{id}/sensitivity", get(experiments::experiment_sensitivity))
        .route("/api/experiments/{id}/calibration", get(experiments::experiment_calibration))
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
