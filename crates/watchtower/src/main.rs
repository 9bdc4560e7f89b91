//! The `watchtower` command: logging, then the library's dispatch.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use watchtower::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if cli.serves() { "info,hyper=warn,tower=warn,axum=warn" } else { "warn" };
    let filter = EnvFilter::try_from_env("WATCHTOWER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match watchtower::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
