//! Money leaves the engine in one continuous unit: a run that redenominates, exported,
//! shows no nominal series jumping at the redenominations, and a what-if whose baseline
//! and branch redenominate at different ticks differs continuously.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::output;
use watchtower_protocol::Indicators;

/// The redenomination scenario: the 2015 full-employment phase, whose prices rise about
/// 1% a tick with no nominal anchor, so the ledger's unit changes every few hundred ticks.
const REDENOMINATES: &[&str] = &[
    "--preset",
    "mark0-2015",
    "--firms",
    "200",
    "--households",
    "2000",
    "--seed",
    "5",
    "--set",
    "firms.bankruptcy_threshold=3",
];

/// A CSV file as columns by name.
fn columns(path: &Path) -> HashMap<String, Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let names: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let mut cols: HashMap<String, Vec<f64>> = names.iter().map(|n| (n.clone(), Vec::new())).collect();
    for line in lines {
        for (name, cell) in names.iter().zip(line.split(',')) {
            cols.get_mut(name).unwrap().push(cell.parse().unwrap_or(f64::NAN));
        }
    }
    cols
}

/// The CSV file's sidecar (`FILE.csv.json`) describes its columns, in order, with their
/// units, and gives the time mapping and the run.
fn sidecar_describes(csv: &Path, ticks_per_year: f64) {
    let header: Vec<String> =
        std::fs::read_to_string(csv).unwrap().lines().next().unwrap().split(',').map(String::from).collect();
    let side = csv.with_file_name(format!("{}.json", csv.file_name().unwrap().to_str().unwrap()));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&side).unwrap()).unwrap();
    let columns = meta["columns"].as_array().unwrap();
    let names: Vec<&str> = columns.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, header, "the sidecar lists the CSV's columns in order");
    let unit = |n: &str| columns.iter().find(|c| c["name"] == n).unwrap()["unit"].as_str().unwrap().to_string();
    assert_eq!(unit("money_stock"), "genesis currency units");
    assert_eq!(unit("gdp"), "genesis currency units per tick");
    assert_eq!(unit("inflation"), "rate per tick");
    assert_eq!(meta["time"]["ticks_per_year"], ticks_per_year);
    assert!(meta["run"]["seed"].is_u64() && meta["run"]["parameters"].is_object(), "{}", meta["run"]);
}

/// The indices i where `count[i] != count[i - 1]`.
fn changes(count: &[f64]) -> Vec<usize> {
    (1..count.len()).filter(|&i| count[i] != count[i - 1]).collect()
}

/// The nominal columns, as the protocol declares them.
fn nominal() -> Vec<&'static str> {
    Indicators::COLUMNS.iter().filter(|c| c.unit.is_nominal()).map(|c| c.name).collect()
}

#[test]
fn a_run_across_redenominations_exports_money_that_does_not_jump() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["run", "--ticks", "3000", "--no-store", "--out", "run.csv"];
    args.extend_from_slice(REDENOMINATES);
    let o = output(&args, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cols = columns(&dir.path().join("run.csv"));
    sidecar_describes(&dir.path().join("run.csv"), 12.0);
    let at = changes(&cols["redenominations"]);
    assert!(at.len() >= 2, "the scenario should redenominate at least twice, did at ticks {at:?}");
    let money = &cols["money_stock"];
    for name in nominal() {
        let v = &cols[name];
        for &i in &at {
            let (before, after) = (v[i - 1], v[i]);
            if name == "money_other" {
                // The residue account: each redenomination books its rounding there, by
                // construction, a few cents of the old unit per account.
                let moved = (after - before).abs();
                assert!(moved < 1e-6 * money[i], "the residue moves by {moved} at tick {i} (money stock {})", money[i]);
                continue;
            }
            // A residue of cents, or a flow that happened to be 0 on one side, has no ratio.
            if before.abs() < 1.0 || after.abs() < 1.0 {
                continue;
            }
            let ratio = after / before;
            assert!(
                (0.2..5.0).contains(&ratio),
                "{name} jumps ×{ratio:.3} at the redenomination of tick {i}: {before} then {after}"
            );
        }
    }
    // The money stock, which raw cents divide by ten at each redenomination, moves
    // little across them in genesis units.
    for &i in &at {
        let ratio = money[i] / money[i - 1];
        assert!((0.9..1.1).contains(&ratio), "money stock ×{ratio} at tick {i}");
    }
}

#[test]
fn a_branch_that_redenominates_at_other_ticks_differs_continuously() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["run", "--ticks", "1200", "--checkpoint-every", "100"];
    args.extend_from_slice(REDENOMINATES);
    let o = output(&args, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Exported from the store: the same sidecar, from what the store says of the run.
    let o = output(&["export", "--run", "1", "--out", "stored.csv"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    sidecar_describes(&dir.path().join("stored.csv"), 12.0);
    // Faster price adjustment: more inflation, so the branch redenominates earlier.
    let o = output(
        &[
            "run",
            "--fork-of",
            "1",
            "--at",
            "600",
            "--set",
            "firms.price_adjustment=0.2",
            "--ticks",
            "1500",
            "--out",
            "paired.csv",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cols = columns(&dir.path().join("paired.csv"));
    let (base, branch) = (&cols["redenominations_baseline"], &cols["redenominations_branch"]);
    let at: Vec<usize> = changes(base).into_iter().chain(changes(branch)).collect();
    assert!(
        at.iter().any(|&i| base[i] != branch[i]),
        "the baseline and the branch should redenominate at different ticks: {at:?}"
    );
    for name in ["money_stock", "money_households", "gdp", "wage_bill"] {
        let (b, r, d) = (
            &cols[&format!("{name}_baseline")],
            &cols[&format!("{name}_branch")],
            &cols[&format!("{name}_difference")],
        );
        for &i in &at {
            assert_eq!(d[i], r[i] - b[i], "{name}: the difference is branch − baseline");
            let level = b[i].abs().max(r[i].abs());
            let step = (d[i] - d[i - 1]).abs();
            assert!(
                step < 0.5 * level,
                "{name}: the difference moves by {step} (level {level}) at tick {i}, where the units differ \
                 ({} against {} redenominations)",
                base[i],
                branch[i]
            );
        }
    }
}
