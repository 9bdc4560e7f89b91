//! The disk guard of a live run: it looks at the free space on the data directory's
//! file system five times a second, so a run is paused cleanly before the disk fills,
//! instead of stopping when the writer meets a full disk.
//!
//! A small economy at full speed writes megabytes a second, more than a fixed margin
//! read once a second can catch, so the guard judges the space it will have
//! [`HORIZON`] from now at the rate it has been falling (the free space less what the
//! run would write meanwhile), not only the space it has.
//!
//! Under twice `--min-free-disk` it warns, in the log and on `/readyz` (the bridge's
//! [`DiskStatus`]); under `--min-free-disk` it pauses the main run (and so its
//! branches) with an ordinary `sim.paused = true` command, audited with the source
//! `disk-guard` and the free space in words, as an operator's pause would be. It never
//! unpauses: the operator frees space and resumes. If the run is unpaused while the disk
//! is still under the threshold, it pauses it again. Free space is read with `fs4`
//! (`statvfs`), the space a process without privileges may use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use watchtower_bridge::{Bridge, DiskStatus, Envelope};
use watchtower_protocol::{GodCommand, ParamValue};

use crate::session::{Stop, now_ms};

/// How often free space is read.
pub const PERIOD: Duration = Duration::from_millis(200);

/// How far ahead the guard looks: it pauses when the free space, less what the disk
/// would lose over this time at the rate it has been falling, is under the threshold
/// (a pause takes effect within a tick; the stop that may follow checkpoints the WAL,
/// a few MiB more).
pub const HORIZON: Duration = Duration::from_secs(2);

/// The rate the free space falls at, in bytes a second: the fastest of the last
/// reading and the previous rate halved, so one quiet reading does not hide a run that
/// writes in bursts.
#[derive(Debug, Default, Clone, Copy)]
struct Falling {
    last: Option<(u64, std::time::Instant)>,
    per_second: f64,
}

impl Falling {
    fn note(&mut self, free: u64, at: std::time::Instant) -> f64 {
        if let Some((before, then)) = self.last {
            let seconds = at.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                let now = before.saturating_sub(free) as f64 / seconds;
                self.per_second = now.max(self.per_second / 2.0);
            }
        }
        self.last = Some((free, at));
        self.per_second
    }
}

/// The source of the guard's commands in the audit log.
pub const SOURCE: &str = "disk-guard";

/// The guard's thresholds, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Under this, a warning.
    pub warn_below: u64,
    /// Under this, the run is paused.
    pub pause_below: u64,
}

impl Thresholds {
    /// Pause under `min_free`, warn under twice that.
    pub fn min_free(min_free: u64) -> Self {
        Self { warn_below: min_free.saturating_mul(2), pause_below: min_free }
    }
}

/// Bytes in words: `1.5 GiB`, `812 MiB`, `3 KiB`, `17 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let value = n as f64 / size as f64;
            return if value < 10.0 { format!("{value:.1} {unit}") } else { format!("{value:.0} {unit}") };
        }
    }
    format!("{n} B")
}

/// Whether the main run is paused, as its published registry says.
fn paused(bridge: &Bridge) -> bool {
    bridge
        .registry
        .load()
        .is_some_and(|r| r.params.iter().any(|p| p.key == "sim.paused" && p.value == ParamValue::Bool(true)))
}

/// What the guard makes of `free` bytes falling at `falling` bytes a second; the status
/// published, and whether to pause.
fn judge(free: u64, falling: f64, limits: Thresholds) -> (DiskStatus, bool) {
    let soon = free.saturating_sub((falling * HORIZON.as_secs_f64()) as u64);
    let rate = if falling >= 1.0 { format!(", falling {}/s", bytes(falling as u64)) } else { String::new() };
    let (state, message, pause) = if soon < limits.pause_below {
        (
            "paused",
            format!(
                "{} free on the data directory's disk{rate}, under --min-free-disk {} within {} s: the run is paused (free space, then resume it)",
                bytes(free),
                bytes(limits.pause_below),
                HORIZON.as_secs()
            ),
            true,
        )
    } else if soon < limits.warn_below {
        (
            "low",
            format!(
                "{} free on the data directory's disk{rate}, under {}: the run will be paused under --min-free-disk {}",
                bytes(free),
                bytes(limits.warn_below),
                bytes(limits.pause_below)
            ),
            false,
        )
    } else {
        ("ok", String::new(), false)
    };
    let status =
        DiskStatus { state, free_bytes: free, warn_below: limits.warn_below, pause_below: limits.pause_below, message };
    (status, pause)
}

/// The guard's thread; it ends with the stop.
pub struct DiskGuard {
    thread: std::thread::JoinHandle<()>,
}

impl DiskGuard {
    /// Starts watching `dir`'s file system for the run `bridge` steers, until `stop`.
    pub fn spawn(dir: &Path, limits: Thresholds, bridge: Bridge, stop: Stop) -> std::io::Result<Self> {
        let dir: PathBuf = dir.to_path_buf();
        let thread = std::thread::Builder::new().name("disk-guard".into()).spawn(move || {
            let mut last_state = "ok";
            let mut unreadable = false;
            let mut falling = Falling::default();
            while !stop.requested() {
                match fs4::available_space(&dir) {
                    Ok(free) => {
                        unreadable = false;
                        let rate = falling.note(free, std::time::Instant::now());
                        let (status, pause) = judge(free, rate, limits);
                        if status.state != last_state {
                            match status.state {
                                "ok" => {
                                    info!(free = free, "disk: {} free on the disk of {}", bytes(free), dir.display())
                                }
                                _ => warn!(free = free, dir = %dir.display(), "disk: {}", status.message),
                            }
                            last_state = status.state;
                        }
                        if pause && !paused(&bridge) && bridge.registry.load().is_some() {
                            pause_run(&bridge, &status);
                        }
                        bridge.disk.publish(Arc::new(status));
                    }
                    Err(e) if !unreadable => {
                        unreadable = true;
                        warn!("disk: cannot read the free space of {}: {e}", dir.display());
                    }
                    Err(_) => {}
                }
                // A stop takes effect within 50 ms.
                for _ in 0..(PERIOD.as_millis() / 50) {
                    if stop.requested() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })?;
        Ok(Self { thread })
    }

    /// Waits for the thread after the stop.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Queues the audited pause; a full queue is tried again at the next look.
fn pause_run(bridge: &Bridge, status: &DiskStatus) {
    let command = GodCommand { id: SOURCE.into(), key: "sim.paused".into(), value: serde_json::Value::Bool(true) };
    let source =
        format!("{SOURCE}: {} free, under --min-free-disk {}", bytes(status.free_bytes), bytes(status.pause_below));
    let envelope = Envelope { command, received_at_ms: now_ms(), source, reply: None, run: None };
    match bridge.queue.try_send(envelope) {
        Ok(()) => warn!("disk: pausing the run: {}", status.message),
        Err(e) => warn!("disk: the pause could not be queued ({e}); trying again in {PERIOD:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_words_and_thresholds_judge() {
        assert_eq!(bytes(17), "17 B");
        assert_eq!(bytes(3 << 10), "3.0 KiB");
        assert_eq!(bytes(812 << 20), "812 MiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        let limits = Thresholds::min_free(1 << 30);
        assert_eq!(judge(3 << 30, 0.0, limits).0.state, "ok");
        let (low, pause) = judge(1536 << 20, 0.0, limits);
        assert_eq!((low.state, pause), ("low", false));
        assert!(low.message.contains("1.5 GiB free on the data directory's disk, under 2.0 GiB"), "{}", low.message);
        let (paused, pause) = judge(512 << 20, 0.0, limits);
        assert_eq!((paused.state, pause), ("paused", true));
        assert!(
            paused.message.contains("under --min-free-disk 1.0 GiB within 2 s: the run is paused"),
            "{}",
            paused.message
        );
        // 3 GiB free, falling 1.5 GiB a second: none left within the horizon, so paused now.
        let (soon, pause) = judge(3 << 30, (3u64 << 29) as f64, limits);
        assert_eq!((soon.state, pause), ("paused", true));
        assert!(
            soon.message.contains("3.0 GiB free on the data directory's disk, falling 1.5 GiB/s"),
            "{}",
            soon.message
        );
    }

    #[test]
    fn the_falling_rate_is_the_fastest_of_now_and_the_last_halved() {
        let t0 = std::time::Instant::now();
        let mut f = Falling::default();
        assert_eq!(f.note(1_000_000, t0), 0.0);
        assert_eq!(f.note(800_000, t0 + Duration::from_secs(1)), 200_000.0);
        // A quiet second: the rate halves, it does not vanish.
        assert_eq!(f.note(800_000, t0 + Duration::from_secs(2)), 100_000.0);
        // Space freed: no negative rate.
        assert_eq!(f.note(900_000, t0 + Duration::from_secs(3)), 50_000.0);
    }
}
