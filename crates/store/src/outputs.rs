//! Files a command writes (`run --out`, `export --out`, `experiment --out`/`--plot`,
//! shard files, `experiment merge --out`): one policy, here.
//!
//! - **Never a store's file.** `watchtower export --out data/watchtower.db` once
//!   truncated a live database, and `export --out OTHER/watchtower.db-wal` killed another
//!   directory's server at its next checkpoint. A target is refused, naming it, before
//!   anything is opened for writing, if it is one of the command's own data directory's
//!   files (the database, its `-wal`, `-shm`, `-journal`, the lock), however it is spelt
//!   (`./data/../data/watchtower.db`, a symbolic link, even one whose target does not
//!   exist yet, a hard link), or if, in whatever directory it lies, the store recognises
//!   it as one of its kind by name or by content ([`watchtower_store::files`]).
//! - **Never half a file.** What a command writes goes to a temporary file beside the
//!   target and is renamed into place only when complete ([`Output::commit`]); a failed
//!   or interrupted command leaves the target as it was (or absent).
//! - **Never someone else's file by accident.** An existing target is replaced only with
//!   `--force`; a missing directory is refused before any work starts.
//!
//! A shell redirection (`watchtower export > data/watchtower.db`) truncates the file
//! before Watchtower starts; nothing here can stop that.
//!
//! It lives in the store because the store is what it protects: it alone knows its
//! files' names and magic numbers, and any part of Watchtower that writes a file (the
//! CLI's commands today) goes through the same checks.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::files;
use tempfile::NamedTempFile;

/// Why an output was not written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target may not be written (a store's file, a directory, an existing file
    /// without `--force`, a missing directory); the message names it and says why.
    #[error("{0}")]
    Refused(String),
    /// Writing or renaming failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The target.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl OutputError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        OutputError::Io { path: path.to_path_buf(), source }
    }
}

/// Refuses `path` unless a command may write it: not a store's file (of `data_dir` or
/// any other directory), in a directory that exists, and not already there unless
/// `force`.
pub fn check(path: &Path, data_dir: &Path, force: bool) -> Result<(), OutputError> {
    let refuse = |why: String| Err(OutputError::Refused(format!("refusing to write {}: {why}", path.display())));
    let target = resolve(path, 0);
    let dir = resolve(data_dir, 0);
    for name in files::data_dir_files() {
        let protected = dir.join(&name);
        if target == protected || same_file(path, &protected) {
            return refuse(format!(
                "it is {} of the data directory {} (the {}); choose another file",
                protected.display(),
                data_dir.display(),
                if name == files::LOCK_FILE { "lock" } else { "database" },
            ));
        }
    }
    for candidate in [path, &target] {
        if let Some(what) = files::what_it_is(candidate) {
            let name = if candidate == path { String::new() } else { format!(" ({})", target.display()) };
            return refuse(format!("it is{name} {what} (perhaps another data directory's); choose another file"));
        }
    }
    if target.is_dir() {
        return refuse("it is a directory; give a file name".into());
    }
    let parent = target.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return refuse(format!("its directory {} does not exist; create it first", parent.display()));
    }
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return refuse("it exists; add --force to replace it".into());
    }
    Ok(())
}

/// A file being written: a temporary file beside the target, renamed into place by
/// [`Output::commit`]. Dropped without a commit, it is deleted and the target untouched.
#[derive(Debug)]
pub struct Output {
    tmp: NamedTempFile,
    target: PathBuf,
    force: bool,
}

impl Output {
    /// Checks `path` ([`check`]) and opens its temporary file. The temporary file keeps
    /// the target's extension (a PNG encoder picks its format by it).
    pub fn create(path: &Path, data_dir: &Path, force: bool) -> Result<Self, OutputError> {
        check(path, data_dir, force)?;
        // Beside `path` as given: the rename replaces that name (a link included), and
        // must not cross file systems.
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let suffix = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(&suffix)
            .tempfile_in(dir)
            .map_err(|e| OutputError::io(path, e))?;
        Ok(Self { tmp, target: path.to_path_buf(), force })
    }

    /// The temporary file's path, for a writer that opens the file itself.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A handle to write the temporary file through.
    pub fn file(&self) -> Result<File, OutputError> {
        self.tmp.as_file().try_clone().map_err(|e| OutputError::io(&self.target, e))
    }

    /// The file is complete: flushed to disk, made readable like any file the program
    /// writes (a temporary file is created private), and renamed onto the target.
    pub fn commit(self) -> Result<(), OutputError> {
        let out = &self.target;
        self.tmp.as_file().sync_all().map_err(|e| OutputError::io(out, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(|e| OutputError::io(out, e))?;
        }
        let persisted = if self.force { self.tmp.persist(out) } else { self.tmp.persist_noclobber(out) };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                OutputError::Refused(format!(
                    "refusing to write {}: it appeared while the command ran; add --force to replace it",
                    out.display()
                ))
            } else {
                OutputError::io(out, e.error)
            }
        })?;
        Ok(())
    }
}

/// The sidecar of a CSV file, `FILE.csv.json`: what the CSV cannot carry itself (each
/// column's unit and description, the time mapping, what produced it), as JSON.
pub struct Sidecar {
    output: Output,
}

impl Sidecar {
    /// `csv`'s sidecar path: the CSV's name with `.json` appended.
    pub fn path(csv: &Path) -> PathBuf {
        let mut name = csv.as_os_str().to_owned();
        name.push(".json");
        name.into()
    }

    /// Checks and opens the sidecar of `csv` under the policy of every output ([`check`]),
    /// before the CSV is written, so a refusal comes before any work.
    pub fn create(csv: &Path, data_dir: &Path, force: bool) -> Result<Self, OutputError> {
        Ok(Self { output: Output::create(&Self::path(csv), data_dir, force)? })
    }

    /// Writes `metadata` (indented JSON) and renames the sidecar into place.
    pub fn commit(self, metadata: &serde_json::Value) -> Result<(), OutputError> {
        let target = self.output.target.clone();
        let mut text = serde_json::to_string_pretty(metadata).expect("JSON values serialise");
        text.push('\n');
        std::io::Write::write_all(&mut self.output.file()?, text.as_bytes())
            .map_err(|e| OutputError::io(&target, e))?;
        self.output.commit()
    }
}

/// Whether two paths name one file, once resolved (a symbolic link, `..`), or one
/// inode (a hard link).
pub fn same(a: &Path, b: &Path) -> bool {
    resolve(a, 0) == resolve(b, 0) || same_file(a, b)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DATABASE_FILE, LOCK_FILE};

    #[test]
    fn every_spelling_of_a_data_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join(DATABASE_FILE), b"not really").unwrap();
        let refused = |p: &Path| check(p, &data, false).is_err();
        assert!(refused(&data.join(DATABASE_FILE)));
        assert!(refused(&data.join("../data/watchtower.db")));
        assert!(refused(&data.join("./watchtower.db-wal")), "not there yet, still refused");
        assert!(refused(&data.join(LOCK_FILE)));
        std::os::unix::fs::symlink(data.join("watchtower.db-shm"), dir.path().join("dangling")).unwrap();
        assert!(refused(&dir.path().join("dangling")), "a link to a file that does not exist yet");
        assert!(!refused(&dir.path().join("ticks.csv")));
        assert!(!refused(&data.join("ticks.csv")), "other files in the directory are fine");
        let e = check(&data.join(DATABASE_FILE), &data, true).unwrap_err().to_string();
        assert!(e.contains("watchtower.db") && e.contains("refusing"), "{e}");
        // Elsewhere, by name and by content; an existing file only with force.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        assert!(refused(&other.join("watchtower.db-wal")) && refused(&other.join(LOCK_FILE)));
        std::fs::write(other.join("wal.csv"), [0x37, 0x7f, 0x06, 0x82, 0, 0, 0, 0]).unwrap();
        assert!(check(&other.join("wal.csv"), &data, true).is_err(), "a WAL by content, even with force");
        std::fs::write(other.join("old.csv"), b"tick\n").unwrap();
        let e = check(&other.join("old.csv"), &data, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        assert!(check(&other.join("old.csv"), &data, true).is_ok());
        assert!(
            check(&dir.path().join("missing/t.csv"), &data, true).unwrap_err().to_string().contains("does not exist")
        );
    }

    #[test]
    fn an_output_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.csv");
        std::fs::write(&target, b"before").unwrap();
        let output = Output::create(&target, &dir.path().join("data"), true).unwrap();
        std::fs::write(output.path(), b"half").unwrap();
        drop(output);
        assert_eq!(std::fs::read(&target).unwrap(), b"before", "an abandoned output leaves the target as it was");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "and no temporary file");
        let output = Output::create(&target, &dir.path().join("data"), true).unwrap();
        std::fs::write(output.path(), b"after").unwrap();
        output.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"after");
    }
}
