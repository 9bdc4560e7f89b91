//! What a stranger, a slip of the operator or a heavy reader can do to a live server, and
//! must not (issue 13), tried on a real `watchtower serve` over real sockets and a real
//! SQLite file:
//!
//! - heavy history readers neither blow up memory, nor starve telemetry, `/healthz` or
//!   `/metrics`, nor get a 500; parameters that do not fit are refused by name;
//! - idle and half-open connections are closed, and connections past the cap refused;
//! - a request addressed to a foreign `Host` (DNS rebinding) is refused;
//! - no command overwrites the data directory's files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Running, Server, get, output};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A small economy, quick to run and to serve.
const SMALL: [&str; 6] = ["--households", "200", "--firms", "20", "--embedding-sample", "0"];

/// A directory holding run 1, `ticks` long, made by `watchtower run`.
fn recorded(ticks: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ticks = ticks.to_string();
    let mut args = vec!["run", "--ticks", &ticks];
    args.extend(&SMALL[..4]);
    let o = output(&args, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

/// Peak resident memory of `pid` so far, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// `(status, body)` of a GET whose body may be large (ureq stops at 10 MB by default).
fn get_large(url: &str) -> (u16, String) {
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    match agent.get(url).call() {
        Ok(mut r) => {
            let body = r.body_mut().with_config().limit(1 << 30).read_to_string();
            (r.status().as_u16(), body.unwrap_or_else(|e| format!("unreadable body: {e}")))
        }
        Err(e) => (0, e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// 5. Heavy readers cannot hurt the live economy or the server.
// ---------------------------------------------------------------------------------------

#[test]
fn history_parameters_that_do_not_fit_are_refused_by_name() {
    let mut server = Server::start(&SMALL);
    server.wait_ready();
    for (query, name) in [
        ("from=18446744073709551615", "`from`"),
        ("from=-1", "`from`"),
        ("to=9223372036854775808", "`to`"),
        ("to=ten", "`to`"),
        ("limit=0", "`limit`"),
        ("limit=1e9", "`limit`"),
        ("limit=18446744073709551615", "`limit`"),
        ("limit=9223372036854775808", "`limit`"),
        ("run=0", "`run`"),
        ("run=99999999999999999999", "`run`"),
    ] {
        let (status, body) = get(&server.url(&format!("/api/history?{query}")));
        assert_eq!(status, 400, "{query}: {body}");
        let error = serde_json::from_str::<Value>(&body).unwrap()["error"].as_str().unwrap().to_string();
        assert!(error.starts_with(name) && error.contains("does not fit"), "{query}: {error}");
    }
    for query in ["limit=-5", "run=x", "run=1,x", "run=1,,2"] {
        assert_eq!(get(&server.url(&format!("/api/audit?{query}"))).0, 400, "{query}");
    }
    // The largest tick SQLite holds fits, and there is nothing there (it once wrapped round
    // to -1 and answered ticks 0, 1, 2).
    let (status, body) = get(&server.url("/api/history?from=9223372036854775807"));
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["ticks"], serde_json::json!([]), "{body}");
    assert!(server.stop().success());
}

#[test]
fn history_comes_in_pages_that_say_where_the_next_begins() {
    let dir = recorded(3_000);
    let mut server = Server::start_in(dir, &SMALL);
    server.wait_ready();
    // Page through run 1 as a client of `next_from` would.
    let (mut from, mut ticks, mut pages) = (Some(0), Vec::new(), 0);
    while let Some(f) = from {
        let (status, body) = get(&server.url(&format!("/api/history?run=1&from={f}&limit=1200")));
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page["run"], 1);
        ticks.extend(page["ticks"].as_array().unwrap().iter().map(|t| t["tick"].as_u64().unwrap()));
        from = page["next_from"].as_u64();
        pages += 1;
        assert!(pages <= 3, "{pages} pages");
    }
    assert_eq!(ticks, (0..3_000).collect::<Vec<_>>());
    // The dashboard's requests (from, to, limit = the span) come back whole, and a row
    // carries every indicator.
    let (_, body) = get(&server.url("/api/history?run=1&from=1000&to=1999&limit=1000"));
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["ticks"].as_array().unwrap().len(), 1_000);
    assert_eq!(page["next_from"], Value::Null);
    let row = &page["ticks"][0];
    assert_eq!(row["tick"], 1000);
    assert_eq!(row["money_drift"], 0);
    assert!(row["gdp"].is_f64() && row["unemployment_rate"].is_f64(), "{row}");
    // Without `from`: the newest `limit` ticks.
    let (_, body) = get(&server.url("/api/history?run=1&limit=10"));
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["ticks"][0]["tick"], 2_990);
    assert_eq!(page["ticks"][9]["tick"], 2_999);
    assert!(server.stop().success());
}

/// Twelve clients read a 10,000-tick history over and over, as fast as they can, while a
/// WebSocket client watches telemetry and another polls `/healthz` and `/metrics`:
/// memory stays bounded, telemetry and health stay on time, nobody gets a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_readers_leave_memory_telemetry_and_health_alone() {
    let dir = recorded(10_000);
    let mut server = Server::start_in(dir, &SMALL);
    server.wait_ready();
    let pid = server.running.child.id();
    let baseline = peak_rss_mib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, busy, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let failures = Arc::new(Mutex::new(Vec::new()));

    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url(None)).await.unwrap();
    let readers: Vec<_> = (0..12)
        .map(|_| {
            let url = server.url("/api/history?run=1&from=0&limit=100000");
            let (stop, ok, busy, bytes, failures) =
                (stop.clone(), ok.clone(), busy.clone(), bytes.clone(), failures.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match get_large(&url) {
                        (200, body) => {
                            // Whole: every row, and the closing (parsing 12 MB in a debug
                            // build would slow the readers more than the server does).
                            assert!(body.trim_end().ends_with('}'), "cut off");
                            assert_eq!(body.matches("\"tick\":").count(), 10_000);
                            bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        (503, _) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        (status, body) => failures.lock().unwrap().push(format!("{status}: {body:.200}")),
                    }
                }
            })
        })
        .collect();
    let health = {
        let urls = [server.url("/healthz"), server.url("/metrics")];
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                assert_eq!(get(&urls[k % 2]).0, 200, "{}", urls[k % 2]);
                slowest = slowest.max(started.elapsed());
                k += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            slowest
        })
    };

    // Watch telemetry for four seconds while they read.
    let watched = Instant::now();
    let (largest_gap, frames) =
        telemetry_gaps(&mut ws, Duration::from_secs(5), || watched.elapsed() < Duration::from_secs(4)).await;
    let peak = peak_rss_mib(pid);
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    let slowest_health = health.join().unwrap();
    let (ok, busy, mib) =
        (ok.load(Ordering::Relaxed), busy.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed) as f64 / 1048576.0);
    println!(
        "12 readers of 10,000 ticks for 4 s: {ok} whole answers ({mib:.0} MiB), {busy} told to retry (503); \
         peak RSS {baseline:.0} -> {peak:.0} MiB; {frames} frames, largest gap {largest_gap:?}; \
         slowest /healthz or /metrics {slowest_health:?}"
    );
    assert!(failures.lock().unwrap().is_empty(), "{:?}", failures.lock().unwrap());
    assert!(ok >= 12, "the readers were served: {ok}");
    // Each whole answer is ~12 MB of JSON; built in memory, twelve at once took gigabytes.
    assert!(peak - baseline < 150.0, "peak RSS grew from {baseline:.0} to {peak:.0} MiB");
    assert!(largest_gap < Duration::from_millis(1_500), "telemetry stalled for {largest_gap:?}");
    assert!(slowest_health < Duration::from_millis(1_000), "health took {slowest_health:?}");
    assert!(server.stop().success());
}

/// The figures of docs/GUARANTEES.md: six clients each read the whole history of a
/// 100,000-tick run at once, while a WebSocket client times the gaps between telemetry
/// frames. Peak memory of the server and the largest gap are printed. Long (the run takes
/// a minute); take it from a release build:
///
/// ```sh
/// cargo build --release -p watchtower
/// WATCHTOWER_BIN=target/release/watchtower cargo test -p watchtower --test hardening \
///     six_readers_of_a_hundred_thousand_ticks -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute or more: run with --ignored, from a release build"]
async fn six_readers_of_a_hundred_thousand_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(&["run", "--ticks", "100000", "--households", "1000", "--firms", "100"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut server = Server::start_in(dir, &["--households", "1000", "--firms", "100", "--embedding-sample", "0"]);
    server.wait_ready();
    let pid = server.running.child.id();
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url(None)).await.unwrap();
    // Settle: a few frames before the readers start.
    for _ in 0..5 {
        ws.next().await.unwrap().unwrap();
    }
    let baseline = peak_rss_mib(pid);
    let started = Instant::now();
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let url = server.url("/api/history?run=1&from=0&limit=100000");
            std::thread::spawn(move || {
                let agent =
                    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
                let mut response = agent.get(&url).call().expect("history answers");
                let status = response.status().as_u16();
                let mut body = response.body_mut().with_config().limit(1 << 32).reader();
                // Count and drop the bytes (the client must not be the slow part), keeping
                // the end to check that the answer is whole.
                let mut buffer = vec![0u8; 1 << 16];
                let (mut counted, mut tail) = (0u64, Vec::new());
                loop {
                    match body.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => {
                            counted += n as u64;
                            tail.extend_from_slice(&buffer[..n]);
                            tail.drain(..tail.len().saturating_sub(64));
                        }
                        Err(e) => panic!("history body: {e}"),
                    }
                }
                let whole = String::from_utf8_lossy(&tail).trim_end().ends_with('}');
                (status, counted, whole, started.elapsed())
            })
        })
        .collect();
    let (largest_gap, frames) =
        telemetry_gaps(&mut ws, Duration::from_secs(30), || readers.iter().any(|r| !r.is_finished())).await;
    let peak = peak_rss_mib(pid);
    for reader in readers {
        let (status, bytes, whole, took) = reader.join().unwrap();
        println!("reader: {status}, {:.0} MiB, whole: {whole}, done after {took:.1?}", bytes as f64 / 1048576.0);
    }
    println!(
        "six readers of 100,000 ticks: server peak RSS {baseline:.0} -> {peak:.0} MiB; \
         {frames} telemetry frames, largest gap {largest_gap:?}; all done in {:.1?}",
        started.elapsed()
    );
    assert!(server.stop().success());
}

// ---------------------------------------------------------------------------------------
// 6. Idle and half-open connections are closed.
// ---------------------------------------------------------------------------------------

/// Reads `ws` while `go()` says so and returns the largest gap between two telemetry
/// frames and how many came; a silence longer than `limit`, or a closed socket, fails.
async fn telemetry_gaps<S>(ws: &mut S, limit: Duration, mut go: impl FnMut() -> bool) -> (Duration, usize)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let (mut last, mut largest_gap, mut frames) = (Instant::now(), Duration::ZERO, 0);
    while go() {
        match tokio::time::timeout(limit, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"telemetry\"") => {
                largest_gap = largest_gap.max(last.elapsed());
                last = Instant::now();
                frames += 1;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("telemetry stopped: {other:?}"),
        }
    }
    (largest_gap, frames)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Whether the server closed `stream` (EOF or reset, after whatever it wrote) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_closed_and_connections_past_the_cap_refused() {
    let timeouts = ["--max-connections", "30", "--header-timeout", "2", "--idle-timeout", "3"];
    let mut server = Server::start(&[&SMALL[..], &timeouts].concat());
    server.wait_ready();
    // A WebSocket client receiving telemetry is not idle: it outlives both timeouts below.
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url(None)).await.unwrap();
    // 29 sockets that never send a byte fill the cap with the WebSocket.
    let mut idle: Vec<TcpStream> = (0..29).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // One more is refused at once: a 503, then closed.
    let mut over = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let refused_at = Instant::now();
    over.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut answer = String::new();
    let _ = over.read_to_string(&mut answer);
    let refused_in = refused_at.elapsed();
    // (Well before the header timeout, which would close it too, but without a 503.)
    assert!(answer.starts_with("HTTP/1.1 503"), "not refused: {answer:?} after {refused_in:?}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert!(refused_in < Duration::from_secs(1), "not refused promptly: {refused_in:?}");
    // The idle ones are closed once the header timeout runs out (2 s)...
    let started = Instant::now();
    for stream in &mut idle {
        assert!(closed_within(stream, Duration::from_secs(4)), "an idle socket stayed open");
    }
    println!("cap of 30: the 31st refused in {refused_in:?}; idle sockets closed after {:?}", started.elapsed());
    // ...and so is one that sends its request a byte at a time.
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let dripping = Instant::now();
    let mut closed = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(closed || closed_within(&mut slow, Duration::from_secs(1)), "a slowloris kept its socket");
    assert!(dripping.elapsed() < Duration::from_secs(4), "{:?}", dripping.elapsed());
    // Room again: /healthz answers.
    assert_eq!(get(&server.url("/healthz")).0, 200);
    // The WebSocket is still there, still receiving.
    let started = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"telemetry\"") => break,
            Ok(Some(Ok(_))) => {}
            other => panic!("the WebSocket was closed: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let metrics = get(&server.url("/metrics")).1;
    assert!(metrics.contains("watchtower_connections_refused_total 1"), "{metrics}");
    assert!(server.stop().success());
}

/// A client that stops reading in the middle of a long response holds its socket only
/// until the idle timeout: the server closes it and the rest is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_is_cut_off_after_the_idle_timeout() {
    let dir = recorded(10_000);
    let mut server = Server::start_in(dir, &[&SMALL[..], &["--idle-timeout", "1"]].concat());
    server.wait_ready();
    // A small receive buffer, so the ~12 MB answer cannot sit in the kernel's buffers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(([127, 0, 0, 1], server.port).into()).await.unwrap();
    let request = "GET /api/history?run=1&from=0&limit=100000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await; // read nothing for three idle timeouts
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut received))
            .await
            .expect("the server closed the connection");
    let text = String::from_utf8_lossy(&received);
    println!("stalled reader: {} bytes before the server closed ({read:?})", received.len());
    assert!(text.starts_with("HTTP/1.1 200"), "{:.100}", text);
    assert!(!text.trim_end().ends_with('}') && received.len() < 8_000_000, "the whole answer was sent");
    // The server is none the worse.
    assert_eq!(get(&server.url("/api/history?run=1&limit=5")).0, 200);
    assert!(server.stop().success());
}

/// With 1,000 idle sockets open (below the default cap, inside the header timeout),
/// `/healthz` answers at once.
#[test]
fn health_answers_beside_a_thousand_idle_sockets() {
    let _ = rlimit::increase_nofile_limit(4_096);
    let mut server = Server::start(&SMALL);
    server.wait_ready();
    let idle: Vec<TcpStream> = (0..1_000).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let mut latencies: Vec<Duration> = (0..300)
        .map(|_| {
            let started = Instant::now();
            let status = agent.get(&server.url("/healthz")).call().map(|r| r.status().as_u16()).unwrap_or(0);
            assert_eq!(status, 200);
            started.elapsed()
        })
        .collect();
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    println!("/healthz beside 1,000 idle sockets: p50 {p50:?}, p99 {p99:?} (300 requests, one keep-alive connection)");
    let metrics = get(&server.url("/metrics")).1;
    let open: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("watchtower_connections_open "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(open >= 1_000, "{open} connections open:\n{metrics}");
    assert!(p99 < Duration::from_millis(250), "p99 {p99:?}");
    drop(idle);
    assert!(server.stop().success());
}

// ---------------------------------------------------------------------------------------
// 7. No DNS rebinding.
// ---------------------------------------------------------------------------------------

/// Sends `request` as it is on a fresh connection and reads until the server closes it
/// (the request should say `Connection: close`); `(status, whole response)`. Status 0:
/// no status line came back.
fn raw(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A GET of `path` addressed to `host`.
fn get_as(port: u16, host: &str, path: &str) -> (u16, String) {
    raw(port, &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_addressed_to_a_foreign_host_are_refused() {
    let allow = ["--allow-host", "lab.example", "--allow-origin", "http://dash.example:9000"];
    let mut server = Server::start(&[&SMALL[..], &allow].concat());
    server.wait_ready();
    let port = server.port;
    let foreign = [format!("evil.example:{port}"), "evil.example".into(), format!("localhost.evil.example:{port}")];
    for path in ["/api/audit", "/api/history", "/api/registry", "/", "/healthz", "/assets/app.js"] {
        for host in &foreign {
            let (status, response) = get_as(port, host, path);
            assert_eq!(status, 421, "{host}{path}: {response}");
            assert!(
                response.contains("does not answer to the host") && response.contains("--allow-host"),
                "{response}"
            );
        }
        for host in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            "lab.example".into(),
            format!("dash.example:{port}"),
        ] {
            assert_eq!(get_as(port, &host, path).0, 200, "{host}{path}");
        }
    }
    // The WebSocket too.
    for (host, allowed) in [(format!("evil.example:{port}"), false), (format!("localhost:{port}"), true)] {
        let mut request = server.ws_url(None).into_client_request().unwrap();
        request.headers_mut().insert("host", host.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => assert!(allowed, "{host}: the WebSocket opened"),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert!(!allowed, "{host}: {}", response.status());
                assert_eq!(response.status(), 421);
            }
            Err(e) => panic!("{host}: {e}"),
        }
    }
    // An absolute URI's host is the one that counts; HTTP/1.0 without a Host passes.
    let absolute = format!(
        "GET http://evil.example:{port}/api/audit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(port, &absolute).0, 421);
    assert_eq!(raw(port, "GET /api/registry HTTP/1.0\r\n\r\n").0, 200);
    assert!(get(&server.url("/metrics")).1.contains("watchtower_hosts_refused_total"));
    assert!(server.stop().success());
}

// ---------------------------------------------------------------------------------------
// 8. No command overwrites the data directory.
// ---------------------------------------------------------------------------------------

/// Runs `args` in `dir`, which must be refused naming `file`.
fn refused(args: &[&str], dir: &Path, file: &str) {
    let o = output(args, dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?} was not refused: {stderr}");
    assert!(stderr.contains("refusing to write") && stderr.contains(file), "{args:?}: {stderr}");
}

#[test]
fn no_command_overwrites_the_data_directory() {
    let dir = recorded(30);
    let data = dir.path().join("data");
    let db = data.join("watchtower.db");
    let before = std::fs::read(&db).unwrap();
    std::os::unix::fs::symlink(&db, dir.path().join("link.csv")).unwrap();
    std::os::unix::fs::symlink(data.join("watchtower.db-wal"), dir.path().join("later.csv")).unwrap();
    std::fs::hard_link(&db, dir.path().join("hard.csv")).unwrap();
    for (out, file) in [
        ("data/watchtower.db", "watchtower.db"),
        ("./data/../data/watchtower.db", "watchtower.db"),
        ("data/watchtower.db-wal", "watchtower.db-wal"),
        ("data/watchtower.db-shm", "watchtower.db-shm"),
        ("data/simulation.lock", "simulation.lock"),
        ("link.csv", "watchtower.db"),
        ("later.csv", "watchtower.db-wal"),
        ("hard.csv", "watchtower.db"),
    ] {
        refused(&["export", "--out", out], dir.path(), file);
        refused(&["run", "--ticks", "5", "--format", "jsonl", "--out", out], dir.path(), file);
        refused(&["run", "--ticks", "5", "--no-store", "--format", "csv", "--out", out], dir.path(), file);
    }
    // Another directory's database is refused too, by what it is.
    refused(&["export", "--data-dir", "elsewhere", "--out", "data/watchtower.db"], dir.path(), "SQLite database");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
    assert!(!data.join("watchtower.db-wal").exists() && !data.join("watchtower.db-shm").exists());
    assert_eq!(common::ticks(&db, 1).len(), 30);
    assert_eq!(common::integrity(&db), "ok");

    // While `serve` records run 2 in the same directory, `export --out` the live database.
    let mut server = Server::start_in(dir, &SMALL);
    server.wait_ready();
    refused(&["export", "--out", "data/watchtower.db"], server.dir.path(), "watchtower.db");
    let (_, snapshot) = get(&server.url("/api/snapshot"));
    let tick_then = serde_json::from_str::<Value>(&snapshot).unwrap()["tick"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let db = server.database();
    assert!(server.stop().success());
    assert_eq!(common::integrity(&db), "ok");
    assert_eq!(common::ticks(&db, 1).len(), 30, "run 1 intact");
    let run2 = common::ticks(&db, 2);
    assert!(run2.len() as u64 > tick_then, "run 2 recorded on: {} ticks", run2.len());
    assert_eq!(run2, (0..run2.len() as i64).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// 9. No output file destroys any data directory, and none is ever left half written.
// ---------------------------------------------------------------------------------------

#[test]
fn no_output_file_destroys_another_live_data_directory() {
    let mut server = Server::start_in(recorded(30), &SMALL);
    server.wait_ready();
    let live = server.dir.path().join("data");
    let elsewhere = tempfile::tempdir().unwrap();
    let at = elsewhere.path();
    // Another command, with its own data directory, aims its output at the live one's files.
    for file in ["watchtower.db-wal", "watchtower.db-shm", "simulation.lock", "watchtower.db"] {
        let target = live.join(file);
        let target = target.to_str().unwrap();
        refused(&["export", "--data-dir", "mine", "--out", target, "--force"], at, file);
        refused(&["run", "--ticks", "5", "--no-store", "--format", "csv", "--out", target, "--force"], at, file);
    }
    // A copy of the live WAL under an innocent name is refused by what it holds.
    let wal = std::fs::read(live.join("watchtower.db-wal")).unwrap();
    if wal.len() >= 32 {
        std::fs::write(at.join("copy.csv"), &wal).unwrap();
        refused(&["export", "--data-dir", "mine", "--out", "copy.csv", "--force"], at, "write-ahead log");
    }
    let (_, snapshot) = get(&server.url("/api/snapshot"));
    let tick_then = serde_json::from_str::<Value>(&snapshot).unwrap()["tick"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let db = server.database();
    assert!(server.stop().success(), "the live server survived");
    assert_eq!(common::integrity(&db), "ok");
    assert_eq!(common::ticks(&db, 1).len(), 30, "run 1 intact");
    assert!(common::ticks(&db, 2).len() as u64 > tick_then, "run 2 recorded on");
}

/// The temporary files an output is written through, beside it in `dir`.
fn temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

#[test]
fn an_output_is_replaced_whole_or_not_at_all_and_only_with_force() {
    let dir = recorded(30);
    let d = dir.path();
    std::fs::write(d.join("t.csv"), b"before\n").unwrap();
    // Without --force an existing file is refused, saying how to replace it.
    let o = output(&["export", "--out", "t.csv"], d);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing to write t.csv") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(d.join("t.csv")).unwrap(), b"before\n");

    // A run killed while it writes leaves the old file whole.
    let args = ["run", "--ticks", "100000000", "--no-store", "--households", "200", "--firms", "20"];
    let mut killed = Running::spawn(&[&args[..], &["--out", "t.csv", "--force"]].concat(), d);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !temporaries(d).iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0)) {
        assert!(Instant::now() < deadline, "the run wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.signal("KILL");
    killed.wait(Duration::from_secs(10));
    assert_eq!(std::fs::read(d.join("t.csv")).unwrap(), b"before\n", "a killed run truncated its --out");
    for tmp in temporaries(d) {
        std::fs::remove_file(tmp).unwrap();
    }

    // Stopped by a signal, the run puts its table, complete, in place.
    let mut stopped = Running::spawn(&[&args[..], &["--out", "t.csv", "--force"]].concat(), d);
    let deadline = Instant::now() + Duration::from_secs(60);
    while temporaries(d).iter().all(|p| std::fs::metadata(p).map_or(0, |m| m.len()) == 0) {
        assert!(Instant::now() < deadline, "the run wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    stopped.signal("INT");
    assert!(stopped.wait(Duration::from_secs(30)).success());
    let table = std::fs::read_to_string(d.join("t.csv")).unwrap();
    assert!(table.starts_with("tick,") && table.ends_with('\n') && table.lines().count() > 2, "{table:.200}");
    assert!(temporaries(d).is_empty(), "a temporary file was left: {:?}", temporaries(d));

    // With --force the export replaces it.
    let o = output(&["export", "--out", "t.csv", "--force"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(d.join("t.csv")).unwrap().lines().count(), 31);
}

#[test]
fn experiment_outputs_are_refused_before_the_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("g.yaml"), "name: g\nfirms: 20\nhouseholds: 200\nticks: 50\nseeds: 1\n").unwrap();
    let refused_early = |args: &[&str], says: &str| {
        let o = output(args, d);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!d.join("data").exists(), "{args:?} started work before refusing");
    };
    refused_early(&["experiment", "g.yaml", "--out", "missing/t.csv"], "does not exist");
    refused_early(&["experiment", "g.yaml", "--plot", "p.jpg"], "PNG");
    refused_early(&["experiment", "g.yaml", "--shard", "0/2", "--out", "missing/s.parquet"], "does not exist");
    // merge never writes over one of its own inputs.
    let shard = output(&["experiment", "g.yaml", "--shard", "0/1", "--out", "s.parquet"], d);
    assert!(shard.status.success(), "{}", String::from_utf8_lossy(&shard.stderr));
    let before = std::fs::read(d.join("s.parquet")).unwrap();
    let o = output(&["experiment", "merge", "s.parquet", "--out", "./s.parquet", "--force"], d);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("one of the files being merged"), "{stderr}");
    assert_eq!(std::fs::read(d.join("s.parquet")).unwrap(), before);
}

#[test]
fn a_spec_or_settings_file_over_its_size_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A million scheduled changes once took 2.9 GB and 21 s to parse; 2 MiB of them is
    // refused by its size, at once, naming the file and the limit, and creates nothing.
    let entries = "  - {tick: 1, set: {government.income_tax_rate: 0.3}}\n".repeat(40_000);
    std::fs::write(d.join("big.yaml"), format!("name: big\nticks: 10\nschedule:\n{entries}")).unwrap();
    assert!(std::fs::metadata(d.join("big.yaml")).unwrap().len() > 2 << 20);
    for args in [
        &["experiment", "big.yaml"][..],
        &["run", "--config", "big.yaml", "--ticks", "10"],
        &["run", "--no-store", "--config", "big.yaml", "--ticks", "10"],
    ] {
        let started = Instant::now();
        let o = output(args, d);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("big.yaml") && stderr.contains("1 MiB"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?} took {:?}", started.elapsed());
        assert!(!d.join("data").exists(), "{args:?} created the data directory");
    }
    // Just under the limit is read as usual (and refused for what it says, not its size).
    let entries = "  - {tick: 1, set: {government.income_tax_rate: 0.3}}\n".repeat(15_000);
    std::fs::write(d.join("fits.yaml"), format!("schedule:\n{entries}")).unwrap();
    let o = output(&["run", "--no-store", "--config", "fits.yaml", "--ticks", "2"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
