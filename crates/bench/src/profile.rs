//! Where a tick's time goes: each phase, the books checks after them, the telemetry
//! and its statistics.
//!
//! The engine reads no clock inside a tick; it calls a probe at each mark (a phase
//! starts, its books check starts, the capture starts, the statistics start, the tick
//! ends) and the probe, here, reads the clock. Each part of each tick is timed, and the
//! table gives each part's median over the ticks measured, which a busy machine's
//! preemptions do not move much.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use serde_json::json;
use watchtower_engine::{Mark, ModelKind, Phase};

use crate::ModelArg;
use crate::error::BenchError;
use crate::{Economy, Report, advance, machine, median};

/// Arguments of `watchtower bench profile`.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// The model.
    #[arg(long, value_enum, default_value_t = ModelArg::Mark0)]
    pub model: ModelArg,
    /// Households (or Boltzmann agents).
    #[arg(long, visible_alias = "agents", default_value_t = 100_000)]
    pub households: usize,
    /// The economy's firms, preset, settings and capture.
    #[command(flatten)]
    pub economy: Economy,
    /// Threads lent to the engine.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Ticks measured, after the warm-up.
    #[arg(long, default_value_t = 500)]
    pub ticks: u64,
    /// Ticks run before measuring.
    #[arg(long, default_value_t = 50)]
    pub warm_up: u64,
}

/// The parts of a tick, in the order of the table.
const PARTS: [&str; 12] = [
    "0 intercept",
    "1 expect",
    "2 firms",
    "3 wages",
    "4 tax",
    "5 welfare",
    "6 market",
    "7 settle",
    "books checks (after each phase)",
    "hooks",
    "telemetry: indicators",
    "telemetry: statistics",
];

fn part(mark: Mark) -> Option<usize> {
    match mark {
        Mark::Phase(p) if p <= Phase::Settle => Some(p as usize),
        Mark::Phase(_) => None,
        Mark::Books(_) => Some(8),
        Mark::Hooks(_) => Some(9),
        Mark::Capture => Some(10),
        Mark::Statistics => Some(11),
        Mark::Done => None,
    }
}

/// What the probe records: the part under way and when it began, each part's time in
/// the tick under way, and every finished tick's.
#[derive(Default)]
struct Timings {
    open: Option<(usize, Instant)>,
    current: [u64; PARTS.len()],
    started: Option<Instant>,
    ticks: Vec<([u64; PARTS.len()], u64)>,
}

impl Timings {
    fn mark(&mut self, mark: Mark) {
        let now = Instant::now();
        if let Some((part, since)) = self.open.take() {
            self.current[part] += (now - since).as_nanos() as u64;
        }
        let started = *self.started.get_or_insert(now);
        match part(mark) {
            Some(p) => self.open = Some((p, now)),
            None => {
                let whole = (now - started).as_nanos() as u64;
                self.ticks.push((std::mem::take(&mut self.current), whole));
                self.started = None;
            }
        }
    }
}

pub fn run(args: &ProfileArgs) -> Result<Report, BenchError> {
    let kind = ModelKind::from(args.model);
    let mut session = args.economy.session(kind, args.households, args.threads)?;
    advance(&mut session, args.warm_up)?;
    let timings = Arc::new(Mutex::new(Timings::default()));
    let probe = Arc::clone(&timings);
    session
        .simulation_mut()
        .set_probe(Some(Box::new(move |mark| probe.lock().expect("the probe never panics").mark(mark))));
    advance(&mut session, args.ticks)?;
    session.simulation_mut().set_probe(None);
    let ticks = std::mem::take(&mut timings.lock().expect("the probe never panics").ticks);

    let spec = session.simulation().spec().clone();
    let (agents, what) = match kind {
        ModelKind::Mark0 => {
            (spec.households + spec.firms, format!("{} households, {} firms", spec.households, spec.firms))
        }
        ModelKind::Boltzmann => (spec.agents, format!("{} agents", spec.agents)),
    };
    let per_part: Vec<f64> =
        (0..PARTS.len()).map(|p| median(&ticks.iter().map(|(parts, _)| parts[p] as f64).collect::<Vec<_>>())).collect();
    let whole = median(&ticks.iter().map(|(_, whole)| *whole as f64).collect::<Vec<_>>());
    let sum: f64 = per_part.iter().sum();
    let mut text = format!(
        "Where a tick's time goes: {} ({what}), {} thread(s), {} ticks after {} of warm-up; {}\n\
         median per tick of each part; share of the sum of the medians; ns per agent (households + firms)\n",
        kind.name(),
        args.threads,
        ticks.len(),
        args.warm_up,
        machine()
    );
    text += &format!("{:<34} {:>14} {:>8} {:>12}\n", "part", "ns/tick", "share", "ns/agent");
    let mut rows = Vec::new();
    for (name, &ns) in PARTS.iter().zip(&per_part) {
        rows.push(json!({"part": name, "ns_per_tick": ns, "share": ns / sum, "ns_per_agent": ns / agents as f64}));
        if ns > 0.0 {
            text += &format!("{name:<34} {ns:>14.0} {:>7.1}% {:>12.2}\n", 100.0 * ns / sum, ns / agents as f64);
        }
    }
    text += &format!("{:<34} {:>14.0} {:>8} {:>12.2}\n", "sum of the parts", sum, "", sum / agents as f64);
    text += &format!(
        "{:<34} {:>14.0} {:>8} {:>12.2}   ({:.0} ticks/s)",
        "whole tick (median)",
        whole,
        "",
        whole / agents as f64,
        1e9 / whole
    );
    let json = json!({"benchmark": "profile", "machine": machine(), "model": kind.name(), "households": spec.households,
        "firms": spec.firms, "agents": agents, "threads": args.threads, "ticks": ticks.len(), "parts": rows,
        "tick_ns_median": whole});
    Ok(Report { text, json })
}
