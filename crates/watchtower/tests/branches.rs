//! What-if branches of a live server, through real sockets and a real database: a fork
//! with no change stays identical to its parent bit for bit; a command to a branch does
//! not reach its parent; telemetry frames say which run they are of; a fifth branch is
//! refused; a dropped branch keeps its rows; bad forks change nothing.

mod common;

use std::time::{Duration, Instant};

use common::{Server, get, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SMALL: &[&str] = &["--households", "500", "--firms", "50", "--tick-rate", "200", "--embedding-sample", "0"];

async fn next_where(ws: &mut Socket, limit: Duration, mut pred: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message =
            tokio::time::timeout(left, ws.next()).await.unwrap_or_else(|_| panic!("nothing within {limit:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                if pred(&v) {
                    return v;
                }
            }
            None => panic!("socket closed"),
            _ => {}
        }
    }
}

fn json_of(response: (u16, String)) -> (u16, Value) {
    (response.0, serde_json::from_str(&response.1).unwrap_or(Value::Null))
}

fn fork(server: &Server, parent: i64, body: &str) -> (u16, Value) {
    json_of(post(&server.url(&format!("/api/runs/{parent}/fork")), body, Some(&server.token), None))
}

fn delete(server: &Server, run: i64) -> (u16, Value) {
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let mut r = agent
        .delete(&server.url(&format!("/api/runs/{run}")))
        .header("authorization", &format!("Bearer {}", server.token))
        .call()
        .unwrap();
    (r.status().as_u16(), serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap())
}

fn stored_ticks(server: &Server, run: i64) -> i64 {
    let conn = rusqlite::Connection::open(server.database()).unwrap();
    conn.query_row("SELECT COALESCE(MAX(tick), -1) FROM ticks WHERE run_id = ?1", [run], |r| r.get(0)).unwrap()
}

fn wait_for(server: &Server, run: i64, tick: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored_ticks(server, run) < tick {
        assert!(Instant::now() < deadline, "run {run}: tick {tick} not stored within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn history(server: &Server, run: i64, from: u64, to: u64) -> Vec<Value> {
    let (status, body) = json_of(get(&server.url(&format!("/api/history?run={run}&from={from}&to={to}&limit=5000"))));
    assert_eq!(status, 200, "{body}");
    body["ticks"].as_array().unwrap().clone()
}

fn tax(server: &Server, run: i64) -> Value {
    let (_, registry) = json_of(get(&server.url(&format!("/api/registry?run={run}"))));
    registry["params"].as_array().unwrap().iter().find(|p| p["key"] == "government.income_tax_rate").unwrap()["value"]
        .clone()
}

/// Waits (a few cycles at most) for run `run`'s tax rate to read `value`.
fn tax_becomes(server: &Server, run: i64, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tax(server, run) != value {
        assert!(Instant::now() < deadline, "run {run}: the tax rate is {} not {value}", tax(server, run));
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_run_in_lockstep_apart_from_their_changes() {
    let mut server = Server::start(SMALL);
    server.wait_ready();
    let mut ws = tokio_tungstenite::connect_async(server.ws_url(Some(&server.token))).await.unwrap().0;
    assert_eq!(next_where(&mut ws, Duration::from_secs(10), |v| v["type"] == "hello").await["run_id"], 1);

    // A fork with no change, and one with a change.
    let (status, same) = fork(&server, 1, "{}");
    assert_eq!(status, 201, "{same}");
    assert_eq!((same["parent"].as_i64(), same["changes"].clone()), (Some(1), json!({})));
    let (b, t) = (same["run_id"].as_i64().unwrap(), same["tick"].as_u64().unwrap());
    let (status, taxed) = fork(&server, 1, r#"{"set": {"government.income_tax_rate": 0.3}, "name": "tax 30%"}"#);
    assert_eq!(status, 201, "{taxed}");
    let c = taxed["run_id"].as_i64().unwrap();
    assert_eq!(taxed["name"], "tax 30%");
    tax_becomes(&server, c, 0.3);
    assert_eq!(tax(&server, 1), 0.2);

    // The socket tells the runs and streams each one's frames, each saying its run.
    let runs = next_where(&mut ws, Duration::from_secs(10), |v| {
        v["type"] == "runs" && v["runs"].as_array().unwrap().len() == 3
    })
    .await;
    assert_eq!(runs["main"], 1);
    assert_eq!(runs["runs"][2]["changes"], json!({"government.income_tax_rate": 0.3}));
    for run in [1, b, c] {
        let frame =
            next_where(&mut ws, Duration::from_secs(10), |v| v["type"] == "telemetry" && v["run_id"] == run).await;
        assert!(frame["tick"].as_u64().unwrap() >= t);
    }

    // A command to the taxed branch reaches it and not its parent.
    ws.send(Message::Text(
        json!({"type": "command", "id": "c1", "key": "government.income_tax_rate", "value": 0.35, "run": c})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let result = next_where(&mut ws, Duration::from_secs(10), |v| v["type"] == "command_result").await;
    assert_eq!((result["success"].clone(), result["run_id"].clone()), (json!(true), json!(c)), "{result}");
    tax_becomes(&server, c, 0.35);
    assert_eq!(tax(&server, 1), 0.2, "the parent never saw it");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, audit) = json_of(get(&server.url(&format!("/api/audit?run={c}"))));
    assert!(audit["commands"].as_array().unwrap().iter().any(|a| a["id"] == "c1"), "{audit}");
    let (_, audit) = json_of(get(&server.url("/api/audit?run=1")));
    assert!(!audit["commands"].as_array().unwrap().iter().any(|a| a["id"] == "c1"), "{audit}");

    // The unchanged branch is its parent, bit for bit, tick after tick.
    wait_for(&server, b, t as i64 + 150);
    wait_for(&server, 1, t as i64 + 150);
    let (parent, same) = (history(&server, 1, t, t + 150), history(&server, b, t, t + 150));
    assert_eq!(parent.len(), 151);
    assert!(parent == same, "the unchanged branch differs from its parent");
    assert_ne!(history(&server, c, t + 150, t + 150), parent[150..], "the change changed nothing");

    // The run and its branches at once (what the dashboard's audit log reads), newest
    // first, each row naming its run: a command to the main run, after the comparison
    // above (which needed the main run unchanged), joins the taxed branch's.
    let body = r#"{"id":"m1","key":"government.income_tax_rate","value":0.25}"#;
    assert_eq!(post(&server.url("/api/commands"), body, Some(&server.token), None).0, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let audit = loop {
        let (_, audit) = json_of(get(&server.url(&format!("/api/audit?run=1,{b},{c}"))));
        if audit["commands"].as_array().unwrap().iter().any(|a| a["id"] == "m1") {
            break audit;
        }
        assert!(std::time::Instant::now() < deadline, "m1 not audited within 5 s: {audit}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let commands = audit["commands"].as_array().unwrap();
    assert_eq!(commands[0]["id"], "m1", "newest first: {audit}");
    assert_eq!(commands[0]["run_id"], 1, "{audit}");
    assert!(commands.iter().any(|a| a["id"] == "c1" && a["run_id"] == c), "{audit}");
    assert!(commands.windows(2).all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()), "{audit}");
    let (_, one) = json_of(get(&server.url("/api/audit?run=1")));
    assert!(one["commands"].as_array().unwrap().iter().all(|a| a["run_id"] == 1), "{one}");

    // Up to four branches; a fifth is refused.
    for _ in 0..2 {
        assert_eq!(fork(&server, 1, "{}").0, 201);
    }
    let (status, refused) = fork(&server, c, "{}");
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "too_many_branches");

    // A dropped branch stops and keeps its rows; its slot is free again.
    let (status, dropped) = delete(&server, b);
    assert_eq!(status, 200, "{dropped}");
    let dropped_at = dropped["tick"].as_u64().unwrap();
    let (_, runs) = json_of(get(&server.url("/api/runs")));
    let row = runs["runs"].as_array().unwrap().iter().find(|r| r["id"] == b).unwrap().clone();
    assert_eq!((row["live"].clone(), row["dropped_tick"].clone()), (json!(false), json!(dropped_at)), "{row}");
    assert_eq!((row["parent_run_id"].clone(), row["fork_tick"].clone()), (json!(1), json!(t)));
    assert_eq!(history(&server, b, t, t + 150).len(), 151, "its rows stay");
    let body = format!(r#"{{"id":"late","key":"government.income_tax_rate","value":0.1,"run":{b}}}"#);
    let (status, late) = json_of(post(&server.url("/api/commands"), &body, Some(&server.token), None));
    assert_eq!((status, late["code"].clone()), (404, json!("unknown_run")), "{late}");
    assert_eq!(delete(&server, b).0, 404, "dropped once");
    assert_eq!(delete(&server, 1).0, 409, "the main run is not a branch");
    let (status, forked) = fork(&server, c, "{}");
    assert_eq!(status, 201, "a branch of a branch, in the freed slot: {forked}");
    assert_eq!(forked["parent"], c);

    // Bad forks are refused and change nothing.
    let (status, e) = fork(&server, 1, r#"{"set": {"government.income_tax": 0.3}}"#);
    assert_eq!(status, 422);
    assert!(e["error"].as_str().unwrap().contains("`government.income_tax`"), "{e}");
    let (status, e) = fork(&server, 1, r#"{"set": {"government.income_tax_rate": 3}}"#);
    assert_eq!(status, 422);
    assert!(e["error"].as_str().unwrap().contains("out of range"), "{e}");
    let (status, e) = fork(&server, 1, r#"{"set": {"sim.paused": true}}"#);
    assert_eq!(status, 422, "{e}");
    assert_eq!(fork(&server, 1, "{oops").0, 400);
    assert_eq!(fork(&server, 1, r#"{"sett": {}}"#).0, 400);
    assert_eq!(fork(&server, 99, "{}").0, 404);
    let url = server.url("/api/runs/1/fork");
    assert_eq!(post(&url, "{}", None, None).0, 401);
    assert_eq!(post(&url, "{}", Some(&server.token), Some("http://evil.example")).0, 403);
    let (_, runs) = json_of(get(&server.url("/api/runs")));
    assert_eq!(runs["live"].as_array().unwrap().len(), 5, "{runs}");

    let db = server.database();
    assert!(server.stop().success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let open: i64 = conn.query_row("SELECT count(*) FROM runs WHERE status <> 'finished'", [], |r| r.get(0)).unwrap();
    assert_eq!(open, 0, "every run, branches included, is closed at shutdown");
    let fork_checkpoints: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs r JOIN checkpoints k ON k.run_id = r.id AND k.tick = r.fork_tick",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fork_checkpoints, 5, "every branch has its state at the fork");
    drop(conn);
    // A branch replays from its state at the fork with its own commands.
    let out = common::output(&["replay", "--data-dir", "data", "--run", &c.to_string()], server.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("replays exactly"));
}

/// Issue 21, items 7 and 8: at 0.1 ticks/s a fork and a drop are answered between two
/// ticks, not at the next one; a simulation control sent to a branch is refused (its
/// registry keeps the state it has); a fork body that is not an object is a 400.
#[tokio::test(flavor = "multi_thread")]
async fn forks_are_prompt_at_any_pace_and_branches_take_no_controls() {
    let server =
        Server::start(&["--households", "200", "--firms", "20", "--tick-rate", "0.1", "--embedding-sample", "0"]);
    server.wait_ready();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, forked) = fork(&server, 1, "{}");
        assert_eq!(status, 201, "{forked}");
        assert!(started.elapsed() < Duration::from_secs(2), "a fork took {:?} at 0.1 ticks/s", started.elapsed());
        let b = forked["run_id"].as_i64().unwrap();

        for (key, value) in [("sim.paused", json!(true)), ("sim.tick_rate", json!(5)), ("sim.step", json!(1))] {
            let body = json!({"id": "x", "key": key, "value": value, "run": b}).to_string();
            let (status, answer) = json_of(post(&server.url("/api/commands"), &body, Some(&server.token), None));
            assert_eq!((status, answer["code"].clone()), (422, json!("not_for_branch")), "{key}: {answer}");
            assert!(answer["error"].as_str().unwrap().contains("simulation control"), "{answer}");
        }
        let (_, registry) = json_of(get(&server.url(&format!("/api/registry?run={b}"))));
        let paused = registry["params"].as_array().unwrap().iter().find(|p| p["key"] == "sim.paused").unwrap();
        assert_eq!(paused["value"], json!(false), "the branch is not paused: {paused}");

        let started = Instant::now();
        let (status, dropped) = delete(&server, b);
        assert_eq!(status, 200, "{dropped}");
        assert!(started.elapsed() < Duration::from_secs(2), "a drop took {:?} at 0.1 ticks/s", started.elapsed());
    }
    for body in ["[]", r#"[{"set": {}}, "x"]"#, r#"["x"]"#, "3", "null", r#""x""#] {
        let (status, e) = fork(&server, 1, body);
        assert_eq!(status, 400, "{body}: {e}");
    }
    // The main run takes them.
    let body = json!({"id": "p", "key": "sim.paused", "value": true}).to_string();
    assert_eq!(post(&server.url("/api/commands"), &body, Some(&server.token), None).0, 200);
}

/// Issue 21, item 4: forks cannot fill the disk. Forks past a few a second from one
/// client are refused (429, audited); the forks of one paused state store it once; a
/// dropped branch's checkpoints but its starting one are deleted.
#[tokio::test(flavor = "multi_thread")]
async fn forks_cannot_fill_the_disk() {
    let mut server = Server::start(&[
        "--households",
        "200",
        "--firms",
        "20",
        "--tick-rate",
        "200",
        "--embedding-sample",
        "0",
        "--checkpoint-every",
        "20",
    ]);
    server.wait_ready();
    // A branch that runs long enough to take checkpoints of its own, then is dropped.
    let (status, long) = fork(&server, 1, "{}");
    assert_eq!(status, 201, "{long}");
    let (l, fork_tick) = (long["run_id"].as_i64().unwrap(), long["tick"].as_i64().unwrap());
    wait_for(&server, l, fork_tick + 70);
    let db = server.database();
    let checkpoints_of = |run: i64| -> Vec<i64> {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn.prepare("SELECT tick FROM checkpoints WHERE run_id = ?1 ORDER BY tick").unwrap();
        stmt.query_map([run], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert!(checkpoints_of(l).len() >= 3, "the branch took checkpoints: {:?}", checkpoints_of(l));
    assert_eq!(delete(&server, l).0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoints_of(l) != [fork_tick] {
        assert!(Instant::now() < deadline, "the dropped branch keeps {:?}", checkpoints_of(l));
        std::thread::sleep(Duration::from_millis(20));
    }

    // Paused: fork/drop cycles as fast as they are answered, all of one state.
    let body = json!({"id": "p", "key": "sim.paused", "value": true}).to_string();
    assert_eq!(post(&server.url("/api/commands"), &body, Some(&server.token), None).0, 200);
    std::thread::sleep(Duration::from_millis(300));
    let (mut made, mut limited) = (Vec::new(), None);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let (status, answer) = fork(&server, 1, "{}");
        match status {
            201 => {
                let b = answer["run_id"].as_i64().unwrap();
                made.push(b);
                assert_eq!(delete(&server, b).0, 200);
            }
            429 => {
                assert_eq!(answer["code"], "rate_limited", "{answer}");
                assert!(answer["error"].as_str().unwrap().contains("too many forks"), "{answer}");
                limited.get_or_insert(answer);
            }
            _ => panic!("{status}: {answer}"),
        }
    }
    // One burst (the first branch took one of it) and a few a second after it.
    assert!(limited.is_some(), "no fork was refused in 3 s of cycles ({} made)", made.len());
    assert!((5..=20).contains(&made.len()), "{} forks in 3 s", made.len());
    // Forks in a row reach a 429 again at once (a slow machine may have refilled a token
    // or two since the loop), and the 429 says when to try again.
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let mut retry_after = None;
    for _ in 0..50 {
        let mut r = agent
            .post(&server.url("/api/runs/1/fork"))
            .header("authorization", &format!("Bearer {}", server.token))
            .send("{}")
            .unwrap();
        match r.status().as_u16() {
            201 => {
                let answer: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                let b = answer["run_id"].as_i64().unwrap();
                made.push(b);
                assert_eq!(delete(&server, b).0, 200);
            }
            429 => {
                retry_after = Some(r.headers().get("retry-after").is_some());
                break;
            }
            status => panic!("{status}"),
        }
    }
    assert_eq!(retry_after, Some(true), "forks in a row reach a 429 that says when to try again");

    assert!(server.stop().success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let shared: i64 = conn.query_row("SELECT count(*) FROM checkpoint_blobs", [], |r| r.get(0)).unwrap();
    // The long branch's starting state, and the paused one every later fork shared.
    assert_eq!(shared, 2, "{} forks of one paused state", made.len());
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs r JOIN checkpoints k ON k.run_id = r.id AND k.tick = r.fork_tick AND k.blob IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows as usize, made.len() + 1, "every branch has its state at the fork");
    let audited: i64 = conn
        .query_row("SELECT count(*) FROM commands WHERE code = 'rate_limited' AND key = '(fork of run 1)'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(audited >= 1, "a refused fork has its audit row");
    drop(conn);
    // A dropped branch still replays from its (shared) starting state.
    let out = common::output(&["replay", "--data-dir", "data", "--run", &l.to_string()], server.dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("replays exactly"));
}

/// Issue 24, item 3: a live effect forecast through the real server. It needs the token,
/// keeps within its caps and refuses a bad body, key or run in words; it runs in the
/// background while the live run ticks on, one at a time; once done it holds each
/// indicator's effect with its 95% interval and unit, and the per-tick bands from the
/// fork tick.
#[test]
fn a_live_forecast_runs_in_the_background_one_at_a_time_within_its_caps() {
    let mut server = Server::start(SMALL);
    server.wait_ready();
    let url = server.url("/api/runs/1/forecast");
    let token = Some(server.token.as_str());
    let tax = r#"{"set": {"government.income_tax_rate": 0.3}, "seeds": 20, "ticks": 1000}"#;
    assert_eq!(post(&url, tax, None, None).0, 401, "no token, no forecast");
    for (body, words) in [
        (r#"{"seeds": 51}"#, "between 2 and 50 seeds (asked 51)"),
        (r#"{"seeds": 1}"#, "between 2 and 50 seeds (asked 1)"),
        (r#"{"ticks": 2001}"#, "between 1 and 2000 ticks (asked 2001)"),
        ("[]", "not an object"),
        (r#"{"sed": 3}"#, "unknown field"),
    ] {
        let (status, answer) = json_of(post(&url, body, token, None));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(words), "{body}: {answer}");
    }
    let (status, answer) = json_of(post(&url, r#"{"set": {"government.income_tax": 0.3}}"#, token, None));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("government.income_tax"), "{answer}");
    assert_eq!(post(&server.url("/api/runs/99/forecast"), tax, token, None).0, 404);

    let before = json_of(get(&server.url("/api/snapshot"))).1["tick"].as_u64().unwrap();
    let (status, started) = json_of(post(&url, tax, token, None));
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_u64().unwrap();
    assert_eq!(started["state"], "running");
    let (status, busy) = json_of(post(&url, tax, token, None));
    assert_eq!((status, busy["code"].as_str()), (409, Some("busy")), "{busy}");
    assert!(busy["error"].as_str().unwrap().contains("one forecast at a time"), "{busy}");

    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let (status, s) = json_of(get(&server.url(&format!("/api/forecasts/{id}"))));
        assert_eq!(status, 200, "{s}");
        if s["state"] != "running" {
            break s;
        }
        assert!(Instant::now() < deadline, "the forecast did not finish in 120 s: {s}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["state"], "done", "{done}");
    let after = json_of(get(&server.url("/api/snapshot"))).1["tick"].as_u64().unwrap();
    assert!(after > before + 10, "the live run kept ticking: {before} → {after}");
    let forecast = &done["forecast"];
    assert_eq!(forecast["seeds"].as_array().unwrap().len(), 20);
    let fork_tick = forecast["fork_tick"].as_u64().unwrap();
    let unemployment =
        forecast["effects"].as_array().unwrap().iter().find(|e| e["indicator"] == "unemployment_rate").unwrap();
    assert_eq!(unemployment["unit"], "percentage points");
    let (effect, lo, hi) = (
        unemployment["effect"].as_f64().unwrap(),
        unemployment["lo"].as_f64().unwrap(),
        unemployment["hi"].as_f64().unwrap(),
    );
    assert!(lo < effect && effect < hi, "{unemployment}");
    for band in forecast["bands"].as_array().unwrap() {
        let points = band["points"].as_array().unwrap();
        assert_eq!(points.len(), 1000, "{}", band["indicator"]);
        assert_eq!(points[0]["tick"].as_u64(), Some(fork_tick));
    }
    assert_eq!(get(&server.url("/api/forecasts/99")).0, 404);
    assert!(server.stop().success());
}
