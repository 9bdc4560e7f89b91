//! `watchtower serve` through real sockets: readiness, telemetry, commands, access,
//! isolation of clients, supervision, and the audit trail.

mod common;

use std::time::{Duration, Instant};

use common::{Server, get, post};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.expect("websocket connects").0
}

/// The next message of `kind` (skipping others), within `limit`.
async fn next_of(ws: &mut Socket, kind: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message =
            tokio::time::timeout(left, ws.next()).await.unwrap_or_else(|_| panic!("no {kind} within {limit:?}"));
        if let Some(Ok(Message::Text(text))) = message {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == kind {
                return v;
            }
        } else if message.is_none() {
            panic!("socket closed while waiting for {kind}");
        }
    }
}

async fn send(ws: &mut Socket, value: Value) {
    ws.send(Message::Text(value.to_string().into())).await.unwrap();
}

fn command(id: &str, key: &str, value: Value) -> Value {
    json!({"type": "command", "id": id, "key": key, "value": value})
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_waits_for_the_first_settled_tick() {
    // Paused from the start: genesis is done but no tick has settled, so not ready.
    let mut server = Server::start(&["--set", "sim.paused=true", "--households", "1000", "--firms", "100"]);
    let mut ws = connect(&server.ws_url(Some(&server.token))).await;
    assert_eq!(next_of(&mut ws, "status", Duration::from_secs(10)).await["state"], "initializing");
    assert_eq!(get(&server.url("/readyz")).0, 503);
    assert_eq!(get(&server.url("/api/snapshot")).0, 503);
    assert_eq!(get(&server.url("/healthz")).0, 200);
    send(&mut ws, command("go", "sim.paused", json!(false))).await;
    assert_eq!(next_of(&mut ws, "command_result", Duration::from_secs(5)).await["success"], true);
    let first = next_of(&mut ws, "telemetry", Duration::from_secs(5)).await;
    assert!(first["tick"].as_u64().is_some());
    assert_eq!(get(&server.url("/readyz")).0, 200);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_frames_with_increasing_ticks_and_no_lock_errors() {
    let mut server = Server::start(&[]);
    let mut ws = connect(&server.ws_url(None)).await;
    let mut last = None;
    let started = Instant::now();
    for _ in 0..100 {
        let frame = next_of(&mut ws, "telemetry", Duration::from_secs(5)).await;
        let tick = frame["tick"].as_u64().unwrap();
        assert!(last.is_none_or(|l| tick > l), "tick {tick} after {last:?}");
        assert_eq!(frame["indicators"]["money_drift"], 0);
        last = Some(tick);
    }
    let rate = 100.0 / started.elapsed().as_secs_f64();
    println!("100 frames at {rate:.1} frames/s");
    assert!(rate > 8.0, "{rate} frames/s");
    server.running.signal("TERM");
    assert!(server.running.wait(Duration::from_secs(10)).success());
    let log: Vec<String> = server.running.lines.try_iter().collect();
    assert!(!log.iter().any(|l| l.contains("locked")), "a lock error was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_queued_commands_apply_in_one_tick_in_order() {
    // The seeds' test_engine_command_consumption_atomicity through the real socket.
    let mut server = Server::start(&["--tick-rate", "2"]);
    server.wait_ready();
    let mut ws = connect(&server.ws_url(Some(&server.token))).await;
    next_of(&mut ws, "telemetry", Duration::from_secs(5)).await; // just after a tick
    for k in 1..=10 {
        send(&mut ws, command(&format!("c{k}"), "government.income_tax_rate", json!(k as f64 / 100.0))).await;
    }
    let mut ticks = Vec::new();
    for k in 1..=10 {
        let r = next_of(&mut ws, "command_result", Duration::from_secs(5)).await;
        assert_eq!(r["id"], format!("c{k}"), "answers come back in order");
        assert_eq!(r["success"], true);
        assert_eq!(r["new"], k as f64 / 100.0);
        ticks.push(r["applied_tick"].as_u64().unwrap());
    }
    assert!(ticks.iter().all(|&t| t == ticks[0]), "applied at ticks {ticks:?}");
    let (_, registry) = get(&server.url("/api/registry"));
    let registry: Value = serde_json::from_str(&registry).unwrap();
    let tax = registry["params"].as_array().unwrap().iter().find(|p| p["key"] == "government.income_tax_rate").unwrap();
    assert_eq!(tax["value"], 0.1);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_published_snapshot_is_the_state_it_was_captured_from() {
    // The seeds' test_telemetry_snapshot_integrity end to end: paused, the snapshot, the
    // last WebSocket frame and the row the store wrote for that tick are one and the same.
    let mut server = Server::start(&["--households", "2000", "--firms", "200"]);
    server.wait_ready();
    let mut ws = connect(&server.ws_url(Some(&server.token))).await;
    send(&mut ws, command("pause", "sim.paused", json!(true))).await;
    let paused_at = next_of(&mut ws, "command_result", Duration::from_secs(5)).await["applied_tick"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = get(&server.url("/api/snapshot"));
    assert_eq!(status, 200);
    let snapshot: Value = serde_json::from_str(&body).unwrap();
    // A pause applied at tick T's phase 0 takes effect once tick T is settled; one that
    // arrives between paced ticks is applied at once, in an idle cycle, and is recorded
    // at the next tick (T), which then never runs: the last settled tick is T - 1.
    let settled = snapshot["tick"].as_u64().unwrap();
    assert!(settled == paused_at || settled + 1 == paused_at, "paused at {paused_at}, last tick {settled}");
    let mut fresh = connect(&server.ws_url(None)).await;
    let mut frame = next_of(&mut fresh, "telemetry", Duration::from_secs(5)).await;
    frame.as_object_mut().unwrap().remove("type");
    assert!(frame.as_object_mut().unwrap().remove("published_at_ms").unwrap().as_u64().is_some());
    assert_eq!(frame.as_object_mut().unwrap().remove("run_id").unwrap(), 1, "frames say which run they are of");
    assert_eq!(frame, snapshot);
    let (_, history) = get(&server.url(&format!("/api/history?from={0}&to={0}", snapshot["tick"])));
    let history: Value = serde_json::from_str(&history).unwrap();
    let mut row = history["ticks"][0].clone();
    let tick = row.as_object_mut().unwrap().remove("tick").unwrap();
    assert_eq!(tick, snapshot["tick"]);
    assert_eq!(row, snapshot["indicators"], "the store holds exactly what was published");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_commands_are_answered_with_their_error_and_change_nothing() {
    let mut server = Server::start(&["--households", "1000", "--firms", "100"]);
    server.wait_ready();
    let before = get(&server.url("/api/registry")).1;
    let mut ws = connect(&server.ws_url(Some(&server.token))).await;
    let cases = [
        (command("a", "government.income_tax", json!(0.3)), "unknown_key", "did you mean `government.income_tax_rate`"),
        (command("b", "government.income_tax_rate", json!(1.5)), "out_of_range", "between 0 and 0.9"),
        (command("c", "government.income_tax_rate", json!("high")), "wrong_type", "takes a number"),
        (command("d", "government.income_tax_rate", json!("NaN")), "wrong_type", "not the string \"NaN\""),
        (command("e", "sim.paused", json!("yes")), "wrong_type", "true or false"),
        (command("f", "firms.sim_reduction", json!(true)), "not_live", "before the run starts"),
    ];
    for (c, _, _) in &cases {
        send(&mut ws, c.clone()).await;
    }
    for (c, code, needle) in &cases {
        let r = next_of(&mut ws, "command_result", Duration::from_secs(5)).await;
        assert_eq!(r["id"], c["id"]);
        assert_eq!(r["success"], false);
        assert_eq!(r["code"], *code);
        assert!(r["error"].as_str().unwrap().contains(needle), "{r}");
    }
    // Not a command at all: an error, and the socket stays open.
    ws.send(Message::Text("{not json".into())).await.unwrap();
    let e = next_of(&mut ws, "error", Duration::from_secs(5)).await;
    assert_eq!(e["code"], "malformed");
    send(&mut ws, json!({"type": "subscribe", "topic": "x"})).await;
    next_of(&mut ws, "error", Duration::from_secs(5)).await;
    send(&mut ws, json!({"type": "command", "key": "sim.paused", "value": false})).await;
    assert!(next_of(&mut ws, "error", Duration::from_secs(5)).await["message"].as_str().unwrap().contains("id"));
    send(&mut ws, command("ok", "sim.paused", json!(false))).await;
    assert_eq!(next_of(&mut ws, "command_result", Duration::from_secs(5)).await["success"], true);
    // Over HTTP: same validation, with status codes.
    let (status, body) = post(
        &server.url("/api/commands"),
        r#"{"id":"h","key":"bank.policy_rate","value":9}"#,
        Some(&server.token),
        None,
    );
    assert_eq!(status, 422, "{body}");
    let (status, _) = post(&server.url("/api/commands"), "{oops", Some(&server.token), None);
    assert_eq!(status, 400);
    let mut after: Value = serde_json::from_str(&get(&server.url("/api/registry")).1).unwrap();
    let mut before: Value = serde_json::from_str(&before).unwrap();
    after["version"] = json!(0);
    before["version"] = json!(0);
    assert_eq!(after, before, "nothing changed (sim.paused=false is its default)");
    // A frame over 64 KiB is refused: the server closes the socket.
    let huge = command("big", "sim.paused", json!("x".repeat(70 * 1024)));
    let _ = ws.send(Message::Text(huge.to_string().into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                _ => {}
            }
        }
    })
    .await
    .expect("the socket is closed");
    println!("oversized frame: closed with {closed:?}");
    assert!(get(&server.url("/healthz")).0 == 200, "and the server lives on");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_no_command_and_foreign_origins_are_refused() {
    let mut server = Server::start(&["--households", "1000", "--firms", "100"]);
    server.wait_ready();
    // WebSocket without the token: telemetry yes, commands no.
    let mut ws = connect(&server.ws_url(None)).await;
    assert_eq!(next_of(&mut ws, "hello", Duration::from_secs(5)).await["authorized"], false);
    next_of(&mut ws, "telemetry", Duration::from_secs(5)).await;
    send(&mut ws, command("x", "government.income_tax_rate", json!(0.5))).await;
    let r = next_of(&mut ws, "command_result", Duration::from_secs(5)).await;
    assert_eq!((r["success"].clone(), r["code"].clone()), (json!(false), json!("unauthorized")));
    // A wrong token is no token.
    let mut ws = connect(&server.ws_url(Some("not-the-token"))).await;
    send(&mut ws, command("y", "government.income_tax_rate", json!(0.5))).await;
    assert_eq!(next_of(&mut ws, "command_result", Duration::from_secs(5)).await["code"], "unauthorized");
    // HTTP without, or with a wrong, bearer token.
    let body = r#"{"id":"z","key":"government.income_tax_rate","value":0.5}"#;
    assert_eq!(post(&server.url("/api/commands"), body, None, None).0, 401);
    assert_eq!(post(&server.url("/api/commands"), body, Some("nope-nope"), None).0, 401);
    // A page on another site cannot open the socket, nor post (even with the token).
    let mut request = server.ws_url(Some(&server.token)).into_client_request().unwrap();
    request.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("foreign origin was not refused: {:?}", other.map(|_| ())),
    }
    assert_eq!(post(&server.url("/api/commands"), body, Some(&server.token), Some("http://evil.example")).0, 403);
    // The server's own origin is fine.
    let mut request = server.ws_url(Some(&server.token)).into_client_request().unwrap();
    request.headers_mut().insert("origin", format!("http://localhost:{}", server.port).parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());
    let registry: Value = serde_json::from_str(&get(&server.url("/api/registry")).1).unwrap();
    let tax = registry["params"].as_array().unwrap().iter().find(|p| p["key"] == "government.income_tax_rate").unwrap();
    assert_eq!(tax["value"], 0.2, "no refused command changed anything");
    // Every refusal is in the audit log.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let audit: Value = serde_json::from_str(&get(&server.url("/api/audit?limit=20")).1).unwrap();
    let refused: Vec<&Value> =
        audit["commands"].as_array().unwrap().iter().filter(|c| c["code"] == "unauthorized").collect();
    assert_eq!(refused.len(), 4, "{audit}");
    // Each says who sent it: the transport and the peer's loopback address.
    let mut sources: Vec<&str> =
        refused.iter().map(|c| c["source"].as_str().unwrap().split(' ').next().unwrap()).collect();
    sources.sort();
    assert_eq!(sources, ["http", "http", "websocket", "websocket"], "{audit}");
    assert!(refused.iter().all(|c| c["source"].as_str().unwrap().contains(" 127.0.0.1:")), "{audit}");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_commands_fills_the_queue_without_harm() {
    // One tick a second: the queue of 100 fills long before phase 0 drains it.
    let mut server = Server::start(&["--tick-rate", "1", "--households", "1000", "--firms", "100"]);
    server.wait_ready();
    let mut ws = connect(&server.ws_url(Some(&server.token))).await;
    for k in 0..300 {
        send(&mut ws, command(&format!("f{k}"), "sim.tick_rate", json!(1))).await;
    }
    let (mut full, mut applied) = (0, 0);
    for _ in 0..300 {
        let r = next_of(&mut ws, "command_result", Duration::from_secs(10)).await;
        match (r["success"].as_bool().unwrap(), r["code"].as_str()) {
            (true, _) => applied += 1,
            (false, Some("queue_full")) => {
                assert!(r["error"].as_str().unwrap().starts_with("queue full"));
                full += 1
            }
            other => panic!("{other:?}: {r}"),
        }
    }
    println!("flood of 300: {applied} applied, {full} refused with `queue full`");
    assert!(full > 0 && applied >= 100, "{applied} applied, {full} full");
    assert_eq!(get(&server.url("/healthz")).0, 200);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_client_does_not_delay_a_fast_one() {
    let mut server = Server::start(&[]);
    server.wait_ready();
    // The slow client connects and then stops reading altogether.
    let _slow = connect(&server.ws_url(None)).await;
    let mut fast = connect(&server.ws_url(None)).await;
    next_of(&mut fast, "telemetry", Duration::from_secs(5)).await;
    let started = Instant::now();
    let mut frames = 0;
    let mut last = 0;
    while started.elapsed() < Duration::from_secs(3) {
        // The rate below is the check; a single late frame (this test shares two cores
        // with nine running servers) is not a slow client's doing.
        let f = next_of(&mut fast, "telemetry", Duration::from_secs(2)).await;
        let tick = f["tick"].as_u64().unwrap();
        assert!(tick > last);
        last = tick;
        frames += 1;
    }
    let rate = frames as f64 / started.elapsed().as_secs_f64();
    println!("fast client: {rate:.1} frames/s beside a client that reads nothing");
    assert!(rate > 8.0, "{rate}");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_is_restarted_when_its_task_dies_and_the_engine_never_notices() {
    // The injected panic's backtrace, when RUST_BACKTRACE asks for one, takes the
    // panicking task most of a second to print on a loaded machine: not what is measured.
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir, &["--households", "1000", "--firms", "100"], &[("RUST_BACKTRACE", "0")]);
    server.wait_ready();
    let tick_before: Value = serde_json::from_str(&get(&server.url("/api/snapshot")).1).unwrap();
    let (status, _) = post(&server.url("/api/debug/crash"), "", Some(&server.token), None);
    assert_eq!(status, 202);
    let crashed = Instant::now();
    std::thread::sleep(Duration::from_millis(50));
    while get(&server.url("/healthz")).0 != 200 {
        assert!(crashed.elapsed() < Duration::from_secs(1), "not restarted within a second");
        std::thread::sleep(Duration::from_millis(10));
    }
    let back = crashed.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let tick_after: Value = serde_json::from_str(&get(&server.url("/api/snapshot")).1).unwrap();
    assert!(tick_after["tick"].as_u64() > tick_before["tick"].as_u64(), "the engine kept ticking");
    let db = server.database();
    assert!(server.stop().success());
    let ticks = common::ticks(&db, 1);
    assert_eq!(ticks, (0..ticks.len() as i64).collect::<Vec<_>>(), "no tick lost while the server was down");
    println!("server back after {back:?}; {} ticks, none lost", ticks.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_failure_stops_the_process_with_the_error() {
    // A setting that spirals out of what integer money can hold (docs/MODEL.md §4).
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(
        dir,
        &[
            "--tick-rate",
            "0",
            "--households",
            "1000",
            "--firms",
            "100",
            "--set",
            "firms.wage_indexation=2",
            "--set",
            "households.expectation_weight_measured=1",
        ],
    );
    let status = server.running.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1));
    let log: Vec<String> = server.running.lines.try_iter().collect();
    let error = log.iter().find(|l| l.starts_with("error:")).expect("an error line");
    assert!(error.contains("cannot be booked"), "{error}");
    let (status, _) = common::run_status(&server.database(), 1);
    assert_eq!(status, "failed");
    assert!(common::lock_is_free(&server.dir.path().join("data")));
}
