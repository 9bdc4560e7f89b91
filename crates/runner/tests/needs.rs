//! The engine captures what the session's sinks read: the union of their needs, and
//! everything when any of them reads everything. What is captured never changes the run.

use watchtower_engine::{Capture, ModelKind};
use watchtower_protocol::Telemetry;
use watchtower_runner::{Cycle, Flow, Headless, RunReport, Scenario, Session, Sink, SinkError};

/// Keeps every tick's telemetry and says it needs `needs`.
struct Keep {
    needs: Capture,
    ticks: Vec<Telemetry>,
}

impl Sink for Keep {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            self.ticks.push((*outcome.telemetry).clone());
        }
        Ok(Flow::Continue)
    }

    fn needs(&self) -> Capture {
        self.needs
    }
}

fn run(sinks: &mut [&mut Keep]) {
    let scenario = Scenario { households: 2_000, firms: 200, ..Scenario::default() };
    let mut session = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
    let mut sinks: Vec<&mut dyn Sink> = sinks.iter_mut().map(|s| &mut **s as &mut dyn Sink).collect();
    session.run(Some(30), &mut Headless::default(), &mut sinks).unwrap();
}

#[test]
fn a_session_captures_the_union_of_its_sinks_needs() {
    let summary = Capture::only(&["unemployment_rate", "gini_wealth"]).unwrap();
    let mut alone = Keep { needs: summary, ticks: Vec::new() };
    run(&mut [&mut alone]);
    let mut beside = Keep { needs: summary, ticks: Vec::new() };
    let mut everything = Keep { needs: Capture::FULL, ticks: Vec::new() };
    run(&mut [&mut beside, &mut everything]);

    for (narrow, full) in alone.ticks.iter().zip(&everything.ticks) {
        // The economy is the same: every indicator asked for is identical, bit for bit.
        assert_eq!(narrow.indicators.unemployment_rate.to_bits(), full.indicators.unemployment_rate.to_bits());
        assert_eq!(narrow.indicators.gini_wealth.to_bits(), full.indicators.gini_wealth.to_bits());
        assert_eq!(narrow.indicators.gdp, full.indicators.gdp);
        // What nobody asked for was not computed.
        assert_eq!(narrow.indicators.gini_income, 0.0);
        assert!(narrow.distributions.is_empty());
        assert!(full.indicators.gini_income > 0.0);
        assert_eq!(full.distributions.len(), 4);
    }
    // Beside a sink that reads everything, the narrow sink sees everything too.
    assert_eq!(beside.ticks, everything.ticks);
}

/// Reads nothing of the ticks before `from`, then what it is told.
struct From {
    from: u64,
    keep: Keep,
}

impl Sink for From {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        self.keep.settled(cycle)
    }

    fn needs(&self) -> Capture {
        self.keep.needs
    }

    fn needs_at(&self, tick: u64) -> Capture {
        if tick < self.from { Capture::NONE } else { self.keep.needs }
    }
}

#[test]
fn ticks_no_sink_reads_skip_the_statistics_and_the_others_keep_every_number() {
    let summary = Capture::only(&["gini_wealth"]).unwrap();
    let mut late = From { from: 10, keep: Keep { needs: summary, ticks: Vec::new() } };
    let scenario = Scenario { households: 2_000, firms: 200, ..Scenario::default() };
    let mut session = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
    session.run(Some(30), &mut Headless::default(), &mut [&mut late]).unwrap();
    let mut every = Keep { needs: summary, ticks: Vec::new() };
    run(&mut [&mut every]);
    for (t, (late, every)) in late.keep.ticks.iter().zip(&every.ticks).enumerate() {
        assert_eq!(late.indicators.gdp, every.indicators.gdp);
        if t < 10 {
            assert_eq!(late.indicators.gini_wealth, 0.0, "tick {t} was read by nobody");
        } else {
            assert_eq!(late.indicators.gini_wealth.to_bits(), every.indicators.gini_wealth.to_bits());
        }
    }
    assert!(every.ticks[0].indicators.gini_wealth > 0.0);
}

#[test]
fn a_runs_report_has_the_gini_coefficients_taken_of_its_last_tick_only() {
    let mut report = RunReport::new(ModelKind::Mark0, 30);
    let mut beside = Keep { needs: Capture::NONE, ticks: Vec::new() };
    let scenario = Scenario { households: 2_000, firms: 200, ..Scenario::default() };
    let mut session = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
    session.run(Some(30), &mut Headless::default(), &mut [&mut report, &mut beside]).unwrap();
    let mut every = Keep { needs: Capture::FULL, ticks: Vec::new() };
    run(&mut [&mut every]);

    for (t, (narrow, full)) in beside.ticks.iter().zip(&every.ticks).enumerate() {
        assert_eq!(narrow.indicators.unemployment_rate.to_bits(), full.indicators.unemployment_rate.to_bits());
        if t < 29 {
            assert_eq!(narrow.indicators.gini_wealth, 0.0, "tick {t}: the report reads no Gini before the last");
            assert_eq!(narrow.indicators.gini_income, 0.0, "tick {t}: the report reads no Gini before the last");
        }
        assert!(narrow.distributions.is_empty());
    }
    let last = &every.ticks[29].indicators;
    let json = report.to_json(30, std::time::Duration::from_secs(1), None);
    assert_eq!(json["gini_tick"], 29);
    assert_eq!(json["gini_wealth"].as_f64().unwrap().to_bits(), last.gini_wealth.to_bits());
    assert_eq!(json["gini_income"].as_f64().unwrap().to_bits(), last.gini_income.to_bits());
    assert!(
        report
            .table(30, std::time::Duration::from_secs(1), "finished", "here", None)
            .contains("Gini of wealth at tick 29")
    );
}
