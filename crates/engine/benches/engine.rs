//! Engine throughput: one iteration is one whole tick (phases 0–8, telemetry included).
//!
//! `cargo bench -p watchtower-engine` reports ticks per second as time per tick and
//! agent updates per second as element throughput: households for the economy (one firm
//! per ten households), agents for the Boltzmann model.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation};

/// Ticks run before measuring, so the economy is past its genesis transient.
const WARM_UP_TICKS: usize = 200;

fn settled(spec: RunSpec) -> Simulation {
    let mut sim = Simulation::new(spec.clone(), Registry::builtin(spec.model)).expect("valid spec");
    for _ in 0..WARM_UP_TICKS {
        sim.step().expect("tick");
    }
    sim
}

fn economy(c: &mut Criterion) {
    let mut group = c.benchmark_group("economy_tick");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for households in [1_000, 10_000, 100_000] {
        let spec = RunSpec { households, firms: households / 10, ..RunSpec::default() };
        let mut sim = settled(spec);
        group.throughput(Throughput::Elements(households as u64));
        group.bench_function(BenchmarkId::from_parameter(households), |b| b.iter(|| black_box(sim.step().unwrap())));
    }
    group.finish();
}

fn boltzmann(c: &mut Criterion) {
    let mut group = c.benchmark_group("boltzmann_tick");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for agents in [1_000, 10_000, 100_000] {
        let spec = RunSpec { model: ModelKind::Boltzmann, agents, ..RunSpec::default() };
        let mut sim = settled(spec);
        group.throughput(Throughput::Elements(agents as u64));
        group.bench_function(BenchmarkId::from_parameter(agents), |b| b.iter(|| black_box(sim.step().unwrap())));
    }
    group.finish();
}

criterion_group!(benches, economy, boltzmann);
criterion_main!(benches);
