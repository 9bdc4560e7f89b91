//! A live session: the economy at a person's pace, steered through the bridge.
//!
//! [`Live`] is the driver of `watchtower serve`. Between ticks it waits for the pace set
//! by `sim.tick_rate`, but never blindly: it waits on the command queue, so a command is
//! applied the moment it arrives (a new rate takes effect at once), and it looks at the
//! stop flag at least every [`POLL`], so a stop takes effect within that whatever the
//! rate. While paused it idles, applying commands as they come; `sim.step` runs ticks
//! while paused, and a pause (or a step of 0) cancels the steps still to run.
//!
//! Its sink, [`Publisher`](crate::publisher::Publisher), makes each settled tick and
//! registry visible to the server. Forks and drops of what-if branches asked for through
//! the bridge are carried out between cycles (a waiting one wakes the driver within
//! [`POLL`], as a command does, whatever the pace) by
//! [`LiveBranches`](crate::live_branches::LiveBranches).

use std::time::{Duration, Instant};

use watchtower_bridge::{Bridge, Envelope, Refusal, RefusalCode};
use watchtower_engine::Simulation;
use watchtower_engine::simulation::{PAUSED, STEP};
use watchtower_protocol::{AuditEntry, ErrorCode, GodResponse, ParamValue};

use crate::branches::Group;
use crate::live_branches::LiveBranches;
use crate::session::{Cycle, Driver, Next, Pending, Stop};

/// The longest a live engine goes without looking at the stop flag and the door's
/// refusals.
pub const POLL: Duration = Duration::from_millis(50);

/// The registry key of the pace.
pub const TICK_RATE: &str = "sim.tick_rate";

/// The driver of a live economy.
pub struct Live {
    bridge: Bridge,
    stop: Stop,
    /// Ticks still to run while paused (`sim.step`).
    steps: u64,
    /// When the next paced tick is due; `None`: now.
    due: Option<Instant>,
    /// Commands taken off the queue while waiting, to apply in the next cycle.
    held: Vec<Envelope>,
    /// Carries out forks and drops; `None`: they are refused.
    branches: Option<LiveBranches>,
}

impl Live {
    /// A driver taking commands from `bridge` until `stop`.
    pub fn new(bridge: Bridge, stop: Stop) -> Self {
        Self { bridge, stop, steps: 0, due: None, held: Vec::new(), branches: None }
    }

    /// Forks and drops what-if branches when asked to through the bridge.
    pub fn with_branches(mut self, branches: LiveBranches) -> Self {
        self.branches = Some(branches);
        self
    }

    /// Ends the session's intake: the queue refuses new commands from now on, and every
    /// command still waiting is answered `unavailable`. Returns their audit entries and
    /// the door's refusals not yet passed on, so each has its row.
    pub fn close(&mut self) -> Vec<AuditEntry> {
        self.bridge.queue.close();
        for request in self.bridge.requests.drain() {
            request.refuse(Refusal::new(RefusalCode::Unavailable, "the engine has stopped"));
        }
        let waiting: Vec<Envelope> = self.held.drain(..).chain(self.bridge.queue.drain()).collect();
        let mut audit: Vec<AuditEntry> = waiting
            .into_iter()
            .map(|e| {
                let response = GodResponse::rejected(
                    &e.command,
                    None,
                    ErrorCode::Unavailable,
                    "the engine stopped before applying the command",
                );
                if let Some(reply) = e.reply {
                    reply.send(response.clone());
                }
                AuditEntry { command: e.command, received_at_ms: e.received_at_ms, source: e.source, response }
            })
            .collect();
        audit.extend(self.bridge.audit.drain());
        audit
    }

    /// Takes the next command, waiting up to `limit` for one.
    fn wait(&mut self, limit: Duration) -> bool {
        match self.bridge.queue.wait(limit) {
            Some(envelope) => {
                self.held.push(envelope);
                true
            }
            None => false,
        }
    }
}

impl Driver for Live {
    fn next(&mut self, simulation: &Simulation) -> Next {
        loop {
            if self.stop.requested() {
                return Next::Stop;
            }
            if cfg!(debug_assertions) && self.bridge.engine_fault.take() {
                panic!("injected engine fault (POST /api/debug/crash with {{\"part\":\"engine\"}})");
            }
            if self.bridge.requests.waiting() {
                // A fork or a drop: carried out in an idle cycle now, not at the next
                // tick (which at 0.1 ticks/s is up to 10 s away).
                return Next::Idle;
            }
            let registry = simulation.registry();
            let paused = registry.flag(PAUSED);
            if paused && self.steps == 0 {
                // Idle: wake for a command, or at least every POLL for the stop flag and
                // the door's refusals.
                self.wait(POLL);
                return Next::Idle;
            }
            let rate = registry.f64(TICK_RATE);
            if rate == 0.0 {
                return Next::Tick; // as fast as possible
            }
            let now = Instant::now();
            let due = self.due.unwrap_or(now);
            if now >= due {
                let period = Duration::from_secs_f64(1.0 / rate);
                // No debt after a stall: a late tick sets the pace from now.
                self.due = Some(if now - due > period { now + period } else { due + period });
                return Next::Tick;
            }
            if self.wait((due - now).min(POLL)) {
                return Next::Idle;
            }
        }
    }

    fn collect(&mut self, into: &mut Vec<Pending>) {
        let envelopes = self.held.drain(..).chain(self.bridge.queue.drain());
        into.extend(envelopes.map(|e| Pending {
            command: e.command,
            received_at_ms: e.received_at_ms,
            source: e.source,
            reply: e.reply,
            run: e.run,
        }));
    }

    fn regroup(&mut self, group: &mut Group<'_>) {
        match self.branches.as_mut() {
            Some(branches) => branches.regroup(group),
            None => {
                for request in self.bridge.requests.drain() {
                    request.refuse(Refusal::new(RefusalCode::Unavailable, "this session runs no what-if branches"));
                }
            }
        }
    }

    fn refusals(&mut self, into: &mut Vec<AuditEntry>) {
        into.extend(self.bridge.audit.drain());
    }

    fn settled(&mut self, cycle: &Cycle<'_>) {
        if cycle.outcome.is_some() && cycle.simulation.registry().flag(PAUSED) {
            self.steps = self.steps.saturating_sub(1);
        }
        for r in cycle.audit.iter().map(|a| &a.response).filter(|r| r.success) {
            match (r.key.as_str(), r.new) {
                (STEP, Some(ParamValue::Int(n))) if n > 0 => self.steps += n as u64,
                // A pause, a resume or a step of 0 cancels the steps still to run.
                (STEP, _) | (PAUSED, _) => self.steps = 0,
                // A new pace applies from now, not from the tick the old one set.
                (TICK_RATE, _) => self.due = None,
                _ => {}
            }
        }
    }
}
