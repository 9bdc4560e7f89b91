//! A bad environment gets a clear error, a non-zero exit, never a panic, and never harms
//! an existing database: a read-only or full disk, a file that is not ours, a taken port,
//! a data directory that is a file, a public address without a token.

mod common;

use std::path::Path;

use common::{mount_tmpfs, output, unmount};

/// Runs `watchtower args` in `dir`; asserts a clean failure whose message has `needle`.
fn refused(args: &[&str], dir: &Path, needle: &str) -> String {
    let out = output(args, dir);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{args:?}: {stderr}");
    stderr
}

#[test]
fn a_corrupted_or_foreign_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("watchtower.db");
    let garbage =
        b"SQLite format 3\0 but then nothing that makes sense at all, for a few hundred bytes.........".repeat(8);
    std::fs::write(&db, &garbage).unwrap();
    refused(&["run", "--ticks", "5"], dir.path(), "watchtower.db");
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "the corrupted file was modified");

    let other = rusqlite::Connection::open(&db).unwrap();
    std::fs::write(&db, b"").unwrap();
    other
        .execute_batch(
            "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO patients VALUES (1, 'x');",
        )
        .unwrap();
    drop(other);
    let before = std::fs::read(&db).unwrap();
    refused(&["run", "--ticks", "5"], dir.path(), "not a Watchtower database");
    refused(&["serve", "--bind", "127.0.0.1:0"], dir.path(), "not a Watchtower database");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the foreign database was modified");
}

#[test]
fn a_taken_port_is_refused_before_the_database_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    refused(&["serve", "--bind", &bind], dir.path(), "cannot listen on");
    assert!(!dir.path().join("data/watchtower.db").exists(), "a refused start created a database");
}

#[test]
fn a_data_directory_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), b"not a directory").unwrap();
    refused(&["run", "--ticks", "5"], dir.path(), "the data directory data is a file, not a directory");
    refused(&["serve", "--bind", "127.0.0.1:0"], dir.path(), "is a file, not a directory");
    assert_eq!(std::fs::read(dir.path().join("data")).unwrap(), b"not a directory", "the file was changed");
}

#[test]
fn a_public_address_needs_a_configured_token() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused(&["serve", "--bind", "0.0.0.0:0"], dir.path(), "--insecure");
    assert!(stderr.contains("--token"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "refused before touching the data directory");
}

#[test]
fn a_read_only_data_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    if !mount_tmpfs(&data, "size=1m,ro") {
        return;
    }
    let stderr = refused(&["run", "--ticks", "5"], dir.path(), "Read-only file system");
    unmount(&data);
    println!("read-only: {}", stderr.trim());
}

#[test]
fn a_full_disk_stops_the_run_with_a_clear_error_and_a_sound_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    if !mount_tmpfs(&data, "size=600k") {
        return;
    }
    let stderr = refused(&["run", "--ticks", "100000", "--households", "1000", "--firms", "100"], dir.path(), "full");
    let db = data.join("watchtower.db");
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let stored: i64 = conn.query_row("SELECT count(*) FROM ticks", [], |r| r.get(0)).unwrap();
    drop(conn);
    unmount(&data);
    assert_eq!(verdict, "ok");
    assert!(stored > 0);
    println!("full disk after {stored} ticks: {}", stderr.trim());
}
