//! A live run's disk use has a bound the operator chooses, through the real binary, real
//! signals and real SQLite files: `serve --keep-ticks` thins older rows while it runs,
//! keeps every command and the checkpoints a resume needs, says what it thinned in
//! `runs` and `/api/runs`, resumes after `kill -9` with the bytes of a run never
//! thinned, and still replays from genesis. Under `--min-free-disk` of free space (here
//! a threshold above what any disk has), the run is paused, audited, and said so in the
//! log and on `/readyz`, and nothing is lost.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, get, mount_tmpfs, output, unmount};

const SMALL: [&str; 8] = ["--households", "300", "--firms", "30", "--tick-rate", "0", "--embedding-sample", "0"];

fn ok(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `(last stored tick, thinned_before)` of run 1.
fn progress(db: &Path) -> (i64, i64) {
    let Ok(conn) = rusqlite::Connection::open(db) else { return (-1, 0) };
    conn.query_row(
        "SELECT coalesce((SELECT max(tick) FROM ticks WHERE run_id = 1), -1), coalesce(thinned_before, 0)
         FROM runs WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap_or((-1, 0))
}

/// Waits (at most `limit`) until `done` holds for run 1's progress.
fn wait_until(db: &Path, limit: Duration, what: &str, done: impl Fn((i64, i64)) -> bool) -> (i64, i64) {
    let deadline = Instant::now() + limit;
    loop {
        let now = progress(db);
        if done(now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what} not reached within {limit:?}: {now:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A CSV export's rows by tick.
fn rows(csv: &str) -> HashMap<u64, String> {
    csv.lines().skip(1).map(|l| (l.split(',').next().unwrap().parse().unwrap(), l.to_string())).collect()
}

#[test]
fn a_thinned_run_resumes_after_kill_9_with_the_bytes_of_a_run_never_thinned() {
    let mut args = SMALL.to_vec();
    args.extend(["--checkpoint-every", "500", "--keep-ticks", "1000"]);
    let mut server = Server::start(&args);
    server.wait_ready();
    let db = server.database();
    // Past the window and its first checkpoint, thinned while it runs.
    wait_until(&db, Duration::from_secs(60), "thinning", |(last, before)| last >= 3_000 && before >= 1_500);
    server.running.signal("KILL");
    server.running.wait(Duration::from_secs(5));
    let (killed_at, _) = progress(&db);
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());

    let mut resumed =
        Server::start_in(dir, &["--resume", "--keep-ticks", "1000", "--embedding-sample", "0", "--tick-rate", "0"]);
    resumed.wait_ready();
    let target = killed_at + 1_500;
    wait_until(&db, Duration::from_secs(60), "ticks after the resume", |(last, _)| last >= target);
    // The API the dashboard reads says it too.
    let (status, body) = get(&resumed.url("/api/runs"));
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, &listed["runs"][0]["thinned"]["every"]), (200, &serde_json::json!(100)), "{listed}");
    assert!(resumed.stop().success());
    let dir = resumed.dir.path();

    // What the listing says, in words and in the API's JSON.
    let runs = ok(&output(&["runs", "--data-dir", "data"], dir));
    assert!(runs.contains("kept 1 in 100 (--keep-ticks)"), "{runs}");
    assert!(runs.contains(&format!("resumed at tick {}", killed_at + 1)), "{runs}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&output(&["runs", "--data-dir", "data", "--json"], dir))).unwrap();
    let thinned = &json[0]["thinned"];
    assert_eq!(thinned["every"], 100, "{json}");
    let before = thinned["before"].as_u64().unwrap();
    let last = json[0]["last_tick"].as_u64().unwrap();
    assert!(before > 0 && before + 1_000 <= last + 1, "window start {before}, last {last}");

    // The kept rows: 1 in 100 before the window's checkpoint, every one from it on.
    let thinned_csv = ok(&output(&["export", "--data-dir", "data"], dir));
    let kept = rows(&thinned_csv);
    let mut ticks: Vec<u64> = kept.keys().copied().collect();
    ticks.sort_unstable();
    let expected: Vec<u64> = (0..before).step_by(100).chain(before..=last).collect();
    assert_eq!(ticks, expected, "older rows thinned to 1 in 100, the window whole");
    // Every command kept, and the checkpoint the window starts from.
    let conn = rusqlite::Connection::open(dir.join("data/watchtower.db")).unwrap();
    let first_checkpoint: i64 =
        conn.query_row("SELECT min(tick) FROM checkpoints WHERE run_id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(first_checkpoint as u64, before, "older checkpoints deleted, the window's kept");
    drop(conn);

    // The same economy never thinned (nor killed): the same bytes at every kept tick.
    let ticks_arg = (last + 1).to_string();
    let size = ["--households", "300", "--firms", "30"];
    let mut run = vec!["run", "--ticks", &ticks_arg, "--no-store", "--out", "ref.csv"];
    run.extend(size);
    ok(&output(&run, dir));
    let reference_csv = std::fs::read_to_string(dir.join("ref.csv")).unwrap();
    assert_eq!(thinned_csv.lines().next(), reference_csv.lines().next(), "the same columns");
    let reference = rows(&reference_csv);
    for tick in &ticks {
        assert_eq!(kept[tick], reference[tick], "tick {tick} differs from the run never thinned");
    }

    // Replayed from genesis with every command: the kept rows are the ones it makes.
    let replay = ok(&output(&["replay", "--data-dir", "data"], dir));
    assert!(replay.contains("replays exactly") && replay.contains("kept 1 in 100"), "{replay}");
}

#[test]
fn under_the_free_disk_threshold_the_run_is_paused_said_and_nothing_is_lost() {
    let mut args = SMALL.to_vec();
    args.extend(["--min-free-disk", "1000000TiB"]);
    let mut server = Server::start(&args);
    server.wait_ready();
    let db = server.database();
    // The log says why, once.
    let line = server.running.wait_for(Duration::from_secs(10), |l| l.contains("disk: pausing the run"));
    assert!(line.contains("under --min-free-disk 1000000 TiB within 2 s: the run is paused"), "{line}");
    // /readyz keeps its contract (200, ready) and says the disk is why the run is paused.
    let deadline = Instant::now() + Duration::from_secs(10);
    let readyz = loop {
        let (status, body) = get(&server.url("/readyz"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if json["disk"]["state"] == "paused" {
            assert_eq!((status, &json["ready"]), (200, &serde_json::json!(true)), "{json}");
            break json;
        }
        assert!(Instant::now() < deadline, "/readyz never said the disk is low: {json}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(readyz["disk"]["free_bytes"].as_u64().unwrap() < readyz["disk"]["pause_below"].as_u64().unwrap());
    assert!(readyz["disk"]["message"].as_str().unwrap().contains("the run is paused"), "{readyz}");
    // An audited pause, as an operator's, with the reason in its source.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (source, tick) = loop {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let found = conn.query_row(
            "SELECT source, applied_tick FROM commands WHERE key = 'sim.paused' AND success = 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        );
        if let Ok(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no audited pause");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(source.starts_with("disk-guard: ") && source.contains("under --min-free-disk"), "{source}");
    // Paused: no tick runs after it (the tick in flight settles, then nothing).
    let (paused_at, _) = progress(&db);
    assert!(paused_at < tick + 2, "ticks ran on after the pause at {tick}: {paused_at}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(progress(&db).0, paused_at, "paused means paused");
    // Stopped cleanly: every tick kept, contiguous, the database sound.
    assert!(server.stop().success());
    let ticks = common::ticks(&db, 1);
    assert_eq!(ticks, (0..=paused_at).collect::<Vec<_>>());
    assert_eq!(common::integrity(&db), "ok");
    assert_eq!(common::run_status(&db, 1).0, "finished");
}

#[test]
fn a_filling_disk_pauses_the_run_before_it_is_full() {
    // A real small file system: the run fills it as fast as it goes.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    if !mount_tmpfs(&data, "size=16m") {
        return;
    }
    let mut args = SMALL.to_vec();
    args.extend(["--min-free-disk", "5MiB"]);
    let mut server = Server::start_in(dir, &args);
    server.wait_ready();
    let db = server.database();
    let deadline = Instant::now() + Duration::from_secs(60);
    let disk = loop {
        let (_, body) = get(&server.url("/readyz"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if json["disk"]["state"] == "paused" {
            break json["disk"].clone();
        }
        assert!(Instant::now() < deadline, "the run was not paused as the disk filled: {json}");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(1_500));
    let (paused_at, _) = progress(&db);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(progress(&db).0, paused_at, "paused, before the disk is full");
    assert_eq!(get(&server.url("/healthz")).0, 200, "the engine did not fail: {disk}");
    assert!(server.stop().success(), "a clean stop on the nearly full disk");
    let ticks = common::ticks(&db, 1);
    assert_eq!(ticks, (0..=paused_at).collect::<Vec<_>>(), "every tick kept");
    assert_eq!(common::integrity(&db), "ok");
    assert_eq!(common::run_status(&db, 1).0, "finished");
    unmount(&data);
}

#[test]
fn retention_and_guard_flags_that_cannot_work_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["run", "--ticks", "10", "--keep-ticks", "5", "--no-checkpoints"][..], "--keep-ticks needs checkpoints"),
        (&["run", "--ticks", "10", "--keep-ticks", "0"][..], "--keep-ticks must be 1 or more"),
        (&["serve", "--no-store", "--keep-ticks", "5"][..], "cannot be --no-store"),
        (&["serve", "--min-free-disk", "1parsec"][..], "`parsec` is not a unit of size"),
    ] {
        let out = output(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

/// Bytes free for an unprivileged process on `dir`'s file system, as `df` says.
fn free_bytes(dir: &Path) -> u64 {
    let out = std::process::Command::new("df").args(["--output=avail", "-B1"]).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn under_twice_the_threshold_the_log_and_readyz_warn_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A threshold at three quarters of what is free: under twice it, over it.
    let min_free = (free_bytes(dir.path()) / 4 * 3).to_string();
    let mut args = SMALL.to_vec();
    args.extend(["--min-free-disk", &min_free]);
    let mut server = Server::start_in(dir, &args);
    server.wait_ready();
    let line = server.running.wait_for(Duration::from_secs(10), |l| l.contains("disk: "));
    assert!(line.contains("WARN") && line.contains("the run will be paused under --min-free-disk"), "{line}");
    let (status, body) = get(&server.url("/readyz"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, &json["disk"]["state"]), (200, &serde_json::json!("low")), "{json}");
    // A warning only: the run goes on, and nothing was paused.
    let db = server.database();
    let (before, _) = progress(&db);
    wait_until(&db, Duration::from_secs(10), "ticks after the warning", |(last, _)| last > before + 100);
    assert!(server.stop().success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let pauses: i64 =
        conn.query_row("SELECT count(*) FROM commands WHERE key = 'sim.paused'", [], |r| r.get(0)).unwrap();
    assert_eq!(pauses, 0);
}
