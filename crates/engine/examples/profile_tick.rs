//! Runs ticks of a model for profiling: `cargo run --release --example profile_tick -- boltzmann 100000 2000`.
use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let model = if a[1] == "boltzmann" { ModelKind::Boltzmann } else { ModelKind::Mark0 };
    let n: usize = a[2].parse().unwrap();
    let ticks: u64 = a[3].parse().unwrap();
    let spec = RunSpec { model, agents: n, households: n, firms: (n / 10).max(1), ..RunSpec::default() };
    let mut sim = Simulation::new(spec, Registry::builtin(model)).unwrap();
    for _ in 0..50 {
        sim.step().unwrap();
    }
    let t = std::time::Instant::now();
    for _ in 0..ticks {
        sim.step().unwrap();
    }
    let s = t.elapsed().as_secs_f64();
    println!("{:.0} ticks/s, {:.1} M agent-updates/s", ticks as f64 / s, n as f64 * ticks as f64 / s / 1e6);
}
