//! `watchtower view` through real processes: beside a running `watchtower experiment` on
//! the same data directory (which holds the lock), it serves the experiment's progress as
//! the writer commits it, up to the end; it refuses every command; on a directory or
//! database that is not there it fails naming the path and creates nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Running, get, lock_is_free, output, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// 24 runs of a tiny economy, long enough (3,000 ticks each, one at a time) that the
/// experiment takes seconds: time for a viewer to watch it move.
const SPEC: &str = "\
name: watched-grid
model: mark0
preset: mark0-2015
firms: 20
households: 200
ticks: 3000
warmup: 100
seeds: 2
axes:
  firms.hiring_firing_ratio: [0.5, 1.5, 2.5, 3]
  firms.bankruptcy_threshold: {from: 0.5, to: 5, steps: 3}
";

/// A running `watchtower view` and its port (read from the URL it prints).
struct View {
    /// Held so that dropping the view kills its process.
    _process: Running,
    port: u16,
}

impl View {
    /// Starts a viewer of `data`, or says what it printed instead of its URL.
    fn try_start(dir: &Path, data: &str) -> Result<Self, String> {
        let mut running = Running::spawn(&["view", "--data-dir", data, "--bind", "127.0.0.1:0"], dir);
        let mut stdout = BufReader::new(running.child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        if !first.starts_with("Watchtower viewer is running: http://127.0.0.1:") {
            let status = running.wait(Duration::from_secs(10));
            let said: Vec<String> = running.lines.try_iter().collect();
            return Err(format!("view exited ({status}) printing {first:?}, {said:?}"));
        }
        let port = first.trim().rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
        Ok(Self { _process: running, port })
    }

    fn start(dir: &Path, data: &str) -> Self {
        Self::try_start(dir, data).unwrap_or_else(|e| panic!("{e}"))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn json(&self, path: &str) -> (u16, Value) {
        let (status, body) = get(&self.url(path));
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

#[test]
fn a_viewer_follows_a_running_experiment_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("grid.yaml"), SPEC).unwrap();
    let mut experiment = Running::spawn(&["experiment", "grid.yaml", "--data-dir", "data", "--jobs", "1"], d);

    // The viewer needs the database: wait for the experiment to create it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.join("data/watchtower.db").exists() {
        assert!(experiment.child.try_wait().unwrap().is_none(), "the experiment exited before creating its database");
        assert!(Instant::now() < deadline, "no database within 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The file appears before its schema: a viewer that comes too early says so, and
    // is started again.
    let view = loop {
        match View::try_start(d, "data") {
            Ok(view) => break view,
            Err(e) if e.contains("is being created") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(!lock_is_free(&d.join("data")), "the experiment holds the lock while the viewer reads");
    let (status, ready) = view.json("/readyz");
    assert_eq!((status, &ready["ready"]), (200, &json!(true)), "{ready}");

    // Poll the experiment over the socket until it is finished, noting what it said.
    let mut seen: Vec<(u64, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the experiment did not finish within 120 s; seen {seen:?}");
        let (status, body) = view.json("/api/experiments/1");
        if status == 404 {
            assert!(seen.is_empty(), "experiment 1 disappeared: {body}");
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        assert_eq!(status, 200, "{body}");
        let progress = &body["progress"];
        let done = progress["done"].as_u64().unwrap();
        let status = progress["status"].as_str().unwrap().to_string();
        assert_eq!(progress["runs"], 24, "{body}");
        assert_eq!(body["rows"].as_array().unwrap().len() as u64, done, "one summary row per run done: {body}");
        if seen.last() != Some(&(done, status.clone())) {
            seen.push((done, status.clone()));
        }
        if status != "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(experiment.wait(Duration::from_secs(30)).success());

    // Progress only grows, the viewer saw it mid-way while running, and it ends finished
    // with every run done.
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress went backwards: {seen:?}");
    assert!(
        seen.iter().any(|(done, status)| status == "running" && *done > 0 && *done < 24),
        "never saw the experiment part-way: {seen:?}"
    );
    assert!(seen.iter().filter(|(_, s)| s == "running").count() >= 3, "too few steps seen: {seen:?}");
    assert_eq!(seen.last().unwrap(), &(24, "finished".to_string()), "{seen:?}");
    let (_, list) = view.json("/api/experiments");
    assert_eq!(list["experiments"][0]["status"], "finished", "{list}");
    // A grid has no fan chart (its runs keep no traces): the viewer says so.
    let (status, fan) = view.json("/api/experiments/1/fan");
    assert_eq!(status, 400, "{fan}");
    assert!(fan["error"].as_str().unwrap().contains("is a grid"), "{fan}");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The socket's next message, as JSON.
async fn next(ws: &mut Socket) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message").unwrap();
    serde_json::from_str(message.unwrap().to_text().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_refuses_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A recorded run to view.
    let ran = output(&["run", "--data-dir", "data", "--ticks", "20", "--households", "200", "--firms", "20"], d);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let view = View::start(d, "data");
    let (_, runs) = view.json("/api/runs");
    assert_eq!(runs["runs"][0]["id"], 1, "{runs}");
    assert_eq!(runs["live"], json!([]), "{runs}");
    let (status, history) = view.json("/api/history?run=1");
    assert_eq!(status, 200, "{history}");

    let body = r#"{"id":"c1","key":"sim.paused","value":true}"#;
    for token in [None, Some(""), Some("anything-at-all")] {
        let (status, answer) = post(&view.url("/api/commands"), body, token, None);
        assert_eq!(status, 403, "{answer}");
        assert!(answer.contains("read-only viewer of data"), "{answer}");
    }
    for path in ["/api/runs/1/fork", "/api/runs/1/drop", "/api/admin/embedding-map/refresh"] {
        let (status, answer) = post(&view.url(path), "", Some("anything-at-all"), None);
        assert_eq!(status, 403, "{path}: {answer}");
        assert!(answer.contains("read-only viewer"), "{path}: {answer}");
    }
    assert_eq!(view.json("/api/snapshot").0, 404);

    // The WebSocket says what it is, and answers a command with a refusal.
    let url = format!("ws://127.0.0.1:{}/ws?token=anything-at-all", view.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
    let hello = next(&mut ws).await;
    assert_eq!(
        (&hello["type"], &hello["authorized"], &hello["viewer"]),
        (&json!("hello"), &json!(false), &json!("data"))
    );
    let status = next(&mut ws).await;
    assert_eq!((&status["type"], &status["state"]), (&json!("status"), &json!("viewer")), "{status}");
    let command = json!({"type": "command", "id": "c2", "key": "sim.paused", "value": true});
    ws.send(Message::Text(command.to_string().into())).await.unwrap();
    let answer = next(&mut ws).await;
    assert_eq!((&answer["type"], &answer["success"]), (&json!("command_result"), &json!(false)), "{answer}");
    assert!(answer["error"].as_str().unwrap_or_default().contains("read-only viewer"), "{answer}");

    // Nothing was written: the run's audit stays empty.
    let (_, audit) = view.json("/api/audit?run=1");
    assert_eq!(audit["commands"], json!([]), "{audit}");
}

#[test]
fn a_viewer_of_a_missing_directory_or_database_names_it_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = output(&["view", "--data-dir", "nowhere", "--bind", "127.0.0.1:0"], d);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("no data directory at nowhere"), "{text}");
    assert!(!d.join("nowhere").exists(), "view created the directory");

    std::fs::create_dir(d.join("empty")).unwrap();
    let out = output(&["view", "--data-dir", "empty", "--bind", "127.0.0.1:0"], d);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("empty/watchtower.db"), "{text}");
    assert_eq!(std::fs::read_dir(d.join("empty")).unwrap().count(), 0, "view created files in the directory");
}

#[test]
fn a_viewer_refuses_a_database_of_another_schema_version_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ran = output(&["run", "--data-dir", "data", "--ticks", "5", "--households", "200", "--firms", "20"], d);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let db = d.join("data/watchtower.db");
    let latest: i64 =
        rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    for (version, says) in [(latest - 1, "an older Watchtower"), (latest + 1, "a newer Watchtower")] {
        rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", version).unwrap();
        let out = output(&["view", "--data-dir", "data", "--bind", "127.0.0.1:0"], d);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a viewer started on schema version {version}");
        assert!(text.contains(says) && text.contains(&format!("schema version {version}")), "{text}");
        assert!(text.contains("data/watchtower.db"), "{text}");
    }
}

#[test]
fn a_viewer_of_a_file_that_is_not_a_database_says_so_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    std::fs::write(d.join("data/watchtower.db"), b"not a database, just some bytes".repeat(200)).unwrap();
    let started = Instant::now();
    let out = output(&["view", "--data-dir", "data", "--bind", "127.0.0.1:0"], d);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("data/watchtower.db"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "it took {:?} to refuse", started.elapsed());
}

#[test]
fn a_viewer_of_another_applications_sqlite_file_says_it_is_not_a_watchtower_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("data")).unwrap();
    let db = d.join("data/watchtower.db");
    // Another application's database, in SQLite's default (rollback) journal mode.
    let foreign = rusqlite::Connection::open(&db).unwrap();
    foreign.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');").unwrap();
    drop(foreign);
    let before = std::fs::read(&db).unwrap();
    let out = output(&["view", "--data-dir", "data", "--bind", "127.0.0.1:0"], d);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("data/watchtower.db is not a Watchtower database"), "{text}");
    assert!(!text.contains("readonly"), "{text}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the viewer changed the foreign file");
}

#[test]
fn a_viewer_on_an_address_other_machines_reach_needs_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ran = output(&["run", "--data-dir", "data", "--ticks", "3", "--households", "200", "--firms", "20"], d);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let out = output(&["view", "--data-dir", "data", "--bind", "0.0.0.0:0"], d);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a viewer listened on 0.0.0.0 without --insecure");
    assert!(text.contains("--insecure") && text.contains("0.0.0.0"), "{text}");
}
