//! Copies of a running economy: a checkpoint restored, or a fork in memory, continues
//! exactly as the original does, bit for bit, given the same commands; a checkpoint of
//! another format is refused, never misread.

mod common;

use common::{command, simulation, small_spec};
use proptest::prelude::*;
use serde_json::json;
use watchtower_engine::checkpoint::{FORMAT, MAGIC};
use watchtower_engine::{CheckpointError, ModelKind, RunSpec, Simulation};
use watchtower_protocol::GodCommand;

fn mark0(seed: u64) -> Simulation {
    simulation(small_spec(seed), "watchtower", &[])
}

fn boltzmann(seed: u64) -> Simulation {
    let spec = RunSpec { model: ModelKind::Boltzmann, agents: 2_000, ..small_spec(seed) };
    let mut registry = watchtower_engine::Registry::builtin(ModelKind::Boltzmann);
    watchtower_engine::config::apply_overrides(&mut registry, &[]).unwrap();
    Simulation::new(spec, registry).unwrap()
}

/// Every tick's telemetry as JSON text (floats written so they read back to the same
/// bits), for `ticks` ticks, submitting `commands` at their ticks (counted from now).
fn run(sim: &mut Simulation, ticks: u64, commands: &[(u64, GodCommand)]) -> Vec<String> {
    let start = sim.tick();
    (0..ticks)
        .map(|t| {
            for (_, c) in commands.iter().filter(|(at, _)| *at == t) {
                sim.submit(c.clone());
            }
            let out = sim.step().unwrap();
            assert_eq!(out.tick, start + t);
            serde_json::to_string(&*out.telemetry).unwrap()
        })
        .collect()
}

fn policy() -> Vec<(u64, GodCommand)> {
    vec![
        (10, command("a", "government.income_tax_rate", json!(0.3))),
        (200, command("b", "bank.policy_rate", json!(0.02))),
        (600, command("c", "government.unemployment_benefit_ratio", json!(0.6))),
    ]
}

fn restored(sim: &Simulation) -> Simulation {
    let bytes = sim.checkpoint().unwrap();
    Simulation::restore(&bytes).unwrap()
}

#[test]
fn a_restored_economy_runs_on_identically_for_a_thousand_ticks() {
    let mut a = mark0(11);
    run(&mut a, 1_500, &[(700, command("t", "government.income_tax_rate", json!(0.25)))]);
    let mut b = restored(&a);
    assert_eq!(b.tick(), a.tick());
    assert_eq!(b.telemetry().map(|t| t.as_ref().clone()), a.telemetry().map(|t| t.as_ref().clone()));
    assert_eq!(run(&mut a, 1_000, &policy()), run(&mut b, 1_000, &policy()));
}

#[test]
fn a_restored_boltzmann_economy_runs_on_identically_for_a_thousand_ticks() {
    let mut a = boltzmann(5);
    run(&mut a, 300, &[]);
    let mut b = restored(&a);
    assert_eq!(run(&mut a, 1_000, &[]), run(&mut b, 1_000, &[]));
}

#[test]
fn a_fork_that_receives_no_command_stays_identical_to_its_origin() {
    for mut origin in [mark0(3), boltzmann(3)] {
        run(&mut origin, 250, &[]);
        let mut fork = origin.fork();
        assert_eq!(run(&mut origin, 1_000, &[]), run(&mut fork, 1_000, &[]));
    }
}

#[test]
fn a_fork_given_a_command_diverges_and_its_origin_does_not_notice() {
    let mut origin = mark0(4);
    run(&mut origin, 100, &[]);
    let mut fork = origin.fork();
    let mut twin = origin.fork();
    let changed = run(&mut fork, 300, &[(0, command("up", "government.income_tax_rate", json!(0.4)))]);
    let base = run(&mut origin, 300, &[]);
    assert_ne!(changed, base);
    assert_eq!(base, run(&mut twin, 300, &[]), "the fork's command reached its origin");
}

#[test]
fn a_checkpoint_of_a_fresh_economy_restores_before_any_tick() {
    let a = mark0(9);
    let mut b = restored(&a);
    assert_eq!(b.tick(), 0);
    assert!(b.telemetry().is_none());
    let mut a = a;
    assert_eq!(run(&mut a, 50, &[]), run(&mut b, 50, &[]));
}

#[test]
fn a_checkpoint_keeps_waiting_commands_idle_changes_and_redenominations() {
    // Full employment at 1% inflation a tick redenominates every ~230 ticks.
    let spec = small_spec(8);
    let mut a = simulation(spec, "mark0-2015", &["firms.hiring_firing_ratio=2", "firms.bankruptcy_threshold=3"]);
    run(&mut a, 600, &[]);
    let redenominated = a.telemetry().unwrap().indicators.redenominations;
    assert!(redenominated > 0, "no redenomination to keep");
    a.submit(command("idle", "government.income_tax_rate", json!(0.1)));
    a.idle(); // applied between ticks, as a paused live economy does
    a.submit(command("waiting", "bank.policy_rate", json!(0.03)));
    let mut b = restored(&a);
    assert_eq!(b.waiting().len(), 1, "the waiting command was not kept");
    assert_eq!(b.registry().f64("government.income_tax_rate"), 0.1);
    assert_eq!(run(&mut a, 500, &[]), run(&mut b, 500, &[]));
}

#[test]
fn a_checkpoint_of_another_format_is_refused_with_a_clear_error() {
    let sim = mark0(1);
    let mut bytes = sim.checkpoint().unwrap();
    assert_eq!(&bytes[..8], &MAGIC);
    bytes[8..12].copy_from_slice(&(FORMAT + 1).to_le_bytes());
    let Err(err) = Simulation::restore(&bytes) else { panic!("a newer format was read") };
    assert!(matches!(err, CheckpointError::Format { found, .. } if found == FORMAT + 1), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("format {}", FORMAT + 1)) && message.contains("watchtower-engine"), "{message}");

    assert!(matches!(Simulation::restore(b"not a checkpoint at all"), Err(CheckpointError::NotACheckpoint)));
    let good = sim.checkpoint().unwrap();
    let cut = &good[..good.len() / 2];
    assert!(matches!(Simulation::restore(cut), Err(CheckpointError::Damaged(_))), "a truncated checkpoint was read");
}

/// A command that may be valid or not, for the property test.
fn any_command() -> impl Strategy<Value = GodCommand> {
    let keys = [
        "government.income_tax_rate",
        "government.unemployment_benefit_ratio",
        "bank.policy_rate",
        "firms.price_adjustment",
        "households.propensity_to_consume_income",
    ];
    (0..keys.len(), -0.2..1.2f64).prop_map(move |(k, x)| command("p", keys[k], json!(x)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Checkpoint at a random tick, with random commands before and after it: the
    /// restored economy and the original give the same bytes every tick.
    #[test]
    fn checkpoints_restore_exactly_at_any_tick_under_any_commands(
        seed in any::<u64>(),
        boltz in any::<bool>(),
        at in 0u64..400,
        before in prop::collection::vec((0u64..400, any_command()), 0..10),
        after in prop::collection::vec((0u64..300, any_command()), 0..10),
    ) {
        let mut a = if boltz { boltzmann(seed) } else { mark0(seed) };
        let before: Vec<_> = if boltz { Vec::new() } else { before.into_iter().filter(|(t, _)| *t < at).collect() };
        let after: Vec<_> = if boltz { Vec::new() } else { after };
        run(&mut a, at, &before);
        let mut b = restored(&a);
        prop_assert_eq!(run(&mut a, 300, &after), run(&mut b, 300, &after));
    }
}
