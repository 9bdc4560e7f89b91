//! The Boltzmann wealth model in krABMaga 0.5, written the way its examples write a
//! model: agents are boxed `Agent`s in the `Schedule`'s priority queue, the shared state
//! (here every agent's wealth) lives in the `State`, and each agent's `step` downcasts the
//! state to reach it. Each step every agent with wealth > 0 gives one unit to an agent
//! drawn uniformly from all agents.
//!
//! One difference, in krABMaga's favour: its schedule runs same-time agents in the order
//! of its priority queue, not in a fresh random order each step, so there is no shuffle.
//!
//!     cargo run --release -- 1000 10000 100000     # one JSON line per size

use std::any::Any;
use std::time::{Duration, Instant};

use krabmaga::engine::agent::Agent;
use krabmaga::engine::schedule::Schedule;
use krabmaga::engine::state::State;
use rand::Rng;

struct Economy {
    wealth: Vec<i64>,
    n: u32,
}

impl State for Economy {
    fn init(&mut self, schedule: &mut Schedule) {
        for id in 0..self.n {
            schedule.schedule_repeating(Box::new(MoneyAgent { id }), 0.0, 0);
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_state_mut(&mut self) -> &mut dyn State {
        self
    }
    fn as_state(&self) -> &dyn State {
        self
    }
    fn reset(&mut self) {}
    fn update(&mut self, _step: u64) {}
}

#[derive(Clone, Copy)]
struct MoneyAgent {
    id: u32,
}

impl Agent for MoneyAgent {
    fn step(&mut self, state: &mut dyn State) {
        let economy = state.as_any_mut().downcast_mut::<Economy>().expect("the model's state");
        let me = self.id as usize;
        if economy.wealth[me] > 0 {
            let other = rand::rng().random_range(0..economy.n) as usize;
            economy.wealth[me] -= 1;
            economy.wealth[other] += 1;
        }
    }
}

fn measure(n: u32, seconds: f64) -> serde_json::Value {
    let mut economy = Economy { wealth: vec![1; n as usize], n };
    let mut schedule = Schedule::new();
    economy.init(&mut schedule);
    for _ in 0..5 {
        schedule.step(&mut economy);
    }
    let started = Instant::now();
    let mut ticks = 0u64;
    while ticks < 3 || started.elapsed() < Duration::from_secs_f64(seconds) {
        schedule.step(&mut economy);
        ticks += 1;
    }
    let rate = ticks as f64 / started.elapsed().as_secs_f64();
    assert_eq!(economy.wealth.iter().sum::<i64>(), i64::from(n), "money is conserved");
    serde_json::json!({"framework": "krabmaga", "version": "0.5.3", "agents": n,
        "ticks_per_s": rate, "agent_steps_per_s": rate * f64::from(n)})
}

fn main() {
    let sizes: Vec<u32> = std::env::args().skip(1).map(|a| a.parse().expect("a size")).collect();
    for n in if sizes.is_empty() { vec![1_000, 10_000, 100_000] } else { sizes } {
        println!("{}", measure(n, 3.0));
    }
}
