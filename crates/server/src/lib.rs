//! Watchtower's live server: HTTP, WebSocket and the embedded dashboard (DESIGN.md §8).
//!
//! The server knows the protocol crate and the store's read side, never an engine type:
//! it talks to the engine only through the [`Bridge`] (a bounded command queue and
//! single-slot exchanges). Nothing a client does (connecting, reading slowly, flooding
//! commands, disconnecting) can make the engine wait.
//!
//! Nor can heavy readers or a crowd of idle sockets take the server down: store reads pass
//! a gate of a few permits (`readers.rs`), history is streamed a page at a time
//! (`history.rs`), connections are capped and idle ones closed (`connections.rs`), and a
//! request addressed to a host the server does not answer to is refused (`host.rs`).
//!
//! Endpoints: `/` (dashboard), `/ws`, `/healthz`, `/readyz`, `/metrics`, and under `/api`:
//! `commands` (POST), `registry`, `snapshot`, `history`, `audit`, `runs`, `experiments`,
//! `experiments/{id}`, `experiments/{id}/fan`, `experiments/{id}/cells`,
//! `experiments/{id}/sensitivity`, `experiments/{id}/calibration`,
//! `admin/embedding-map` (and `/refresh`, POST), and the what-if branches:
//! `runs/{id}/fork` (POST), `runs/{id}` (DELETE) and `runs/{id}/drop` (POST).

// From the top down: serving, the handlers, what the handlers share, the state, and the
// pieces below it. No module imports one above it (DESIGN.md §8).
mod running;
mod server;

mod api;
mod dashboard;
mod experiments;
mod history;
mod runs;
mod ws;

mod access;
mod broadcast;
mod commands;
mod live;
mod respond;

mod state;

pub mod connections;
mod flood;
mod fork_limit;
mod host;
mod metrics;
mod query;
mod readers;
pub mod wire;

pub use host::check_allowed as check_allowed_host;
pub use running::{BindError, Bound, Running};
pub use server::{router, run, serve};
pub use state::{Bridge, CellsQuery, ExperimentAnswer, ExperimentReader, Published, ServerConfig, ServerState};
pub use ws::MAX_MESSAGE;
