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
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use watchtower_server::{Bridge, ServerConfig, ServerState};
use watchtower_store::{History, RunStatus, Writer, WriterOptions};

use crate::driver::run_engine;
use crate::error::AppError;
use crate::lock::DirLock;
use crate::settings::{DataDirArg, EconomyArgs};
use crate::shutdown::Shutdown;

/// Arguments of `watchtower serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub economy: EconomyArgs,
    #[command(flatten)]
    pub data: DataDirArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Access token for commands (default: generated and printed with the URL).
    #[arg(long, env = "WATCHTOWER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Also accept browser requests from this origin, e.g. http://lab-host:8000 (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Ticks per second; 0 runs as fast as possible (default: the registry's sim.tick_rate, 20).
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
}

fn generate_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Usage(format!("cannot generate an access token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Serves until SIGINT/SIGTERM (or `--ticks`).
pub fn serve(args: ServeArgs, shutdown: &Shutdown) -> Result<(), AppError> {
    let mut economy = args.economy.clone();
    if let Some(rate) = args.tick_rate {
        economy.set.push(format!("sim.tick_rate={rate}"));
    }
    let registry = economy.registry()?;
    if !args.bind.ip().is_loopback() && args.token.is_none() && !args.insecure {
        return Err(AppError::Usage(format!(
            "refusing to listen on {} (reachable from other machines) with a generated token; \
             set --token or WATCHTOWER_TOKEN, or pass --insecure if you mean it",
            args.bind
        )));
    }
    let token = match &args.token {
        Some(t) if t.trim().len() < 8 => return Err(AppError::Usage("--token must be at least 8 characters".into())),
        Some(t) => t.trim().to_string(),
        None => generate_token()?,
    };

    // Lock before any database connection; fail fast if another instance holds it.
    let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
    let writer = match &lock {
        Some(_) => Some(Writer::start(&args.data.database(), &economy.run_info(&registry), WriterOptions::default())?),
        None => None,
    };
    let history = match &writer {
        Some(w) => Some(History::open(w.path(), 4)?),
        None => None,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()
        .map_err(|e| AppError::Usage(format!("cannot start the async runtime: {e}")))?;
    let listener = runtime
        .block_on(TcpListener::bind(args.bind))
        .map_err(|e| AppError::Usage(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener.local_addr().map_err(|e| AppError::Usage(e.to_string()))?;

    let bridge = Bridge::default();
    let config = ServerConfig {
        token: token.clone(),
        allowed_origins: args.allow_origin.clone(),
        run_id: writer.as_ref().map(Writer::run_id),
        history,
        fault_injection: cfg!(debug_assertions),
    };
    let state = ServerState::new(config, bridge.clone());
    // Analytics start before the server serves, so the map is never asked for too late.
    let analytics = crate::analytics::start(&bridge, args.embedding_sample)
        .map_err(|e| AppError::Usage(format!("cannot start the analytics thread: {e}")))?;
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    say!("Watchtower is running: http://{host}:{}/?token={token}", addr.port());
    match &writer {
        Some(w) => say!(
            "Recording run {} in {} (lock: {})",
            w.run_id(),
            w.path().display(),
            lock.as_ref().map_or(String::new(), |l| l.path().display().to_string())
        ),
        None => say!("Not recording (--no-store)"),
    }
    say!("Stop with Ctrl-C: the tick in flight finishes and everything is saved.");

    let cancel = CancellationToken::new();
    let server = runtime.spawn(supervise(listener, addr, Arc::clone(&state), cancel.clone()));

    // The engine on its own OS thread.
    let engine = {
        let (spec, bridge, shutdown) = (economy.spec(), bridge.clone(), shutdown.clone());
        let store = writer.as_ref().map(Writer::sender);
        let stop_after = args.ticks;
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let result = run_engine(spec, registry, bridge, store, analytics, shutdown.clone(), stop_after);
                shutdown.request(); // whatever ended the engine ends the process
                result
            })
            .map_err(|e| AppError::Usage(format!("cannot start the engine thread: {e}")))?
    };

    // Wait for a signal, `--ticks`, or the engine's end.
    runtime.block_on(async {
        while !shutdown.requested() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    info!("shutting down");
    cancel.cancel(); // stop taking commands, close the sockets
    let _ = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(1), server).await });
    runtime.shutdown_timeout(Duration::from_millis(200));
    drop(state); // the read pool closes with the server's state...

    let outcome = engine.join().unwrap_or_else(|panic| {
        let message =
            panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(AppError::Usage(format!("the engine thread panicked: {}", message.unwrap_or_default())))
    });
    let (status, error_text) = match &outcome {
        Ok(_) => (RunStatus::Finished, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    if let Some(w) = writer {
        // ...so the checkpoint below can empty the WAL. If the writer itself failed, its
        // error is the one to report.
        let report = w.finish(status, error_text)?;
        say!("Run {} saved: {} ticks, {} commands audited", report.run_id, report.ticks, report.commands);
    }
    drop(lock);
    outcome.map(|exit| info!(ticks = exit.ticks, "stopped"))
}

/// Serves on `first`, and on `addr` again if the server task dies, until `cancel`.
async fn supervise(first: TcpListener, addr: SocketAddr, state: Arc<ServerState>, cancel: CancellationToken) {
    let mut listener = Some(first);
    loop {
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    warn!("cannot listen on {addr} again yet: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if cancel.is_cancelled() {
                        return;
                    }
                    continue;
                }
            },
        };
        let task = tokio::spawn(watchtower_server::serve(l, Arc::clone(&state), cancel.clone()));
        let result = task.await;
        if cancel.is_cancelled() {
            return;
        }
        match result {
            Ok(Ok(())) => warn!("the server stopped unexpectedly; restarting it"),
            Ok(Err(e)) => error!("the server failed: {e}; restarting it"),
            Err(e) => error!("the server task panicked: {e}; restarting it (the engine is unaffected)"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
