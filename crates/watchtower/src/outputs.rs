//! Files a command writes (`run --out`, `export --out`), created only where they cannot
//! destroy the data directory.
//!
//! `watchtower export --out data/watchtower.db` once truncated the live database and the
//! whole run was gone. Every file a command writes is now created by [`create`], which
//! first refuses the data directory's database, its `-wal`, `-shm` and `-journal` files
//! and the lock (`simulation.lock`), naming the file, before anything is opened for
//! writing. Paths are compared once resolved: `./data/../data/watchtower.db`, a symbolic
//! link to the database (even one whose target does not exist yet, like a `-wal` between
//! runs) and a hard link to it are all the same file. An existing SQLite database is
//! refused too, whichever directory it is in: an export is CSV or JSON lines, never
//! SQLite, so a database at `--out` is always a mistake, and may be another directory's
//! live run.
//!
//! A shell redirection (`watchtower export > data/watchtower.db`) truncates the file
//! before Watchtower starts; nothing here can stop that.

use std::fs::File;
use std::path::{Path, PathBuf};

use watchtower_store::DATABASE_FILE;

use crate::error::AppError;
use watchtower_store::LOCK_FILE;

/// The files of a data directory, by name.
fn protected_names() -> [String; 5] {
    [
        DATABASE_FILE.to_string(),
        format!("{DATABASE_FILE}-wal"),
        format!("{DATABASE_FILE}-shm"),
        format!("{DATABASE_FILE}-journal"),
        LOCK_FILE.to_string(),
    ]
}

/// Creates (or truncates) `path` for writing, unless it is one of `data_dir`'s files or
/// an existing SQLite database.
pub fn create(path: &Path, data_dir: &Path) -> Result<File, AppError> {
    check(path, data_dir)?;
    File::create(path).map_err(|e| AppError::io(path, e))
}

/// Refuses `path` if writing it would overwrite a file of `data_dir` or a SQLite database.
pub fn check(path: &Path, data_dir: &Path) -> Result<(), AppError> {
    let target = resolve(path, 0);
    let dir = resolve(data_dir, 0);
    for name in protected_names() {
        let protected = dir.join(&name);
        if target == protected || same_file(path, &protected) {
            return Err(AppError::Usage(format!(
                "refusing to write {}: it is {} of the data directory {} (the {}); choose another file",
                path.display(),
                protected.display(),
                data_dir.display(),
                if name == LOCK_FILE { "lock" } else { "database" },
            )));
        }
    }
    if is_sqlite(path) {
        return Err(AppError::Usage(format!(
            "refusing to write {}: it is a SQLite database (perhaps another data directory's); choose another file",
            path.display()
        )));
    }
    Ok(())
}

/// `path` made absolute with every symbolic link followed, even where the file (or the
/// file a link points to) does not exist yet: the nearest existing ancestor is
/// canonicalised and the rest joined to it.
fn resolve(path: &Path, depth: u32) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    // A link whose target does not exist: follow it by hand (a few levels, no loops).
    if depth < 8
        && let Ok(target) = std::fs::read_link(path)
    {
        let base = path.parent().unwrap_or(Path::new(""));
        return resolve(&base.join(target), depth + 1);
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            resolve(parent, depth).join(name)
        }
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Whether `a` and `b` both exist and are one file (a hard link, say).
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &Path, _: &Path) -> bool {
    false
}

/// Whether `path` is an existing file that starts as every SQLite database does.
fn is_sqlite(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 16];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"SQLite format 3\0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_data_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join(DATABASE_FILE), b"not really").unwrap();
        let refused = |p: &Path| check(p, &data).is_err();
        assert!(refused(&data.join(DATABASE_FILE)));
        assert!(refused(&data.join("../data/watchtower.db")));
        assert!(refused(&data.join("./watchtower.db-wal")), "not there yet, still refused");
        assert!(refused(&data.join(LOCK_FILE)));
        std::os::unix::fs::symlink(data.join("watchtower.db-shm"), dir.path().join("dangling")).unwrap();
        assert!(refused(&dir.path().join("dangling")), "a link to a file that does not exist yet");
        assert!(!refused(&dir.path().join("ticks.csv")));
        assert!(!refused(&data.join("ticks.csv")), "other files in the directory are fine");
        let e = check(&data.join(DATABASE_FILE), &data).unwrap_err().to_string();
        assert!(e.contains("watchtower.db") && e.contains("refusing"), "{e}");
    }
}
