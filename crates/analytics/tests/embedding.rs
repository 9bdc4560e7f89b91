//! The embedding map from a real economy: finite, reproducible, and separating employed
//! from unemployed households.

use watchtower_analytics::{Options, embed, knn_agreement};
use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation};

fn features(limit: usize) -> watchtower_protocol::FeatureTable {
    let spec = RunSpec { households: 4_000, firms: 400, ..RunSpec::default() };
    let mut sim = Simulation::new(spec, Registry::builtin(ModelKind::Mark0)).unwrap();
    for _ in 0..200 {
        sim.step().unwrap();
    }
    sim.agent_features(limit)
}

#[test]
fn the_map_is_finite_reproducible_and_separates_the_unemployed() {
    let table = features(1_000);
    assert_eq!(table.rows.len(), 1_000);
    assert_eq!(table.tick, 199);
    let options = Options { epochs: 400, ..Options::default() };
    let mut last_progress = 0.0;
    let map = embed(&table, &options, &mut |p| {
        assert!(p >= last_progress);
        last_progress = p;
    })
    .unwrap();
    assert!((last_progress - 1.0).abs() < 1e-9);
    assert_eq!(map.points.len(), 1_000);
    assert!(map.points.iter().all(|p| p.x.is_finite() && p.y.is_finite()));
    let again = embed(&table, &options, &mut |_| {}).unwrap();
    assert_eq!(map.points, again.points, "same table, same seed, same map");

    println!("{} points in {} ms", map.points.len(), map.took_ms);
    let agreement = knn_agreement(&map.points, "household", 10);
    for a in &agreement {
        println!(
            "{:>10} households: {:>4}, 10-NN majority agreement {:.3} (chance {:.3})",
            a.label, a.count, a.agreement, a.chance
        );
    }
    let unemployed = agreement.iter().find(|a| a.label == "unemployed").expect("some unemployed households");
    let employed = agreement.iter().find(|a| a.label == "employed").unwrap();
    assert!(unemployed.count > 20, "the test needs some unemployed households");
    assert!(unemployed.agreement > 0.9 && unemployed.chance < 0.01, "{unemployed:?}");
    assert!(employed.agreement > 0.95, "{employed:?}");
}

#[test]
fn too_few_agents_is_a_clear_error() {
    let table = features(50);
    let err = embed(&table, &Options::default(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("too few"), "{err}");
}
