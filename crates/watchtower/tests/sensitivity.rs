//! `watchtower sensitivity` through the real binary, on a small Sobol design: the design's
//! table (its `point` column in SALib's order) is the same whatever `--jobs` or shards;
//! the indices come out as a table, JSON and a picture; wrong uses are refused in words.

mod common;

use std::path::Path;
use std::process::Output;

use common::output;

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
