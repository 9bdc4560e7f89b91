//! The SIM check: with the firm sector reduced to SIM's assumptions, households and the
//! government reproduce Godley & Lavoie's model SIM (Monetary Economics, 2007, ch. 3).
//!
//! SIM: Y = C + G, T = θ·Y, YD = Y − T, C = α₁·YD + α₂·H₋₁, H = H₋₁ + YD − C. With
//! α₁ = 0.6, α₂ = 0.4, θ = 0.2, G = 20 and H₀ = 0 the book's path is Y₁ = 38.4615,
//! Y₂ = 47.9290, Y₃ = 55.9399, converging to Y* = G/θ = 100 with YD* = C* = 80, H* = 80.

use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation, config};

const FIRMS: usize = 1_000;
const HOUSEHOLDS: usize = 10_000;

/// Runs the `sim` preset with extra settings; returns (Y, YD, C, H) per tick in model
/// units (1,000 firms, so g = 0.02 is G = 20).
fn sim_path(ticks: usize, extra: &[&str]) -> Vec<(f64, f64, f64, f64)> {
    let mut registry = Registry::builtin(ModelKind::Mark0);
    let mut settings = config::preset("sim").unwrap();
    settings.extend(extra.iter().map(|s| config::parse_set(s).unwrap()));
    config::apply_overrides(&mut registry, &settings).unwrap();
    let spec = RunSpec { firms: FIRMS, households: HOUSEHOLDS, ..RunSpec::default() };
    let mut sim = Simulation::new(spec, registry).unwrap();
    let unit = 100_000.0 * HOUSEHOLDS as f64 / FIRMS as f64;
    (0..ticks)
        .map(|_| {
            let t = sim.step().unwrap().telemetry;
            let i = &t.indicators;
            assert_eq!(i.money_drift, 0);
            let y = i.gdp as f64 / unit;
            let yd = (i.wage_bill + i.welfare_paid - i.income_tax) as f64 / unit;
            let c = i.consumption as f64 / unit;
            let h = i.money_households as f64 / unit;
            (y, yd, c, h)
        })
        .collect()
}

/// SIM's own recursion, for any parameters.
fn sim_reference(ticks: usize, a1: f64, a2: f64, theta: f64, g: f64) -> Vec<f64> {
    let mut h = 0.0;
    (0..ticks)
        .map(|_| {
            let y = (g + a2 * h) / (1.0 - a1 * (1.0 - theta));
            let yd = (1.0 - theta) * y;
            h += yd - (a1 * yd + a2 * h);
            y
        })
        .collect()
}

#[test]
fn reproduces_godley_and_lavoies_published_path() {
    let path = sim_path(200, &[]);
    for (t, expected) in [(0, 38.4615), (1, 47.9290), (2, 55.9399)] {
        let y = path[t].0;
        println!("Y{} = {y:.6} (book {expected})", t + 1);
        // The book prints four decimals, so compare to its rounding.
        assert!((y - expected).abs() < 0.5e-4 + 1e-6, "Y{} = {y}, book {expected}", t + 1);
    }
    let reference = sim_reference(200, 0.6, 0.4, 0.2, 20.0);
    for (t, ((y, ..), r)) in path.iter().zip(&reference).enumerate() {
        assert!((y - r).abs() < 1e-4, "tick {t}: Y = {y}, SIM {r}");
    }
    let (y, yd, c, h) = *path.last().unwrap();
    println!("steady state: Y = {y:.4}, YD = {yd:.4}, C = {c:.4}, H = {h:.4}");
    assert!((y - 100.0).abs() < 1e-4, "Y* = G/θ = 100, got {y}");
    assert!((yd - 80.0).abs() < 1e-4 && (c - 80.0).abs() < 1e-4 && (h - 80.0).abs() < 1e-4);
}

#[test]
fn steady_state_is_g_over_theta_for_other_policies() {
    // G = 30, θ = 0.25: Y* = 120.
    let path = sim_path(300, &["government.spending_per_tick=0.03", "government.income_tax_rate=0.25"]);
    let reference = sim_reference(300, 0.6, 0.4, 0.25, 30.0);
    for ((y, ..), r) in path.iter().zip(&reference) {
        assert!((y - r).abs() < 1e-4, "Y = {y}, SIM {r}");
    }
    let y = path.last().unwrap().0;
    println!("G = 30, θ = 0.25: Y* = {y:.6}");
    assert!((y - 120.0).abs() < 1e-4, "Y* = G/θ = 120, got {y}");
}
