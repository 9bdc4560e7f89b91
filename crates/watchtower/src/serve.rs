//! `watchtower serve` (and plain `watchtower`): the economy live, with the dashboard.
//!
//! Start-up ([`Service::start`]) only wires: settings are validated, the data directory
//! is locked, a resumed run rebuilt, the port bound, the store opened; then the runner's
//! [`LiveEngine`] starts the engine thread (genesis and ticks) and the server, on a
//! tokio runtime, serves. The URL (with its access token) is printed. `/readyz` turns
//! 200 with the first settled tick.
//!
//! Supervision: if the server task panics or its listener fails, the engine never
//! notices; the app rebinds and serves again within a second. If the engine fails, the
//! books can no longer be trusted: the app stops everything and exits with the error.
//!
//! Shutdown (SIGINT/SIGTERM): stop taking commands and close the sockets, let the engine
//! finish the tick in flight, flush the writer, mark the run, checkpoint the WAL, close
//! every connection, release the lock, exit 0.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use tracing::{info, warn};
use watchtower_bridge::Bridge;
use watchtower_engine::Registry;
use watchtower_runner::checkpoints::{CheckpointOptions, Checkpointer};
use watchtower_runner::disk_guard::{DiskGuard, Thresholds};
use watchtower_runner::live_engine::{EngineExit, EngineThread, LiveEngine, Start};
use watchtower_runner::resume::{Rebuilt, Resumable, Resumed};
use watchtower_runner::{Scenario, Stop};
use watchtower_server::connections::Limits;
use watchtower_server::{Bound, CellsQuery, ExperimentAnswer, ExperimentReader, Running, ServerConfig, ServerState};
use watchtower_store::{History, RunStatus, Writer, WriterOptions, WriterReport};

use crate::error::AppError;
use crate::listen::ListenArgs;
use crate::settings::{CheckpointArgs, DataDirArg, EconomyArgs};
use watchtower_store::DirLock;

/// Arguments of `watchtower serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The economy.
    #[command(flatten)]
    pub economy: EconomyArgs,
    /// The data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Where it listens, and the connection limits.
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Access token for commands (default: generated and printed with the URL).
    #[arg(long, env = "WATCHTOWER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Ticks per second, 0.1 or more; 0 runs as fast as possible (default: the registry's
    /// sim.tick_rate, 20).
    #[arg(long, value_name = "HZ")]
    pub tick_rate: Option<f64>,
    /// Run without persisting anything (no lock, no database).
    #[arg(long)]
    pub no_store: bool,
    /// Allow a non-loopback --bind without a configured --token.
    #[arg(long)]
    pub insecure: bool,
    /// Stop cleanly after this many ticks (for scripted runs and benchmarks).
    #[arg(long, value_name = "N")]
    pub ticks: Option<u64>,
    /// Agents sampled for the embedding map (t-SNE) computed at start; 0 switches it off.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    pub embedding_sample: usize,
    /// Continue an interrupted run (default: the newest run, if it was interrupted) from
    /// its latest checkpoint, as the same run, to the tick target it was started with
    /// (or --ticks). The economy flags are the run's own and are ignored.
    #[arg(long, value_name = "RUN", num_args = 0..=1, conflicts_with = "no_store")]
    pub resume: Option<Option<i64>>,
    /// Checkpoints and retention (--keep-ticks).
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    /// Free space the data directory's disk must keep: under twice this, a warning in the
    /// log and on /readyz; under it, the run is paused (an audited sim.paused) before the
    /// disk fills. A size such as 1GiB or 500MiB; 0 switches the guard off.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = crate::settings::parse_size)]
    pub min_free_disk: u64,
}

fn generate_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Startup(format!("cannot generate an access token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What `serve` is started with, every setting checked before anything is created.
struct Checked {
    /// The economy (for a resumed run, unused: the run's own is rebuilt).
    economy: (Scenario, Registry),
    checkpoints: Option<CheckpointOptions>,
    writer: WriterOptions,
    limits: Limits,
    token: String,
}

impl Checked {
    fn from(args: &ServeArgs) -> Result<Self, AppError> {
        let mut scenario = args.economy.scenario()?;
        if let (Some(rate), None) = (args.tick_rate, &args.resume) {
            scenario.set(&format!("sim.tick_rate={rate}"))?;
        }
        let registry = scenario.registry()?;
        let checkpoints = args.checkpoints.options()?;
        let writer = args.checkpoints.writer_options()?;
        if args.no_store && writer.retention.is_some() {
            return Err(AppError::Usage("--keep-ticks keeps stored rows: it cannot be --no-store".into()));
        }
        let limits = args.listen.limits()?;
        if !args.listen.bind.ip().is_loopback() && args.token.is_none() && !args.insecure {
            return Err(AppError::Usage(format!(
                "refusing to listen on {} (reachable from other machines) with a generated token; \
                 set --token or WATCHTOWER_TOKEN, or pass --insecure if you mean it",
                args.listen.bind
            )));
        }
        let token = match &args.token {
            Some(t) if t.trim().len() < 8 => {
                return Err(AppError::Usage("--token must be at least 8 characters".into()));
            }
            Some(t) => t.trim().to_string(),
            None => generate_token()?,
        };
        Ok(Self { economy: (scenario, registry), checkpoints, writer, limits, token })
    }
}

/// The run `--resume` means, rebuilt where its stored ticks end (nothing written yet).
fn rebuild(args: &ServeArgs, explicit: Option<i64>, stop: &Stop) -> Result<Rebuilt, AppError> {
    let rebuilt = Resumable::find(&args.data.database(), explicit)?.rebuild(stop)?;
    for damaged in &rebuilt.damaged {
        warn!(run_id = rebuilt.run.id, "{damaged}; passed over for an older one");
        eprintln!("Warning: run {}: {damaged}; passed over for an older one", rebuilt.run.id);
    }
    info!(
        run_id = rebuilt.run.id,
        tick = rebuilt.tick,
        checkpoint = ?rebuilt.checkpoint,
        verified = rebuilt.verified,
        "run rebuilt for resuming"
    );
    Ok(rebuilt)
}

/// The store's side of a start: the run written (new or resumed), its checkpoints, and
/// where the engine starts.
fn open_store(
    args: &ServeArgs,
    (scenario, registry): (Scenario, Registry),
    (checkpoints, options): (Option<CheckpointOptions>, WriterOptions),
    rebuilt: Option<Rebuilt>,
) -> Result<(Option<Writer>, Option<Checkpointer>, Start), AppError> {
    let db = args.data.database();
    Ok(match (args.no_store, rebuilt) {
        (false, Some(rebuilt)) => {
            let Resumed { rebuilt, writer, checkpointer } = rebuilt.resume(&db, checkpoints, options)?;
            (Some(writer), checkpointer, Start::Resumed(Box::new(rebuilt)))
        }
        (false, None) => {
            let writer =
                Writer::start_planned(&db, &scenario.run_info(&registry), &scenario.plan(args.ticks), options)?;
            let checkpointer = checkpoints.map(|o| Checkpointer::new(writer.store().handle(), writer.run_id(), o, 0));
            (Some(writer), checkpointer, Start::Genesis(scenario.spec(), registry, scenario.schedule))
        }
        // --resume conflicts with --no-store.
        (true, _) => (None, None, Start::Genesis(scenario.spec(), registry, scenario.schedule)),
    })
}

/// A running `watchtower serve`: the engine thread, the server and the store, wired.
pub struct Service {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The access token.
    pub token: String,
    /// The bridge (the benchmarks watch the engine through it, as the server does).
    pub bridge: Bridge,
    server: Running,
    engine: EngineThread,
    disk_guard: Option<DiskGuard>,
    writer: Option<Writer>,
    lock: Option<DirLock>,
    state: Arc<ServerState>,
    stop: Stop,
}

impl Service {
    /// Validates the settings, takes the lock, rebuilds a resumed run, binds, opens the
    /// store, and starts the engine and the server. `stop` stops it (a signal,
    /// `--ticks`, or the caller).
    pub fn start(args: &ServeArgs, stop: Stop) -> Result<Self, AppError> {
        let Checked { economy, checkpoints, writer: writer_options, limits, token } = Checked::from(args)?;
        crate::listen::raise_open_files(&limits);
        if args.resume.is_some() {
            args.data.to_resume()?;
        }
        // Lock before anything else touches the directory: a second instance fails at once.
        let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
        // A resumed run is rebuilt (and its stored ticks since the checkpoint checked)
        // before anything is served.
        let rebuilt = args.resume.map(|explicit| rebuild(args, explicit, &stop)).transpose()?;
        let bound = Bound::bind(args.listen.bind).map_err(|e| AppError::Startup(e.to_string()))?;
        let addr = bound.addr();
        // Only now the database: a start refused above (port taken) leaves it untouched.
        let (writer, checkpointer, start) = open_store(args, economy, (checkpoints, writer_options), rebuilt)?;
        let history = writer.as_ref().map(|w| History::open(w.path(), 4)).transpose()?;
        let bridge = Bridge::default();
        // Analytics start before the server serves, so the map is never asked for too late.
        let tap = watchtower_runner::embedding::start(&bridge, args.embedding_sample)
            .map_err(|e| AppError::Startup(format!("cannot start the analytics thread: {e}")))?;
        let engine = LiveEngine {
            start,
            bridge: bridge.clone(),
            stop: stop.clone(),
            ticks: args.ticks,
            tick_rate: args.tick_rate,
            recording: writer.as_ref().map(Writer::sender),
            checkpointer,
            checkpoints,
            tap,
            // Effect forecasts ("What if…" across seeds) on every core, stopped with the
            // service; the live engine keeps its own thread and never waits for them.
            forecaster: Some(Box::new(watchtower_experiment::ensemble::InBackground {
                stop: stop.clone(),
                jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            })),
        }
        .spawn()
        .map_err(|e| AppError::Startup(format!("cannot start the engine thread: {e}")))?;
        let disk_guard = match (&writer, args.min_free_disk) {
            (Some(_), min_free) if min_free > 0 => Some(
                DiskGuard::spawn(&args.data.data_dir, Thresholds::min_free(min_free), bridge.clone(), stop.clone())
                    .map_err(|e| AppError::Startup(format!("cannot start the disk guard: {e}")))?,
            ),
            _ => None,
        };
        let config = ServerConfig {
            token: token.clone(),
            allowed_origins: args.listen.allow_origin.clone(),
            run_id: writer.as_ref().map(Writer::run_id),
            history,
            fault_injection: cfg!(debug_assertions),
            allowed_hosts: args.listen.allow_host.clone(),
            limits,
            experiments: Some(Arc::new(Experiments::default())),
            viewer: None,
        };
        let state = ServerState::new(config, bridge.clone());
        let server = bound.serve(Arc::clone(&state));
        Ok(Self { addr, token, bridge, server, engine, disk_guard, writer, lock, state, stop })
    }

    /// The dashboard's URL, with the token.
    pub fn url(&self) -> String {
        self.server.url(Some(&self.token))
    }

    /// The run being recorded, if any.
    pub fn run_id(&self) -> Option<i64> {
        self.writer.as_ref().map(Writer::run_id)
    }

    /// Blocks until a stop is requested (a signal, `--ticks`, the engine ending).
    pub fn wait(&self) {
        self.stop.wait();
    }

    /// Stops in order: stop taking commands and close the sockets, let the engine finish
    /// the tick in flight and answer what is still queued, close the read pool, record
    /// the last answers, flush the writer, mark the run, checkpoint the WAL, release the
    /// lock. A failed engine marks the run `failed` with its reason and is returned as
    /// the error.
    pub fn stop(self) -> Result<(Option<WriterReport>, EngineExit), AppError> {
        self.stop.request();
        info!("shutting down");
        // No server task outlives this, so nothing is queued or refused after the last
        // drains below.
        self.server.stop();
        self.state.close_floods(); // a flood still being counted gets its summary row
        drop(self.state); // the read pool closes with the server's state...
        let mut exit = self.engine.join();
        if let Some(guard) = self.disk_guard {
            guard.join();
        }
        let recorded = exit.record_audit();
        let (status, error_text) = match &exit.failure {
            None => (RunStatus::Finished, None),
            Some(e) => (RunStatus::Failed, Some(e.to_string())),
        };
        // ...so the checkpoint can empty the WAL. If the writer itself failed, its error
        // is the one to report.
        let report = match self.writer {
            Some(w) => Some(w.finish(status, error_text)?),
            None => None,
        };
        if let Some(Err(e)) = recorded {
            warn!("the last answers could not be recorded: {e}");
        }
        drop(self.lock);
        match exit.failure.take() {
            Some(e) => Err(e.into()),
            None => Ok((report, exit)),
        }
    }
}

/// Serves until SIGINT/SIGTERM (or `--ticks`).
pub fn serve(args: ServeArgs, stop: &Stop) -> Result<(), AppError> {
    let service = Service::start(&args, stop.clone())?;
    say!("Watchtower is running: {}", service.url());
    match &service.writer {
        Some(w) => say!(
            "{} run {} in {} (lock: {})",
            if args.resume.is_some() { "Resumed" } else { "Recording" },
            w.run_id(),
            w.path().display(),
            service.lock.as_ref().map_or(String::new(), |l| l.path().display().to_string())
        ),
        None => say!("Not recording (--no-store)"),
    }
    say!("Stop with Ctrl-C: the tick in flight finishes and everything is saved.");
    service.wait();
    let (report, exit) = service.stop()?;
    if let Some(report) = report {
        say!("Run {} saved: {} ticks, {} commands audited", report.run_id, report.ticks, report.commands);
    }
    info!(ticks = exit.ticks, "stopped");
    Ok(())
}

/// The experiments' statistics the server serves (fan charts, heat-map cells, sensitivity
/// indices, calibrations), read and computed by the experiment crate (the server does not
/// know its summary encoding).
#[derive(Debug, Default)]
pub(crate) struct Experiments {
    /// Finished calibrations' results, replayed once by this process.
    replays: watchtower_experiment::calibrate::view::Replays,
}

/// A calibration has no fan chart, cells or indices: asked for them, the reader
/// refuses in words (a 4xx) instead of failing to read its rows as an experiment's.
fn calibration(history: &History, id: i64) -> Result<Option<ExperimentAnswer>, String> {
    let detail = history.experiment(id).map_err(|e| e.to_string())?;
    Ok(detail.filter(|d| watchtower_experiment::calibrate::store::is_calibration(&d.row.layout)).map(|_| {
        ExperimentAnswer::Refused(format!(
            "experiment {id} is a calibration: its simulations are at `watchtower export --experiment {id}`"
        ))
    }))
}

impl ExperimentReader for Experiments {
    fn fan(&self, history: &History, id: i64, indicator: &str) -> Result<ExperimentAnswer, String> {
        use watchtower_experiment::fan;
        if let Some(refused) = calibration(history, id)? {
            return Ok(refused);
        }
        Ok(match fan::read(history, id, indicator).map_err(|e| e.to_string())? {
            fan::FanAnswer::Fan(value) => ExperimentAnswer::Found(value),
            fan::FanAnswer::NoExperiment => ExperimentAnswer::NoExperiment,
            fan::FanAnswer::NotSummarised(message) => ExperimentAnswer::Refused(message),
        })
    }

    fn cells(&self, history: &History, id: i64, q: &CellsQuery) -> Result<ExperimentAnswer, String> {
        use watchtower_experiment::store;
        if let Some(refused) = calibration(history, id)? {
            return Ok(refused);
        }
        Ok(match store::cells(history, id, q.column.as_deref(), q.x, q.y).map_err(|e| e.to_string())? {
            Some(Ok(value)) => ExperimentAnswer::Found(value),
            Some(Err(message)) => ExperimentAnswer::Refused(message),
            None => ExperimentAnswer::NoExperiment,
        })
    }

    fn sensitivity(&self, history: &History, id: i64, indicator: Option<&str>) -> Result<ExperimentAnswer, String> {
        use watchtower_experiment::store;
        if let Some(refused) = calibration(history, id)? {
            return Ok(refused);
        }
        Ok(match store::sensitivity(history, id, indicator).map_err(|e| e.to_string())? {
            Some(Ok(value)) => ExperimentAnswer::Found(value),
            Some(Err(message)) => ExperimentAnswer::Refused(message),
            None => ExperimentAnswer::NoExperiment,
        })
    }

    fn calibration(&self, history: &History, id: i64) -> Result<ExperimentAnswer, String> {
        use watchtower_experiment::calibrate::view;
        Ok(match view::view(history, id, &self.replays).map_err(|e| e.to_string())? {
            view::Answer::Found(value) => ExperimentAnswer::Found(value),
            view::Answer::Busy => ExperimentAnswer::Busy(view::BUSY.into()),
            view::Answer::Refused(message) => ExperimentAnswer::Refused(message),
            view::Answer::NoExperiment => ExperimentAnswer::NoExperiment,
        })
    }
}
