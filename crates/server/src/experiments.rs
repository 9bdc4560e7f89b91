//! `GET /api/experiments`, `/api/experiments/{id}`, `/api/experiments/{id}/fan`,
//! `/api/experiments/{id}/cells`, `/api/experiments/{id}/sensitivity` and
//! `/api/experiments/{id}/calibration`: the experiments recorded in the store, one
//! experiment's spec, progress and summary table, an ensemble's fan chart, a grid's
//! heat-map cells, a designed experiment's sensitivity indices and a calibration. Every
//! read goes through the readers' gate (`readers.rs`) on a blocking thread; the fan, the
//! cells, the indices and the calibration come through the [`ExperimentReader`] seam
//! (`ask_reader`), since the server cannot decode the experiment crate's summaries
//! itself.
//!
//! [`ExperimentReader`]: crate::ExperimentReader

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::ExperimentReader;
use crate::query::whole;
use crate::readers::{QUEUE_WAIT, ReadError};
use crate::respond::{no_store, problem, read_json};
use crate::state::{AppState, CellsQuery, ExperimentAnswer, ServerState};
use watchtower_store::{History, StoreError};

/// `GET /api/experiments`: every experiment, newest first, with its progress.
pub async fn experiments(State((state, _)): AppState) -> Response {
    read_json(&state, |h| Ok(json!({"experiments": h.experiments()?}))).await
}

/// The experiment query's parameters, as text so each is checked by name.
#[derive(Deserialize)]
pub struct ExperimentQuery {
    from: Option<String>,
    limit: Option<String>,
}

/// Most run rows one experiment request returns (page on with `from`).
const EXPERIMENT_ROWS_LIMIT: u64 = 10_000;

/// `GET /api/experiments/{id}?from=&limit=`: the spec, the progress and the summary
/// table (one row per finished run, by run index, from run `from`, at most `limit`),
/// with the table's columns, and `kept`: the runs whose ticks were recorded
/// (`--keep-ticks`), `{"run": INDEX, "run_id": ID}`, over the same run indices.
pub async fn experiment(
    State((state, _)): AppState,
    Path(id): Path<i64>,
    Query(q): Query<ExperimentQuery>,
) -> Response {
    let (from, limit) =
        match (whole("from", q.from.as_deref(), 0, u64::MAX), whole("limit", q.limit.as_deref(), 1, u64::MAX)) {
            (Ok(from), Ok(limit)) => {
                (from.unwrap_or(0), limit.unwrap_or(EXPERIMENT_ROWS_LIMIT).min(EXPERIMENT_ROWS_LIMIT) as usize)
            }
            (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
        };
    let Some(readers) = &state.readers else {
        return no_store();
    };
    let found = readers
        .read(QUEUE_WAIT, move |h| {
            let Some(page) = h.experiment_page(id, from, limit)? else { return Ok(None) };
            let rows: Vec<serde_json::Value> = page.rows.into_iter().map(|r| r.row).collect();
            let kept: Vec<serde_json::Value> =
                page.kept.into_iter().map(|(run, run_id)| json!({"run": run, "run_id": run_id})).collect();
            Ok(Some((page.detail, rows, kept)))
        })
        .await;
    match found {
        Ok(Some((detail, rows, kept))) => {
            let progress = json!({
                "done": detail.row.done,
                "runs": detail.row.runs,
                "share": if detail.row.runs == 0 { 0.0 } else { detail.row.done as f64 / detail.row.runs as f64 },
                "status": detail.row.status,
            });
            let columns = detail.row.layout.get("columns").cloned().unwrap_or_default();
            Json(json!({"experiment": detail, "progress": progress, "columns": columns, "rows": rows, "kept": kept}))
                .into_response()
        }
        Ok(None) => problem(StatusCode::NOT_FOUND, format!("no experiment {id}")),
        Err(e) => e.into_response(),
    }
}

/// The fan query's parameter.
#[derive(Deserialize)]
pub struct FanQuery {
    indicator: Option<String>,
}

/// `GET /api/experiments/{id}/fan?indicator=`: an ensemble's indicator over ticks, the
/// mean across seeds and its 95% interval per block of ticks, for the baseline and, with a
/// fork, the branch (default indicator: the experiment's first).
pub async fn experiment_fan(State((state, _)): AppState, Path(id): Path<i64>, Query(q): Query<FanQuery>) -> Response {
    let indicator = q.indicator.filter(|i| !i.trim().is_empty());
    ask_reader(&state, id, "experiments' fan charts", move |reader, h| {
        let indicator = match indicator {
            Some(indicator) => indicator,
            None => match h.experiment(id)? {
                Some(d) => d.row.layout["indicators"][0].as_str().unwrap_or_default().to_string(),
                None => return Ok(Ok(ExperimentAnswer::NoExperiment)),
            },
        };
        Ok(reader.fan(h, id, &indicator))
    })
    .await
}

/// The heat map's query parameters, as text so each is checked by name.
#[derive(Deserialize)]
pub struct CellsParams {
    column: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// `GET /api/experiments/{id}/cells?column=&x=&y=`: a grid's summary column over axes
/// `x` and `y` (indices in the spec; default the first two, one row with one axis), each
/// cell the mean over its runs and the 95% interval's half-width, computed by the
/// experiment crate (the page draws them and computes none).
pub async fn experiment_cells(
    State((state, _)): AppState,
    Path(id): Path<i64>,
    Query(q): Query<CellsParams>,
) -> Response {
    let axis = |name, text: Option<&str>| whole(name, text, 0, u16::MAX.into()).map(|a| a.map(|a| a as usize));
    let query = match (axis("x", q.x.as_deref()), axis("y", q.y.as_deref())) {
        (Ok(x), Ok(y)) => CellsQuery { column: q.column.filter(|c| !c.trim().is_empty()), x, y },
        (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
    };
    ask_reader(&state, id, "experiments' heat maps", move |reader, h| Ok(reader.cells(h, id, &query))).await
}

/// The sensitivity query's parameter.
#[derive(Deserialize)]
pub struct SensitivityQuery {
    indicator: Option<String>,
}

/// `GET /api/experiments/{id}/sensitivity?indicator=`: a Sobol or Morris experiment's
/// indices of a summary column (default: every `<indicator>_mean`) with their 95%
/// intervals, the notes and the design's progress, computed by the experiment crate from
/// the runs stored so far (the indices once the design is complete). 400 for a grid.
pub async fn experiment_sensitivity(
    State((state, _)): AppState,
    Path(id): Path<i64>,
    Query(q): Query<SensitivityQuery>,
) -> Response {
    let indicator = q.indicator.filter(|i| !i.trim().is_empty());
    ask_reader(&state, id, "experiments' sensitivity indices", move |reader, h| {
        Ok(reader.sensitivity(h, id, indicator.as_deref()))
    })
    .await
}

/// `GET /api/experiments/{id}/calibration`: a calibration's evaluations and simulations
/// so far against its budget, its least loss and the point that has it, and once it
/// finished its estimates, 90% intervals, standard errors, moment table, J test and
/// warnings (`watchtower calibrate --json`'s), computed by the experiment crate from
/// what is stored. 400 for an experiment that is not a calibration.
pub async fn experiment_calibration(State((state, _)): AppState, Path(id): Path<i64>) -> Response {
    ask_reader(&state, id, "calibrations", move |reader, h| Ok(reader.calibration(h, id))).await
}

/// Asks the server's [`ExperimentReader`] about experiment `id` through the readers'
/// gate (`ask` runs on a blocking thread with a read connection) and answers with what
/// it says; 503 without a store, 404 naming `what` when the server has no reader.
///
/// [`ExperimentReader`]: crate::ExperimentReader
async fn ask_reader(
    state: &ServerState,
    id: i64,
    what: &str,
    ask: impl FnOnce(&dyn ExperimentReader, &History) -> Result<Result<ExperimentAnswer, String>, StoreError>
    + Send
    + 'static,
) -> Response {
    let Some(readers) = &state.readers else {
        return no_store();
    };
    let Some(reader) = state.config.experiments.clone() else {
        return problem(StatusCode::NOT_FOUND, format!("this server cannot read {what}"));
    };
    experiment_answer(id, readers.read(QUEUE_WAIT, move |h| ask(&*reader, h)).await)
}

/// An experiment reader's answer as a response.
fn experiment_answer(id: i64, answer: Result<Result<ExperimentAnswer, String>, ReadError>) -> Response {
    match answer {
        Ok(Ok(ExperimentAnswer::Found(value))) => Json(value).into_response(),
        Ok(Ok(ExperimentAnswer::NoExperiment)) => problem(StatusCode::NOT_FOUND, format!("no experiment {id}")),
        Ok(Ok(ExperimentAnswer::Refused(message))) => problem(StatusCode::BAD_REQUEST, message),
        Ok(Ok(ExperimentAnswer::Busy(message))) => {
            let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, message);
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
            response
        }
        Ok(Err(message)) => problem(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(e) => e.into_response(),
    }
}
