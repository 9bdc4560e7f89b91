//! The tick: nine phases in order, hooks on any of them, commands applied at phase 0 in
//! order and answered, telemetry captured at phase 8 from the settled state.

mod common;

use std::sync::{Arc, Mutex};

use common::{command, default_simulation, small_spec, tax};
use serde_json::json;
use watchtower_engine::Phase;
use watchtower_protocol::{ErrorCode, ParamValue};

#[test]
fn phases_run_in_order_and_every_hook_runs_once_per_tick() {
    let mut sim = default_simulation(small_spec(1));
    let seen = Arc::new(Mutex::new(Vec::new()));
    for phase in Phase::ALL {
        for n in 0..2 {
            let seen = Arc::clone(&seen);
            sim.register_hook(phase, move |ctx| {
                assert_eq!(ctx.phase(), phase);
                seen.lock().unwrap().push((ctx.tick(), phase, n));
            });
        }
    }
    sim.step().unwrap();
    sim.step().unwrap();
    let seen = seen.lock().unwrap();
    let expected: Vec<_> =
        (0..2).flat_map(|t| Phase::ALL.into_iter().flat_map(move |p| [(t, p, 0), (t, p, 1)])).collect();
    assert_eq!(*seen, expected);
}

#[test]
fn commands_submitted_at_phase_zero_apply_in_that_tick_in_order() {
    // The seeds' test_engine_command_consumption_atomicity: ten commands queued before a
    // tick are all applied in that tick's phase 0, in order.
    let mut sim = default_simulation(small_spec(1));
    let batch = Arc::new(Mutex::new((1..=10).map(|k| tax(&format!("c{k}"), k as f64 / 100.0)).collect::<Vec<_>>()));
    let feed = Arc::clone(&batch);
    sim.register_hook(Phase::Intercept, move |ctx| {
        for c in feed.lock().unwrap().drain(..) {
            ctx.submit(c);
        }
    });
    let seen_at_expect = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&seen_at_expect);
    sim.register_hook(Phase::Expect, move |ctx| {
        *seen.lock().unwrap() = Some(ctx.registry().f64("government.income_tax_rate"));
    });
    let out = sim.step().unwrap();
    assert_eq!(out.responses.len(), 10);
    for (k, r) in out.responses.iter().enumerate() {
        assert_eq!(r.id, format!("c{}", k + 1));
        assert!(r.success);
        assert_eq!(r.applied_tick, Some(0));
        assert_eq!(r.new, Some(ParamValue::Float((k + 1) as f64 / 100.0)));
        let old = if k == 0 { 0.2 } else { k as f64 / 100.0 };
        assert_eq!(r.old, Some(ParamValue::Float(old)));
    }
    // Already in force when phase 1 ran.
    assert_eq!(*seen_at_expect.lock().unwrap(), Some(0.1));
    assert!(batch.lock().unwrap().is_empty());
}

#[test]
fn bad_commands_are_answered_with_their_error_and_change_nothing() {
    let mut sim = default_simulation(small_spec(1));
    let before = sim.registry().snapshot();
    let bad = [
        (command("a", "government.income_tax", json!(0.3)), ErrorCode::UnknownKey, "did you mean"),
        (command("b", "government.income_tax_rate", json!("0.3")), ErrorCode::WrongType, "takes a number"),
        (command("c", "government.income_tax_rate", json!(null)), ErrorCode::WrongType, "not null"),
        (command("d", "government.income_tax_rate", json!([0.3])), ErrorCode::WrongType, "not a list"),
        (command("e", "government.income_tax_rate", json!(1e300)), ErrorCode::OutOfRange, "between 0 and 0.9"),
        (command("f", "sim.paused", json!(1)), ErrorCode::WrongType, "true or false"),
        (command("g", "firms.sim_reduction", json!(true)), ErrorCode::NotLive, "before the run starts"),
        (command("h", "sim.step", json!(1.5)), ErrorCode::WrongType, "whole number"),
    ];
    for (c, _, _) in &bad {
        sim.submit(c.clone());
    }
    let out = sim.step().unwrap();
    for ((c, code, needle), r) in bad.iter().zip(&out.responses) {
        assert_eq!(r.id, c.id);
        assert!(!r.success);
        assert_eq!(r.code, Some(*code), "{:?}", r);
        assert!(r.error.as_deref().unwrap().contains(needle), "{:?}", r.error);
        assert_eq!(r.applied_tick, Some(0));
    }
    assert_eq!(sim.registry().snapshot(), before);
}

#[test]
fn a_step_is_refused_unless_paused() {
    let mut sim = default_simulation(small_spec(1));
    sim.submit(command("s", "sim.step", json!(5)));
    let r = &sim.step().unwrap().responses[0];
    assert_eq!(r.code, Some(ErrorCode::NotPaused), "{r:?}");
    assert!(r.error.as_deref().unwrap().contains("pause it first"), "{r:?}");
    sim.submit(command("p", "sim.paused", json!(true)));
    sim.submit(command("s", "sim.step", json!(5)));
    sim.submit(command("z", "sim.step", json!(0)));
    let out = sim.step().unwrap();
    assert!(out.responses.iter().all(|r| r.success), "{:?}", out.responses);
}

#[test]
fn telemetry_is_captured_after_settlement_and_matches_the_state() {
    // The seeds' test_telemetry_snapshot_integrity, at the engine level.
    let mut sim = default_simulation(small_spec(3));
    let captured = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&captured);
    sim.register_hook(Phase::Broadcast, move |ctx| {
        *sink.lock().unwrap() = ctx.telemetry().cloned();
        assert_eq!(ctx.money_drift(), 0);
    });
    for _ in 0..20 {
        sim.step().unwrap();
    }
    let published = captured.lock().unwrap().clone().unwrap();
    assert_eq!(published.tick, 19);
    assert_eq!(*published, sim.capture().unwrap());
    let i = &published.indicators;
    let total = i.money_households + i.money_firms + i.money_government + i.money_bank + i.money_issuer + i.money_other;
    assert_eq!(total, 0);
    assert_eq!(i.money_drift, 0);
}

#[test]
fn idle_cycles_apply_commands_without_ticking() {
    let mut sim = default_simulation(small_spec(1));
    sim.step().unwrap();
    sim.submit(command("p", "sim.paused", json!(true)));
    let responses = sim.idle();
    assert_eq!(sim.tick(), 1);
    assert_eq!(responses[0].applied_tick, Some(1));
    assert_eq!(sim.registry().get("sim.paused"), Some(ParamValue::Bool(true)));
}
