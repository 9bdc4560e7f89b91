//! The broadcaster: every 100 ms, one task reads the latest snapshot, serialises it once,
//! and publishes the bytes in a `watch` slot that every client reads.
//!
//! A `watch` holds one value: a client that reads slowly finds only the newest frame when
//! it comes back, so it skips frames instead of queueing them. Its memory never grows,
//! it never delays another client, and nothing here can make the engine wait.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::live::{main_run, runs_message};
use crate::state::{Frame, ServerState};

/// The broadcast period (10 frames a second).
pub const INTERVAL: Duration = Duration::from_millis(100);

/// `{"type":"telemetry","run_id":…,"published_at_ms":…,<the telemetry's fields>}`, as
/// reported (money in genesis currency units, `Reported`).
#[derive(Serialize)]
struct TelemetryFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    run_id: Option<i64>,
    published_at_ms: u64,
    #[serde(flatten)]
    telemetry: watchtower_protocol::Reported<'a>,
}

/// Runs until `cancel`.
pub async fn run(state: Arc<ServerState>, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(INTERVAL);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_tick = None;
    let mut last_runs = None;
    let mut rate: VecDeque<(Instant, u64)> = VecDeque::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        let m = &state.metrics;
        m.queue_depth.set(state.bridge.queue.len() as i64);
        let Some(published) = state.bridge.telemetry.load() else { continue };
        let telemetry = &published.telemetry;
        let now = Instant::now();
        rate.push_back((now, telemetry.tick));
        while rate.len() > 2 && now.duration_since(rate[0].0) > Duration::from_secs(1) {
            rate.pop_front();
        }
        if let (Some(first), Some(last)) = (rate.front(), rate.back()) {
            let seconds = last.0.duration_since(first.0).as_secs_f64();
            if seconds > 0.0 {
                m.ticks_per_second.set((last.1 - first.1) as f64 / seconds);
            }
        }
        let live = state.bridge.runs.load();
        let runs_version = live.as_ref().map(|l| l.version);
        if last_tick == Some(telemetry.tick) && last_runs == runs_version {
            continue; // paused: nothing new to say
        }
        last_tick = Some(telemetry.tick);
        last_runs = runs_version;
        m.ticks.set(telemetry.tick as i64 + 1);
        m.money_drift.set(telemetry.indicators.money_drift);
        let run_id = main_run(&state);
        let frame = TelemetryFrame {
            kind: "telemetry",
            run_id,
            published_at_ms: published.at_ms,
            telemetry: watchtower_protocol::Reported(telemetry),
        };
        let text = serde_json::to_string(&frame).expect("telemetry serialises");
        let mut branches = Vec::new();
        if let Some(live) = &live {
            for run in live.runs.iter().filter(|r| !r.main) {
                let Some(p) = run.telemetry.load() else { continue };
                let frame = TelemetryFrame {
                    kind: "telemetry",
                    run_id: Some(run.run_id),
                    published_at_ms: p.at_ms,
                    telemetry: watchtower_protocol::Reported(&p.telemetry),
                };
                let text = serde_json::to_string(&frame).expect("telemetry serialises");
                branches.push((run.run_id, text.into()));
            }
        }
        let runs = live.as_ref().map(|l| (l.version, runs_message(l).into()));
        let branches: Arc<[(i64, axum::extract::ws::Utf8Bytes)]> = branches.into();
        state.frames.send_modify(|frame| {
            *frame = Frame { seq: frame.seq + 1, text: text.into(), run_id, branches, runs };
        });
    }
}
