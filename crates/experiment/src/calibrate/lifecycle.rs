//! A calibration stored in a data directory, from its start to its estimate: created
//! (or resumed: its stored evaluations replayed, the rest simulated), every evaluation
//! submitted to the one writer thread as it completes, the calibration marked, the
//! writer flushed. The caller holds the directory's lock; the binary and the Python
//! module share this.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchtower_runner::Stop;
use watchtower_store::{History, RunStatus, Store, WriterOptions};

use crate::calibrate::evaluate::Pool;
use crate::calibrate::search::{Evaluation, Halt, Outcome, calibrate};
use crate::calibrate::spec::{CalibrationSpec, Target};
use crate::calibrate::store as stored;
use crate::execute::ExperimentError;
use crate::store::finish;

/// Where a calibration comes from.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new calibration of this (checked) spec.
    New(Box<CalibrationSpec>),
    /// Calibration `id` of the database, continued.
    Resume(i64),
}

/// Where a calibration is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Evaluations stored.
    pub evaluations: u64,
    /// Simulations stored (the target's included).
    pub simulations: u64,
    /// The spec's budget.
    pub budget: u64,
    /// The least loss so far (NaN before the first).
    pub best: f64,
}

/// How a stored calibration ended.
pub struct Finished {
    /// Its id.
    pub id: i64,
    /// Its spec.
    pub spec: CalibrationSpec,
    /// Finished, interrupted (resume continues it) or failed.
    pub status: RunStatus,
    /// The estimate, when it finished.
    pub outcome: Option<Outcome>,
    /// Why it failed.
    pub error: Option<String>,
    /// Simulations this process ran.
    pub ran: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// A calibration recorded in a store, ready to run.
pub struct Stored {
    store: Arc<Store>,
    id: i64,
    spec: CalibrationSpec,
    evaluations: std::collections::BTreeMap<u64, Evaluation>,
    resumed: bool,
}

impl Stored {
    /// Opens the database (creating it if needed) and records a new calibration, or
    /// reads the one to resume.
    pub fn open(database: &Path, start: Start) -> Result<Self, ExperimentError> {
        let store = Arc::new(Store::open(database, WriterOptions::default())?);
        match start {
            Start::New(mut spec) => {
                crate::calibrate::search::Allocation::of(&spec).map_err(ExperimentError::Other)?;
                let id = stored::create(&store, &mut spec)?;
                Ok(Stored { store, id, spec: *spec, evaluations: Default::default(), resumed: false })
            }
            Start::Resume(id) => {
                let history = History::open(database, 1)?;
                let loaded = stored::load(&history, id)?
                    .ok_or_else(|| ExperimentError::Other(format!("no calibration {id} in {}", database.display())))?;
                // Refused before the calibration is touched: with the data it was fitted to
                // put back, the same resume works.
                if let Target::Data(d) = &loaded.spec.target {
                    d.load().map_err(|e| ExperimentError::Other(format!("calibration {id} cannot resume: {e}")))?;
                }
                Ok(Stored { store, id, spec: loaded.spec, evaluations: loaded.evaluations, resumed: true })
            }
        }
    }

    /// Its id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Its spec.
    pub fn spec(&self) -> &CalibrationSpec {
        &self.spec
    }

    /// Simulations stored already.
    pub fn stored_simulations(&self) -> u64 {
        self.evaluations.values().map(|e| e.seeds.len() as u64).sum()
    }

    /// Runs the calibration on `jobs` threads, calling `progress` after each evaluation.
    pub fn run(
        self,
        jobs: usize,
        stop: &Stop,
        mut progress: impl FnMut(Progress),
    ) -> Result<Finished, ExperimentError> {
        let Stored { store, id, spec, evaluations, resumed } = self;
        if resumed {
            store.call(move |c| watchtower_store::experiments::resume_experiment(c, id))?;
        }
        let mut state = Progress {
            evaluations: evaluations.len() as u64,
            simulations: evaluations.values().map(|e| e.seeds.len() as u64).sum(),
            budget: spec.budget,
            best: evaluations.values().map(|e| e.loss).filter(|l| l.is_finite()).fold(f64::NAN, f64::min),
        };
        let started = Instant::now();
        let mut ran = 0u64;
        let result = {
            let (store, spec_ref) = (&store, &spec);
            let mut done = |e: &Evaluation, first: u64| -> Result<(), String> {
                stored::submit(store, id, spec_ref, e, first).map_err(|e| e.to_string())?;
                ran += e.seeds.len() as u64;
                state.evaluations += 1;
                state.simulations += e.seeds.len() as u64;
                if e.loss.is_finite() {
                    state.best = state.best.min(e.loss);
                    if state.best.is_nan() {
                        state.best = e.loss;
                    }
                }
                progress(state);
                Ok(())
            };
            let mut pool = Pool::new(&spec, jobs, stop, evaluations, &mut done);
            calibrate(&spec, &mut pool)
        };
        let elapsed = started.elapsed();
        let (status, error, outcome) = match result {
            Ok(o) => (RunStatus::Finished, None, Some(o)),
            Err(Halt::Stopped) => (RunStatus::Interrupted, None, None),
            Err(Halt::Error(e)) => (RunStatus::Failed, Some(e), None),
        };
        finish(&store, id, status, error.clone())?;
        store.flush()?;
        match Arc::try_unwrap(store) {
            Ok(store) => store.close()?,
            Err(_) => unreachable!("the pool's threads have ended"),
        }
        Ok(Finished { id, spec, status, outcome, error, ran, elapsed })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const SPEC: &str = "name: c\nfirms: 10\nhouseholds: 100\nticks: 120\nwarmup: 40\nfree:\n  firms.price_adjustment: {min: 0.02, max: 0.3}\ntarget:\n  synthetic: {set: {firms.price_adjustment: 0.12}, seed: 2}\nmoments:\n  inflation: [mean, sd, acf1]\n  unemployment_rate: [mean]\nensemble: 2\nbudget: 90\n";

    /// A small calibration to `csv` (40 quarters of unemployment and inflation, in percent).
    pub(crate) fn data_spec(csv: &Path) -> String {
        let mut rows = String::from("unemp,infl\n");
        for i in 0..40 {
            let t = f64::from(i);
            rows.push_str(&format!("{:.3},{:.3}\n", 6.0 + (t / 5.0).sin(), 4.0 + 2.0 * (t / 3.0).cos()));
        }
        std::fs::write(csv, rows).unwrap();
        format!(
            "name: d\nfirms: 10\nhouseholds: 100\nticks: 120\nwarmup: 40\nfree:\n  firms.price_adjustment: {{min: 0.02, max: 0.3}}\n\
             target:\n  data:\n    file: '{}'\n    ticks_per_observation: 2\n    columns:\n      \
             unemployment_rate: {{column: unemp, scale: 0.01}}\n      inflation: {{column: infl, scale: 0.01, annualised: 4, aggregate: compound}}\n\
             moments:\n  inflation: [mean, sd, acf1]\n  unemployment_rate: [mean]\nensemble: 2\nbudget: 40\n",
            csv.display()
        )
    }

    #[test]
    fn a_data_calibration_resumes_on_its_own_data_only() {
        let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let run = |dir: &Path, stop_after: Option<u64>| {
            let csv = dir.join("us.csv");
            let spec = CalibrationSpec::parse(&data_spec(&csv), "d.yaml", &[]).unwrap();
            let stored = Stored::open(&dir.join("w.db"), Start::New(Box::new(spec))).unwrap();
            let stop = Stop::default();
            stored
                .run(1, &stop, |p| {
                    if stop_after.is_some_and(|n| p.evaluations >= n) {
                        stop.request();
                    }
                })
                .unwrap()
        };
        let whole = run(dirs[0].path(), None);
        assert_eq!(whole.status, RunStatus::Finished, "{:?}", whole.error);
        let json =
            crate::calibrate::report::to_json(whole.id, &whole.spec, whole.outcome.as_ref().unwrap()).to_string();
        let cut = run(dirs[1].path(), Some(5));
        assert_eq!(cut.status, RunStatus::Interrupted);
        // The file's hash is stored with the calibration.
        let (db, csv) = (dirs[1].path().join("w.db"), dirs[1].path().join("us.csv"));
        let original = std::fs::read(&csv).unwrap();
        let pinned = crate::calibrate::data::sha256(&original);
        let history = History::open(&db, 1).unwrap();
        assert_eq!(history.experiment(cut.id).unwrap().unwrap().row.layout["data"]["sha256"], pinned.as_str());
        // Edited: the resume is refused, naming the file and both hashes, and the
        // calibration is left as it was.
        let mut edited = original.clone();
        edited.extend_from_slice(b"7.0,3.0\n");
        std::fs::write(&csv, &edited).unwrap();
        let e = Stored::open(&db, Start::Resume(cut.id)).err().expect("refused").to_string();
        let now = crate::calibrate::data::sha256(&edited);
        assert!(e.contains(&csv.display().to_string()) && e.contains(&pinned) && e.contains(&now), "{e}");
        assert!(e.contains("changed since this calibration started"), "{e}");
        assert_eq!(history.experiment(cut.id).unwrap().unwrap().row.status, "interrupted");
        // Gone: refused too.
        std::fs::remove_file(&csv).unwrap();
        let e = Stored::open(&db, Start::Resume(cut.id)).err().expect("refused").to_string();
        assert!(e.contains(&csv.display().to_string()) && e.contains(&pinned), "{e}");
        // Put back: the resume finishes with the uninterrupted result.
        std::fs::write(&csv, &original).unwrap();
        let f = Stored::open(&db, Start::Resume(cut.id)).unwrap().run(2, &Stop::default(), |_| {}).unwrap();
        assert_eq!(f.status, RunStatus::Finished, "{:?}", f.error);
        let resumed = crate::calibrate::report::to_json(f.id, &f.spec, f.outcome.as_ref().unwrap()).to_string();
        assert_eq!(resumed, json, "resumed on the same data, the uninterrupted result");
    }

    fn calibrate_in(dir: &Path, jobs: usize, stop_after: Option<u64>) -> (Finished, String) {
        let spec = CalibrationSpec::parse(SPEC, "c.yaml", &[]).unwrap();
        let db = dir.join("w.db");
        let stored = Stored::open(&db, Start::New(Box::new(spec))).unwrap();
        let stop = Stop::default();
        let f = stored
            .run(jobs, &stop, |p| {
                if stop_after.is_some_and(|n| p.evaluations >= n) {
                    stop.request();
                }
            })
            .unwrap();
        let json = f.outcome.as_ref().map(|o| crate::calibrate::report::to_json(f.id, &f.spec, o).to_string());
        (f, json.unwrap_or_default())
    }

    #[test]
    fn the_same_spec_gives_the_same_estimate_for_any_jobs_and_across_a_resume() {
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let (one, json1) = calibrate_in(dirs[0].path(), 1, None);
        assert_eq!(one.status, RunStatus::Finished, "{:?}", one.error);
        let (_, json2) = calibrate_in(dirs[1].path(), 2, None);
        assert_eq!(json1, json2);
        let outcome = one.outcome.unwrap();
        assert!(outcome.simulations <= 90, "{}", outcome.simulations);
        assert_eq!(outcome.uncertainty.moments.len(), 4);
        // Interrupted after 6 evaluations, then resumed.
        let (cut, _) = calibrate_in(dirs[2].path(), 2, Some(6));
        assert_eq!(cut.status, RunStatus::Interrupted);
        assert!(cut.ran < outcome.simulations);
        let db = dirs[2].path().join("w.db");
        let resumed = Stored::open(&db, Start::Resume(cut.id)).unwrap();
        assert!(resumed.stored_simulations() > 0);
        let f = resumed.run(2, &Stop::default(), |_| {}).unwrap();
        assert_eq!(f.status, RunStatus::Finished);
        assert_eq!(crate::calibrate::report::to_json(f.id, &f.spec, f.outcome.as_ref().unwrap()).to_string(), json1);
        // The target's series, run again for its bootstrap, is the one simulation not stored.
        assert_eq!(f.ran + cut.ran, outcome.simulations - 1, "no simulation stored twice");
        // Its rows are stored, one a simulation.
        let history = History::open(&db, 1).unwrap();
        let loaded = stored::load(&history, f.id).unwrap().unwrap();
        assert_eq!(loaded.rows.len() as u64, outcome.simulations - 1);
        assert_eq!(loaded.status, "finished");
    }
}
