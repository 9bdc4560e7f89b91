//! A stored calibration as the dashboard shows it (`GET /api/experiments/{id}/calibration`),
//! live or finished, computed here so the page only draws numbers.
//!
//! While it runs: evaluations and simulations so far against the budget, the least loss
//! and the point that has it (the current estimates). Once finished: the `--json` object
//! of `watchtower calibrate` (estimates, 90% intervals, standard errors, the moment table,
//! the J test, warnings), obtained by replaying the stored evaluations through the search
//! — the search is a pure function of them, so the replay is the run's own result, bit
//! for bit. It simulates no evaluation (one that is not stored ends it); a synthetic
//! target's run is run again for its bootstrap, as a resume does.
//!
//! That replay costs a simulation and the surrogate's fits, and the endpoint is a read a
//! stranger may make, so a process replays each finished calibration once ([`Replays`]:
//! one replay at a time, a request that finds one running told to ask again, the views
//! of the [`Replays::KEPT`] most recently asked kept); every later request is a copy.

use std::sync::Mutex;

use watchtower_runner::session::Stop;
use watchtower_store::History;

use crate::calibrate::evaluate::Pool;
use crate::calibrate::search::{Evaluation, calibrate};
use crate::calibrate::store::{is_calibration, load};
use crate::calibrate::{report, spec::CalibrationSpec};
use crate::execute::ExperimentError;

fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// What each number means, for the page to show beside it.
fn meanings() -> serde_json::Value {
    serde_json::json!({
        "loss": "g'Wg, g = target − model moments (a point's: the mean over the ensemble's seeds; at the estimate: the local fit's), W the weighting; dimensionless, lower fits better",
        "best": "the free parameters of the evaluation with the least loss so far, in each parameter's own unit",
        "simulations": "runs of the economy, the target's included; the budget bounds them",
        "evaluations": "points evaluated, each on the ensemble's seeds",
        "estimates": "the point estimate, in each parameter's own unit",
        "std_errors": "standard error: the MSM sandwich with the (1 + 1/S) simulation-noise correction and the local fit's own error",
        "intervals": "90% interval: the estimate ± 1.645 standard errors on the search's scale (logarithmic for a log parameter), within the bounds; the whole bounds for a parameter the moments do not pin down",
        "target": "the moment of the target (the data, or the synthetic truth's run)",
        "model": "the moment of the model at the estimate (the local fit of the ensemble's means, or the best point's own mean when no fit could be made)",
        "se": "the standard error of target − model",
        "t": "(target − model) / se: beyond ±2, the model misses that moment",
        "j_test": "Hansen's J of the over-identifying restrictions: a small p-value says the moments cannot all be matched at once (the inverse covariance of the moments, from covariance_samples samples, times Hartlap's factor, which removes its bias)",
    })
}

/// The calibration's result, replayed from its stored evaluations; `Err` in words when
/// the replay needs what is not stored (or fails).
fn replay(
    id: i64,
    spec: &CalibrationSpec,
    evaluations: std::collections::BTreeMap<u64, Evaluation>,
) -> Result<serde_json::Value, String> {
    let stop = Stop::default();
    // The pool hands over only what it had to simulate: for a finished calibration,
    // nothing; anything else ends the replay at once.
    let mut unstored = |e: &Evaluation, _: u64| -> Result<(), String> {
        Err(format!("evaluation {} is not stored: continue it with `watchtower calibrate --resume`", e.index))
    };
    let mut pool = Pool::new(spec, 1, &stop, evaluations, &mut unstored);
    match calibrate(spec, &mut pool) {
        Ok(outcome) => Ok(report::to_json(id, spec, &outcome)),
        Err(crate::calibrate::search::Halt::Stopped) => Err("stopped".into()),
        Err(crate::calibrate::search::Halt::Error(e)) => Err(e),
    }
}

/// Finished calibrations as the endpoint shows them, each replayed once by this process.
#[derive(Debug, Default)]
pub struct Replays {
    /// Finished views by experiment id, the most recently asked last.
    done: Mutex<Vec<(i64, serde_json::Value)>>,
    /// Held while a replay runs: one at a time, and a request that finds it taken is
    /// told to ask again instead of waiting (holding a reader of the store).
    replaying: Mutex<()>,
}

impl Replays {
    /// How many finished calibrations' views are kept (the least recently asked goes).
    pub const KEPT: usize = 32;

    fn kept(&self, id: i64) -> Option<serde_json::Value> {
        let mut done = self.done.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = done.iter().position(|(kept, _)| *kept == id)?;
        let entry = done.remove(at);
        let view = entry.1.clone();
        done.push(entry);
        Some(view)
    }

    fn keep(&self, id: i64, view: &serde_json::Value) {
        let mut done = self.done.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        done.retain(|(kept, _)| *kept != id);
        if done.len() >= Self::KEPT {
            done.remove(0);
        }
        done.push((id, view.clone()));
    }
}

/// What [`view`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The calibration as the page shows it.
    Found(serde_json::Value),
    /// No experiment with that id.
    NoExperiment,
    /// The experiment is not a calibration (in words).
    Refused(String),
    /// Another finished calibration is being replayed right now: ask again ([`BUSY`]).
    Busy,
}

/// What the endpoint says while another request replays a calibration.
pub const BUSY: &str = "another calibration's result is being prepared: ask again in a few seconds";

/// Calibration `id` for the dashboard. A finished one's view is kept in `replays` once
/// its replay succeeded: asking again is a copy.
pub fn view(history: &History, id: i64, replays: &Replays) -> Result<Answer, ExperimentError> {
    let Some(detail) = history.experiment(id)? else { return Ok(Answer::NoExperiment) };
    if !is_calibration(&detail.row.layout) {
        return Ok(Answer::Refused(format!("experiment {id} is not a calibration")));
    }
    if detail.row.status == "finished" {
        if let Some(kept) = replays.kept(id) {
            return Ok(Answer::Found(kept));
        }
        let Ok(_replaying) = replays.replaying.try_lock() else { return Ok(Answer::Busy) };
        let view = build(history, id)?;
        if view["result"].is_object() {
            replays.keep(id, &view);
        }
        return Ok(Answer::Found(view));
    }
    Ok(Answer::Found(build(history, id)?))
}

/// Calibration `id` as stored now, a finished one replayed.
fn build(history: &History, id: i64) -> Result<serde_json::Value, ExperimentError> {
    let loaded = load(history, id)?.ok_or_else(|| ExperimentError::Other(format!("experiment {id} is gone")))?;
    let spec = &loaded.spec;
    let best = loaded
        .evaluations
        .values()
        .filter(|e| e.loss.is_finite())
        .min_by(|a, b| a.loss.total_cmp(&b.loss).then(a.index.cmp(&b.index)));
    let best_point = best.map(|e| {
        spec.free
            .iter()
            .zip(&e.unit)
            .map(|(f, u)| (f.key.clone(), number(f.value(*u))))
            .collect::<serde_json::Map<_, _>>()
    });
    let (result, result_note) = if loaded.status == "finished" {
        match replay(id, spec, loaded.evaluations.clone()) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    Ok(serde_json::json!({
        "id": id,
        "name": spec.base.name,
        "status": loaded.status,
        "budget": spec.budget,
        "simulations": loaded.rows.len(),
        "evaluations": loaded.evaluations.len(),
        "ensemble": spec.ensemble,
        "weighting": spec.weighting.name(),
        "free": spec.free.iter().map(|f| serde_json::json!({"key": f.key, "min": f.min, "max": f.max, "log": f.log})).collect::<Vec<_>>(),
        "moments": spec.moment_names(),
        "best_loss": best.map_or(serde_json::Value::Null, |e| number(e.loss)),
        "best_evaluation": best.map(|e| e.index),
        "best": best_point,
        "result": result,
        "result_note": result_note,
        "meaning": meanings(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::lifecycle::{Start, Stored};

    const SPEC: &str = "name: c\nfirms: 10\nhouseholds: 100\nticks: 120\nwarmup: 40\nfree:\n  firms.price_adjustment: {min: 0.02, max: 0.3}\ntarget:\n  synthetic: {set: {firms.price_adjustment: 0.12}, seed: 2}\nmoments:\n  inflation: [mean, sd, acf1]\n  unemployment_rate: [mean]\nensemble: 2\nbudget: 90\n";

    fn run(db: &std::path::Path, stop_after: Option<u64>) -> (i64, Option<serde_json::Value>) {
        let spec = CalibrationSpec::parse(SPEC, "c.yaml", &[]).unwrap();
        let stored = Stored::open(db, Start::New(Box::new(spec))).unwrap();
        let stop = Stop::default();
        let f = stored
            .run(2, &stop, |p| {
                if stop_after.is_some_and(|n| p.evaluations >= n) {
                    stop.request();
                }
            })
            .unwrap();
        (f.id, f.outcome.as_ref().map(|o| report::to_json(f.id, &f.spec, o)))
    }

    #[test]
    fn a_finished_calibration_shows_the_clis_result_and_a_cut_one_its_progress() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let (id, json) = run(&db, None);
        let history = History::open(&db, 1).unwrap();
        let replays = Replays::default();
        let Answer::Found(v) = view(&history, id, &replays).unwrap() else { panic!("no view") };
        assert_eq!(v["status"], "finished");
        assert_eq!(v["result"], json.unwrap(), "the replay is the run's result, bit for bit ({})", v["result_note"]);
        // Asked again, the kept result: the same bytes, no second replay.
        assert_eq!(view(&history, id, &replays).unwrap(), Answer::Found(v.clone()));
        assert_eq!(replays.done.lock().unwrap().len(), 1);
        // While another replay runs, a finished calibration not yet kept is not waited for.
        replays.done.lock().unwrap().clear();
        let busy = replays.replaying.lock().unwrap();
        assert_eq!(view(&history, id, &replays).unwrap(), Answer::Busy);
        drop(busy);
        assert!(v["best_loss"].as_f64().unwrap() >= 0.0);
        assert!(v["best"]["firms.price_adjustment"].as_f64().is_some());

        let (cut, none) = run(&db, Some(8));
        assert!(none.is_none());
        let Answer::Found(v) = view(&History::open(&db, 1).unwrap(), cut, &replays).unwrap() else { panic!("no view") };
        assert_eq!(v["status"], "interrupted");
        assert!(v["result"].is_null());
        assert!(v["evaluations"].as_u64().unwrap() >= 8);
        assert_eq!(v["budget"], 90);

        assert_eq!(view(&history, 99, &replays).unwrap(), Answer::NoExperiment);
    }

    #[test]
    fn a_data_calibration_is_replayed_on_its_own_data_only() {
        let dir = tempfile::tempdir().unwrap();
        let (db, csv) = (dir.path().join("w.db"), dir.path().join("us.csv"));
        let spec = CalibrationSpec::parse(&crate::calibrate::lifecycle::tests::data_spec(&csv), "d.yaml", &[]).unwrap();
        let f = Stored::open(&db, Start::New(Box::new(spec))).unwrap().run(2, &Stop::default(), |_| {}).unwrap();
        let json = report::to_json(f.id, &f.spec, f.outcome.as_ref().unwrap());
        let history = History::open(&db, 1).unwrap();
        let Answer::Found(v) = view(&history, f.id, &Replays::default()).unwrap() else { panic!("no view") };
        assert_eq!(v["result"], json, "{}", v["result_note"]);
        // The file edited: the replay is refused with both hashes, not fitted to other data.
        let original = std::fs::read(&csv).unwrap();
        let text = String::from_utf8(original.clone()).unwrap().replacen("6.000,", "9.000,", 1);
        std::fs::write(&csv, &text).unwrap();
        let Answer::Found(v) = view(&history, f.id, &Replays::default()).unwrap() else { panic!("no view") };
        assert!(v["result"].is_null());
        let note = v["result_note"].as_str().unwrap();
        let (was, now) = (crate::calibrate::data::sha256(&original), crate::calibrate::data::sha256(text.as_bytes()));
        assert!(note.contains(&csv.display().to_string()) && note.contains(&was) && note.contains(&now), "{note}");
    }
}
