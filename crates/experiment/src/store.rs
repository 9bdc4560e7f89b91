//! An experiment in the store: recorded when it starts, each run's summary written
//! through the one writer thread as the run finishes, the table read back from what was
//! written (so a resumed experiment's table is the uninterrupted one's).

use std::sync::Arc;

use watchtower_store::experiments::{
    NewExperiment, StoredSummary, create_experiment, finish_experiment, insert_summary, link_run,
};
use watchtower_store::{ExperimentDetail, History, RunStatus, RunWriter, Store};

use watchtower_runner::session::Cycle;
use watchtower_runner::sink::{Flow, Recorder, Sink, SinkError};

use crate::execute::{ExperimentError, Recording, RunEnd, RunRecorder};
use crate::plan::{Plan, PlannedRun};
use crate::spec::ExperimentSpec;
use crate::summary::{RunSummary, SUMMARY_FORMAT};
use crate::table::{ExperimentTable, raw_json};

/// What readers that do not parse the spec need: axes (key and values), indicators,
/// columns, seeds, ticks, warm-up, fork.
pub fn layout(plan: &Plan) -> serde_json::Value {
    let spec = plan.spec();
    let table = ExperimentTable::new(plan.clone());
    serde_json::json!({
        "model": spec.model.name(),
        "ticks": spec.ticks,
        "warmup": spec.warmup,
        "seeds": spec.seeds.len(),
        "axes": spec.axes.iter().map(|a| serde_json::json!({
            "key": a.key,
            "values": a.values.iter().map(raw_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "indicators": spec.indicators,
        "design": spec.design.layout(),
        "fork": spec.fork.as_ref().map(|f| serde_json::json!({
            "tick": f.tick,
            "set": f.changes.iter().map(|c| (c.key.clone(), raw_json(&c.value))).collect::<serde_json::Map<_, _>>(),
        })),
        "columns": table.columns(),
    })
}

/// Records a new experiment of `plan` and returns its id.
pub fn create(store: &Store, plan: &Plan) -> Result<i64, ExperimentError> {
    let spec = plan.spec();
    let new = NewExperiment {
        name: spec.name.clone(),
        source: spec.source.clone(),
        spec: spec.text.clone(),
        overrides: spec.overrides.clone(),
        layout: layout(plan),
        runs: plan.len(),
        points: plan.points(),
    };
    Ok(store.call(move |c| create_experiment(c, &new))?)
}

/// Queues a finished run's summary for the writer (committed within its batching
/// interval, 100 ms by default).
pub fn submit(
    store: &Store,
    experiment_id: i64,
    table: &ExperimentTable,
    summary: &RunSummary,
) -> Result<(), ExperimentError> {
    let stored = StoredSummary {
        experiment_id,
        run: summary.run,
        point: summary.point,
        seed: summary.seed,
        phase: summary.baseline.phase.map(|p| p.code().to_string()),
        error: summary.error.clone(),
        row: table.row_json(summary),
        format: SUMMARY_FORMAT,
        summary: summary.encode(),
    };
    Ok(store.submit(move |c| insert_summary(c, &stored))?)
}

/// Marks how the experiment ended and waits until it is committed.
pub fn finish(
    store: &Store,
    experiment_id: i64,
    status: RunStatus,
    error: Option<String>,
) -> Result<(), ExperimentError> {
    store.call(move |c| finish_experiment(c, experiment_id, status.as_str(), error.as_deref()))?;
    Ok(())
}

/// An experiment read back: its record, its plan and the table of its stored runs.
pub struct Loaded {
    /// The record.
    pub detail: ExperimentDetail,
    /// The table of the runs stored so far.
    pub table: ExperimentTable,
}

/// Reads experiment `id`: its spec (parsed again, with its `--set` arguments) and every
/// stored summary.
pub fn load(history: &History, id: i64) -> Result<Option<Loaded>, ExperimentError> {
    let Some(detail) = history.experiment(id)? else { return Ok(None) };
    if crate::calibrate::store::is_calibration(&detail.row.layout) {
        return Err(ExperimentError::Other(format!(
            "experiment {id} is a calibration: continue it with `watchtower calibrate --resume {id}`, export its simulations with `watchtower export --experiment {id}`"
        )));
    }
    let spec = ExperimentSpec::parse_with(&detail.spec, &detail.row.source, &detail.overrides)?;
    let mut table = ExperimentTable::new(Plan::new(spec));
    let planned = table.plan().len();
    for row in history.run_summaries(id, 0, usize::MAX)? {
        table.insert(decode(id, row.run, row.format, &row.summary, planned)?);
    }
    Ok(Some(Loaded { detail, table }))
}

/// Experiment `id`'s stored summary of run `run` (`bytes`, in encoding `format`),
/// decoded and checked against its plan of `planned` runs.
pub fn decode(id: i64, run: u64, format: i64, bytes: &[u8], planned: u64) -> Result<RunSummary, ExperimentError> {
    if format == 1 {
        return Err(ExperimentError::Other(format!(
            "experiment {id}, run {run}: its summary is in format 1 (money in the ledger's cents, before money was kept \
             in genesis currency units), which this version cannot mix with its own: run the experiment again"
        )));
    }
    if format != SUMMARY_FORMAT {
        return Err(ExperimentError::Other(format!(
            "experiment {id}, run {run}: its summary was written by another version of Watchtower (format {format})"
        )));
    }
    let summary = RunSummary::decode(bytes).map_err(ExperimentError::Other)?;
    if summary.run >= planned {
        return Err(ExperimentError::Other(format!("experiment {id}: run {} is outside its plan", summary.run)));
    }
    Ok(summary)
}

/// `--keep-ticks`: every run's ticks (its baseline, with a fork) recorded as an
/// ordinary run in the store, linked to the experiment.
pub struct KeepTicks {
    store: Arc<Store>,
    experiment_id: i64,
}

impl KeepTicks {
    /// Records into `store` for experiment `experiment_id`.
    pub fn new(store: Arc<Store>, experiment_id: i64) -> Self {
        Self { store, experiment_id }
    }
}

impl Recording for KeepTicks {
    fn open(&self, run: &PlannedRun) -> Result<Option<Box<dyn RunRecorder>>, ExperimentError> {
        let registry = run.scenario.registry().map_err(|e| ExperimentError::Other(e.to_string()))?;
        let writer = self.store.start_run(&run.scenario.run_info(&registry))?;
        let (run_id, experiment_id, index) = (writer.run_id(), self.experiment_id, run.index);
        self.store.submit(move |c| link_run(c, run_id, experiment_id, index))?;
        Ok(Some(Box::new(StoreRecorder { recorder: Recorder::new(writer.clone()), writer })))
    }
}

struct StoreRecorder {
    recorder: Recorder,
    writer: RunWriter,
}

impl Sink for StoreRecorder {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        self.recorder.settled(cycle)
    }
}

impl RunRecorder for StoreRecorder {
    fn close(self: Box<Self>, end: RunEnd) -> Result<(), ExperimentError> {
        let (status, error) = match end {
            RunEnd::Finished => (RunStatus::Finished, None),
            RunEnd::Interrupted => (RunStatus::Interrupted, None),
            RunEnd::Failed(e) => (RunStatus::Failed, Some(e)),
        };
        self.writer.finish(status, error)?;
        Ok(())
    }
}

/// Experiment `id`'s cells, read from the store: `None` when there is no such
/// experiment, the reason when the question has no answer.
pub fn cells(
    history: &History,
    id: i64,
    column: Option<&str>,
    x: Option<usize>,
    y: Option<usize>,
) -> Result<Option<Result<serde_json::Value, String>>, ExperimentError> {
    let Some(loaded) = load(history, id)? else { return Ok(None) };
    Ok(Some(crate::cells::cells_json(&loaded.table, column, x, y)))
}

/// Experiment `id`'s sensitivity indices of `indicator` (`None`: every `<indicator>_mean`
/// of the spec's indicators), read from the store: `{"design", "layout", "parameters",
/// "columns", "progress": {"done", "runs", "share", "status"}, "complete", "indices",
/// "order", "notes", "sum_s1", "seeds", "waiting"}`. `indices` is what `watchtower sensitivity --json` prints
/// (`{column: {parameter: {S1, S1_conf, ST, ST_conf}}}`, Morris's measures for a Morris
/// design) and `order` each column's parameters by total order (Morris: μ*); both are
/// `null` until every run of the design is stored, since indices over part of a design
/// are not the design's (`waiting` then says so). `None` when there is no such
/// experiment, the reason when the question has no answer (a grid, an unknown column, a
/// failed run).
pub fn sensitivity(
    history: &History,
    id: i64,
    indicator: Option<&str>,
) -> Result<Option<Result<serde_json::Value, String>>, ExperimentError> {
    use crate::design::Design;
    use crate::sensitivity::{ColumnIndices, Measures, default_columns, of_batch};
    let Some(loaded) = load(history, id)? else { return Ok(None) };
    let (table, row) = (&loaded.table, &loaded.detail.row);
    let spec = table.spec();
    let design = match spec.design {
        Design::Grid => {
            return Ok(Some(Err(format!(
                "experiment {id} is a grid, not a Sobol or Morris design: it has no sensitivity indices"
            ))));
        }
        Design::Sobol(_) => "sobol",
        Design::Morris(_) => "morris",
    };
    let columns = match indicator {
        Some(c) if !table.columns().iter().any(|k| k == c) => {
            return Ok(Some(Err(format!(
                "indicator {c}: not a summary column of experiment {id}; choose one of {}",
                default_columns(spec).join(", ")
            ))));
        }
        Some(c) => vec![c.to_string()],
        None => default_columns(spec),
    };
    let (runs, done) = (table.plan().len(), table.len() as u64);
    let progress = serde_json::json!({
        "done": done,
        "runs": runs,
        "share": if runs == 0 { 0.0 } else { done as f64 / runs as f64 },
        "status": row.status,
    });
    let parameters: Vec<&str> = spec.axes.iter().map(|a| a.key.as_str()).collect();
    let mut answer = serde_json::json!({
        "design": design,
        "layout": spec.design.layout(),
        "parameters": parameters,
        "columns": columns,
        "progress": progress,
        "complete": done == runs,
        "indices": null,
        "order": null,
        "notes": null,
        "sum_s1": null,
        "seeds": spec.seeds.len(),
        "waiting": null,
    });
    if done < runs {
        answer["waiting"] = format!(
            "{done} of the design's {runs} runs are done: the indices come when the design is complete (indices over part of a design are not the design's)"
        )
        .into();
        return Ok(Some(Ok(answer)));
    }
    let results: Vec<ColumnIndices> = match of_batch(&table.to_record_batch(), &columns) {
        Ok(results) => results,
        Err(e) => return Ok(Some(Err(e.to_string()))),
    };
    let by_column = |f: &dyn Fn(&ColumnIndices) -> serde_json::Value| -> serde_json::Value {
        results.iter().map(|r| (r.column.clone(), f(r))).collect::<serde_json::Map<_, _>>().into()
    };
    answer["indices"] = crate::sensitivity::to_json(&results);
    answer["order"] =
        by_column(&|r| r.by_total_order().into_iter().map(|i| r.parameters[i].clone()).collect::<Vec<_>>().into());
    answer["notes"] = by_column(&|r| r.notes.clone().into());
    answer["seeds"] = results.first().map_or(spec.seeds.len(), |r| r.seeds).into();
    answer["sum_s1"] = by_column(&|r| match &r.measures {
        Measures::Sobol(ix) => ix.first.iter().map(|i| i.S1).sum::<f64>().into(),
        Measures::Morris(_) => serde_json::Value::Null,
    });
    Ok(Some(Ok(answer)))
}
