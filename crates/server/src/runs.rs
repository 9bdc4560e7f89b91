//! Runs, addressed by id: the main run and its what-if branches.
//!
//! - `GET /api/runs?limit=&after=`: the recorded runs (parent, fork tick, changes,
//!   whether it is live, resumed at, dropped at), newest first, a page at a time; without
//!   a store, the live runs.
//! - `POST /api/runs/{id}/fork` (token): `{"set": {KEY: VALUE, …}, "name": "…"}` copies
//!   run `id` as it stands before its next tick, changes `set` in the copy and runs both
//!   in lockstep: 201 `{"run_id":B,"parent":A,"tick":T,"name":…,"changes":{…}}`; 429
//!   past the forks a second allowed per address and per token ([`crate::fork_limit`]).
//! - `DELETE /api/runs/{id}` or `POST /api/runs/{id}/drop` (token): stops branch `id`;
//!   its rows stay, marked dropped.
//! - `POST /api/runs/{id}/forecast` (token): `{"set": {KEY: VALUE, …}, "seeds": S,
//!   "ticks": N}` copies run `id` before its next tick and forecasts the change's effect
//!   across S pairs of N ticks in the background: 202 with the forecast's status; one
//!   at a time (409 while one runs), S and N capped ([`MAX_FORECAST_SEEDS`],
//!   [`MAX_FORECAST_TICKS`]). `GET /api/forecasts/{id}`: its status, progress and, once
//!   done, the effects with their intervals and per-tick bands, as computed in Rust.
//! - `GET /api/snapshot?run=`, `GET /api/registry?run=`: a live run's latest telemetry
//!   and registry (default: the main run's).
//!
//! Forks and drops are requests to the engine's thread, carried out between two ticks
//! and answered from there: the server never locks or waits on the engine.

// The helpers return the handler's early answer as their error: it is built once, on
// the way out, and boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use watchtower_bridge::{Callback, LiveRun, Refusal, RefusalCode, Request, now_ms};
use watchtower_protocol::{AuditEntry, ErrorCode, GodCommand, GodResponse};
use watchtower_store::RunRow;

use crate::access::{bearer, origin_ok, token_ok};
use crate::flood::Verdict;
use crate::fork_limit::TooFast;
use crate::live::{describe, is_live, main_run};
use crate::query::{MAX_SQL, whole};
use crate::readers::QUEUE_WAIT;
use crate::respond::{no_store, not_live, problem};
use crate::state::{AppState, ServerState};

/// How long a fork or a drop waits for the engine's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Most settings one fork may change.
const MAX_CHANGES: usize = 64;

/// Longest branch name, in characters.
const MAX_NAME: usize = 128;

/// Checks the origin and the token of a request that changes the runs.
fn guard(state: &ServerState, headers: &HeaderMap) -> Result<(), Response> {
    if let Some(message) = state.read_only() {
        return Err(problem(StatusCode::FORBIDDEN, message));
    }
    if !origin_ok(state, headers) {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "forbidden: requests from this origin may not steer the simulation",
        ));
    }
    if !token_ok(state, bearer(headers)) {
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "unauthorised: forks and drops need the access token printed when Watchtower started",
        ));
    }
    Ok(())
}

fn refused(refusal: &Refusal) -> Response {
    let status = match refusal.code {
        RefusalCode::UnknownRun => StatusCode::NOT_FOUND,
        RefusalCode::TooManyBranches | RefusalCode::NotABranch | RefusalCode::Busy => StatusCode::CONFLICT,
        RefusalCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(json!({"error": refusal.message, "code": refusal.code}))).into_response()
}

/// Sends `request` (built around a reply channel) to the engine and awaits its answer.
async fn ask<T: Send + 'static>(
    state: &ServerState,
    request: impl FnOnce(Callback<Result<T, Refusal>>) -> Request,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let reply = Callback::new(move |answer| {
        let _ = tx.send(answer);
    });
    if state.bridge.failure.load().is_some() || state.bridge.queue.is_closed() {
        return Err(refused(&Refusal::new(RefusalCode::Unavailable, "the engine has stopped")));
    }
    if state.bridge.requests.try_send(request(reply)).is_err() {
        return Err(problem(StatusCode::TOO_MANY_REQUESTS, "too many forks and drops are waiting; try again shortly"));
    }
    match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
        Ok(Ok(Ok(answer))) => Ok(answer),
        Ok(Ok(Err(refusal))) => Err(refused(&refusal)),
        Ok(Err(_)) => Err(refused(&Refusal::new(RefusalCode::Unavailable, "the engine stopped before answering"))),
        Err(_) => Err(refused(&Refusal::new(RefusalCode::Unavailable, "no answer from the engine within 30 s"))),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForkBody {
    #[serde(default)]
    set: serde_json::Map<String, Value>,
    #[serde(default)]
    name: Option<String>,
}

/// A request's body read as the JSON object `T` (an empty body: `T`'s default), or a
/// 400 naming `what` was malformed and the `expected` shape.
fn object<T: serde::de::DeserializeOwned + Default>(body: &[u8], what: &str, expected: &str) -> Result<T, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // A body is an object: `[]` or `[{…}, "x"]` would otherwise read as a struct's fields
    // in order.
    serde_json::from_slice::<Value>(body)
        .and_then(|v| match v {
            Value::Object(_) => serde_json::from_value(v),
            other => Err(serde::de::Error::custom(format!("the body is {}, not an object", kind(&other)))),
        })
        .map_err(|e| problem(StatusCode::BAD_REQUEST, format!("malformed {what} ({e}); expected {expected}")))
}

/// What a JSON value is, for an error message.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `POST /api/runs/{id}/fork`.
pub async fn fork(
    State((state, _)): AppState,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(parent): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = guard(&state, &headers) {
        return response;
    }
    let body: ForkBody = match object(&body, "fork", r#"{"set": {"KEY": VALUE, …}, "name": "…"}"#) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.set.len() > MAX_CHANGES {
        return problem(StatusCode::BAD_REQUEST, format!("a fork changes at most {MAX_CHANGES} settings"));
    }
    if body.name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
        return problem(StatusCode::BAD_REQUEST, format!("a branch's name has at most {MAX_NAME} characters"));
    }
    if !is_live(&state, parent) {
        return refused(&Refusal::new(RefusalCode::UnknownRun, format!("run {parent} is not live here")));
    }
    let source = format!("http {peer}");
    if let Err(too_fast) = state.forks.take(peer.ip()) {
        return rate_limited(&state, peer, parent, &body.set, source, &too_fast);
    }
    let set: Vec<(String, Value)> = body.set.into_iter().collect();
    let name = body.name;
    match ask(&state, |reply| Request::Fork { parent, set, name, source, reply }).await {
        Ok(forked) => (StatusCode::CREATED, Json(forked)).into_response(),
        Err(response) => {
            // Only forks that make a branch count against the limit.
            state.forks.refund(peer.ip());
            response
        }
    }
}

/// Most pairs one forecast may run.
pub const MAX_FORECAST_SEEDS: usize = 50;

/// Most ticks each future of a forecast may run.
pub const MAX_FORECAST_TICKS: u64 = 2_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastBody {
    #[serde(default)]
    set: serde_json::Map<String, Value>,
    #[serde(default = "ForecastBody::seeds")]
    seeds: usize,
    #[serde(default = "ForecastBody::ticks")]
    ticks: u64,
}

impl ForecastBody {
    fn seeds() -> usize {
        20
    }

    fn ticks() -> u64 {
        500
    }
}

impl Default for ForecastBody {
    fn default() -> Self {
        Self { set: Default::default(), seeds: Self::seeds(), ticks: Self::ticks() }
    }
}

/// `POST /api/runs/{id}/forecast`.
pub async fn forecast(State((state, _)): AppState, Path(run): Path<i64>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = guard(&state, &headers) {
        return response;
    }
    let expected = r#"{"set": {"KEY": VALUE, …}, "seeds": 20, "ticks": 500}"#;
    let body: ForecastBody = match object(&body, "forecast", expected) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.set.len() > MAX_CHANGES {
        return problem(StatusCode::BAD_REQUEST, format!("a forecast changes at most {MAX_CHANGES} settings"));
    }
    if !(2..=MAX_FORECAST_SEEDS).contains(&body.seeds) {
        return problem(
            StatusCode::BAD_REQUEST,
            format!(
                "a forecast runs between 2 and {MAX_FORECAST_SEEDS} seeds (asked {}): an interval needs two, and more \
                 would hold the cores too long",
                body.seeds
            ),
        );
    }
    if !(1..=MAX_FORECAST_TICKS).contains(&body.ticks) {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("a forecast runs between 1 and {MAX_FORECAST_TICKS} ticks (asked {})", body.ticks),
        );
    }
    if !is_live(&state, run) {
        return refused(&Refusal::new(RefusalCode::UnknownRun, format!("run {run} is not live here")));
    }
    let (seeds, ticks) = (body.seeds, body.ticks);
    let set: Vec<(String, Value)> = body.set.into_iter().collect();
    match ask(&state, |reply| Request::Forecast { run, set, seeds, ticks, reply }).await {
        Ok(status) => {
            let location = format!("/api/forecasts/{}", status.id);
            (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)).into_response()
        }
        Err(response) => response,
    }
}

/// `GET /api/forecasts/{id}`.
pub async fn forecast_status(State((state, _)): AppState, Path(id): Path<u64>) -> Response {
    match state.bridge.forecasts.json(id) {
        Some(json) => {
            ([(header::CONTENT_TYPE, "application/json")], axum::body::Bytes::from_owner(json)).into_response()
        }
        None => problem(
            StatusCode::NOT_FOUND,
            format!("no forecast {id} here (the last {} are kept)", watchtower_bridge::forecasts::KEPT_FORECASTS),
        ),
    }
}

/// A fork refused for coming too fast: 429 with `Retry-After`, audited like other
/// refusals (the first few of a window in full, the rest counted in one row).
fn rate_limited(
    state: &Arc<ServerState>,
    peer: std::net::SocketAddr,
    parent: i64,
    set: &serde_json::Map<String, Value>,
    source: String,
    too_fast: &TooFast,
) -> Response {
    let message = too_fast.to_string();
    match state.fork_flood.admit("http", peer) {
        Verdict::Record => {
            let command =
                GodCommand { id: String::new(), key: format!("(fork of run {parent})"), value: json!({"set": set}) };
            let response = GodResponse::rejected(&command, None, ErrorCode::RateLimited, message.clone());
            state.audit_or_count(AuditEntry { command, received_at_ms: now_ms(), source, response });
        }
        Verdict::Count => {
            state.metrics.refusals_suppressed.inc();
        }
    }
    let retry = too_fast.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": message, "code": ErrorCode::RateLimited})))
        .into_response();
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry.into());
    response
}

/// `DELETE /api/runs/{id}` and `POST /api/runs/{id}/drop`.
pub async fn drop_run(State((state, _)): AppState, Path(run): Path<i64>, headers: HeaderMap) -> Response {
    if let Err(response) = guard(&state, &headers) {
        return response;
    }
    if !is_live(&state, run) {
        return refused(&Refusal::new(RefusalCode::UnknownRun, format!("run {run} is not live here")));
    }
    match ask(&state, |reply| Request::Drop { run, reply }).await {
        Ok(dropped) => Json(json!({"run_id": dropped.run_id, "tick": dropped.tick, "dropped": true})).into_response(),
        Err(response) => response,
    }
}

/// Runs in a page of `GET /api/runs` when `limit` is not given: more than the
/// dashboard's run bar ever shows.
pub const DEFAULT_RUNS_PAGE: u64 = 100;

/// Most runs in one page of `GET /api/runs`; `next` says where the rest begin.
pub const MAX_RUNS_PAGE: u64 = 1_000;

/// The listing's parameters as sent: text, so each is checked and refused by name.
#[derive(Deserialize)]
pub struct RunsQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// A run as the listing shows it: the stored row, whether it is live, whether it is the
/// main run.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    row: &'a RunRow,
    live: bool,
    main: bool,
}

/// `GET /api/runs?limit=&after=`: recorded runs with their live state, newest first, a
/// page at a time (`limit`, default [`DEFAULT_RUNS_PAGE`], at most [`MAX_RUNS_PAGE`];
/// `after=ID`: the runs older than run ID), with `next`: the `after` of the next page, or
/// null on the last. Rows go from the store's cursor straight into the answer's bytes, so
/// a request holds one page of JSON, whatever the data directory holds. Without a store:
/// the live runs, in one page.
pub async fn runs(State((state, _)): AppState, Query(q): Query<RunsQuery>) -> Response {
    let (limit, after) =
        match (whole("limit", q.limit.as_deref(), 1, MAX_RUNS_PAGE), whole("after", q.after.as_deref(), 1, MAX_SQL)) {
            (Ok(limit), Ok(after)) => (limit.unwrap_or(DEFAULT_RUNS_PAGE) as usize, after.map(|a| a as i64)),
            (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
        };
    let live = state.bridge.runs.load();
    let live_ids: Vec<i64> = live.as_ref().map(|l| l.runs.iter().map(|r| r.run_id).collect()).unwrap_or_default();
    let main = main_run(&state);
    if state.config.history.is_none() {
        let runs: Vec<Value> = live
            .as_ref()
            .map(|l| {
                l.runs
                    .iter()
                    .map(|r| {
                        let mut v = describe(r);
                        v["id"] = json!(r.run_id);
                        v["live"] = json!(true);
                        v["status"] = json!("running");
                        v
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Json(json!({"runs": runs, "main": main, "live": live_ids, "next": null})).into_response();
    }
    let Some(readers) = &state.readers else {
        return no_store();
    };
    let page = readers
        .read(QUEUE_WAIT, move |h| {
            let mut out = b"{\"runs\":[".to_vec();
            let (mut listed, mut last) = (0, None);
            // One row past the page says whether another page follows.
            let mut more = false;
            h.runs_page(after, limit + 1, |row| {
                if listed == limit {
                    more = true;
                    return Ok(());
                }
                if listed > 0 {
                    out.push(b',');
                }
                let entry = Listed { row: &row, live: live_ids.contains(&row.id), main: Some(row.id) == main };
                serde_json::to_writer(&mut out, &entry).expect("rows serialise");
                listed += 1;
                last = Some(row.id);
                Ok(())
            })?;
            out.extend_from_slice(b"],\"main\":");
            serde_json::to_writer(&mut out, &main).expect("ids serialise");
            out.extend_from_slice(b",\"live\":");
            serde_json::to_writer(&mut out, &live_ids).expect("ids serialise");
            out.extend_from_slice(b",\"next\":");
            serde_json::to_writer(&mut out, &last.filter(|_| more)).expect("ids serialise");
            out.push(b'}');
            Ok(out)
        })
        .await;
    match page {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct RunQuery {
    run: Option<i64>,
}

/// The run `run` names: `None` for the main run (whose slots are the bridge's own), else
/// the live branch; 404 from a viewer, which has no live run, and for a run not live here.
fn which(state: &ServerState, run: Option<i64>) -> Result<Option<Arc<LiveRun>>, Response> {
    match run.filter(|&r| Some(r) != main_run(state)) {
        None => not_live(state).map_or(Ok(None), Err),
        Some(run) => state
            .bridge
            .runs
            .load()
            .and_then(|l| l.get(run).cloned())
            .map(Some)
            .ok_or_else(|| problem(StatusCode::NOT_FOUND, format!("run {run} is not live here"))),
    }
}

/// `GET /api/snapshot?run=`.
pub async fn snapshot(State((state, _)): AppState, Query(q): Query<RunQuery>) -> Response {
    let telemetry = match which(&state, q.run) {
        Ok(None) => state.bridge.telemetry.load(),
        Ok(Some(live)) => live.telemetry.load(),
        Err(response) => return response,
    };
    match telemetry {
        Some(p) => Json(watchtower_protocol::Reported(&p.telemetry)).into_response(),
        None => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"type": "status", "state": "initializing"}))).into_response()
        }
    }
}

/// `GET /api/registry?run=`.
pub async fn registry(State((state, _)): AppState, Query(q): Query<RunQuery>) -> Response {
    let registry = match which(&state, q.run) {
        Ok(None) => state.bridge.registry.load(),
        Ok(Some(live)) => live.registry.load(),
        Err(response) => return response,
    };
    match registry {
        Some(r) => Json(&*r).into_response(),
        None => problem(StatusCode::SERVICE_UNAVAILABLE, "initializing"),
    }
}
