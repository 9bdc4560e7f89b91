//! The shared language of Watchtower's parts.
//!
//! Every part may know this crate and nothing else of ours needs to be shared: the
//! engine produces [`Telemetry`] and consumes [`GodCommand`]s, the store persists them,
//! and the server moves them over HTTP and WebSocket without ever naming an engine type
//! (DESIGN.md §1). Plain data only: no runtime, no channels, no threads (those live in
//! `watchtower-bridge`, where the engine side and the server meet).

pub mod analytics;
pub mod command;
pub mod effects;
pub mod registry;
pub mod telemetry;
pub mod units;

pub use analytics::{EmbeddingMap, EmbeddingPoint, EmbeddingStatus, FeatureRow, FeatureTable};
pub use command::{ErrorCode, GodCommand, GodResponse};
pub use effects::{Effect, EffectBand, EffectForecast, EffectPoint};
pub use registry::{ParamInfo, ParamKind, ParamValue, RegistrySnapshot};
pub use telemetry::{
    AuditEntry, Column, Distribution, Histogram, IndicatorValue, Indicators, Reported, Telemetry, TickRecord,
};
pub use units::{Unit, genesis_price, genesis_units, tick_table_metadata};
