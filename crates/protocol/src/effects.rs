//! An effect forecast: what a change does to an economy, as an effect with its 95%
//! interval, from many futures of one state.
//!
//! Computed once, in Rust (`watchtower_experiment::ensemble`), and served as is
//! (`GET /api/runs/{id}/forecast`) or printed (`run --fork-of … --seeds S`): a page draws
//! and lists these numbers, it never recomputes them. Every number carries its unit.

use serde::{Deserialize, Serialize};

/// One indicator's effect over the forecast's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// The indicator (an [`crate::Indicators`] field).
    pub indicator: String,
    /// What it is, in words.
    pub label: String,
    /// The unit of `effect`, `lo` and `hi` (a difference of shares is in percentage points).
    pub unit: String,
    /// Branch − baseline, averaged over the window, then over the pairs.
    pub effect: f64,
    /// Lower end of the 95% interval (Student's t across the pairs).
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// The baseline's level over the window, averaged over the pairs, in `level_unit`.
    pub baseline: f64,
    /// The unit of `baseline`.
    pub level_unit: String,
}

/// One tick of an effect's band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EffectPoint {
    /// The tick.
    pub tick: u64,
    /// Branch − baseline at this tick, averaged over the pairs.
    pub mean: f64,
    /// Lower end of its 95% interval.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

/// One indicator's effect tick by tick: the fan's mean and band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectBand {
    /// The indicator.
    pub indicator: String,
    /// The unit of every point's numbers (the [`Effect`]'s).
    pub unit: String,
    /// One point per tick of the window.
    pub points: Vec<EffectPoint>,
}

/// What a change does, across `seeds.len()` pairs of futures of one state: each pair a
/// baseline and a branch (the change applied at `fork_tick`) re-seeded alike (common
/// random numbers), run `ticks` ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectForecast {
    /// The run whose state was copied.
    pub run: i64,
    /// The first tick the branch runs with the change.
    pub fork_tick: u64,
    /// Ticks each future ran.
    pub ticks: u64,
    /// Each pair's seed.
    pub seeds: Vec<u64>,
    /// The change: setting to value.
    pub changes: serde_json::Map<String, serde_json::Value>,
    /// Per indicator, its effect over the window.
    pub effects: Vec<Effect>,
    /// Per indicator, its effect tick by tick.
    pub bands: Vec<EffectBand>,
}
