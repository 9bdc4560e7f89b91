//! The paired table of a what-if: a baseline and a branch that ran in lockstep from the
//! same state on the same random numbers, side by side, tick by tick, with their
//! difference (branch − baseline). Written as the ticks settle, never held in memory.
//!
//! CSV: `tick`, then for every indicator `NAME_baseline`, `NAME_branch`,
//! `NAME_difference`. JSON lines: `{"tick":T,"baseline":{…},"branch":{…},"difference":{…}}`.
//! Values as reported ([`Indicators::reported`]): money in genesis currency units, so a
//! baseline and a branch that redenominated at different ticks differ continuously.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use watchtower_protocol::{IndicatorValue, Indicators, Telemetry};
use watchtower_store::Format;

use crate::session::{Cycle, Finish};
use crate::sink::{Flow, Sink, SinkError};

type Shared = Arc<Mutex<VecDeque<Arc<Telemetry>>>>;

/// The branch's side: hands each of its ticks to the table. A session settles its
/// branches before its main run, so the table finds the branch's tick waiting.
pub struct BranchTap {
    queue: Shared,
}

impl Sink for BranchTap {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            self.queue.lock().expect("not poisoned").push_back(Arc::clone(&outcome.telemetry));
        }
        Ok(Flow::Continue)
    }
}

/// Means of a few indicators over the ticks written.
#[derive(Debug, Clone, Default)]
pub struct PairedSummary {
    /// Ticks written.
    pub ticks: u64,
    /// Per indicator: (name, mean baseline, mean branch, mean difference).
    pub means: Vec<(&'static str, f64, f64, f64)>,
}

/// The baseline's side: writes one row per tick with the branch's tick beside it.
pub struct PairedTable<W: Write> {
    out: W,
    format: Format,
    queue: Shared,
    line: String,
    sums: Vec<(f64, f64)>,
    /// Ticks written.
    pub ticks: u64,
}

/// A table writing `format` to `out`, and the tap for the branch's sinks.
pub fn paired<W: Write>(out: W, format: Format) -> (PairedTable<W>, BranchTap) {
    let queue: Shared = Arc::default();
    let table = PairedTable {
        out,
        format,
        queue: Arc::clone(&queue),
        line: String::with_capacity(4096),
        sums: vec![(0.0, 0.0); Indicators::FIELDS.len()],
        ticks: 0,
    };
    (table, BranchTap { queue })
}

fn difference(a: IndicatorValue, b: IndicatorValue) -> IndicatorValue {
    match (a, b) {
        (IndicatorValue::Int(a), IndicatorValue::Int(b)) => IndicatorValue::Int(b.saturating_sub(a)),
        (IndicatorValue::Real(a), IndicatorValue::Real(b)) => IndicatorValue::Real(b - a),
        _ => IndicatorValue::Real(f64::NAN),
    }
}

impl<W: Write> PairedTable<W> {
    fn write_row(&mut self, tick: u64, base: &Indicators, branch: &Indicators) -> std::io::Result<()> {
        self.line.clear();
        let pairs: Vec<(IndicatorValue, IndicatorValue)> = base.reported().zip(branch.reported()).collect();
        for (i, (a, b)) in pairs.iter().enumerate() {
            self.sums[i].0 += a.as_f64();
            self.sums[i].1 += b.as_f64();
        }
        match self.format {
            Format::Csv => {
                if self.ticks == 0 {
                    self.line.push_str("tick");
                    for (name, _) in Indicators::FIELDS {
                        let _ = write!(self.line, ",{name}_baseline,{name}_branch,{name}_difference");
                    }
                    self.line.push('\n');
                }
                let _ = write!(self.line, "{tick}");
                for (a, b) in &pairs {
                    for v in [*a, *b, difference(*a, *b)] {
                        self.line.push(',');
                        watchtower_store::export::push_value(&mut self.line, v);
                    }
                }
            }
            Format::Jsonl => {
                let _ = write!(self.line, "{{\"tick\":{tick}");
                for (label, pick) in [("baseline", 0), ("branch", 1), ("difference", 2)] {
                    let _ = write!(self.line, ",\"{label}\":{{");
                    for (i, ((name, _), (a, b))) in Indicators::FIELDS.iter().zip(&pairs).enumerate() {
                        if i > 0 {
                            self.line.push(',');
                        }
                        let _ = write!(self.line, "\"{name}\":");
                        let v = [*a, *b, difference(*a, *b)][pick];
                        watchtower_store::export::push_value(&mut self.line, v);
                    }
                    self.line.push('}');
                }
                self.line.push('}');
            }
        }
        self.line.push('\n');
        self.ticks += 1;
        self.out.write_all(self.line.as_bytes())
    }

    /// Means of `names` over the ticks written.
    pub fn summary(&self, names: &[&'static str]) -> PairedSummary {
        let n = self.ticks.max(1) as f64;
        let means = names
            .iter()
            .filter_map(|name| {
                let i = Indicators::FIELDS.iter().position(|(f, _)| f == name)?;
                let (a, b) = self.sums[i];
                Some((*name, a / n, b / n, (b - a) / n))
            })
            .collect();
        PairedSummary { ticks: self.ticks, means }
    }
}

impl<W: Write> Sink for PairedTable<W> {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        let Some(outcome) = cycle.outcome else { return Ok(Flow::Continue) };
        let base = &outcome.telemetry;
        let branch = self.queue.lock().expect("not poisoned").pop_front();
        let Some(branch) = branch else {
            return Err(SinkError::new("paired table", format!("the branch has no tick {} (it stopped)", base.tick)));
        };
        if branch.tick != base.tick {
            return Err(SinkError::new(
                "paired table",
                format!("the branch is at tick {} and the baseline at {}", branch.tick, base.tick),
            ));
        }
        self.write_row(base.tick, &base.indicators, &branch.indicators)
            .map_err(|e| SinkError::new("paired table", e))?;
        Ok(Flow::Continue)
    }

    /// Flushes the table.
    fn finish(&mut self, _end: &Finish<'_>) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| SinkError::new("paired table", e))
    }
}
