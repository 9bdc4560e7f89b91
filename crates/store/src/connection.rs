//! Opening SQLite connections: the one place their settings are made.
//!
//! Every connection the program opens, read or write, goes through [`configure`]:
//! WAL journal (readers never block the writer), a 5-second busy timeout (a momentary
//! lock is waited out instead of failing with "database is locked"), foreign keys on,
//! and `synchronous=NORMAL` (durable at every checkpoint, safe against corruption on a
//! crash, without an fsync per commit).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// Marks a database as Watchtower's (`PRAGMA application_id`, the bytes "WTWR").
pub const APPLICATION_ID: i32 = 0x5754_5752;

/// How long a connection waits for a lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5_000);

/// Applies the settings every connection must have.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // `journal_mode` answers with the mode in force; a read-only connection to a WAL
    // database answers "wal" without changing anything.
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")?;
    Ok(())
}

/// Opens (creating if needed) the one write connection. Refuses a file that is not a
/// SQLite database or is another application's, without writing to it.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::open(path, e))?;
    check_ownership(&conn, path)?;
    configure(&conn).map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// Opens a read-only connection.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::open(path, e))?;
    configure(&conn).map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// Opens a read-only connection that changes nothing about the file, not even its
/// journal mode (which [`configure`] switches to WAL, and which a foreign database in
/// another mode refuses as a write: "attempt to write a readonly database"): for a
/// reader that must first find out whether the file is a Watchtower database at all.
pub fn open_probe(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// A fresh file, or one of ours. Anything else is left untouched.
fn check_ownership(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    // The first read fails with "file is not a database" on foreign or corrupted bytes.
    let id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| StoreError::open(path, e))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if id == APPLICATION_ID || (id == 0 && tables == 0) {
        Ok(())
    } else {
        Err(StoreError::Foreign { path: path.to_path_buf() })
    }
}
