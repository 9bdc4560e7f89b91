//! What-if branches of a live session: forks and drops asked for through the bridge
//! (`POST /api/runs/{id}/fork`, `DELETE /api/runs/{id}`), carried out on the engine's
//! thread between two cycles, never by locking the engine from the server.
//!
//! A new branch is recorded as a run of its own (with its parent and fork tick, its
//! changes and its inherited schedule), gets a checkpoint of its state at the fork (so
//! it can be rebuilt from its own records), its own telemetry and registry slots in the
//! bridge's [`LiveRuns`], a store writer and a checkpointer. A dropped branch stops
//! running; its rows stay, marked with the tick it was dropped at, and its checkpoints
//! but the starting one are deleted. The starting checkpoint is stored once for every
//! branch forked from the same state.

use std::sync::Arc;

use tracing::{info, warn};
use watchtower_bridge::{
    Bridge, Dropped, ForecastPlan, ForecastStatus, Forked, Latest, LiveRun, LiveRuns, Refusal, RefusalCode, Request,
};
use watchtower_store::{Lineage, RunPlan, RunStatus, StoreHandle, checkpoints};

use crate::branches::validate_changes;
use crate::branches::{Closing, Fork, Group, GroupError, Opened};
use crate::checkpoints::{CheckpointOptions, Checkpointer};
use crate::forecast::{ForecastJob, Forecaster};
use crate::publisher::Publisher;
use crate::scenario::run_info;
use crate::sink::{Recorder, Sink};

/// The engine side of a live session's branches.
pub struct LiveBranches {
    bridge: Bridge,
    store: Option<StoreHandle>,
    checkpoints: Option<CheckpointOptions>,
    runs: LiveRuns,
    /// Run ids handed out without a store.
    next_id: i64,
    /// Runs effect forecasts, if this session makes them.
    forecaster: Option<Box<dyn Forecaster>>,
}

impl LiveBranches {
    /// Branches of the main run `main` (already in the bridge's slots), recorded through
    /// `store` if there is one, with `checkpoints` if they are taken. Publishes the live
    /// runs.
    pub fn new(
        bridge: Bridge,
        store: Option<StoreHandle>,
        main: LiveRun,
        checkpoints: Option<CheckpointOptions>,
    ) -> Self {
        let next_id = main.run_id + 1;
        let runs = LiveRuns { version: 1, runs: vec![Arc::new(main)] };
        bridge.runs.publish(Arc::new(runs.clone()));
        Self { bridge, store, checkpoints, runs, next_id, forecaster: None }
    }

    /// Forecasts effects with `forecaster` (without one, a forecast is refused).
    pub fn with_forecaster(mut self, forecaster: Option<Box<dyn Forecaster>>) -> Self {
        self.forecaster = forecaster;
        self
    }

    fn publish(&mut self) {
        self.runs.version += 1;
        self.bridge.runs.publish(Arc::new(self.runs.clone()));
    }

    /// Carries out the waiting requests; forgets branches that ended on their own.
    pub(crate) fn regroup(&mut self, group: &mut Group<'_>) {
        let before = self.runs.runs.len();
        self.runs.runs.retain(|r| r.main || group.branches().get(r.run_id).is_some());
        if self.runs.runs.len() != before {
            self.publish();
        }
        let requests: Vec<Request> = self.bridge.requests.drain().collect();
        for request in requests {
            match request {
                Request::Fork { parent, set, name, source, reply } => {
                    let answer = self.fork(group, parent, &set, name, &source);
                    reply.send(answer);
                }
                Request::Drop { run, reply } => {
                    let answer = group.drop_branch(run).map(|tick| Dropped { run_id: run, tick }).map_err(refusal);
                    if answer.is_ok() {
                        self.runs.runs.retain(|r| r.run_id != run);
                        self.publish();
                    }
                    reply.send(answer);
                }
                Request::Forecast { run, set, seeds, ticks, reply } => {
                    reply.send(self.forecast(group, run, set, seeds, ticks));
                }
            }
        }
    }

    /// Copies run `run` and hands the copy to the forecaster, which runs it in the
    /// background; the answer is the forecast as it starts.
    fn forecast(
        &mut self,
        group: &Group<'_>,
        run: i64,
        set: Vec<(String, serde_json::Value)>,
        seeds: usize,
        ticks: u64,
    ) -> Result<ForecastStatus, Refusal> {
        let Some(forecaster) = &self.forecaster else {
            return Err(Refusal::new(RefusalCode::Unavailable, "this server makes no effect forecasts"));
        };
        if let Some(busy) = self.bridge.forecasts.busy() {
            return Err(Refusal::new(RefusalCode::Busy, busy.to_string()));
        }
        let (start, schedule) = group.copy(run).map_err(refusal)?;
        validate_changes(start.registry(), &set).map_err(|e| Refusal::new(RefusalCode::Invalid, e))?;
        let plan = ForecastPlan { run, fork_tick: start.tick(), seeds, ticks, changes: set.iter().cloned().collect() };
        let status =
            self.bridge.forecasts.begin(plan).map_err(|busy| Refusal::new(RefusalCode::Busy, busy.to_string()))?;
        info!(id = status.id, run, seeds, ticks, changes = ?status.changes, "forecast started");
        let (id, forecasts) = (status.id, self.bridge.forecasts.clone());
        let progress = {
            let forecasts = forecasts.clone();
            Box::new(move |done| forecasts.progress(id, done))
        };
        let finish = Box::new(move |result| forecasts.finish(id, result));
        forecaster.start(ForecastJob { id, run, start, schedule, changes: set, seeds, ticks, progress, finish });
        Ok(status)
    }

    fn fork(
        &mut self,
        group: &mut Group<'_>,
        parent: i64,
        set: &[(String, serde_json::Value)],
        name: Option<String>,
        source: &str,
    ) -> Result<Forked, Refusal> {
        let changes: serde_json::Map<String, serde_json::Value> = set.iter().cloned().collect();
        let mut slots = None;
        let (run_id, tick) = group
            .fork(parent, set, source, |fork| {
                let (opened, telemetry, registry) = self.open(fork, name.clone(), &changes)?;
                slots = Some((telemetry, registry));
                Ok(opened)
            })
            .map_err(refusal)?;
        let (telemetry, registry) = slots.expect("opened");
        info!(run_id, parent, tick, ?changes, "branch forked");
        self.runs.runs.push(Arc::new(LiveRun {
            run_id,
            main: false,
            parent: Some(parent),
            fork_tick: Some(tick),
            name: name.clone(),
            changes: changes.clone(),
            resumed_at: Vec::new(),
            telemetry,
            registry,
        }));
        self.publish();
        Ok(Forked { run_id, parent, tick, name, changes })
    }

    /// Records the branch (a run, its checkpoint at the fork) and gives it its sinks.
    #[allow(clippy::type_complexity)]
    fn open(
        &mut self,
        fork: &Fork<'_>,
        name: Option<String>,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<
        (Opened, Arc<Latest<watchtower_bridge::Published>>, Arc<Latest<watchtower_protocol::RegistrySnapshot>>),
        String,
    > {
        let telemetry = Arc::new(Latest::new());
        let registry = Arc::new(Latest::new());
        // The copy's registry at once (its changes show from its first cycle).
        registry.publish(Arc::new(fork.simulation.registry().snapshot()));
        let mut sinks: Vec<Box<dyn Sink + Send>> =
            vec![Box::new(Publisher::into_slots(Arc::clone(&telemetry), Arc::clone(&registry)))];
        let tick = fork.simulation.tick();
        let (run_id, on_close) = match &self.store {
            Some(store) => {
                let info = run_info(fork.simulation.spec(), fork.simulation.registry());
                let plan = RunPlan {
                    tick_target: None,
                    schedule: Some(fork.schedule.to_json()),
                    lineage: Some(Lineage {
                        parent_run_id: fork.parent,
                        fork_tick: tick,
                        name,
                        changes: changes.clone().into(),
                    }),
                };
                let writer = store.start_run(&info, &plan).map_err(|e| format!("cannot record the branch: {e}"))?;
                let run_id = writer.run_id();
                // Its state at the fork: the branch can be rebuilt from its own records.
                let mut checkpointer =
                    Checkpointer::new(store.clone(), run_id, self.checkpoints.unwrap_or_default(), tick);
                checkpointer.take_start(fork.simulation).map_err(|e| format!("cannot record the branch: {e}"))?;
                sinks.push(Box::new(Recorder::new(writer.clone())));
                if self.checkpoints.is_some() {
                    sinks.push(Box::new(checkpointer));
                }
                let forget = store.clone();
                let on_close = Box::new(move |closing: &Closing| {
                    let done = match closing {
                        Closing::Dropped { tick: dropped } => writer.finish_dropped(*dropped).and_then(|_| {
                            // It will not be resumed: only its starting state (shared,
                            // what replays it) is kept.
                            forget.submit(move |conn| checkpoints::forget_after(conn, run_id, tick).map(drop))
                        }),
                        Closing::Failed { error, .. } => {
                            writer.finish(RunStatus::Failed, Some(error.clone())).map(drop)
                        }
                        Closing::Ended { status } => writer.finish(*status, None).map(drop),
                    };
                    if let Err(e) = done {
                        warn!(run_id, "the branch's record could not be closed: {e}");
                    }
                }) as crate::branches::OnClose;
                (run_id, Some(on_close))
            }
            None => {
                let run_id = self.next_id;
                self.next_id += 1;
                (run_id, None)
            }
        };
        Ok((Opened { run_id, sinks, on_close }, telemetry, registry))
    }
}

fn refusal(e: GroupError) -> Refusal {
    let code = match &e {
        GroupError::UnknownRun(_) => RefusalCode::UnknownRun,
        GroupError::TooMany => RefusalCode::TooManyBranches,
        GroupError::Invalid(_) => RefusalCode::Invalid,
        GroupError::NotABranch(_) => RefusalCode::NotABranch,
        GroupError::Unavailable(_) => RefusalCode::Unavailable,
    };
    Refusal::new(code, e.to_string())
}
