//! Helpers for driving the real `watchtower` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn watchtower() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchtower"));
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
        let mut child = watchtower()
            .args(args)
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
