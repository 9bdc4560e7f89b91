//! God commands: a person's intervention in the running economy, and the engine's answer.
//!
//! A command names one registry key and a new value. The value stays raw JSON here on
//! purpose: whether `"0.3"`, `true` or `1e308` is acceptable for a key is the registry's
//! decision, so that every source of commands (WebSocket, HTTP, config files, replay)
//! gets the same validation and the same error wording.

use serde::{Deserialize, Serialize};

use crate::registry::ParamValue;

/// A request to change one registry value, as it arrives from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GodCommand {
    /// The client's own identifier, echoed in the response so it can match them up.
    pub id: String,
    /// The registry key, e.g. `government.income_tax_rate`.
    pub key: String,
    /// The requested value, validated by the registry against the key's type and range.
    pub value: serde_json::Value,
}

/// Why a command was not applied; stable strings clients can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The key is not in the registry.
    UnknownKey,
    /// The value has the wrong JSON type for the key.
    WrongType,
    /// The value is NaN or infinite.
    NotFinite,
    /// The value lies outside the key's range.
    OutOfRange,
    /// The key can only be set before the run starts.
    NotLive,
    /// The command applies only while the simulation is paused (`sim.step`).
    NotPaused,
    /// The command queue was full; nothing was queued.
    QueueFull,
    /// The sender did not present the access token.
    Unauthorized,
    /// The message could not be parsed as a command.
    Malformed,
    /// The engine stopped before it could apply the command.
    Unavailable,
    /// The command named a run that is not live (a what-if branch that was dropped, say).
    UnknownRun,
    /// A simulation control (`sim.*`) sent to a what-if branch: the controls pace every
    /// run of the session at once, so they go to the main run.
    NotForBranch,
    /// Too many forks too fast, from one address or with the token (`POST /api/runs/{id}/fork`).
    RateLimited,
}

/// The engine's answer to one [`GodCommand`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GodResponse {
    /// The command's `id`.
    pub id: String,
    /// The command's `key`.
    pub key: String,
    /// Whether the value was applied.
    pub success: bool,
    /// The tick whose phase 0 applied (or rejected) it; `None` if it never reached the engine.
    pub applied_tick: Option<u64>,
    /// The value before the change.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub old: Option<ParamValue>,
    /// The value after the change.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub new: Option<ParamValue>,
    /// What went wrong, in words a person can act on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// What went wrong, as a stable code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<ErrorCode>,
}

impl GodResponse {
    /// A successful change at `tick`.
    pub fn applied(command: &GodCommand, tick: u64, old: ParamValue, new: ParamValue) -> Self {
        Self {
            id: command.id.clone(),
            key: command.key.clone(),
            success: true,
            applied_tick: Some(tick),
            old: Some(old),
            new: Some(new),
            error: None,
            code: None,
        }
    }

    /// A rejection; `tick` is `None` when the command never reached the engine.
    pub fn rejected(command: &GodCommand, tick: Option<u64>, code: ErrorCode, error: impl Into<String>) -> Self {
        Self {
            id: command.id.clone(),
            key: command.key.clone(),
            success: false,
            applied_tick: tick,
            old: None,
            new: None,
            error: Some(error.into()),
            code: Some(code),
        }
    }
}
