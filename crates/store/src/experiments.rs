//! Experiments in the store: the `experiments` table (spec, status, progress, start,
//! end) and `run_summaries` (one row per finished run).
//!
//! The write side is plain functions on a connection, for [`crate::Store::call`] and
//! [`crate::Store::submit`], so the one writer thread still takes every write. The read
//! side is on [`History`]. The store keeps each summary as bytes it does not interpret
//! (the runner's encoding) beside a JSON copy of the run's tidy row, which readers that
//! do not link the runner (the server) can serve as it is.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::StoreError;
use crate::history::{History, LISTED_TEXT};

/// An experiment as it is recorded when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExperiment {
    /// Its name.
    pub name: String,
    /// The spec's file name.
    pub source: String,
    /// The spec's YAML.
    pub spec: String,
    /// The `--set` arguments applied on top.
    pub overrides: Vec<String>,
    /// JSON the readers need without parsing the spec: axes, indicators, columns, fork.
    pub layout: serde_json::Value,
    /// Runs planned.
    pub runs: u64,
    /// Grid points.
    pub points: u64,
}

/// One finished run's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSummary {
    /// The experiment.
    pub experiment_id: i64,
    /// The run's index in the plan.
    pub run: u64,
    /// Its grid point.
    pub point: u64,
    /// Its seed.
    pub seed: u64,
    /// FU, RU, EC or FE.
    pub phase: Option<String>,
    /// The engine's error, if the run failed.
    pub error: Option<String>,
    /// The run's tidy row as a JSON object.
    pub row: serde_json::Value,
    /// The version of `summary`'s encoding.
    pub format: i64,
    /// The encoded summary.
    pub summary: Vec<u8>,
}

/// Records a new experiment (`running`) and returns its id.
pub fn create_experiment(conn: &Connection, e: &NewExperiment) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO experiments (name, source, spec, overrides, layout, runs, points, done, status, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 'running', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        params![
            e.name,
            e.source,
            e.spec,
            serde_json::to_string(&e.overrides).expect("text serialises"),
            e.layout.to_string(),
            e.runs as i64,
            e.points as i64
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Stores a finished run's summary and counts it (a run stored twice counts once).
pub fn insert_summary(conn: &Connection, s: &StoredSummary) -> Result<(), StoreError> {
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO run_summaries
                 (experiment_id, run, point, seed, phase, error, row, format, summary, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        )?
        .execute(params![
            s.experiment_id,
            s.run as i64,
            s.point as i64,
            s.seed as i64,
            s.phase,
            s.error,
            s.row.to_string(),
            s.format,
            s.summary
        ])?;
    if added > 0 {
        conn.prepare_cached("UPDATE experiments SET done = done + 1 WHERE id = ?1")?.execute([s.experiment_id])?;
    }
    Ok(())
}

/// Marks an experiment `running` again (a resume).
pub fn resume_experiment(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("UPDATE experiments SET status = 'running', ended_at = NULL, error = NULL WHERE id = ?1", [id])?;
    Ok(())
}

/// Marks how an experiment ended: `finished`, `interrupted` or `failed`.
pub fn finish_experiment(conn: &Connection, id: i64, status: &str, error: Option<&str>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE experiments SET status = ?2, error = ?3, ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        params![id, status, error],
    )?;
    Ok(())
}

/// Names the experiment and run index a recorded run (`--keep-ticks`) belongs to.
pub fn link_run(conn: &Connection, run_id: i64, experiment_id: i64, run: u64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE runs SET experiment_id = ?2, experiment_run = ?3 WHERE id = ?1",
        params![run_id, experiment_id, run as i64],
    )?;
    Ok(())
}

/// Marks experiments left `running` by a process that died as `interrupted`; returns
/// how many.
pub fn mark_stale(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE experiments SET status = 'interrupted', ended_at = coalesce(ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         WHERE status = 'running'",
        [],
    )?)
}

/// An experiment as `watchtower experiments` and the API list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The spec's file name.
    pub source: String,
    /// Runs planned.
    pub runs: u64,
    /// Grid points.
    pub points: u64,
    /// Runs finished.
    pub done: u64,
    /// `running`, `finished`, `interrupted` or `failed`.
    pub status: String,
    /// UTC, ISO 8601.
    pub started_at: String,
    /// UTC, ISO 8601.
    pub ended_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Axes, indicators, columns, fork.
    pub layout: serde_json::Value,
}

/// An experiment with its spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentDetail {
    /// What the listing shows.
    #[serde(flatten)]
    pub row: ExperimentRow,
    /// The spec's YAML.
    pub spec: String,
    /// The `--set` arguments applied on top.
    pub overrides: Vec<String>,
}

/// One experiment read as one snapshot: its detail (with the progress), a page of its
/// summaries and of its kept runs ([`History::experiment_page`]).
#[derive(Debug, Clone)]
pub struct ExperimentPage {
    /// The experiment, its spec and progress.
    pub detail: ExperimentDetail,
    /// Its stored summaries from the page's first run.
    pub rows: Vec<SummaryRow>,
    /// `(run index, run id)` of its recorded runs over the same run indices.
    pub kept: Vec<(u64, i64)>,
}

/// One stored summary, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The run's index.
    pub run: u64,
    /// Its grid point.
    pub point: u64,
    /// Its seed.
    pub seed: u64,
    /// Its phase.
    pub phase: Option<String>,
    /// Its error.
    pub error: Option<String>,
    /// The tidy row.
    pub row: serde_json::Value,
    /// The encoding's version.
    #[serde(skip)]
    pub format: i64,
    /// The encoded summary.
    #[serde(skip)]
    pub summary: Vec<u8>,
}

/// The columns [`experiment_row`] reads; free text is cut to [`LISTED_TEXT`] characters,
/// so a 50 MB name in a database never reaches a listing whole.
fn columns() -> String {
    let cut = |column: &str| format!("substr({column}, 1, {LISTED_TEXT})");
    format!(
        "id, {}, {}, runs, points, done, status, started_at, ended_at, {}, layout",
        cut("name"),
        cut("source"),
        cut("error")
    )
}

fn experiment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExperimentRow> {
    Ok(ExperimentRow {
        id: r.get(0)?,
        name: r.get(1)?,
        source: r.get(2)?,
        runs: r.get::<_, i64>(3)? as u64,
        points: r.get::<_, i64>(4)? as u64,
        done: r.get::<_, i64>(5)? as u64,
        status: r.get(6)?,
        started_at: r.get(7)?,
        ended_at: r.get(8)?,
        error: r.get(9)?,
        layout: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
    })
}

impl History {
    /// Every experiment, newest first.
    pub fn experiments(&self) -> Result<Vec<ExperimentRow>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare(&format!("SELECT {} FROM experiments ORDER BY id DESC", columns()))?;
        let rows = stmt.query_map([], experiment_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One experiment with its spec, if it exists.
    pub fn experiment(&self, id: i64) -> Result<Option<ExperimentDetail>, StoreError> {
        experiment_on(&*self.connection()?, id)
    }

    /// One experiment with a page of its summaries and kept runs (as
    /// [`History::experiment`], [`History::run_summaries`] and [`History::kept_runs`]),
    /// read in one transaction: the progress and the rows are one snapshot, so a page
    /// never lists more finished runs than its progress counts while the experiment
    /// writes beside it.
    pub fn experiment_page(&self, id: i64, from: u64, limit: usize) -> Result<Option<ExperimentPage>, StoreError> {
        let mut conn = self.connection()?;
        let tx = conn.transaction()?;
        let Some(detail) = experiment_on(&tx, id)? else { return Ok(None) };
        let rows = run_summaries_on(&tx, id, from, limit)?;
        let kept = kept_runs_on(&tx, id, from, limit)?;
        Ok(Some(ExperimentPage { detail, rows, kept }))
    }
}

fn experiment_on(conn: &Connection, id: i64) -> Result<Option<ExperimentDetail>, StoreError> {
    let found = conn
        .query_row(&format!("SELECT {}, spec, overrides FROM experiments WHERE id = ?1", columns()), [id], |r| {
            Ok(ExperimentDetail {
                row: experiment_row(r)?,
                spec: r.get(11)?,
                overrides: serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_default(),
            })
        })
        .optional()?;
    Ok(found)
}

impl History {
    /// The newest experiment's id.
    pub fn latest_experiment(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.connection()?;
        Ok(conn.query_row("SELECT max(id) FROM experiments", [], |r| r.get(0)).optional()?.flatten())
    }

    /// The experiment's stored summaries, by run index, from run `from` (at most `limit`).
    pub fn run_summaries(&self, id: i64, from: u64, limit: usize) -> Result<Vec<SummaryRow>, StoreError> {
        run_summaries_on(&*self.connection()?, id, from, limit)
    }

    /// The experiment's encoded summaries alone, `(run, format, summary)` by run index,
    /// from run `from` (at most `limit`): what a reader that decodes them needs, without
    /// the JSON row beside each (the fan reads every run's this way, a page at a time).
    pub fn encoded_summaries(&self, id: i64, from: u64, limit: usize) -> Result<Vec<(u64, i64, Vec<u8>)>, StoreError> {
        let conn = self.connection()?;
        let mut stmt = conn.prepare_cached(
            "SELECT run, format, summary FROM run_summaries WHERE experiment_id = ?1 AND run >= ?2 ORDER BY run LIMIT ?3",
        )?;
        let from = from.min(i64::MAX as u64) as i64;
        let rows = stmt.query_map(params![id, from, limit.min(i64::MAX as usize) as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The recorded runs (`--keep-ticks`) of experiment `id`, from run index `from` (at
    /// most `limit`): `(run index, run id)` by run index. A run index recorded twice (an
    /// interrupted run, then its resume's) gives the newer run.
    pub fn kept_runs(&self, id: i64, from: u64, limit: usize) -> Result<Vec<(u64, i64)>, StoreError> {
        kept_runs_on(&*self.connection()?, id, from, limit)
    }
}

fn run_summaries_on(conn: &Connection, id: i64, from: u64, limit: usize) -> Result<Vec<SummaryRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT run, point, seed, phase, error, row, format, summary FROM run_summaries
             WHERE experiment_id = ?1 AND run >= ?2 ORDER BY run LIMIT ?3",
    )?;
    let from = from.min(i64::MAX as u64) as i64;
    let rows = stmt.query_map(params![id, from, limit.min(i64::MAX as usize) as i64], |r| {
        Ok(SummaryRow {
            run: r.get::<_, i64>(0)? as u64,
            point: r.get::<_, i64>(1)? as u64,
            seed: r.get::<_, i64>(2)? as u64,
            phase: r.get(3)?,
            error: r.get(4)?,
            row: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
            format: r.get(6)?,
            summary: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn kept_runs_on(conn: &Connection, id: i64, from: u64, limit: usize) -> Result<Vec<(u64, i64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT experiment_run, max(id) FROM runs WHERE experiment_id = ?1 AND experiment_run >= ?2
             GROUP BY experiment_run ORDER BY experiment_run LIMIT ?3",
    )?;
    let from = from.min(i64::MAX as u64) as i64;
    let rows = stmt.query_map(params![id, from, limit.min(i64::MAX as usize) as i64], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, WriterOptions};

    #[test]
    fn an_experiment_and_its_summaries_round_trip_through_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = Store::open(&path, WriterOptions::default()).unwrap();
        let e = NewExperiment {
            name: "t".into(),
            source: "t.yaml".into(),
            spec: "name: t\n".into(),
            overrides: vec!["ticks=5".into()],
            layout: serde_json::json!({"axes": []}),
            runs: 2,
            points: 1,
        };
        let id = store.call(move |c| create_experiment(c, &e)).unwrap();
        for run in [1u64, 0, 1] {
            let s = StoredSummary {
                experiment_id: id,
                run,
                point: 0,
                seed: run + 1,
                phase: Some("FE".into()),
                error: None,
                row: serde_json::json!({"run": run}),
                format: 1,
                summary: vec![run as u8, 7],
            };
            store.submit(move |c| insert_summary(c, &s)).unwrap();
        }
        store.call(move |c| finish_experiment(c, id, "interrupted", None)).unwrap();
        store.flush().unwrap();
        let h = History::open(&path, 1).unwrap();
        let list = h.experiments().unwrap();
        assert_eq!((list[0].done, list[0].runs, list[0].status.as_str()), (2, 2, "interrupted"));
        let d = h.experiment(id).unwrap().unwrap();
        assert_eq!(d.overrides, ["ticks=5"]);
        let rows = h.run_summaries(id, 0, 100).unwrap();
        assert_eq!(h.run_summaries(id, 1, 100).unwrap().len(), 1);
        assert_eq!(h.encoded_summaries(id, 1, 100).unwrap(), [(1, 1, vec![1, 7])]);
        assert_eq!(h.encoded_summaries(id, 0, 1).unwrap(), [(0, 1, vec![0, 7])]);
        assert_eq!(rows.iter().map(|r| r.run).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(rows[1].summary, [1, 7]);
        assert!(h.kept_runs(id, 0, 100).unwrap().is_empty());
        // Kept ticks: run index 1 recorded twice (interrupted, then resumed), index 0 once.
        for (index, run_id) in [(1u64, 5i64), (0, 6), (1, 7)] {
            store
                .call(move |c| {
                    c.execute(
                        "INSERT INTO runs (id, model, seed, households, firms, agents, parameters, model_version, started_at, status)
                         VALUES (?1, 'mark0', 1, 10, 2, 0, '{}', 'v', 'now', 'finished')",
                        [run_id],
                    )?;
                    link_run(c, run_id, id, index)
                })
                .unwrap();
        }
        store.flush().unwrap();
        assert_eq!(h.kept_runs(id, 0, 100).unwrap(), [(0, 6), (1, 7)]);
        assert_eq!(h.kept_runs(id, 1, 100).unwrap(), [(1, 7)]);
        assert_eq!(h.kept_runs(id, 0, 1).unwrap(), [(0, 6)]);
        store.call(move |c| resume_experiment(c, id)).unwrap();
        store.close().unwrap();
        // A process that died with it running: the next open marks it interrupted.
        let store = Store::open(&path, WriterOptions::default()).unwrap();
        store.close().unwrap();
        assert_eq!(h.experiment(id).unwrap().unwrap().row.status, "interrupted");
    }
}
