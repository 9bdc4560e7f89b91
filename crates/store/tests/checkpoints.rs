//! Checkpoints in a real SQLite file: compressed and read back byte for byte, pruned to
//! the newest few plus one per 10,000 ticks, and never read past a refused format;
//! runs started with a plan, resumed and dropped keep what they say.

use watchtower_store::checkpoints::{self, KEEP_LAST};
use watchtower_store::{
    DATABASE_FILE, History, Lineage, RunInfo, RunPlan, RunStatus, Store, StoreError, Writer, WriterOptions,
};

fn run_info() -> RunInfo {
    RunInfo {
        model: "mark0".into(),
        seed: 1,
        households: 500,
        firms: 50,
        agents: 0,
        parameters: serde_json::json!({}),
        model_version: "test".into(),
    }
}

#[test]
fn checkpoints_are_kept_newest_few_plus_one_per_ten_thousand_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let writer = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    let run = writer.run_id();
    let state = |tick: u64| -> Vec<u8> { (0..50_000u64).map(|i| ((i * 7 + tick) % 251) as u8).collect() };
    for tick in (1_000..=35_000).step_by(1_000) {
        let raw = state(tick);
        writer.store().call(move |conn| checkpoints::save(conn, run, tick, 1, &raw).map(drop)).unwrap();
    }
    writer.flush().unwrap();
    let history = History::open(&path, 1).unwrap();
    let kept: Vec<u64> = history.checkpoints(run).unwrap().iter().map(|c| c.tick).collect();
    assert_eq!(kept, [1_000, 10_000, 20_000, 30_000, 33_000, 34_000, 35_000]);
    assert_eq!(KEEP_LAST, 3);
    let info = &history.checkpoints(run).unwrap()[0];
    assert!(info.stored_size < info.raw_size, "compressed: {info:?}");
    // The newest at or before a tick, byte for byte.
    let (found, bytes) = history.load_checkpoint::<StoreError>(run, 29_999, |_| Ok(())).unwrap().unwrap();
    assert_eq!(found.tick, 20_000);
    assert_eq!(bytes, state(20_000));
    assert!(history.load_checkpoint::<StoreError>(run, 999, |_| Ok(())).unwrap().is_none());
    // A refusal is returned before the bytes are read.
    let refused = history.load_checkpoint(run, 40_000, |c| Err(StoreError::Checkpoint(format!("format {}", c.format))));
    assert!(matches!(refused, Err(StoreError::Checkpoint(m)) if m == "format 1"));
    writer.finish(RunStatus::Finished, None).unwrap();
}

#[test]
fn runs_keep_their_plan_lineage_resumes_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let plan = RunPlan {
        tick_target: Some(5_000),
        schedule: Some(serde_json::json!([{"tick": 10, "key": "government.income_tax_rate", "value": 0.3}])),
        lineage: None,
    };
    let writer = Writer::start_planned(&path, &run_info(), &plan, WriterOptions::default()).unwrap();
    let parent = writer.run_id();
    let branch_plan = RunPlan {
        lineage: Some(Lineage {
            parent_run_id: parent,
            fork_tick: 42,
            name: Some("tax".into()),
            changes: serde_json::json!({"government.income_tax_rate": 0.3}),
        }),
        ..RunPlan::default()
    };
    let branch = writer.store().handle().start_run(&run_info(), &branch_plan).unwrap();
    branch.finish_dropped(99).unwrap();
    writer.finish(RunStatus::Interrupted, None).unwrap();
    // Resumed twice, by later processes.
    for at in [1_000, 2_000] {
        let writer = Writer::resume(&path, parent, at, WriterOptions::default()).unwrap();
        writer.finish(RunStatus::Interrupted, None).unwrap();
    }
    let runs = History::open(&path, 1).unwrap().runs().unwrap();
    let (b, p) = (&runs[0], &runs[1]);
    assert_eq!(
        (p.tick_target, p.resumed_at.clone(), p.status.as_str()),
        (Some(5_000), vec![1_000, 2_000], "interrupted")
    );
    assert_eq!(p.schedule[0]["tick"], 10);
    assert_eq!((b.parent_run_id, b.fork_tick, b.branch_name.as_deref()), (Some(parent), Some(42), Some("tax")));
    assert_eq!((b.dropped_tick, b.status.as_str()), (Some(99), "finished"));
    assert_eq!(b.changes["government.income_tax_rate"], 0.3);
}

/// A tick's record: `telemetry` at `tick`, with a command every 50 ticks.
fn record_at(telemetry: &watchtower_protocol::Telemetry, tick: u64) -> watchtower_protocol::TickRecord {
    use watchtower_protocol::{AuditEntry, ErrorCode, GodCommand, GodResponse};
    let mut telemetry = telemetry.clone();
    telemetry.tick = tick;
    let audit = if tick.is_multiple_of(50) {
        let command = GodCommand { id: format!("c{tick}"), key: "sim.paused".into(), value: false.into() };
        let response = GodResponse::rejected(&command, Some(tick), ErrorCode::QueueFull, "test");
        vec![AuditEntry { command, received_at_ms: 1, source: "test".into(), response }]
    } else {
        vec![]
    };
    watchtower_protocol::TickRecord { telemetry: Some(telemetry.into()), audit }
}

#[test]
fn retention_thins_old_rows_keeps_commands_and_the_checkpoints_a_resume_needs() {
    use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation};
    use watchtower_store::{Retention, Thinned};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    // Small strides so the doubling shows within a few thousand ticks.
    let retention = Retention { keep_ticks: 1_500, first_stride: 10, max_thinned_rows: 200 };
    let options = WriterOptions { batch: 64, retention: Some(retention), ..WriterOptions::default() };
    let store = Store::open(&path, options).unwrap();
    let run = store.start_run(&run_info()).unwrap();
    let id = run.run_id();
    let mut sim = Simulation::new(
        RunSpec { firms: 5, households: 50, ..RunSpec::default() },
        Registry::builtin(ModelKind::Mark0),
    )
    .unwrap();
    let telemetry = (*sim.step().unwrap().telemetry).clone();
    assert!(!telemetry.distributions.is_empty(), "agent_stats rows are thinned too");
    let ticks = 12_000u64;
    for tick in 0..ticks {
        run.send(record_at(&telemetry, tick)).unwrap();
        if tick % 1_000 == 999 {
            let at = tick + 1;
            store.submit(move |conn| checkpoints::save(conn, id, at, 1, &at.to_le_bytes()).map(|_| ())).unwrap();
        }
    }
    // The thinning catches up within a few commits of the writer.
    let history = History::open(&path, 1).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let thinned = loop {
        store.flush().unwrap();
        let row = history.runs().unwrap().into_iter().find(|r| r.id == id).unwrap();
        if row.thinned.is_some_and(|t| t.before == 10_000 && t.every == 80) {
            break row.thinned.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "not thinned in time: {:?}", row.thinned);
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // The window starts at 10,500; the newest checkpoint at or before it is at 10,000.
    assert_eq!(thinned, Thinned { before: 10_000, every: 80 });
    assert_eq!(thinned.to_string(), "ticks 0–9,999 kept 1 in 80");
    let kept: Vec<u64> = history.ticks(id, 0, u64::MAX, 100_000).unwrap().iter().map(|r| r.tick).collect();
    let older: Vec<u64> = kept.iter().copied().filter(|&t| t < 10_000).collect();
    assert_eq!(
        older,
        (0..10_000).step_by(80).collect::<Vec<_>>(),
        "older rows: one in 80 (10 doubled as they passed 200)"
    );
    assert_eq!(kept[older.len()..], (10_000..ticks).collect::<Vec<_>>()[..], "every row from the boundary on");
    let conn = history.connection().unwrap();
    let stats_ticks: i64 =
        conn.query_row("SELECT count(DISTINCT tick) FROM agent_stats WHERE run_id = ?1", [id], |r| r.get(0)).unwrap();
    assert_eq!(stats_ticks as usize, kept.len(), "agent_stats follow their ticks");
    let commands: i64 = conn.query_row("SELECT count(*) FROM commands WHERE run_id = ?1", [id], |r| r.get(0)).unwrap();
    assert_eq!(commands as u64, ticks / 50, "every audited command is kept");
    drop(conn);
    let checkpoints: Vec<u64> = history.checkpoints(id).unwrap().iter().map(|c| c.tick).collect();
    assert_eq!(checkpoints, [10_000, 11_000, 12_000], "the boundary's and the newest; older ones gone");
    drop(history);
    run.finish(RunStatus::Finished, None).unwrap();
    store.close().unwrap();
}
