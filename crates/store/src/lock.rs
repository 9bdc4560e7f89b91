//! The data directory's lock: one Watchtower per directory.
//!
//! `DATA_DIR/simulation.lock` carries an exclusive advisory lock (`flock`, through the
//! standard library's `File::try_lock`) for the whole life of the process, and the
//! holder's PID as text. A second instance fails at once with both in its message and
//! opens no database connection. The operating system drops the lock when the holder
//! exits for any reason, `kill -9` included, so a stale file never blocks a restart.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::files::LOCK_FILE;

/// The directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("{} is held by another Watchtower (PID {}); stop it first or choose another --data-dir", path.display(), pid.as_deref().unwrap_or("unknown"))]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's PID as written in the file.
        pid: Option<String>,
    },
    /// The data directory's path names a file.
    #[error("the data directory {} is a file, not a directory; choose another --data-dir", dir.display())]
    NotADirectory {
        /// The path given.
        dir: PathBuf,
    },
    /// The file could not be created or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Held for as long as it lives; dropping it releases the directory.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and takes its lock, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.clone(), source };
        if dir.exists() && !dir.is_dir() {
            return Err(LockError::NotADirectory { dir: dir.to_path_buf() });
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = Some(pid.trim().to_string()).filter(|p| !p.is_empty());
                return Err(LockError::Held { path, pid });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock; clearing the PID keeps the file honest.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("PID {}", std::process::id())), "{err}");
        assert!(err.contains(LOCK_FILE), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
