//! The engine thread of `watchtower serve`: genesis, then ticks at the registry's pace,
//! with the seeds' two hooks registered through the scheduler's hook API:
//!
//! - phase 0: drain the command queue into the tick (in arrival order);
//! - phase 8: publish the snapshot and the registry, answer each command's sender,
//!   and hand the tick's record (telemetry and audit) to the store's writer.
//!
//! While paused (`sim.paused`), idle cycles still run phases 0 and 8 every few
//! milliseconds, so commands (including `sim.paused=false`) keep being applied.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::info;
use watchtower_engine::{Phase, Registry, RunSpec, Simulation};
use watchtower_protocol::{AuditEntry, GodCommand, GodResponse, ParamValue, TickRecord};
use watchtower_server::{Bridge, Published};
use watchtower_store::RecordSender;

use crate::analytics::FeatureTap;
use crate::error::AppError;
use crate::shutdown::Shutdown;

/// Wall-clock milliseconds since the Unix epoch (outside the engine, which has no clock).
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How often a paused engine looks for commands.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// A command taken from the queue, waiting for its answer.
struct Waiting {
    command: GodCommand,
    received_at_ms: u64,
    source: String,
    reply: Option<oneshot::Sender<GodResponse>>,
}

/// How the engine thread ended.
pub struct EngineExit {
    /// Ticks run.
    pub ticks: u64,
}

/// Builds the economy and runs it until `shutdown` (or `stop_after` ticks).
pub fn run_engine(
    spec: RunSpec,
    registry: Registry,
    bridge: Bridge,
    store: Option<RecordSender>,
    analytics: Option<FeatureTap>,
    shutdown: Shutdown,
    stop_after: Option<u64>,
) -> Result<EngineExit, AppError> {
    let started = Instant::now();
    let mut sim = Simulation::new(spec, registry)?;
    info!(elapsed = ?started.elapsed(), "genesis done");
    let store_failed = Arc::new(AtomicBool::new(false));
    register_hooks(&mut sim, &bridge, store, Arc::clone(&store_failed));

    let mut steps = 0i64;
    let mut next = Instant::now();
    while !shutdown.requested() && stop_after.is_none_or(|n| sim.tick() < n) {
        let paused = sim.registry().flag("sim.paused");
        let responses = if paused && steps == 0 {
            let responses = sim.idle();
            std::thread::sleep(IDLE_POLL);
            next = Instant::now();
            responses
        } else {
            steps = (steps - 1).max(0);
            sim.step()?.responses
        };
        if let Some(tap) = &analytics {
            tap.poll(&sim);
        }
        if store_failed.load(Ordering::SeqCst) {
            // Ticks the store cannot keep must not be run: stop, and let the app report
            // the writer's own error.
            return Err(watchtower_store::StoreError::WriterGone.into());
        }
        for r in responses.iter().filter(|r| r.success && r.key == "sim.step") {
            if let Some(ParamValue::Int(n)) = r.new {
                steps += n;
            }
        }
        // Pace: one tick every 1/rate seconds, without accumulating a debt after stalls.
        let rate = sim.registry().f64("sim.tick_rate");
        if rate > 0.0 && !(paused && steps == 0) {
            next += Duration::from_secs_f64(1.0 / rate);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }
    Ok(EngineExit { ticks: sim.tick() })
}

fn register_hooks(sim: &mut Simulation, bridge: &Bridge, store: Option<RecordSender>, store_failed: Arc<AtomicBool>) {
    let waiting: Arc<Mutex<Vec<Waiting>>> = Arc::default();

    let (queue, inbox) = (bridge.queue.clone(), Arc::clone(&waiting));
    sim.register_hook(Phase::Intercept, move |ctx| {
        let mut inbox = inbox.lock().expect("engine thread only");
        for envelope in queue.drain() {
            ctx.submit(envelope.command.clone());
            inbox.push(Waiting {
                command: envelope.command,
                received_at_ms: envelope.received_at_ms,
                source: envelope.source,
                reply: envelope.reply,
            });
        }
    });

    let bridge = bridge.clone();
    let mut published_registry = None;
    sim.register_hook(Phase::Broadcast, move |ctx| {
        if let (false, Some(t)) = (ctx.is_idle(), ctx.telemetry()) {
            bridge.telemetry.publish(Arc::new(Published { telemetry: Arc::clone(t), at_ms: now_ms() }));
        }
        let version = ctx.registry().version();
        if published_registry != Some(version) {
            bridge.registry.publish(Arc::new(ctx.registry().snapshot()));
            published_registry = Some(version);
        }
        let mut audit: Vec<AuditEntry> = bridge.queue.drain_rejections().collect();
        let answered = waiting.lock().expect("engine thread only").drain(..).collect::<Vec<_>>();
        for (w, response) in answered.into_iter().zip(ctx.responses()) {
            if let Some(reply) = w.reply {
                let _ = reply.send(response.clone()); // the sender may have gone: fine
            }
            audit.push(AuditEntry {
                command: w.command,
                received_at_ms: w.received_at_ms,
                source: w.source,
                response: response.clone(),
            });
        }
        let telemetry = if ctx.is_idle() { None } else { ctx.telemetry().cloned() };
        // Waits only if the writer is far behind: a tick is never dropped.
        if let (Some(store), true) = (&store, telemetry.is_some() || !audit.is_empty())
            && store.send(TickRecord { telemetry, audit }).is_err()
        {
            store_failed.store(true, Ordering::SeqCst);
        }
    });
}
