//! The report a single run prints at its end: the indicators an economist looks at
//! first, and the economic phase of Mark-0's phase diagram.

use std::path::Path;
use std::time::Duration;

use watchtower_engine::{Capture, ModelKind};
use watchtower_protocol::genesis_units;

use crate::session::Cycle;
use crate::sink::{Flow, Sink, SinkError};

/// The regions of Mark-0's phase diagram (Gualdi et al. 2015).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EconomicPhase {
    /// Full unemployment: the economy has collapsed.
    #[serde(rename = "FU")]
    FullUnemployment,
    /// Residual unemployment: a steady state with some unemployment.
    #[serde(rename = "RU")]
    ResidualUnemployment,
    /// Endogenous crises: unemployment swings in waves.
    #[serde(rename = "EC")]
    EndogenousCrises,
    /// Full employment.
    #[serde(rename = "FE")]
    FullEmployment,
}

/// What the symbols of [`EconomicPhase::rule`] stand for.
pub const PHASE_SYMBOLS: &str =
    "⟨u⟩ and sd(u): the mean and standard deviation of the unemployment rate over the ticks after warm-up";

impl EconomicPhase {
    /// Every phase, in the order reports list them: FU, RU, EC, FE.
    pub const ALL: [EconomicPhase; 4] = [
        EconomicPhase::FullUnemployment,
        EconomicPhase::ResidualUnemployment,
        EconomicPhase::EndogenousCrises,
        EconomicPhase::FullEmployment,
    ];

    /// The phase of a run from the mean and standard deviation of its unemployment over
    /// the window after warm-up, as the authors' wrapper classifies it (docs/MODEL.md):
    /// mean u < 0.1 is FE, mean u > 0.9 is FU, otherwise sd u > 0.1 is EC and the rest RU.
    pub fn classify(mean_u: f64, sd_u: f64) -> Self {
        if mean_u < 0.1 {
            EconomicPhase::FullEmployment
        } else if mean_u > 0.9 {
            EconomicPhase::FullUnemployment
        } else if sd_u > 0.1 {
            EconomicPhase::EndogenousCrises
        } else {
            EconomicPhase::ResidualUnemployment
        }
    }

    /// The two-letter code: FU, RU, EC or FE.
    pub fn code(self) -> &'static str {
        match self {
            EconomicPhase::FullUnemployment => "FU",
            EconomicPhase::ResidualUnemployment => "RU",
            EconomicPhase::EndogenousCrises => "EC",
            EconomicPhase::FullEmployment => "FE",
        }
    }

    /// Its name, e.g. `full employment`.
    pub fn name(self) -> &'static str {
        match self {
            EconomicPhase::FullUnemployment => "full unemployment",
            EconomicPhase::ResidualUnemployment => "residual unemployment",
            EconomicPhase::EndogenousCrises => "endogenous crises",
            EconomicPhase::FullEmployment => "full employment",
        }
    }

    /// The rule of [`EconomicPhase::classify`] that gives it, in symbols ([`PHASE_SYMBOLS`]
    /// says what they are).
    pub fn rule(self) -> &'static str {
        match self {
            EconomicPhase::FullUnemployment => "⟨u⟩ > 0.9",
            EconomicPhase::ResidualUnemployment => "0.1 ≤ ⟨u⟩ ≤ 0.9 and sd(u) ≤ 0.1",
            EconomicPhase::EndogenousCrises => "0.1 ≤ ⟨u⟩ ≤ 0.9 and sd(u) > 0.1",
            EconomicPhase::FullEmployment => "⟨u⟩ < 0.1",
        }
    }

    /// The code with its name, e.g. `FE (full employment)`.
    pub fn describe(self) -> &'static str {
        match self {
            EconomicPhase::FullUnemployment => "FU (full unemployment)",
            EconomicPhase::ResidualUnemployment => "RU (residual unemployment)",
            EconomicPhase::EndogenousCrises => "EC (endogenous crises)",
            EconomicPhase::FullEmployment => "FE (full employment)",
        }
    }
}

/// The indicators [`RunReport`] reads of every tick.
const READ: [&str; 5] = ["unemployment_rate", "inflation", "money_drift", "gdp", "government_debt"];

/// The indicators it reads of the last tick only: the Gini coefficients, which order every
/// household's wealth and income, so a run that only prints its report sorts them once.
const READ_LAST: [&str; 2] = ["gini_wealth", "gini_income"];

/// The Gini coefficients of one tick.
#[derive(Debug, Clone, Copy)]
struct Ginis {
    tick: u64,
    wealth: f64,
    income: f64,
}

/// Per-tick series kept for the report (two numbers a tick, so a single run only;
/// experiments summarise as they go instead).
pub struct RunReport {
    model: ModelKind,
    /// The run's tick target: the Gini coefficients are read of the tick before it.
    target: u64,
    unemployment: Vec<f64>,
    inflation: Vec<f64>,
    /// Of the last tick, once it ran (a run stopped early has none).
    ginis: Option<Ginis>,
    max_drift: i64,
    last: Option<(f64, f64)>,
    /// [`READ`] as a capture (found once: the session asks every tick).
    reads: Capture,
    /// [`READ`] and [`READ_LAST`]: what it reads of the last tick.
    reads_last: Capture,
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() { 0.0 } else { xs.iter().sum::<f64>() / xs.len() as f64 }
}

fn sd(xs: &[f64]) -> f64 {
    let m = mean(xs);
    if xs.is_empty() { 0.0 } else { (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt() }
}

/// Genesis currency units with thousands separators and two decimals:
/// `-12345.67` → `-12,345.67`.
pub fn money(units: f64) -> String {
    let fixed = format!("{:.2}", units.abs());
    let (whole, cents) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let sign = if units < 0.0 && fixed.bytes().any(|b| (b'1'..=b'9').contains(&b)) { "-" } else { "" };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{cents}")
}

impl RunReport {
    /// An empty report of a run to the tick target `target` (its whole target, as the
    /// session's `until`: the last tick it runs is `target - 1`).
    pub fn new(model: ModelKind, target: u64) -> Self {
        let reads = Capture::only(&READ).expect("the report reads indicator fields");
        Self {
            model,
            target,
            unemployment: Vec::new(),
            inflation: Vec::new(),
            ginis: None,
            max_drift: 0,
            last: None,
            reads,
            reads_last: reads.union(Capture::only(&READ_LAST).expect("the Gini coefficients are indicators")),
        }
    }

    /// Whether `tick` is the last of the run, the one whose Gini coefficients it reads.
    fn is_last(&self, tick: u64) -> bool {
        tick.checked_add(1) == Some(self.target)
    }

    fn half<'a>(&self, xs: &'a [f64]) -> &'a [f64] {
        &xs[xs.len() / 2..]
    }

    /// The economic phase over the second half of the run (Mark-0 only).
    pub fn phase(&self) -> Option<EconomicPhase> {
        let h = self.half(&self.unemployment);
        (self.model == ModelKind::Mark0).then(|| EconomicPhase::classify(mean(h), sd(h)))
    }

    /// The report as an aligned table.
    pub fn table(&self, ticks: u64, elapsed: Duration, status: &str, place: &str, out: Option<&Path>) -> String {
        let rate = ticks as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut s = format!("{ticks} ticks in {:.2} s ({rate:.0} ticks/s), {status}; {place}\n", elapsed.as_secs_f64());
        if let Some(out) = out {
            s += &format!("indicators written to {}\n", out.display());
        }
        let row = |name: &str, whole: String, half: String| format!("  {name:<28}{whole:>14}{half:>14}\n");
        s += &row("", "whole run".into(), "second half".into());
        let pct = |x: f64| format!("{:.2}%", 100.0 * x);
        if self.model == ModelKind::Mark0 {
            let (u, h) = (&self.unemployment, self.half(&self.unemployment));
            s += &row("unemployment, mean", pct(mean(u)), pct(mean(h)));
            s += &row("unemployment, sd", pct(sd(u)), pct(sd(h)));
            s += &row("inflation per tick, mean", pct(mean(&self.inflation)), pct(mean(self.half(&self.inflation))));
        }
        let single = |name: &str, value: String| format!("  {name:<28}{value:>28}\n");
        match self.ginis {
            Some(g) => {
                if self.model == ModelKind::Mark0 {
                    s += &single(&format!("Gini of income at tick {}", g.tick), format!("{:.3}", g.income));
                }
                s += &single(&format!("Gini of wealth at tick {}", g.tick), format!("{:.3}", g.wealth));
            }
            None => s += &single("Gini of wealth", "not taken (stopped early)".into()),
        }
        if let Some(phase) = self.phase() {
            s += &format!("  {:<28}{:>28}\n", "phase (second half)", phase.describe());
            if let Some((gdp, debt)) = self.last {
                s += &format!("  {:<28}{:>28}\n", "GDP, last tick", money(gdp));
                s += &format!("  {:<28}{:>28}\n", "government debt, end", money(debt));
            }
        }
        s += &format!("  {:<28}{:>28}", "money drift, largest", format!("{} cents", self.max_drift));
        s
    }

    /// The report as one JSON object.
    pub fn to_json(&self, ticks: u64, elapsed: Duration, run_id: Option<i64>) -> serde_json::Value {
        let h = self.half(&self.unemployment);
        serde_json::json!({
            "ticks": ticks,
            "seconds": elapsed.as_secs_f64(),
            "ticks_per_second": ticks as f64 / elapsed.as_secs_f64().max(1e-9),
            "run_id": run_id,
            "unemployment_mean": mean(&self.unemployment),
            "unemployment_mean_second_half": mean(h),
            "unemployment_sd_second_half": sd(h),
            "inflation_mean": mean(&self.inflation),
            "gini_tick": self.ginis.map(|g| g.tick),
            "gini_wealth": self.ginis.map(|g| g.wealth),
            "gini_income": self.ginis.map(|g| g.income),
            "phase_second_half": self.phase().map(EconomicPhase::describe),
            "money_drift_max": self.max_drift,
        })
    }
}

impl Sink for RunReport {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            let i = &outcome.telemetry.indicators;
            self.unemployment.push(i.unemployment_rate);
            self.inflation.push(i.inflation);
            let tick = outcome.telemetry.tick;
            if self.is_last(tick) {
                self.ginis = Some(Ginis { tick, wealth: i.gini_wealth, income: i.gini_income });
            }
            self.max_drift = self.max_drift.max(i.money_drift.abs());
            let k = i.redenominations;
            self.last = Some((genesis_units(i.gdp as f64, k), genesis_units(i.government_debt as f64, k)));
        }
        Ok(Flow::Continue)
    }

    /// The indicators it keeps, no distribution: a run that only prints its report (`run
    /// --no-store`) does not order the firms' sizes and cash or take any quantile.
    fn needs(&self) -> Capture {
        self.reads_last
    }

    /// The Gini coefficients of the last tick only: before it, the indicators that need no
    /// sort.
    fn needs_at(&self, tick: u64) -> Capture {
        if self.is_last(tick) { self.reads_last } else { self.reads }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped() {
        assert_eq!(money(-1_234_567.89), "-1,234,567.89");
        assert_eq!(money(0.05), "0.05");
        assert_eq!(money(1_000.0), "1,000.00");
    }

    #[test]
    fn phases_follow_the_rule() {
        assert_eq!(EconomicPhase::classify(0.05, 0.3), EconomicPhase::FullEmployment);
        assert_eq!(EconomicPhase::classify(0.95, 0.0), EconomicPhase::FullUnemployment);
        assert_eq!(EconomicPhase::classify(0.3, 0.2), EconomicPhase::EndogenousCrises);
        assert_eq!(EconomicPhase::classify(0.3, 0.05), EconomicPhase::ResidualUnemployment);
    }
}
