//! `watchtower replay`: proves a recorded run is reproducible.
//!
//! Everything that determines a run is in the database: its seed and size, every
//! parameter at start (`runs.parameters`) and every command that changed something, with
//! the tick whose phase 0 applied it (`commands`). Replay rebuilds the economy from those
//! alone, re-applies the commands at their ticks, and compares every tick's indicators
//! with the stored row, bit for bit. It stops at the first difference and names it.

use clap::Args;
use watchtower_engine::config::{Origin, Override, apply_overrides};
use watchtower_engine::{ModelKind, RawValue, Registry, RunSpec, Simulation};
use watchtower_protocol::{IndicatorValue, Indicators};
use watchtower_store::History;

use crate::error::AppError;
use crate::settings::DataDirArg;

/// Arguments of `watchtower replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
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
    let id = match args.run.as_str() {
        "latest" => history.latest_run()?.ok_or_else(|| AppError::Usage("the database holds no runs yet".into()))?,
        id => id.parse().map_err(|_| AppError::Usage(format!("--run {id}: expected a run id or `latest`")))?,
    };
    let run = history
        .runs()?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| AppError::Usage(format!("no run {id} in {}", args.data.database().display())))?;
    let model = ModelKind::from_name(&run.model).ok_or_else(|| {
        AppError::Usage(format!("run {id} is of model `{}`, which this build does not know", run.model))
    })?;
    let mut registry = Registry::builtin(model);
    let origin = Origin { source: format!("run {id}'s parameters"), line: None };
    let parameters: Vec<Override> = run
        .parameters
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| Override { key: k.clone(), value: RawValue::from(v), origin: origin.clone() })
                .collect()
        })
        .unwrap_or_default();
    apply_overrides(&mut registry, &parameters)?;
    let spec = RunSpec {
        model,
        seed: run.seed,
        households: run.households as usize,
        firms: run.firms as usize,
        agents: run.agents as usize,
    };
    let Some(last) = run.last_tick else {
        return Err(AppError::Usage(format!("run {id} has no ticks to compare")));
    };
    let last = args.ticks.map_or(last, |n| n.saturating_sub(1).min(last));
    let commands = history.applied_commands(id)?;
    let mut pending = commands.iter().peekable();
    let mut sim = Simulation::new(spec, registry)?;
    let mut compared = 0u64;
    let mut failure = None;
    history.for_each_tick(id, 0, last, usize::MAX, |tick, stored| {
        if failure.is_some() {
            return Ok(());
        }
        while let Some((_, command)) = pending.next_if(|(t, _)| *t <= tick) {
            sim.submit(command.clone());
        }
        let outcome = match sim.step() {
            Ok(o) => o,
            Err(e) => {
                failure = Some(format!("tick {tick}: the replay stopped: {e}"));
                return Ok(());
            }
        };
        if outcome.tick != tick {
            failure = Some(format!("tick {tick} is missing from the stored run (replay reached {})", outcome.tick));
        } else if let Some(r) = outcome.responses.iter().find(|r| !r.success) {
            failure = Some(format!("tick {tick}: command {} was refused on replay: {:?}", r.id, r.error));
        } else if let Some(field) = first_difference(&outcome.telemetry.indicators, stored) {
            failure = Some(format!("tick {tick} differs first in `{field}`"));
        }
        compared += 1;
        Ok(())
    })?;
    if let Some(f) = failure {
        return Err(AppError::NotReproducible(format!("run {id} does not replay: {f}")));
    }
    say!(
        "Run {id} replays exactly: {compared} ticks (0 to {last}) identical, bit for bit, with {} commands re-applied",
        commands.iter().filter(|(t, _)| *t <= last).count()
    );
    Ok(())
}

/// The first indicator whose replayed value differs from the stored one (bit for bit).
fn first_difference(replayed: &Indicators, stored: &[IndicatorValue]) -> Option<&'static str> {
    let same = |a: IndicatorValue, b: IndicatorValue| match (a, b) {
        (IndicatorValue::Real(x), IndicatorValue::Real(y)) => x.to_bits() == y.to_bits(),
        (a, b) => a == b,
    };
    Indicators::FIELDS
        .iter()
        .zip(replayed.values().zip(stored.iter().copied()))
        .find(|(_, (a, b))| !same(*a, *b))
        .map(|((name, _), _)| *name)
}
