//! `watchtower replay` against a run recorded by a real server: interventions sent over
//! HTTP while the economy runs (including a pause, commands while paused and a step) must
//! replay bit for bit from the database alone, and a tampered row must be named.

mod common;

use std::time::{Duration, Instant};

use common::{Server, output, post};

fn command(server: &Server, id: &str, key: &str, value: &str) {
    let body = format!(r#"{{"id":"{id}","key":"{key}","value":{value}}}"#);
    let (status, reply) = post(&server.url("/api/commands"), &body, Some(&server.token), None);
    assert_eq!(status, 200, "{key}={value}: {reply}");
}

fn last_tick(server: &Server) -> i64 {
    let conn = rusqlite::Connection::open(server.database()).unwrap();
    conn.query_row("SELECT COALESCE(MAX(tick), -1) FROM ticks", [], |r| r.get(0)).unwrap()
}

fn wait_for_tick(server: &Server, tick: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while last_tick(server) < tick {
        assert!(Instant::now() < deadline, "tick {tick} not stored within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_steered_run_replays_exactly_and_a_tampered_one_is_caught() {
    let mut server = Server::start(&[
        "--households",
        "500",
        "--firms",
        "50",
        "--tick-rate",
        "200",
        "--embedding-sample",
        "0",
        "--set",
        "government.income_tax_rate=0.25",
    ]);
    server.wait_ready();
    wait_for_tick(&server, 20);
    command(&server, "tax", "government.income_tax_rate", "0.35");
    command(&server, "rate", "bank.policy_rate", "0.02");
    wait_for_tick(&server, last_tick(&server) + 15);
    command(&server, "pause", "sim.paused", "true");
    command(&server, "benefit", "government.unemployment_benefit_ratio", "0.6");
    command(&server, "step", "sim.step", "3");
    command(&server, "resume", "sim.paused", "false");
    wait_for_tick(&server, last_tick(&server) + 20);
    assert!(server.stop().success());

    let dir = server.dir.path();
    let out = output(&["replay", "--data-dir", "data"], dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("replays exactly"), "{stdout}");
    assert!(stdout.contains("with 6 commands re-applied"), "{stdout}");

    // Change one stored value by the smallest amount a float can move.
    let conn = rusqlite::Connection::open(server.database()).unwrap();
    let tick: i64 = conn.query_row("SELECT MAX(tick) / 2 FROM ticks", [], |r| r.get(0)).unwrap();
    let changed =
        conn.execute("UPDATE ticks SET unemployment_rate = unemployment_rate + 1e-12 WHERE tick = ?1", [tick]).unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let out = output(&["replay", "--data-dir", "data"], dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("tick {tick} differs first in `unemployment_rate`")), "{stderr}");
}
