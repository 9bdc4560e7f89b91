//! The sink of a live session: every settled tick, and the registry whenever it changed,
//! published to the bridge's latest-value slots (the main run's, or a what-if branch's),
//! where the server picks them up. Publishing never waits: a slot holds only the newest.

use std::sync::Arc;

use watchtower_bridge::{Bridge, Latest, Published};
use watchtower_protocol::RegistrySnapshot;

use crate::cycle::{Cycle, Flow, SinkError, now_ms};
use crate::sink::Sink;

/// Publishes every settled tick, and the registry whenever it changed, to the bridge
/// (the main run's slots, or a branch's).
pub struct Publisher {
    telemetry: Arc<Latest<Published>>,
    registry: Arc<Latest<RegistrySnapshot>>,
    registry_version: Option<u64>,
}

impl Publisher {
    /// A publisher into `bridge`'s main slots.
    pub fn new(bridge: Bridge) -> Self {
        Self::into_slots(bridge.telemetry, bridge.registry)
    }

    /// A publisher into the given slots (a branch's).
    pub fn into_slots(telemetry: Arc<Latest<Published>>, registry: Arc<Latest<RegistrySnapshot>>) -> Self {
        Self { telemetry, registry, registry_version: None }
    }
}

impl Sink for Publisher {
    fn settled(&mut self, cycle: &Cycle<'_>) -> Result<Flow, SinkError> {
        if let Some(outcome) = cycle.outcome {
            let published = Published { telemetry: Arc::clone(&outcome.telemetry), at_ms: now_ms() };
            self.telemetry.publish(Arc::new(published));
        }
        let registry = cycle.simulation.registry();
        if self.registry_version != Some(registry.version()) {
            self.registry.publish(Arc::new(registry.snapshot()));
            self.registry_version = Some(registry.version());
        }
        Ok(Flow::Continue)
    }
}
