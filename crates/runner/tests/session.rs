//! The one tick loop with real parts: a scenario's schedule applied and recorded, a run
//! recorded into a real SQLite file and replayed from it bit for bit, and the same
//! numbers whatever threads the engine is lent.

use std::sync::Arc;

use watchtower_engine::ModelKind;
use watchtower_protocol::AuditEntry;
use watchtower_runner::replay::{Compare, recorded};
use watchtower_runner::sink::Recorder;
use watchtower_runner::workers::Pool;
use watchtower_runner::{Cycle, Flow, Headless, Scenario, Session, Sink, SinkError};
use watchtower_store::{History, RunStatus, Writer, WriterOptions};

/// Keeps every tick's telemetry as JSON and every audit entry (a test's own sink).
#[derive(Default)]
struct Keep {
    ticks: Vec<String>,
    audit: Vec<AuditEntry>,
}

impl Sink for Keep {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(o) = cycle.outcome {
            self.ticks.push(serde_json::to_string(&*o.telemetry).unwrap());
        }
        self.audit.extend(cycle.audit.iter().cloned());
        Ok(Flow::Continue)
    }
}

fn small() -> Scenario {
    Scenario { households: 1_000, firms: 100, ..Scenario::default() }
}

#[test]
fn a_schedule_applies_its_commands_at_their_ticks_and_records_them() {
    let mut scenario = small();
    scenario
        .add_config(
            "schedule:\n  - {tick: 5, set: {government.income_tax_rate: 0.3}}\n  - {tick: 9, set: {bank.policy_rate: 0.02}}\n",
            "policy.yaml",
        )
        .unwrap();
    let mut session = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
    let mut keep = Keep::default();
    session.run(Some(12), &mut Headless::default(), &mut [&mut keep as &mut dyn Sink]).unwrap();
    assert_eq!(keep.ticks.len(), 12);
    let applied: Vec<(u64, &str, &str)> = keep
        .audit
        .iter()
        .map(|a| (a.response.applied_tick.unwrap(), a.command.key.as_str(), a.source.as_str()))
        .collect();
    assert_eq!(applied, [(5, "government.income_tax_rate", "schedule"), (9, "bank.policy_rate", "schedule")]);
    assert!(keep.audit.iter().all(|a| a.response.success));
    assert_eq!(session.simulation().registry().f64("government.income_tax_rate"), 0.3);
}

#[test]
fn a_recorded_run_replays_from_the_database_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchtower.db");
    let mut scenario = small();
    scenario.seed = 42;
    scenario.add_config("schedule:\n  - {tick: 40, set: {government.income_tax_rate: 0.35}}\n", "p.yaml").unwrap();
    let registry = scenario.registry().unwrap();
    let writer = Writer::start(&path, &scenario.run_info(&registry), WriterOptions::default()).unwrap();
    let mut recorder = Recorder::new(writer.sender());
    let mut session = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
    session.run(Some(120), &mut Headless::default(), &mut [&mut recorder as &mut dyn Sink]).unwrap();
    drop(recorder);
    let run_id = writer.run_id();
    writer.finish(RunStatus::Finished, None).unwrap();

    let history = History::open(&path, 1).unwrap();
    let rebuilt = recorded(&history, run_id).unwrap();
    assert_eq!(rebuilt.scenario.seed, 42);
    assert_eq!(rebuilt.scenario.schedule.entries().len(), 1, "the scheduled command was recorded");
    let mut compare = Compare::new(&history, run_id, 119);
    let mut replay = Session::new(rebuilt.scenario.build().unwrap(), rebuilt.scenario.schedule.clone());
    replay.run(Some(120), &mut Headless::default(), &mut [&mut compare as &mut dyn Sink]).unwrap();
    assert_eq!(compare.difference, None);
    assert_eq!(compare.compared, 120);

    // Without the command the run is another run, and the comparison says where.
    let mut unscheduled = rebuilt.scenario.clone();
    unscheduled.schedule = Default::default();
    let mut compare = Compare::new(&history, run_id, 119);
    let mut other = Session::new(unscheduled.build().unwrap(), Default::default());
    other.run(Some(120), &mut Headless::default(), &mut [&mut compare as &mut dyn Sink]).unwrap();
    let difference = compare.difference.expect("a difference");
    assert!(difference.starts_with("tick 40 differs first in"), "{difference}");
}

/// Every tick's telemetry of `scenario` with the engine lent `threads` threads.
fn telemetry(scenario: &Scenario, threads: usize, ticks: u64) -> Vec<String> {
    let mut sim = scenario.build().unwrap();
    sim.set_workers(Pool::new(threads).unwrap());
    let mut session = Session::new(sim, scenario.schedule.clone());
    let mut keep = Keep::default();
    session.run(Some(ticks), &mut Headless::default(), &mut [&mut keep as &mut dyn Sink]).unwrap();
    keep.ticks
}

#[test]
fn threads_never_change_a_number() {
    let boltzmann = Scenario::boltzmann(5_000, 3);
    assert_eq!(telemetry(&boltzmann, 1, 300), telemetry(&boltzmann, 4, 300));
    let economy = Scenario { households: 20_000, firms: 2_000, seed: 5, ..Scenario::default() };
    assert_eq!(economy.model, ModelKind::Mark0);
    assert_eq!(telemetry(&economy, 1, 60), telemetry(&economy, 4, 60));
    // The pool really is lent: two threads run a Boltzmann tick's two halves at once.
    assert_eq!(watchtower_engine::workers::Workers::width(&*Pool::new(2).unwrap()), 2);
    let _: Arc<Pool> = Pool::new(1).unwrap();
}

/// One idle cycle, then stop (as a paused live engine applies a command).
struct OneIdle(bool);

impl watchtower_runner::Driver for OneIdle {
    fn next(&mut self, _simulation: &watchtower_engine::Simulation) -> watchtower_runner::Next {
        if std::mem::replace(&mut self.0, true) { watchtower_runner::Next::Stop } else { watchtower_runner::Next::Idle }
    }
}

/// A driver that sends one command a cycle, as a client would.
struct OneCommandATick(u64);

impl watchtower_runner::Driver for OneCommandATick {
    fn next(&mut self, _: &watchtower_engine::Simulation) -> watchtower_runner::Next {
        watchtower_runner::Next::Tick
    }

    fn collect(&mut self, into: &mut Vec<watchtower_runner::Pending>) {
        self.0 += 1;
        into.push(watchtower_runner::Pending {
            command: watchtower_protocol::GodCommand {
                id: format!("client{}", self.0),
                key: "government.income_tax_rate".into(),
                value: serde_json::json!(0.2),
            },
            received_at_ms: 0,
            source: "test".into(),
            reply: None,
            run: None,
        });
    }
}

#[test]
fn a_forked_session_continues_as_its_origin_and_applies_no_scheduled_command_twice() {
    let mut scenario = small();
    scenario
        .add_config(
            "schedule:\n  - {tick: 5, set: {government.income_tax_rate: 0.3}}\n  - {tick: 8, set: {bank.policy_rate: 0.02}}\n",
            "policy.yaml",
        )
        .unwrap();
    let mut origin = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
    origin.run(Some(5), &mut Headless::default(), &mut []).unwrap();
    // An idle cycle at tick 5 applies tick 5's entry before the tick runs.
    let mut idle = Keep::default();
    origin.run(None, &mut OneIdle(false), &mut [&mut idle as &mut dyn Sink]).unwrap();
    assert_eq!(idle.audit.len(), 1);

    let mut fork = origin.fork();
    let (mut a, mut b) = (Keep::default(), Keep::default());
    origin.run(Some(12), &mut Headless::default(), &mut [&mut a as &mut dyn Sink]).unwrap();
    fork.run(Some(12), &mut Headless::default(), &mut [&mut b as &mut dyn Sink]).unwrap();
    assert_eq!(a.ticks.len(), 7);
    assert_eq!(a.ticks, b.ticks, "the fork stays identical to its origin");
    let keys = |k: &Keep| k.audit.iter().map(|e| e.command.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&b), ["bank.policy_rate"], "tick 5's entry was applied once, before the fork");
    assert_eq!(keys(&a), keys(&b));
}

#[test]
fn the_commands_of_the_tick_that_fails_are_answered_and_recorded() {
    // A setting that spirals out of what integer money can hold (docs/MODEL.md §4).
    let mut scenario = small();
    scenario.set("firms.wage_indexation=2").unwrap();
    scenario.set("households.expectation_weight_measured=1").unwrap();
    let mut session = Session::new(scenario.build().unwrap(), Default::default());
    let mut keep = Keep::default();
    let mut driver = OneCommandATick(0);
    let failed = session.run(Some(100_000), &mut driver, &mut [&mut keep as &mut dyn Sink]);
    assert!(failed.is_err(), "the economy did not fail");
    let last = session.abandon();
    assert_eq!(last.len(), 1, "the failing tick's command");
    assert_eq!(last[0].command.id, format!("client{}", driver.0));
    assert_eq!(last[0].response.code, Some(watchtower_protocol::ErrorCode::Unavailable));
    assert_eq!(keep.audit.len() as u64 + 1, driver.0, "every other command was answered in its tick");
}

#[test]
fn a_command_a_hook_submits_is_recorded_as_the_engines_and_no_answer_goes_astray() {
    let scenario = small();
    let mut sim = scenario.build().unwrap();
    sim.register_hook(watchtower_engine::Phase::Expect, |ctx| {
        if ctx.tick() == 1 {
            ctx.submit(watchtower_protocol::GodCommand {
                id: "hook".into(),
                key: "bank.policy_rate".into(),
                value: serde_json::json!(0.01),
            });
        }
    });
    let mut session = Session::new(sim, Default::default());
    let mut keep = Keep::default();
    let mut driver = OneCommandATick(0);
    session.run(Some(4), &mut driver, &mut [&mut keep as &mut dyn Sink]).unwrap();
    let rows: Vec<(&str, &str, &str)> =
        keep.audit.iter().map(|a| (a.command.id.as_str(), a.response.id.as_str(), a.source.as_str())).collect();
    assert_eq!(
        rows,
        [
            ("client1", "client1", "test"),
            ("client2", "client2", "test"),
            ("hook", "hook", "engine"),
            ("client3", "client3", "test"),
            ("client4", "client4", "test"),
        ]
    );
}
