//! Fuzzing the command path in `cargo test`: the seed corpus of the `cargo fuzz` target
//! (`fuzz/corpus/commands`) replayed, and property tests over arbitrary bytes and over
//! hostile JSON (deep nesting, huge numbers, NaN and infinity spelled every way, wrong
//! types, unicode keys, megabyte messages).

#[path = "support/exercise.rs"]
mod exercise;

use exercise::exercise;
use proptest::prelude::*;

#[test]
fn the_seed_corpus_holds_the_invariant() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/commands");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("the seed corpus is in the repository") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        exercise(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 20, "only {n} seeds");
}

#[test]
fn megabyte_messages_and_deep_nesting_are_refused_cleanly() {
    let big = format!(r#"{{"type":"command","id":"big","key":"sim.paused","value":"{}"}}"#, "x".repeat(1 << 20));
    exercise(big.as_bytes()).unwrap();
    exercise("[".repeat(1 << 20).as_bytes()).unwrap();
    exercise(
        format!(r#"{{"type":"command","id":"d","key":"bank.policy_rate","value":{}}}"#, "[".repeat(10_000)).as_bytes(),
    )
    .unwrap();
}

/// Values that must never be accepted as numbers, and some that must.
const NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "-NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "1e308",
    "4.9e-324",
    "-0",
    "0",
    "0.25",
    "1",
    "2",
    "99999999999999999999999",
    "-99999999999999999999",
    "1E2",
    "0x10",
    "010",
    ".5",
    "+1",
    "\"0.3\"",
    "\"NaN\"",
    "\"Infinity\"",
    "true",
    "false",
    "null",
    "[]",
    "{}",
    "[0.3]",
    "{\"value\":0.3}",
];

fn key() -> impl Strategy<Value = String> {
    let known: Vec<String> = watchtower_engine::Registry::builtin(watchtower_engine::ModelKind::Mark0)
        .specs()
        .iter()
        .map(|s| s.key.clone())
        .collect();
    prop_oneof![
        prop::sample::select(known),
        "[a-z]{1,12}\\.[a-z_]{1,20}",
        any::<String>(),
        Just("government.income_tax_rate\u{0}".to_string()),
        Just("gövernment.incöme_tax_rate".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_break_the_invariant(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(exercise(&bytes).is_ok(), "{:?}", exercise(&bytes));
    }

    #[test]
    fn hostile_commands_never_break_the_invariant(
        key in key(),
        number in prop::sample::select(NUMBERS),
        id in any::<String>(),
        shape in 0..4u8,
    ) {
        let key = serde_json::to_string(&key).unwrap();
        let id = serde_json::to_string(&id).unwrap();
        let text = match shape {
            0 => format!(r#"{{"type":"command","id":{id},"key":{key},"value":{number}}}"#),
            1 => format!(r#"{{"id":{id},"key":{key},"value":{number}}}"#),
            2 => format!(r#"{{"type":"command","id":{id},"key":{key},"value":{number},"extra":1}}"#),
            _ => format!(r#"{{"type":"command","id":{id},"key":{key}}}"#),
        };
        prop_assert!(exercise(text.as_bytes()).is_ok(), "{}: {:?}", text, exercise(text.as_bytes()));
    }
}
