//! `watchtower run --fork-of RUN --at TICK --set KEY=VALUE --ticks N`: what would have
//! happened if…? The recorded run is rebuilt before tick TICK from its latest checkpoint
//! plus the commands recorded after it (every stored tick re-run is checked against its
//! row), copied, the settings changed in the copy, and both run side by side for N
//! ticks, in lockstep, on the same random numbers: the baseline is the run as recorded
//! (with its own later commands and schedule), the branch the same with the change. The
//! paired table (baseline, branch, difference, per tick) goes to `--out` or stdout.
//! Nothing is written to the database, so it works beside a live server.
//!
//! With `--seeds S` it is an ensemble instead ([`watchtower_experiment::ensemble`]): S
//! pairs, each baseline and branch re-seeded alike at the fork, and the effect of the
//! change per indicator with its 95% interval; `--out` gets the per-tick mean effect and
//! band.

use std::io::{BufWriter, Write};
use std::time::Instant;

use watchtower_engine::config;
use watchtower_experiment::ensemble::{Ensemble, EnsembleError, pair_seeds};
use watchtower_runner::branches::{Branch, change_commands, settings_as_changes};
use watchtower_runner::paired::paired;
use watchtower_runner::resume::rebuild;
use watchtower_runner::workers::Pool;
use watchtower_runner::{Headless, RunError, Session, Sink, Stop};
use watchtower_store::{Format, History};

use crate::error::AppError;
use crate::run::{RunArgs, out_format};
use watchtower_store::outputs::Output;

/// The indicators the closing summary shows.
const SUMMARY: &[&str] = &[
    "unemployment_rate",
    "inflation",
    "gdp",
    "average_wage",
    "gini_income",
    "gini_wealth",
    "tax_revenue",
    "welfare_paid",
    "government_debt",
];

/// What `watchtower runs` says of a run besides its numbers: a branch's parent, fork
/// tick and changes, a drop, the ticks it was resumed at.
pub fn notes(run: &watchtower_store::RunRow) -> String {
    let mut notes = Vec::new();
    if let (Some(parent), Some(tick)) = (run.parent_run_id, run.fork_tick) {
        let changes = match run.changes.as_object() {
            Some(m) if !m.is_empty() => m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
            _ => "no change".into(),
        };
        let name = run.branch_name.as_ref().map_or(String::new(), |n| format!(" \"{n}\""));
        notes.push(format!("branch{name} of run {parent} at tick {tick} ({changes})"));
    }
    if let Some(tick) = run.dropped_tick {
        notes.push(format!("dropped at tick {tick}"));
    }
    for tick in &run.resumed_at {
        notes.push(format!("resumed at tick {tick}"));
    }
    if let Some(thinned) = run.thinned {
        notes.push(format!("{thinned} (--keep-ticks)"));
    }
    notes.join("; ")
}

/// `--seeds S`: the change's effect across S pairs, with its interval.
#[allow(clippy::too_many_arguments)]
fn ensemble(
    args: &RunArgs,
    parent: i64,
    ticks: u64,
    seeds: usize,
    start: watchtower_engine::Simulation,
    schedule: watchtower_runner::Schedule,
    changes: Vec<(String, serde_json::Value)>,
    stop: &Stop,
) -> Result<(), AppError> {
    if seeds < 2 {
        return Err(AppError::Usage("--seeds must be at least 2 (an interval needs two pairs)".into()));
    }
    let jobs = match args.jobs {
        Some(0) => return Err(AppError::Usage("--jobs must be at least 1".into())),
        Some(jobs) => jobs,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let format = match &args.out {
        Some(path) => Some(out_format(args, path)?),
        None => None,
    };
    let at = start.tick();
    let ensemble =
        Ensemble { seeds: pair_seeds(start.spec().seed, at, seeds), start, schedule, changes: changes.clone(), ticks };
    eprintln!(
        "{seeds} pairs of {ticks} ticks from tick {at} on {} thread{}…",
        jobs.min(seeds),
        if jobs.min(seeds) == 1 { "" } else { "s" }
    );
    let started = Instant::now();
    let forecast = ensemble.run(jobs, stop, |_| {}).map_err(|e| match e {
        EnsembleError::Stopped => AppError::Usage("stopped before every pair had run: nothing written".into()),
        e => AppError::Usage(format!("the ensemble failed: {e}")),
    })?;
    let elapsed = started.elapsed();
    if let (Some(path), Some(format)) = (&args.out, format) {
        let output = Output::create(path, &args.data.data_dir, args.force)?;
        let mut file = BufWriter::new(output.file()?);
        match format {
            Format::Csv => forecast.write_csv(&mut file),
            Format::Jsonl => forecast.write_jsonl(&mut file),
        }
        .map_err(|e| AppError::Usage(format!("{}: {e}", path.display())))?;
        drop(file);
        output.commit()?;
    }
    eprintln!(
        "{seeds} pairs in {:.2} s; seeds from run {parent}'s seed and tick {at} (the first: {})",
        elapsed.as_secs_f64(),
        forecast.seeds.iter().take(3).map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    let change = changes.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ");
    say!(
        "Run {parent} from tick {at}, {ticks} ticks, {seeds} pairs (common random numbers); change: {}\n\
         Effect averaged over the ticks, mean across the pairs and its 95% interval (Student's t):\n{}",
        if change.is_empty() { "none".to_string() } else { change },
        forecast.table()
    );
    if let Some(path) = &args.out {
        say!("per-tick mean effect and band written to {}", path.display());
    }
    Ok(())
}

/// Runs the what-if and writes its paired table.
pub fn fork_of(args: &RunArgs, stop: &Stop) -> Result<(), AppError> {
    let (parent, at) = (args.fork_of.expect("--fork-of"), args.at.expect("--at"));
    let ticks = args.ticks.ok_or_else(|| AppError::Usage("--fork-of needs --ticks N (ticks after the fork)".into()))?;
    if !args.economy.config.is_empty() || args.economy.preset.is_some() {
        return Err(AppError::Usage(
            "--fork-of copies the recorded economy: only --set applies (no --config or --preset)".into(),
        ));
    }
    // The one `KEY=VALUE` parser, as `run --set` reads it.
    let settings = args
        .economy
        .set
        .iter()
        .map(|arg| config::parse_set(arg))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Usage(e.to_string()))?;
    if let Some(path) = &args.out {
        watchtower_store::outputs::check(path, &args.data.data_dir, args.force)?;
    }
    let db = args.data.database();
    if !db.exists() {
        return Err(AppError::Usage(format!("no database at {}", db.display())));
    }
    let history = History::open(&db, 2)?;
    let started = Instant::now();
    let rebuilt = rebuild(&history, parent, Some(at), stop)?;
    for damaged in &rebuilt.damaged {
        eprintln!("Warning: run {parent}: {damaged}; passed over for an older one");
    }
    eprintln!(
        "Run {parent} rebuilt before tick {at} ({}; {} stored ticks re-run and found identical) in {:.2} s",
        rebuilt.checkpoint.map_or("from genesis".into(), |c| format!("from its checkpoint at tick {c}")),
        rebuilt.verified,
        started.elapsed().as_secs_f64()
    );
    let mut baseline = rebuilt.simulation;
    let changes =
        settings_as_changes(baseline.registry(), &settings).map_err(|e| AppError::Usage(format!("--set: {e}")))?;
    if let Some(seeds) = args.seeds {
        return ensemble(args, parent, ticks, seeds, baseline, rebuilt.schedule, changes, stop);
    }
    let pool = Pool::machine().map_err(|e| AppError::Startup(format!("cannot start threads: {e}")))?;
    baseline.set_workers(pool.clone());
    let copy = baseline.fork();

    let (format, out, output): (Format, Box<dyn Write>, Option<Output>) = match &args.out {
        Some(path) => {
            let format = out_format(args, path)?;
            let output = Output::create(path, &args.data.data_dir, args.force)?;
            (format, Box::new(BufWriter::new(output.file()?)), Some(output))
        }
        None => (
            args.format.map(Format::from).unwrap_or(Format::Csv),
            Box::new(BufWriter::new(std::io::stdout().lock())),
            None,
        ),
    };
    let (mut table, tap) = paired(out, format);
    let mut session = Session::new(baseline, rebuilt.schedule.clone());
    session.branches_mut().set_workers(pool);
    session.branches_mut().add(
        Branch::new(0, copy, rebuilt.schedule, 0, vec![Box::new(tap)])
            .with_changes(change_commands(&changes), &format!("fork of run {parent} (command line)")),
    );
    let target = at + ticks;
    let started = Instant::now();
    let result =
        session.run(Some(target), &mut Headless::until_stopped(stop.clone()), &mut [&mut table as &mut dyn Sink]);
    let elapsed = started.elapsed();
    if session.branches().is_empty() && result.is_ok() && table.ticks < ticks {
        return Err(AppError::Usage(format!(
            "the branch stopped at tick {}: its engine failed with the change (see the log)",
            at + table.ticks
        )));
    }
    let summary = table.summary(SUMMARY);
    drop(table);
    session.branches_mut().close_all(watchtower_store::RunStatus::Finished);
    if let (Ok(_), Some(output)) = (&result, output) {
        output.commit()?;
    }
    match result {
        Ok(_) => {}
        Err(RunError::Sink(e)) => return Err(AppError::Run(RunError::Sink(e))),
        Err(e) => return Err(e.into()),
    }
    let report = || {
        let mut s = format!(
            "Run {parent} from tick {at}, {} ticks side by side in {:.2} s ({:.0} ticks/s each); change: {}\n",
            summary.ticks,
            elapsed.as_secs_f64(),
            summary.ticks as f64 / elapsed.as_secs_f64().max(1e-9),
            if changes.is_empty() {
                "none".to_string()
            } else {
                changes.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
            }
        );
        let num = |x: f64| if x.abs() >= 1e4 { format!("{x:.0}") } else { format!("{x:.6}") };
        s += &format!("  {:<22}{:>20}{:>20}{:>20}\n", "mean over the ticks", "baseline", "branch", "difference");
        for (name, a, b, d) in &summary.means {
            s += &format!("  {name:<22}{:>20}{:>20}{:>20}\n", num(*a), num(*b), num(*d));
        }
        s
    };
    match &args.out {
        Some(path) => say!("{}paired table written to {}", report(), path.display()),
        None => eprint!("{}", report()),
    }
    Ok(())
}
