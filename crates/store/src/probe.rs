//! A read-only look at a database file before anything else opens it: is it a
//! Watchtower database this version reads?
//!
//! A reader cannot migrate a database another version wrote, and a read pool would
//! retry a foreign file for its whole timeout before failing; so a read-only process
//! (`watchtower view`) probes the file on one read-only connection first, and refuses at
//! once with a reason a person can act on.

use std::path::{Path, PathBuf};

use crate::StoreError;
use crate::connection::{APPLICATION_ID, open_probe};
use crate::schema::LATEST;

/// Why a database cannot be read by this version; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file could not be opened or read as a SQLite database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A writer is creating it: empty, or holding our tables without the mark yet.
    #[error("{} is being created by the process writing it; try again", path.display())]
    BeingCreated {
        /// The file.
        path: PathBuf,
    },
    /// It is another application's.
    #[error("{} is not a Watchtower database", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// Another version wrote it.
    #[error(
        "{} was written by {} Watchtower (schema version {found}; this one reads {LATEST}): {}",
        path.display(),
        if *found < LATEST { "an older" } else { "a newer" },
        if *found < LATEST {
            "a writer of this version (`watchtower serve`, `run` or `experiment` there) upgrades it"
        } else {
            "view it with that version"
        }
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
    },
}

/// Checks, on one read-only connection, that `path` is a Watchtower database of this
/// version's schema.
pub fn probe(path: &Path) -> Result<(), ProbeError> {
    // Not `open_reader`: its settings would switch a foreign file's journal to WAL, a
    // write, refused before the checks below can say what the file is.
    let conn = open_probe(path)?;
    let read = |sql: &str| -> Result<i64, StoreError> {
        conn.query_row(sql, [], |r| r.get(0)).map_err(|e| StoreError::open(path, e))
    };
    let id = read("PRAGMA application_id")?;
    let version = read("PRAGMA user_version")?;
    let ours = read("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'runs'")?;
    if id != i64::from(APPLICATION_ID) {
        // A writer creating the database marks it ours after its last migration: until
        // then it is empty, or holds our tables without the mark.
        let tables = read("SELECT count(*) FROM sqlite_schema")?;
        let path = path.to_path_buf();
        return Err(if id == 0 && (tables == 0 || ours == 1) {
            ProbeError::BeingCreated { path }
        } else {
            ProbeError::Foreign { path }
        });
    }
    if version != LATEST {
        return Err(ProbeError::Version { path: path.to_path_buf(), found: version });
    }
    Ok(())
}

/// SQLite's `PRAGMA quick_check` of `path` on one read-only connection, its report cut
/// to the first few problems: `Ok` if the file is sound, else what is wrong (a file that
/// cannot even be opened included). It reads every page once (a few seconds a gigabyte)
/// and checks their structure, not the indexes against the tables: what a resume runs
/// first, so it never continues writing into a damaged file.
pub fn quick_check(path: &Path) -> Result<(), String> {
    let conn = open_probe(path).map_err(|e| e.to_string())?;
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(|e| e.to_string())?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
        .map_err(|e| e.to_string())?;
    if lines == ["ok"] { Ok(()) } else { Err(lines.join("; ")) }
}
