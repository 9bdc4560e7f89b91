//! One simulation of a calibration: the ordinary tick loop over a scenario with a sink
//! that keeps the window's values of the indicators the moments read (8 bytes a tick
//! an indicator: 2,000 ticks of three indicators is 48 KB; money in genesis currency units,
//! as every output reports it, so a redenomination is no jump in a series), then the moments.

use watchtower_engine::Capture;
use watchtower_protocol::{IndicatorValue, Indicators};
use watchtower_runner::scenario::Scenario;
use watchtower_runner::session::{Cycle, Ended, Headless, RunError, Session, Stop};
use watchtower_runner::sink::{Flow, Sink, SinkError};

use crate::calibrate::data::{Aggregate, aggregate};
use crate::calibrate::spec::{CalibrationSpec, Target};

/// The window's series of some indicators.
struct SeriesSink {
    fields: Vec<usize>,
    names: Vec<&'static str>,
    warmup: u64,
    series: Vec<Vec<f64>>,
}

impl Sink for SeriesSink {
    fn needs(&self) -> Capture {
        Capture::only(&self.names).expect("indicator fields")
    }

    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome
            && outcome.tick >= self.warmup
        {
            let values: Vec<IndicatorValue> = outcome.telemetry.indicators.reported().collect();
            for (s, &f) in self.series.iter_mut().zip(&self.fields) {
                s.push(values[f].as_f64());
            }
        }
        Ok(Flow::Continue)
    }
}

/// What one simulation gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Simulated {
    /// Its moments, in the spec's order.
    Moments(Vec<f64>),
    /// The engine stopped with this error (the point's loss is then infinite).
    Failed(String),
    /// `stop` was requested first.
    Stopped,
}

/// Runs `scenario` for the spec's ticks and computes the spec's moments over its window.
pub fn simulate(spec: &CalibrationSpec, scenario: &Scenario, stop: Option<&Stop>) -> Simulated {
    match series(spec, scenario, stop) {
        Ok(series) => Simulated::Moments(moments_of(spec, &spec.indicators(), &series)),
        Err(other) => other,
    }
}

/// Runs `scenario` for the spec's ticks: the window's series of [`CalibrationSpec::indicators`]
/// (per tick), or why there are none.
pub fn series(spec: &CalibrationSpec, scenario: &Scenario, stop: Option<&Stop>) -> Result<Vec<Vec<f64>>, Simulated> {
    let indicators = spec.indicators();
    let fields: Vec<usize> = indicators
        .iter()
        .map(|n| Indicators::FIELDS.iter().position(|(f, _)| f == n).expect("checked indicator"))
        .collect();
    let names = fields.iter().map(|&f| Indicators::FIELDS[f].0).collect();
    let mut sink = SeriesSink { fields, names, warmup: spec.base.warmup, series: vec![Vec::new(); indicators.len()] };
    let simulation = scenario.build().map_err(|e| Simulated::Failed(e.to_string()))?;
    let mut driver = match stop {
        Some(stop) => Headless::until_stopped(stop.clone()),
        None => Headless::default(),
    };
    let mut session = Session::new(simulation, spec.base.schedule.clone());
    match session.run(Some(spec.base.ticks), &mut driver, &mut [&mut sink]) {
        Ok(Ended::Target) => Ok(sink.series),
        Ok(_) => Err(Simulated::Stopped),
        Err(RunError::Engine(e)) => Err(Simulated::Failed(e.to_string())),
        Err(RunError::Sink(e)) => Err(Simulated::Failed(e.to_string())),
    }
}

/// The spec's moments of series per tick (`series[i]` is `indicators[i]`'s), each
/// aggregated into observations first when the target is data.
pub fn moments_of(spec: &CalibrationSpec, indicators: &[String], series: &[Vec<f64>]) -> Vec<f64> {
    let observed: Vec<Vec<f64>> = indicators
        .iter()
        .zip(series)
        .map(|(name, s)| match &spec.target {
            Target::Data(d) => {
                let how = d.column(name).map_or(Aggregate::Mean, |c| c.aggregate);
                aggregate(s, d.ticks_per_observation as usize, how)
            }
            Target::Synthetic { .. } => s.clone(),
        })
        .collect();
    let of = |name: &str| &observed[indicators.iter().position(|i| i == name).expect("an indicator of the moments")];
    spec.moments
        .iter()
        .map(|m| {
            let ind = m.indicators();
            let other: &[f64] = if ind.len() > 1 { of(ind[1]) } else { &[] };
            m.of(of(ind[0]), other, spec.hp_lambda)
        })
        .collect()
}
