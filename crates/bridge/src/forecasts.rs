//! Effect forecasts of a live session: started on the engine's thread (which copies the
//! state), run on threads of their own, read by the server.
//!
//! One forecast runs at a time (a forecast is many economies at once: a second would
//! only share the cores with the first, and with the live run); the last
//! [`KEPT_FORECASTS`] are kept for their readers. A forecast's state moves one way:
//! running → done (with its [`EffectForecast`]) or failed (with the reason).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use watchtower_protocol::EffectForecast;

use crate::now_ms;

/// How many forecasts are kept for readers, the newest first to stay.
pub const KEPT_FORECASTS: usize = 4;

/// Where a forecast stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastState {
    /// Its pairs are running.
    Running,
    /// Every pair ran: the forecast is there.
    Done,
    /// It stopped: `error` says why.
    Failed,
}

/// A forecast as its readers see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastStatus {
    /// Its id, counted from 1 by this process.
    pub id: u64,
    /// The run whose state it copied.
    pub run: i64,
    /// The first tick of its window (the change applies here).
    pub fork_tick: u64,
    /// Pairs it runs.
    pub seeds: usize,
    /// Ticks each future runs.
    pub ticks: u64,
    /// The change: setting to value.
    pub changes: serde_json::Map<String, serde_json::Value>,
    /// Where it stands.
    pub state: ForecastState,
    /// Pairs finished so far.
    pub pairs_done: usize,
    /// When it started, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// How long it ran (so far, while running), milliseconds.
    pub elapsed_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// The forecast, once done.
    #[serde(serialize_with = "shared")]
    pub forecast: Option<Arc<EffectForecast>>,
}

fn shared<S: serde::Serializer>(value: &Option<Arc<EffectForecast>>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&value.as_deref(), s)
}

/// A forecast about to start: what the engine's thread copied.
#[derive(Debug, Clone)]
pub struct ForecastPlan {
    /// The run copied.
    pub run: i64,
    /// Its next tick.
    pub fork_tick: u64,
    /// Pairs.
    pub seeds: usize,
    /// Ticks.
    pub ticks: u64,
    /// The change.
    pub changes: serde_json::Map<String, serde_json::Value>,
}

/// A forecast refused because another one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("forecast {id} is running ({pairs_done} of {seeds} pairs done): one forecast at a time; wait for it")]
pub struct Busy {
    /// The one running.
    pub id: u64,
    /// Its pairs done.
    pub pairs_done: usize,
    /// Its pairs.
    pub seeds: usize,
}

#[derive(Debug, Default)]
struct Book {
    next_id: u64,
    kept: VecDeque<ForecastStatus>,
    /// The JSON of each ended forecast kept, written once when it ends: a done one is
    /// megabytes (every band), and `GET /api/forecasts/{id}` is a read anyone may make.
    ended: Vec<(u64, Arc<[u8]>)>,
}

/// The forecasts of this process, shared by the engine side, the threads that run
/// them and the server.
#[derive(Debug, Clone, Default)]
pub struct Forecasts(Arc<Mutex<Book>>);

impl Forecasts {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The forecast running now, if one is: asked before the engine thread copies an
    /// economy for a new one, so a refused request costs no copy.
    pub fn busy(&self) -> Option<Busy> {
        Self::running(&self.book())
    }

    fn running(book: &Book) -> Option<Busy> {
        book.kept.iter().find(|f| f.state == ForecastState::Running).map(|r| Busy {
            id: r.id,
            pairs_done: r.pairs_done,
            seeds: r.seeds,
        })
    }

    /// Registers a forecast as running, or says which one still runs.
    pub fn begin(&self, plan: ForecastPlan) -> Result<ForecastStatus, Busy> {
        let mut book = self.book();
        if let Some(busy) = Self::running(&book) {
            return Err(busy);
        }
        book.next_id += 1;
        let status = ForecastStatus {
            id: book.next_id,
            run: plan.run,
            fork_tick: plan.fork_tick,
            seeds: plan.seeds,
            ticks: plan.ticks,
            changes: plan.changes,
            state: ForecastState::Running,
            pairs_done: 0,
            started_ms: now_ms(),
            elapsed_ms: 0,
            error: None,
            forecast: None,
        };
        book.kept.push_back(status.clone());
        while book.kept.len() > KEPT_FORECASTS {
            if let Some(gone) = book.kept.pop_front() {
                book.ended.retain(|(id, _)| *id != gone.id);
            }
        }
        Ok(status)
    }

    /// Forecast `id` has finished `pairs_done` pairs.
    pub fn progress(&self, id: u64, pairs_done: usize) {
        if let Some(f) = self.book().kept.iter_mut().find(|f| f.id == id) {
            f.pairs_done = pairs_done;
        }
    }

    /// Forecast `id` ended: its forecast, or why not.
    pub fn finish(&self, id: u64, result: Result<EffectForecast, String>) {
        let mut book = self.book();
        let Some(f) = book.kept.iter_mut().find(|f| f.id == id) else { return };
        f.elapsed_ms = now_ms().saturating_sub(f.started_ms);
        match result {
            Ok(forecast) => {
                f.state = ForecastState::Done;
                f.pairs_done = f.seeds;
                f.forecast = Some(Arc::new(forecast));
            }
            Err(error) => {
                f.state = ForecastState::Failed;
                f.error = Some(error);
            }
        }
        let json: Arc<[u8]> = serde_json::to_vec(&*f).unwrap_or_default().into();
        book.ended.push((id, json));
    }

    /// Forecast `id` as JSON, if it is kept: an ended one's bytes as written when it
    /// ended (no work per request), a running one's status (small: no bands yet).
    pub fn json(&self, id: u64) -> Option<Arc<[u8]>> {
        let book = self.book();
        if let Some((_, json)) = book.ended.iter().find(|(ended, _)| *ended == id) {
            return Some(Arc::clone(json));
        }
        let status = book.kept.iter().find(|f| f.id == id).map(Self::timed)?;
        Some(serde_json::to_vec(&status).unwrap_or_default().into())
    }

    /// Forecast `id`, if it is kept.
    pub fn get(&self, id: u64) -> Option<ForecastStatus> {
        self.book().kept.iter().find(|f| f.id == id).map(Self::timed)
    }

    fn timed(f: &ForecastStatus) -> ForecastStatus {
        let mut f = f.clone();
        if f.state == ForecastState::Running {
            f.elapsed_ms = now_ms().saturating_sub(f.started_ms);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ForecastPlan {
        ForecastPlan { run: 1, fork_tick: 10, seeds: 3, ticks: 5, changes: Default::default() }
    }

    #[test]
    fn one_forecast_runs_at_a_time_and_the_last_few_are_kept() {
        let forecasts = Forecasts::default();
        let first = forecasts.begin(plan()).unwrap();
        assert_eq!(forecasts.begin(plan()).unwrap_err().id, first.id, "a second one while the first runs");
        forecasts.progress(first.id, 2);
        assert_eq!(forecasts.get(first.id).unwrap().pairs_done, 2);
        forecasts.finish(first.id, Err("stopped".into()));
        assert_eq!(forecasts.get(first.id).unwrap().state, ForecastState::Failed);
        // An ended forecast's JSON is written once: every request gets the same bytes.
        let (a, b) = (forecasts.json(first.id).unwrap(), forecasts.json(first.id).unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        let served: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!((served["state"].as_str(), served["error"].as_str()), (Some("failed"), Some("stopped")));
        for _ in 0..KEPT_FORECASTS {
            let next = forecasts.begin(plan()).unwrap();
            forecasts.finish(next.id, Err("stopped".into()));
        }
        assert!(forecasts.get(first.id).is_none(), "only the last {KEPT_FORECASTS} are kept");
        assert!(forecasts.json(first.id).is_none());
        assert_eq!(forecasts.book().ended.len(), KEPT_FORECASTS, "the JSON goes with its forecast");
    }
}
