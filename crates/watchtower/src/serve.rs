//! `watchtower serve` (and plain `watchtower`): the economy live, with the dashboard.
//!
//! Start-up: settings are validated, the data directory is locked, the store opened,
//! the port bound and the URL (with its access token) printed; then the engine thread
//! runs genesis and ticks while the server, on a tokio runtime, serves. `/readyz` turns
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
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use watchtower_bridge::{Bridge, Envelope, LiveRun};
use watchtower_engine::Simulation;
use watchtower_protocol::{AuditEntry, GodCommand};
use watchtower_runner::checkpoints::Checkpointer;
use watchtower_runner::embedding::FeatureTap;
use watchtower_runner::live::{Live, Publisher};
use watchtower_runner::live_branches::LiveBranches;
use watchtower_runner::resume::{find_resumable, rebuild};
use watchtower_runner::sink::Recorder;
use watchtower_runner::workers::Pool;
use watchtower_runner::{Schedule, Session, Sink, Stop};
use watchtower_server::{CellsQuery, ExperimentAnswer, ExperimentReader, ServerConfig, ServerState};
use watchtower_store::{History, RunStatus, Writer, WriterOptions, WriterReport};

use crate::error::AppError;
use crate::listen::ListenArgs;
use crate::lock::DirLock;
use crate::settings::{CheckpointArgs, DataDirArg, EconomyArgs};

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
    /// Checkpoints.
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
}

fn generate_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Startup(format!("cannot generate an access token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a panic said.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// How the engine thread ended.
pub struct EngineExit {
    /// Ticks run.
    pub ticks: u64,
    /// Why it ended, if not by a stop request or its tick target.
    pub failure: Option<AppError>,
    /// Commands answered after the loop (refused at shutdown), still to be recorded.
    audit: Vec<AuditEntry>,
    /// The store's sink, handed back so the last rows can follow.
    recorder: Option<Recorder>,
}

/// Everything the engine thread owns.
struct Engine {
    session: Session,
    bridge: Bridge,
    stop: Stop,
    recorder: Option<Recorder>,
    checkpointer: Option<Checkpointer>,
    tap: Option<FeatureTap>,
    until: Option<u64>,
    branches: LiveBranches,
}

impl Engine {
    /// Runs the live loop. Whatever ends it (a stop, the tick target, an engine error,
    /// a panic) ends the service: a failure is published to the bridge at once, so the
    /// health checks fail instead of vouching for a frozen economy.
    fn run(mut self) -> EngineExit {
        let mut live = Live::new(self.bridge.clone(), self.stop.clone()).with_branches(self.branches);
        let mut publisher = Publisher::new(self.bridge.clone());
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut sinks: Vec<&mut dyn Sink> = vec![&mut publisher];
            if let Some(r) = self.recorder.as_mut() {
                sinks.push(r);
            }
            if let Some(c) = self.checkpointer.as_mut() {
                sinks.push(c);
            }
            if let Some(t) = self.tap.as_mut() {
                sinks.push(t);
            }
            self.session.run(self.until, &mut live, &mut sinks)
        }));
        let failure = match outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(AppError::from(e)),
            Err(panic) => Some(AppError::EnginePanicked(panic_message(panic.as_ref()))),
        };
        if let Some(e) = &failure {
            error!("{e}");
            self.bridge.failure.publish(Arc::new(e.to_string()));
        }
        self.stop.request();
        // The branches end with the session (their rows stay).
        let status = if failure.is_some() { RunStatus::Interrupted } else { RunStatus::Finished };
        self.session.branches_mut().close_all(status);
        // The failing cycle's commands, then everything still queued: each answered and
        // recorded.
        let mut audit = self.session.abandon();
        audit.extend(live.close());
        EngineExit { ticks: self.session.simulation().tick(), failure, audit, recorder: self.recorder }
    }
}

/// Where the engine starts.
enum Start {
    /// A new run, from genesis.
    Genesis(watchtower_engine::RunSpec, watchtower_engine::Registry),
    /// A resumed run, rebuilt.
    Resumed(Box<Simulation>),
}

/// A running `watchtower serve`: the engine thread, the server and the store, wired.
pub struct Service {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The access token.
    pub token: String,
    /// The bridge (the benchmarks watch the engine through it, as the server does).
    pub bridge: Bridge,
    runtime: tokio::runtime::Runtime,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    engine: std::thread::JoinHandle<EngineExit>,
    writer: Option<Writer>,
    lock: Option<DirLock>,
    state: Arc<ServerState>,
    stop: Stop,
}

impl Service {
    /// Validates the settings, takes the lock, opens the store, binds, and starts the
    /// engine and the server. `stop` stops it (a signal, `--ticks`, or the caller).
    pub fn start(args: &ServeArgs, stop: Stop) -> Result<Self, AppError> {
        let mut scenario = args.economy.scenario()?;
        if let (Some(rate), None) = (args.tick_rate, &args.resume) {
            scenario.set(&format!("sim.tick_rate={rate}"))?;
        }
        let registry = scenario.registry()?;
        let checkpoints = args.checkpoints.options()?;
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
        crate::listen::raise_open_files(&limits);

        // Lock before anything else touches the directory: a second instance fails at once.
        let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
        // A resumed run is rebuilt (and its stored ticks since the checkpoint checked)
        // before anything is served.
        let resumed = match args.resume {
            Some(explicit) => {
                let db = args.data.database();
                if !db.exists() {
                    return Err(AppError::Usage(format!(
                        "nothing to resume: there is no database at {}",
                        db.display()
                    )));
                }
                let history = History::open(&db, 1)?;
                let row = find_resumable(&history, explicit)?;
                let rebuilt = rebuild(&history, row.id, None, &stop)?;
                info!(
                    run_id = row.id,
                    tick = rebuilt.tick,
                    checkpoint = ?rebuilt.checkpoint,
                    verified = rebuilt.verified,
                    "run rebuilt for resuming"
                );
                Some((row, rebuilt))
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("server")
            .build()
            .map_err(|e| AppError::Startup(format!("cannot start the async runtime: {e}")))?;
        let listener = runtime
            .block_on(TcpListener::bind(args.listen.bind))
            .map_err(|e| AppError::Startup(format!("cannot listen on {}: {e}", args.listen.bind)))?;
        let addr = listener.local_addr().map_err(|e| AppError::Startup(e.to_string()))?;

        // Only now the database: a start refused above (port taken) leaves it untouched.
        let writer = match (&lock, &resumed) {
            (Some(_), Some((row, rebuilt))) => {
                Some(Writer::resume(&args.data.database(), row.id, rebuilt.tick, WriterOptions::default())?)
            }
            (Some(_), None) => Some(Writer::start_planned(
                &args.data.database(),
                &scenario.run_info(&registry),
                &scenario.plan(args.ticks),
                WriterOptions::default(),
            )?),
            (None, _) => None,
        };
        let history = match &writer {
            Some(w) => Some(History::open(w.path(), 4)?),
            None => None,
        };

        let bridge = Bridge::default();
        let main_id = writer.as_ref().map_or(1, Writer::run_id);
        let mut resumed_at = Vec::new();
        if let Some((row, rebuilt)) = &resumed {
            resumed_at = row.resumed_at.clone();
            resumed_at.push(rebuilt.tick);
            if let Some(rate) = args.tick_rate {
                // The resumed run's pace is its own; a new one is a command, audited.
                let command = GodCommand { id: "command-line".into(), key: "sim.tick_rate".into(), value: rate.into() };
                let envelope =
                    Envelope { command, received_at_ms: 0, source: "command line".into(), reply: None, run: None };
                let _ = bridge.queue.try_send(envelope);
            }
        }
        let main = LiveRun {
            run_id: main_id,
            main: true,
            parent: resumed.as_ref().and_then(|(row, _)| row.parent_run_id),
            fork_tick: resumed.as_ref().and_then(|(row, _)| row.fork_tick),
            name: resumed.as_ref().and_then(|(row, _)| row.branch_name.clone()),
            changes: Default::default(),
            resumed_at,
            telemetry: Arc::clone(&bridge.telemetry),
            registry: Arc::clone(&bridge.registry),
        };
        let branches =
            LiveBranches::new(bridge.clone(), writer.as_ref().map(|w| w.store().handle()), main, checkpoints);
        let config = ServerConfig {
            token: token.clone(),
            allowed_origins: args.listen.allow_origin.clone(),
            run_id: writer.as_ref().map(Writer::run_id),
            history,
            fault_injection: cfg!(debug_assertions),
            allowed_hosts: args.listen.allow_host.clone(),
            limits,
            experiments: Some(Arc::new(Experiments)),
            viewer: None,
        };
        let state = ServerState::new(config, bridge.clone());
        // Analytics start before the server serves, so the map is never asked for too late.
        let tap = watchtower_runner::embedding::start(&bridge, args.embedding_sample)
            .map_err(|e| AppError::Startup(format!("cannot start the analytics thread: {e}")))?;
        let cancel = CancellationToken::new();
        let server = runtime.spawn(watchtower_server::run(listener, addr, Arc::clone(&state), cancel.clone()));

        // The engine on its own OS thread: genesis (or the resumed state) first, then the
        // live loop.
        let engine = {
            let until = args.ticks.or(resumed.as_ref().and_then(|(row, _)| row.tick_target));
            let (bridge, stop) = (bridge.clone(), stop.clone());
            let recorder = writer.as_ref().map(|w| Recorder::new(w.sender()));
            let (start, schedule): (Start, Schedule) = match resumed {
                Some((_, rebuilt)) => (Start::Resumed(Box::new(rebuilt.simulation)), rebuilt.schedule),
                None => (Start::Genesis(scenario.spec(), registry), scenario.schedule.clone()),
            };
            let checkpointer = match (&writer, checkpoints) {
                (Some(w), Some(options)) => {
                    let tick = match &start {
                        Start::Resumed(sim) => sim.tick(),
                        Start::Genesis(..) => 0,
                    };
                    Some(Checkpointer::new(w.store().handle(), w.run_id(), options, tick))
                }
                _ => None,
            };
            std::thread::Builder::new()
                .name("engine".into())
                .spawn(move || {
                    let started = std::time::Instant::now();
                    // Genesis can fail, or (a bug) panic: either way the service must
                    // know, or it would wait for an engine that never comes.
                    let built = std::panic::catch_unwind(AssertUnwindSafe(|| match start {
                        Start::Resumed(sim) => Ok(*sim),
                        Start::Genesis(spec, registry) => Simulation::new(spec, registry),
                    }));
                    let pool = Pool::machine().ok();
                    let simulation = match built {
                        Ok(Ok(mut sim)) => {
                            if let Some(pool) = &pool {
                                sim.set_workers(pool.clone());
                            }
                            sim
                        }
                        failed => {
                            let failure = match failed {
                                Ok(Err(e)) => AppError::Engine(e),
                                Err(panic) => AppError::EnginePanicked(panic_message(panic.as_ref())),
                                Ok(Ok(_)) => unreachable!("matched above"),
                            };
                            bridge.failure.publish(Arc::new(failure.to_string()));
                            stop.request();
                            return EngineExit { ticks: 0, failure: Some(failure), audit: Vec::new(), recorder };
                        }
                    };
                    info!(elapsed = ?started.elapsed(), "genesis done");
                    let mut session = Session::new(simulation, schedule);
                    session.branches_mut().set_main_run(main_id);
                    if let Some(pool) = pool {
                        session.branches_mut().set_workers(pool);
                    }
                    Engine { session, bridge, stop, recorder, checkpointer, tap, until, branches }.run()
                })
                .map_err(|e| AppError::Startup(format!("cannot start the engine thread: {e}")))?
        };
        Ok(Self { addr, token, bridge, runtime, cancel, server, engine, writer, lock, state, stop })
    }

    /// The dashboard's URL, with the token.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { self.addr.ip().to_string() };
        format!("http://{host}:{}/?token={}", self.addr.port(), self.token)
    }

    /// The run being recorded, if any.
    pub fn run_id(&self) -> Option<i64> {
        self.writer.as_ref().map(Writer::run_id)
    }

    /// Blocks until a stop is requested (a signal, `--ticks`, the engine ending).
    pub fn wait(&self) {
        while !self.stop.requested() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops in order: stop taking commands and close the sockets, let the engine finish
    /// the tick in flight and answer what is still queued, close the read pool, record
    /// the last answers, flush the writer, mark the run, checkpoint the WAL, release the
    /// lock. A failed engine marks the run `failed` with its reason and is returned as
    /// the error.
    pub fn stop(self) -> Result<(Option<WriterReport>, EngineExit), AppError> {
        self.stop.request();
        info!("shutting down");
        self.cancel.cancel();
        let _ = self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(1), self.server).await });
        // No server task outlives this, so nothing is queued or refused after the last
        // drains below.
        self.runtime.shutdown_timeout(Duration::from_millis(200));
        self.state.close_floods(); // a flood still being counted gets its summary row
        drop(self.state); // the read pool closes with the server's state...
        let mut exit = self.engine.join().unwrap_or_else(|_| EngineExit {
            ticks: 0,
            failure: Some(AppError::EnginePanicked("while closing".into())),
            audit: Vec::new(),
            recorder: None,
        });
        exit.audit.extend(self.bridge.audit.drain());
        let audit = std::mem::take(&mut exit.audit);
        let recorded = exit.recorder.take().map(|r| r.record_audit(audit));
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
            Some(e) => Err(e),
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

/// The experiments' statistics the server serves (fan charts, heat-map cells), read and
/// computed by the runner (the server does not know its summary encoding).
#[derive(Debug)]
pub(crate) struct Experiments;

impl ExperimentReader for Experiments {
    fn fan(&self, history: &History, id: i64, indicator: &str) -> Result<ExperimentAnswer, String> {
        use watchtower_experiment::fan;
        Ok(match fan::read(history, id, indicator).map_err(|e| e.to_string())? {
            fan::FanAnswer::Fan(value) => ExperimentAnswer::Found(value),
            fan::FanAnswer::NoExperiment => ExperimentAnswer::NoExperiment,
            fan::FanAnswer::NotSummarised(message) => ExperimentAnswer::Refused(message),
        })
    }

    fn cells(&self, history: &History, id: i64, q: &CellsQuery) -> Result<ExperimentAnswer, String> {
        use watchtower_experiment::cells;
        Ok(match cells::read(history, id, q.column.as_deref(), q.x, q.y).map_err(|e| e.to_string())? {
            Some(Ok(value)) => ExperimentAnswer::Found(value),
            Some(Err(message)) => ExperimentAnswer::Refused(message),
            None => ExperimentAnswer::NoExperiment,
        })
    }
}
