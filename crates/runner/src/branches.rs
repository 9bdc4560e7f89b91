//! What-if branches: copies of the economy advancing in lockstep with the main one.
//!
//! A branch is a whole [`Simulation`], forked in memory from the main run (or from
//! another branch) between two ticks, with a few settings changed. From then on it
//! advances tick for tick with its parent, in the same [`Session`](crate::Session) and
//! so under the same driver: a pause pauses all, a step steps all. It draws the same
//! random numbers as its parent would (every stream is keyed by seed, purpose, tick and
//! chunk, and a fork copies them), so the difference between the two is the effect of
//! the change alone: common random numbers. A branch with no change stays identical to
//! its parent, bit for bit.
//!
//! Each branch has its own commands (a command names its run), its own copy of its
//! parent's schedule (scheduled commands apply to each run on its own) and its own sinks
//! (its store writer, its telemetry slot). The simulations of a tick run at once on the
//! workers lent with [`Branches::set_workers`] (a rayon pool): each is sequential inside,
//! so threads never change a number. A branch whose engine fails is closed as failed;
//! the main run and the other branches go on.

use std::sync::Arc;

use tracing::{info, warn};
use watchtower_engine::workers::{Task, Workers};
use watchtower_engine::{EngineError, RawValue, Registry, Simulation, TickOutcome};
use watchtower_protocol::{AuditEntry, ErrorCode, GodCommand, GodResponse};
use watchtower_store::RunStatus;

use crate::cycle::{Cycle, Pending, SCHEDULE_SOURCE};
use crate::schedule::Schedule;
use crate::sink::{Flow, Sink};

/// How many branches may be live at once.
pub const MAX_BRANCHES: usize = 4;

/// How a branch ended, for whoever keeps its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// Dropped by request before `tick` (it ran no tick from `tick` on).
    Dropped {
        /// The first tick it did not run.
        tick: u64,
    },
    /// Its engine or one of its sinks failed at `tick`.
    Failed {
        /// The tick.
        tick: u64,
        /// Why.
        error: String,
    },
    /// The session ended (its main run finished, was stopped or failed).
    Ended {
        /// How to mark it.
        status: RunStatus,
    },
}

/// What a branch calls when it ends.
pub type OnClose = Box<dyn FnOnce(&Closing) + Send>;

/// One what-if branch: a simulation, its schedule, its pending commands and its sinks.
pub struct Branch {
    run_id: i64,
    simulation: Simulation,
    schedule: Schedule,
    next_scheduled: usize,
    pending: Vec<Pending>,
    audit: Vec<AuditEntry>,
    sinks: Vec<Box<dyn Sink + Send>>,
    on_close: Option<OnClose>,
    outcome: Option<Result<TickOutcome, EngineError>>,
}

impl Branch {
    /// A branch recorded as run `run_id`, continuing `simulation` with `schedule` from
    /// its entry `next_scheduled` on, handing its cycles to `sinks`.
    pub fn new(
        run_id: i64,
        simulation: Simulation,
        schedule: Schedule,
        next_scheduled: usize,
        sinks: Vec<Box<dyn Sink + Send>>,
    ) -> Self {
        // What the fork already captured (its parent's consumers) and what its own
        // sinks read: the same rule as the main run's (`Session::run`).
        let mut simulation = simulation;
        let capture = sinks.iter().fold(simulation.capture_level(), |wanted, sink| wanted.union(sink.needs()));
        simulation.set_capture(capture);
        Self {
            run_id,
            simulation,
            schedule,
            next_scheduled,
            pending: Vec::new(),
            audit: Vec::new(),
            sinks,
            on_close: None,
            outcome: None,
        }
    }

    /// Calls `close` when the branch ends, however it ends.
    pub fn on_close(mut self, close: OnClose) -> Self {
        self.on_close = Some(close);
        self
    }

    /// Queues `commands` for the branch's next phase 0 (a fork's changes), ahead of
    /// that tick's scheduled and live commands; `source` names them in the audit log.
    pub fn with_changes(mut self, commands: Vec<GodCommand>, source: &str) -> Self {
        let received_at_ms = crate::cycle::now_ms();
        self.pending.extend(commands.into_iter().map(|command| Pending {
            command,
            received_at_ms,
            source: source.to_string(),
            reply: None,
            run: Some(self.run_id),
        }));
        self
    }

    /// Its run id.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Its simulation.
    pub fn simulation(&self) -> &Simulation {
        &self.simulation
    }

    fn close(&mut self, closing: &Closing) {
        if let Some(close) = self.on_close.take() {
            close(closing);
        }
    }
}

impl Drop for Branch {
    fn drop(&mut self) {
        // Nobody said how it ended (a panic unwound the session): it was cut short.
        self.close(&Closing::Ended { status: RunStatus::Interrupted });
    }
}

/// The branches of a session, and the threads their ticks run on.
#[derive(Default)]
pub struct Branches {
    lanes: Vec<Branch>,
    workers: Option<Arc<dyn Workers>>,
    main_run: Option<i64>,
}

impl Branches {
    /// Runs the simulations of a tick at once on `workers` (with one worker, or none
    /// lent, one after the other).
    pub fn set_workers(&mut self, workers: Arc<dyn Workers>) {
        self.workers = Some(workers);
    }

    /// The main run's id: commands that name it go to the main simulation.
    pub fn set_main_run(&mut self, run: i64) {
        self.main_run = Some(run);
    }

    /// The main run's id, if known.
    pub fn main_run(&self) -> Option<i64> {
        self.main_run
    }

    /// Adds a branch; it runs from the next cycle on.
    pub fn add(&mut self, branch: Branch) {
        info!(run_id = branch.run_id, tick = branch.simulation.tick(), "branch added");
        self.lanes.push(branch);
    }

    /// How many branches are live.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// The live branches, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Branch> {
        self.lanes.iter()
    }

    /// Branch `run`, if live.
    pub fn get(&self, run: i64) -> Option<&Branch> {
        self.lanes.iter().find(|b| b.run_id == run)
    }

    /// Removes branch `run`, telling its keeper it was dropped; returns the first tick
    /// it did not run.
    pub fn remove(&mut self, run: i64) -> Option<u64> {
        let at = self.lanes.iter().position(|b| b.run_id == run)?;
        let mut branch = self.lanes.remove(at);
        let tick = branch.simulation.tick();
        branch.close(&Closing::Dropped { tick });
        info!(run_id = run, tick, "branch dropped");
        Some(tick)
    }

    /// Ends every branch, marking each `status` (the session is over).
    pub fn close_all(&mut self, status: RunStatus) {
        for mut branch in self.lanes.drain(..) {
            branch.close(&Closing::Ended { status });
        }
    }

    /// Each branch's scheduled commands due at `tick`, ahead of live ones.
    pub(crate) fn schedule_due(&mut self, tick: u64, received_at_ms: u64) {
        for b in &mut self.lanes {
            let run = Some(b.run_id);
            let due: Vec<GodCommand> = b.schedule.due(&mut b.next_scheduled, tick).map(|e| e.command()).collect();
            b.pending.extend(due.into_iter().map(|command| Pending {
                command,
                received_at_ms,
                source: SCHEDULE_SOURCE.into(),
                reply: None,
                run,
            }));
        }
    }

    /// Moves the commands for a branch out of `pending` (which keeps the main run's,
    /// in order). Commands for a run that is not live are answered at once, refused;
    /// their audit entries are returned (recorded with the main run).
    pub(crate) fn route(&mut self, pending: &mut Vec<Pending>, tick: u64) -> Vec<AuditEntry> {
        let mut refused = Vec::new();
        if pending.iter().all(|p| p.run.is_none() || p.run == self.main_run) {
            return refused;
        }
        for p in std::mem::take(pending) {
            match p.run {
                None => pending.push(p),
                Some(run) if Some(run) == self.main_run => pending.push(p),
                Some(run) => match self.lanes.iter_mut().find(|b| b.run_id == run) {
                    Some(b) if !is_control(&p.command.key) => b.pending.push(p),
                    found => {
                        let (code, message) = match found {
                            Some(_) => (ErrorCode::NotForBranch, control_message(&p.command.key)),
                            None => (
                                ErrorCode::UnknownRun,
                                format!(
                                    "run {run} is not live here: it never was, or it has been dropped or has ended"
                                ),
                            ),
                        };
                        let response = GodResponse::rejected(&p.command, Some(tick), code, message);
                        if let Some(reply) = p.reply {
                            reply.send(response.clone());
                        }
                        refused.push(AuditEntry {
                            command: p.command,
                            received_at_ms: p.received_at_ms,
                            source: p.source,
                            response,
                        });
                    }
                },
            }
        }
        refused
    }

    /// Runs one tick of `main` and of every branch, at once where workers are lent;
    /// returns the main run's outcome (the branches keep theirs for [`Branches::settle`]).
    pub(crate) fn step(&mut self, main: &mut Simulation) -> Result<TickOutcome, EngineError> {
        for b in &mut self.lanes {
            for p in &b.pending {
                b.simulation.submit(p.command.clone());
            }
        }
        if self.lanes.is_empty() {
            return main.step();
        }
        let parallel = self.workers.as_ref().filter(|w| w.width() > 1);
        let Some(workers) = parallel else {
            let outcome = main.step();
            for b in &mut self.lanes {
                b.outcome = Some(b.simulation.step());
            }
            return outcome;
        };
        let mut main_outcome = None;
        {
            let mut closures: Vec<Box<dyn FnMut() + Send + '_>> = Vec::with_capacity(self.lanes.len() + 1);
            let slot = &mut main_outcome;
            closures.push(Box::new(move || *slot = Some(main.step())));
            for b in &mut self.lanes {
                closures.push(Box::new(move || b.outcome = Some(b.simulation.step())));
            }
            let mut tasks: Vec<Task<'_>> = closures.iter_mut().map(|c| &mut **c as Task<'_>).collect();
            workers.run(&mut tasks);
        }
        main_outcome.expect("the main simulation ran")
    }

    /// An idle cycle for every branch: its waiting commands are applied, no tick runs.
    pub(crate) fn idle(&mut self) {
        for b in &mut self.lanes {
            for p in &b.pending {
                b.simulation.submit(p.command.clone());
            }
        }
    }

    /// Answers each branch's commands and hands its cycle to its sinks. A branch whose
    /// engine or sink failed is closed as failed and removed.
    pub(crate) fn settle(&mut self, ticked: bool) {
        let mut failed = Vec::new();
        for (i, b) in self.lanes.iter_mut().enumerate() {
            let outcome = match (ticked, b.outcome.take()) {
                (true, Some(Ok(outcome))) => Some(outcome),
                (true, Some(Err(e))) => {
                    failed.push((i, b.simulation.tick(), format!("the engine stopped: {e}")));
                    continue;
                }
                _ => None,
            };
            let responses = match &outcome {
                Some(o) => o.responses.clone(),
                None => b.simulation.idle(),
            };
            b.audit.clear();
            for (p, response) in b.pending.drain(..).zip(responses) {
                if let Some(reply) = p.reply {
                    reply.send(response.clone());
                }
                b.audit.push(AuditEntry {
                    command: p.command,
                    received_at_ms: p.received_at_ms,
                    source: p.source,
                    response,
                });
            }
            let cycle = Cycle { outcome: outcome.as_ref(), audit: &b.audit, simulation: &b.simulation };
            for sink in b.sinks.iter_mut() {
                match sink.settled(&cycle) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => {}
                    Err(e) => {
                        failed.push((i, b.simulation.tick(), e.to_string()));
                        break;
                    }
                }
            }
        }
        for (i, tick, error) in failed.into_iter().rev() {
            let mut branch = self.lanes.remove(i);
            warn!(run_id = branch.run_id, tick, "branch failed: {error}");
            for p in branch.pending.drain(..) {
                if let Some(reply) = p.reply {
                    reply.send(GodResponse::rejected(&p.command, None, ErrorCode::Unavailable, error.clone()));
                }
            }
            branch.close(&Closing::Failed { tick, error });
        }
    }
}

/// A session's runs between two cycles, as a driver sees them in
/// [`Driver::regroup`](crate::Driver::regroup): it may fork a run or drop a branch.
pub struct Group<'a> {
    main: &'a Simulation,
    schedule: &'a Schedule,
    next_scheduled: usize,
    branches: &'a mut Branches,
}

/// A fork about to become a branch, as the keeper of its records sees it.
pub struct Fork<'a> {
    /// The run it copies.
    pub parent: i64,
    /// The copy, before its changes (they apply at its first tick's phase 0).
    pub simulation: &'a Simulation,
    /// The schedule it inherits.
    pub schedule: &'a Schedule,
    /// The changes, validated.
    pub changes: &'a [(String, serde_json::Value)],
}

/// What the keeper of a new branch's records gives it.
pub struct Opened {
    /// Its run id.
    pub run_id: i64,
    /// Where its cycles go.
    pub sinks: Vec<Box<dyn Sink + Send>>,
    /// Called when it ends.
    pub on_close: Option<OnClose>,
}

/// Why a fork or a drop was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// No live run has that id.
    UnknownRun(i64),
    /// [`MAX_BRANCHES`] branches are live.
    TooMany,
    /// A change was refused (the registry's message, naming the key).
    Invalid(String),
    /// The main run is not a branch.
    NotABranch(i64),
    /// The keeper of the branch's records could not open it.
    Unavailable(String),
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::UnknownRun(run) => write!(f, "run {run} is not live here"),
            GroupError::TooMany => {
                write!(f, "{MAX_BRANCHES} branches are live already, the most there can be; drop one first")
            }
            GroupError::Invalid(message) => f.write_str(message),
            GroupError::NotABranch(run) => {
                write!(f, "run {run} is the main run, not a branch: it cannot be dropped (stop the server instead)")
            }
            GroupError::Unavailable(message) => f.write_str(message),
        }
    }
}

/// Whether `key` is a simulation control (`sim.*`): the controls pace every run of a
/// group at once, so a branch can neither fork with one changed nor be sent one.
pub fn is_control(key: &str) -> bool {
    key.starts_with("sim.")
}

/// Why a simulation control is refused for a branch.
fn control_message(key: &str) -> String {
    format!(
        "`{key}` is a simulation control: it paces every run at once and cannot differ in a branch (send it to the main run)"
    )
}

/// Checks `changes` against `registry` as the engine will apply them, in order, on a
/// copy; the simulation controls (`sim.*`) pace the whole group and are refused.
pub fn validate_changes(registry: &Registry, changes: &[(String, serde_json::Value)]) -> Result<(), String> {
    validate(registry, changes.iter().map(|(key, value)| (key.as_str(), RawValue::from(value))))
}

/// `--set KEY=VALUE` settings (each read by the one parser, `config::parse_set`) as a
/// fork's changes, checked as [`validate_changes`] checks them but on the values as read,
/// so a value JSON cannot carry (NaN, the infinities) gets the registry's own refusal.
pub fn settings_as_changes(
    registry: &Registry,
    settings: &[watchtower_engine::config::Override],
) -> Result<Vec<(String, serde_json::Value)>, String> {
    validate(registry, settings.iter().map(|o| (o.key.as_str(), o.value.clone())))?;
    Ok(settings.iter().map(|o| (o.key.clone(), o.value.to_json())).collect())
}

fn validate<'a>(registry: &Registry, changes: impl Iterator<Item = (&'a str, RawValue)>) -> Result<(), String> {
    let mut staged = registry.clone();
    for (key, value) in changes {
        if is_control(key) {
            return Err(control_message(key));
        }
        staged.apply(key, &value).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A fork's changes as commands, with ids `fork:KEY`.
pub fn change_commands(changes: &[(String, serde_json::Value)]) -> Vec<GodCommand> {
    changes
        .iter()
        .map(|(key, value)| GodCommand { id: format!("fork:{key}"), key: key.clone(), value: value.clone() })
        .collect()
}

impl<'a> Group<'a> {
    pub(crate) fn new(
        main: &'a Simulation,
        schedule: &'a Schedule,
        next_scheduled: usize,
        branches: &'a mut Branches,
    ) -> Self {
        Self { main, schedule, next_scheduled, branches }
    }

    /// The main simulation.
    pub fn main(&self) -> &Simulation {
        self.main
    }

    /// The branches.
    pub fn branches(&self) -> &Branches {
        self.branches
    }

    /// Forks run `parent` (the main run or a branch) as it stands before its next tick,
    /// with `changes` applied at that tick's phase 0; `open` gives the new branch its
    /// run id and sinks. Returns the branch's run id and its first tick.
    pub fn fork(
        &mut self,
        parent: i64,
        changes: &[(String, serde_json::Value)],
        source: &str,
        open: impl FnOnce(&Fork<'_>) -> Result<Opened, String>,
    ) -> Result<(i64, u64), GroupError> {
        let (simulation, schedule, next) = if Some(parent) == self.branches.main_run {
            (self.main, self.schedule, self.next_scheduled)
        } else {
            let b = self.branches.get(parent).ok_or(GroupError::UnknownRun(parent))?;
            (&b.simulation, &b.schedule, b.next_scheduled)
        };
        validate_changes(simulation.registry(), changes).map_err(GroupError::Invalid)?;
        if self.branches.len() >= MAX_BRANCHES {
            return Err(GroupError::TooMany);
        }
        let copy = simulation.fork();
        // A branch inherits its parent's schedule but its simulation controls: those
        // pace the whole group and stay the main run's (a scheduled `sim.paused` would
        // otherwise show a paused branch that ticks).
        let (schedule, next) = schedule.without(next, is_control);
        let opened =
            open(&Fork { parent, simulation: &copy, schedule: &schedule, changes }).map_err(GroupError::Unavailable)?;
        let tick = copy.tick();
        let mut branch = Branch::new(opened.run_id, copy, schedule, next, opened.sinks)
            .with_changes(change_commands(changes), &format!("fork of run {parent} ({source})"));
        branch.on_close = opened.on_close;
        let run_id = branch.run_id;
        self.branches.add(branch);
        Ok((run_id, tick))
    }

    /// A copy of run `run` (the main run or a branch) as it stands before its next tick,
    /// with the scheduled commands it has still to apply.
    pub fn copy(&self, run: i64) -> Result<(Simulation, Schedule), GroupError> {
        let (simulation, schedule, next) = if Some(run) == self.branches.main_run {
            (self.main, self.schedule, self.next_scheduled)
        } else {
            let b = self.branches.get(run).ok_or(GroupError::UnknownRun(run))?;
            (&b.simulation, &b.schedule, b.next_scheduled)
        };
        Ok((simulation.fork(), Schedule::new(schedule.entries()[next..].to_vec())))
    }

    /// Drops branch `run`; returns the first tick it did not run.
    pub fn drop_branch(&mut self, run: i64) -> Result<u64, GroupError> {
        if Some(run) == self.branches.main_run {
            return Err(GroupError::NotABranch(run));
        }
        self.branches.remove(run).ok_or(GroupError::UnknownRun(run))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;
    use watchtower_protocol::Telemetry;

    use super::*;
    use crate::sink::SinkError;
    use crate::workers::Pool;
    use crate::{Headless, Scenario, Session};

    /// Every tick's telemetry, as JSON text.
    #[derive(Clone, Default)]
    struct Tape(Arc<Mutex<Vec<String>>>);

    impl Sink for Tape {
        fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
            if let Some(o) = cycle.outcome {
                let t: &Telemetry = &o.telemetry;
                self.0.lock().unwrap().push(serde_json::to_string(&t.indicators).unwrap());
            }
            Ok(Flow::Continue)
        }
    }

    fn session(ticks: u64) -> Session {
        let scenario = Scenario { households: 300, firms: 30, ..Scenario::default() };
        let mut session = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
        session.run(Some(ticks), &mut Headless::default(), &mut []).unwrap();
        session
    }

    /// Runs a main run and `changes.len()` branches forked at tick 100 for 300 ticks;
    /// returns every run's tape, main first.
    fn lockstep(changes: &[Vec<(String, serde_json::Value)>], workers: Option<Arc<Pool>>) -> Vec<Vec<String>> {
        let mut main = session(100);
        let tapes: Vec<Tape> = (0..=changes.len()).map(|_| Tape::default()).collect();
        main.branches_mut().set_main_run(1);
        if let Some(w) = workers {
            main.branches_mut().set_workers(w);
        }
        for (i, set) in changes.iter().enumerate() {
            validate_changes(main.simulation().registry(), set).unwrap();
            let copy = main.simulation().fork();
            let (schedule, next) = main.schedule();
            let branch = Branch::new(i as i64 + 2, copy, schedule.clone(), next, vec![Box::new(tapes[i + 1].clone())])
                .with_changes(change_commands(set), "test");
            main.branches_mut().add(branch);
        }
        let mut tape = tapes[0].clone();
        main.run(Some(400), &mut Headless::default(), &mut [&mut tape as &mut dyn Sink]).unwrap();
        main.branches_mut().close_all(RunStatus::Finished);
        tapes.iter().map(|t| t.0.lock().unwrap().clone()).collect()
    }

    #[test]
    fn branches_in_lockstep_are_the_same_on_one_thread_or_two_and_unchanged_ones_equal_their_parent() {
        let tax = vec![("government.income_tax_rate".to_string(), json!(0.3))];
        let changes = [vec![], tax.clone(), vec![], tax];
        let sequential = lockstep(&changes, None);
        let parallel = lockstep(&changes, Some(Pool::new(2).unwrap()));
        assert_eq!(sequential, parallel, "threads changed a number");
        assert_eq!(sequential[0].len(), 300);
        assert_eq!(sequential[1], sequential[0], "a branch with no change is its parent");
        assert_eq!(sequential[2], sequential[4], "the same change gives the same run");
        assert_ne!(sequential[2], sequential[0], "the change changes the run");
        // And the main run is the one it would have been without branches.
        let mut alone = session(100);
        let mut tape = Tape::default();
        alone.run(Some(400), &mut Headless::default(), &mut [&mut tape as &mut dyn Sink]).unwrap();
        assert_eq!(*tape.0.lock().unwrap(), sequential[0]);
    }

    /// Ticks to `until`, forking the main run (no change) before tick `at`.
    struct ForkAt {
        at: u64,
        until: u64,
        forked: Option<i64>,
    }

    impl crate::Driver for ForkAt {
        fn next(&mut self, simulation: &Simulation) -> crate::Next {
            if simulation.tick() < self.until { crate::Next::Tick } else { crate::Next::Stop }
        }

        fn regroup(&mut self, group: &mut Group<'_>) {
            if group.main().tick() == self.at && self.forked.is_none() {
                let opened = |_: &Fork<'_>| Ok(Opened { run_id: 2, sinks: vec![], on_close: None });
                self.forked = Some(group.fork(1, &[], "test", opened).unwrap().0);
            }
        }
    }

    #[test]
    fn a_branch_does_not_inherit_its_parents_scheduled_controls() {
        use watchtower_protocol::ParamValue;
        let text = "schedule:\n  - {tick: 150, set: {sim.paused: true, government.income_tax_rate: 0.3}}\n  \
                    - {tick: 160, set: {sim.tick_rate: 5}}\n";
        let doc = watchtower_engine::yaml::Doc::parse(text, "s.yaml").unwrap();
        let node = doc.root.as_mapping().unwrap().get("schedule").unwrap().clone();
        let schedule = Schedule::parse(&doc, &node).unwrap();
        let scenario = Scenario { households: 300, firms: 30, schedule, ..Scenario::default() };
        let mut main = Session::new(scenario.build().unwrap(), scenario.schedule.clone());
        main.branches_mut().set_main_run(1);
        let mut driver = ForkAt { at: 100, until: 200, forked: None };
        main.run(Some(200), &mut driver, &mut []).unwrap();
        let branch = main.branches().get(driver.forked.unwrap()).expect("the branch is live");
        let registry = branch.simulation().registry();
        assert_eq!(registry.get("government.income_tax_rate"), Some(ParamValue::Float(0.3)), "other entries apply");
        assert_eq!(registry.get("sim.paused"), Some(ParamValue::Bool(false)), "the branch is not shown paused");
        let default_rate = Registry::builtin(watchtower_engine::ModelKind::Mark0).get("sim.tick_rate");
        assert_eq!(registry.get("sim.tick_rate"), default_rate, "nor paced apart");
        assert_eq!(main.simulation().registry().get("sim.tick_rate"), Some(ParamValue::Float(5.0)));
        assert_eq!(
            main.simulation().registry().get("sim.paused"),
            Some(ParamValue::Bool(true)),
            "the main run's apply"
        );
        main.branches_mut().close_all(RunStatus::Finished);
    }

    #[test]
    fn sim_controls_cannot_differ_in_a_branch() {
        let registry = session(1).simulation().registry().clone();
        let err = validate_changes(&registry, &[("sim.paused".into(), json!(true))]).unwrap_err();
        assert!(err.contains("simulation control"), "{err}");
        let err = validate_changes(&registry, &[("government.income_tax_rate".into(), json!(2))]).unwrap_err();
        assert!(err.contains("`government.income_tax_rate`"), "{err}");
    }
}
