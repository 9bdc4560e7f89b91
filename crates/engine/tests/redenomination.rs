//! Prices that grow without bound are handled by audited redenominations, never by
//! floats, and an economy that leaves what integer money can hold stops with a named
//! error rather than a wrong number.

mod common;

use watchtower_engine::{EngineError, ModelError, RunSpec};

#[test]
fn runaway_prices_are_redenominated_and_the_books_still_balance() {
    // The 2015 full-employment phase has no nominal anchor: prices rise ~1% a tick.
    let spec = RunSpec { seed: 5, firms: 200, households: 2_000, ..RunSpec::default() };
    let mut sim = common::simulation(spec, "mark0-2015", &["firms.bankruptcy_threshold=3"]);
    let mut last = None;
    for _ in 0..4_000 {
        let t = sim.step().unwrap().telemetry;
        let i = &t.indicators;
        assert_eq!(i.money_drift, 0);
        assert!((0.1..10.0).contains(&i.price_level), "price level {} in the current unit", i.price_level);
        assert!(i.price_index_log10.is_finite());
        last = Some(t);
    }
    let i = &last.unwrap().indicators;
    println!("after 4,000 ticks: {} redenominations, price index 10^{:.1}", i.redenominations, i.price_index_log10);
    assert!(i.redenominations >= 10);
    assert!((i.price_index_log10 - (i.price_level.log10() + i.redenominations as f64)).abs() < 1e-9);
}

#[test]
fn an_economy_beyond_integer_money_stops_with_a_named_error() {
    // Wages indexed twice to fully adaptive expectations: real wages explode.
    let spec = RunSpec { seed: 1, firms: 100, households: 1_000, ..RunSpec::default() };
    let mut sim = common::simulation(
        spec,
        "watchtower",
        &["firms.wage_indexation=2", "households.expectation_weight_measured=1"],
    );
    let err = (0..5_000).find_map(|_| sim.step().err()).expect("the spiral leaves the representable range");
    println!("{err}");
    assert!(matches!(err, EngineError::Model { source: ModelError::Unrepresentable { .. }, .. }), "{err}");
    assert!(err.to_string().starts_with("tick "), "{err}");
}
