//! Running the plan: one run, and a fixed pool of threads taking run indices.
//!
//! [`run_one`] is a pure function of the spec and the run's index: the ordinary tick
//! loop ([`Session::run`]) over the run's scenario with a [`SummarySink`], on the
//! calling thread (the simulation keeps its default sequential workers; parallelism is
//! across runs). [`execute`] runs a list of indices on `jobs` threads and hands each
//! summary, as its run finishes, to the caller's thread (which writes it to the store),
//! so an interruption loses only the runs in flight.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use watchtower_engine::ModelKind;

use watchtower_runner::session::{Ended, Headless, RunError, Session, Stop};
use watchtower_runner::sink::{Sink, SinkError};

use crate::plan::{Plan, PlannedRun};
use crate::summary::{RunSummary, SummarySink};

/// Why an experiment stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The spec was refused.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// A sink failed (recording a run's ticks, say).
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] watchtower_store::StoreError),
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}

/// How a recorded run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// It ran all its ticks.
    Finished,
    /// It was stopped (Ctrl-C) before its end.
    Interrupted,
    /// The engine stopped with this error.
    Failed(String),
}

/// A sink that records one run's ticks somewhere (the store, for `--keep-ticks`), and is
/// told how the run ended.
pub trait RunRecorder: Sink + Send {
    /// The run ended.
    fn close(self: Box<Self>, end: RunEnd) -> Result<(), ExperimentError>;
}

/// Where runs' ticks go, if anywhere. Called from the pool's threads.
pub trait Recording: Sync {
    /// A recorder for `run` (its baseline, with a fork), or `None` to keep no ticks.
    fn open(&self, run: &PlannedRun) -> Result<Option<Box<dyn RunRecorder>>, ExperimentError>;
}

/// Keeps no ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRecording;

impl Recording for NoRecording {
    fn open(&self, _run: &PlannedRun) -> Result<Option<Box<dyn RunRecorder>>, ExperimentError> {
        Ok(None)
    }
}

/// Runs run `index` of `plan` to its end and summarises it. `Ok(None)` if `stop` was
/// requested before it finished (its partial summary is dropped). An engine error is
/// not an error of the experiment: the summary says it, with no statistics.
pub fn run_one(
    plan: &Plan,
    index: u64,
    stop: Option<&Stop>,
    recording: &dyn Recording,
) -> Result<Option<RunSummary>, ExperimentError> {
    let spec = plan.spec();
    let planned = plan.run(index);
    let mark0 = spec.model == ModelKind::Mark0;
    let mut summary = SummarySink::new(&spec.indicators, spec.ticks, spec.warmup, mark0, spec.axes.is_empty());
    let mut recorder = recording.open(&planned)?;
    let failed = |error: String, ticks: u64, summary: SummarySink| RunSummary {
        run: index,
        point: planned.point,
        seed: planned.seed,
        ticks,
        baseline: summary.into_summary(true),
        branch: None,
        error: Some(error),
    };
    let simulation = match planned.scenario.build() {
        Ok(sim) => sim,
        Err(e) => {
            if let Some(r) = recorder {
                r.close(RunEnd::Failed(e.to_string()))?;
            }
            return Ok(Some(failed(e.to_string(), 0, summary)));
        }
    };
    let mut driver = match stop {
        Some(stop) => Headless::until_stopped(stop.clone()),
        None => Headless::default(),
    };
    let mut session = Session::new(simulation, spec.schedule.clone());

    // Up to the fork (or the end), then the branch from a copy of the state.
    let first_leg = spec.fork.as_ref().map_or(spec.ticks, |f| f.tick);
    let mut result = run_leg(&mut session, first_leg, &mut driver, &mut summary, recorder.as_deref_mut());
    let mut branch = None;
    if let (Ok(Ended::Target), Some(schedule)) = (&result, spec.branch_schedule()) {
        let mut branch_session = Session::new(session.simulation().fork(), schedule);
        let mut branch_summary = summary.clone();
        result = run_leg(&mut session, spec.ticks, &mut driver, &mut summary, recorder.as_deref_mut());
        if matches!(result, Ok(Ended::Target)) {
            let branch_result = run_leg(&mut branch_session, spec.ticks, &mut driver, &mut branch_summary, None);
            branch = Some((branch_result, branch_summary, branch_session.simulation().tick()));
        }
    }
    let ticks = session.simulation().tick();
    let (end, error) = match result {
        Err(RunError::Sink(e)) => {
            if let Some(r) = recorder {
                let _ = r.close(RunEnd::Failed(e.to_string()));
            }
            return Err(e.into());
        }
        Err(RunError::Engine(e)) => (RunEnd::Failed(e.to_string()), Some(e.to_string())),
        Ok(Ended::Target) => (RunEnd::Finished, None),
        Ok(_) => (RunEnd::Interrupted, None),
    };
    if let Some(r) = recorder {
        r.close(end.clone())?;
    }
    if end == RunEnd::Interrupted {
        return Ok(None);
    }
    if let Some(error) = error {
        return Ok(Some(failed(error, ticks, summary)));
    }
    let branch = match branch {
        None => None,
        Some((Ok(Ended::Target), s, _)) => Some(s.into_summary(false)),
        Some((Ok(_), _, _)) => return Ok(None),
        Some((Err(RunError::Sink(e)), _, _)) => return Err(e.into()),
        Some((Err(RunError::Engine(e)), s, t)) => {
            // The branch failed: the run is reported with the branch's error.
            return Ok(Some(RunSummary {
                run: index,
                point: planned.point,
                seed: planned.seed,
                ticks: t,
                baseline: summary.into_summary(false),
                branch: Some(s.into_summary(true)),
                error: Some(format!("branch: {e}")),
            }));
        }
    };
    Ok(Some(RunSummary {
        run: index,
        point: planned.point,
        seed: planned.seed,
        ticks,
        baseline: summary.into_summary(false),
        branch,
        error: None,
    }))
}

fn run_leg(
    session: &mut Session,
    until: u64,
    driver: &mut Headless,
    summary: &mut SummarySink,
    recorder: Option<&mut (dyn RunRecorder + 'static)>,
) -> Result<Ended, RunError> {
    match recorder {
        Some(r) => session.run(Some(until), driver, &mut [summary, r]),
        None => session.run(Some(until), driver, &mut [summary]),
    }
}

/// What [`execute`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    /// Runs finished and handed over.
    pub finished: usize,
    /// Whether `stop` ended it before every run finished.
    pub stopped: bool,
}

/// Runs `runs` of `plan` on `jobs` threads (one run per thread at a time, taken in the
/// order given) and calls `done` on the caller's thread with each summary as its run
/// finishes, in completion order. When `stop` is requested, runs in flight are dropped
/// and no new run starts. An error (from a run or from `done`) requests `stop` and is
/// returned once the threads have ended.
pub fn execute(
    plan: &Plan,
    runs: &[u64],
    jobs: usize,
    stop: &Stop,
    recording: &dyn Recording,
    mut done: impl FnMut(RunSummary) -> Result<(), ExperimentError>,
) -> Result<Executed, ExperimentError> {
    let jobs = jobs.clamp(1, runs.len().max(1));
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<ExperimentError>> = Mutex::new(None);
    let (tx, rx) = crossbeam_channel::bounded::<RunSummary>(jobs * 4);
    let mut finished = 0;
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let tx = tx.clone();
            let (next, first_error) = (&next, &first_error);
            std::thread::Builder::new()
                .name(format!("experiment-{worker}"))
                .spawn_scoped(scope, move || {
                    while !stop.requested() {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&index) = runs.get(i) else { break };
                        match run_one(plan, index, Some(stop), recording) {
                            Ok(Some(summary)) => {
                                if tx.send(summary).is_err() {
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                first_error.lock().expect("not poisoned").get_or_insert(e);
                                stop.request();
                                break;
                            }
                        }
                    }
                })
                .expect("a thread for the experiment");
        }
        drop(tx);
        for summary in rx.iter() {
            if first_error.lock().expect("not poisoned").is_some() {
                continue;
            }
            match done(summary) {
                Ok(()) => finished += 1,
                Err(e) => {
                    first_error.lock().expect("not poisoned").get_or_insert(e);
                    stop.request();
                }
            }
        }
    });
    if let Some(e) = first_error.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(Executed { finished, stopped: finished < runs.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExperimentSpec, ExperimentTable, TableFormat};

    const BASE: &str = "name: f\nfirms: 10\nhouseholds: 100\nticks: 60\nwarmup: 20\nseeds: [3, 4]\n";

    fn one(text: &str) -> RunSummary {
        let plan = Plan::new(ExperimentSpec::parse(text, "f.yaml").unwrap());
        run_one(&plan, 1, None, &NoRecording).unwrap().unwrap()
    }

    #[test]
    fn a_fork_is_a_baseline_and_a_branch_on_the_same_streams() {
        let forked = one(&format!("{BASE}fork: {{tick: 30, set: {{government.income_tax_rate: 0.4}}}}\n"));
        let plain = one(BASE);
        let scheduled = one(&format!("{BASE}schedule:\n  - {{tick: 30, set: {{government.income_tax_rate: 0.4}}}}\n"));
        assert_eq!(forked.seed, 4);
        assert_eq!(forked.baseline, plain.baseline, "the baseline is the run without the fork");
        let branch = forked.branch.clone().unwrap();
        assert_eq!(branch, scheduled.baseline, "the branch is the run with the change scheduled at the fork");
        assert_ne!(branch.stats, forked.baseline.stats);
        assert_eq!(forked.effect(0), branch.stats[0].mean - forked.baseline.stats[0].mean);
        assert_eq!(forked.baseline.traces[0].len(), 60);
    }

    #[test]
    fn the_table_is_the_same_whatever_the_threads() {
        let text = format!("{BASE}axes:\n  firms.hiring_firing_ratio: [1, 2, 3]\n");
        let plan = Plan::new(ExperimentSpec::parse(&text, "f.yaml").unwrap());
        let runs: Vec<u64> = (0..plan.len()).collect();
        let csv = |jobs| {
            let mut table = ExperimentTable::new(plan.clone());
            let done = execute(&plan, &runs, jobs, &Stop::default(), &NoRecording, |s| {
                table.insert(s);
                Ok(())
            })
            .unwrap();
            assert_eq!(done, Executed { finished: 6, stopped: false });
            let mut out = Vec::new();
            table.write(&mut out, TableFormat::Csv).unwrap();
            assert!(table.summaries().all(|s| s.baseline.traces.iter().all(Vec::is_empty)), "a grid keeps no traces");
            out
        };
        assert_eq!(csv(1), csv(3));
        let stop = Stop::default();
        stop.request();
        let done = execute(&plan, &runs, 2, &stop, &NoRecording, |_| Ok(())).unwrap();
        assert_eq!(done, Executed { finished: 0, stopped: true });
    }
}
