//! The shared language of Watchtower's parts.
//!
//! Every part may know this crate and nothing else of ours needs to be shared: the
//! engine produces [`Telemetry`] and consumes [`GodCommand`]s, the store persists them,
//! and the server moves them over HTTP and WebSocket without ever naming an engine type
//! (DESIGN.md §1). The [`bridge`] holds the two thread-safe primitives that connect the
//! engine thread to the server's tasks.

pub mod analytics;
pub mod bridge;
pub mod command;
pub mod registry;
pub mod telemetry;

pub use analytics::{EmbeddingMap, EmbeddingPoint, EmbeddingStatus, FeatureRow, FeatureTable};
pub use bridge::{COMMAND_QUEUE_CAPACITY, CommandQueue, Envelope, Latest, QueueFull, ReplyReceiver, Trigger};
pub use command::{ErrorCode, GodCommand, GodResponse};
pub use registry::{ParamInfo, ParamKind, ParamValue, RegistrySnapshot};
pub use telemetry::{AuditEntry, Distribution, Histogram, IndicatorValue, Indicators, Telemetry, TickRecord};
