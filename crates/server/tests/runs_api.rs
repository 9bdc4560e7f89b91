//! `GET /api/runs` and `GET /api/experiments` are bounded whatever the database holds,
//! served over a real loopback socket from a real SQLite file the store's writer filled:
//! the runs come a page at a time (`limit`, `after`, `next`), following `next` gives
//! every run once, and a huge branch name, error or experiment name never reaches a
//! listing whole.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};
use watchtower_store::experiments::create_experiment;
use watchtower_store::{NewExperiment, RunInfo, Store, WriterOptions};

const RUNS: i64 = 250;

/// 250 runs (run 7 with a 2 MB branch name and error) and an experiment with a 2 MB name.
fn fill(path: &std::path::Path) {
    let store = Store::open(path, WriterOptions::default()).unwrap();
    for seed in 1..=RUNS as u64 {
        let info = RunInfo {
            model: "mark0".into(),
            seed,
            households: 10,
            firms: 2,
            agents: 0,
            parameters: json!({"bank.policy_rate": 0.01}),
            model_version: "test".into(),
        };
        store.start_run(&info).unwrap();
    }
    let huge = "x".repeat(2_000_000);
    let text = huge.clone();
    store
        .call(move |c| {
            c.execute("UPDATE runs SET branch_name = ?1, error = ?1 WHERE id = 7", [&text])?;
            Ok(())
        })
        .unwrap();
    let e = NewExperiment {
        name: huge,
        source: "big.yaml".into(),
        spec: "name: big\n".into(),
        overrides: vec![],
        layout: json!({"axes": []}),
        runs: 1,
        points: 1,
    };
    store.call(move |c| create_experiment(c, &e)).unwrap();
    store.close().unwrap();
}

/// `GET path` over a new HTTP/1.0 connection (so the body is never chunked): the status,
/// the body's length and its JSON.
fn get(port: u16, path: &str) -> (u16, usize, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    (status, body.len(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn ids(page: &Value) -> Vec<i64> {
    page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[test]
fn runs_come_in_bounded_pages_that_say_where_the_next_begins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchtower.db");
    fill(&path);
    let server = TestServer::start(&path);
    let port = server.port;

    // The default page: the newest 100, and where the rest begin.
    let (status, _, first) = get(port, "/api/runs");
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), (151..=RUNS).rev().collect::<Vec<_>>());
    assert_eq!(first["next"], 151);
    assert_eq!(first["runs"][0]["live"], false);
    // Following `next` gives every run once, newest first, and the last page says so.
    let mut seen = ids(&first);
    let mut next = first["next"].clone();
    while let Some(after) = next.as_i64() {
        let (status, _, page) = get(port, &format!("/api/runs?after={after}&limit=60"));
        assert_eq!(status, 200, "{page}");
        assert!(ids(&page).len() <= 60);
        seen.extend(ids(&page));
        next = page["next"].clone();
    }
    assert_eq!(seen, (1..=RUNS).rev().collect::<Vec<_>>());
    // A page of exactly what is left ends the listing: no empty page after it.
    let (_, _, last) = get(port, "/api/runs?after=51&limit=50");
    assert_eq!((ids(&last).len(), &last["next"]), (50, &Value::Null));
    // One run by id, as the dashboard asks for it.
    let (_, _, one) = get(port, "/api/runs?after=43&limit=1");
    assert_eq!(ids(&one), [42]);

    // The largest page is bounded; anything past it, or not a whole number, is a 400.
    let (status, _, most) = get(port, "/api/runs?limit=1000");
    assert_eq!((status, ids(&most).len()), (200, RUNS as usize));
    for (query, name) in [
        ("limit=1001", "`limit`"),
        ("limit=0", "`limit`"),
        ("limit=18446744073709551615", "`limit`"),
        ("after=0", "`after`"),
        ("after=-1", "`after`"),
        ("after=9223372036854775808", "`after`"),
        ("after=x", "`after`"),
    ] {
        let (status, _, body) = get(port, &format!("/api/runs?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with(name), "{query}: {body}");
    }

    // A 2 MB branch name and error are cut in the listing; the page stays small.
    let (status, size, page) = get(port, "/api/runs?after=8&limit=1");
    assert_eq!(status, 200);
    let run = &page["runs"][0];
    assert_eq!(run["id"], 7);
    assert_eq!(run["branch_name"].as_str().unwrap().chars().count(), 1_024);
    assert_eq!(run["error"].as_str().unwrap().chars().count(), 1_024);
    assert!(size < 5_000, "a one-run page of {size} bytes");
    // So is a 2 MB experiment name.
    let (status, size, list) = get(port, "/api/experiments");
    assert_eq!(status, 200);
    assert_eq!(list["experiments"][0]["name"].as_str().unwrap().chars().count(), 1_024);
    assert!(size < 5_000, "an experiments listing of {size} bytes");

    server.stop();
}
