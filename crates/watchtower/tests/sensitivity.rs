//! `watchtower sensitivity` through the real binary, on a small Sobol design: the design's
//! table (its `point` column in SALib's order) is the same whatever `--jobs` or shards;
//! the indices come out as a table, JSON and a picture; wrong uses are refused in words;
//! `GET /api/experiments/{id}/sensitivity` serves the same indices over a real socket,
//! and only the progress while the design is incomplete.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Running, Server, get, output};

/// 8 base samples × (2 + 2) points × 2 seeds of a tiny economy: 64 short runs.
const SPEC: &str = "\
name: tiny-sobol
firms: 10
households: 100
ticks: 60
warmup: 20
seeds: 2
indicators: [unemployment_rate, inflation]
design: {sobol: {samples: 8, seed: 7}}
axes:
  firms.hiring_firing_ratio: {from: 1, to: 3}
  firms.price_adjustment: {from: 0.02, to: 0.2}
";

fn ok(out: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "watchtower failed: {text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "expected a refusal: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_sobol_design_runs_everywhere_and_gives_its_indices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("sobol.yaml"), SPEC).unwrap();
    let said = ok(&output(
        &["experiment", "sobol.yaml", "--data-dir", "a", "--jobs", "2", "--out", "a.csv", "--plot", "a.png"],
        d,
    ));
    assert!(said.contains("64 runs (32 points of a Sobol design × 2 seeds)"), "{said}");
    assert!(said.contains("`watchtower sensitivity ID` gives the Sobol indices"), "{said}");
    assert_eq!(&bytes(&d.join("a.png"))[..4], b"\x89PNG", "a Sobol design's picture is its indices");
    for i in 0..2 {
        let (shard, out) = (format!("{i}/2"), format!("shard-{i}.parquet"));
        ok(&output(&["experiment", "sobol.yaml", "--shard", &shard, "--jobs", "1", "--out", &out], d));
    }
    ok(&output(&["experiment", "merge", "shard-1.parquet", "shard-0.parquet", "--out", "merged.csv"], d));
    assert_eq!(bytes(&d.join("merged.csv")), bytes(&d.join("a.csv")), "merged shards differ from --jobs 2");

    let csv = String::from_utf8(bytes(&d.join("a.csv"))).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 64);
    assert!(
        lines[0].starts_with("run,point,seed,firms.hiring_firing_ratio,firms.price_adjustment,phase,"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("0,0,1,") && lines[2].starts_with("1,0,2,") && lines[64].starts_with("63,31,2,"));
    // Point 1 is A with the first column from B (point 3): SALib's order.
    let cells = |l: &str| l.split(',').map(str::to_string).collect::<Vec<_>>();
    let (a, ab1, b) = (cells(lines[1]), cells(lines[3]), cells(lines[7]));
    assert_eq!((&ab1[3], &ab1[4]), (&b[3], &a[4]), "{a:?} {ab1:?} {b:?}");

    let text = ok(&output(&["sensitivity", "latest", "--data-dir", "a"], d));
    for needle in [
        "unemployment_rate_mean (each point's output is its mean over 2 seeds)",
        "inflation_mean",
        "firms.hiring_firing_ratio",
        "firms.price_adjustment",
        "S1 (first order)",
        "95% bootstrap interval",
    ] {
        assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    }
    let json = ok(&output(
        &["sensitivity", "1", "--data-dir", "a", "--json", "--indicator", "unemployment_rate_p95", "--plot", "s.png"],
        d,
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p = &v["unemployment_rate_p95"]["firms.price_adjustment"];
    for key in ["S1", "S1_conf", "ST", "ST_conf"] {
        assert!(p[key].is_number(), "{key} in {json}");
    }
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(&bytes(&d.join("s.png"))[..4], b"\x89PNG");
    ok(&output(&["sensitivity", "--data-dir", "a", "--out", "indices.txt"], d));
    assert_eq!(bytes(&d.join("indices.txt")), text.as_bytes(), "--out writes what stdout shows");

    let e = refused(&output(&["sensitivity", "--data-dir", "a", "--indicator", "unemployment"], d));
    assert!(
        e.contains("--indicator unemployment: not a column of reals") && e.contains("unemployment_rate_mean"),
        "{e}"
    );
    std::fs::write(
        d.join("grid.yaml"),
        "name: g\nfirms: 10\nhouseholds: 100\nticks: 20\naxes:\n  firms.hiring_firing_ratio: [1, 2]\n",
    )
    .unwrap();
    ok(&output(&["experiment", "grid.yaml", "--data-dir", "a", "--jobs", "1"], d));
    let e = refused(&output(&["sensitivity", "--data-dir", "a"], d));
    assert!(e.contains("not a Sobol design"), "{e}");
    let e = refused(&output(&["sensitivity", "9", "--data-dir", "a"], d));
    assert!(e.contains("no experiment 9"), "{e}");
}

#[test]
fn a_morris_design_screens_the_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = "name: tiny-morris\nfirms: 10\nhouseholds: 100\nticks: 60\nwarmup: 20\nindicators: [unemployment_rate]\ndesign: {morris: {trajectories: 6, levels: 4, seed: 3}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 3}\n  firms.price_adjustment: {from: 0.02, to: 0.2}\n";
    std::fs::write(d.join("morris.yaml"), spec).unwrap();
    let said = ok(&output(&["experiment", "morris.yaml", "--data-dir", "a", "--jobs", "2", "--out", "m.csv"], d));
    assert!(said.contains("18 runs (18 points of a Morris design × 1 seeds)"), "{said}");
    let csv = String::from_utf8(bytes(&d.join("m.csv"))).unwrap();
    assert!(csv.starts_with("run,point,seed,firms.hiring_firing_ratio,firms.price_adjustment,phase,"));
    let json = ok(&output(&["sensitivity", "--data-dir", "a", "--json", "--plot", "m.png"], d));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["mu", "mu_star", "sigma", "mu_star_conf"] {
        assert!(v["unemployment_rate_mean"]["firms.price_adjustment"][key].is_number(), "{key} in {json}");
    }
    assert_eq!(&bytes(&d.join("m.png"))[..4], b"\x89PNG");
    let text = ok(&output(&["sensitivity", "--data-dir", "a"], d));
    assert!(text.contains("mu* (Morris)") && text.contains("firms.hiring_firing_ratio"), "{text}");
}

/// A Sobol design slow enough to interrupt part-way: 8 × (2 + 2) points, 1,000 ticks each.
const SLOW: &str = "\
name: slow-sobol
firms: 20
households: 200
ticks: 1000
warmup: 100
indicators: [unemployment_rate]
design: {sobol: {samples: 8, seed: 7}}
axes:
  firms.hiring_firing_ratio: {from: 1, to: 3}
  firms.price_adjustment: {from: 0.02, to: 0.2}
";

/// Runs of experiment 1 stored so far, read from the database as another process.
fn stored(db: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT count(*) FROM run_summaries WHERE experiment_id = 1", [], |r| r.get(0)).unwrap_or(0)
}

fn json(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = get(&server.url(path));
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn the_api_serves_the_indices_and_the_progress_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("slow.yaml"), SLOW).unwrap();
    std::fs::write(d.join("sobol.yaml"), SPEC).unwrap();
    std::fs::write(
        d.join("grid.yaml"),
        "name: g\nfirms: 10\nhouseholds: 100\nticks: 30\naxes:\n  firms.hiring_firing_ratio: [1, 2]\n",
    )
    .unwrap();
    let morris = "name: m\nfirms: 10\nhouseholds: 100\nticks: 60\nwarmup: 20\nindicators: [unemployment_rate]\ndesign: {morris: {trajectories: 4, levels: 4, seed: 3}}\naxes:\n  firms.hiring_firing_ratio: {from: 1, to: 3}\n  firms.price_adjustment: {from: 0.02, to: 0.2}\n";
    std::fs::write(d.join("morris.yaml"), morris).unwrap();

    // Experiment 1, interrupted part-way: only its progress, no indices.
    let db = d.join("data/watchtower.db");
    let mut running = Running::spawn(&["experiment", "slow.yaml", "--data-dir", "data", "--jobs", "1"], d);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&db) < 2 {
        assert!(Instant::now() < deadline, "no run finished within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal("INT");
    assert!(running.wait(Duration::from_secs(30)).success());
    let done = stored(&db);
    assert!(done < 32, "the design finished before the signal; make it slower");
    // A live server on the same directory (its economy small: only its API is read).
    let serve = || {
        let args = ["--households", "100", "--firms", "10", "--embedding-sample", "0"];
        let data = d.join("data");
        let mut all = vec!["--data-dir", data.to_str().unwrap()];
        all.extend(args);
        let server = Server::start_in(tempfile::tempdir_in(d).unwrap(), &all);
        server.wait_ready();
        server
    };
    {
        let server = serve();
        let (status, partial) = json(&server, "/api/experiments/1/sensitivity");
        assert_eq!(status, 200, "{partial}");
        assert_eq!(partial["complete"], false, "{partial}");
        assert_eq!(partial["design"], "sobol");
        assert_eq!(partial["progress"]["done"], done, "{partial}");
        assert_eq!(partial["progress"]["runs"], 32);
        assert_eq!(partial["progress"]["status"], "interrupted");
        assert!(partial["indices"].is_null() && partial["order"].is_null(), "{partial}");
        assert!(
            partial["waiting"].as_str().unwrap().contains("the indices come when the design is complete"),
            "{partial}"
        );
        assert_eq!(partial["columns"], serde_json::json!(["unemployment_rate_mean"]));
    }
    ok(&output(&["experiment", "--resume", "1", "--data-dir", "data", "--jobs", "2"], d));

    // Experiments 2 (Sobol, two indicators, two seeds), 3 (a grid) and 4 (Morris).
    for spec in ["sobol.yaml", "grid.yaml", "morris.yaml"] {
        ok(&output(&["experiment", spec, "--data-dir", "data", "--jobs", "2"], d));
    }
    let cli = |id: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["sensitivity", id, "--data-dir", "data", "--json"];
        args.extend(extra);
        serde_json::from_str(&ok(&output(&args, d))).unwrap()
    };
    let (cli_1, cli_2, cli_4) = (cli("1", &[]), cli("2", &[]), cli("4", &[]));
    let cli_2_inflation = cli("2", &["--indicator", "inflation_mean"]);

    let server = serve();
    let (status, one) = json(&server, "/api/experiments/1/sensitivity");
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["complete"], true);
    assert_eq!(one["indices"], cli_1, "the resumed design's indices are the CLI's");
    assert!(one["waiting"].is_null());

    let (status, two) = json(&server, "/api/experiments/2/sensitivity");
    assert_eq!(status, 200, "{two}");
    assert_eq!(two["indices"], cli_2, "the served indices are `watchtower sensitivity --json`'s");
    assert_eq!(two["columns"], serde_json::json!(["unemployment_rate_mean", "inflation_mean"]));
    assert_eq!((two["progress"]["done"].as_u64(), two["progress"]["runs"].as_u64()), (Some(64), Some(64)));
    assert_eq!(two["seeds"], 2);
    for column in ["unemployment_rate_mean", "inflation_mean"] {
        let order: Vec<&str> = two["order"][column].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(order.len(), 2);
        let st = |p: &str| two["indices"][column][p]["ST"].as_f64().unwrap();
        assert!(st(order[0]) >= st(order[1]), "{column}: sorted by total order: {order:?}");
        assert!(two["notes"][column].is_array());
        let sum = two["indices"][column]["firms.hiring_firing_ratio"]["S1"].as_f64().unwrap()
            + two["indices"][column]["firms.price_adjustment"]["S1"].as_f64().unwrap();
        assert!((two["sum_s1"][column].as_f64().unwrap() - sum).abs() < 1e-12);
    }
    let (status, inflation) = json(&server, "/api/experiments/2/sensitivity?indicator=inflation_mean");
    assert_eq!(status, 200, "{inflation}");
    assert_eq!(inflation["indices"], cli_2_inflation);
    assert_eq!(inflation["columns"], serde_json::json!(["inflation_mean"]));

    let (status, grid) = json(&server, "/api/experiments/3/sensitivity");
    assert_eq!(status, 400, "{grid}");
    assert!(grid["error"].as_str().unwrap().contains("is a grid, not a Sobol or Morris design"), "{grid}");
    let (status, unknown) = json(&server, "/api/experiments/2/sensitivity?indicator=nope");
    assert_eq!(status, 400, "{unknown}");
    assert!(unknown["error"].as_str().unwrap().contains("indicator nope"), "{unknown}");
    assert_eq!(json(&server, "/api/experiments/99/sensitivity").0, 404);

    let (status, four) = json(&server, "/api/experiments/4/sensitivity");
    assert_eq!(status, 200, "{four}");
    assert_eq!(four["design"], "morris");
    assert_eq!(four["indices"], cli_4, "Morris's measures are the CLI's");
    assert!(four["indices"]["unemployment_rate_mean"]["firms.price_adjustment"]["mu_star"].is_number());
}
