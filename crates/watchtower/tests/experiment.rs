//! `watchtower experiment` through real processes: the same table, byte for byte,
//! whatever `--jobs`, however it is sharded, interrupted (SIGINT, kill -9) and resumed;
//! one grid point equals `watchtower run`; bad specs are refused with file, line and
//! key; the API serves what was stored.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Running, Server, get, output};

/// 4 × 3 grid points × 2 seeds of a tiny economy, a few hundred ticks.
const SPEC: &str = "\
name: tiny-grid
model: mark0
preset: mark0-2015
firms: 20
households: 200
ticks: 200
warmup: 100
seeds: 2
set: {bank.policy_rate: 0.0}
axes:
  firms.hiring_firing_ratio: [0.5, 1.5, 2.5, 3]
  firms.bankruptcy_threshold: {from: 0.5, to: 5, steps: 3}
schedule:
  - {tick: 150, set: {firms.price_adjustment: 0.05}}
";

fn ok(out: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "watchtower failed: {text}");
    text
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn jobs_1_and_jobs_2_write_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "grid.yaml", SPEC);
    ok(&output(
        &["experiment", "grid.yaml", "--data-dir", "a", "--jobs", "1", "--out", "one.csv", "--plot", "one.png"],
        d,
    ));
    ok(&output(&["experiment", "grid.yaml", "--data-dir", "b", "--jobs", "2", "--out", "two.csv"], d));
    assert_eq!(bytes(&d.join("one.csv")), bytes(&d.join("two.csv")), "CSV differs between --jobs 1 and --jobs 2");
    for (dir, name) in [("a", "one"), ("b", "two")] {
        for format in ["parquet", "jsonl"] {
            let file = format!("{name}.{format}");
            ok(&output(&["export", "--data-dir", dir, "--experiment", "1", "--out", &file], d));
        }
    }
    assert_eq!(bytes(&d.join("one.parquet")), bytes(&d.join("two.parquet")), "Parquet differs");
    assert_eq!(bytes(&d.join("one.jsonl")), bytes(&d.join("two.jsonl")), "JSON lines differ");

    let csv = String::from_utf8(bytes(&d.join("one.csv"))).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 24);
    assert!(
        lines[0].starts_with(
            "run,seed,firms.hiring_firing_ratio,firms.bankruptcy_threshold,phase,unemployment_rate_mean,unemployment_rate_sd,unemployment_rate_min,unemployment_rate_max,unemployment_rate_p5,unemployment_rate_p50,unemployment_rate_p95,inflation_mean"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("government_debt_p95,error"), "{}", lines[0]);
    assert!(lines[1].starts_with("0,1,0.5,0.5,"), "{}", lines[1]);
    assert!(lines[24].starts_with("23,2,3.0,5.0,"), "{}", lines[24]);
    assert_eq!(&bytes(&d.join("one.png"))[..4], b"\x89PNG");

    let list = ok(&output(&["experiments", "--data-dir", "a"], d));
    assert!(list.contains("tiny-grid") && list.contains("24/24") && list.contains("finished"), "{list}");
}

#[test]
fn three_shards_merge_into_the_one_machine_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "grid.yaml", SPEC);
    let mut shards: Vec<Running> = (0..3)
        .map(|i| {
            let shard = format!("{i}/3");
            let out = format!("shard-{i}.parquet");
            Running::spawn(&["experiment", "grid.yaml", "--shard", &shard, "--jobs", "1", "--out", &out], d)
        })
        .collect();
    ok(&output(&["experiment", "grid.yaml", "--data-dir", "one", "--jobs", "2", "--out", "one.csv"], d));
    ok(&output(&["export", "--data-dir", "one", "--experiment", "latest", "--out", "one.parquet"], d));
    for s in &mut shards {
        assert!(s.wait(Duration::from_secs(60)).success());
    }
    assert!(!d.join("shard-0.parquet.db").exists() && !d.join("data").exists(), "a shard touched a data directory");
    let merged = ok(&output(
        &["experiment", "merge", "shard-2.parquet", "shard-0.parquet", "shard-1.parquet", "--out", "merged.csv"],
        d,
    ));
    assert!(merged.contains("24 runs of 24"), "{merged}");
    assert_eq!(bytes(&d.join("merged.csv")), bytes(&d.join("one.csv")), "merged shards differ from --jobs 2");
    ok(&output(
        &["experiment", "merge", "shard-0.parquet", "shard-1.parquet", "shard-2.parquet", "--out", "merged.parquet"],
        d,
    ));
    assert_eq!(bytes(&d.join("merged.parquet")), bytes(&d.join("one.parquet")), "merged Parquet differs");

    // A shard whose spec was changed (`warmup: 100` → `warmup: 150`, same length) is
    // refused by its digest, named, and nothing is written.
    let mut edited = bytes(&d.join("shard-1.parquet"));
    let at = edited.windows(11).position(|w| w == b"warmup: 100").expect("the spec is in the metadata");
    edited[at + 9] = b'5';
    std::fs::write(d.join("edited.parquet"), edited).unwrap();
    let damaged =
        output(&["experiment", "merge", "edited.parquet", "shard-0.parquet", "shard-2.parquet", "--out", "bad.csv"], d);
    let err = String::from_utf8_lossy(&damaged.stderr);
    assert!(!damaged.status.success(), "a damaged shard merged: {err}");
    assert!(err.contains("edited.parquet") && err.contains("is damaged"), "{err}");
    assert!(!d.join("bad.csv").exists());

    let missing = output(&["experiment", "merge", "shard-0.parquet", "shard-2.parquet", "--out", "part.csv"], d);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("missing shard(s): 1/3 (8 of 24 runs missing)"), "{err}");
    assert!(!d.join("part.csv").exists());
}

/// A grid slow enough to interrupt: 2 × 4 points × 3 seeds of 1,000 households.
const SLOW: &str = "\
name: interrupt-me
preset: mark0-2015
firms: 100
households: 1000
ticks: 500
warmup: 250
seeds: 3
axes:
  firms.hiring_firing_ratio: [1, 2.5]
  firms.bankruptcy_threshold: [0.5, 1.5, 3, 5]
";

/// Runs stored so far for experiment 1, read from the database as another process.
fn done(db: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT count(*) FROM run_summaries WHERE experiment_id = 1", [], |r| r.get(0)).unwrap_or(0)
}

fn interrupt_then_resume(d: &Path, data: &str, signal: &str) -> String {
    let db = d.join(data).join("watchtower.db");
    let mut running = Running::spawn(&["experiment", "slow.yaml", "--data-dir", data, "--jobs", "2"], d);
    let deadline = Instant::now() + Duration::from_secs(60);
    while done(&db) < 3 {
        assert!(Instant::now() < deadline, "no run finished within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(signal);
    let status = running.wait(Duration::from_secs(30));
    let stored = done(&db);
    assert!(stored < 24, "the experiment finished before the signal; make it slower");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (state, counted): (String, i64) = conn
        .query_row("SELECT status, done FROM experiments WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    drop(conn);
    if signal == "INT" {
        assert!(status.success(), "SIGINT should stop cleanly: {status}");
        assert_eq!(state, "interrupted");
    } else {
        assert_eq!(state, "running", "kill -9 leaves it running until the next start");
    }
    assert_eq!(counted, stored);
    let out = format!("{data}.csv");
    let resumed = ok(&output(&["experiment", "--resume", "1", "--data-dir", data, "--jobs", "2", "--out", &out], d));
    assert!(resumed.contains(&format!("{} to run", 24 - stored)), "{resumed}");
    assert!(resumed.contains("experiment 1 finished: 24 of 24 runs stored"), "{resumed}");
    String::from_utf8(bytes(&d.join(out))).unwrap()
}

#[test]
fn resume_after_sigint_or_kill_9_gives_the_uninterrupted_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "slow.yaml", SLOW);
    let after_int = interrupt_then_resume(d, "int", "INT");
    let after_kill = interrupt_then_resume(d, "kill", "KILL");
    ok(&output(&["experiment", "slow.yaml", "--data-dir", "whole", "--jobs", "1", "--out", "whole.csv"], d));
    let whole = String::from_utf8(bytes(&d.join("whole.csv"))).unwrap();
    assert_eq!(after_int, whole, "resumed after SIGINT differs from uninterrupted");
    assert_eq!(after_kill, whole, "resumed after kill -9 differs from uninterrupted");
}

#[test]
fn a_grid_point_is_exactly_watchtower_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "grid.yaml", SPEC);
    let spec = SPEC.replace("seeds: 2", "seeds: [7, 11]");
    write(d, "grid.yaml", &spec);
    // Run 9 is grid point 4 (R = 1.5, Θ = 2.75), seed 11.
    ok(&output(&["experiment", "grid.yaml", "--data-dir", "data", "--jobs", "2", "--keep-ticks", "--out", "t.csv"], d));
    let conn = rusqlite::Connection::open(d.join("data/watchtower.db")).unwrap();
    let (run_id, seed): (i64, i64) = conn
        .query_row("SELECT id, seed FROM runs WHERE experiment_id = 1 AND experiment_run = 9", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let kept: i64 = conn.query_row("SELECT count(*) FROM runs WHERE experiment_id = 1", [], |r| r.get(0)).unwrap();
    drop(conn);
    assert_eq!((seed, kept), (11, 24));
    ok(&output(&["export", "--data-dir", "data", "--run", &run_id.to_string(), "--out", "kept.csv"], d));
    write(d, "schedule.yaml", "schedule:\n  - {tick: 150, set: {firms.price_adjustment: 0.05}}\n");
    ok(&output(
        &[
            "run",
            "--no-store",
            "--ticks",
            "200",
            "--seed",
            "11",
            "--preset",
            "mark0-2015",
            "--firms",
            "20",
            "--households",
            "200",
            "--set",
            "bank.policy_rate=0.0",
            "--set",
            "firms.hiring_firing_ratio=1.5",
            "--set",
            "firms.bankruptcy_threshold=2.75",
            "--config",
            "schedule.yaml",
            "--out",
            "run.csv",
        ],
        d,
    ));
    assert_eq!(
        bytes(&d.join("kept.csv")),
        bytes(&d.join("run.csv")),
        "the grid point's ticks differ from `watchtower run`"
    );

    // And its summary is the window's, from those very ticks.
    let ticks = String::from_utf8(bytes(&d.join("run.csv"))).unwrap();
    let header: Vec<&str> = ticks.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|c| *c == "unemployment_rate").unwrap();
    let u: Vec<f64> = ticks.lines().skip(1 + 100).map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect();
    assert_eq!(u.len(), 100);
    let table = String::from_utf8(bytes(&d.join("t.csv"))).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = table.lines().nth(1 + 9).unwrap().split(',').collect();
    let field = |name: &str| -> f64 { row[header.iter().position(|c| *c == name).unwrap()].parse().unwrap() };
    let mean = u.iter().sum::<f64>() / u.len() as f64;
    assert!((field("unemployment_rate_mean") - mean).abs() < 1e-12);
    assert_eq!(field("unemployment_rate_min"), u.iter().copied().fold(f64::INFINITY, f64::min));
    assert_eq!(field("unemployment_rate_max"), u.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let mut sorted = u.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(field("unemployment_rate_p50"), (sorted[49] + sorted[50]) / 2.0);
}

#[test]
fn too_many_jobs_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "grid.yaml", SPEC);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = (4 * cores + 1).to_string();
    let out = output(&["experiment", "grid.yaml", "--data-dir", "data", "--jobs", &jobs], d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("--jobs {jobs} is too many: at most 4 × the {cores} core")), "{err}");
    assert!(!d.join("data").exists(), "a refused experiment created its data directory");
    let out = output(&["experiment", "grid.yaml", "--shard", "0/2", "--jobs", "2000", "--out", "s.parquet"], d);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("too many"));
    assert!(!d.join("s.parquet").exists());
}

#[test]
fn bad_specs_are_refused_with_file_line_and_key_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("name: x\nticks: 10\nseed: 3\n", "bad.yaml, line 3: unknown key `seed` (did you mean `seeds`?)"),
        (
            "name: x\nticks: 10\naxes:\n  firms.hiring_firing_ratio: [1, 20]\n",
            "bad.yaml, line 4: axis `firms.hiring_firing_ratio`: `firms.hiring_firing_ratio` = 20 is out of range",
        ),
        ("name: x\nticks: 10\naxes:\n  firms.theta: [1]\n", "bad.yaml, line 4: axis `firms.theta` is not a setting"),
        ("name: x\nticks: 10\nwarmup: 10\n", "bad.yaml, line 3: `warmup` = 10 leaves nothing to summarise"),
        (
            "name: x\nticks: 10\nset:\n  bank.policy_rate: 9\n",
            "bad.yaml, line 4: `bank.policy_rate` = 9 is out of range",
        ),
    ];
    for (text, expected) in cases {
        write(d, "bad.yaml", text);
        let out = output(&["experiment", "bad.yaml", "--data-dir", "data"], d);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
        assert!(!d.join("data").exists(), "a refused spec created the data directory");
    }
    write(d, "ok.yaml", "name: x\nticks: 10\n");
    let out = output(&["experiment", "ok.yaml", "--set", "ticks=0"], d);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--set ticks=0, line 1: `ticks` = 0 is out of range"));
}

#[test]
fn the_api_lists_experiments_and_serves_one_with_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "grid.yaml", SPEC);
    ok(&output(&["experiment", "grid.yaml", "--data-dir", "data", "--jobs", "2", "--keep-ticks"], d));
    write(d, "ensemble.yaml", ENSEMBLE);
    ok(&output(&["experiment", "ensemble.yaml", "--data-dir", "data", "--jobs", "2"], d));
    let server = Server::start_in(dir, &["--households", "200", "--firms", "20", "--embedding-sample", "0"]);
    server.wait_ready();
    let (status, body) = get(&server.url("/api/experiments"));
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["experiments"][1]["name"], "tiny-grid");
    assert_eq!(list["experiments"][1]["done"], 24);
    let (status, body) = get(&server.url("/api/experiments/1"));
    assert_eq!(status, 200, "{body}");
    let one: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(one["progress"]["done"], 24);
    assert_eq!(one["experiment"]["spec"], SPEC);
    assert_eq!(one["rows"].as_array().unwrap().len(), 24);
    assert_eq!(one["rows"][5]["run"], 5);
    assert!(one["rows"][5]["unemployment_rate_mean"].is_f64());
    assert_eq!(one["columns"][2], "firms.hiring_firing_ratio");
    // With --keep-ticks every run is a recorded run, named by its index.
    let kept = one["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 24, "{kept:?}");
    assert_eq!(kept[5]["run"], 5);
    let run = kept[5]["run_id"].as_i64().unwrap();
    let (status, body) = get(&server.url(&format!("/api/history?run={run}&limit=1000")));
    assert_eq!(status, 200, "{body}");
    let ticks: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ticks["ticks"].as_array().unwrap().len(), 200);
    let (_, body) = get(&server.url("/api/experiments/1?from=20"));
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["kept"].as_array().unwrap().len(), 4);
    assert_eq!(page["kept"][0]["run"], 20);
    assert_eq!(get(&server.url("/api/experiments/99")).0, 404);

    // The ensemble's fan chart: per tick (200 ticks or fewer make blocks of one), the mean
    // across its three seeds and the 95% interval; the branch from its fork on.
    let (status, body) = get(&server.url("/api/experiments/2/fan?indicator=unemployment_rate"));
    assert_eq!(status, 200, "{body}");
    let fan: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (fan["ticks"].as_u64(), fan["block"].as_u64(), fan["fork_tick"].as_u64()),
        (Some(120), Some(1), Some(60))
    );
    let (baseline, branch) = (&fan["arms"][0], &fan["arms"][1]);
    assert_eq!((baseline["arm"].as_str(), baseline["runs"].as_u64()), (Some("baseline"), Some(3)));
    assert_eq!((branch["arm"].as_str(), branch["runs"].as_u64()), (Some("branch"), Some(3)));
    assert_eq!(baseline["points"].as_array().unwrap().len(), 120);
    assert_eq!(branch["points"].as_array().unwrap().len(), 60);
    assert_eq!(branch["points"][0]["tick"], 60.5);
    for p in baseline["points"].as_array().unwrap().iter().chain(branch["points"].as_array().unwrap()) {
        let (lo, mean, hi) = (p["lo"].as_f64().unwrap(), p["mean"].as_f64().unwrap(), p["hi"].as_f64().unwrap());
        assert!(lo <= mean && mean <= hi && p["n"] == 3, "{p}");
    }
    // Its default indicator is the first; one it does not summarise is refused by name; a
    // grid keeps no traces, so it has no fan (400, saying so); an unknown experiment is 404.
    assert_eq!(serde_json::from_str::<serde_json::Value>(&get(&server.url("/api/experiments/2/fan")).1).unwrap(), fan);
    let (status, body) = get(&server.url("/api/experiments/2/fan?indicator=nope"));
    assert!(status == 400 && body.contains("`indicator` = nope"), "{status} {body}");
    let (status, body) = get(&server.url("/api/experiments/1/fan"));
    assert!(status == 400 && body.contains("is a grid") && body.contains("no fan chart"), "{status} {body}");
    assert_eq!(get(&server.url("/api/experiments/99/fan")).0, 404);

    // The grid's heat-map cells: each the mean of its grid point's two seeds and the 95%
    // interval's half-width, as the runner computes them for the printed summary.
    let rows = one["rows"].as_array().unwrap();
    let (status, body) = get(&server.url("/api/experiments/1/cells?column=unemployment_rate_mean&x=0&y=1"));
    assert_eq!(status, 200, "{body}");
    let heat: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (heat["column"].as_str(), heat["x"].as_u64(), heat["y"].as_u64()),
        (Some("unemployment_rate_mean"), Some(0), Some(1))
    );
    let cells = heat["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 12);
    for cell in cells {
        let (x, y) = (cell["x"].as_u64().unwrap(), cell["y"].as_u64().unwrap());
        let point = x * 3 + y;
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| r["run"].as_u64().unwrap() / 2 == point)
            .map(|r| r["unemployment_rate_mean"].as_f64().unwrap())
            .collect();
        let want = watchtower_experiment::Interval::of(values.iter().copied());
        // serde_json's default parser may read a float one ulp off: near, not equal.
        let near = |got: &serde_json::Value, want: f64| (got.as_f64().unwrap() - want).abs() <= 1e-12 * want.abs();
        assert_eq!(cell["n"], 2, "{cell}");
        assert!(near(&cell["mean"], want.mean), "{cell}: mean {}", want.mean);
        assert!(near(&cell["half"], want.hi - want.mean), "{cell}: half {}", want.hi - want.mean);
        assert_eq!(cell["summaries"]["mean"], cell["mean"], "{cell}");
        assert!(cell["summaries"]["sd"].is_f64() && cell["phase"].is_string(), "{cell}");
    }
    // The axes the other way round; the defaults (the first indicator's mean over the
    // first two axes); questions without an answer, by name.
    let (_, body) = get(&server.url("/api/experiments/1/cells?column=unemployment_rate_mean&x=1&y=0"));
    let swapped: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(swapped["cells"].as_array().unwrap().len(), 12);
    assert_eq!(swapped["cells"][4]["mean"], cells[1]["mean"], "cell (1, 0) of the swapped map is cell (0, 1)");
    let (status, body) = get(&server.url("/api/experiments/1/cells"));
    let default: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, default["x"].as_u64(), default["y"].as_u64()), (200, Some(0), Some(1)), "{body}");
    for (query, says) in
        [("column=nope", "`column` = nope"), ("x=2", "`x` = 2"), ("x=1&y=1", "both axis 1"), ("x=-1", "`x` = -1")]
    {
        let (status, body) = get(&server.url(&format!("/api/experiments/1/cells?{query}")));
        assert!(status == 400 && body.contains(says), "{query}: {status} {body}");
    }
    let (status, body) = get(&server.url("/api/experiments/2/cells"));
    assert!(status == 400 && body.contains("no axes"), "{status} {body}");
    assert_eq!(get(&server.url("/api/experiments/99/cells")).0, 404);
}

/// Three seeds of a tiny economy with a fork at tick 60.
const ENSEMBLE: &str = "\
name: tiny-ensemble
model: mark0
firms: 20
households: 200
ticks: 120
warmup: 20
seeds: 3
fork: {tick: 60, set: {government.income_tax_rate: 0.3}}
";
