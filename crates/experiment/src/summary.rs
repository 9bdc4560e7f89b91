//! A run's summary, computed as it goes: never by holding its ticks.
//!
//! For each summarised indicator, over the window after warm-up (ticks `warmup..ticks`):
//!
//! - **mean** and **sd** by Welford's update (sd is the population standard deviation,
//!   dividing by n, as the phase rule in docs/MODEL.md uses it);
//! - **min** and **max** as they come;
//! - **p5, p50, p95**: exact (linear interpolation between order statistics, numpy's
//!   default) when the window is at most [`EXACT_QUANTILE_WINDOW`] ticks: the window's
//!   values of that indicator are kept (8 bytes a tick, at most 800 KB) and sorted at the
//!   end. A longer window uses the P² algorithm (Jain & Chlamtac 1985), five markers per
//!   quantile, in constant memory. Which method applies depends on the spec alone, so
//!   the same spec always gives the same bits.
//!
//! It also keeps a **trace**: each indicator's mean over consecutive blocks of ticks
//! (at most [`TRACE_POINTS`] blocks over the whole run, warm-up included), for the fan
//! chart of an ensemble. And the run's Mark-0 phase from the window's unemployment
//! ([`EconomicPhase::classify`]).

use serde::{Deserialize, Serialize};
use watchtower_engine::Capture;
use watchtower_protocol::Indicators;

use watchtower_runner::report::EconomicPhase;
use watchtower_runner::session::Cycle;
use watchtower_runner::sink::{Flow, Sink, SinkError};

/// Longest window whose quantiles are exact; longer windows use P².
pub const EXACT_QUANTILE_WINDOW: u64 = 100_000;

// `observe` reads the indicators into a fixed array.
const _: () = assert!(Indicators::FIELDS.len() <= 64);

/// Most points in a run's trace.
pub const TRACE_POINTS: u64 = 200;

/// The statistics of one indicator over the window. NaN where there is nothing (a run
/// that failed before its window).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Stats {
    /// The column suffixes, in the order of [`Stats::values`].
    pub const NAMES: [&'static str; 7] = ["mean", "sd", "min", "max", "p5", "p50", "p95"];

    /// Nothing measured.
    pub const EMPTY: Stats = Stats {
        mean: f64::NAN,
        sd: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        p5: f64::NAN,
        p50: f64::NAN,
        p95: f64::NAN,
    };

    /// The values in the order of [`Stats::NAMES`].
    pub fn values(&self) -> [f64; 7] {
        [self.mean, self.sd, self.min, self.max, self.p5, self.p50, self.p95]
    }
}

/// What one arm of a run (the run itself, or a fork's branch) measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// Mark-0 phase over the window; `None` for the Boltzmann model or a failed run.
    pub phase: Option<EconomicPhase>,
    /// One per summarised indicator, in the spec's order.
    pub stats: Vec<Stats>,
    /// One per summarised indicator: block means over the whole run.
    pub traces: Vec<Vec<f64>>,
}

/// A run's summary: a pure function of the spec and the run's index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's index in the plan.
    pub run: u64,
    /// Its grid point.
    pub point: u64,
    /// Its seed.
    pub seed: u64,
    /// Ticks that ran.
    pub ticks: u64,
    /// The run (with a fork: the baseline).
    pub baseline: ArmSummary,
    /// With a fork: the branch.
    pub branch: Option<ArmSummary>,
    /// Why the engine stopped early, if it did.
    pub error: Option<String>,
}

impl RunSummary {
    /// The postcard encoding stored in `run_summaries.summary`.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("summaries serialise")
    }

    /// Reads [`RunSummary::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("unreadable run summary: {e}"))
    }

    /// The branch's effect on indicator `i`'s mean: branch − baseline.
    pub fn effect(&self, i: usize) -> f64 {
        match &self.branch {
            Some(b) => b.stats[i].mean - self.baseline.stats[i].mean,
            None => f64::NAN,
        }
    }
}

/// The version of [`RunSummary::encode`]'s layout and units, stored beside it: 2 has money
/// in genesis currency units; 1 (before) had the ledger's cents, which cannot be turned
/// into genesis units afterwards (a window's mean mixes the units of its
/// redenominations), so a format-1 summary is refused rather than misread.
pub const SUMMARY_FORMAT: i64 = 2;

/// Welford's running mean and variance, with min and max.
#[derive(Debug, Clone, Default)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        if self.n == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    fn sd(&self) -> f64 {
        if self.n == 0 { f64::NAN } else { (self.m2 / self.n as f64).max(0.0).sqrt() }
    }
}

/// The P² estimate of one quantile (Jain & Chlamtac 1985): five markers whose heights
/// follow a piecewise-parabolic fit, constant memory, deterministic.
#[derive(Debug, Clone)]
pub struct P2 {
    p: f64,
    q: [f64; 5],
    n: [f64; 5],
    want: [f64; 5],
    step: [f64; 5],
    count: usize,
}

impl P2 {
    /// An estimator of the `p`-quantile (0 < p < 1).
    pub fn new(p: f64) -> Self {
        Self {
            p,
            q: [0.0; 5],
            n: [0.0, 1.0, 2.0, 3.0, 4.0],
            want: [0.0, 2.0 * p, 4.0 * p, 2.0 + 2.0 * p, 4.0],
            step: [0.0, p / 2.0, p, (1.0 + p) / 2.0, 1.0],
            count: 0,
        }
    }

    /// Adds an observation.
    pub fn push(&mut self, x: f64) {
        if self.count < 5 {
            self.q[self.count] = x;
            self.count += 1;
            if self.count == 5 {
                self.q.sort_by(f64::total_cmp);
            }
            return;
        }
        self.count += 1;
        let k = if x < self.q[0] {
            self.q[0] = x;
            0
        } else if x >= self.q[4] {
            self.q[4] = x;
            3
        } else {
            (0..4).find(|&i| x < self.q[i + 1]).unwrap_or(3)
        };
        for i in k + 1..5 {
            self.n[i] += 1.0;
        }
        for i in 0..5 {
            self.want[i] += self.step[i];
        }
        for i in 1..4 {
            let d = self.want[i] - self.n[i];
            if (d >= 1.0 && self.n[i + 1] - self.n[i] > 1.0) || (d <= -1.0 && self.n[i - 1] - self.n[i] < -1.0) {
                let s = d.signum();
                let parabolic = self.q[i]
                    + s / (self.n[i + 1] - self.n[i - 1])
                        * ((self.n[i] - self.n[i - 1] + s) * (self.q[i + 1] - self.q[i]) / (self.n[i + 1] - self.n[i])
                            + (self.n[i + 1] - self.n[i] - s) * (self.q[i] - self.q[i - 1])
                                / (self.n[i] - self.n[i - 1]));
                self.q[i] = if self.q[i - 1] < parabolic && parabolic < self.q[i + 1] {
                    parabolic
                } else {
                    let j = if s > 0.0 { i + 1 } else { i - 1 };
                    self.q[i] + s * (self.q[j] - self.q[i]) / (self.n[j] - self.n[i])
                };
                self.n[i] += s;
            }
        }
    }

    /// The estimate (exact for up to five observations).
    pub fn value(&self) -> f64 {
        if self.count >= 5 {
            return self.q[2];
        }
        let mut seen = self.q[..self.count].to_vec();
        seen.sort_by(f64::total_cmp);
        quantile(&seen, self.p)
    }
}

/// The `p`-quantile of sorted `xs` by linear interpolation between order statistics
/// (numpy's default, R's type 7); NaN for no values.
pub fn quantile(xs: &[f64], p: f64) -> f64 {
    match xs.len() {
        0 => f64::NAN,
        1 => xs[0],
        n => {
            let h = (n - 1) as f64 * p;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            xs[lo] + (h - lo as f64) * (xs[hi] - xs[lo])
        }
    }
}

/// The quantiles p5, p50, p95 of one indicator.
#[derive(Debug, Clone)]
enum Quantiles {
    Exact(Vec<f64>),
    Streaming(Box<[P2; 3]>),
}

/// One indicator being summarised.
#[derive(Debug, Clone)]
struct Tracker {
    field: usize,
    moments: Moments,
    quantiles: Quantiles,
    trace: Vec<f64>,
    block_sum: f64,
    block_n: u64,
}

/// A sink that summarises a run as it goes.
#[derive(Debug, Clone)]
pub struct SummarySink {
    warmup: u64,
    block: u64,
    mark0: bool,
    trackers: Vec<Tracker>,
    unemployment: Moments,
    unemployment_field: usize,
    ticks: u64,
    /// What it reads of a tick it reads (found once: the session asks every tick).
    reads: Capture,
}

impl SummarySink {
    /// A summary of `indicators` (names of [`Indicators::FIELDS`]) over ticks
    /// `warmup..ticks`; `mark0` says whether the run has a Mark-0 phase; `trace`
    /// whether to keep the block means (an ensemble's fan chart needs them; a grid's
    /// runs skip them, so a summary stays a few hundred bytes).
    pub fn new(indicators: &[String], ticks: u64, warmup: u64, mark0: bool, trace: bool) -> Self {
        let field = |name: &str| {
            Indicators::FIELDS.iter().position(|(f, _)| *f == name).unwrap_or_else(|| panic!("no indicator `{name}`"))
        };
        let window = ticks.saturating_sub(warmup);
        let trackers = indicators
            .iter()
            .map(|name| Tracker {
                field: field(name),
                moments: Moments::default(),
                quantiles: if window <= EXACT_QUANTILE_WINDOW {
                    Quantiles::Exact(Vec::with_capacity(window as usize))
                } else {
                    Quantiles::Streaming(Box::new([P2::new(0.05), P2::new(0.5), P2::new(0.95)]))
                },
                trace: Vec::new(),
                block_sum: 0.0,
                block_n: 0,
            })
            .collect();
        let mut sink = Self {
            warmup,
            block: if trace { ticks.div_ceil(TRACE_POINTS).max(1) } else { u64::MAX },
            mark0,
            trackers,
            unemployment: Moments::default(),
            unemployment_field: field("unemployment_rate"),
            ticks: 0,
            reads: Capture::NONE,
        };
        sink.reads = sink.capture();
        sink
    }

    /// The indicators this sink reads, and nothing else: a run of an experiment then
    /// skips what no summary uses (the Gini coefficients, the distributions).
    fn capture(&self) -> Capture {
        let mut names: Vec<&str> = self.trackers.iter().map(|t| Indicators::FIELDS[t.field].0).collect();
        if self.mark0 {
            names.push(Indicators::FIELDS[self.unemployment_field].0);
        }
        Capture::only(&names).expect("the trackers hold indicator fields")
    }

    /// Takes one settled tick's indicators.
    pub fn observe(&mut self, tick: u64, indicators: &Indicators) {
        // One pass over the fields, cheap next to a tick.
        let mut values = [0.0f64; 64];
        for (slot, v) in values.iter_mut().zip(indicators.reported()) {
            *slot = v.as_f64();
        }
        let in_window = tick >= self.warmup;
        for t in &mut self.trackers {
            let x = values[t.field];
            if self.block != u64::MAX {
                t.block_sum += x;
                t.block_n += 1;
            }
            if t.block_n == self.block {
                t.trace.push(t.block_sum / t.block_n as f64);
                t.block_sum = 0.0;
                t.block_n = 0;
            }
            if in_window {
                t.moments.push(x);
                match &mut t.quantiles {
                    Quantiles::Exact(xs) => xs.push(x),
                    Quantiles::Streaming(ps) => ps.iter_mut().for_each(|p| p.push(x)),
                }
            }
        }
        if in_window && self.mark0 {
            self.unemployment.push(values[self.unemployment_field]);
        }
        self.ticks = tick + 1;
    }

    /// Ticks seen.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The arm's summary. `failed`: the run stopped with an error, so nothing is summarised.
    pub fn into_summary(self, failed: bool) -> ArmSummary {
        let phase = (self.mark0 && !failed && self.unemployment.n > 0)
            .then(|| EconomicPhase::classify(self.unemployment.mean, self.unemployment.sd()));
        let mut stats = Vec::with_capacity(self.trackers.len());
        let mut traces = Vec::with_capacity(self.trackers.len());
        for mut t in self.trackers {
            if t.block_n > 0 {
                t.trace.push(t.block_sum / t.block_n as f64);
            }
            traces.push(t.trace);
            if failed || t.moments.n == 0 {
                stats.push(Stats::EMPTY);
                continue;
            }
            let [p5, p50, p95] = match &mut t.quantiles {
                Quantiles::Exact(xs) => {
                    xs.sort_by(f64::total_cmp);
                    [quantile(xs, 0.05), quantile(xs, 0.5), quantile(xs, 0.95)]
                }
                Quantiles::Streaming(ps) => [ps[0].value(), ps[1].value(), ps[2].value()],
            };
            let m = &t.moments;
            stats.push(Stats { mean: m.mean, sd: m.sd(), min: m.min, max: m.max, p5, p50, p95 });
        }
        ArmSummary { phase, stats, traces }
    }
}

impl Sink for SummarySink {
    fn needs(&self) -> Capture {
        self.reads
    }

    /// Nothing before the warm-up ends unless it keeps a trace: those ticks are not read.
    fn needs_at(&self, tick: u64) -> Capture {
        if tick < self.warmup && self.block == u64::MAX { Capture::NONE } else { self.reads }
    }

    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            self.observe(outcome.tick, &outcome.telemetry.indicators);
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_interpolate_like_numpy() {
        let xs: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&xs, 0.5), 5.5);
        assert!((quantile(&xs, 0.05) - 1.45).abs() < 1e-12);
        assert!((quantile(&xs, 0.95) - 9.55).abs() < 1e-12);
    }

    #[test]
    fn p2_tracks_quantiles_of_a_long_stream() {
        let mut p = [P2::new(0.05), P2::new(0.5), P2::new(0.95)];
        // A deterministic, well-mixed sequence over [0, 1).
        let mut x = 0.5f64;
        for _ in 0..100_000 {
            x = (x + 0.618_033_988_749_895) % 1.0;
            p.iter_mut().for_each(|q| q.push(x));
        }
        assert!((p[0].value() - 0.05).abs() < 0.01, "{}", p[0].value());
        assert!((p[1].value() - 0.5).abs() < 0.01, "{}", p[1].value());
        assert!((p[2].value() - 0.95).abs() < 0.01, "{}", p[2].value());
    }

    #[test]
    fn the_window_and_the_trace() {
        let names = vec!["unemployment_rate".to_string(), "gdp".to_string()];
        let mut s = SummarySink::new(&names, 10, 4, true, true);
        for tick in 0..10 {
            // GDP 10·tick genesis units: 1,000·tick cents before any redenomination.
            let i = Indicators { unemployment_rate: tick as f64 / 100.0, gdp: tick * 1_000, ..Indicators::default() };
            s.observe(tick as u64, &i);
        }
        let a = s.into_summary(false);
        assert_eq!(a.stats[0].min, 0.04);
        assert_eq!(a.stats[0].max, 0.09);
        assert!((a.stats[1].mean - 65.0).abs() < 1e-12);
        assert_eq!(a.stats[1].p50, 65.0);
        assert_eq!(a.traces[1].len(), 10);
        assert_eq!(a.phase, Some(EconomicPhase::FullEmployment));
        let mut s = SummarySink::new(&names, 1_000, 0, false, true);
        for tick in 0..1_000 {
            s.observe(tick, &Indicators::default());
        }
        assert_eq!(s.into_summary(false).traces[0].len(), TRACE_POINTS as usize);
        let mut s = SummarySink::new(&names, 1_000, 0, false, false);
        s.observe(0, &Indicators::default());
        assert!(s.into_summary(false).traces[0].is_empty());
    }
}
