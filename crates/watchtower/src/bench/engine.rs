//! Engine alone: ticks per second, agent updates per second and memory per agent.

use clap::Args;
use serde_json::json;
use watchtower_engine::ModelKind;

use super::{Report, advance, machine, resident_bytes, session, ticks_per_second};
use crate::error::AppError;
use crate::settings::ModelArg;

/// Arguments of `watchtower bench engine`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Models to measure (default both).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub model: Vec<ModelArg>,
    /// Agents (households for the economy, one firm per ten) per measurement.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000, 1_000_000])]
    pub sizes: Vec<usize>,
    /// Seconds measured per size (after a warm-up of 50 ticks).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Measure in this process instead of one child process per size.
    #[arg(long, hide = true)]
    pub single: bool,
}

pub fn run(args: &EngineArgs) -> Result<Report, AppError> {
    let models = if args.model.is_empty() { vec![ModelArg::Mark0, ModelArg::Boltzmann] } else { args.model.clone() };
    let mut text = format!("Engine alone, whole ticks (telemetry included); {}\n", machine());
    text += &format!(
        "{:<10} {:>10} {:>12} {:>22} {:>16}\n",
        "model", "agents", "ticks/s", "agent-updates/s", "bytes/agent"
    );
    let mut rows = Vec::new();
    for model in models {
        for &n in &args.sizes {
            let row = if args.single { measure(model, n, args.seconds)? } else { in_child(model, n, args.seconds)? };
            text += &format!(
                "{:<10} {:>10} {:>12.1} {:>22.0} {:>16.0}\n",
                row["model"].as_str().unwrap_or_default(),
                n,
                row["ticks_per_second"].as_f64().unwrap_or_default(),
                row["agent_updates_per_second"].as_f64().unwrap_or_default(),
                row["bytes_per_agent"].as_f64().unwrap_or_default(),
            );
            rows.push(row);
        }
    }
    Ok(Report { text, json: json!({"benchmark": "engine", "machine": machine(), "results": rows}) })
}

/// Measures one size in a fresh process (this binary with `--single`), so its memory is
/// its own: in one process, the allocator hands a later economy the pages an earlier
/// one freed and the resident size no longer says what each needs.
fn in_child(model: ModelArg, n: usize, seconds: f64) -> Result<serde_json::Value, AppError> {
    let exe = std::env::current_exe().map_err(|e| AppError::io("the running executable", e))?;
    let out = std::process::Command::new(&exe)
        .args(["bench", "engine", "--single", "--json", "--model", ModelKind::from(model).name()])
        .args(["--sizes", &n.to_string(), "--seconds", &seconds.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| AppError::io(&exe, e))?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| AppError::Startup(format!("the benchmark of {n} agents failed: {e}")))?;
    Ok(report["results"][0].clone())
}

/// Runs `n` agents of `model` for `seconds` after a warm-up of 50 ticks.
fn measure(model: ModelArg, n: usize, seconds: f64) -> Result<serde_json::Value, AppError> {
    let kind = ModelKind::from(model);
    let before = resident_bytes();
    let mut session = session(kind, n)?;
    advance(&mut session, 50)?;
    let bytes = resident_bytes().saturating_sub(before) as f64 / n as f64;
    let rate = ticks_per_second(&mut session, seconds)?;
    Ok(json!({
        "model": kind.name(),
        "agents": n,
        "ticks_per_second": rate,
        "agent_updates_per_second": rate * n as f64,
        "bytes_per_agent": bytes,
    }))
}
