//! `watchtower bench`: the performance figures of docs/PERFORMANCE.md, reproducible by
//! anyone with one command each.
//!
//! Comparisons (store or not, observed or not, computing a map or not) run side by side
//! in one process, alternating rounds of each arm and reporting medians, so a machine
//! that speeds up or slows down during the run affects both arms alike.

mod embedding;
mod engine;
mod observer;
mod persistence;
mod whatif;

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use watchtower_engine::ModelKind;
use watchtower_runner::{Headless, Scenario, Session};

use crate::error::AppError;

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

/// Runs a benchmark and prints its results.
pub fn bench(args: BenchArgs) -> Result<(), AppError> {
    let report = match args.which {
        Bench::Engine(a) => engine::run(&a)?,
        Bench::Persistence(a) => persistence::run(&a)?,
        Bench::Observer(a) => observer::run_observer(&a)?,
        Bench::Fanout(a) => observer::run_fanout(&a)?,
        Bench::Embedding(a) => embedding::run(&a)?,
        Bench::Checkpoint(a) => whatif::run_checkpoint(&a)?,
        Bench::Branches(a) => whatif::run_branches(&a)?,
    };
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report.json).expect("serialises"));
    } else {
        say!("{}", report.text);
    }
    Ok(())
}

/// A benchmark's results, for people and for scripts.
pub struct Report {
    text: String,
    json: serde_json::Value,
}

/// The economy the benchmarks measure: `households` households and one firm per ten
/// (the default economy's shape), or `agents` Boltzmann agents, from the registry's
/// defaults (no preset), built and run by the runner like any other run.
fn session(model: ModelKind, agents: usize) -> Result<Session, AppError> {
    let scenario = Scenario {
        model,
        households: agents,
        firms: (agents / 10).max(1),
        agents,
        preset: None,
        ..Scenario::default()
    };
    Ok(Session::new(scenario.build()?, scenario.schedule.clone()))
}

/// Runs `ticks` more ticks.
fn advance(session: &mut Session, ticks: u64) -> Result<(), AppError> {
    let target = session.simulation().tick() + ticks;
    session.run(Some(target), &mut Headless::default(), &mut [])?;
    Ok(())
}

/// Ticks per second over at least `seconds` (and at least 3 ticks), one tick at a time.
fn ticks_per_second(session: &mut Session, seconds: f64) -> Result<f64, AppError> {
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
