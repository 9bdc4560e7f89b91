//! The live runs as clients see them: which run is the main one, whether a run advances
//! here now, and the `{"type":"runs",…}` message that describes them.
//!
//! Commands (`commands.rs`), the broadcaster (`broadcast.rs`), the WebSocket (`ws.rs`)
//! and `/api/runs` (`runs.rs`) all ask these questions; they are answered here, from the
//! state alone, so none of them has to ask another.

use serde_json::{Value, json};
use watchtower_bridge::{LiveRun, LiveRuns};

use crate::state::ServerState;

/// The main run's id: the recorded run's, or the live one's (without a store).
pub fn main_run(state: &ServerState) -> Option<i64> {
    state.config.run_id.or_else(|| state.bridge.runs.load().and_then(|l| l.main().map(|r| r.run_id)))
}

/// Whether run `id` advances in this process now.
pub fn is_live(state: &ServerState, id: i64) -> bool {
    match state.bridge.runs.load() {
        Some(live) => live.get(id).is_some(),
        None => state.config.run_id == Some(id),
    }
}

/// One live run: its id, parentage, changes and latest tick.
pub fn describe(run: &LiveRun) -> Value {
    json!({
        "run_id": run.run_id,
        "main": run.main,
        "parent": run.parent,
        "fork_tick": run.fork_tick,
        "name": run.name,
        "changes": run.changes,
        "resumed_at": run.resumed_at,
        "tick": run.telemetry.load().map(|p| p.telemetry.tick),
    })
}

/// `{"type":"runs","version":V,"main":A,"runs":[…]}`: the live runs, main first.
pub fn runs_message(live: &LiveRuns) -> String {
    json!({
        "type": "runs",
        "version": live.version,
        "main": live.main().map(|r| r.run_id),
        "runs": live.runs.iter().map(|r| describe(r)).collect::<Vec<_>>(),
    })
    .to_string()
}
