//! Checkpoints and resume through the real binary, real signals and real SQLite files:
//! a `run` killed with `kill -9` at random moments and resumed each time ends up with
//! exactly the ticks of a run never interrupted; a killed `serve` resumes as the same
//! run and replays exactly; a checkpoint of another format is refused; `run --fork-of`
//! writes the paired table of a what-if. The long version runs with `-- --ignored`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Running, Server, get, output, run_status};

/// A reproducible stream of numbers (xorshift).
struct Draws(u64);

impl Draws {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

fn last_stored(db: &Path) -> i64 {
    if !db.exists() {
        return -1;
    }
    let Ok(conn) = rusqlite::Connection::open(db) else { return -1 };
    conn.query_row("SELECT COALESCE(MAX(tick), -1) FROM ticks WHERE run_id = 1", [], |r| r.get(0)).unwrap_or(-1)
}

fn ok(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `run --ticks TICKS` killed `kills` times at random ticks, resumed after each kill;
/// its export must equal an uninterrupted run's, byte for byte.
fn kill_and_resume(kills: usize, ticks: u64, size: &[&str], seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/watchtower.db");
    let ticks_arg = ticks.to_string();
    let mut first = vec!["run", "--ticks", &ticks_arg, "--checkpoint-every", "1000"];
    first.extend(size);
    let resume = ["run", "--resume", "--checkpoint-every", "1000"];
    let mut draws = Draws(seed);
    let started = Instant::now();
    let mut killed_at = Vec::new();
    for kill in 0..kills {
        let args: &[&str] = if kill == 0 { &first } else { &resume };
        let mut running = Running::spawn(args, dir.path());
        // A random moment: once the run has stored past a random tick of the kill's own
        // share of the run's first half. Every kill then leaves at least half the run to
        // go, so it lands on a running process however fast the engine gets.
        let share = (ticks / 2 / kills as u64).max(1);
        let from = (last_stored(&db).max(0) as u64 + 1).max(kill as u64 * share);
        let at = from + draws.next(0, share);
        let deadline = Instant::now() + Duration::from_secs(120);
        while last_stored(&db) < at as i64 && last_stored(&db) < ticks as i64 - 1 {
            assert!(Instant::now() < deadline, "kill {kill}: tick {at} not reached within 120 s");
            if let Some(status) = running.child.try_wait().unwrap() {
                panic!("kill {kill}: the run exited before it was killed: {status:?}");
            }
            std::thread::sleep(Duration::from_millis(draws.next(1, 15)));
        }
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!("kill {kill}: the run exited before it was killed: {status:?}");
        }
        running.signal("KILL");
        running.wait(Duration::from_secs(10));
        killed_at.push(last_stored(&db));
        assert_eq!(common::integrity(&db), "ok");
        assert_eq!(run_status(&db, 1).0, "running", "killed, nobody has looked yet");
    }
    let stdout = ok(&output(&resume, dir.path()));
    assert!(stdout.contains("finished"), "{stdout}");
    assert_eq!(run_status(&db, 1), ("finished".into(), Some(ticks as i64 - 1)));

    // The same run, never interrupted, in another directory.
    let clean = tempfile::tempdir().unwrap();
    ok(&output(&first, clean.path()));
    ok(&output(&["export", "--out", "all.csv"], dir.path()));
    ok(&output(&["export", "--out", "all.csv"], clean.path()));
    let resumed = std::fs::read(dir.path().join("all.csv")).unwrap();
    let never = std::fs::read(clean.path().join("all.csv")).unwrap();
    assert_eq!(resumed.iter().filter(|&&b| b == b'\n').count() as u64, ticks + 1);
    assert!(resumed == never, "the resumed run's ticks differ from the uninterrupted run's");
    // The runs list says where it resumed.
    let runs = ok(&output(&["runs"], dir.path()));
    assert_eq!(runs.matches("resumed at tick").count(), kills, "{runs}");
    println!(
        "{kills} kill -9s at ticks {killed_at:?}, each resumed: {ticks} ticks identical to an uninterrupted run ({:?})",
        started.elapsed()
    );
}

#[test]
fn five_kill_nines_then_resumes_give_the_uninterrupted_run_bit_for_bit() {
    kill_and_resume(5, 20_000, &["--households", "500", "--firms", "50"], 0xC0FF_EE11);
}

#[test]
#[ignore = "long: cargo test -- --ignored"]
fn twenty_kill_nines_at_ten_thousand_households() {
    kill_and_resume(20, 20_000, &["--households", "10000", "--firms", "1000"], 0xBADC_0DE5);
}

#[test]
fn a_killed_server_resumes_as_the_same_run_and_replays_exactly() {
    let small = ["--households", "500", "--firms", "50", "--tick-rate", "0", "--embedding-sample", "0"];
    let mut args = small.to_vec();
    args.extend(["--checkpoint-every", "500"]);
    let mut server = Server::start(&args);
    server.wait_ready();
    let db = server.database();
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_stored(&db) < 1_700 {
        assert!(Instant::now() < deadline, "1,700 ticks not stored within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.running.signal("KILL");
    server.running.wait(Duration::from_secs(5));
    let stored = last_stored(&db);
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());

    let mut resumed = Server::start_in(dir, &["--resume", "--embedding-sample", "0", "--tick-rate", "0"]);
    resumed.wait_ready();
    let (_, hello) = get(&resumed.url("/api/runs"));
    let runs: serde_json::Value = serde_json::from_str(&hello).unwrap();
    assert_eq!(runs["main"], 1, "the same run id");
    assert_eq!(runs["runs"][0]["resumed_at"], serde_json::json!([stored + 1]), "{runs}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_stored(&db) < stored + 500 {
        assert!(Instant::now() < deadline, "the resumed run does not advance");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(resumed.stop().success());
    let ticks = common::ticks(&db, 1);
    assert_eq!(ticks, (0..ticks.len() as i64).collect::<Vec<_>>(), "contiguous across the resume");
    // Replayed from genesis, every tick, before and after the resume, is what was stored.
    let stdout = ok(&output(&["replay", "--data-dir", "data"], resumed.dir.path()));
    assert!(stdout.contains("replays exactly"), "{stdout}");
    let runs = ok(&output(&["runs", "--data-dir", "data"], resumed.dir.path()));
    assert!(runs.contains(&format!("resumed at tick {}", stored + 1)), "{runs}");
}

#[test]
fn a_checkpoint_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    ok(&output(&["run", "--ticks", "2500", "--households", "300", "--firms", "30"], dir.path()));
    let db = dir.path().join("data/watchtower.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE runs SET status = 'interrupted'", []).unwrap();
    // A newer build's checkpoint, by its format column.
    conn.execute("UPDATE checkpoints SET format = 99 WHERE tick = 2000", []).unwrap();
    conn.execute("DELETE FROM checkpoints WHERE tick > 2000", []).unwrap();
    let out = output(&["run", "--resume"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("checkpoint at tick 2000 is in checkpoint format 99"), "{stderr}");
    assert!(stderr.contains("reads format 1 only"), "{stderr}");
    // Bytes of another format behind a column that says 1: the engine's own check.
    let mut raw = b"WTWRCKPT".to_vec();
    raw.extend_from_slice(&7u32.to_le_bytes());
    raw.extend_from_slice(&[0u8; 64]);
    conn.execute(
        "UPDATE checkpoints SET format = 1, raw_size = ?1, bytes = ?2 WHERE tick = 2000",
        rusqlite::params![raw.len() as i64, zstd::bulk::compress(&raw, 1).unwrap()],
    )
    .unwrap();
    drop(conn);
    let out = output(&["run", "--resume"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("checkpoint format 7 cannot be read by this build"), "{stderr}");
    assert_eq!(run_status(&db, 1).0, "interrupted", "a refused resume changes nothing");
    assert_eq!(common::ticks(&db, 1).len(), 2500);
}

#[test]
fn fork_of_writes_the_paired_table_of_a_what_if() {
    let dir = tempfile::tempdir().unwrap();
    ok(&output(&["run", "--ticks", "3000", "--households", "500", "--firms", "50", "--out", "parent.csv"], dir.path()));
    let fork = |out: &str, set: &[&str]| {
        let mut args = vec!["run", "--fork-of", "1", "--at", "1500", "--ticks", "400", "--out", out];
        args.extend(set);
        output(&args, dir.path())
    };
    let stdout = ok(&fork("taxed.csv", &["--set", "government.income_tax_rate=0.35"]));
    assert!(stdout.contains("paired table written to taxed.csv"), "{stdout}");
    let read = |name: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (taxed, parent) = (read("taxed.csv"), read("parent.csv"));
    assert_eq!(taxed.len(), 401);
    assert_eq!(taxed[0][..4], ["tick", "output_real_baseline", "output_real_branch", "output_real_difference"]);
    let column = |name: &str| taxed[0].iter().position(|c| c == name).unwrap();
    let parent_gdp = parent[0].iter().position(|c| c == "gdp").unwrap();
    for (i, row) in taxed[1..].iter().enumerate() {
        assert_eq!(row[0], (1500 + i).to_string());
        // The baseline is the recorded run, tick for tick.
        assert_eq!(row[column("gdp_baseline")], parent[1501 + i][parent_gdp]);
        // Money in genesis currency units, a float: the difference is branch − baseline.
        let (a, b): (f64, f64) =
            (row[column("gdp_baseline")].parse().unwrap(), row[column("gdp_branch")].parse().unwrap());
        assert_eq!(row[column("gdp_difference")].parse::<f64>().unwrap(), b - a);
    }
    assert!(
        taxed[1..].iter().any(|r| r[column("tax_revenue_difference")].parse::<f64>().unwrap() != 0.0),
        "the change changed nothing"
    );
    // No change: the branch is the baseline, bit for bit.
    ok(&fork("same.csv", &[]));
    let same = read("same.csv");
    for row in &same[1..] {
        for (name, value) in same[0].iter().zip(row) {
            if name.ends_with("_difference") {
                assert!(value == "0" || value == "0.0", "{name} = {value}");
            }
        }
    }
    let out = fork("bad.csv", &["--set", "government.income_tax=0.3"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key `government.income_tax`"));
}

/// Issue 24, item 3: `--fork-of … --seeds S` runs S pairs on common random numbers and
/// gives each indicator's effect with its 95% interval; the interval of 10 pairs holds
/// the effect 80 pairs find, and the numbers are the same bytes on one thread or two.
#[test]
fn fork_of_with_seeds_gives_each_effect_with_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    ok(&output(&["run", "--ticks", "400", "--households", "300", "--firms", "30"], dir.path()));
    let ensemble = |seeds: &str, jobs: &str, out: &str| {
        let args = [
            "run",
            "--fork-of",
            "1",
            "--at",
            "300",
            "--ticks",
            "60",
            "--set",
            "government.income_tax_rate=0.3",
            "--seeds",
            seeds,
            "--jobs",
            jobs,
            "--out",
            out,
        ];
        ok(&output(&args, dir.path()))
    };
    // `(mean, lo, hi)` of the unemployment rate's effect, as printed.
    let unemployment = |stdout: &str| -> (f64, f64, f64) {
        let line = stdout.lines().find(|l| l.trim_start().starts_with("Unemployment rate")).expect(stdout);
        assert!(line.contains("percentage points"), "{line}");
        let numbers: Vec<f64> = line
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',')
            .filter_map(|w| w.parse().ok())
            .collect();
        (numbers[0], numbers[1], numbers[2])
    };
    let small = ensemble("10", "1", "ten.csv");
    assert!(small.contains("10 pairs (common random numbers)"), "{small}");
    let (_, lo, hi) = unemployment(&small);
    let (large, large_lo, large_hi) = unemployment(&ensemble("80", "2", "eighty.csv"));
    assert!(lo <= large && large <= hi, "10 pairs: [{lo}, {hi}] misses the 80 pairs' effect {large}\n{small}");
    assert!(large_hi - large_lo < hi - lo, "80 pairs gave no narrower interval");
    // Threads change no number.
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    ensemble("10", "2", "ten-on-two.csv");
    assert_eq!(read("ten.csv"), read("ten-on-two.csv"));
    let csv = String::from_utf8(read("ten.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 61, "a header and one row per tick");
    assert!(rows[0].starts_with("tick,gdp_effect,gdp_lo,gdp_hi,"), "{}", rows[0]);
    assert!(rows[1].starts_with("300,"), "{}", rows[1]);
    let out = output(&["run", "--fork-of", "1", "--at", "300", "--ticks", "60", "--seeds", "1"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seeds must be at least 2"));
}

/// Issue 21, item 9: a resume never ends a run by accident and never continues from
/// damage.
mod never_by_accident {
    use super::*;

    fn failed(out: &std::process::Output) -> String {
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{stderr}");
        stderr
    }

    /// A run of `ticks` ticks, marked interrupted as a killed one is.
    fn interrupted(ticks: &str, size: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["run", "--ticks", ticks];
        args.extend(size);
        ok(&output(&args, dir.path()));
        let db = dir.path().join("data/watchtower.db");
        rusqlite::Connection::open(&db).unwrap().execute("UPDATE runs SET status = 'interrupted'", []).unwrap();
        (dir, db)
    }

    #[test]
    fn a_tick_target_below_the_current_tick_is_refused() {
        let (dir, db) = interrupted("300", &["--households", "200", "--firms", "20"]);
        let stderr = failed(&output(&["run", "--resume", "1", "--ticks", "100"], dir.path()));
        assert!(stderr.contains("run 1 has reached tick 300: --ticks 100 is below it"), "{stderr}");
        assert_eq!(run_status(&db, 1).0, "interrupted", "a refused resume changes nothing");
        assert_eq!(common::ticks(&db, 1).len(), 300);
        // Its own target (300, reached) ends it properly.
        ok(&output(&["run", "--resume", "1", "--ticks", "300"], dir.path()));
        assert_eq!(run_status(&db, 1).0, "finished");
    }

    #[test]
    fn a_damaged_checkpoint_is_passed_over_for_an_older_one_then_genesis() {
        let (dir, db) = interrupted("2500", &["--households", "300", "--firms", "30", "--checkpoint-every", "500"]);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let newest: i64 =
            conn.query_row("SELECT max(tick) FROM checkpoints WHERE run_id = 1", [], |r| r.get(0)).unwrap();
        let older: i64 = conn
            .query_row("SELECT max(tick) FROM checkpoints WHERE run_id = 1 AND tick < ?1", [newest], |r| r.get(0))
            .unwrap();
        // Damaged on disk: its compressed bytes cut in half.
        conn.execute(
            "UPDATE checkpoints SET bytes = substr(bytes, 1, length(bytes) / 2) WHERE run_id = 1 AND tick = ?1",
            [newest],
        )
        .unwrap();
        drop(conn);
        let out = output(&["run", "--resume", "1"], dir.path());
        ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("the checkpoint at tick {newest} is damaged")), "{stderr}");
        assert!(stderr.contains(&format!("Resuming run 1 at tick 2500 (checkpoint at tick {older};")), "{stderr}");
        assert_eq!(run_status(&db, 1).0, "finished");

        // Every checkpoint damaged (a bad engine payload): from genesis, each named.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE runs SET status = 'interrupted'", []).unwrap();
        let garbage = zstd::bulk::compress(b"not a checkpoint at all", 1).unwrap();
        conn.execute("UPDATE checkpoints SET raw_size = 23, bytes = ?1 WHERE run_id = 1", rusqlite::params![garbage])
            .unwrap();
        drop(conn);
        let out = output(&["run", "--resume", "1"], dir.path());
        ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no checkpoint: re-run from genesis; 2500 stored ticks re-run"), "{stderr}");
        assert!(stderr.contains(&format!("the checkpoint at tick {newest} is damaged")), "{stderr}");
        assert_eq!(common::ticks(&db, 1).len(), 2500);
    }

    #[test]
    fn a_damaged_database_is_refused_before_anything_is_resumed() {
        let (dir, db) = interrupted("3000", &["--households", "300", "--firms", "30"]);
        let before = std::fs::metadata(&db).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.set_len(before / 2).unwrap();
        drop(file);
        let stderr = failed(&output(&["run", "--resume", "1"], dir.path()));
        assert!(stderr.contains("is damaged") && stderr.contains("refusing to resume"), "{stderr}");
        assert_eq!(std::fs::metadata(&db).unwrap().len(), before / 2, "nothing was written");
    }

    #[test]
    fn a_mistyped_data_directory_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for args in [
            &["run", "--resume", "--data-dir", "typo"][..],
            &["run", "--resume", "1", "--ticks", "10", "--data-dir", "typo"],
            &["serve", "--resume", "--bind", "127.0.0.1:0", "--data-dir", "typo"],
            &["experiment", "--resume", "1", "--data-dir", "typo"],
        ] {
            let stderr = failed(&output(args, dir.path()));
            assert!(stderr.contains("nothing to resume: there is no database at typo"), "{args:?}: {stderr}");
            assert!(!dir.path().join("typo").exists(), "{args:?} created the directory");
        }
        // An existing directory without a database: no database is made in it.
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let stderr = failed(&output(&["experiment", "--resume", "1", "--data-dir", "empty"], dir.path()));
        assert!(stderr.contains("nothing to resume"), "{stderr}");
        assert_eq!(std::fs::read_dir(dir.path().join("empty")).unwrap().count(), 0);
    }
}
