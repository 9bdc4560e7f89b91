//! The files a store lives in, and how to recognise them wherever they lie.
//!
//! A data directory holds the database ([`DATABASE_FILE`]), the files SQLite keeps
//! beside it while it is open (`-wal`, `-shm`, and `-journal` in rollback mode) and the
//! lock of the process that owns it ([`LOCK_FILE`]). Overwriting any of them, in any
//! directory, can destroy a run (a live server's database died at its next checkpoint
//! after an export overwrote its `-wal`), so a command that writes a file first asks
//! [`what_it_is`]: by name, and by the first bytes of what is already there.

use std::io::Read;
use std::path::Path;

/// The database file inside a data directory.
pub const DATABASE_FILE: &str = "watchtower.db";

/// The lock file inside a data directory, held by the process that owns it.
pub const LOCK_FILE: &str = "simulation.lock";

/// The suffixes SQLite gives the files it keeps beside a database, and what each is.
const SIDE_FILES: [(&str, &str); 3] =
    [("-wal", "a SQLite write-ahead log"), ("-shm", "a SQLite shared-memory file"), ("-journal", "a SQLite journal")];

/// The names of a data directory's files (the database, its side files, the lock).
pub fn data_dir_files() -> Vec<String> {
    let mut names = vec![DATABASE_FILE.to_string()];
    names.extend(SIDE_FILES.iter().map(|(suffix, _)| format!("{DATABASE_FILE}{suffix}")));
    names.push(LOCK_FILE.to_string());
    names
}

/// What `path` is, if it is (by its name, or by the bytes already in it) a database, a
/// file SQLite keeps beside one, or a data directory's lock: never a file to overwrite.
pub fn what_it_is(path: &Path) -> Option<&'static str> {
    by_content(path).or_else(|| by_name(path))
}

fn by_name(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    if name == DATABASE_FILE {
        return Some("a Watchtower database");
    }
    if name == LOCK_FILE {
        return Some("a Watchtower data directory's lock");
    }
    SIDE_FILES.iter().find(|(suffix, _)| name.ends_with(suffix)).map(|(_, what)| *what)
}

fn by_content(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 52];
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    let head = &head[..len];
    let u32_at = |at: usize, big: bool| {
        head.get(at..at + 4).map(|b| {
            let b = [b[0], b[1], b[2], b[3]];
            if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
        })
    };
    if head.starts_with(b"SQLite format 3\0") {
        return Some("a SQLite database");
    }
    // A WAL starts with 0x377f0682 or 0x377f0683 (big-endian); a rollback journal with
    // 0xd9d505f920a163d7; a WAL index (`-shm`) with its version, 3007000, in the
    // machine's byte order, at offsets 0 and 48 (the header's two copies).
    if matches!(u32_at(0, true), Some(0x377f_0682 | 0x377f_0683)) {
        return Some("a SQLite write-ahead log");
    }
    if head.starts_with(&[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]) {
        return Some("a SQLite journal");
    }
    for big in [false, true] {
        if u32_at(0, big) == Some(3_007_000) && u32_at(48, big) == Some(3_007_000) {
            return Some("a SQLite shared-memory file");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_files_are_known_by_name_and_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            what_it_is(&path)
        };
        assert_eq!(at("out.csv", b"tick,gdp\n"), None);
        assert_eq!(at("watchtower.db", b""), Some("a Watchtower database"));
        assert_eq!(at("x.db-wal", b""), Some("a SQLite write-ahead log"));
        assert_eq!(at("y-shm", b""), Some("a SQLite shared-memory file"));
        assert_eq!(at("simulation.lock", b"123"), Some("a Watchtower data directory's lock"));
        assert_eq!(at("db.csv", b"SQLite format 3\0rest"), Some("a SQLite database"));
        assert_eq!(at("wal.csv", &[0x37, 0x7f, 0x06, 0x83, 0, 0]), Some("a SQLite write-ahead log"));
        let mut shm = vec![0u8; 64];
        shm[..4].copy_from_slice(&3_007_000u32.to_le_bytes());
        shm[48..52].copy_from_slice(&3_007_000u32.to_le_bytes());
        assert_eq!(at("index.csv", &shm), Some("a SQLite shared-memory file"));
        assert!(what_it_is(&dir.path().join("not-there.csv")).is_none());
        assert!(what_it_is(&dir.path().join("not-there.db-wal")).is_some(), "by name before it exists");
    }
}
