//! One way to say a setting: the same text gives the same value whether it is written
//! as `run --set`, as `run --fork-of … --set`, as an experiment's `--set`, or unquoted in
//! a spec's `set:` (or a settings file, which the engine reads with the same coercion).

use watchtower_engine::config::{self, Override};
use watchtower_engine::{ModelKind, RawValue, Registry};
use watchtower_experiment::ExperimentSpec;
use watchtower_runner::Scenario;
use watchtower_runner::branches::settings_as_changes;

/// Values of every kind, and the spellings the readers once took differently.
const TEXTS: &[&str] = &["0.3", "3", "-2", "1e3", "true", "false", "nan", ".nan", "inf", ".inf", "-.inf", "~", "high"];

fn same(a: &RawValue, b: &RawValue) -> bool {
    match (a, b) {
        (RawValue::Float(x), RawValue::Float(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

#[test]
fn the_same_text_gives_the_same_value_through_every_path() {
    let key = "government.income_tax_rate";
    for text in TEXTS {
        let arg = format!("{key}={text}");
        // run --set
        let mut scenario = Scenario::default();
        scenario.set(&arg).unwrap();
        let run = scenario.settings[0].value.clone();
        // the one parser, as `--fork-of … --set` calls it
        let fork = config::parse_set(&arg).unwrap().value;
        // a spec's `set:`, and an experiment's `--set`
        let spec = ExperimentSpec::parse_with(&format!("name: x\nticks: 10\nset:\n  {key}: {text}\n"), "x.yaml", &[]);
        let overridden = ExperimentSpec::parse_with("name: x\nticks: 10\n", "x.yaml", std::slice::from_ref(&arg));
        // a settings file (`--config`)
        let file = config::parse_overlay(&format!("government:\n  income_tax_rate: {text}\n"), "f.yaml").unwrap();
        for (path, value) in [("--fork-of --set", &fork), ("--config", &file[0].value)] {
            assert!(same(&run, value), "{text}: run --set read {run:?}, {path} read {value:?}");
        }
        // Specs are checked when read: a value the registry refuses is refused by both
        // ways of writing it, with the same message apart from where it was written.
        match (spec, overridden) {
            (Ok(spec), Ok(overridden)) => {
                let last = |s: &ExperimentSpec| s.settings.last().map(|o: &Override| o.value.clone()).unwrap();
                assert!(same(&run, &last(&spec)), "{text}: run --set read {run:?}, spec set: read {:?}", last(&spec));
                assert!(same(&run, &last(&overridden)), "{text}: experiment --set read {:?}", last(&overridden));
            }
            (Err(a), Err(b)) => {
                let (a, b) = (a.to_string(), b.to_string());
                assert_eq!(a.split_once(": ").map(|p| p.1), b.split_once(": ").map(|p| p.1), "{text}");
            }
            (a, b) => panic!("{text}: spec set: gave {a:?}, experiment --set gave {b:?}"),
        }
        // A fork's changes carry the value read, or the registry's refusal of it.
        let registry = Registry::builtin(ModelKind::Mark0);
        let refused = registry.clone().apply(key, &run).err().map(|e| e.to_string());
        let change = settings_as_changes(&registry, &[config::parse_set(&arg).unwrap()]);
        match (refused, change) {
            (None, Ok(changes)) => assert!(same(&RawValue::from(&changes[0].1), &run), "{text}"),
            (Some(why), Err(e)) => assert_eq!(why, e, "{text}"),
            (r, c) => panic!("{text}: the registry says {r:?}, the fork {c:?}"),
        }
    }
}
