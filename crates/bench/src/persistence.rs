//! Persistence overhead: the same economy with every tick written to SQLite through the
//! writer thread, versus the engine alone, in alternating rounds.

use std::time::Instant;

use clap::Args;
use serde_json::json;
use watchtower_engine::ModelKind;
use watchtower_runner::sink::Recorder;
use watchtower_runner::workers::Pool;
use watchtower_runner::{Headless, Sink};
use watchtower_store::{RunInfo, RunStatus, Writer, WriterOptions};

use crate::error::BenchError;
use crate::{Report, loss, machine, median, session};

/// Arguments of `watchtower bench persistence`.
#[derive(Debug, Clone, Args)]
pub struct PersistenceArgs {
    /// Households (firms: one per ten).
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// Ticks per round.
    #[arg(long, default_value_t = 2_000)]
    pub ticks: u64,
    /// Rounds of each arm.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Threads lent to the engine in both arms (default: as many as `run` lends it).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Ticks per second of one round; with a store, until the last tick is committed.
fn round(args: &PersistenceArgs, store: bool) -> Result<f64, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("temporary directory", e))?;
    let writer = if store {
        let info = RunInfo {
            model: "mark0".into(),
            seed: 1,
            households: args.households as u64,
            firms: args.households as u64 / 10,
            agents: 0,
            parameters: json!({}),
            model_version: "bench".into(),
        };
        Some(Writer::start(&dir.path().join("bench.db"), &info, WriterOptions::default())?)
    } else {
        None
    };
    let mut recorder = writer.as_ref().map(|w| Recorder::new(w.sender()));
    let mut sinks: Vec<&mut dyn Sink> = recorder.iter_mut().map(|r| r as &mut dyn Sink).collect();
    let threads = args.threads.unwrap_or_else(Pool::machine_width);
    let mut sim = session(ModelKind::Mark0, args.households, threads)?;
    let started = Instant::now();
    sim.run(Some(args.ticks), &mut Headless::default(), &mut sinks)?;
    drop(sinks);
    if let Some(w) = writer {
        w.flush()?;
        let elapsed = started.elapsed();
        w.finish(RunStatus::Finished, None)?;
        return Ok(args.ticks as f64 / elapsed.as_secs_f64());
    }
    Ok(args.ticks as f64 / started.elapsed().as_secs_f64())
}

pub fn run(args: &PersistenceArgs) -> Result<Report, BenchError> {
    let (mut alone, mut stored) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        alone.push(round(args, false)?);
        stored.push(round(args, true)?);
    }
    let (a, s) = (median(&alone), median(&stored));
    let text = format!(
        "Persistence overhead: {} households, engine on {} thread(s), {} ticks a round, {} rounds each, alternating; {}\n\
         engine alone      {a:>9.1} ticks/s (median)\n\
         engine + store    {s:>9.1} ticks/s (median, every tick committed)\n\
         overhead          {:>9.2} %",
        args.households,
        args.threads.unwrap_or_else(Pool::machine_width),
        args.ticks,
        args.rounds,
        machine(),
        loss(a, s)
    );
    let json = json!({"benchmark": "persistence", "machine": machine(), "households": args.households, "ticks": args.ticks,
        "engine_threads": args.threads.unwrap_or_else(Pool::machine_width),
        "alone_ticks_per_second": alone, "store_ticks_per_second": stored, "overhead_percent": loss(a, s)});
    Ok(Report { text, json })
}
