//! A recorded run, rebuilt: the scenario and commands a database holds, and the sink
//! that compares a replay with the stored ticks.
//!
//! Everything that determines a run is in the database: its seed and size, every
//! parameter at start (`runs.parameters`) and every command that changed something,
//! with the tick whose phase 0 applied it (`commands`). [`recorded`] turns those into a
//! [`Scenario`] whose schedule re-applies the commands at their ticks; [`Compare`]
//! checks every replayed tick against the stored row, bit for bit, and stops at the
//! first difference, naming it.

use std::collections::VecDeque;

use watchtower_engine::config::{Origin, Override};
use watchtower_engine::{ModelKind, RawValue};
use watchtower_protocol::{IndicatorValue, Indicators};
use watchtower_store::history::TickRow;
use watchtower_store::{History, RunRow, StoreError};

use crate::scenario::Scenario;
use crate::schedule::{Schedule, Scheduled};
use crate::session::Cycle;
use crate::sink::{Flow, Sink, SinkError};

/// Why a recorded run cannot be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such run.
    #[error("no run {0} in the database")]
    NoSuchRun(i64),
    /// The run's model is not one this build knows.
    #[error("run {run} is of model `{model}`, which this build does not know")]
    UnknownModel {
        /// The run.
        run: i64,
        /// Its model.
        model: String,
    },
}

/// A recorded run, as a scenario.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The run's row.
    pub run: RunRow,
    /// Its seed, size and parameters, and its commands as a schedule.
    pub scenario: Scenario,
}

/// Rebuilds run `id` from `history`.
pub fn recorded(history: &History, id: i64) -> Result<Recorded, ReplayError> {
    let run = history.runs()?.into_iter().find(|r| r.id == id).ok_or(ReplayError::NoSuchRun(id))?;
    let model = ModelKind::from_name(&run.model)
        .ok_or_else(|| ReplayError::UnknownModel { run: id, model: run.model.clone() })?;
    let origin = Origin { source: format!("run {id}'s parameters"), line: None };
    let settings: Vec<Override> = run
        .parameters
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| Override { key: k.clone(), value: RawValue::from(v), origin: origin.clone() })
                .collect()
        })
        .unwrap_or_default();
    let commands = Origin { source: format!("run {id}'s commands"), line: None };
    let schedule = Schedule::new(
        history
            .applied_commands(id)?
            .into_iter()
            .map(|(tick, c)| Scheduled { tick, key: c.key, value: RawValue::from(&c.value), origin: commands.clone() })
            .collect(),
    );
    let scenario = Scenario {
        model,
        seed: run.seed,
        households: run.households as usize,
        firms: run.firms as usize,
        agents: run.agents as usize,
        preset: None, // the parameters are every value at start
        settings,
        schedule,
    };
    Ok(Recorded { run, scenario })
}

/// Rows read from the store at a time: the comparison never holds a whole run.
const PAGE: usize = 1_024;

/// Compares every replayed tick with the stored one.
pub struct Compare<'h> {
    history: &'h History,
    run: i64,
    last: u64,
    page: VecDeque<TickRow>,
    next_from: u64,
    thinned_before: u64,
    /// Ticks found identical so far.
    pub compared: u64,
    /// The first difference, in words.
    pub difference: Option<String>,
}

impl<'h> Compare<'h> {
    /// Compares ticks `0..=last` of `run`.
    pub fn new(history: &'h History, run: i64, last: u64) -> Self {
        Self::between(history, run, 0, last)
    }

    /// Compares ticks `first..=last` of `run` (a replay from a checkpoint at `first`).
    pub fn between(history: &'h History, run: i64, first: u64, last: u64) -> Self {
        Self {
            history,
            run,
            last,
            page: VecDeque::new(),
            next_from: first,
            thinned_before: 0,
            compared: 0,
            difference: None,
        }
    }

    /// Compares only the rows retention kept where it thinned them (`--keep-ticks`): a
    /// replayed tick before `thinned.before` with no stored row is passed over.
    pub fn thinned(mut self, thinned: Option<watchtower_store::Thinned>) -> Self {
        self.thinned_before = thinned.map_or(0, |t| t.before);
        self
    }

    fn next_stored(&mut self) -> Result<Option<TickRow>, StoreError> {
        if self.page.is_empty() && self.next_from <= self.last {
            let rows = self.history.ticks(self.run, self.next_from, self.last, PAGE)?;
            self.next_from = rows.last().map_or(u64::MAX, |r| r.tick.saturating_add(1));
            self.page.extend(rows);
        }
        Ok(self.page.pop_front())
    }

    fn stop(&mut self, difference: String) -> Flow {
        self.difference = Some(difference);
        Flow::Stop
    }
}

impl Sink for Compare<'_> {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(refused) = cycle.audit.iter().find(|a| !a.response.success) {
            let r = &refused.response;
            let tick = r.applied_tick.unwrap_or_default();
            return Ok(self.stop(format!("tick {tick}: command {} was refused on replay: {:?}", r.id, r.error)));
        }
        let Some(outcome) = cycle.outcome else { return Ok(Flow::Continue) };
        let tick = outcome.tick;
        let stored = self.next_stored().map_err(|e| SinkError::new("replay", e))?;
        let Some(stored) = stored else {
            return Ok(self.stop(format!("tick {tick} is missing from the stored run")));
        };
        if stored.tick > tick && tick < self.thinned_before {
            // Thinned: compared with the next row kept.
            self.page.push_front(stored);
            return Ok(Flow::Continue);
        }
        if stored.tick != tick {
            return Ok(
                self.stop(format!("tick {tick} is missing from the stored run (the next stored is {})", stored.tick))
            );
        }
        if let Some(field) = first_difference(&outcome.telemetry.indicators, &stored.indicators) {
            return Ok(self.stop(format!("tick {tick} differs first in `{field}`")));
        }
        self.compared += 1;
        Ok(Flow::Continue)
    }
}

/// The first indicator whose replayed value differs from the stored one (bit for bit).
pub fn first_difference(replayed: &Indicators, stored: &Indicators) -> Option<&'static str> {
    let same = |a: IndicatorValue, b: IndicatorValue| match (a, b) {
        (IndicatorValue::Real(x), IndicatorValue::Real(y)) => x.to_bits() == y.to_bits(),
        (a, b) => a == b,
    };
    Indicators::FIELDS
        .iter()
        .zip(replayed.values().zip(stored.values()))
        .find(|(_, (a, b))| !same(*a, *b))
        .map(|((name, _), _)| *name)
}
