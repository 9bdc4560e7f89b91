//! `watchtower calibrate` through real processes: the same estimate, byte for byte, for
//! `--jobs 1` and `--jobs 2` and after a kill -9 and `--resume`; `--json` carries what
//! the issue promises; `experiments` lists the calibration and `export` writes one row
//! per simulation; a bad spec is refused with its file, line and key.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Running, output};

/// Two free parameters of a small economy, a synthetic truth, 2 seeds a point.
const SPEC: &str = "\
name: tiny-calibration
firms: 20
households: 200
ticks: 200
warmup: 60
free:
  firms.price_adjustment: {min: 0.02, max: 0.3}
  firms.hiring_firing_ratio: {min: 1.0, max: 4.0, log: true}
target:
  synthetic: {set: {firms.price_adjustment: 0.12, firms.hiring_firing_ratio: 2.5}, seed: 99}
moments:
  unemployment_rate: [mean, sd, acf1]
  inflation: [mean, sd, \"diff:sd\"]
ensemble: 2
budget: 110
";

fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "watchtower failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

fn stored(db: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT count(*) FROM run_summaries WHERE experiment_id = 1", [], |r| r.get(0)).unwrap_or(0)
}

/// Runs `calibrate c.yaml --data-dir kill --jobs 2` in `d`, kills it with SIGKILL once
/// 30 simulations are stored in `db`, and returns how many were stored.
fn killed_after_30(d: &Path, db: &Path) -> i64 {
    let mut running = Running::spawn(&["calibrate", "c.yaml", "--data-dir", "kill", "--jobs", "2"], d);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(db) < 30 {
        assert!(Instant::now() < deadline, "nothing stored within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    running.signal("KILL");
    running.wait(Duration::from_secs(30));
    stored(db)
}

#[test]
fn the_estimate_is_the_same_for_any_jobs_and_after_kill_9_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.yaml"), SPEC).unwrap();
    let one = ok(&output(&["calibrate", "c.yaml", "--data-dir", "one", "--jobs", "1", "--json"], d));
    let two = ok(&output(&["calibrate", "c.yaml", "--data-dir", "two", "--jobs", "2", "--json"], d));
    assert_eq!(one, two, "--jobs 1 and --jobs 2 differ");
    let json: serde_json::Value = serde_json::from_str(&one).unwrap();
    for key in ["estimates", "intervals", "std_errors", "simulations", "moments", "j_test", "warnings"] {
        assert!(json.get(key).is_some(), "--json lacks {key}: {json}");
    }
    let simulations = json["simulations"].as_u64().unwrap();
    assert!(simulations <= 110, "{simulations}");
    let estimate = json["estimates"]["firms.price_adjustment"].as_f64().unwrap();
    let [lo, hi] = [0, 1].map(|i| json["intervals"]["firms.price_adjustment"][i].as_f64().unwrap());
    assert!((0.02..=0.3).contains(&estimate) && lo <= estimate && estimate <= hi, "{json}");
    let moment = &json["moments"][5];
    assert_eq!(moment["name"], "inflation.diff:sd");
    assert!(moment["target"].is_number() && moment["model"].is_number() && moment["se"].is_number());
    // m − p = 4 degrees of freedom, more when a direction of the parameters is not
    // pinned down in this tiny economy (the Jacobian's own noise taken out): then the
    // parameters along it are named as not identified.
    let df = json["j_test"]["df"].as_u64().unwrap();
    let unidentified =
        json["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("not identified"));
    assert!(if unidentified { (5..=6).contains(&df) } else { df == 4 }, "{json}");

    // kill -9 once some simulations are stored, then resume.
    let db = d.join("kill").join("watchtower.db");
    let cut = killed_after_30(d, &db) as u64;
    assert!(cut < simulations, "the calibration finished before the kill; make it slower");
    let resumed = ok(&output(&["calibrate", "--resume", "1", "--data-dir", "kill", "--jobs", "2", "--json"], d));
    assert_eq!(resumed, one, "resumed after kill -9 differs from uninterrupted");
    // Every simulation is stored once but the target's series, run again for its bootstrap.
    assert_eq!(stored(&db) as u64, simulations - 1, "no simulation stored twice");

    // Listed, and exported one row per simulation.
    let list = ok(&output(&["experiments", "--data-dir", "one"], d));
    assert!(list.contains("tiny-calibration") && list.contains("calib."), "{list}");
    ok(&output(&["export", "--experiment", "1", "--data-dir", "one", "--out", "sims.csv"], d));
    let csv = std::fs::read_to_string(d.join("sims.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with(
            "simulation,evaluation,kind,seed,firms.price_adjustment,firms.hiring_firing_ratio,unemployment_rate.mean"
        ),
        "{header}"
    );
    assert!(header.ends_with(",loss"), "{header}");
    assert_eq!(csv.lines().count() as u64, simulations);
}

#[test]
fn a_bad_spec_is_refused_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.yaml"), SPEC.replace("inflation: [mean", "inflation: [median")).unwrap();
    let out = output(&["calibrate", "c.yaml", "--data-dir", "x"], d);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.yaml") && err.contains("line 13") && err.contains("unknown moment `median`"), "{err}");
    std::fs::write(d.join("c.yaml"), SPEC.replace("budget: 110", "budget: 20")).unwrap();
    let out = output(&["calibrate", "c.yaml", "--data-dir", "x"], d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("budget 20 is too small"), "{err}");
}

/// The same economy fitted to a CSV beside the spec (46 quarters, in percent).
fn data_calibration(d: &Path) -> Vec<u8> {
    let spec = SPEC.replace(
        "  synthetic: {set: {firms.price_adjustment: 0.12, firms.hiring_firing_ratio: 2.5}, seed: 99}\n",
        "  data:\n    file: us.csv\n    ticks_per_observation: 3\n    columns:\n      unemployment_rate: {column: unemp, scale: 0.01}\n      inflation: {column: infl, scale: 0.01, annualised: 4, aggregate: compound}\n",
    );
    std::fs::write(d.join("c.yaml"), spec).unwrap();
    let mut csv = String::from("unemp,infl\n");
    for i in 0..46 {
        let t = f64::from(i);
        csv.push_str(&format!("{:.3},{:.3}\n", 6.0 + (t / 5.0).sin(), 4.0 + 2.0 * (t / 3.0).cos()));
    }
    std::fs::write(d.join("us.csv"), &csv).unwrap();
    csv.into_bytes()
}

#[test]
fn a_data_calibration_resumes_only_on_the_data_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = data_calibration(d);
    let whole = ok(&output(&["calibrate", "c.yaml", "--data-dir", "whole", "--jobs", "2", "--json"], d));
    let json: serde_json::Value = serde_json::from_str(&whole).unwrap();
    let simulations = json["simulations"].as_u64().unwrap();

    // kill -9 once some simulations are stored.
    let db = d.join("kill").join("watchtower.db");
    let cut = killed_after_30(d, &db);
    assert!((cut as u64) < simulations, "the calibration finished before the kill; make it slower");
    let pinned = watchtower_experiment::calibrate::data::sha256(&original);

    // The CSV edited (one value): the resume is refused, naming the file and both hashes.
    let edited = String::from_utf8(original.clone()).unwrap().replacen("6.000,", "6.500,", 1);
    std::fs::write(d.join("us.csv"), &edited).unwrap();
    let out = output(&["calibrate", "--resume", "1", "--data-dir", "kill", "--json"], d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a resume on edited data ran: {err}");
    let now = watchtower_experiment::calibrate::data::sha256(edited.as_bytes());
    assert!(err.contains("us.csv changed since this calibration started"), "{err}");
    assert!(err.contains(&pinned) && err.contains(&now), "{err}");
    assert_eq!(stored(&db), cut, "nothing simulated on the edited data");
    // Missing (a resume from another directory): refused as well.
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let out = output(&["calibrate", "--resume", "1", "--data-dir", "../kill"], &d.join("elsewhere"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("us.csv") && err.contains(&pinned), "{err}");

    // Put back: the resume finishes with the uninterrupted result, byte for byte.
    std::fs::write(d.join("us.csv"), &original).unwrap();
    let resumed = ok(&output(&["calibrate", "--resume", "1", "--data-dir", "kill", "--jobs", "2", "--json"], d));
    assert_eq!(resumed, whole, "resumed after kill -9 differs from uninterrupted");
    assert_eq!(stored(&db) as u64, simulations, "no simulation stored twice");
}
