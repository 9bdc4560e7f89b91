//! Rate-limiting the audit rows of a stranger's refused commands (and of forks refused
//! for coming too fast, [`crate::fork_limit`]).
//!
//! A client without the token can send commands as fast as its socket allows; each is
//! refused, and each refusal used to be a full audit row (with whatever id the client
//! made up). The guard keeps, per peer address (an IPv6 peer by its /64, which one host
//! usually owns whole) and per window of [`WINDOW`], the first [`FULL_ROWS`] refusals as
//! ordinary rows and only counts the rest; when the window closes, one row records the
//! flood: its source and how many were refused. All addresses together get at most
//! [`ALL_FULL_ROWS`] full rows a window, and at most [`MAX_SOURCES`] are tracked: beyond
//! either, refusals are counted under one row, so many addresses cost no more than a few.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use watchtower_protocol::{AuditEntry, ErrorCode, GodCommand, GodResponse};

/// The window over which refusals are counted.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Refusals per address and window recorded in full.
pub const FULL_ROWS: u32 = 10;

/// Refusals per window recorded in full, all addresses together.
pub const ALL_FULL_ROWS: u32 = 100;

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

/// Per-address windows of refusals, and the count of full rows in the current window
/// for all addresses together.
#[derive(Debug, Default)]
pub struct FloodGuard {
    windows: Mutex<Windows>,
    about: About,
}

/// What a guard's refusals are, for its summary rows.
#[derive(Debug, Clone, Copy)]
pub struct About {
    /// The summary row's key, e.g. `(unauthorised flood)`.
    pub key: &'static str,
    /// Its error code.
    pub code: ErrorCode,
    /// What was refused, e.g. `commands without the access token`.
    pub what: &'static str,
}

impl Default for About {
    fn default() -> Self {
        Self { key: "(unauthorised flood)", code: ErrorCode::Unauthorized, what: "commands without the access token" }
    }
}

#[derive(Debug, Default)]
struct Windows {
    by_source: HashMap<Option<IpAddr>, Window>,
    /// Full rows recorded since `all_opened`, every address together.
    all_recorded: u32,
    all_opened: Option<Instant>,
}

/// The address a window is kept for: an IPv4 address, or an IPv6 /64.
pub(crate) fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut bits = v6.to_bits();
                bits &= !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from_bits(bits))
            }
        },
    }
}

impl FloodGuard {
    /// A guard of refusals of another kind than the default (unauthorised commands).
    pub fn about(about: About) -> Self {
        Self { windows: Default::default(), about }
    }

    /// Decides for one refusal from `peer`, which sent it over `transport` (`websocket` or
    /// `http`, named in the window's summary row).
    pub fn admit(&self, transport: &'static str, peer: SocketAddr) -> Verdict {
        let mut guard = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = &mut *guard;
        let now = Instant::now();
        if w.all_opened.is_none_or(|opened| now.duration_since(opened) >= WINDOW) {
            w.all_opened = Some(now);
            w.all_recorded = 0;
        }
        let ip = source(peer.ip());
        let new_window = || Window { opened: now, transport, recorded: 0, counted: 0 };
        if let Some(window) = w.by_source.get_mut(&Some(ip)) {
            // A source already in its window: its first rows are full, the rest counted
            // under its own summary (at most ALL_FULL_ROWS / FULL_ROWS sources get there).
            if window.recorded < FULL_ROWS && w.all_recorded < ALL_FULL_ROWS {
                window.recorded += 1;
                w.all_recorded += 1;
                return Verdict::Record;
            }
            if window.recorded >= FULL_ROWS {
                window.counted += 1;
                return Verdict::Count;
            }
        } else if w.all_recorded < ALL_FULL_ROWS && w.by_source.len() < MAX_SOURCES {
            let mut window = new_window();
            window.recorded = 1;
            w.by_source.insert(Some(ip), window);
            w.all_recorded += 1;
            return Verdict::Record;
        }
        // Past the budget of all addresses together: counted under one row for them all.
        w.by_source.entry(None).or_insert_with(new_window).counted += 1;
        Verdict::Count
    }

    /// Closes the windows older than [`WINDOW`] (all of them if `all`): one summary row
    /// for each that only counted.
    pub fn close_windows(&self, all: bool) -> Vec<AuditEntry> {
        let mut guard = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut rows = Vec::new();
        guard.by_source.retain(|ip, w| {
            if !all && now.duration_since(w.opened) < WINDOW {
                return true;
            }
            if w.counted > 0 {
                rows.push(summary(&self.about, *ip, w, now));
            }
            false
        });
        rows
    }
}

/// The row that records a window's counted refusals.
fn summary(about: &About, ip: Option<IpAddr>, w: &Window, now: Instant) -> AuditEntry {
    let source = match ip {
        Some(ip) => format!("{} {ip}", w.transport),
        None => "many addresses".to_string(),
    };
    let seconds = now.duration_since(w.opened).as_secs_f64();
    let command = GodCommand {
        id: String::new(),
        key: about.key.into(),
        value: serde_json::json!({"refused": w.counted, "seconds": (seconds * 10.0).round() / 10.0}),
    };
    let message = format!(
        "{} more {} from {source} in {seconds:.1} s were refused \
         (recorded as this one row; the first {FULL_ROWS} of each {} s have rows of their own)",
        w.counted,
        about.what,
        WINDOW.as_secs()
    );
    let response = GodResponse::rejected(&command, None, about.code, message);
    AuditEntry { command, received_at_ms: watchtower_bridge::now_ms(), source, response }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_recorded_in_a_few_rows() {
        let guard = FloodGuard::default();
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let verdicts: Vec<Verdict> = (0..1_000).map(|_| guard.admit("websocket", from)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Record).count(), FULL_ROWS as usize);
        assert!(guard.close_windows(false).is_empty(), "the window is still open");
        let rows = guard.close_windows(true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].command.value["refused"], 990);
        assert_eq!(rows[0].source, "websocket 127.0.0.1");
        assert_eq!(guard.admit("websocket", from), Verdict::Record, "a new window records again");
    }

    #[test]
    fn many_addresses_share_one_budget_of_full_rows() {
        let guard = FloodGuard::default();
        let mut recorded = 0;
        for i in 0..2_000u32 {
            let peer = SocketAddr::from((std::net::Ipv4Addr::from(0x7f00_0000 + i), 5000));
            if guard.admit("http", peer) == Verdict::Record {
                recorded += 1;
            }
        }
        assert_eq!(recorded, ALL_FULL_ROWS);
        let rows = guard.close_windows(true);
        assert_eq!(rows.len(), 1, "one summary row for all the addresses past the budget");
        assert_eq!(rows[0].command.value["refused"], 2_000 - ALL_FULL_ROWS as u64);
        assert_eq!(rows[0].source, "many addresses");
        // One IPv6 host's /64 is one source.
        let a: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let b: SocketAddr = "[2001:db8::ffff:2]:1".parse().unwrap();
        assert_eq!(source(a.ip()), source(b.ip()));
    }
}
