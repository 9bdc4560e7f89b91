//! The seam to the live service: the observer, fan-out and branches benchmarks measure a
//! real `watchtower serve` in this process, which the binary owns (`serve::Service`) and
//! this crate, below it, cannot name. The binary hands in a [`Serve`] that starts one
//! from `serve`'s own options; the benchmarks see it only through [`Served`].

use std::net::SocketAddr;

use watchtower_bridge::Bridge;
use watchtower_runner::Stop;

use crate::error::BenchError;
pub use crate::error::ServeError;

/// Starts a live service: `args` are `serve`'s options as they are typed after
/// `watchtower serve` (`--no-store`, `--households 10000`, …); `stop` stops it.
pub type Serve<'a> = dyn Fn(&[&str], Stop) -> Result<Box<dyn Served>, ServeError> + 'a;

/// A live service started by [`Serve`].
pub trait Served {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;
    /// The access token.
    fn token(&self) -> &str;
    /// The bridge: the benchmarks watch the engine's telemetry and ask it for branches
    /// through it, as the server does.
    fn bridge(&self) -> &Bridge;
    /// The run being recorded, if any.
    fn run_id(&self) -> Option<i64>;
    /// Stops it in order (the engine's failure, if it failed, is the error).
    fn stop(self: Box<Self>) -> Result<(), ServeError>;
}

/// Starts a live service with `args`, its error kept as the binary says it.
pub(crate) fn start(serve: &Serve, args: &[&str], stop: Stop) -> Result<Box<dyn Served>, BenchError> {
    serve(args, stop).map_err(BenchError::Serve)
}

/// Stops `service`, its error kept as the binary says it.
pub(crate) fn stop(service: Box<dyn Served>) -> Result<(), BenchError> {
    service.stop().map_err(BenchError::Serve)
}

/// The tick the live engine last published (0 before its first).
pub(crate) fn tick_of(service: &dyn Served) -> u64 {
    service.bridge().telemetry.load().map_or(0, |p| p.telemetry.tick)
}
