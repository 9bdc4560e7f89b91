//! Checkpoints in a real SQLite file: compressed and read back byte for byte, pruned to
//! the newest few plus one per 10,000 ticks, and never read past a refused format;
//! runs started with a plan, resumed and dropped keep what they say.

use watchtower_store::checkpoints::{self, KEEP_LAST};
use watchtower_store::{History, Lineage, RunInfo, RunPlan, RunStatus, StoreError, Writer, WriterOptions};

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
