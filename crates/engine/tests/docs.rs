//! The documentation keeps up with the registry: every key is explained in docs/MODEL.md.

use watchtower_engine::{ModelKind, Registry};

#[test]
fn every_registry_key_is_documented_in_the_model_note() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/MODEL.md")).unwrap();
    for model in [ModelKind::Mark0, ModelKind::Boltzmann] {
        for spec in Registry::builtin(model).specs() {
            assert!(doc.contains(&format!("`{}`", spec.key)), "docs/MODEL.md does not mention `{}`", spec.key);
        }
    }
}

/// The registry is compiled from the engine's own copy (so the crate packages on its
/// own); the copy at the repository root, which users read and edit from, must say the
/// same thing.
#[test]
fn the_root_economy_params_yaml_is_the_engines() {
    let root = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../economy_params.yaml")).unwrap();
    assert!(
        root == watchtower_engine::registry::BUILTIN_REGISTRY,
        "economy_params.yaml at the root differs from crates/engine/economy_params.yaml: \
         edit the engine's copy and run `cp crates/engine/economy_params.yaml economy_params.yaml`"
    );
}
