//! The store against real SQLite files: connection settings, schema, the writer's run
//! lifecycle, concurrent readers, and files that are not ours.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use watchtower_engine::{ModelKind, Registry, RunSpec, Simulation};
use watchtower_protocol::{AuditEntry, GodCommand, Indicators, TickRecord};
use watchtower_store::connection::{open_reader, open_writer};
use watchtower_store::{DATABASE_FILE, History, RunInfo, RunStatus, StoreError, Writer, WriterOptions};

fn run_info() -> RunInfo {
    RunInfo {
        model: "mark0".into(),
        seed: 1,
        households: 500,
        firms: 50,
        agents: 0,
        parameters: serde_json::json!({"government.income_tax_rate": 0.2}),
        model_version: "test".into(),
    }
}

fn simulation() -> Simulation {
    let spec = RunSpec { firms: 50, households: 500, ..RunSpec::default() };
    Simulation::new(spec, Registry::builtin(ModelKind::Mark0)).unwrap()
}

/// Runs `ticks` ticks, sending each to the writer with one audited command every 10 ticks.
fn write_ticks(writer: &Writer, sim: &mut Simulation, ticks: u64) {
    let sender = writer.sender();
    for _ in 0..ticks {
        let out = sim.step().unwrap();
        let audit = if out.tick.is_multiple_of(10) {
            let command = GodCommand { id: format!("c{}", out.tick), key: "sim.paused".into(), value: false.into() };
            let response = watchtower_protocol::GodResponse::rejected(
                &command,
                Some(out.tick),
                watchtower_protocol::ErrorCode::QueueFull,
                "test",
            );
            vec![AuditEntry { command, received_at_ms: 1, source: "test".into(), response }]
        } else {
            vec![]
        };
        sender.send(TickRecord { telemetry: Some(out.telemetry), audit }).unwrap();
    }
}

fn pragmas(conn: &Connection) -> (String, i64, i64, i64) {
    let q = |p: &str| conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
    let int = |v| match v {
        rusqlite::types::Value::Integer(i) => i,
        other => panic!("{other:?}"),
    };
    let mode = match q("journal_mode") {
        rusqlite::types::Value::Text(t) => t,
        other => panic!("{other:?}"),
    };
    (mode, int(q("busy_timeout")), int(q("foreign_keys")), int(q("synchronous")))
}

#[test]
fn every_kind_of_connection_has_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let writer = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    let expected = ("wal".to_string(), 5_000, 1, 1); // synchronous=NORMAL is 1
    assert_eq!(pragmas(&open_writer(&path).unwrap()), expected, "write connection");
    assert_eq!(pragmas(&open_reader(&path).unwrap()), expected, "read-only connection");
    let history = History::open(&path, 2).unwrap();
    assert_eq!(pragmas(&history.connection().unwrap()), expected, "pooled reader");
    drop(history);
    writer.finish(RunStatus::Finished, None).unwrap();
}

#[test]
fn ticks_table_has_a_column_per_indicator() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    Writer::start(&path, &run_info(), WriterOptions::default()).unwrap().finish(RunStatus::Finished, None).unwrap();
    let conn = open_reader(&path).unwrap();
    let mut stmt = conn.prepare("SELECT name, type FROM pragma_table_info('ticks')").unwrap();
    let columns: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let expected: Vec<(String, String)> = [("run_id", "INTEGER"), ("tick", "INTEGER")]
        .into_iter()
        .chain(Indicators::FIELDS.iter().copied())
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(columns, expected, "add a migration when an indicator is added");
}

#[test]
fn a_finished_run_is_complete_marked_and_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut sim = simulation();
    let writer = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    write_ticks(&writer, &mut sim, 300);
    let report = writer.finish(RunStatus::Finished, None).unwrap();
    assert_eq!((report.ticks, report.commands, report.last_tick), (300, 30, Some(299)));

    let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0, "WAL checkpointed");
    let history = History::open(&path, 1).unwrap();
    let runs = history.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "finished");
    assert_eq!(runs[0].last_tick, Some(299));
    let ticks = history.ticks(runs[0].id, 0, u64::MAX, usize::MAX).unwrap();
    assert_eq!(ticks.iter().map(|t| t.tick).collect::<Vec<_>>(), (0..300).collect::<Vec<_>>());
    assert_eq!(ticks[299].indicators, sim.telemetry().unwrap().indicators, "read back exactly");
    let audit = history.audit(Some(runs[0].id), 5).unwrap();
    assert_eq!(audit.len(), 5);
    assert_eq!(audit[0].id, "c290", "newest first");
    let stats: i64 =
        history.connection().unwrap().query_row("SELECT count(*) FROM agent_stats", [], |r| r.get(0)).unwrap();
    assert_eq!(stats, 300 * 4);
}

/// Bounds past what SQLite's INTEGER holds bound nothing: a `from` beyond every tick reads
/// nothing (a cast to i64 once wrapped it round to -1 and read ticks 0, 1, 2), and a `to`
/// or `limit` beyond reads to the end.
#[test]
fn bounds_past_i64_never_wrap_round() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut sim = simulation();
    let writer = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    write_ticks(&writer, &mut sim, 5);
    let run = writer.finish(RunStatus::Finished, None).unwrap().run_id;
    let history = History::open(&path, 1).unwrap();
    let ticks = |from, to, limit| history.ticks(run, from, to, limit).unwrap().len();
    assert_eq!(ticks(u64::MAX, u64::MAX, 3), 0);
    assert_eq!(ticks(i64::MAX as u64 + 1, u64::MAX, 3), 0);
    assert_eq!(ticks(1, u64::MAX, usize::MAX), 4);
    assert_eq!(history.last_tick(run, u64::MAX).unwrap(), Some(4));
    assert_eq!(history.audit(Some(run), usize::MAX).unwrap().len(), 1);
}

#[test]
fn a_run_left_running_is_marked_interrupted_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut sim = simulation();
    let writer = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    write_ticks(&writer, &mut sim, 20);
    writer.flush().unwrap();
    std::mem::forget(writer); // as if the process died: the run stays 'running'
    let second = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    let history = History::open(&path, 1).unwrap();
    let runs = history.runs().unwrap();
    assert_eq!(runs[1].status, "interrupted");
    assert_eq!(runs[1].last_tick, Some(19));
    assert_eq!(runs[0].status, "running");
    drop(history);
    second.finish(RunStatus::Finished, None).unwrap();
}

#[test]
fn records_are_committed_within_the_interval_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut sim = simulation();
    let writer = Writer::start(&path, &run_info(), WriterOptions::default()).unwrap();
    let history = History::open(&path, 1).unwrap();
    write_ticks(&writer, &mut sim, 3);
    let start = Instant::now();
    while history.ticks(writer.run_id(), 0, 10, 10).unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(2), "not committed within the interval");
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("visible to readers after {:?}", start.elapsed());
    drop(history);
    writer.finish(RunStatus::Finished, None).unwrap();
}

#[test]
fn eight_readers_and_the_writer_never_meet_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut sim = simulation();
    // Small batches: many commits, many chances to collide.
    let options = WriterOptions { batch: 16, ..WriterOptions::default() };
    let writer = Writer::start(&path, &run_info(), options).unwrap();
    let run = writer.run_id();
    let history = History::open(&path, 8).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (queries, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let readers: Vec<_> = (0..8)
        .map(|i| {
            let (history, stop, queries, errors) = (history.clone(), stop.clone(), queries.clone(), errors.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let result = match i % 3 {
                        0 => history.ticks(run, 0, u64::MAX, 200).map(|_| ()),
                        1 => history.runs().map(|_| ()),
                        _ => history.audit(Some(run), 50).map(|_| ()),
                    };
                    match result {
                        Ok(()) => queries.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("reader {i}: {e}");
                            errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    write_ticks(&writer, &mut sim, 5_000);
    writer.flush().unwrap();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let n = history.ticks(run, 0, u64::MAX, usize::MAX).unwrap().len();
    drop(history);
    let report = writer.finish(RunStatus::Finished, None).unwrap();
    println!(
        "{} reader queries during {} commits, {} errors",
        queries.load(Ordering::Relaxed),
        report.commits,
        errors.load(Ordering::Relaxed)
    );
    assert_eq!(errors.load(Ordering::Relaxed), 0, "no reader was refused");
    assert!(queries.load(Ordering::Relaxed) > 100);
    assert_eq!(n, 5_000);
}

fn assert_refused_untouched(path: &Path, bytes: &[u8], needle: &str) {
    std::fs::write(path, bytes).unwrap();
    let err = Writer::start(path, &run_info(), WriterOptions::default()).unwrap_err();
    assert!(err.to_string().contains(needle), "{err}");
    assert_eq!(std::fs::read(path).unwrap(), bytes, "the file was modified");
}

#[test]
fn foreign_and_corrupted_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    assert_refused_untouched(&path, b"these are not the bytes of a database, just a text file......", "not a database");

    let other = dir.path().join("other.db");
    let conn = Connection::open(&other).unwrap();
    conn.execute_batch(
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices VALUES (1, 9.5);",
    )
    .unwrap();
    drop(conn);
    let bytes = std::fs::read(&other).unwrap();
    assert_refused_untouched(&path, &bytes, "not a Watchtower database");
    assert!(matches!(Writer::start(&path, &run_info(), WriterOptions::default()), Err(StoreError::Foreign { .. })));
}

#[test]
fn the_probe_tells_ours_from_foreign_new_and_other_versions() {
    use watchtower_store::{ProbeError, probe};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    Writer::start(&path, &run_info(), WriterOptions::default()).unwrap().finish(RunStatus::Finished, None).unwrap();
    probe(&path).unwrap();

    let other = dir.path().join("other.db");
    // In WAL mode, as a reader finds ours (it cannot switch a file to WAL).
    let wal = |path: &Path, sql: &str| Connection::open(path).unwrap().execute_batch(sql).unwrap();
    wal(&other, "PRAGMA journal_mode=WAL; CREATE TABLE invoices (id INTEGER PRIMARY KEY);");
    let err = probe(&other).unwrap_err();
    assert!(matches!(err, ProbeError::Foreign { .. }), "{err}");
    assert!(err.to_string().ends_with("is not a Watchtower database"), "{err}");

    let empty = dir.path().join("empty.db");
    wal(&empty, "PRAGMA journal_mode=WAL;");
    assert!(matches!(probe(&empty), Err(ProbeError::BeingCreated { .. })));

    let newer = dir.path().join("newer.db");
    std::fs::copy(&path, &newer).unwrap();
    wal(&newer, "PRAGMA user_version = 9999;");
    let err = probe(&newer).unwrap_err();
    assert!(matches!(err, ProbeError::Version { found: 9999, .. }), "{err}");
    assert!(err.to_string().contains("a newer Watchtower (schema version 9999"), "{err}");

    let text = dir.path().join("text.db");
    std::fs::write(&text, b"these are not the bytes of a database, just a text file......").unwrap();
    assert!(matches!(probe(&text), Err(ProbeError::Store(_))));
}

#[test]
fn one_writer_takes_several_runs_at_once_and_other_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let store = watchtower_store::Store::open(&path, WriterOptions::default()).unwrap();
    let (a, b) = (store.start_run(&run_info()).unwrap(), store.start_run(&run_info()).unwrap());
    assert_ne!(a.run_id(), b.run_id());
    let (mut sa, mut sb) = (simulation(), simulation());
    for _ in 0..30 {
        a.send(TickRecord { telemetry: Some(sa.step().unwrap().telemetry), audit: vec![] }).unwrap();
    }
    for _ in 0..20 {
        b.send(TickRecord { telemetry: Some(sb.step().unwrap().telemetry), audit: vec![] }).unwrap();
    }
    let runs: i64 = store.call(|conn| Ok(conn.query_row("SELECT count(*) FROM runs", [], |r| r.get(0))?)).unwrap();
    assert_eq!(runs, 2);
    assert_eq!(a.finish(RunStatus::Finished, None).unwrap().ticks, 30);
    assert_eq!(b.finish(RunStatus::Interrupted, None).unwrap().ticks, 20);
    store.close().unwrap();
    let conn = Connection::open(&path).unwrap();
    let rows: Vec<(String, i64)> = conn
        .prepare("SELECT status, last_tick FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, [("finished".to_string(), 29), ("interrupted".to_string(), 19)]);
}

#[test]
fn a_failed_write_stops_the_writer_but_keeps_what_came_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let store = watchtower_store::Store::open(&path, WriterOptions::default()).unwrap();
    let run = store.start_run(&run_info()).unwrap();
    let mut sim = simulation();
    for _ in 0..10 {
        run.send(TickRecord { telemetry: Some(sim.step().unwrap().telemetry), audit: vec![] }).unwrap();
    }
    store.submit(|conn| Ok(conn.execute_batch("INSERT INTO no_such_table VALUES (1)")?)).unwrap();
    let err = store.close().unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let conn = Connection::open(&path).unwrap();
    let kept: i64 = conn.query_row("SELECT count(*) FROM ticks", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, 10, "the ticks handed over before the failed write were kept");
}

/// A viewer in another process (`watchtower view`) follows an experiment through its
/// `done` count: each finished run's summary must be committed within the writer's
/// interval, not held in a transaction until the experiment ends.
#[test]
fn an_experiments_progress_is_committed_within_the_interval_without_a_flush() {
    use watchtower_store::experiments::{create_experiment, insert_summary};
    use watchtower_store::{NewExperiment, Store, StoredSummary};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let store = Store::open(&path, WriterOptions::default()).unwrap();
    let e = NewExperiment {
        name: "progress".into(),
        source: "progress.yaml".into(),
        spec: "name: progress\n".into(),
        overrides: vec![],
        layout: serde_json::json!({}),
        runs: 3,
        points: 1,
    };
    let id = store.call(move |c| create_experiment(c, &e)).unwrap();
    let history = History::open(&path, 1).unwrap();
    for run in 0..3u64 {
        let s = StoredSummary {
            experiment_id: id,
            run,
            point: 0,
            seed: run + 1,
            phase: None,
            error: None,
            row: serde_json::json!({"run": run}),
            format: 1,
            summary: vec![],
        };
        store.submit(move |c| insert_summary(c, &s)).unwrap();
        let start = Instant::now();
        while history.experiment(id).unwrap().map_or(0, |d| d.row.done) < run + 1 {
            assert!(start.elapsed() < Duration::from_secs(2), "run {run}'s summary not committed within the interval");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    drop(history);
    store.close().unwrap();
}
