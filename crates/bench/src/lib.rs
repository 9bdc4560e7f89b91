//! `watchtower bench`: the performance figures of docs/PERFORMANCE.md, reproducible by
//! anyone with one command each.
//!
//! Comparisons (store or not, observed or not, computing a map or not) run side by side
//! in one process, alternating rounds of each arm and reporting medians, so a machine
//! that speeds up or slows down during the run affects both arms alike.
//!
//! The harnesses are a library of their own so the binary's code stays wiring: the
//! binary parses [`BenchArgs`] as its `bench` subcommand, calls [`run`] with a way to
//! start its live service ([`Serve`]), and prints the [`Report`]. `bench engine` measures
//! each size in a child process of the running executable (`bench engine --single`), so
//! it expects to be called from that subcommand.

mod embedding;
mod engine;
mod error;
mod observer;
mod persistence;
mod profile;
mod served;
mod whatif;

pub use error::BenchError;
pub use served::{Serve, ServeError, Served};

use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use watchtower_engine::{Capture, ModelKind};
use watchtower_runner::workers::Pool;
use watchtower_runner::{Headless, Scenario, Session};

/// Arguments of `watchtower bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    /// Which benchmark.
    pub which: Bench,
    /// Print the results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Which benchmark.
#[derive(Debug, Clone, Subcommand)]
pub enum Bench {
    /// Engine alone: ticks/s, agent-updates/s and memory per agent, by size.
    Engine(engine::EngineArgs),
    /// Where a tick's time goes: each phase, the books checks, the telemetry, the statistics.
    Profile(profile::ProfileArgs),
    /// The economy with the store versus without it.
    Persistence(persistence::PersistenceArgs),
    /// The economy served to WebSocket clients sending commands, versus the engine alone.
    Observer(observer::ObserverArgs),
    /// Many WebSocket clients: frames per client per second, snapshot age, server CPU.
    Fanout(observer::FanoutArgs),
    /// Embedding-map time, and engine ticks/s while a map is computed versus idle.
    Embedding(embedding::EmbeddingArgs),
    /// Checkpoint size and write/restore time by size; tick-rate cost of checkpoints.
    Checkpoint(whatif::CheckpointArgs),
    /// Live tick rate at --tick-rate 0 with 0, 1 and 4 what-if branches.
    Branches(whatif::BranchesArgs),
}

/// Runs a benchmark; `serve` starts the live service the observer, fan-out and branches
/// benchmarks measure.
pub fn run(which: &Bench, serve: &Serve) -> Result<Report, BenchError> {
    match which {
        Bench::Engine(a) => engine::run(a),
        Bench::Profile(a) => profile::run(a),
        Bench::Persistence(a) => persistence::run(a),
        Bench::Observer(a) => observer::run_observer(a, serve),
        Bench::Fanout(a) => observer::run_fanout(a, serve),
        Bench::Embedding(a) => embedding::run(a),
        Bench::Checkpoint(a) => whatif::run_checkpoint(a),
        Bench::Branches(a) => whatif::run_branches(a, serve),
    }
}

/// A benchmark's results, for people and for scripts.
pub struct Report {
    text: String,
    json: serde_json::Value,
}

impl Report {
    /// The results as the table a person reads.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The results as JSON, every round's figures included.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }
}

/// The model to measure (`--model`); the binary's `run` and `serve` spell it the same
/// way, so it is defined once, here, below them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Mark-0 with a government (docs/MODEL.md).
    Mark0,
    /// The Boltzmann wealth benchmark.
    Boltzmann,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Mark0 => ModelKind::Mark0,
            ModelArg::Boltzmann => ModelKind::Boltzmann,
        }
    }
}

/// The economy a benchmark measures, beyond its size.
#[derive(Debug, Clone, Default, Args)]
pub struct Economy {
    /// Firms (Mark-0); default one per ten households, the default economy's shape.
    #[arg(long)]
    pub firms: Option<usize>,
    /// Starting point (Mark-0): watchtower, mark0-2017, mark0-2015 or sim; default the
    /// registry's defaults.
    #[arg(long)]
    pub preset: Option<String>,
    /// Override one setting, e.g. --set firms.bankruptcy_threshold=2 (applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// What the engine captures every tick.
    #[arg(long, value_enum, default_value_t = CaptureArg::Full)]
    pub capture: CaptureArg,
}

/// What the engine captures every tick (`--capture`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum CaptureArg {
    /// Every indicator and distribution (a stored, watched or replayed run).
    #[default]
    Full,
    /// Every indicator, no distribution.
    Indicators,
    /// An experiment's summaries: unemployment, inflation, real output, the Gini of
    /// wealth and government debt.
    Summary,
    /// Only the indicators that are always filled in (no Gini, no distribution).
    None,
}

/// The indicators an experiment's summary reads (`--capture summary`).
pub const SUMMARY: [&str; 5] = ["unemployment_rate", "inflation", "output_real", "gini_wealth", "government_debt"];

impl From<CaptureArg> for Capture {
    fn from(c: CaptureArg) -> Self {
        match c {
            CaptureArg::Full => Capture::FULL,
            CaptureArg::Indicators => Capture::INDICATORS,
            CaptureArg::Summary => Capture::only(&SUMMARY).expect("indicators"),
            CaptureArg::None => Capture::NONE,
        }
    }
}

impl Economy {
    /// `households` households (or `agents` Boltzmann agents), with `threads` lent to the
    /// engine, built and run by the runner like any other run.
    fn session(&self, model: ModelKind, agents: usize, threads: usize) -> Result<Session, BenchError> {
        let mut scenario = Scenario {
            model,
            households: agents,
            firms: self.firms.unwrap_or((agents / 10).max(1)),
            agents,
            preset: self.preset.clone(),
            ..Scenario::default()
        };
        if model == ModelKind::Boltzmann {
            scenario.preset = None;
        }
        for arg in &self.set {
            scenario.set(arg)?;
        }
        let mut simulation = scenario.build()?;
        if threads > 1 {
            simulation.set_workers(
                Pool::new(threads).map_err(|e| BenchError::Harness(format!("cannot start threads: {e}")))?,
            );
        }
        let mut session = Session::new(simulation, scenario.schedule.clone());
        // A benchmark reads nothing itself: it captures what it is told to, as a run
        // whose sinks read that would.
        session.require(self.capture.into());
        Ok(session)
    }
}

/// The economy the benchmarks measure: `households` households and one firm per ten
/// (the default economy's shape), or `agents` Boltzmann agents, from the registry's
/// defaults (no preset), with `threads` lent to the engine and everything captured.
fn session(model: ModelKind, agents: usize, threads: usize) -> Result<Session, BenchError> {
    Economy::default().session(model, agents, threads)
}

/// Runs `ticks` more ticks.
fn advance(session: &mut Session, ticks: u64) -> Result<(), BenchError> {
    let target = session.simulation().tick() + ticks;
    session.run(Some(target), &mut Headless::default(), &mut [])?;
    Ok(())
}

/// Ticks per second over at least `seconds` (and at least 3 ticks), one tick at a time.
fn ticks_per_second(session: &mut Session, seconds: f64) -> Result<f64, BenchError> {
    let started = Instant::now();
    let mut ticks = 0u64;
    while ticks < 3 || started.elapsed().as_secs_f64() < seconds {
        advance(session, 1)?;
        ticks += 1;
    }
    Ok(ticks as f64 / started.elapsed().as_secs_f64())
}

/// The median of `xs`.
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `1 − treated/baseline`, as a percentage: how much slower the treated arm is.
fn loss(baseline: f64, treated: f64) -> f64 {
    100.0 * (1.0 - treated / baseline)
}

/// CPU time used so far by this whole process (all threads), seconds (Linux; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesised name: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok())).sum();
    ticks as f64 / 100.0 // USER_HZ on Linux
}

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// CPU time used so far by this process's threads whose name starts with `prefix`
/// (Linux; zero elsewhere).
fn thread_cpu(prefix: &str) -> Duration {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.trim_end().starts_with(prefix) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(path.join("stat")) {
            // Fields after the parenthesised name: utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            ticks += fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            ticks += fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

/// A one-line description of the machine, for the results table.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}
