//! Progress on stderr: a bar on a terminal, a plain line every second otherwise (a log
//! file, CI), so a long run always says how far it is.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use watchtower_engine::{Capture, ModelKind};

use crate::session::{Cycle, Finish};
use crate::sink::{Flow, Sink, SinkError};

/// How often progress is reported when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// Ticks done out of a total.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    model: ModelKind,
    last_line: Instant,
    last_tick: u64,
    /// What the headline reads (found once: the session asks every tick).
    reads: Capture,
}

impl Progress {
    /// Progress towards `total` ticks of a run of `model`.
    pub fn new(total: u64, model: ModelKind) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} ticks  {per_sec}  eta {eta}  {msg}")
                    .expect("valid template"),
            );
            bar
        });
        // The headline's indicator: unemployment for Mark-0, the Gini of wealth otherwise
        // (only that one: Mark-0's progress costs no sort of the households).
        let headline = match model {
            ModelKind::Mark0 => "unemployment_rate",
            ModelKind::Boltzmann => "gini_wealth",
        };
        let reads = Capture::only(&[headline]).expect("indicator fields");
        Self { bar, total, model, last_line: Instant::now(), last_tick: 0, reads }
    }
}

impl Sink for Progress {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        let Some(outcome) = cycle.outcome else { return Ok(Flow::Continue) };
        let t = &outcome.telemetry;
        let headline = || match self.model {
            ModelKind::Mark0 => format!("unemployment {:.1}%", 100.0 * t.indicators.unemployment_rate),
            ModelKind::Boltzmann => format!("Gini {:.3}", t.indicators.gini_wealth),
        };
        match &self.bar {
            Some(bar) => {
                bar.set_position(t.tick + 1);
                if t.tick.is_multiple_of(64) {
                    bar.set_message(headline());
                }
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                let rate = (t.tick - self.last_tick) as f64 / self.last_line.elapsed().as_secs_f64();
                let share = 100.0 * (t.tick + 1) as f64 / self.total.max(1) as f64;
                eprintln!("tick {} of {} ({share:.1}%), {rate:.0} ticks/s, {}", t.tick, self.total, headline());
                self.last_line = Instant::now();
                self.last_tick = t.tick;
            }
            None => {}
        }
        Ok(Flow::Continue)
    }

    /// The headline's indicator.
    fn needs(&self) -> Capture {
        self.reads
    }

    /// Clears the bar, or says the tick reached.
    fn finish(&mut self, end: &Finish<'_>) -> Result<(), SinkError> {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => eprintln!("ran {} ticks", end.simulation.tick()),
        }
        Ok(())
    }
}

/// Runs done out of a total (an experiment): a bar with runs per second and the time
/// left on a terminal, a plain line every second otherwise.
pub struct RunsProgress {
    bar: Option<ProgressBar>,
    total: u64,
    initial: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl RunsProgress {
    /// Progress towards `total` runs, `done` of which were done before (a resume).
    pub fn new(total: u64, done: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {per_sec}  eta {eta}  {msg}")
                    .expect("valid template"),
            );
            bar.set_position(done);
            bar.reset_eta();
            bar
        });
        Self { bar, total, initial: done, done, started: Instant::now(), last_line: Instant::now() }
    }

    /// One more run done.
    pub fn inc(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if self.last_line.elapsed() >= PLAIN_EVERY || self.done == self.total => {
                let rate = self.rate();
                let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9);
                eprintln!("{} of {} runs, {rate:.2} runs/s, about {left:.0} s left", self.done, self.total);
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    /// `done` runs in all (several may finish at once, as a calibration's point's seeds
    /// do), with a note (a calibration's best loss) beside the count.
    pub fn set(&mut self, done: u64, note: &str) {
        self.done = done.max(self.done);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done);
                bar.set_message(note.to_string());
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY || self.done >= self.total => {
                let rate = self.rate();
                let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9);
                eprintln!("{} of {} runs, {note}, {rate:.2} runs/s, at most {left:.0} s left", self.done, self.total);
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    /// Runs done by this process per second since it started them.
    pub fn rate(&self) -> f64 {
        (self.done - self.initial) as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
