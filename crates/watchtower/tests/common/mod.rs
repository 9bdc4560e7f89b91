//! Helpers for driving the real `watchtower` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test: this build's, or `WATCHTOWER_BIN` (e.g. a release build, to
/// take figures from the soak).
pub fn watchtower() -> Command {
    let binary = std::env::var_os("WATCHTOWER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_watchtower").into());
    let mut cmd = Command::new(binary);
    cmd.env_remove("WATCHTOWER_DATA_DIR").env_remove("WATCHTOWER_TOKEN");
    cmd
}

/// Runs the binary to completion.
pub fn output(args: &[&str], dir: &Path) -> Output {
    watchtower().args(args).current_dir(dir).output().expect("watchtower runs")
}

/// A running `watchtower` whose stderr lines arrive on a channel.
pub struct Running {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Running {
    pub fn spawn(args: &[&str], dir: &Path) -> Self {
        Self::spawn_with(args, dir, &[])
    }

    /// Like [`Running::spawn`], with extra environment variables.
    pub fn spawn_with(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = watchtower()
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watchtower starts");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a stderr line satisfying `pred`, up to `limit`; returns it.
    pub fn wait_for(&self, limit: Duration, mut pred: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("no matching line within {limit:?}: {e}"),
            }
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with the real `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("watchtower did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every tick of `run` in the database, in order.
pub fn ticks(db: &Path, run: i64) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT tick FROM ticks WHERE run_id = ?1 ORDER BY tick").unwrap();
    stmt.query_map([run], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// `(status, last_tick)` of `run`.
pub fn run_status(db: &Path, run: i64) -> (String, Option<i64>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT status, last_tick FROM runs WHERE id = ?1", [run], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
}

/// `PRAGMA integrity_check`'s verdict.
pub fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// Whether another process could take the directory's lock now.
pub fn lock_is_free(dir: &Path) -> bool {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("simulation.lock"))
        .unwrap();
    let free = file.try_lock().is_ok();
    if free {
        file.unlock().unwrap();
    }
    free
}

/// A `watchtower serve` on an ephemeral loopback port.
pub struct Server {
    pub running: Running,
    pub port: u16,
    pub token: String,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `serve` with `extra` arguments in a fresh data directory.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra)
    }

    /// Starts `serve` in `dir`.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        Self::start_with(dir, extra, &[])
    }

    /// Starts `serve` in `dir` with extra environment variables.
    pub fn start_with(dir: tempfile::TempDir, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0"];
        args.extend(extra);
        let mut running = Running::spawn_with(&args, dir.path(), env);
        let stdout = running.child.stdout.take().unwrap();
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining, as a terminal would.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = first.trim().rsplit(' ').next().unwrap().to_string();
        let port = url.split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
        let token = url.split("token=").nth(1).unwrap().to_string();
        Self { running, port, token, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("ws://127.0.0.1:{}/ws?token={t}", self.port),
            None => format!("ws://127.0.0.1:{}/ws", self.port),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&self.url("/readyz")).0 != 200 {
            assert!(Instant::now() < deadline, "not ready within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status (the data directory stays until `self` drops).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.running.signal("TERM");
        self.running.wait(Duration::from_secs(10))
    }

    pub fn database(&self) -> std::path::PathBuf {
        self.dir.path().join("data/watchtower.db")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build())
}

/// `(status, body)` of a GET.
pub fn get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// `(status, body)` of a POST of `body` with optional bearer token and Origin.
pub fn post(url: &str, body: &str, token: Option<&str>, origin: Option<&str>) -> (u16, String) {
    let mut request = agent().post(url).header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", &format!("Bearer {t}"));
    }
    if let Some(o) = origin {
        request = request.header("origin", o);
    }
    match request.send(body) {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// Mounts a tmpfs at `at` with `options`. A test that cannot set itself up fails: it
/// never passes without having run. Where mounting is impossible (not root) and you
/// know it, `WATCHTOWER_SKIP_ROOT_TESTS=1` skips these tests, saying so; CI runs as root.
pub fn mount_tmpfs(at: &Path, options: &str) -> bool {
    std::fs::create_dir_all(at).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var_os("WATCHTOWER_SKIP_ROOT_TESTS").is_some(),
            "cannot mount a tmpfs at {} (this test needs root); run as root, or set \
             WATCHTOWER_SKIP_ROOT_TESTS=1 to skip it knowingly",
            at.display()
        );
        eprintln!("SKIPPED (WATCHTOWER_SKIP_ROOT_TESTS): cannot mount a tmpfs here");
    }
    mounted
}

pub fn unmount(at: &Path) {
    let _ = std::process::Command::new("umount").arg(at).status();
}
