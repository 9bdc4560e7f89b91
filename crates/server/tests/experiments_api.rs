//! The experiment endpoints the dashboard's Experiments view reads, served by the server
//! alone (no engine, no runner) over a real loopback socket from a real SQLite file the
//! store's writer filled: an experiment's page of rows with the runs whose ticks were
//! kept (`kept`, which the view links to `/?run=ID`), and the fan chart and heat-map
//! cells endpoints of a server that was given no reader for them (`experiments: None`, a
//! server without the runner), which must say so rather than answer empty.
//!
//! The fan chart's and the cells' numbers themselves are checked end to end through the
//! binary, which supplies the reader: `crates/watchtower/tests/experiment.rs`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};
use watchtower_store::experiments::{create_experiment, finish_experiment, insert_summary, link_run};
use watchtower_store::{NewExperiment, RunInfo, Store, StoredSummary, WriterOptions};

/// An experiment of three runs, the first two with their ticks kept as runs of their own;
/// returns the experiment's id and the kept runs' ids.
fn fill(path: &std::path::Path) -> (i64, Vec<i64>) {
    let store = Store::open(path, WriterOptions::default()).unwrap();
    let e = NewExperiment {
        name: "api".into(),
        source: "api.yaml".into(),
        spec: "name: api\n".into(),
        overrides: vec![],
        layout: json!({"axes": [], "indicators": ["unemployment_rate"], "columns": ["run", "seed"]}),
        runs: 3,
        points: 1,
    };
    let id = store.call(move |c| create_experiment(c, &e)).unwrap();
    let mut kept = Vec::new();
    for run in 0..3u64 {
        let s = StoredSummary {
            experiment_id: id,
            run,
            point: 0,
            seed: run + 1,
            phase: Some("FE".into()),
            error: None,
            row: json!({"run": run, "seed": run + 1}),
            format: 1,
            summary: vec![],
        };
        store.submit(move |c| insert_summary(c, &s)).unwrap();
        if run < 2 {
            let info = RunInfo {
                model: "mark0".into(),
                seed: run + 1,
                households: 10,
                firms: 2,
                agents: 0,
                parameters: json!({}),
                model_version: "test".into(),
            };
            let writer = store.start_run(&info).unwrap();
            let run_id = writer.run_id();
            store.call(move |c| link_run(c, run_id, id, run)).unwrap();
            kept.push(run_id);
        }
    }
    store.call(move |c| finish_experiment(c, id, "finished", None)).unwrap();
    store.close().unwrap();
    (id, kept)
}

/// `GET path` over a new connection; the status and the JSON body.
fn get(port: u16, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    // Small answers may come chunked: the JSON is the one line that starts with `{`.
    let json = body.lines().find(|l| l.starts_with('{')).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap())
}

#[test]
fn an_experiment_names_its_kept_runs_and_a_server_without_an_experiment_reader_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchtower.db");
    let (id, kept) = fill(&path);

    let server = TestServer::start(&path);
    let port = server.port;

    let (status, one) = get(port, &format!("/api/experiments/{id}"));
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["progress"], json!({"done": 3, "runs": 3, "share": 1.0, "status": "finished"}));
    assert_eq!(one["rows"].as_array().unwrap().len(), 3);
    assert_eq!(one["kept"], json!([{"run": 0, "run_id": kept[0]}, {"run": 1, "run_id": kept[1]}]));
    // `kept` is paged with the rows: from run 1, one row, one kept run.
    let (_, page) = get(port, &format!("/api/experiments/{id}?from=1&limit=1"));
    assert_eq!(page["rows"], json!([{"run": 1, "seed": 2}]));
    assert_eq!(page["kept"], json!([{"run": 1, "run_id": kept[1]}]));
    // From run 2 on, nothing was kept.
    let (_, page) = get(port, &format!("/api/experiments/{id}?from=2"));
    assert_eq!(page["kept"], json!([]));

    let (status, fan) = get(port, &format!("/api/experiments/{id}/fan"));
    assert_eq!(status, 404, "{fan}");
    assert!(fan["error"].as_str().unwrap().contains("cannot read experiments' fan charts"), "{fan}");
    // Nor the heat map's cells, whose numbers are the runner's to compute; a parameter
    // that does not fit is refused by name first.
    let (status, cells) = get(port, &format!("/api/experiments/{id}/cells?column=unemployment_rate_mean&x=0"));
    assert_eq!(status, 404, "{cells}");
    assert!(cells["error"].as_str().unwrap().contains("cannot read experiments' heat maps"), "{cells}");
    let (status, cells) = get(port, &format!("/api/experiments/{id}/cells?x=first"));
    assert_eq!(status, 400, "{cells}");
    assert!(cells["error"].as_str().unwrap().starts_with("`x` = first"), "{cells}");

    server.stop();
}
