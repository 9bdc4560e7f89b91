//! The fuzzing invariant for commands, shared by the `cargo fuzz` target (`fuzz/`) and
//! the property and corpus tests (`tests/fuzz_commands.rs`).
//!
//! Any bytes, sent as a WebSocket message or an HTTP body: parsing never panics and a
//! parse error is a sentence; a parsed command either changes exactly its key to a
//! finite value of the right type inside the range, or changes nothing and says why,
//! naming the key.

use watchtower_engine::{ModelKind, RawValue, Registry};
use watchtower_protocol::{GodCommand, ParamValue};
use watchtower_server::wire::{parse_body, parse_message};

/// Checks the invariant for `bytes`; `Err` describes a violation.
pub fn exercise(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    for parsed in [parse_message(&text), parse_body(bytes)] {
        match parsed {
            Ok(command) => apply(&command)?,
            Err(message) if message.len() < 20 => return Err(format!("unhelpful parse error: {message:?}")),
            Err(_) => {}
        }
    }
    Ok(())
}

fn apply(command: &GodCommand) -> Result<(), String> {
    let mut registry = Registry::builtin(ModelKind::Mark0);
    let before = registry.snapshot();
    match registry.apply(&command.key, &RawValue::from(&command.value)) {
        Ok(change) => {
            let spec = registry.specs().iter().find(|s| s.key == change.key).ok_or("applied an unknown key")?;
            if let ParamValue::Float(x) = change.new {
                let (lo, hi) = (spec.min.unwrap_or(f64::MIN), spec.max.unwrap_or(f64::MAX));
                let zero = spec.zero_allowed && x == 0.0;
                if !x.is_finite() || (!zero && (x < lo || x > hi)) {
                    return Err(format!("accepted {x} for {}", spec.key));
                }
            }
            if change.new.kind() != spec.kind {
                return Err(format!("accepted a {:?} for {}", change.new.kind(), spec.key));
            }
            let after = registry.snapshot();
            let changed: Vec<&str> = before
                .params
                .iter()
                .zip(&after.params)
                .filter(|(b, a)| b.value != a.value)
                .map(|(b, _)| b.key.as_str())
                .collect();
            if changed.iter().any(|k| *k != command.key) {
                return Err(format!("{} also changed {changed:?}", command.key));
            }
        }
        Err(e) => {
            if registry.snapshot() != before {
                return Err(format!("a rejected command changed the registry: {e}"));
            }
            let message = e.to_string();
            if !message.contains(&format!("`{}`", command.key)) {
                return Err(format!("the error does not name the key: {message}"));
            }
        }
    }
    Ok(())
}
