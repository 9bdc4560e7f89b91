//! Policy sense: from the default economy, the levers move what they should. Two runs
//! share seed and history up to the intervention, so the difference is the policy's.

mod common;

use common::{command, default_simulation};
use serde_json::json;
use watchtower_engine::RunSpec;

const WARM_UP: u64 = 500;
/// The short run: a tax hike also starts a recession (u 12% -> 22% within five ticks at
/// this seed) that erodes the base, so "short run" means the first ticks.
const WINDOW: u64 = 3;

/// Mean of `indicator` over the `WINDOW` ticks after setting `key = value` at `WARM_UP`.
fn short_run_mean(key: &str, value: Option<f64>, indicator: fn(&watchtower_protocol::Indicators) -> i64) -> f64 {
    let mut sim = default_simulation(RunSpec { seed: 11, firms: 1_000, households: 10_000, ..RunSpec::default() });
    for _ in 0..WARM_UP {
        sim.step().unwrap();
    }
    if let Some(v) = value {
        sim.submit(command("policy", key, json!(v)));
    }
    let total: i64 = (0..WINDOW).map(|_| indicator(&sim.step().unwrap().telemetry.indicators)).sum();
    total as f64 / WINDOW as f64 / 100.0
}

#[test]
fn a_higher_income_tax_raises_tax_revenue_in_the_short_run() {
    let key = "government.income_tax_rate";
    let base = short_run_mean(key, None, |i| i.tax_revenue);
    let raised = short_run_mean(key, Some(0.3), |i| i.tax_revenue);
    println!(
        "income tax 0.2 -> 0.3: tax revenue per tick {base:.2} -> {raised:.2} ({:+.1}%)",
        100.0 * (raised / base - 1.0)
    );
    assert!(raised > base * 1.2, "revenue should rise with the rate: {base} -> {raised}");
}

#[test]
fn a_higher_benefit_ratio_raises_welfare_paid() {
    let key = "government.unemployment_benefit_ratio";
    let base = short_run_mean(key, None, |i| i.welfare_paid);
    let raised = short_run_mean(key, Some(0.6), |i| i.welfare_paid);
    println!(
        "benefit ratio 0.4 -> 0.6: welfare paid per tick {base:.2} -> {raised:.2} ({:+.1}%)",
        100.0 * (raised / base - 1.0)
    );
    assert!(raised > base * 1.2, "welfare should rise with the benefit: {base} -> {raised}");
}
