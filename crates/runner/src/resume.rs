//! A recorded run rebuilt at a tick, from its latest checkpoint plus the commands
//! recorded after it: how a run killed by a crash, a `kill -9` or a power cut continues
//! (`--resume`), and how `run --fork-of` copies a recorded economy.
//!
//! 1. The newest checkpoint at or before the tick that restores is restored (a damaged
//!    one is passed over and named; one of another format is refused, never misread);
//!    without one, the economy is built again from genesis (a branch, which has no
//!    genesis of its own, is refused).
//! 2. The ticks from the checkpoint to the tick are run again with the commands recorded
//!    for them, and every one is compared with the stored row, bit for bit: a resumed
//!    run continues only from a state proven to be the one that produced its rows.
//! 3. For a resume, the commands applied while paused just before the crash (recorded at
//!    the next tick, applied in an idle cycle) are applied the same way.
//! 4. What is left to apply from then on: the run's planned schedule past what it had
//!    reached (and, for a fork, the commands recorded from the fork tick on).
//!
//! [`rebuild`] writes nothing in the database. `--resume` (of `run` and `serve` alike)
//! goes through [`Resumable`], in three steps, each a point where the caller may still
//! refuse with the database untouched (`run`: the run has no tick target; `serve`: the
//! port is taken):
//!
//! ```text
//! Resumable::find(db, explicit)   a database there, and the interrupted run
//!   .rebuild(stop)                its state where its stored ticks end, proven
//!   .resume(db, checkpoints)      its writer resumed there (the rows from that tick on
//!                                 are the resumed run's own), and its checkpointer
//! ```

use std::path::Path;

use watchtower_engine::checkpoint::FORMAT;
use watchtower_engine::config::Origin;
use watchtower_engine::{CheckpointError, RawValue, Simulation};
use watchtower_store::checkpoints::AppliedCommand;
use watchtower_store::{History, RunRow, StoreError, Writer, WriterOptions};

use crate::checkpoints::{CheckpointOptions, Checkpointer};
use crate::replay::{Compare, ReplayError, recorded};
use crate::scenario::{Scenario, ScenarioError};
use crate::schedule::{Schedule, Scheduled};
use crate::session::{Driver, Headless, Next, RunError, SCHEDULE_SOURCE, Session, Stop};
use crate::sink::Sink;

/// Why a run cannot be rebuilt; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run's row cannot be turned into a scenario.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Its scenario cannot be built.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// There is nothing to resume, or not this.
    #[error("{0}")]
    Refused(String),
    /// The checkpoint was written in another format.
    #[error(
        "run {run}'s checkpoint at tick {tick} is in checkpoint format {found}, and this build reads format {FORMAT} only: \
         resume it with the Watchtower version that wrote it"
    )]
    Format {
        /// The run.
        run: i64,
        /// The checkpoint's tick.
        tick: u64,
        /// Its format.
        found: u32,
    },
    /// The checkpoint's bytes were refused by the engine.
    #[error("run {run}'s checkpoint at tick {tick} cannot be restored: {source}")]
    Checkpoint {
        /// The run.
        run: i64,
        /// The checkpoint's tick.
        tick: u64,
        /// Why.
        source: CheckpointError,
    },
    /// Running the ticks again failed.
    #[error("run {run} cannot be rebuilt: {source}")]
    Run {
        /// The run.
        run: i64,
        /// Why.
        source: RunError,
    },
    /// The ticks run again are not the stored ones.
    #[error("run {run} cannot be resumed: re-run from tick {from}, {difference}")]
    Diverged {
        /// The run.
        run: i64,
        /// Where the re-run started (the checkpoint's tick, or 0).
        from: u64,
        /// The first difference.
        difference: String,
    },
    /// A stop was asked for while the ticks were run again.
    #[error("stopped while run {0} was being rebuilt")]
    Stopped(i64),
}

/// A recorded run, rebuilt at a tick.
pub struct Rebuilt {
    /// The run's row.
    pub run: RunRow,
    /// Its scenario as planned (the schedule is the planned one).
    pub scenario: Scenario,
    /// The economy before tick [`Rebuilt::tick`] runs.
    pub simulation: Simulation,
    /// What is left to apply from [`Rebuilt::tick`] on.
    pub schedule: Schedule,
    /// The first tick to run.
    pub tick: u64,
    /// The tick of the checkpoint restored; `None`: built from genesis.
    pub checkpoint: Option<u64>,
    /// Stored ticks run again and found identical.
    pub verified: u64,
    /// Newer checkpoints passed over because they could not be restored, newest first.
    pub damaged: Vec<Damaged>,
}

/// The run `--resume` means: `explicit`, which must be interrupted, or else the newest
/// run started from genesis (not a branch), if it was interrupted. The caller holds the
/// data directory's lock.
pub fn find_resumable(history: &History, explicit: Option<i64>) -> Result<RunRow, ResumeError> {
    let runs = history.runs()?;
    let run = match explicit {
        Some(id) => runs
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| ResumeError::Refused(format!("no run {id} in the database")))?,
        None => runs
            .into_iter()
            .find(|r| r.parent_run_id.is_none())
            .ok_or_else(|| ResumeError::Refused("the database holds no run to resume".into()))?,
    };
    match run.status.as_str() {
        // `running`: left so by a process that died (the caller holds the lock, so no
        // live process runs it); the store marks it interrupted when it opens.
        "interrupted" | "running" => Ok(run),
        status => Err(ResumeError::Refused(format!(
            "run {} is {status}, not interrupted: there is nothing to resume{}",
            run.id,
            if explicit.is_none() { " (name an interrupted run with --resume ID)" } else { "" }
        ))),
    }
}

/// The run `--resume` means, found in a database and not yet rebuilt.
pub struct Resumable {
    history: History,
    /// The run's row.
    pub run: RunRow,
}

impl Resumable {
    /// The run `explicit` (or the newest, see [`find_resumable`]) in the database at
    /// `db`, which must exist. The caller holds the data directory's lock.
    pub fn find(db: &Path, explicit: Option<i64>) -> Result<Self, ResumeError> {
        if !db.exists() {
            return Err(ResumeError::Refused(format!("nothing to resume: there is no database at {}", db.display())));
        }
        // A damaged file would resume, then fail at the first write into the damage (and
        // a read pool would retry a file it cannot open for its whole timeout).
        watchtower_store::quick_check(db).map_err(|problem| {
            ResumeError::Refused(format!(
                "{} is damaged (SQLite's quick_check: {problem}): refusing to resume from it; nothing was changed \
                 (restore a copy, or `watchtower export` what can still be read)",
                db.display()
            ))
        })?;
        let history = History::open(db, 1)?;
        let run = find_resumable(&history, explicit)?;
        Ok(Self { history, run })
    }

    /// Rebuilds it where its stored ticks end (see [`rebuild`]); `stop` interrupts.
    pub fn rebuild(self, stop: &Stop) -> Result<Rebuilt, ResumeError> {
        rebuild(&self.history, self.run.id, None, stop)
    }
}

/// A run continued in the store as the same run.
pub struct Resumed {
    /// The run, rebuilt where it continues.
    pub rebuilt: Rebuilt,
    /// Its writer, resumed at [`Rebuilt::tick`].
    pub writer: Writer,
    /// Its checkpoints from there on, if they are taken.
    pub checkpointer: Option<Checkpointer>,
}

impl Rebuilt {
    /// Continues the run in the database at `db` from [`Rebuilt::tick`]: the store
    /// marks it running again and notes the tick it resumed at; checkpoints are taken
    /// with `checkpoints`, counting from there; the writer keeps what `options` says.
    pub fn resume(
        self,
        db: &Path,
        checkpoints: Option<CheckpointOptions>,
        options: WriterOptions,
    ) -> Result<Resumed, ResumeError> {
        let writer = Writer::resume(db, self.run.id, self.tick, options)?;
        let checkpointer =
            checkpoints.map(|options| Checkpointer::new(writer.store().handle(), writer.run_id(), options, self.tick));
        Ok(Resumed { rebuilt: self, writer, checkpointer })
    }
}

/// Whether two specs make the same economy (a Mark-0 run records no agent count, a
/// Boltzmann run no households or firms).
fn same_economy(a: &watchtower_engine::RunSpec, b: &watchtower_engine::RunSpec) -> bool {
    let size = |s: &watchtower_engine::RunSpec| match s.model {
        watchtower_engine::ModelKind::Mark0 => (s.households, s.firms),
        watchtower_engine::ModelKind::Boltzmann => (s.agents, 0),
    };
    a.model == b.model && a.seed == b.seed && size(a) == size(b)
}

/// Answers one idle cycle, then stops: how commands applied while paused are applied.
struct IdleOnce(bool);

impl Driver for IdleOnce {
    fn next(&mut self, _simulation: &Simulation) -> Next {
        if std::mem::take(&mut self.0) { Next::Idle } else { Next::Stop }
    }
}

fn scheduled(commands: impl Iterator<Item = AppliedCommand>, origin: &Origin) -> Vec<Scheduled> {
    commands
        .map(|c| Scheduled {
            tick: c.tick,
            key: c.command.key,
            value: RawValue::from(&c.command.value),
            origin: origin.clone(),
        })
        .collect()
}

/// Rebuilds run `id` before tick `at` (`None`: where its stored ticks end, for a resume).
/// `stop` interrupts the re-run.
pub fn rebuild(history: &History, id: i64, at: Option<u64>, stop: &Stop) -> Result<Rebuilt, ResumeError> {
    let recorded = recorded(history, id)?;
    let run = recorded.run;
    let end = history.last_tick(id, u64::MAX)?.map_or(0, |last| last + 1);
    let tick = at.unwrap_or(end);
    if tick > end {
        return Err(ResumeError::Refused(format!(
            "run {id} has stored ticks up to {}: it can be rebuilt at tick {end} at most, not {tick}",
            end.saturating_sub(1)
        )));
    }
    let planned = match &run.schedule {
        serde_json::Value::Null => Schedule::default(),
        json => Schedule::from_json(json, &format!("run {id}'s schedule")).map_err(ResumeError::Refused)?,
    };
    let mut scenario = recorded.scenario;
    scenario.schedule = planned.clone();

    let mut damaged = Vec::new();
    let (simulation, from) = match restore_newest_sound(history, id, tick, &scenario, &mut damaged)? {
        Some((sim, at)) => (sim, Some(at)),
        None if run.parent_run_id.is_some() => {
            let why = damaged.iter().map(|d: &Damaged| d.to_string()).collect::<Vec<_>>().join("; ");
            return Err(ResumeError::Refused(format!(
                "run {id} is a branch and has no sound checkpoint at or before tick {tick} to start from{}",
                if why.is_empty() { String::new() } else { format!(" ({why})") }
            )));
        }
        None => {
            // Genesis takes the parameters at start, without the schedule's checks.
            let mut genesis = scenario.clone();
            genesis.schedule = Schedule::default();
            (genesis.build()?, None)
        }
    };

    let origin = Origin { source: format!("run {id}'s commands"), line: None };
    let start = from.unwrap_or(0);
    let applied = history.applied_since(id, start)?;
    let catch_up = Schedule::new(scheduled(applied.iter().filter(|c| c.tick < tick).cloned(), &origin));
    let mut session = Session::new(simulation, catch_up);
    let mut compare = Compare::between(history, id, start, tick.saturating_sub(1)).thinned(run.thinned);
    let ran = session.run(Some(tick), &mut Headless::until_stopped(stop.clone()), &mut [&mut compare as &mut dyn Sink]);
    ran.map_err(|source| ResumeError::Run { run: id, source })?;
    if let Some(difference) = compare.difference.take() {
        return Err(ResumeError::Diverged { run: id, from: start, difference });
    }
    if session.simulation().tick() < tick {
        return Err(ResumeError::Stopped(id));
    }
    let verified = compare.compared;
    let mut simulation = session.into_simulation();

    let mut schedule = Vec::new();
    if at.is_none() {
        // Commands applied while paused after the last stored tick: applied again the
        // same way, in an idle cycle (they are recorded already).
        let idle: Vec<AppliedCommand> = applied.iter().filter(|c| c.tick == end).cloned().collect();
        if !idle.is_empty() {
            let mut session = Session::new(simulation, Schedule::new(scheduled(idle.into_iter(), &origin)));
            let mut compare = Compare::between(history, id, end, end);
            session
                .run(None, &mut IdleOnce(true), &mut [&mut compare as &mut dyn Sink])
                .map_err(|source| ResumeError::Run { run: id, source })?;
            if let Some(difference) = compare.difference.take() {
                return Err(ResumeError::Diverged { run: id, from: start, difference });
            }
            simulation = session.into_simulation();
        }
    } else {
        schedule.extend(scheduled(applied.iter().filter(|c| c.tick >= tick).cloned(), &origin));
    }
    // The planned schedule past what the run reached. A tick's scheduled commands are
    // applied in one cycle, so those of the end tick were applied iff one is recorded.
    let end_applied = applied.iter().any(|c| c.tick == end && c.source == SCHEDULE_SOURCE);
    schedule.extend(planned.entries().iter().filter(|e| e.tick > end || (e.tick == end && !end_applied)).cloned());
    Ok(Rebuilt {
        run,
        scenario,
        simulation,
        schedule: Schedule::new(schedule),
        tick,
        checkpoint: from,
        verified,
        damaged,
    })
}

/// A checkpoint passed over because it could not be restored.
#[derive(Debug, Clone)]
pub struct Damaged {
    /// Its tick.
    pub tick: u64,
    /// Why it was passed over.
    pub why: String,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the checkpoint at tick {} is damaged ({})", self.tick, self.why)
    }
}

/// Run `id`'s newest checkpoint at or before `tick` that restores, and its tick; the
/// damaged ones passed over on the way are added to `damaged`. A checkpoint of another
/// format is refused, not passed over: it is sound, only not this build's to read.
fn restore_newest_sound(
    history: &History,
    id: i64,
    tick: u64,
    scenario: &Scenario,
    damaged: &mut Vec<Damaged>,
) -> Result<Option<(Simulation, u64)>, ResumeError> {
    let accept = |info: &watchtower_store::CheckpointInfo| {
        if info.format == FORMAT {
            Ok(())
        } else {
            Err(ResumeError::Format { run: id, tick: info.tick, found: info.format })
        }
    };
    let mut ticks: Vec<u64> = history.checkpoints(id)?.into_iter().map(|c| c.tick).filter(|&t| t <= tick).collect();
    ticks.reverse();
    for at in ticks {
        let (info, bytes) = match history.load_checkpoint(id, at, accept) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(ResumeError::Store(StoreError::Checkpoint(why))) => {
                // The store's message names the run and the tick, which the warning does.
                let why = why.split_once("is damaged: ").map_or(why.clone(), |(_, why)| why.to_string());
                damaged.push(Damaged { tick: at, why });
                continue;
            }
            Err(e) => return Err(e),
        };
        let sim = match Simulation::restore(&bytes) {
            Ok(sim) => sim,
            Err(source @ (CheckpointError::NotACheckpoint | CheckpointError::Damaged(_))) => {
                damaged.push(Damaged { tick: info.tick, why: source.to_string() });
                continue;
            }
            // Sound bytes this build cannot read: refused, as one of another format is.
            Err(source) => return Err(ResumeError::Checkpoint { run: id, tick: info.tick, source }),
        };
        if !same_economy(sim.spec(), &scenario.spec()) {
            damaged.push(Damaged { tick: info.tick, why: "it is of another economy than the run's row says".into() });
            continue;
        }
        return Ok(Some((sim, info.tick)));
    }
    Ok(None)
}
