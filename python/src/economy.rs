//! `watchtower.Economy`: a runner `Session` driven from Python.
//!
//! Every tick runs in the runner's one tick loop (`Session::run`), with a driver that
//! ticks for at most a slice of wall time (so Ctrl-C is seen between slices) and one
//! sink, [`HistorySink`], that appends each tick's indicators to Arrow columns. A command
//! (`set`) is applied at once in an idle cycle of the same loop, as the live server
//! applies one that arrives between ticks, and its answer is returned.
//!
//! The GIL is released while Rust runs; the state sits behind a mutex taken only while
//! the GIL is released, so threads can step several economies at once and a second
//! thread calling into the same economy waits its turn without blocking the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arrow_array::types::UInt64Type;
use arrow_array::{ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use watchtower_engine::{ModelKind, RawValue, Simulation};
use watchtower_protocol::{Distribution, GodCommand, GodResponse, Indicators, RegistrySnapshot, Telemetry};
use watchtower_runner::session::now_ms;
use watchtower_runner::workers::Pool;
use watchtower_runner::{Cycle, Driver, Flow, Next, Pending, Scenario, Session, Sink, SinkError};

use crate::columns::{Columns, tick_schema, to_pyarrow};
use crate::convert::{self, CommandError, EngineError, count};
use crate::scenario;

/// The longest stretch of ticks between two looks at Python's signals (Ctrl-C), ms.
static SLICE_MS: AtomicU64 = AtomicU64::new(100);

/// The source recorded for commands sent from Python.
const SOURCE: &str = "python";

/// Sets the slice (tests: a long slice shows the GIL is released during it).
#[pyfunction]
pub fn _set_slice_ms(ms: u64) -> u64 {
    SLICE_MS.swap(ms.max(1), Ordering::SeqCst)
}

/// Threads lent to every economy (as the CLI lends them): the machine's width.
fn pool() -> Option<Arc<Pool>> {
    static POOL: OnceLock<Option<Arc<Pool>>> = OnceLock::new();
    POOL.get_or_init(|| Pool::machine().ok()).clone()
}

/// Appends each tick's indicators to the history's columns.
struct HistorySink {
    columns: Columns,
    tick: Arc<AtomicU64>,
}

impl Sink for HistorySink {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            self.columns.push(outcome.tick, outcome.telemetry.indicators.reported());
            self.tick.store(outcome.tick + 1, Ordering::Relaxed);
        }
        Ok(Flow::Continue)
    }
}

/// Ticks until a deadline (at least one tick per run, so every slice advances).
struct Sliced {
    deadline: Instant,
    started: bool,
}

impl Driver for Sliced {
    fn next(&mut self, _simulation: &Simulation) -> Next {
        if !std::mem::replace(&mut self.started, true) || Instant::now() < self.deadline {
            Next::Tick
        } else {
            Next::Stop
        }
    }
}

/// One idle cycle that applies one command, then stop; keeps the command's answer.
struct Apply {
    pending: Option<Pending>,
    id: String,
    response: Option<GodResponse>,
}

impl Driver for Apply {
    fn next(&mut self, _simulation: &Simulation) -> Next {
        if self.pending.is_some() { Next::Idle } else { Next::Stop }
    }

    fn collect(&mut self, into: &mut Vec<Pending>) {
        into.extend(self.pending.take());
    }

    fn settled(&mut self, cycle: &Cycle<'_>) {
        self.response = cycle.audit.iter().find(|a| a.command.id == self.id).map(|a| a.response.clone());
    }
}

struct State {
    session: Session,
    history: HistorySink,
    /// Why the engine stopped, once it has.
    failed: Option<String>,
    commands: u64,
}

impl State {
    fn check(&self) -> PyResult<()> {
        match &self.failed {
            Some(why) => Err(EngineError::new_err(format!("this economy's engine stopped earlier: {why}"))),
            None => Ok(()),
        }
    }

    /// Runs at most `left` ticks, for about `slice`; returns how many ran.
    fn run(&mut self, left: u64, slice: Duration) -> PyResult<u64> {
        self.check()?;
        let start = self.session.simulation().tick();
        let mut driver = Sliced { deadline: Instant::now() + slice, started: false };
        let result = self.session.run(Some(start.saturating_add(left)), &mut driver, &mut [&mut self.history]);
        let ran = self.session.simulation().tick() - start;
        match result {
            Ok(_) => Ok(ran),
            Err(e) => {
                let why = e.to_string();
                self.failed = Some(why.clone());
                Err(EngineError::new_err(why))
            }
        }
    }

    /// Applies one command in an idle cycle and returns its answer.
    fn command(&mut self, key: String, value: serde_json::Value) -> PyResult<GodResponse> {
        self.check()?;
        self.commands += 1;
        let id = format!("python-{}", self.commands);
        let pending = Pending {
            command: GodCommand { id: id.clone(), key, value },
            received_at_ms: now_ms(),
            source: SOURCE.into(),
            reply: None,
            run: None,
        };
        let mut driver = Apply { pending: Some(pending), id, response: None };
        self.session
            .run(None, &mut driver, &mut [&mut self.history])
            .map_err(|e| EngineError::new_err(e.to_string()))?;
        driver.response.ok_or_else(|| PyRuntimeError::new_err("the command was not answered"))
    }
}

/// An economy: Mark-0 over individual households (or the Boltzmann benchmark), stepped
/// from Python by the same engine and tick loop as the `watchtower` command.
///
/// >>> from watchtower import Economy
/// >>> econ = Economy(households=1_000, firms=100, seed=1)
/// >>> econ.step(100)
/// >>> econ.set("government.income_tax_rate", 0.3)
/// >>> econ.history().to_pandas()
///
/// Every keyword is optional. `preset` is the starting point (`"watchtower"`,
/// `"mark0-2017"`, `"mark0-2015"`, `"sim"`; `None` for the registry's defaults),
/// `config` a settings file or a list of them (YAML shaped like `economy_params.yaml`,
/// with an optional `schedule:`), `settings` a dict of registry keys to values
/// (`{"government.income_tax_rate": 0.3}`, or by area `{"government": {...}}`), and
/// `schedule` a list of commands at ticks (`[{"tick": 500, "set": {KEY: VALUE}}]`).
/// They apply in that order, after the preset, exactly as `--preset`, `--config` and
/// `--set` do on the command line; a bad value raises `ValueError` with the registry's
/// message and builds nothing.
///
/// The same seed, settings and commands give the same numbers, bit for bit, as the
/// command line and the live server. Calls release the GIL while Rust runs: threads can
/// step several economies at once.
#[pyclass(module = "watchtower", frozen)]
pub struct Economy {
    state: Mutex<State>,
    tick: Arc<AtomicU64>,
    spec: watchtower_engine::RunSpec,
}

impl Economy {
    /// An economy at genesis (or wherever `session` stands), history `columns`.
    fn from_session(mut session: Session, columns: Columns) -> Self {
        if let Some(pool) = pool() {
            session.simulation_mut().set_workers(pool);
        }
        let spec = session.simulation().spec().clone();
        let tick = Arc::new(AtomicU64::new(session.simulation().tick()));
        let history = HistorySink { columns, tick: Arc::clone(&tick) };
        Self { state: Mutex::new(State { session, history, failed: None, commands: 0 }), tick, spec }
    }

    /// Builds `scenario` from Python's arguments.
    pub fn build(
        py: Python<'_>,
        mut scenario: Scenario,
        config: Option<&Bound<'_, PyAny>>,
        settings: Option<&Bound<'_, PyAny>>,
        schedule: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if let Some(config) = config {
            scenario::add_config(&mut scenario, config)?;
        }
        if let Some(settings) = settings {
            scenario::add_settings(&mut scenario, settings)?;
        }
        if let Some(schedule) = schedule {
            scenario::add_schedule(&mut scenario, schedule)?;
        }
        Self::from_scenario(py, scenario)
    }

    /// Builds a complete scenario (genesis runs without the GIL).
    pub fn from_scenario(py: Python<'_>, scenario: Scenario) -> PyResult<Self> {
        let simulation = py.detach(|| scenario::build(&scenario))?;
        Ok(Self::from_session(Session::new(simulation, scenario.schedule.clone()), Columns::default()))
    }

    /// Runs `f` on the state with the GIL released, holding the state's lock.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut State) -> PyResult<T> + Send) -> PyResult<T> {
        py.detach(|| {
            let mut state = self.state.lock().map_err(|_| {
                EngineError::new_err("this economy is unusable: an earlier call into it panicked mid-way")
            })?;
            f(&mut state)
        })
    }
}

#[pymethods]
impl Economy {
    #[new]
    #[pyo3(
        signature = (*, preset = Some("watchtower".to_owned()), households = None, firms = None, seed = None, settings = None, schedule = None, config = None),
        text_signature = "(*, preset='watchtower', households=10000, firms=1000, seed=1, settings=None, schedule=None, config=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        preset: Option<String>,
        households: Option<&Bound<'_, PyAny>>,
        firms: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
        settings: Option<&Bound<'_, PyAny>>,
        schedule: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut scenario = Scenario { preset, ..Scenario::default() };
        if let Some(h) = households {
            scenario.households = count(h, "households", 1)? as usize;
        }
        if let Some(f) = firms {
            scenario.firms = count(f, "firms", 1)? as usize;
        }
        if let Some(s) = seed {
            scenario.seed = count(s, "seed", 0)?;
        }
        Self::build(py, scenario, config, settings, schedule)
    }

    /// The Boltzmann wealth benchmark: `agents` agents exchanging one unit at random.
    #[staticmethod]
    #[pyo3(
        signature = (*, agents = None, seed = None, settings = None, schedule = None, config = None),
        text_signature = "(*, agents=10000, seed=1, settings=None, schedule=None, config=None)"
    )]
    fn boltzmann(
        py: Python<'_>,
        agents: Option<&Bound<'_, PyAny>>,
        seed: Option<&Bound<'_, PyAny>>,
        settings: Option<&Bound<'_, PyAny>>,
        schedule: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let agents = match agents {
            Some(a) => count(a, "agents", 1)? as usize,
            None => Scenario::default().agents,
        };
        let seed = match seed {
            Some(s) => count(s, "seed", 0)?,
            None => 1,
        };
        Self::build(py, Scenario::boltzmann(agents, seed), config, settings, schedule)
    }

    /// The recorded run `run` (`"latest"` or an id) of the database at `path` (a data
    /// directory or its `watchtower.db`), rebuilt at genesis: its seed, size, every
    /// parameter at start, and every command that changed it, scheduled at the tick that
    /// applied it. Stepping it repeats the recorded run, bit for bit.
    #[staticmethod]
    #[pyo3(signature = (path, run = None), text_signature = "(path, run='latest')")]
    fn from_run(py: Python<'_>, path: std::path::PathBuf, run: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let latest = pyo3::types::PyString::new(py, "latest").into_any();
        let scenario = crate::recorded::scenario(py, path, run.unwrap_or(&latest))?;
        Self::from_scenario(py, scenario)
    }

    /// Runs `n` ticks (default 1), releasing the GIL while the engine runs. Ctrl-C stops
    /// it between two ticks (`KeyboardInterrupt`; the economy stays usable). Raises
    /// `watchtower.EngineError` if the engine stops (its books no longer balance, a value
    /// no longer fits integer cents).
    #[pyo3(signature = (n = None), text_signature = "($self, n=1)")]
    fn step(&self, py: Python<'_>, n: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let mut left = match n {
            Some(n) => count(n, "n", 0)?,
            None => 1,
        };
        while left > 0 {
            let slice = Duration::from_millis(SLICE_MS.load(Ordering::Relaxed));
            left -= self.with(py, move |state| state.run(left, slice))?;
            if left > 0 {
                py.check_signals()?;
            }
        }
        Ok(())
    }

    /// Ticks run so far (the next tick to run). Readable while another thread steps.
    #[getter]
    fn tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }

    /// `"mark0"` or `"boltzmann"`.
    #[getter]
    fn model(&self) -> &'static str {
        self.spec.model.name()
    }

    /// The seed of every random stream.
    #[getter]
    fn seed(&self) -> u64 {
        self.spec.seed
    }

    /// Households (Mark-0), else None.
    #[getter]
    fn households(&self) -> Option<usize> {
        (self.spec.model == ModelKind::Mark0).then_some(self.spec.households)
    }

    /// Firms (Mark-0), else None.
    #[getter]
    fn firms(&self) -> Option<usize> {
        (self.spec.model == ModelKind::Mark0).then_some(self.spec.firms)
    }

    /// Agents (Boltzmann), else None.
    #[getter]
    fn agents(&self) -> Option<usize> {
        (self.spec.model == ModelKind::Boltzmann).then_some(self.spec.agents)
    }

    /// Changes one registry value at once, as a command from the live dashboard would
    /// between two ticks, and returns the result: `{"key", "old", "new", "applied_tick"}`
    /// (the tick whose phase 0 it counts as, the next to run). Raises
    /// `watchtower.CommandError` (a `ValueError`) with the registry's message, and its
    /// `code`, for an unknown key, a wrong type, a value out of range or a key that can
    /// only be set before the run starts; nothing changes then.
    fn set<'py>(&self, py: Python<'py>, key: String, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let raw = convert::raw_value(value);
        if let RawValue::Float(x) = raw
            && !x.is_finite()
        {
            // NaN and the infinities have no JSON form, so no client can send them; the
            // registry's own refusal, from a copy (nothing is applied).
            let refused =
                self.with(py, |state| Ok(state.session.simulation().registry().clone().apply(&key, &raw).err()))?;
            if let Some(e) = refused {
                let err = CommandError::new_err(e.to_string());
                let _ = err.value(py).setattr("code", convert::code_name(e.code()));
                let _ = err.value(py).setattr("key", &key);
                return Err(err);
            }
        }
        // NaN and the infinities have no JSON form: they are checked before a command is made.
        let value = raw.to_json();
        let response = self.with(py, move |state| state.command(key, value))?;
        if !response.success {
            return Err(convert::command_error(py, &response));
        }
        let out = PyDict::new(py);
        out.set_item("key", &response.key)?;
        out.set_item("old", response.old.map(|v| convert::param(py, v)).transpose()?)?;
        out.set_item("new", response.new.map(|v| convert::param(py, v)).transpose()?)?;
        out.set_item("applied_tick", response.applied_tick)?;
        Ok(out)
    }

    /// Every parameter: `{key: {"value", "default", "type", "min", "max", "unit",
    /// "description", "area", "symbol", "source", "live", "zero_allowed"}}`, sorted by
    /// key. `live` is False for keys that can only be set when the economy is built.
    fn registry<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snapshot: RegistrySnapshot = self.with(py, |state| Ok(state.session.simulation().registry().snapshot()))?;
        let out = PyDict::new(py);
        for p in snapshot.params {
            let entry = PyDict::new(py);
            entry.set_item("value", convert::param(py, p.value)?)?;
            entry.set_item("default", convert::param(py, p.default)?)?;
            entry.set_item(
                "type",
                match p.kind {
                    watchtower_protocol::ParamKind::Float => "float",
                    watchtower_protocol::ParamKind::Int => "int",
                    watchtower_protocol::ParamKind::Bool => "bool",
                },
            )?;
            entry.set_item("min", p.min)?;
            entry.set_item("max", p.max)?;
            entry.set_item("unit", &p.unit)?;
            entry.set_item("description", &p.description)?;
            entry.set_item("area", &p.area)?;
            entry.set_item("symbol", &p.symbol)?;
            entry.set_item("source", &p.source)?;
            entry.set_item("live", p.live)?;
            entry.set_item("zero_allowed", p.zero_allowed)?;
            out.set_item(&p.key, entry)?;
        }
        Ok(out)
    }

    /// The last tick's indicators: `{"tick": T, "gdp": ..., "unemployment_rate": ...}`
    /// (money in genesis currency units, a float); None before the first tick.
    fn indicators<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let telemetry = self.latest(py)?;
        telemetry.map(|t| convert::indicators(py, t.tick, &t.indicators)).transpose()
    }

    /// The last tick's distributions, one row per population (`household_wealth`,
    /// `household_income`, `firm_size`, ...): count, mean, min, p10, p50, p90, max and a
    /// histogram (`histogram_lo`, `histogram_hi`, `histogram` counts), as a
    /// `pyarrow.Table`; empty before the first tick.
    fn distributions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let telemetry = self.latest(py)?;
        let reported: Vec<Distribution> = telemetry
            .as_ref()
            .map(|t| t.distributions.iter().map(|d| d.reported(t.indicators.redenominations)).collect())
            .unwrap_or_default();
        let batch = distribution_batch(&reported);
        let schema = batch.schema();
        to_pyarrow(py, vec![batch], schema)
    }

    /// Every tick's indicators so far as a `pyarrow.Table`: `tick`, then one column per
    /// indicator (counts `int64`; money `float64` in genesis currency units; the rest
    /// `float64`), the columns of the store's `ticks` table; each field's metadata
    /// carries its `unit` and `description`. Handed over without copying: pass it to
    /// `polars.from_arrow`, call `.to_pandas()`, or query it with DuckDB.
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let batches = self.with(py, |state| Ok(state.history.columns.batches()))?;
        to_pyarrow(py, batches, tick_schema())
    }

    /// An independent copy that continues from the same state, random streams and
    /// schedule: the counterfactual primitive. With no command it stays identical to
    /// this economy, tick for tick; a command to either changes only that one. The copy
    /// starts with this economy's history (shared, not copied).
    fn fork(&self, py: Python<'_>) -> PyResult<Economy> {
        let (session, columns) = self.with(py, |state| {
            state.check()?;
            Ok((state.session.fork(), state.history.columns.clone()))
        })?;
        Ok(Self::from_session(session, columns))
    }

    fn __repr__(&self) -> String {
        let s = &self.spec;
        match s.model {
            ModelKind::Mark0 => format!(
                "<Economy mark0 households={} firms={} seed={} tick={}>",
                s.households,
                s.firms,
                s.seed,
                self.tick()
            ),
            ModelKind::Boltzmann => {
                format!("<Economy boltzmann agents={} seed={} tick={}>", s.agents, s.seed, self.tick())
            }
        }
    }
}

impl Economy {
    fn latest(&self, py: Python<'_>) -> PyResult<Option<Arc<Telemetry>>> {
        self.with(py, |state| Ok(state.session.simulation().telemetry().cloned()))
    }
}

/// The distributions as one record batch.
fn distribution_batch(dists: &[Distribution]) -> RecordBatch {
    let real =
        |f: fn(&Distribution) -> f64| -> ArrayRef { Arc::new(Float64Array::from_iter_values(dists.iter().map(f))) };
    let item = Arc::new(Field::new("item", DataType::UInt64, true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("unit", DataType::Utf8, false),
        Field::new("count", DataType::UInt64, false),
        Field::new("mean", DataType::Float64, false),
        Field::new("min", DataType::Float64, false),
        Field::new("p10", DataType::Float64, false),
        Field::new("p50", DataType::Float64, false),
        Field::new("p90", DataType::Float64, false),
        Field::new("max", DataType::Float64, false),
        Field::new("histogram_lo", DataType::Float64, false),
        Field::new("histogram_hi", DataType::Float64, false),
        Field::new("histogram", DataType::List(item), false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(dists.iter().map(|d| d.name.as_str()))),
        Arc::new(StringArray::from_iter_values(dists.iter().map(|d| d.unit.as_str()))),
        Arc::new(UInt64Array::from_iter_values(dists.iter().map(|d| d.count))),
        real(|d| d.mean),
        real(|d| d.min),
        real(|d| d.p10),
        real(|d| d.p50),
        real(|d| d.p90),
        real(|d| d.max),
        real(|d| d.histogram.lo),
        real(|d| d.histogram.hi),
        Arc::new(ListArray::from_iter_primitive::<UInt64Type, _, _>(
            dists.iter().map(|d| Some(d.histogram.counts.iter().map(|c| Some(*c)))),
        )),
    ];
    RecordBatch::try_new(schema, columns).expect("the columns follow the schema")
}

/// Indicators' names, for the stubs' tests.
#[pyfunction]
pub fn indicator_names() -> Vec<&'static str> {
    Indicators::FIELDS.iter().map(|(n, _)| *n).collect()
}
