//! Outputs that appear whole or not at all, and temporaries that never outlive the
//! process. A file is written to a temporary beside its destination and renamed over it;
//! a directory is built beside its destination and swapped in with
//! `renameat2(RENAME_EXCHANGE)`. Until the commit the destination keeps its old content.
//!
//! Every temporary is named here and registered with [`crate::interrupt`] *before* it is
//! created, so a Ctrl-C at any instant finds it; it is removed on drop otherwise. And it
//! is locked (`flock`) for as long as its owner lives, so that after a SIGKILL, which no
//! handler sees, the next run writing to the same directory finds it unlocked, hence
//! ownerless, and removes it.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use nix::fcntl::{AT_FDCWD, Flock, FlockArg, RenameFlags, renameat2};

use crate::interrupt::{self, Registration};

/// Mode of files and directories written for the user (the usual 0644 / 0755).
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// An I/O failure on an output, with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`", path.display())]
pub struct OutputIoError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> OutputIoError + '_ {
    move |source| OutputIoError {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory a destination lives in (`.` for a bare file name).
fn parent_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A name no other process or call uses: `<prefix><pid>-<counter>-<random><suffix>`.
fn unique_name(prefix: &str, suffix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random: u32 = rand_u32();
    format!("{prefix}{}-{n}-{random:08x}{suffix}", std::process::id())
}

fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // The name only has to be unlikely to collide; create_new catches the rest.
    let _ = File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes));
    u32::from_le_bytes(bytes)
}

/// A temporary path, registered for interrupt cleanup, removed on drop unless kept.
pub struct TempPath {
    path: PathBuf,
    keep: bool,
    /// Held while this process lives: what marks the temporary as owned.
    lock: Option<Flock<File>>,
    _registration: Registration,
}

impl TempPath {
    /// Registers a fresh name in `dir` (nothing is created yet), after removing the
    /// temporaries dead runs left there.
    fn new(dir: &Path, prefix: &str, suffix: &str) -> TempPath {
        sweep_once(dir);
        let path = dir.join(unique_name(prefix, suffix));
        let registration = interrupt::register(path.clone());
        TempPath {
            path,
            keep: false,
            lock: None,
            _registration: registration,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks the created temporary as owned by this process.
    fn own(&mut self) {
        self.lock = File::open(&self.path)
            .ok()
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).ok());
    }
}

/// How old an unlocked temporary must be before it is taken for a dead run's: longer
/// than the instant between creating a temporary and locking it.
const STALE_AFTER: Duration = Duration::from_secs(2);

/// Whether `name` is one of the temporaries this module names
/// (`[.NAME].scratchpack-[build-]PID-N-RANDOM[.tmp]`).
fn is_temporary(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix('.')
        .and_then(|n| n.rsplit_once("scratchpack-").map(|(_, r)| r))
    else {
        return false;
    };
    let rest = rest.strip_prefix("build-").unwrap_or(rest);
    let rest = rest.strip_suffix(".tmp").unwrap_or(rest);
    let parts: Vec<&str> = rest.split('-').collect();
    matches!(parts.as_slice(), [pid, n, random]
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
            && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            && random.len() == 8 && random.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// [`sweep`], the first time this process makes a temporary in `dir` (a package or a
/// build makes several there; one look is enough).
fn sweep_once(dir: &Path) {
    static SWEPT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let first = SWEPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_path_buf());
    if first {
        sweep(dir);
    }
}

/// Removes the temporaries in `dir` whose owner is gone (killed without a chance to
/// clean up): each is locked by its owner while it lives.
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temporary) {
            continue;
        }
        let path = entry.path();
        let old = std::fs::symlink_metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if !old {
            continue;
        }
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        else {
            continue;
        };
        if let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            let _ = remove_tree(&path);
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = remove_tree(&self.path);
    }
}

/// Removes a file or a whole tree, making directories writable first: an extracted
/// rootfs, or one apk installed packages into, has read-only directories that
/// `remove_dir_all` would stop at.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::set_permissions(path, Permissions::from_mode(0o700));
    for entry in std::fs::read_dir(path)? {
        remove_tree(&entry?.path())?;
    }
    std::fs::remove_dir(path)
}

/// Removes the entries of `parent` whose name starts with `prefix`: the staging
/// directories a killed run left behind (the caller holds the lock that guards them).
pub fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = remove_tree(&entry.path());
        }
    }
}

fn create_file(dir: &Path, prefix: &str, suffix: &str) -> Result<(File, TempPath), OutputIoError> {
    let mut temp = TempPath::new(dir, prefix, suffix);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp.path())
        .map_err(err(dir))?;
    temp.own();
    Ok((file, temp))
}

/// A temporary file in `dir` for intermediate data (a layer blob). Kept beside the
/// output so that large blobs never fill a small `/tmp`.
pub fn scratch_file(dir: &Path) -> Result<(File, TempPath), OutputIoError> {
    create_file(dir, ".scratchpack-", ".tmp")
}

/// A temporary directory in `dir` (a build's output directory).
pub fn scratch_dir(dir: &Path, prefix: &str) -> Result<TempPath, OutputIoError> {
    let mut temp = TempPath::new(dir, prefix, "");
    std::fs::create_dir(temp.path()).map_err(err(dir))?;
    temp.own();
    Ok(temp)
}

fn temp_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.scratchpack-")
}

/// A file written beside `dest` and renamed over it on [`AtomicFile::commit`].
pub struct AtomicFile {
    file: File,
    temp: TempPath,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self, OutputIoError> {
        if dest.is_dir() {
            return Err(OutputIoError {
                path: dest.to_path_buf(),
                source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
            });
        }
        let (file, temp) = create_file(parent_of(dest), &temp_prefix(dest), ".tmp")?;
        Ok(AtomicFile {
            file,
            temp,
            dest: dest.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes, syncs and renames the temporary over the destination.
    pub fn commit(mut self) -> Result<(), OutputIoError> {
        let dest = self.dest.clone();
        self.file.flush().map_err(err(&dest))?;
        self.file
            .set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(err(&dest))?;
        self.file.sync_all().map_err(err(&dest))?;
        std::fs::rename(self.temp.path(), &dest).map_err(err(&dest))?;
        self.temp.keep = true;
        Ok(())
    }
}

/// A directory built beside `dest` and swapped in on [`AtomicDir::commit`].
pub struct AtomicDir {
    temp: TempPath,
    dest: PathBuf,
}

impl AtomicDir {
    pub fn create(dest: &Path) -> Result<Self, OutputIoError> {
        let mut temp = TempPath::new(parent_of(dest), &temp_prefix(dest), "");
        std::fs::create_dir(temp.path()).map_err(err(parent_of(dest)))?;
        temp.own();
        std::fs::set_permissions(temp.path(), Permissions::from_mode(DIR_MODE))
            .map_err(err(temp.path()))?;
        Ok(AtomicDir {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Puts the directory in place. An existing destination is replaced only when
    /// `replaceable` says so (for instance: it is an earlier output of the same kind);
    /// the old content is then removed.
    pub fn commit(mut self, replaceable: impl Fn(&Path) -> bool) -> Result<(), OutputIoError> {
        let dest = self.dest.clone();
        let staged = self.temp.path().to_path_buf();
        match std::fs::symlink_metadata(&dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::rename(&staged, &dest).map_err(err(&dest))?;
                self.temp.keep = true;
            }
            Err(e) => return Err(err(&dest)(e)),
            Ok(meta) if meta.is_dir() && replaceable(&dest) => {
                renameat2(
                    AT_FDCWD,
                    &staged,
                    AT_FDCWD,
                    &dest,
                    RenameFlags::RENAME_EXCHANGE,
                )
                .map_err(|e| err(&dest)(io::Error::from(e)))?;
                // `staged` now holds the old content; dropping the TempPath removes it.
            }
            Ok(_) => {
                return Err(OutputIoError {
                    path: dest,
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "exists and is not an earlier output of this kind; refusing to replace it",
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        std::fs::write(&dest, b"old").unwrap();
        let mut f = AtomicFile::create(&dest).unwrap();
        f.file().write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_file_leaves_old_content_and_no_litter() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        std::fs::write(&dest, b"old").unwrap();
        let mut f = AtomicFile::create(&dest).unwrap();
        f.file().write_all(b"partial").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let (_file, temp) = scratch_file(dir.path()).unwrap();
        let scratch = scratch_dir(dir.path(), ".build-").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        drop((temp, scratch));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn read_only_trees_and_stale_staging_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".tmp-abc-1");
        std::fs::create_dir_all(stale.join("ro/inner")).unwrap();
        std::fs::write(stale.join("ro/inner/f"), b"x").unwrap();
        std::fs::set_permissions(stale.join("ro"), Permissions::from_mode(0o555)).unwrap();
        std::fs::create_dir(dir.path().join(".tmp-other-1")).unwrap();
        remove_stale(dir.path(), ".tmp-abc-");
        assert!(!stale.exists());
        assert!(dir.path().join(".tmp-other-1").exists());
    }

    #[test]
    fn temporaries_of_dead_runs_are_swept_and_live_ones_kept() {
        assert!(is_temporary(".scratchpack-12-0-0a1b2c3d.tmp"));
        assert!(is_temporary(".scratchpack-build-12-3-0a1b2c3d"));
        assert!(is_temporary(".hello.tar.scratchpack-12-0-0a1b2c3d.tmp"));
        assert!(!is_temporary("scratchpack-12-0-0a1b2c3d"));
        assert!(!is_temporary(".scratchpack-notes.tmp"));
        let dir = tempfile::tempdir().unwrap();
        let age = |p: &Path| {
            let old = std::time::SystemTime::now() - Duration::from_secs(60);
            File::open(p).unwrap().set_modified(old).unwrap();
        };
        // A killed run's: unlocked and old.
        let dead_file = dir.path().join(".scratchpack-999999-0-0a1b2c3d.tmp");
        std::fs::write(&dead_file, b"partial").unwrap();
        let dead_dir = dir.path().join(".scratchpack-build-999999-1-0a1b2c3d");
        std::fs::create_dir_all(dead_dir.join("sub")).unwrap();
        // A live one: locked by its owner.
        let (_file, live) = scratch_file(dir.path()).unwrap();
        for p in [&dead_file, &dead_dir, &live.path().to_path_buf()] {
            age(p);
        }
        let unrelated = dir.path().join(".hidden");
        std::fs::write(&unrelated, b"mine").unwrap();
        sweep(dir.path());
        assert!(!dead_file.exists() && !dead_dir.exists());
        assert!(live.path().exists(), "a live temporary was removed");
        assert!(unrelated.exists());
    }

    #[test]
    fn directory_swaps_in_and_refuses_foreign_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("layout");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("old"), b"").unwrap();

        let d = AtomicDir::create(&dest).unwrap();
        std::fs::write(d.path().join("new"), b"").unwrap();
        assert!(d.commit(|_| false).is_err());
        assert!(dest.join("old").exists());

        let d = AtomicDir::create(&dest).unwrap();
        std::fs::write(d.path().join("new"), b"").unwrap();
        d.commit(|_| true).unwrap();
        assert!(dest.join("new").exists() && !dest.join("old").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
