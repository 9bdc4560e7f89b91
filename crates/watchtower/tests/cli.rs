//! The command line: runs, outputs, exports, and bad input refused with a clear error.

mod common;

use common::output;

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |seed: &str, out: &str| {
        let args = [
            "run",
            "--ticks",
            "400",
            "--seed",
            seed,
            "--households",
            "1000",
            "--firms",
            "100",
            "--no-store",
            "--out",
            out,
            "--set",
            "government.income_tax_rate=0.25",
        ];
        let o = output(&args, dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(dir.path().join(out)).unwrap()
    };
    let (a, b, c) = (run("7", "a.jsonl"), run("7", "b.jsonl"), run("8", "c.jsonl"));
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 400);
    assert!(a == b, "same seed, different bytes");
    assert_ne!(a, c, "different seed, same bytes");
}

#[test]
fn export_writes_what_run_stored_header_first() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        output(&["run", "--ticks", "50", "--households", "500", "--firms", "50", "--out", "direct.csv"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = output(&["export", "--run", "latest", "--out", "exported.csv"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let direct = std::fs::read_to_string(dir.path().join("direct.csv")).unwrap();
    let exported = std::fs::read_to_string(dir.path().join("exported.csv")).unwrap();
    assert!(exported.starts_with("tick,output_real,gdp,"));
    assert_eq!(exported.lines().count(), 51);
    assert_eq!(direct, exported, "the database holds exactly what the engine produced");

    let o = output(&["export", "--run", "1", "--format", "jsonl"], dir.path());
    let first: serde_json::Value = serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["tick"], 0);

    let o = output(&["runs"], dir.path());
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(listing.contains("finished") && listing.contains("500 hh / 50 firms"), "{listing}");
}

#[test]
fn bad_settings_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), "government:\n  income_tax_rate: 0.3\n  benefit: 0.5\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--ticks", "5", "--config", "policy.yaml"], "policy.yaml, line 3: unknown key `government.benefit`"),
        (&["run", "--ticks", "5", "--set", "government.income_tax_rate=2"], "out of range"),
        (&["run", "--ticks", "5", "--set", "bank.policy_rate=nan"], "finite number"),
        (&["run", "--ticks", "5", "--preset", "keynes"], "unknown preset `keynes`"),
        (&["run", "--ticks", "5", "--config", "missing.yaml"], "missing.yaml"),
        (&["run", "--ticks", "5", "--model", "boltzmann", "--preset", "sim"], "--preset applies to the economy"),
    ];
    for (args, needle) in cases {
        let o = output(args, dir.path());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing was created for a refused configuration");
}

/// `watchtower bench engine` measures each size in a child process of itself and reports
/// every (model, size) with a rate and the child's own memory.
#[test]
fn the_engine_benchmark_reports_every_model_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(&["bench", "engine", "--sizes", "200,2000", "--seconds", "0.2", "--json"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = report["results"].as_array().unwrap();
    let seen: Vec<(&str, u64)> =
        rows.iter().map(|r| (r["model"].as_str().unwrap(), r["agents"].as_u64().unwrap())).collect();
    assert_eq!(seen, [("mark0", 200), ("mark0", 2000), ("boltzmann", 200), ("boltzmann", 2000)]);
    for r in rows {
        assert!(r["agent_updates_per_second"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["bytes_per_agent"].as_f64().unwrap() >= 0.0, "{r}"); // small sizes may fit pages already mapped
    }
}
