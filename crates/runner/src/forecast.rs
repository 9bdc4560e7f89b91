//! The seam through which a live session forecasts a change's effect: the engine's
//! thread copies the state between two cycles and hands the copy to a [`Forecaster`],
//! which runs it on threads of its own, so the live tick loop never waits for it. The
//! runner knows no statistics: the binary supplies the experiment crate's ensemble.

use watchtower_engine::Simulation;
use watchtower_protocol::EffectForecast;

use crate::schedule::Schedule;

/// A forecast to run: a copy of a live run's state and what to do with it.
pub struct ForecastJob {
    /// Its id in [`Forecasts`] (already registered as running).
    pub id: u64,
    /// The run copied.
    pub run: i64,
    /// The copy, before its next tick.
    pub start: Simulation,
    /// The scheduled commands still to come.
    pub schedule: Schedule,
    /// The change, checked against the run's registry.
    pub changes: Vec<(String, serde_json::Value)>,
    /// Pairs.
    pub seeds: usize,
    /// Ticks each future runs.
    pub ticks: u64,
    /// Told the pairs done so far, as they finish.
    pub progress: Box<dyn Fn(usize) + Send>,
    /// Told the forecast, or why there is none, once.
    pub finish: Box<dyn FnOnce(Result<EffectForecast, String>) + Send>,
}

/// Runs forecasts in the background: `start` returns at once, and the job's `progress`
/// and `finish` report (to the bridge's `Forecasts`, live).
pub trait Forecaster: Send {
    /// Starts `job`.
    fn start(&self, job: ForecastJob);
}
