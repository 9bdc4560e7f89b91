//! The embedding map: how long t-SNE takes, and what computing it costs the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use watchtower_analytics::{Options, embed};
use watchtower_engine::ModelKind;

use crate::error::BenchError;
use crate::{Report, advance, loss, machine, median, session, ticks_per_second};

/// Arguments of `watchtower bench embedding`.
#[derive(Debug, Clone, Args)]
pub struct EmbeddingArgs {
    /// Agents sampled per map.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 5_000])]
    pub sizes: Vec<usize>,
    /// Households of the economy ticking meanwhile (firms: one per ten).
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// Seconds per round of the ticks/s comparison.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Rounds of each arm.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

pub fn run(args: &EmbeddingArgs) -> Result<Report, BenchError> {
    let mut sim = session(ModelKind::Mark0, args.households, 1)?;
    advance(&mut sim, 200)?;
    let options = Options::default();
    let mut text = format!("Embedding map (t-SNE, one thread, {} epochs); {}\n", options.epochs, machine());
    let mut times = Vec::new();
    for &n in &args.sizes {
        let table = sim.simulation().agent_features(n);
        let started = Instant::now();
        let map = embed(&table, &options, &mut |_| {}).map_err(|e| BenchError::Harness(e.to_string()))?;
        let took = started.elapsed();
        text += &format!("  {:>6} agents: {:>7.2} s\n", map.points.len(), took.as_secs_f64());
        times.push(json!({"agents": map.points.len(), "seconds": took.as_secs_f64()}));
    }

    // The engine ticking, idle versus beside a map being computed over and over.
    let largest = *args.sizes.iter().max().unwrap_or(&5_000);
    let table = Arc::new(sim.simulation().agent_features(largest));
    let (mut idle, mut busy) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        idle.push(ticks_per_second(&mut sim, args.seconds)?);
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (table, stop, options) = (Arc::clone(&table), Arc::clone(&stop), options.clone());
            std::thread::Builder::new()
                .name("analytics".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = embed(&table, &options, &mut |_| {});
                    }
                })
                .map_err(|e| BenchError::Harness(e.to_string()))?
        };
        std::thread::sleep(Duration::from_millis(200)); // the computation under way
        busy.push(ticks_per_second(&mut sim, args.seconds)?);
        stop.store(true, Ordering::Relaxed);
        let _ = worker.join();
    }
    let (i, b) = (median(&idle), median(&busy));
    text += &format!(
        "Engine ({} households) idle:             {i:>8.1} ticks/s (median of {})\n\
         Engine while a {largest}-agent map computes: {b:>8.1} ticks/s\n\
         loss: {:.2} %",
        args.households,
        args.rounds,
        loss(i, b)
    );
    let json = json!({"benchmark": "embedding", "machine": machine(), "epochs": options.epochs, "times": times,
        "idle_ticks_per_second": idle, "computing_ticks_per_second": busy, "loss_percent": loss(i, b)});
    Ok(Report { text, json })
}
