//! Checkpoints: a simulation's whole state as bytes, restored bit-exactly.
//!
//! A checkpoint is the mark `WTWRCKPT`, the format version (a little-endian `u32`) and
//! the state encoded with postcard: the run's spec and tick, every registry value, the
//! ledger, the random streams, the model's own state and any command waiting for the
//! next phase 0. Floats are kept as their bits, so a restored simulation continues
//! exactly as the original would, tick for tick. Hooks are code, not state: they are not
//! kept. A checkpoint written in another format version is refused with a message that
//! says so, never misread; the format changes whenever what it holds changes.
//!
//! The bytes are not compressed here (the engine does no I/O and links no codec); the
//! store compresses them.

use serde::{Deserialize, Serialize};
use watchtower_protocol::{GodCommand, ParamValue};

use crate::ledger::Ledger;
use crate::model::RunSpec;
use crate::registry::{RawValue, Registry};
use crate::rng::Streams;

/// The format this build writes and the only one it reads.
pub const FORMAT: u32 = 1;

/// The first bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"WTWRCKPT";

/// Why a checkpoint cannot be written or restored; nothing is restored then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a Watchtower checkpoint (the first bytes are not the checkpoint mark)")]
    NotACheckpoint,
    /// Written by a build with another format.
    #[error(
        "checkpoint format {found} cannot be read by this build, which reads format {FORMAT} only; \
         restore it with the Watchtower version that wrote it ({written_by})"
    )]
    Format {
        /// The checkpoint's format.
        found: u32,
        /// What wrote it, if that much could be read.
        written_by: String,
    },
    /// The bytes are cut short or damaged.
    #[error("the checkpoint is damaged: {0}")]
    Damaged(String),
    /// The checkpoint names a parameter or model this build does not have.
    #[error("the checkpoint does not fit this build: {0}")]
    Incompatible(String),
    /// The state could not be encoded.
    #[error("cannot encode the checkpoint: {0}")]
    Encode(String),
}

/// A registry value as a checkpoint keeps it (the protocol's is untagged JSON, which a
/// format without field names cannot read back).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// Everything a checkpoint holds, in order.
#[derive(Serialize, Deserialize)]
pub(crate) struct State {
    /// What wrote it, for messages.
    pub written_by: String,
    pub spec: RunSpec,
    pub tick: u64,
    registry_version: u64,
    parameters: Vec<(String, Value)>,
    pub ledger: Ledger,
    pub streams: Streams,
    /// Commands waiting for the next phase 0: id, key and the value as JSON text.
    inbox: Vec<(String, String, String)>,
}

impl State {
    pub(crate) fn new(
        spec: RunSpec,
        tick: u64,
        registry: &Registry,
        ledger: Ledger,
        streams: Streams,
        inbox: &[GodCommand],
    ) -> Self {
        let parameters = registry
            .snapshot()
            .params
            .into_iter()
            .map(|p| {
                let value = match p.value {
                    ParamValue::Bool(b) => Value::Bool(b),
                    ParamValue::Int(i) => Value::Int(i),
                    ParamValue::Float(x) => Value::Float(x),
                };
                (p.key, value)
            })
            .collect();
        let inbox = inbox.iter().map(|c| (c.id.clone(), c.key.clone(), c.value.to_string())).collect();
        Self {
            written_by: format!("watchtower-engine {}", env!("CARGO_PKG_VERSION")),
            spec,
            tick,
            registry_version: registry.version(),
            parameters,
            ledger,
            streams,
            inbox,
        }
    }

    /// The registry as it was, rebuilt from the model's schema.
    pub(crate) fn registry(&self) -> Result<Registry, CheckpointError> {
        let mut registry = Registry::builtin(self.spec.model);
        for (key, value) in &self.parameters {
            let raw = match *value {
                Value::Bool(b) => RawValue::Bool(b),
                Value::Int(i) => RawValue::Int(i),
                Value::Float(x) => RawValue::Float(x),
            };
            registry.set_initial(key, &raw).map_err(|e| CheckpointError::Incompatible(e.to_string()))?;
        }
        registry.restore_version(self.registry_version);
        Ok(registry)
    }

    /// The waiting commands.
    pub(crate) fn inbox(&self) -> Result<Vec<GodCommand>, CheckpointError> {
        self.inbox
            .iter()
            .map(|(id, key, value)| {
                let value = serde_json::from_str(value).map_err(|e| CheckpointError::Damaged(e.to_string()))?;
                Ok(GodCommand { id: id.clone(), key: key.clone(), value })
            })
            .collect()
    }

    /// Mark, format, this state, then the model's own bytes ([`crate::Model::save`]),
    /// appended to the same buffer so the bulk of the state is written once.
    pub(crate) fn encode(&self, model: &dyn crate::Model) -> Result<Vec<u8>, CheckpointError> {
        let mut out = Vec::with_capacity(self.ledger.len() * 12 + 4096);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        let mut out = postcard::to_extend(self, out).map_err(|e| CheckpointError::Encode(e.to_string()))?;
        model.save(&mut out).map_err(|e| CheckpointError::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Checks the mark and the format before reading anything else; returns the state
    /// and the model's bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Self, &[u8]), CheckpointError> {
        let body = bytes.strip_prefix(&MAGIC).ok_or(CheckpointError::NotACheckpoint)?;
        let (version, body) = body.split_first_chunk::<4>().ok_or(CheckpointError::NotACheckpoint)?;
        let found = u32::from_le_bytes(*version);
        if found != FORMAT {
            // Every format so far begins with the writer's name; say it if it reads.
            let written_by = postcard::take_from_bytes::<String>(body)
                .map(|(w, _)| w)
                .unwrap_or_else(|_| "an unknown version".into());
            return Err(CheckpointError::Format { found, written_by });
        }
        postcard::take_from_bytes::<Self>(body).map_err(|e| CheckpointError::Damaged(e.to_string()))
    }
}
