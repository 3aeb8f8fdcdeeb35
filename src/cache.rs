//! scratchpack's cache directory: `$SCRATCHPACK_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/scratchpack`, else `~/.cache/scratchpack`. It holds extracted root
//! filesystems (`rootfs/<sha256>`), toolchain caches (`tools/<name>`) and the empty
//! directory sandboxes mount their root on. Shared work is serialised with `flock`
//! locks, which the kernel releases when a process dies: an interrupted run never
//! leaves a lock behind.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no cache directory: neither SCRATCHPACK_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")]
    NoHome,
    #[error("cannot use cache directory `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl crate::error::Hint for CacheError {
    fn hints(&self) -> Vec<String> {
        vec!["set SCRATCHPACK_CACHE_DIR to a writable directory".into()]
    }
}

/// The cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

/// A held lock; released on drop (or by the kernel when the process dies).
pub struct Lock {
    _flock: Flock<File>,
}

impl Cache {
    /// Picks the directory from the (already read) environment.
    pub fn locate(
        explicit: Option<PathBuf>,
        xdg: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Result<Cache, CacheError> {
        let non_empty = |p: &PathBuf| !p.as_os_str().is_empty();
        let root = match (
            explicit.filter(non_empty),
            xdg.filter(non_empty),
            home.filter(non_empty),
        ) {
            (Some(dir), _, _) => dir,
            (None, Some(xdg), _) => xdg.join("scratchpack"),
            (None, None, Some(home)) => home.join(".cache/scratchpack"),
            (None, None, None) => return Err(CacheError::NoHome),
        };
        Ok(Cache { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/name`, created if missing.
    pub fn dir(&self, name: &str) -> Result<PathBuf, CacheError> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Bytes of the files under `path` (symlinks not followed).
    pub fn size_of(path: &Path) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return 0;
        };
        if !meta.is_dir() {
            return meta.len();
        }
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| Cache::size_of(&e.path())).sum())
            .unwrap_or(0)
    }

    /// Takes the lock `name`, calling `waiting` first if another process holds it.
    pub fn lock(&self, name: &str, waiting: impl FnOnce()) -> Result<Lock, CacheError> {
        let path = self.dir("locks")?.join(format!("{name}.lock"));
        let io_err = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err)?;
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Lock { _flock: lock }),
            Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
            Err((_, errno)) => return Err(io_err(errno.into())),
        };
        waiting();
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io_err(e.into()))?;
        Ok(Lock { _flock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_order() {
        let c = Cache::locate(Some("/a".into()), Some("/x".into()), Some("/h".into())).unwrap();
        assert_eq!(c.root(), Path::new("/a"));
        let c = Cache::locate(None, Some("/x".into()), Some("/h".into())).unwrap();
        assert_eq!(c.root(), Path::new("/x/scratchpack"));
        let c = Cache::locate(Some("".into()), None, Some("/h".into())).unwrap();
        assert_eq!(c.root(), Path::new("/h/.cache/scratchpack"));
        assert!(Cache::locate(None, None, None).is_err());
    }

    #[test]
    fn locks_exclude_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::locate(Some(dir.path().into()), None, None).unwrap();
        let held = cache.lock("x", || {}).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = cache.clone();
        let waiter = std::thread::spawn(move || {
            let _l = other.lock("x", || tx.send("waited").unwrap()).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), "waited");
        drop(held);
        waiter.join().unwrap();
    }
}
