//! An effect with its uncertainty: a change's effect forecast across many futures of one
//! state.
//!
//! A what-if of one seed is one path: nobody can tell its effect from noise. An ensemble
//! copies a state S times; pair i re-seeds its copy with seed i ([`Simulation::reseed`])
//! and runs it twice for the window, as the baseline and as the branch (the change
//! applied at the copy's next tick): both draw the same random numbers (common random
//! numbers), so the pair's difference is the change's effect on that future, with little
//! of the noise. Per indicator, the pair's effect averaged over the window, and per tick
//! the pair's effect, are then summarised across the S pairs as a mean and Student's t
//! 95% interval ([`Interval`], the experiment table's).
//!
//! The pairs run on `jobs` threads, each simulation sequential inside; their results are
//! folded in pair order (a pair that finishes early waits for those before it), so the
//! numbers are the same bytes for any number of threads. Nothing is stored: each pair's
//! trace is folded into per-tick sums as soon as its turn comes.
//!
//! The seeds are a pure function of the copied run's seed, the fork tick and the pair's
//! index ([`pair_seeds`]): the same command gives the same seeds, and S + 10 seeds are
//! the S seeds and 10 more.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use watchtower_engine::workers::sequential;
use watchtower_engine::{Capture, Simulation};
use watchtower_protocol::{
    Effect, EffectBand, EffectForecast, EffectPoint, GodCommand, IndicatorValue, Indicators, Unit,
};
use watchtower_runner::branches::change_commands;
use watchtower_runner::forecast::{ForecastJob, Forecaster};
use watchtower_runner::{Cycle, Ended, Flow, Headless, RunError, Schedule, Session, Sink, SinkError, Stop};

use crate::table::Interval;

/// An indicator an ensemble forecasts, with its units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// The [`Indicators`] field.
    pub indicator: &'static str,
    /// What it is.
    pub label: &'static str,
    /// The unit of its level as shown (after `scale`).
    pub level_unit: &'static str,
    /// The unit of a difference of it (after `scale`).
    pub effect_unit: &'static str,
    /// What a stored value is multiplied by to read in these units (100 for a share,
    /// read in percent and its differences in percentage points).
    pub scale: f64,
}

const fn money(indicator: &'static str, label: &'static str, unit: Unit) -> Measured {
    let unit = unit.label();
    Measured { indicator, label, level_unit: unit, effect_unit: unit, scale: 1.0 }
}

const fn share(indicator: &'static str, label: &'static str, per: &'static str) -> Measured {
    let (level_unit, effect_unit) = match per.len() {
        0 => ("%", "percentage points"),
        _ => ("% per tick", "percentage points per tick"),
    };
    Measured { indicator, label, level_unit, effect_unit, scale: 100.0 }
}

/// The indicators forecast, in the dashboard's chart order. Money is in genesis currency
/// units, as every output reports it (so pairs that redenominate at different ticks
/// compare).
pub const MEASURED: &[Measured] = &[
    money("gdp", "Nominal GDP per tick", Unit::MoneyPerTick),
    Measured {
        indicator: "output_real",
        label: "Real output",
        level_unit: "full-time workers",
        effect_unit: "full-time workers",
        scale: 1.0,
    },
    share("unemployment_rate", "Unemployment rate", ""),
    share("inflation", "Inflation", "tick"),
    share("expected_inflation", "Expected inflation", "tick"),
    Measured {
        indicator: "price_index_log10",
        label: "Price index (log₁₀)",
        level_unit: "log₁₀ of genesis prices",
        effect_unit: "log₁₀ points",
        scale: 1.0,
    },
    money("average_wage", "Average wage per tick", Unit::MoneyPerTick),
    Measured {
        indicator: "gini_wealth",
        label: "Gini of wealth",
        level_unit: "Gini (0–1)",
        effect_unit: "Gini points (0–1)",
        scale: 1.0,
    },
    Measured {
        indicator: "gini_income",
        label: "Gini of income",
        level_unit: "Gini (0–1)",
        effect_unit: "Gini points (0–1)",
        scale: 1.0,
    },
    money("government_balance", "Government balance per tick", Unit::MoneyPerTick),
    money("government_debt", "Government debt", Unit::Money),
    money("tax_revenue", "Tax revenue per tick", Unit::MoneyPerTick),
    money("welfare_paid", "Welfare paid per tick", Unit::MoneyPerTick),
    money("money_stock", "Money stock", Unit::Money),
    share("policy_rate", "Policy rate", "tick"),
    share("loan_rate", "Loan rate", "tick"),
    share("deposit_rate", "Deposit rate", "tick"),
];

/// How indicator `name` reads: its [`MEASURED`] entry, or for another indicator its own
/// name and the unit [`Indicators::COLUMNS`] gives it, unscaled.
pub fn measured(name: &str) -> Measured {
    if let Some(m) = MEASURED.iter().find(|m| m.indicator == name) {
        return *m;
    }
    let (indicator, unit) = Indicators::COLUMNS
        .iter()
        .find(|c| c.name == name)
        .map_or(("", "the indicator's unit"), |c| (c.name, c.unit.label()));
    Measured { indicator, label: indicator, level_unit: unit, effect_unit: unit, scale: 1.0 }
}

/// The seeds of `pairs` pairs forked from a run of seed `run_seed` before tick
/// `fork_tick`: splitmix64 over a key of both, one draw per pair, so pair i's seed does
/// not depend on how many pairs there are.
pub fn pair_seeds(run_seed: u64, fork_tick: u64, pairs: usize) -> Vec<u64> {
    let mut state = run_seed ^ fork_tick.rotate_left(32) ^ 0x005E_ED0F_E55E_4B1E;
    (0..pairs).map(|_| splitmix64(&mut state)).collect()
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What an ensemble runs: from a state, the change, the seeds, the window.
pub struct Ensemble {
    /// The state every future starts from (before its next tick).
    pub start: Simulation,
    /// The scheduled commands still to come (both arms apply them).
    pub schedule: Schedule,
    /// The change, applied at the branch's first tick (checked by the caller).
    pub changes: Vec<(String, serde_json::Value)>,
    /// One seed per pair.
    pub seeds: Vec<u64>,
    /// Ticks each future runs.
    pub ticks: u64,
}

/// Why an ensemble did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnsembleError {
    /// Stopped before every pair finished.
    #[error("stopped before every pair had run")]
    Stopped,
    /// An engine stopped a future (the change made it fail, say).
    #[error("pair {pair} (seed {seed}), {arm}: {message}")]
    Failed {
        /// The pair's index.
        pair: usize,
        /// Its seed.
        seed: u64,
        /// `baseline` or `branch`.
        arm: &'static str,
        /// What the engine said.
        message: String,
    },
    /// Fewer than two pairs: no interval.
    #[error("an interval needs at least 2 seeds")]
    TooFew,
}

/// An ensemble's result: per indicator of [`MEASURED`], the window's effect, and the
/// effect tick by tick, each across the pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The first tick of the window (the branch's first tick with the change).
    pub fork_tick: u64,
    /// The window's length.
    pub ticks: u64,
    /// Each pair's seed.
    pub seeds: Vec<u64>,
    /// Per indicator: the effect averaged over the window, across pairs (scaled).
    pub effects: Vec<Interval>,
    /// Per indicator: the baseline's level averaged over the window, across pairs (scaled).
    pub baseline: Vec<f64>,
    /// Per tick of the window, per indicator: the effect across pairs (scaled).
    pub per_tick: Vec<Vec<Interval>>,
}

/// Running sums over pairs, folded in pair order: count, sum, Welford's mean and M2.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: usize,
    sum: f64,
    mean: f64,
    m2: f64,
}

impl Sums {
    fn add(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        self.n += 1;
        self.sum += x;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    fn interval(&self) -> Interval {
        Interval::from_sums(self.n, self.sum, self.m2)
    }
}

/// One arm's trace: each tick's values of the measured indicators.
struct Trace {
    fields: Vec<usize>,
    values: Vec<f64>,
}

impl Trace {
    fn new() -> Self {
        let fields = MEASURED
            .iter()
            .map(|m| Indicators::FIELDS.iter().position(|(f, _)| *f == m.indicator).expect("an indicator"))
            .collect();
        Self { fields, values: Vec::new() }
    }
}

impl Sink for Trace {
    fn needs(&self) -> Capture {
        Capture::only(&MEASURED.iter().map(|m| m.indicator).collect::<Vec<_>>()).expect("indicators")
    }

    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            let all: Vec<f64> = outcome.telemetry.indicators.reported().map(IndicatorValue::as_f64).collect();
            self.values.extend(self.fields.iter().zip(MEASURED).map(|(&i, m)| all[i] * m.scale));
        }
        Ok(Flow::Continue)
    }
}

impl Ensemble {
    /// Runs every pair on `jobs` threads; `done(pairs_done)` is called on the caller's
    /// thread as each pair is folded. Stops early (with [`EnsembleError::Stopped`]) when
    /// `stop` is requested; a pair that fails ends it (with the pair's error) without
    /// requesting `stop`.
    pub fn run(&self, jobs: usize, stop: &Stop, mut done: impl FnMut(usize)) -> Result<Forecast, EnsembleError> {
        let pairs = self.seeds.len();
        if pairs < 2 {
            return Err(EnsembleError::TooFew);
        }
        let k = MEASURED.len();
        let ticks = self.ticks as usize;
        let jobs = jobs.clamp(1, pairs);
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<EnsembleError>> = Mutex::new(None);
        // A failed pair ends the ensemble, not whatever `stop` also stops (a server).
        let halt = Stop::default();
        let (tx, rx) = crossbeam_channel::bounded::<(usize, Vec<f64>, Vec<f64>)>(jobs * 2);
        let mut per_tick = vec![Sums::default(); ticks * k];
        let mut window = vec![Sums::default(); k];
        let mut level = vec![Sums::default(); k];
        let mut waiting: BTreeMap<usize, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        let mut folded = 0;
        let (schedule, changes, seeds) = (&self.schedule, &self.changes, &self.seeds);
        let until = self.start.tick() + self.ticks;
        std::thread::scope(|scope| {
            for worker in 0..jobs {
                let (tx, next, failure, halt) = (tx.clone(), &next, &failure, &halt);
                // A copy per thread (a simulation is not shared between threads).
                let start = self.start.fork();
                std::thread::Builder::new()
                    .name(format!("ensemble-{worker}"))
                    .spawn_scoped(scope, move || {
                        while !stop.requested() && !halt.requested() {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            if i >= pairs {
                                break;
                            }
                            let arms = Arms { start: &start, schedule, changes, until };
                            match arms.pair(i, seeds[i], stop) {
                                Ok(Some((base, branch))) => {
                                    if tx.send((i, base, branch)).is_err() {
                                        break;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    failure.lock().expect("not poisoned").get_or_insert(e);
                                    halt.request();
                                    break;
                                }
                            }
                        }
                    })
                    .expect("a thread for the ensemble");
            }
            drop(tx);
            for (i, base, branch) in rx.iter() {
                waiting.insert(i, (base, branch));
                while let Some((base, branch)) = waiting.remove(&folded) {
                    let mut effect_sum = vec![0.0; k];
                    let mut level_sum = vec![0.0; k];
                    for t in 0..ticks {
                        for j in 0..k {
                            let (a, b) = (base[t * k + j], branch[t * k + j]);
                            per_tick[t * k + j].add(b - a);
                            effect_sum[j] += b - a;
                            level_sum[j] += a;
                        }
                    }
                    for j in 0..k {
                        window[j].add(effect_sum[j] / ticks as f64);
                        level[j].add(level_sum[j] / ticks as f64);
                    }
                    folded += 1;
                    done(folded);
                }
            }
        });
        if let Some(e) = failure.into_inner().expect("not poisoned") {
            return Err(e);
        }
        if folded < pairs {
            return Err(EnsembleError::Stopped);
        }
        Ok(Forecast {
            fork_tick: self.start.tick(),
            ticks: self.ticks,
            seeds: self.seeds.clone(),
            effects: window.iter().map(Sums::interval).collect(),
            baseline: level.iter().map(|s| s.mean).collect(),
            per_tick: per_tick.chunks(k).map(|row| row.iter().map(Sums::interval).collect()).collect(),
        })
    }
}

/// What one thread needs to run a pair.
struct Arms<'a> {
    start: &'a Simulation,
    schedule: &'a Schedule,
    changes: &'a [(String, serde_json::Value)],
    until: u64,
}

impl Arms<'_> {
    /// Pair `i` of seed `seed`: the baseline's and the branch's traces, or `None` if
    /// stopped.
    #[allow(clippy::type_complexity)]
    fn pair(&self, i: usize, seed: u64, stop: &Stop) -> Result<Option<(Vec<f64>, Vec<f64>)>, EnsembleError> {
        let mut copy = self.start.fork();
        copy.set_workers(sequential());
        copy.reseed(seed);
        let branch = copy.fork();
        let until = self.until;
        let fail =
            |arm: &'static str, e: RunError| EnsembleError::Failed { pair: i, seed, arm, message: e.to_string() };
        let arm = |simulation: Simulation, commands: Vec<GodCommand>, name: &'static str| {
            let mut session = Session::new(simulation, self.schedule.clone());
            for command in commands {
                session.simulation_mut().submit(command);
            }
            let mut trace = Trace::new();
            match session.run(Some(until), &mut Headless::until_stopped(stop.clone()), &mut [&mut trace]) {
                Ok(Ended::Target) => Ok(Some(trace.values)),
                Ok(_) => Ok(None),
                Err(e) => Err(fail(name, e)),
            }
        };
        let Some(base) = arm(copy, Vec::new(), "baseline")? else { return Ok(None) };
        let Some(branch) = arm(branch, change_commands(self.changes), "branch")? else { return Ok(None) };
        Ok(Some((base, branch)))
    }
}

/// A live session's forecasts, each on a thread of its own with `jobs` threads for its
/// pairs, stopped with the service (`stop`). What the binary lends a served run.
pub struct InBackground {
    /// Stops every forecast (the service's stop).
    pub stop: Stop,
    /// Threads per forecast.
    pub jobs: usize,
}

impl Forecaster for InBackground {
    fn start(&self, job: ForecastJob) {
        let (stop, jobs) = (self.stop.clone(), self.jobs);
        let ForecastJob { id, run, start, schedule, changes, seeds, ticks, progress, finish } = job;
        let seeds = pair_seeds(start.spec().seed, start.tick(), seeds);
        // `finish` moves into the thread only if it starts; otherwise it says why.
        let finish = std::sync::Arc::new(Mutex::new(Some(finish)));
        let inside = std::sync::Arc::clone(&finish);
        let spawned = std::thread::Builder::new().name(format!("forecast-{id}")).spawn(move || {
            let ensemble = Ensemble { start, schedule, changes, seeds, ticks };
            // A panic in a pair (or a thread that cannot start) must still end the
            // forecast, or it would stay `running` and refuse every later one.
            let run_all = std::panic::AssertUnwindSafe(|| ensemble.run(jobs, &stop, progress));
            let answer = match std::panic::catch_unwind(run_all) {
                Ok(result) => result.map(|f| f.to_dto(run, &ensemble.changes)).map_err(|e| e.to_string()),
                Err(_) => Err("the forecast stopped on an internal error (a panic); see the server's log".to_string()),
            };
            if let Some(finish) = inside.lock().expect("not poisoned").take() {
                finish(answer);
            }
        });
        if let Err(e) = spawned
            && let Some(finish) = finish.lock().expect("not poisoned").take()
        {
            finish(Err(format!("cannot start a thread: {e}")));
        }
    }
}

/// A number in the shortest form that reads back to the same bits (empty for NaN).
fn push(line: &mut String, x: f64) {
    if !x.is_nan() {
        let _ = write!(line, "{x}");
    }
}

impl Forecast {
    /// The served form, for run `run` and its `changes`.
    pub fn to_dto(&self, run: i64, changes: &[(String, serde_json::Value)]) -> EffectForecast {
        let effects = MEASURED
            .iter()
            .zip(&self.effects)
            .zip(&self.baseline)
            .map(|((m, e), &baseline)| Effect {
                indicator: m.indicator.into(),
                label: m.label.into(),
                unit: m.effect_unit.into(),
                effect: e.mean,
                lo: e.lo,
                hi: e.hi,
                baseline,
                level_unit: m.level_unit.into(),
            })
            .collect();
        let bands = MEASURED
            .iter()
            .enumerate()
            .map(|(j, m)| EffectBand {
                indicator: m.indicator.into(),
                unit: m.effect_unit.into(),
                points: self
                    .per_tick
                    .iter()
                    .enumerate()
                    .map(|(t, row)| EffectPoint {
                        tick: self.fork_tick + t as u64,
                        mean: row[j].mean,
                        lo: row[j].lo,
                        hi: row[j].hi,
                    })
                    .collect(),
            })
            .collect();
        EffectForecast {
            run,
            fork_tick: self.fork_tick,
            ticks: self.ticks,
            seeds: self.seeds.clone(),
            changes: changes.iter().cloned().collect(),
            effects,
            bands,
        }
    }

    /// The effect table in words: per indicator its effect, its 95% interval and unit,
    /// and the baseline's level for scale.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 6]> = MEASURED
            .iter()
            .zip(&self.effects)
            .zip(&self.baseline)
            .map(|((m, e), level)| {
                [
                    m.label.to_string(),
                    signed(e.mean),
                    format!("[{}, {}]", signed(e.lo), signed(e.hi)),
                    m.effect_unit.to_string(),
                    figure(*level),
                    m.level_unit.to_string(),
                ]
            })
            .collect();
        // Each column as wide as its widest cell (a unit may be long: "genesis currency
        // units per tick"), so the columns line up whatever the numbers; the header is
        // the first row.
        let head = ["indicator", "effect", "95% interval", "unit", "baseline level", ""].map(String::from);
        let rows: Vec<[String; 6]> = std::iter::once(head).chain(rows).collect();
        let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
        let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
        let mut s = String::new();
        for [indicator, effect, interval, unit, level, level_unit] in &rows {
            let line = format!("  {indicator:<w0$}  {effect:>w1$}  {interval:<w2$}  {unit:<w3$}  {level} {level_unit}");
            let _ = writeln!(s, "{}", line.trim_end());
        }
        s
    }

    /// The per-tick mean effect and band as CSV: `tick`, then per indicator
    /// `<indicator>_effect`, `_lo`, `_hi`, in [`MEASURED`]'s units.
    pub fn write_csv(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut line = String::from("tick");
        for m in MEASURED {
            let _ = write!(line, ",{0}_effect,{0}_lo,{0}_hi", m.indicator);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        for (t, row) in self.per_tick.iter().enumerate() {
            line.clear();
            let _ = write!(line, "{}", self.fork_tick + t as u64);
            for i in row {
                for x in [i.mean, i.lo, i.hi] {
                    line.push(',');
                    push(&mut line, x);
                }
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        out.flush()
    }

    /// The same as JSON lines: `{"tick":T,"<indicator>":{"mean":…,"lo":…,"hi":…},…}`.
    pub fn write_jsonl(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for (t, row) in self.per_tick.iter().enumerate() {
            let mut line = format!("{{\"tick\":{}", self.fork_tick + t as u64);
            for (m, i) in MEASURED.iter().zip(row) {
                let _ = write!(line, ",\"{}\":{{", m.indicator);
                for (n, (key, x)) in [("mean", i.mean), ("lo", i.lo), ("hi", i.hi)].into_iter().enumerate() {
                    let _ = write!(line, "{}\"{key}\":", if n > 0 { "," } else { "" });
                    if x.is_nan() { line.push_str("null") } else { push(&mut line, x) }
                }
                line.push('}');
            }
            line.push_str("}\n");
            out.write_all(line.as_bytes())?;
        }
        out.flush()
    }
}

/// A number for people: four significant figures, or whole and grouped in thousands
/// from 1,000 on.
fn figure(x: f64) -> String {
    if x.is_nan() {
        return "–".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.abs() < 1e3 {
        let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
        return format!("{x:.digits$}");
    }
    let whole = format!("{:.0}", x.abs());
    let mut grouped = String::from(if x < 0.0 { "-" } else { "" });
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

/// [`figure`] with its sign, as an effect reads.
fn signed(x: f64) -> String {
    if x > 0.0 { format!("+{}", figure(x)) } else { figure(x) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchtower_runner::Scenario;

    fn start() -> Simulation {
        let scenario = Scenario { households: 200, firms: 20, ..Scenario::default() };
        let mut session = Session::new(scenario.build().unwrap(), Schedule::default());
        session.run(Some(40), &mut Headless::default(), &mut []).unwrap();
        session.into_simulation()
    }

    #[test]
    fn the_forecast_is_the_same_whatever_the_threads_and_no_change_has_no_effect() {
        let start = start();
        let ensemble = |changes: Vec<(String, serde_json::Value)>| Ensemble {
            start: start.fork(),
            schedule: Schedule::default(),
            changes,
            seeds: pair_seeds(1, 40, 5),
            ticks: 30,
        };
        let tax = vec![("government.income_tax_rate".to_string(), serde_json::json!(0.4))];
        let csv = |f: &Forecast| {
            let mut out = Vec::new();
            f.write_csv(&mut out).unwrap();
            out
        };
        let one = ensemble(tax.clone()).run(1, &Stop::default(), |_| {}).unwrap();
        let three = ensemble(tax).run(3, &Stop::default(), |_| {}).unwrap();
        assert_eq!(one, three);
        assert_eq!(csv(&one), csv(&three));
        assert_eq!(one.per_tick.len(), 30);
        assert!(one.effects.iter().any(|e| e.mean != 0.0), "a tax rise changed nothing");
        let none = ensemble(Vec::new()).run(2, &Stop::default(), |_| {}).unwrap();
        assert!(
            none.effects.iter().all(|e| e.mean == 0.0 && e.lo == 0.0),
            "common random numbers: no change, no effect"
        );
        assert_eq!(pair_seeds(1, 40, 8)[..5], pair_seeds(1, 40, 5)[..]);
    }
}
