//! The HTTP API's small endpoints: health, readiness, metrics, commands, the audit log,
//! the embedding map and the fault hook (runs, history and experiments have modules of
//! their own). The audit comes from the store's read-only pool through the readers' gate
//! (`readers.rs`), on blocking threads, so a slow query never holds up the async
//! workers. Health, readiness and metrics never touch the store: they answer while every
//! reader is busy.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use watchtower_protocol::{EmbeddingStatus, ErrorCode, GodResponse};

use crate::access::{bearer, origin_ok, token_ok};
use crate::commands::{Sender, enqueue};
use crate::query::{BadParam, run_id, whole};
use crate::respond::{Tagged, not_live, problem, read_json};
use crate::state::AppState;
use crate::wire::parse_targeted_body;

/// 200 while the process lives and its engine has not failed: a failed engine is not a
/// live economy, whatever the server can still answer.
pub async fn healthz(State((state, _)): AppState) -> Response {
    match state.bridge.failure.load() {
        None => "ok".into_response(),
        Some(reason) => failed(&reason),
    }
}

fn failed(reason: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ok": false, "state": "failed", "error": reason}))).into_response()
}

/// 200 once the first tick has settled; a viewer, which has no engine, is ready as soon
/// as it serves (its store was opened before it bound). With a disk guard, `disk` says
/// how much space is free on the data directory's disk and whether that is low (`low`:
/// a warning; `paused`: the run was paused for it): still 200, the process serves.
pub async fn readyz(State((state, _)): AppState) -> Response {
    if let Some(dir) = &state.config.viewer {
        return Json(json!({"ready": true, "viewer": dir})).into_response();
    }
    if let Some(reason) = state.bridge.failure.load() {
        return failed(&reason);
    }
    match state.bridge.telemetry.load() {
        Some(p) => {
            let mut body = json!({"ready": true, "tick": p.telemetry.tick});
            if let Some(disk) = state.bridge.disk.load() {
                body["disk"] = json!(*disk);
            }
            Json(body).into_response()
        }
        None => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ready": false, "state": "initializing"}))).into_response()
        }
    }
}

pub async fn command(
    State((state, _)): AppState,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !origin_ok(&state, &headers) {
        return problem(StatusCode::FORBIDDEN, "forbidden: requests from this origin may not steer the simulation");
    }
    let targeted = match parse_targeted_body(&body) {
        Ok(targeted) => targeted,
        Err(message) => return problem(StatusCode::BAD_REQUEST, message),
    };
    let authorized = token_ok(&state, bearer(&headers));
    let from = Sender { transport: "http", peer };
    let answered = enqueue(&state, targeted.command, targeted.run, authorized, &from).await;
    // A viewer's refusal is not a passing unavailability: asking again will not help.
    let status = if state.config.viewer.is_some() { StatusCode::FORBIDDEN } else { status_of(&answered.response) };
    (status, Json(Tagged { kind: "command_result", payload: &answered })).into_response()
}

fn status_of(response: &GodResponse) -> StatusCode {
    match response.code {
        None => StatusCode::OK,
        Some(ErrorCode::Unauthorized) => StatusCode::UNAUTHORIZED,
        Some(ErrorCode::QueueFull | ErrorCode::RateLimited) => StatusCode::TOO_MANY_REQUESTS,
        Some(ErrorCode::Malformed) => StatusCode::BAD_REQUEST,
        Some(ErrorCode::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
        Some(ErrorCode::UnknownRun) => StatusCode::NOT_FOUND,
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The audit query's parameters, as text so each is checked by name.
#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<String>,
    run: Option<String>,
}

/// Most audited commands one request returns.
const AUDIT_LIMIT: u64 = 1_000;

/// Most runs one audit request names.
const AUDIT_RUNS: usize = 16;

/// `GET /api/audit?run=&limit=`: the newest commands of the main run, of run `run`, or of
/// several runs (`run=1,5,6`: a run and its what-if branches, merged newest first; each
/// row says its `run_id`).
pub async fn audit(State((state, _)): AppState, Query(q): Query<AuditQuery>) -> Response {
    let (runs, limit) = match (audit_runs(q.run.as_deref()), whole("limit", q.limit.as_deref(), 1, u64::MAX)) {
        (Ok(runs), Ok(limit)) => (runs, limit.unwrap_or(50).min(AUDIT_LIMIT) as usize),
        (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
    };
    let default = state.config.run_id;
    read_json(&state, move |h| {
        if runs.len() < 2 {
            return Ok(json!({"commands": h.audit(runs.first().copied().or(default), limit)?}));
        }
        let mut commands = Vec::new();
        for run in runs {
            commands.extend(h.audit(Some(run), limit)?);
        }
        commands.sort_by_key(|c| std::cmp::Reverse(c.seq));
        commands.truncate(limit);
        Ok(json!({"commands": commands}))
    })
    .await
}

/// `run=` of the audit: none, one run id, or up to [`AUDIT_RUNS`] separated by commas.
fn audit_runs(text: Option<&str>) -> Result<Vec<i64>, BadParam> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(Vec::new()) };
    let mut runs = Vec::new();
    for part in text.split(',') {
        let run = run_id(Some(part))?
            .ok_or_else(|| BadParam(format!("`run` = {text} does not fit: expected run ids separated by commas")))?;
        if !runs.contains(&run) {
            runs.push(run);
        }
    }
    if runs.len() > AUDIT_RUNS {
        return Err(BadParam(format!("`run` names {} runs: at most {AUDIT_RUNS}", runs.len())));
    }
    Ok(runs)
}

pub async fn metrics(State((state, _)): AppState) -> Response {
    state.metrics.queue_depth.set(state.bridge.queue.len() as i64);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

/// `GET /api/admin/embedding-map`: 202 while computing, 200 with the map, 500 if it failed.
pub async fn embedding(State((state, _)): AppState) -> Response {
    if let Some(response) = not_live(&state) {
        return response;
    }
    let Some(status) = state.bridge.embedding.load() else {
        return problem(StatusCode::NOT_FOUND, "the embedding map is switched off (--embedding-sample 0)");
    };
    let code = match *status {
        EmbeddingStatus::Computing { .. } => StatusCode::ACCEPTED,
        EmbeddingStatus::Ready(_) => StatusCode::OK,
        EmbeddingStatus::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, Json(&*status)).into_response()
}

/// `POST /api/admin/embedding-map/refresh`: recomputes from the next settled tick; one
/// computation at a time.
pub async fn refresh_embedding(State((state, _)): AppState, headers: HeaderMap) -> Response {
    if !origin_ok(&state, &headers) {
        return problem(StatusCode::FORBIDDEN, "forbidden: requests from this origin may not use the admin API");
    }
    if let Some(message) = state.read_only() {
        return problem(StatusCode::FORBIDDEN, message);
    }
    if !token_ok(&state, bearer(&headers)) {
        return problem(StatusCode::UNAUTHORIZED, "unauthorised: the admin API needs the access token");
    }
    match state.bridge.embedding.load().as_deref() {
        None => problem(StatusCode::NOT_FOUND, "the embedding map is switched off (--embedding-sample 0)"),
        Some(EmbeddingStatus::Computing { .. }) => {
            problem(StatusCode::CONFLICT, "a computation is already running; wait for it to finish")
        }
        Some(_) => {
            let computing = EmbeddingStatus::Computing { progress: 0.0 };
            state.bridge.embedding.publish(Arc::new(computing.clone()));
            state.bridge.embedding_refresh.fire();
            (StatusCode::ACCEPTED, Json(computing)).into_response()
        }
    }
}

/// Debug builds only: makes the serving task panic (no body, or `{"part":"server"}`), or
/// the engine's thread (`{"part":"engine"}`), to prove what the app does about each.
pub async fn crash(State((state, _)): AppState, headers: HeaderMap, body: Bytes) -> Response {
    if !state.config.fault_injection || !token_ok(&state, bearer(&headers)) {
        return problem(StatusCode::NOT_FOUND, "not found");
    }
    let part =
        serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["part"].as_str().map(String::from));
    match part.as_deref() {
        None | Some("server") => {
            state.crash.notify_one();
            (StatusCode::ACCEPTED, "crashing the server task").into_response()
        }
        Some("engine") => {
            state.bridge.engine_fault.fire();
            (StatusCode::ACCEPTED, "crashing the engine thread").into_response()
        }
        Some(other) => problem(StatusCode::BAD_REQUEST, format!("no part `{other}`: `server` or `engine`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_names_one_run_or_several() {
        assert_eq!(audit_runs(None), Ok(vec![]));
        assert_eq!(audit_runs(Some("")), Ok(vec![]));
        assert_eq!(audit_runs(Some("3")), Ok(vec![3]));
        assert_eq!(audit_runs(Some("1, 5,6,5")), Ok(vec![1, 5, 6]));
        assert!(audit_runs(Some("1,x")).unwrap_err().0.starts_with("`run`"));
        assert!(audit_runs(Some("1,,2")).unwrap_err().0.starts_with("`run`"));
        assert!(audit_runs(Some("0")).unwrap_err().0.starts_with("`run`"));
        let many = (1..=17).map(|r| r.to_string()).collect::<Vec<_>>().join(",");
        assert!(audit_runs(Some(&many)).unwrap_err().0.contains("at most 16"));
    }
}
