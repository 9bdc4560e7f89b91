//! `watchtower view`: the dashboard and the read APIs over an existing data directory,
//! read-only, beside whatever process is writing it.
//!
//! One process writes a data directory and holds its lock (`store::DirLock`); that is why
//! `serve` cannot show an experiment that `experiment` is running. A viewer takes no
//! lock and runs no economy: it opens the database with read-only connections (in WAL
//! mode a reader sees each committed transaction and never blocks the writer), so it can
//! sit beside a running `experiment`, `run` or `serve` and show their progress as it is
//! committed. The server is the same one `serve` runs (Host check, connection caps,
//! readers' gate, flood limits), told it is a viewer: it issues no token and refuses
//! every command, fork, drop and refresh as "read-only viewer of DIR". A missing
//! directory or database is an error naming the path, and nothing is created.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use watchtower_bridge::Bridge;
use watchtower_runner::Stop;
use watchtower_server::{Bound, Running, ServerConfig, ServerState};
use watchtower_store::History;

use crate::error::AppError;
use crate::listen::{ListenArgs, raise_open_files};
use crate::settings::DataDirArg;

/// Arguments of `watchtower view`.
#[derive(Debug, Clone, Args)]
pub struct ViewArgs {
    /// The data directory to show (it must exist and hold a database).
    #[command(flatten)]
    pub data: DataDirArg,
    /// Where it listens, and the connection limits.
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Listen on an address other machines can reach (the data is readable by anyone there).
    #[arg(long)]
    pub insecure: bool,
}

/// A running viewer: the server, over the store's read side only.
pub struct Viewer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The data directory it shows.
    pub dir: PathBuf,
    server: Running,
}

impl Viewer {
    /// Checks the directory and its database (creating neither), opens read-only
    /// connections, binds and serves.
    pub fn start(args: &ViewArgs) -> Result<Self, AppError> {
        let limits = args.listen.limits()?;
        if !args.listen.bind.ip().is_loopback() && !args.insecure {
            return Err(AppError::Usage(format!(
                "refusing to show the runs and the audit log (peer addresses included) on {}, \
                 reachable from other machines; pass --insecure if you mean it",
                args.listen.bind
            )));
        }
        let dir = args.data.data_dir.clone();
        if !dir.is_dir() {
            return Err(AppError::Usage(format!(
                "no data directory at {}: `watchtower view` shows an existing one and creates nothing \
                 (check --data-dir, or start `watchtower serve`, `run` or `experiment` there first)",
                dir.display()
            )));
        }
        let db = args.data.database();
        if !db.is_file() {
            return Err(AppError::Usage(format!(
                "no database at {}: `watchtower view` shows an existing one and creates nothing",
                db.display()
            )));
        }
        // One read-only look before any pool is built (a pool would retry a foreign file
        // for its whole timeout).
        watchtower_store::probe(&db).map_err(|e| match e {
            watchtower_store::ProbeError::Store(e) => AppError::Store(e),
            refused => AppError::Usage(refused.to_string()),
        })?;
        let history = History::open(&db, 4)?;
        raise_open_files(&limits);
        let bound = Bound::bind(args.listen.bind).map_err(|e| AppError::Startup(e.to_string()))?;
        let addr = bound.addr();
        let config = ServerConfig {
            // No token: nothing a viewer serves needs one, and `token_ok` passes none.
            token: String::new(),
            allowed_origins: args.listen.allow_origin.clone(),
            run_id: None,
            history: Some(history),
            fault_injection: false,
            allowed_hosts: args.listen.allow_host.clone(),
            limits,
            experiments: Some(Arc::new(crate::serve::Experiments::default())),
            viewer: Some(dir.display().to_string()),
        };
        // A bridge with no engine behind it: nothing is ever published, and nothing
        // reaches its queues (the server refuses commands before they do).
        let server = bound.serve(ServerState::new(config, Bridge::default()));
        Ok(Self { addr, dir, server })
    }

    /// The dashboard's URL (no token: a viewer takes no commands).
    pub fn url(&self) -> String {
        self.server.url(None)
    }

    /// Closes the sockets and the read connections.
    pub fn stop(self) {
        self.server.stop();
    }
}

/// Serves the viewer until SIGINT/SIGTERM.
pub fn view(args: ViewArgs, stop: &Stop) -> Result<(), AppError> {
    let viewer = Viewer::start(&args)?;
    say!("Watchtower viewer is running: {}", viewer.url());
    say!("Read-only viewer of {} (no lock taken, no commands; a writer may run beside it)", viewer.dir.display());
    say!("Stop with Ctrl-C.");
    stop.wait();
    viewer.stop();
    Ok(())
}
