//! Engine alone: ticks per second, agent updates per second and memory per agent.

use clap::{Args, ValueEnum as _};
use serde_json::json;
use watchtower_engine::ModelKind;

use crate::ModelArg;
use crate::error::BenchError;
use crate::{CaptureArg, Economy, Report, advance, machine, median, process_cpu_seconds, resident_bytes};

/// Arguments of `watchtower bench engine`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Models to measure (default both).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub model: Vec<ModelArg>,
    /// Agents (households for the economy; Boltzmann agents) per measurement.
    #[arg(long, visible_alias = "households", value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000, 1_000_000])]
    pub sizes: Vec<usize>,
    /// The economy's firms, preset, settings and capture.
    #[command(flatten)]
    pub economy: Economy,
    /// Threads lent to the engine; several (e.g. 1,2) are measured as alternating arms.
    #[arg(long, value_delimiter = ',', default_values_t = [1])]
    pub threads: Vec<usize>,
    /// Seconds measured per size (after a warm-up of 50 ticks).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Rounds: each round measures every arm once, in turn; the table gives medians.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Measure in this process instead of one child process per size.
    #[arg(long, hide = true)]
    pub single: bool,
}

pub fn run(args: &EngineArgs) -> Result<Report, BenchError> {
    let models = if args.model.is_empty() { vec![ModelArg::Mark0, ModelArg::Boltzmann] } else { args.model.clone() };
    let capture = match args.economy.capture {
        CaptureArg::Full => "telemetry included",
        CaptureArg::Indicators => "indicators, no distributions",
        CaptureArg::Summary => "an experiment's summaries captured",
        CaptureArg::None => "no Gini, no distributions",
    };
    let mut text = format!("Engine alone, whole ticks ({capture}); {}\n", machine());
    if args.rounds > 1 {
        text += &format!("median of {} alternating rounds\n", args.rounds);
    }
    text += &format!(
        "{:<10} {:>10} {:>8} {:>8} {:>11} {:>10} {:>17} {:>16} {:>12}\n",
        "model",
        "agents",
        "firms",
        "threads",
        "ticks/s",
        "cpu-ticks/s",
        "agent-updates/s",
        "firm-updates/s",
        "bytes/agent"
    );
    let mut rows = Vec::new();
    for model in models {
        for &n in &args.sizes {
            // Each round measures every arm once, so the arms share the machine's mood.
            let mut rounds: Vec<Vec<serde_json::Value>> = vec![Vec::new(); args.threads.len()];
            for _ in 0..args.rounds.max(1) {
                for (arm, &threads) in args.threads.iter().enumerate() {
                    let row = if args.single {
                        measure(args, model, n, threads)?
                    } else {
                        in_child(args, model, n, threads)?
                    };
                    rounds[arm].push(row);
                }
            }
            for measured in rounds {
                let row = summarise(&measured);
                text += &format!(
                    "{:<10} {:>10} {:>8} {:>8} {:>11.1} {:>10.1} {:>17.0} {:>16.0} {:>12.0}\n",
                    row["model"].as_str().unwrap_or_default(),
                    n,
                    row["firms"].as_u64().unwrap_or_default(),
                    row["threads"].as_u64().unwrap_or_default(),
                    row["ticks_per_second"].as_f64().unwrap_or_default(),
                    row["cpu_ticks_per_second"].as_f64().unwrap_or_default(),
                    row["agent_updates_per_second"].as_f64().unwrap_or_default(),
                    row["firm_updates_per_second"].as_f64().unwrap_or_default(),
                    row["bytes_per_agent"].as_f64().unwrap_or_default(),
                );
                rows.push(row);
            }
        }
    }
    Ok(Report { text, json: json!({"benchmark": "engine", "machine": machine(), "results": rows}) })
}

/// The median of each measured figure over the rounds (every round's rates kept too).
fn summarise(rounds: &[serde_json::Value]) -> serde_json::Value {
    let mut row = rounds[0].clone();
    for key in ["ticks_per_second", "cpu_ticks_per_second", "agent_updates_per_second", "firm_updates_per_second"] {
        let values: Vec<f64> = rounds.iter().filter_map(|r| r[key].as_f64()).collect();
        row[key] = json!(median(&values));
    }
    row["rounds_ticks_per_second"] = json!(rounds.iter().map(|r| r["ticks_per_second"].clone()).collect::<Vec<_>>());
    row["rounds"] = json!(rounds.len());
    row
}

/// Measures one size in a fresh process (this binary with `--single`), so its memory is
/// its own: in one process, the allocator hands a later economy the pages an earlier
/// one freed and the resident size no longer says what each needs.
fn in_child(args: &EngineArgs, model: ModelArg, n: usize, threads: usize) -> Result<serde_json::Value, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::io("the running executable", e))?;
    let mut command = std::process::Command::new(&exe);
    command
        .args(["bench", "engine", "--single", "--json", "--model", ModelKind::from(model).name()])
        .args(["--sizes", &n.to_string(), "--seconds", &args.seconds.to_string()])
        .args(["--threads", &threads.to_string()]);
    let e = &args.economy;
    if let Some(firms) = e.firms {
        command.args(["--firms", &firms.to_string()]);
    }
    if let Some(preset) = &e.preset {
        command.args(["--preset", preset]);
    }
    for set in &e.set {
        command.args(["--set", set]);
    }
    if let Some(capture) = e.capture.to_possible_value() {
        command.args(["--capture", capture.get_name()]);
    }
    let out = command.stderr(std::process::Stdio::inherit()).output().map_err(|e| BenchError::io(&exe, e))?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError::Harness(format!("the benchmark of {n} agents failed: {e}")))?;
    Ok(report["results"][0].clone())
}

/// Runs `n` agents of `model` for `seconds` after a warm-up of 50 ticks.
fn measure(args: &EngineArgs, model: ModelArg, n: usize, threads: usize) -> Result<serde_json::Value, BenchError> {
    let kind = ModelKind::from(model);
    let before = resident_bytes();
    let mut session = args.economy.session(kind, n, threads)?;
    advance(&mut session, 50)?;
    let bytes = resident_bytes().saturating_sub(before) as f64 / n as f64;
    let (rate, cpu_rate) = rates(&mut session, args.seconds)?;
    let firms = if kind == ModelKind::Mark0 { session.simulation().spec().firms } else { 0 };
    Ok(json!({
        "model": kind.name(),
        "agents": n,
        "firms": firms,
        "threads": threads,
        "capture": args.economy.capture.to_possible_value().map(|v| v.get_name().to_string()),
        "preset": args.economy.preset,
        "settings": args.economy.set,
        "ticks_per_second": rate,
        "cpu_ticks_per_second": cpu_rate,
        "agent_updates_per_second": rate * n as f64,
        "firm_updates_per_second": rate * firms as f64,
        "bytes_per_agent": bytes,
    }))
}

/// Ticks per second of wall-clock time and of this process's CPU time (all its
/// threads), over at least `seconds` and 3 ticks. With one thread, the CPU-time rate is
/// what the engine does when it has a core to itself, however loaded the machine is.
fn rates(session: &mut watchtower_runner::Session, seconds: f64) -> Result<(f64, f64), BenchError> {
    let (started, cpu) = (std::time::Instant::now(), process_cpu_seconds());
    let mut ticks = 0u64;
    while ticks < 3 || started.elapsed().as_secs_f64() < seconds {
        advance(session, 1)?;
        ticks += 1;
    }
    let (wall, cpu) = (started.elapsed().as_secs_f64(), process_cpu_seconds() - cpu);
    Ok((ticks as f64 / wall, if cpu > 0.0 { ticks as f64 / cpu } else { 0.0 }))
}
