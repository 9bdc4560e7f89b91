//! The summary a run prints at its end: the indicators an economist looks at first.

use std::path::Path;
use std::time::Duration;

use watchtower_engine::ModelKind;
use watchtower_protocol::Telemetry;

use crate::settings::money;

/// Per-tick series kept for the summary (four numbers a tick).
pub struct Summary {
    model: ModelKind,
    unemployment: Vec<f64>,
    inflation: Vec<f64>,
    gini_wealth: Vec<f64>,
    gini_income: Vec<f64>,
    max_drift: i64,
    last: Option<(i64, i64)>,
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() { 0.0 } else { xs.iter().sum::<f64>() / xs.len() as f64 }
}

fn sd(xs: &[f64]) -> f64 {
    let m = mean(xs);
    if xs.is_empty() { 0.0 } else { (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt() }
}

/// The phase of the Mark-0 phase diagram, from the second half's unemployment, as the
/// authors' wrapper classifies it.
pub fn phase(mean_u: f64, sd_u: f64) -> &'static str {
    if mean_u < 0.1 {
        "FE (full employment)"
    } else if mean_u > 0.9 {
        "FU (full unemployment)"
    } else if sd_u > 0.1 {
        "EC (endogenous crises)"
    } else {
        "RU (residual unemployment)"
    }
}

impl Summary {
    /// An empty summary.
    pub fn new(model: ModelKind) -> Self {
        Self {
            model,
            unemployment: Vec::new(),
            inflation: Vec::new(),
            gini_wealth: Vec::new(),
            gini_income: Vec::new(),
            max_drift: 0,
            last: None,
        }
    }

    /// Adds one tick.
    pub fn add(&mut self, t: &Telemetry) {
        let i = &t.indicators;
        self.unemployment.push(i.unemployment_rate);
        self.inflation.push(i.inflation);
        self.gini_wealth.push(i.gini_wealth);
        self.gini_income.push(i.gini_income);
        self.max_drift = self.max_drift.max(i.money_drift.abs());
        self.last = Some((i.gdp, i.government_debt));
    }

    fn half<'a>(&self, xs: &'a [f64]) -> &'a [f64] {
        &xs[xs.len() / 2..]
    }

    /// The summary as an aligned table.
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
            s += &row(
                "Gini of income, mean",
                format!("{:.3}", mean(&self.gini_income)),
                format!("{:.3}", mean(self.half(&self.gini_income))),
            );
        }
        s += &row(
            "Gini of wealth, mean",
            format!("{:.3}", mean(&self.gini_wealth)),
            format!("{:.3}", mean(self.half(&self.gini_wealth))),
        );
        if self.model == ModelKind::Mark0 {
            let h = self.half(&self.unemployment);
            s += &format!("  {:<28}{:>28}\n", "phase (second half)", phase(mean(h), sd(h)));
            if let Some((gdp, debt)) = self.last {
                s += &format!("  {:<28}{:>28}\n", "GDP, last tick", money(gdp));
                s += &format!("  {:<28}{:>28}\n", "government debt, end", money(debt));
            }
        }
        s += &format!("  {:<28}{:>28}", "money drift, largest", format!("{} cents", self.max_drift));
        s
    }

    /// The summary as one JSON object.
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
            "gini_wealth_mean": mean(&self.gini_wealth),
            "gini_income_mean": mean(&self.gini_income),
            "phase_second_half": if self.model == ModelKind::Mark0 { Some(phase(mean(h), sd(h))) } else { None },
            "money_drift_max": self.max_drift,
        })
    }
}
