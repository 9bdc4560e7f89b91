//! `watchtower bench`: the harnesses are the `watchtower-bench` crate; this wires them to
//! the live service they measure and prints their report.

use std::net::SocketAddr;

use clap::Parser;
use watchtower_bench::{BenchArgs, ServeError, Served};
use watchtower_bridge::Bridge;
use watchtower_runner::Stop;

use crate::error::AppError;
use crate::serve::{ServeArgs, Service};

/// Runs a benchmark and prints its results.
pub fn bench(args: BenchArgs) -> Result<(), AppError> {
    let report = watchtower_bench::run(&args.which, &start)?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(report.json()).expect("serialises"));
    } else {
        say!("{}", report.text());
    }
    Ok(())
}

/// `serve`'s options on their own, parsed as `watchtower serve` parses them.
#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    serve: ServeArgs,
}

/// Starts the live service a benchmark measures, from `serve`'s options.
fn start(args: &[&str], stop: Stop) -> Result<Box<dyn Served>, ServeError> {
    let argv = std::iter::once("serve").chain(args.iter().copied());
    let serve = Wrapper::try_parse_from(argv).map_err(|e| AppError::Usage(e.to_string()))?.serve;
    Ok(Box::new(Service::start(&serve, stop)?))
}

impl Served for Service {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn token(&self) -> &str {
        &self.token
    }

    fn bridge(&self) -> &Bridge {
        &self.bridge
    }

    fn run_id(&self) -> Option<i64> {
        Service::run_id(self)
    }

    fn stop(self: Box<Self>) -> Result<(), ServeError> {
        Service::stop(*self)?;
        Ok(())
    }
}
