//! `watchtower replay`: proves a recorded run is reproducible.
//!
//! The runner rebuilds the run from what the database holds (its seed, size, parameters
//! at start and the commands that changed it, at their ticks), runs it headless and
//! compares every tick with the stored row, bit for bit, stopping at the first
//! difference and naming it. A what-if branch is replayed from its checkpoint at the
//! fork (its state when it was copied) with its own commands.

use clap::Args;
use watchtower_runner::replay::{Compare, recorded};
use watchtower_runner::resume::rebuild;
use watchtower_runner::{Headless, Session, Sink, Stop};
use watchtower_store::History;

use crate::error::AppError;
use crate::history::resolve_run;
use crate::settings::DataDirArg;

/// Arguments of `watchtower replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// The run: its id, or `latest`.
    #[arg(long, default_value = "latest")]
    pub run: String,
    /// Replay only the first N ticks.
    #[arg(long)]
    pub ticks: Option<u64>,
}

/// Replays the run and compares; `Err` on the first difference.
pub fn replay(args: ReplayArgs) -> Result<(), AppError> {
    let history = History::open(&args.data.database(), 1)?;
    let id = resolve_run(&history, &args.run, &args.data)?;
    let recorded = recorded(&history, id)?;
    let Some(last) = recorded.run.last_tick else {
        return Err(AppError::Usage(format!("run {id} has no ticks to compare")));
    };
    let last = args.ticks.map_or(last, |n| n.saturating_sub(1).min(last));
    let (recorded_by, scenario_model) = (recorded.run.model_version.clone(), recorded.scenario.model);
    let first = recorded.run.fork_tick.filter(|_| recorded.run.parent_run_id.is_some()).unwrap_or(0);
    let (mut session, commands) = if first > 0 {
        // A branch: from its state at the fork, with the commands it received.
        let fork = rebuild(&history, id, Some(first), &Stop::default())?;
        let commands = fork.schedule.entries().iter().filter(|e| e.tick <= last).count();
        (Session::new(fork.simulation, fork.schedule), commands)
    } else {
        let scenario = recorded.scenario;
        let commands = scenario.schedule.entries().iter().filter(|e| e.tick <= last).count();
        (Session::new(scenario.build()?, scenario.schedule.clone()), commands)
    };
    // A thinned run (`--keep-ticks`) is compared on the rows kept: every command and the
    // parameters at start are, so it still replays from genesis.
    let thinned = recorded.run.thinned;
    let mut compare = Compare::between(&history, id, first, last).thinned(thinned);
    let ran = session.run(Some(last + 1), &mut Headless::default(), &mut [&mut compare as &mut dyn Sink]);
    if let Err(e) = ran {
        let tick = session.simulation().tick();
        return Err(AppError::NotReproducible(format!(
            "run {id} does not replay: tick {tick}: the replay stopped: {e}"
        )));
    }
    if let Some(difference) = compare.difference {
        let now = watchtower_runner::scenario::model_version(scenario_model);
        let note = if recorded_by != now {
            format!(" (it was recorded by `{recorded_by}`; this is `{now}`, whose numbers may differ)")
        } else {
            String::new()
        };
        return Err(AppError::NotReproducible(format!("run {id} does not replay: {difference}{note}")));
    }
    let kept = match thinned.filter(|t| t.before > first) {
        Some(t) => format!(" (the ticks stored: {t})"),
        None => String::new(),
    };
    say!(
        "Run {id} replays exactly: {} ticks ({first} to {last}){kept} identical, bit for bit, with {commands} commands re-applied",
        compare.compared
    );
    Ok(())
}
