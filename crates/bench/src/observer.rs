//! Observer overhead and fan-out: the real server, in this process, with real WebSocket
//! clients on loopback (on their own runtime, named `bench-client`, so their CPU is
//! told apart from the server's).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use watchtower_bridge::now_ms;

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use watchtower_engine::ModelKind;
use watchtower_runner::Stop;
use watchtower_runner::workers::{Pool, THREADS_VAR};

use crate::error::BenchError;
use crate::served::{self, Serve, Served, tick_of};
use crate::{Report, advance, loss, machine, median, session, thread_cpu, ticks_per_second};

/// Arguments of `watchtower bench observer`.
#[derive(Debug, Clone, Args)]
pub struct ObserverArgs {
    /// Households (firms: one per ten).
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// WebSocket clients watching.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Commands per second sent through the socket.
    #[arg(long, default_value_t = 100)]
    pub commands_per_second: u64,
    /// Seconds measured per round.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Rounds of each arm.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// Arguments of `watchtower bench fanout`.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Households (firms: one per ten).
    #[arg(long, default_value_t = 10_000)]
    pub households: usize,
    /// WebSocket clients.
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
}

/// The economy served with `households` households at `tick_rate`, no store, no map.
fn service(serve: &Serve, households: usize, tick_rate: &str) -> Result<(Box<dyn Served>, Stop), BenchError> {
    let (h, f) = (households.to_string(), (households / 10).to_string());
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--no-store",
        "--embedding-sample",
        "0",
        "--tick-rate",
        tick_rate,
        "--households",
        &h,
        "--firms",
        &f,
    ];
    let stop = Stop::default();
    Ok((served::start(serve, &args, stop.clone())?, stop))
}

fn clients_runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .map_err(|e| BenchError::Harness(format!("cannot start the clients' runtime: {e}")))
}

/// What the watching clients saw.
#[derive(Default)]
struct Watch {
    frames: AtomicU64,
    connected: AtomicU64,
    ages_ms: std::sync::Mutex<Vec<u64>>,
    /// Each client's frames per second over the time it was connected.
    rates: std::sync::Mutex<Vec<f64>>,
}

/// Connects `n` clients that read frames until `until`, recording each frame's age.
async fn watchers(url: String, n: usize, until: Instant, watch: Arc<Watch>) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (url, watch) = (url.clone(), Arc::clone(&watch));
        tasks.push(tokio::spawn(async move {
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else { return };
            watch.connected.fetch_add(1, Ordering::Relaxed);
            let connected_at = Instant::now();
            let (mut frames, mut ages) = (0u64, Vec::new());
            while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until.into(), ws.next()).await {
                if let Message::Text(text) = message
                    && let Some(at) = text.split("\"published_at_ms\":").nth(1)
                {
                    let digits: String = at.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(published) = digits.parse::<u64>() {
                        ages.push(now_ms().saturating_sub(published));
                        frames += 1;
                    }
                }
            }
            watch.frames.fetch_add(frames, Ordering::Relaxed);
            watch.ages_ms.lock().expect("no panics hold it").extend(ages);
            let rate = frames as f64 / connected_at.elapsed().as_secs_f64();
            watch.rates.lock().expect("no panics hold it").push(rate);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Sends `rate` commands a second until `until` (a harmless one: the tick rate it has).
async fn commander(url: String, rate: u64, until: Instant, answered: Arc<AtomicU64>) {
    let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await else { return };
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(until.into(), stream.next()).await {
            if matches!(&m, Message::Text(t) if t.contains("\"command_result\"")) {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    let mut k = 0u64;
    while Instant::now() < until {
        interval.tick().await;
        k += 1;
        let command = json!({"type": "command", "id": format!("b{k}"), "key": "sim.tick_rate", "value": 0});
        if sink.send(Message::Text(command.to_string().into())).await.is_err() {
            break;
        }
    }
    let _ = reader.await;
}

/// Engine alone, as fast as it goes, for `seconds`.
fn alone(households: usize, seconds: f64) -> Result<f64, BenchError> {
    // As wide as the served engine's pool (`serve` lends it `Pool::machine()`).
    let mut sim = session(ModelKind::Mark0, households, Pool::machine_width())?;
    advance(&mut sim, 50)?;
    ticks_per_second(&mut sim, seconds)
}

/// Served, watched by clients and commanded, for `seconds`: the engine's ticks/s.
fn observed(args: &ObserverArgs, serve: &Serve) -> Result<(f64, u64, u64), BenchError> {
    let (service, _shutdown) = service(serve, args.households, "0")?;
    let runtime = clients_runtime()?;
    let url = format!("ws://{}/ws?token={}", service.addr(), service.token());
    let warm_up = Duration::from_secs(1);
    let until = Instant::now() + warm_up + Duration::from_secs_f64(args.seconds);
    let watch = Arc::new(Watch::default());
    let answered = Arc::new(AtomicU64::new(0));
    runtime.spawn(watchers(url.clone(), args.clients, until, Arc::clone(&watch)));
    runtime.spawn(commander(url, args.commands_per_second, until, Arc::clone(&answered)));
    std::thread::sleep(warm_up);
    let (t0, started) = (tick_of(service.as_ref()), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    let rate = (tick_of(service.as_ref()) - t0) as f64 / started.elapsed().as_secs_f64();
    runtime.shutdown_timeout(Duration::from_secs(2));
    served::stop(service)?;
    Ok((rate, watch.connected.load(Ordering::Relaxed), answered.load(Ordering::Relaxed)))
}

pub fn run_observer(args: &ObserverArgs, serve: &Serve) -> Result<Report, BenchError> {
    let (mut bare, mut watched, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    let mut connected = 0;
    for _ in 0..args.rounds {
        bare.push(alone(args.households, args.seconds)?);
        let (rate, clients, answered) = observed(args, serve)?;
        watched.push(rate);
        connected = clients;
        answers.push(answered as f64 / (args.seconds + 1.0)); // commands flow from the warm-up on
    }
    let (a, w) = (median(&bare), median(&watched));
    let text = format!(
        "Observer overhead: {} households, engine on {} thread(s) ({THREADS_VAR}); {} WebSocket clients \
         ({connected} connected) and {} commands/s ({:.0} answered/s); {} rounds of {} s each, alternating; {}\n\
         engine alone             {a:>9.1} ticks/s (median)\n\
         engine served + watched  {w:>9.1} ticks/s (median)\n\
         overhead                 {:>9.2} %",
        args.households,
        Pool::machine_width(),
        args.clients,
        args.commands_per_second,
        median(&answers),
        args.rounds,
        args.seconds,
        machine(),
        loss(a, w)
    );
    let json = json!({"benchmark": "observer", "machine": machine(), "households": args.households, "clients": args.clients,
        "engine_threads": Pool::machine_width(),
        "commands_per_second": args.commands_per_second, "alone_ticks_per_second": bare, "observed_ticks_per_second": watched,
        "overhead_percent": loss(a, w)});
    Ok(Report { text, json })
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() { 0 } else { sorted[((sorted.len() - 1) as f64 * q).round() as usize] }
}

pub fn run_fanout(args: &FanoutArgs, serve: &Serve) -> Result<Report, BenchError> {
    let (service, _shutdown) = service(serve, args.households, "20")?;
    let runtime = clients_runtime()?;
    let url = format!("ws://{}/ws", service.addr());
    let connect_time = Duration::from_secs(5);
    let until = Instant::now() + connect_time + Duration::from_secs_f64(args.seconds);
    let watch = Arc::new(Watch::default());
    let clients = runtime.spawn(watchers(url, args.clients, until, Arc::clone(&watch)));
    std::thread::sleep(connect_time);
    let (server0, engine0, clients0) = (thread_cpu("server"), thread_cpu("engine"), thread_cpu("bench-client"));
    let started = Instant::now();
    runtime.block_on(async {
        let _ = clients.await;
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = |now: Duration, then: Duration| 100.0 * (now - then).as_secs_f64() / elapsed;
    let (server_cpu, engine_cpu, client_cpu) = (
        cpu(thread_cpu("server"), server0),
        cpu(thread_cpu("engine"), engine0),
        cpu(thread_cpu("bench-client"), clients0),
    );
    runtime.shutdown_timeout(Duration::from_secs(2));
    served::stop(service)?;

    let connected = watch.connected.load(Ordering::Relaxed);
    let mut ages = std::mem::take(&mut *watch.ages_ms.lock().expect("no panics hold it"));
    ages.sort_unstable();
    let rates = watch.rates.lock().expect("no panics hold it").clone();
    let slowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let rate = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let (p50, p99, max) = (percentile(&ages, 0.5), percentile(&ages, 0.99), ages.last().copied().unwrap_or(0));
    let text = format!(
        "Fan-out: {connected} of {} WebSocket clients on loopback for {:.0} s, engine at 20 ticks/s; {}\n\
         frames per client per second   {rate:>8.2} (slowest client {slowest:.2})\n\
         snapshot age p50 / p99 / max   {p50:>5} / {p99} / {max} ms\n\
         CPU (one core = 100%)          server {server_cpu:.1}%, engine {engine_cpu:.1}%, clients {client_cpu:.1}%",
        args.clients,
        elapsed,
        machine()
    );
    let json = json!({"benchmark": "fanout", "machine": machine(), "clients": args.clients, "connected": connected,
        "seconds": elapsed, "frames_per_client_per_second": rate, "slowest_client_frames_per_second": slowest,
        "age_ms_p50": p50, "age_ms_p99": p99, "age_ms_max": max,
        "server_cpu_percent": server_cpu, "engine_cpu_percent": engine_cpu, "client_cpu_percent": client_cpu});
    Ok(Report { text, json })
}
