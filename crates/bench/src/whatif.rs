//! Checkpoints and what-if branches: what a checkpoint costs (size, the engine thread's
//! share, the writer's share, a restore), how much a recorded run slows when it is
//! checkpointed, and the live tick rate with 0, 1 and 4 branches.

use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use watchtower_bridge::{Callback, Request};
use watchtower_engine::checkpoint::FORMAT;
use watchtower_engine::{ModelKind, Simulation};
use watchtower_runner::checkpoints::{CheckpointOptions, Checkpointer};
use watchtower_runner::sink::Recorder;
use watchtower_runner::{Headless, Sink, Stop};
use watchtower_store::{History, RunInfo, RunStatus, StoreError, Writer, WriterOptions, checkpoints};

use crate::error::BenchError;
use crate::served::{self, Serve, Served, tick_of};
use crate::{Report, advance, loss, machine, median, session};

/// Arguments of `watchtower bench checkpoint`.
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// Households per measurement of size and time (firms: one per ten).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 1_000_000])]
    pub sizes: Vec<usize>,
    /// Checkpoints timed per size (medians reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Households of the tick-rate comparison.
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// Ticks per round of the tick-rate comparison.
    #[arg(long, default_value_t = 5_000)]
    pub ticks: u64,
    /// Rounds of each arm (recorded, recorded and checkpointed).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Checkpoint every N ticks in the comparison (the default cadence: 1,000).
    #[arg(long, default_value_t = 1_000)]
    pub every: u64,
}

/// Arguments of `watchtower bench branches`.
#[derive(Debug, Clone, Args)]
pub struct BranchesArgs {
    /// Households (firms: one per ten).
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// Seconds measured per arm and round.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Rounds (each measures 0, 1 and 4 branches).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Serve without a store (by default every run is recorded, as `serve` does).
    #[arg(long)]
    pub no_store: bool,
}

fn info(households: usize) -> RunInfo {
    RunInfo {
        model: "mark0".into(),
        seed: 1,
        households: households as u64,
        firms: (households / 10).max(1) as u64,
        agents: 0,
        parameters: json!({}),
        model_version: "bench".into(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Size and times of one economy's checkpoints.
fn measure_size(households: usize, repeats: usize) -> Result<serde_json::Value, BenchError> {
    let mut s = session(ModelKind::Mark0, households, 1)?;
    advance(&mut s, if households > 100_000 { 20 } else { 50 })?;
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("temporary directory", e))?;
    let path = dir.path().join("bench.db");
    let writer = Writer::start(&path, &info(households), WriterOptions::default())?;
    let run = writer.run_id();
    let (mut fork, mut encode, mut compress, mut insert, mut restore) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut raw_size, mut stored_size) = (0, 0);
    for k in 0..repeats {
        let sim = s.simulation();
        let started = Instant::now();
        let copy = sim.fork();
        fork.push(ms(started.elapsed()));
        let started = Instant::now();
        let raw = copy.checkpoint().map_err(|e| BenchError::Harness(e.to_string()))?;
        encode.push(ms(started.elapsed()));
        drop(copy);
        let tick = sim.tick() + k as u64;
        let saved = writer.store().call(move |conn| checkpoints::save(conn, run, tick, FORMAT, &raw))?;
        compress.push(ms(saved.compress));
        insert.push(ms(saved.insert));
        (raw_size, stored_size) = (saved.raw_size, saved.stored_size);
        writer.flush()?;
        let history = History::open(&path, 1)?;
        let started = Instant::now();
        let (_, bytes) = history.load_checkpoint::<StoreError>(run, tick, |_| Ok(()))?.expect("just written");
        let restored = Simulation::restore(&bytes).map_err(|e| BenchError::Harness(e.to_string()))?;
        restore.push(ms(started.elapsed()));
        assert_eq!(restored.tick(), sim.tick());
    }
    writer.finish(RunStatus::Finished, None)?;
    Ok(json!({
        "households": households,
        "raw_bytes": raw_size,
        "stored_bytes": stored_size,
        "fork_ms": median(&fork),
        "encode_ms": median(&encode),
        "compress_ms": median(&compress),
        "insert_ms": median(&insert),
        "restore_ms": median(&restore),
    }))
}

/// Ticks per second of one recorded round, until the last tick is committed.
fn round(args: &CheckpointArgs, checkpointed: bool) -> Result<(f64, u64, f64), BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("temporary directory", e))?;
    let writer = Writer::start(&dir.path().join("bench.db"), &info(args.households), WriterOptions::default())?;
    let mut recorder = Recorder::new(writer.sender());
    let options = CheckpointOptions { every_ticks: args.every, every: Duration::from_secs(60) };
    let mut checkpointer = Checkpointer::new(writer.store().handle(), writer.run_id(), options, 0);
    let mut sim = session(ModelKind::Mark0, args.households, 1)?;
    let started = Instant::now();
    {
        let mut sinks: Vec<&mut dyn Sink> = vec![&mut recorder];
        if checkpointed {
            sinks.push(&mut checkpointer);
        }
        sim.run(Some(args.ticks), &mut Headless::default(), &mut sinks)?;
    }
    writer.flush()?;
    let elapsed = started.elapsed();
    let rate = args.ticks as f64 / elapsed.as_secs_f64();
    writer.finish(RunStatus::Finished, None)?;
    // The engine thread's share: time in the checkpointer over the round.
    let share = 100.0 * checkpointer.spent.as_secs_f64() / elapsed.as_secs_f64();
    Ok((rate, if checkpointed { checkpointer.taken } else { 0 }, share))
}

pub fn run_checkpoint(args: &CheckpointArgs) -> Result<Report, BenchError> {
    let mut text = format!("Checkpoints (zstd level {}); {}\n", checkpoints::LEVEL, machine());
    text += &format!(
        "{:>10} {:>12} {:>12} {:>9} {:>10} {:>11} {:>10} {:>11}\n",
        "households", "raw", "stored", "fork", "encode", "compress", "insert", "restore"
    );
    let mut sizes = Vec::new();
    for &n in &args.sizes {
        let r = measure_size(n, args.repeats)?;
        let mib = |k: &str| r[k].as_f64().unwrap_or_default() / (1024.0 * 1024.0);
        let t = |k: &str| r[k].as_f64().unwrap_or_default();
        text += &format!(
            "{n:>10} {:>8.2} MiB {:>8.2} MiB {:>6.1} ms {:>7.1} ms {:>8.1} ms {:>7.1} ms {:>8.1} ms\n",
            mib("raw_bytes"),
            mib("stored_bytes"),
            t("fork_ms"),
            t("encode_ms"),
            t("compress_ms"),
            t("insert_ms"),
            t("restore_ms")
        );
        sizes.push(r);
    }
    let (mut plain, mut checked, mut taken, mut shares) = (Vec::new(), Vec::new(), 0, Vec::new());
    for _ in 0..args.rounds {
        plain.push(round(args, false)?.0);
        let (rate, n, share) = round(args, true)?;
        checked.push(rate);
        shares.push(share);
        taken = n;
    }
    let (p, c) = (median(&plain), median(&checked));
    text += &format!(
        "\nTick rate, {} households, {} ticks a round, {} rounds each, alternating, every tick recorded:\n\
         recorded                   {p:>9.1} ticks/s (median)\n\
         recorded + checkpoints     {c:>9.1} ticks/s (median; one every {} ticks, {taken} a round)\n\
         cost, end to end           {:>9.2} % (median against median)\n\
         cost on the engine thread  {:>9.3} % (time copying the state and handing it over, median)",
        args.households,
        args.ticks,
        args.rounds,
        args.every,
        loss(p, c),
        median(&shares)
    );
    let json = json!({"benchmark": "checkpoint", "machine": machine(), "sizes": sizes,
        "households": args.households, "ticks": args.ticks, "every": args.every,
        "recorded_ticks_per_second": plain, "checkpointed_ticks_per_second": checked, "cost_percent": loss(p, c),
        "engine_thread_percent": shares});
    Ok(Report { text, json })
}

/// Asks the engine for a fork of the main run (through the bridge, as the server does).
fn fork(service: &dyn Served, main: i64) -> Result<i64, BenchError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let reply = Callback::new(move |answer| {
        let _ = tx.send(answer);
    });
    let request = Request::Fork { parent: main, set: Vec::new(), name: None, source: "bench".into(), reply };
    service.bridge().requests.try_send(request).map_err(|_| BenchError::Harness("the request queue is full".into()))?;
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(forked)) => Ok(forked.run_id),
        Ok(Err(refusal)) => Err(BenchError::Harness(refusal.message)),
        Err(_) => Err(BenchError::Harness("no answer to a fork within 60 s".into())),
    }
}

fn drop_branch(service: &dyn Served, run: i64) -> Result<(), BenchError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let reply = Callback::new(move |answer| {
        let _ = tx.send(answer);
    });
    service
        .bridge()
        .requests
        .try_send(Request::Drop { run, reply })
        .map_err(|_| BenchError::Harness("the request queue is full".into()))?;
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(refusal)) => Err(BenchError::Harness(refusal.message)),
        Err(_) => Err(BenchError::Harness("no answer to a drop within 60 s".into())),
    }
}

fn rate_for(service: &dyn Served, seconds: f64) -> f64 {
    std::thread::sleep(Duration::from_millis(500)); // settle after a fork or a drop
    let (t0, started) = (tick_of(service), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    (tick_of(service) - t0) as f64 / started.elapsed().as_secs_f64()
}

pub fn run_branches(args: &BranchesArgs, serve: &Serve) -> Result<Report, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("temporary directory", e))?;
    let (h, f) = (args.households.to_string(), (args.households / 10).max(1).to_string());
    let data = dir.path().join("data").display().to_string();
    let mut argv = vec!["--bind", "127.0.0.1:0", "--embedding-sample", "0", "--tick-rate", "0"];
    argv.extend(["--households", &h, "--firms", &f, "--data-dir", &data]);
    if args.no_store {
        argv.push("--no-store");
    }
    let stop = Stop::default();
    let service = served::start(serve, &argv, stop.clone())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while service.bridge().telemetry.load().is_none() {
        if Instant::now() > deadline {
            return Err(BenchError::Harness("the engine was not ready within 120 s".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let main = service.run_id().unwrap_or(1);
    let (mut zero, mut one, mut four) = (Vec::new(), Vec::new(), Vec::new());
    let measured = (|| -> Result<(), BenchError> {
        for _ in 0..args.rounds {
            zero.push(rate_for(service.as_ref(), args.seconds));
            let first = fork(service.as_ref(), main)?;
            one.push(rate_for(service.as_ref(), args.seconds));
            let mut rest = Vec::new();
            for _ in 0..3 {
                rest.push(fork(service.as_ref(), main)?);
            }
            four.push(rate_for(service.as_ref(), args.seconds));
            for run in std::iter::once(first).chain(rest) {
                drop_branch(service.as_ref(), run)?;
            }
        }
        Ok(())
    })();
    stop.request();
    served::stop(service)?;
    measured?;
    let (z, o, f) = (median(&zero), median(&one), median(&four));
    let store = if args.no_store { "no store" } else { "every run recorded" };
    let text = format!(
        "Live tick rate at --tick-rate 0, {} households, {store}, {} rounds of {} s per arm; {}\n\
         0 branches   {z:>9.1} ticks/s (median)\n\
         1 branch     {o:>9.1} ticks/s ({:.0}% of 0)\n\
         4 branches   {f:>9.1} ticks/s ({:.0}% of 0; {:.1} economy-ticks/s in all)",
        args.households,
        args.rounds,
        args.seconds,
        machine(),
        100.0 * o / z,
        100.0 * f / z,
        5.0 * f
    );
    let json = json!({"benchmark": "branches", "machine": machine(), "households": args.households, "store": !args.no_store,
        "zero": zero, "one": one, "four": four, "one_share": o / z, "four_share": f / z});
    Ok(Report { text, json })
}
