//! Threads never change a number: a run lent 1, 2 or 4 threads (the runner's real pool)
//! gives the same telemetry, byte for byte, for both models. Mark-0 runs at 20,000
//! households, so every household phase has five chunks to share out, with commands
//! mid-run; Boltzmann shuffles the next tick's order beside this tick's exchange.

use std::sync::Arc;

use watchtower_engine::Simulation;
use watchtower_engine::workers::{Task, Workers};
use watchtower_runner::Scenario;
use watchtower_runner::workers::Pool;

/// Every tick's telemetry as JSON lines, with `workers` lent to the simulation.
fn telemetry(mut sim: Simulation, ticks: u64, workers: Arc<dyn Workers>) -> Vec<u8> {
    sim.set_workers(workers);
    let mut out = Vec::new();
    for tick in 0..ticks {
        if tick == 40 {
            sim.submit(command("a", "government.income_tax_rate", 0.3));
        }
        if tick == 90 {
            sim.submit(command("b", "bank.policy_rate", 0.01));
        }
        let t = sim.step().unwrap().telemetry;
        serde_json::to_writer(&mut out, &*t).unwrap();
        out.push(b'\n');
    }
    out
}

fn command(id: &str, key: &str, value: f64) -> watchtower_protocol::GodCommand {
    watchtower_protocol::GodCommand { id: id.into(), key: key.into(), value: serde_json::json!(value) }
}

/// Runs the tasks in reverse order on the calling thread while claiming to be four
/// wide, so every phase takes its parallel path with the chunks done out of order.
#[derive(Debug)]
struct Backwards;

impl Workers for Backwards {
    fn run(&self, tasks: &mut [Task<'_>]) {
        for task in tasks.iter_mut().rev() {
            task();
        }
    }

    fn width(&self) -> usize {
        4
    }
}

fn same_for_any_threads(scenario: Scenario, ticks: u64) {
    let one = telemetry(scenario.build().unwrap(), ticks, Pool::new(1).unwrap());
    for workers in [Pool::new(2).unwrap() as Arc<dyn Workers>, Pool::new(4).unwrap(), Arc::new(Backwards)] {
        let other = telemetry(scenario.build().unwrap(), ticks, Arc::clone(&workers));
        assert!(one == other, "{workers:?} gave other numbers than one thread");
    }
}

#[test]
fn mark0_is_bit_identical_for_any_number_of_threads() {
    let scenario = Scenario { households: 20_000, firms: 2_000, seed: 11, ..Scenario::default() };
    same_for_any_threads(scenario, 100);
}

#[test]
fn mark0_crises_are_bit_identical_for_any_number_of_threads() {
    // Defaults, revivals and the bank's losses on deposits, with every household phase
    // chunked: the 2015 setting at the crisis point.
    let mut scenario = Scenario {
        households: 20_000,
        firms: 5_000,
        seed: 3,
        preset: Some("mark0-2015".into()),
        ..Scenario::default()
    };
    scenario.set("firms.hiring_firing_ratio=2").unwrap();
    scenario.set("firms.bankruptcy_threshold=2").unwrap();
    same_for_any_threads(scenario, 100);
}

#[test]
fn boltzmann_is_bit_identical_for_any_number_of_threads() {
    same_for_any_threads(Scenario::boltzmann(20_000, 5), 200);
}
