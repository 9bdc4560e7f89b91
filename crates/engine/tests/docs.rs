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
/// own); the file at the repository root, which users read, is a symbolic link to it, so
/// there is one file to edit.
#[test]
#[cfg(unix)]
fn the_root_economy_params_yaml_is_a_link_to_the_engines() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../economy_params.yaml");
    let target = std::fs::read_link(root).expect("economy_params.yaml at the root is a symbolic link");
    assert_eq!(target, std::path::Path::new("crates/engine/economy_params.yaml"));
    assert_eq!(std::fs::read_to_string(root).unwrap(), watchtower_engine::registry::BUILTIN_REGISTRY);
}
