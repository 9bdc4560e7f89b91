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
