//! A schedule: commands applied at given ticks, in every run of a scenario.
//!
//! Written in YAML as a list under `schedule:`, in a `--config` file or an experiment
//! spec:
//!
//! ```yaml
//! schedule:
//!   - {tick: 500, set: {government.income_tax_rate: 0.3}}
//!   - tick: 800
//!     set:
//!       government.income_tax_rate: 0.2
//!       bank.policy_rate: 0.01
//! ```
//!
//! A scheduled command is an ordinary command: applied at the tick's phase 0 (before any
//! command that arrives live in the same cycle), answered, and recorded in the audit log
//! with the source `schedule`, so a replay of the run re-applies it like any other.

use watchtower_engine::config::Origin;
use watchtower_engine::{RawValue, Registry};
use watchtower_protocol::GodCommand;

use watchtower_engine::yaml::{Doc, Node, YamlError, raw_value};

/// One scheduled change.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    /// The tick at whose phase 0 it applies.
    pub tick: u64,
    /// The registry key.
    pub key: String,
    /// The value as written.
    pub value: RawValue,
    /// Where it was written, for errors.
    pub origin: Origin,
}

impl Scheduled {
    /// The command the engine applies.
    pub fn command(&self) -> GodCommand {
        GodCommand { id: format!("schedule@{}", self.tick), key: self.key.clone(), value: self.value.to_json() }
    }
}

/// Scheduled commands, in the order they apply (by tick, then as written).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    entries: Vec<Scheduled>,
}

impl Schedule {
    /// A schedule of `entries` (sorted by tick, keeping the written order within a tick).
    pub fn new(mut entries: Vec<Scheduled>) -> Self {
        entries.sort_by_key(|e| e.tick);
        Self { entries }
    }

    /// Every entry, in order.
    pub fn entries(&self) -> &[Scheduled] {
        &self.entries
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the entries of `other` after this schedule's own at the same tick.
    pub fn extend(&mut self, other: Schedule) {
        self.entries.extend(other.entries);
        self.entries.sort_by_key(|e| e.tick);
    }

    /// Reads a `schedule:` list.
    pub fn parse(doc: &Doc, node: &Node) -> Result<Self, YamlError> {
        let list = node
            .as_sequence()
            .ok_or_else(|| doc.error(node, "`schedule` must be a list of {tick: T, set: {KEY: VALUE, ...}}"))?;
        let mut entries = Vec::new();
        for item in list.iter() {
            let map = item
                .as_mapping()
                .ok_or_else(|| doc.error(item, "each `schedule` entry must be {tick: T, set: {KEY: VALUE, ...}}"))?;
            let mut tick = None;
            let mut set = None;
            for (name, value) in map.iter() {
                match name.as_str() {
                    "tick" => tick = Some(value),
                    "set" => set = Some(value),
                    other => {
                        return Err(doc.error(
                            &Node::Scalar(name.clone()),
                            format!("unknown key `{other}` in a `schedule` entry (it takes `tick` and `set`)"),
                        ));
                    }
                }
            }
            let tick_node = tick.ok_or_else(|| doc.error(item, "a `schedule` entry needs `tick`"))?;
            let tick = match raw_value(tick_node) {
                RawValue::Int(t) if t >= 0 => t as u64,
                _ => return Err(doc.error(tick_node, "`tick` must be a whole number, 0 or more")),
            };
            let set = set.ok_or_else(|| doc.error(item, "a `schedule` entry needs `set`"))?;
            let set = set.as_mapping().ok_or_else(|| doc.error(set, "`set` must be a map of KEY: VALUE"))?;
            for (key, value) in set.iter() {
                entries.push(Scheduled {
                    tick,
                    key: key.as_str().to_string(),
                    value: raw_value(value),
                    origin: doc.origin(&Node::Scalar(key.clone())),
                });
            }
        }
        Ok(Self::new(entries))
    }

    /// Checks every entry against `registry` as the engine will when it applies them
    /// (known key, type, range, changeable while running), in order, on a copy: nothing
    /// is applied.
    pub fn validate(&self, registry: &Registry) -> Result<(), YamlError> {
        let mut staged = registry.clone();
        for e in &self.entries {
            staged
                .apply(&e.key, &e.value)
                .map_err(|err| YamlError { origin: e.origin.clone(), message: err.to_string() })?;
        }
        Ok(())
    }

    /// The schedule as a JSON list of `{tick, key, value}` (how a run records it, so a
    /// resume can continue it).
    pub fn to_json(&self) -> serde_json::Value {
        self.entries
            .iter()
            .map(|e| serde_json::json!({"tick": e.tick, "key": e.key, "value": e.value.to_json()}))
            .collect::<Vec<_>>()
            .into()
    }

    /// Reads [`Schedule::to_json`]'s list back; `source` names it in errors. Entries that
    /// are not `{tick, key, value}` are refused.
    pub fn from_json(value: &serde_json::Value, source: &str) -> Result<Self, String> {
        let list = value.as_array().ok_or_else(|| format!("{source}: the schedule is not a list"))?;
        let origin = Origin { source: source.to_string(), line: None };
        let entries = list
            .iter()
            .map(|e| {
                let tick = e["tick"].as_u64();
                let key = e["key"].as_str();
                match (tick, key, e.get("value")) {
                    (Some(tick), Some(key), Some(value)) => Ok(Scheduled {
                        tick,
                        key: key.to_string(),
                        value: RawValue::from(value),
                        origin: origin.clone(),
                    }),
                    _ => Err(format!("{source}: a schedule entry is not {{tick, key, value}}: {e}")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(entries))
    }

    /// The schedule without the entries `drop` names, and where `next` (an index into
    /// this schedule) falls in it: what a what-if branch inherits, without the
    /// simulation controls that pace its whole group (they stay the main run's).
    pub fn without(&self, next: usize, drop: impl Fn(&str) -> bool) -> (Schedule, usize) {
        let kept = |entries: &[Scheduled]| entries.iter().filter(|e| !drop(&e.key)).cloned().collect::<Vec<_>>();
        let next = kept(&self.entries[..next.min(self.entries.len())]).len();
        // Already in order: filtering keeps it.
        (Self { entries: kept(&self.entries) }, next)
    }

    /// The commands due at `tick`, taken off the front (the schedule is consumed as the
    /// run goes; `next` is the index of the first entry not yet taken).
    pub(crate) fn due(&self, next: &mut usize, tick: u64) -> impl Iterator<Item = &Scheduled> {
        let start = *next;
        // Entries for ticks already past (a run resumed after them) are skipped.
        let mut i = start;
        while i < self.entries.len() && self.entries[i].tick <= tick {
            i += 1;
        }
        *next = i;
        self.entries[start..i].iter().filter(move |e| e.tick == tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchtower_engine::ModelKind;

    fn parse(text: &str) -> Result<Schedule, YamlError> {
        let doc = Doc::parse(text, "s.yaml").unwrap();
        let node = doc.root.as_mapping().unwrap().get("schedule").unwrap().clone();
        Schedule::parse(&doc, &node)
    }

    #[test]
    fn both_styles_parse_in_tick_order() {
        let s = parse(
            "schedule:\n  - tick: 800\n    set:\n      government.income_tax_rate: 0.2\n  - {tick: 500, set: {government.income_tax_rate: 0.3, sim.paused: true}}\n",
        )
        .unwrap();
        let ticks: Vec<u64> = s.entries().iter().map(|e| e.tick).collect();
        assert_eq!(ticks, [500, 500, 800]);
        assert_eq!(s.entries()[0].value, RawValue::Float(0.3));
        assert_eq!(s.entries()[1].value, RawValue::Bool(true));
        assert_eq!(s.entries()[2].origin.line, Some(4));
        s.validate(&Registry::builtin(ModelKind::Mark0)).unwrap();
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let e = parse("schedule:\n  - {tick: 5, set: {government.income_tax_rat: 0.3}}\n").unwrap();
        let err = e.validate(&Registry::builtin(ModelKind::Mark0)).unwrap_err().to_string();
        assert!(err.starts_with("s.yaml, line 2: unknown key `government.income_tax_rat`"), "{err}");
        let err = parse("schedule:\n  - {tick: -1, set: {a.b: 1}}\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("`tick` must be a whole number"), "{err}");
        let err = parse("schedule:\n  - {tick: 1, sett: {a.b: 1}}\n").unwrap_err().to_string();
        assert!(err.contains("unknown key `sett`"), "{err}");
        let e = parse("schedule:\n  - {tick: 5, set: {government.income_tax_rate: \"0.3\"}}\n").unwrap();
        let err = e.validate(&Registry::builtin(ModelKind::Mark0)).unwrap_err().to_string();
        assert!(err.contains("takes a number, not the string"), "{err}");
        let e = parse("schedule:\n  - {tick: 5, set: {firms.initial_production: 0.3}}\n").unwrap();
        let err = e.validate(&Registry::builtin(ModelKind::Mark0)).unwrap_err().to_string();
        assert!(err.contains("only be set before the run starts"), "{err}");
    }

    #[test]
    fn due_takes_each_tick_once() {
        let s = parse(
            "schedule:\n  - {tick: 2, set: {a.b: 1}}\n  - {tick: 2, set: {a.c: 1}}\n  - {tick: 5, set: {a.d: 1}}\n",
        )
        .unwrap();
        let mut next = 0;
        assert_eq!(s.due(&mut next, 0).count(), 0);
        assert_eq!(s.due(&mut next, 2).count(), 2);
        assert_eq!(s.due(&mut next, 2).count(), 0);
        assert_eq!(s.due(&mut next, 7).count(), 0, "tick 5 was passed by");
    }

    #[test]
    fn without_drops_entries_and_keeps_the_place() {
        let s = parse(
            "schedule:\n  - {tick: 2, set: {sim.paused: true, a.b: 1}}\n  - {tick: 5, set: {sim.tick_rate: 5, a.d: 1}}\n",
        )
        .unwrap();
        let (kept, next) = s.without(2, |k| k.starts_with("sim."));
        assert_eq!(kept.entries().iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["a.b", "a.d"]);
        assert_eq!(next, 1, "the entries before the place, less the dropped ones");
        let mut next = next;
        assert_eq!(kept.due(&mut next, 5).map(|e| e.key.clone()).collect::<Vec<_>>(), ["a.d"]);
    }
}
