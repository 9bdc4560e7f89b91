//! Where and how a server listens, shared by `serve` and `view` so both get the same
//! hardening from the same code: the address and the hosts and origins it answers to,
//! the connection limits, and the open-files limit raised to fit them. The supervision
//! that rebinds when the server task dies is the server's own (`watchtower_server::run`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tracing::{info, warn};
use watchtower_server::connections::Limits;

use crate::error::AppError;

/// The listening flags of `serve` and `view`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Also accept browser requests from this origin, e.g. http://lab-host:8000 (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Also answer requests addressed to this host name or address, e.g. lab-host (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Most connections open at once, WebSockets included; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's head, from connecting or its last response.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().header_timeout.as_secs_f64())]
    pub header_timeout: f64,
    /// Seconds a connection may go with no byte moving either way before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().idle_timeout.as_secs_f64())]
    pub idle_timeout: f64,
}

impl ListenArgs {
    /// The connection limits, checked (and the allowed hosts with them).
    pub fn limits(&self) -> Result<Limits, AppError> {
        let seconds = |flag: &str, value: f64| {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| AppError::Usage(format!("--{flag} {value}: expected a number of seconds above 0")))
        };
        for host in &self.allow_host {
            watchtower_server::check_allowed_host(host).map_err(AppError::Usage)?;
        }
        if self.max_connections == 0 {
            return Err(AppError::Usage("--max-connections must be at least 1".into()));
        }
        Ok(Limits {
            max_connections: self.max_connections,
            header_timeout: seconds("header-timeout", self.header_timeout)?,
            idle_timeout: seconds("idle-timeout", self.idle_timeout)?,
        })
    }
}

/// Every client is a socket: allows as many open files as the system lets this process
/// have, and warns if that is still too few for `limits`.
pub fn raise_open_files(limits: &Limits) {
    if let Ok(limit) = rlimit::increase_nofile_limit(u64::MAX) {
        info!(limit, "open files limit");
        // The store, the lock and the listener need a few descriptors of their own.
        if limit < limits.max_connections as u64 + 64 {
            warn!(
                "the open files limit ({limit}) is below --max-connections ({}) plus the server's own files; \
                 connections may fail before the cap is reached (raise `ulimit -n` or lower --max-connections)",
                limits.max_connections
            );
        }
    }
}
