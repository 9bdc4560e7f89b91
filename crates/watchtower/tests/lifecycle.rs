//! The process lifecycle, with real processes, real signals and a real SQLite file:
//! one instance per data directory, graceful shutdown that loses nothing, crash safety.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Running, integrity, lock_is_free, output, run_status, ticks};

/// A small economy so debug builds tick quickly.
const SMALL: &[&str] = &["--households", "2000", "--firms", "200"];

fn reported_tick(line: &str) -> Option<i64> {
    line.strip_prefix("tick ")?.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_second_instance_is_refused_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Another process holds the lock (here: this test, posing as PID 4242).
    let mut held = std::fs::File::create(data.join("simulation.lock")).unwrap();
    held.try_lock().unwrap();
    writeln!(held, "4242").unwrap();

    for command in ["run", "serve"] {
        let started = Instant::now();
        let mut args = vec![command, "--data-dir", "data"];
        if command == "run" {
            args.extend(["--ticks", "10"]);
        } else {
            args.extend(["--bind", "127.0.0.1:0"]);
        }
        let out = output(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(1), "{command} took {:?}", started.elapsed());
        assert!(stderr.contains("simulation.lock") && stderr.contains("PID 4242"), "{command}: {stderr}");
        assert!(!data.join("watchtower.db").exists(), "{command} opened a database it does not own");
    }
    drop(held);
    let out =
        output(&["run", "--ticks", "5", "--data-dir", "data", "--households", "100", "--firms", "10"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sigterm_finishes_the_tick_flushes_everything_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/watchtower.db");
    let mut args = vec!["run", "--ticks", "100000000"];
    args.extend(SMALL);
    let mut run = Running::spawn(&args, dir.path());
    let mut last_reported = -1;
    // Two progress lines: the run is well under way.
    for _ in 0..2 {
        let line = run.wait_for(Duration::from_secs(30), |l| reported_tick(l).is_some());
        last_reported = reported_tick(&line).unwrap();
    }
    run.signal("TERM");
    let signalled = Instant::now();
    let status = run.wait(Duration::from_secs(10));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");

    let stored = ticks(&db, 1);
    assert!(*stored.last().unwrap() >= last_reported, "tick {last_reported} was reported but not stored");
    assert_eq!(stored, (0..stored.len() as i64).collect::<Vec<_>>(), "ticks are contiguous from 0");
    let (status, last_tick) = run_status(&db, 1);
    assert_eq!(status, "interrupted", "stopped before its {} ticks", 100_000_000);
    assert_eq!(last_tick, stored.last().copied());
    let wal = dir.path().join("data/watchtower.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0, "WAL checkpointed");
    assert!(lock_is_free(&dir.path().join("data")), "lock released");
    println!("SIGTERM after tick {last_reported}: exit 0 in {took:?}, {} ticks stored", stored.len());
}

#[test]
fn kill_nine_leaves_a_sound_database_and_the_next_start_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/watchtower.db");
    let mut args = vec!["run", "--ticks", "100000000"];
    args.extend(SMALL);
    let mut run = Running::spawn(&args, dir.path());
    run.wait_for(Duration::from_secs(30), |l| reported_tick(l).is_some());
    run.signal("KILL");
    run.wait(Duration::from_secs(5));

    assert_eq!(integrity(&db), "ok");
    let stored = ticks(&db, 1);
    assert!(!stored.is_empty());
    assert_eq!(stored, (0..stored.len() as i64).collect::<Vec<_>>(), "no gaps");
    assert_eq!(run_status(&db, 1).0, "running", "nobody has looked yet");

    let out = output(&["run", "--ticks", "10", "--households", "100", "--firms", "10"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(run_status(&db, 1), ("interrupted".to_string(), stored.last().copied()));
    assert_eq!(run_status(&db, 2).0, "finished");
}
