//! Rate-limiting the audit rows of a stranger's refused commands.
//!
//! A client without the token can send commands as fast as its socket allows; each is
//! refused, and each refusal used to be a full audit row (with whatever id the client
//! made up). The guard keeps, per peer address and per window of [`WINDOW`], the first
//! [`FULL_ROWS`] refusals as ordinary rows and only counts the rest; when the window
//! closes, one row records the flood: its source and how many were refused. The number of
//! addresses tracked is bounded too; beyond it, refusals are counted under one row.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use watchtower_protocol::{AuditEntry, ErrorCode, GodCommand, GodResponse};

use crate::commands::Sender;

/// The window over which refusals are counted.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Refusals per address and window recorded in full.
pub const FULL_ROWS: u32 = 10;

/// Addresses tracked at once.
const MAX_SOURCES: usize = 1_024;

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Record it as a row of its own.
    Record,
    /// Only count it; the window's summary row records it.
    Count,
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    transport: &'static str,
    recorded: u32,
    counted: u64,
}

/// Per-address windows of refusals.
#[derive(Debug, Default)]
pub struct FloodGuard {
    windows: Mutex<HashMap<Option<IpAddr>, Window>>,
}

impl FloodGuard {
    /// Decides for one refusal from `from`.
    pub fn admit(&self, from: &Sender) -> Verdict {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = Some(from.peer.ip());
        if !windows.contains_key(&key) && windows.len() >= MAX_SOURCES {
            key = None; // too many addresses: count them together
        }
        let w = windows.entry(key).or_insert_with(|| Window {
            opened: Instant::now(),
            transport: from.transport,
            recorded: 0,
            counted: 0,
        });
        if key.is_some() && w.recorded < FULL_ROWS {
            w.recorded += 1;
            Verdict::Record
        } else {
            w.counted += 1;
            Verdict::Count
        }
    }

    /// Closes the windows older than [`WINDOW`] (all of them if `all`): one summary row
    /// for each that only counted.
    pub fn close_windows(&self, all: bool) -> Vec<AuditEntry> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut rows = Vec::new();
        windows.retain(|ip, w| {
            if !all && now.duration_since(w.opened) < WINDOW {
                return true;
            }
            if w.counted > 0 {
                rows.push(summary(*ip, w, now));
            }
            false
        });
        rows
    }
}

/// The row that records a window's counted refusals.
fn summary(ip: Option<IpAddr>, w: &Window, now: Instant) -> AuditEntry {
    let source = match ip {
        Some(ip) => format!("{} {ip}", w.transport),
        None => "many addresses".to_string(),
    };
    let seconds = now.duration_since(w.opened).as_secs_f64();
    let command = GodCommand {
        id: String::new(),
        key: "(unauthorised flood)".into(),
        value: serde_json::json!({"refused": w.counted, "seconds": (seconds * 10.0).round() / 10.0}),
    };
    let message = format!(
        "{} more commands without the access token from {source} in {seconds:.1} s were refused \
         (recorded as this one row; the first {FULL_ROWS} of each {} s have rows of their own)",
        w.counted,
        WINDOW.as_secs()
    );
    let response = GodResponse::rejected(&command, None, ErrorCode::Unauthorized, message);
    let received_at_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    AuditEntry { command, received_at_ms, source, response }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_recorded_in_a_few_rows() {
        let guard = FloodGuard::default();
        let from = Sender { transport: "websocket", peer: "127.0.0.1:5000".parse().unwrap() };
        let verdicts: Vec<Verdict> = (0..1_000).map(|_| guard.admit(&from)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Record).count(), FULL_ROWS as usize);
        assert!(guard.close_windows(false).is_empty(), "the window is still open");
        let rows = guard.close_windows(true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].command.value["refused"], 990);
        assert_eq!(rows[0].source, "websocket 127.0.0.1");
        assert_eq!(guard.admit(&from), Verdict::Record, "a new window records again");
    }
}
