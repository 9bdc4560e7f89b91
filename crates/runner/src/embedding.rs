//! The background embedding map of a live session (DESIGN.md §7).
//!
//! Started before the server serves, it publishes "computing" at once and asks the
//! engine thread for a copy of the agents after the first settled tick. The copy is
//! taken between ticks (a few milliseconds) by the [`FeatureTap`] sink; the t-SNE runs
//! on its own thread with a one-thread pool, never on the engine's thread nor on the
//! async runtime's workers. Refreshes (`POST /api/admin/embedding-map/refresh`) repeat
//! the cycle from the next settled tick; the server allows one computation at a time.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing::{info, warn};
use watchtower_analytics::{Options, embed};
use watchtower_bridge::Bridge;
use watchtower_protocol::{EmbeddingStatus, FeatureTable};

use crate::session::Cycle;
use crate::sink::{Flow, Sink, SinkError};

/// The engine thread's end: answers refresh requests with a copy of the agents.
pub struct FeatureTap {
    bridge: Bridge,
    sample: usize,
    tables: Sender<FeatureTable>,
}

impl Sink for FeatureTap {
    /// Between ticks: if a map was asked for, hands the worker a copy of the agents.
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        let sim = cycle.simulation;
        if sim.tick() == 0 || !self.bridge.embedding_refresh.take() {
            return Ok(Flow::Continue);
        }
        match self.tables.try_send(sim.agent_features(self.sample)) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => warn!("the analytics worker has stopped"),
        }
        Ok(Flow::Continue)
    }
}

impl FeatureTap {
    /// Asks again on the next poll (the first request waits for tick 0 to settle).
    fn keep_asking(&self) {
        self.bridge.embedding_refresh.fire();
    }
}

/// Starts the worker; `None` when the map is switched off (`sample == 0`).
pub fn start(bridge: &Bridge, sample: usize) -> std::io::Result<Option<FeatureTap>> {
    if sample == 0 {
        return Ok(None);
    }
    let (tables, inbox) = crossbeam_channel::bounded(1);
    bridge.embedding.publish(Arc::new(EmbeddingStatus::Computing { progress: 0.0 }));
    let worker_bridge = bridge.clone();
    std::thread::Builder::new().name("analytics".into()).spawn(move || work(inbox, worker_bridge))?;
    let tap = FeatureTap { bridge: bridge.clone(), sample, tables };
    tap.keep_asking();
    Ok(Some(tap))
}

fn work(inbox: Receiver<FeatureTable>, bridge: Bridge) {
    let options = Options::default();
    for table in inbox {
        let publish = |s: EmbeddingStatus| bridge.embedding.publish(Arc::new(s));
        publish(EmbeddingStatus::Computing { progress: 0.0 });
        let mut shown = 0.0;
        let result = embed(&table, &options, &mut |progress| {
            if progress - shown >= 0.01 || progress >= 1.0 {
                shown = progress;
                publish(EmbeddingStatus::Computing { progress });
            }
        });
        match result {
            Ok(map) => {
                info!(tick = map.tick, points = map.points.len(), took_ms = map.took_ms, "embedding map ready");
                publish(EmbeddingStatus::Ready(map));
            }
            Err(e) => {
                warn!("embedding map failed: {e}");
                publish(EmbeddingStatus::Failed { error: e.to_string() });
            }
        }
    }
}
