//! Outputs that appear whole or not at all. A file is written to a temporary beside its
//! destination and renamed over it; a directory is built beside its destination and
//! swapped in with `renameat2(RENAME_EXCHANGE)`. Until the commit the destination keeps
//! its old content; on error the temporary is removed on drop, on interrupt by
//! [`crate::interrupt::cleanup`].

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use tempfile::{NamedTempFile, TempDir};

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

fn temp_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.scratchpack-")
}

/// A temporary file in `dir` for intermediate data (a layer blob), removed on drop and on
/// interrupt. Kept beside the output so that large blobs never fill a small `/tmp`.
pub fn scratch_file(dir: &Path) -> Result<(File, TempGuard), OutputIoError> {
    let tmp = tempfile::Builder::new()
        .prefix(".scratchpack-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err(dir))?;
    let registration = interrupt::register(tmp.path().to_path_buf());
    let (file, path) = tmp.into_parts();
    Ok((
        file,
        TempGuard {
            _path: path,
            _registration: registration,
        },
    ))
}

/// Keeps a scratch file alive; removing it on drop.
pub struct TempGuard {
    _path: tempfile::TempPath,
    _registration: Registration,
}

/// A file written beside `dest` and renamed over it on [`AtomicFile::commit`].
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
    _registration: Registration,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self, OutputIoError> {
        if dest.is_dir() {
            return Err(OutputIoError {
                path: dest.to_path_buf(),
                source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
            });
        }
        let dir = parent_of(dest);
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(dest))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(err(dir))?;
        let registration = interrupt::register(tmp.path().to_path_buf());
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            _registration: registration,
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Flushes, syncs and renames the temporary over the destination.
    pub fn commit(mut self) -> Result<(), OutputIoError> {
        let dest = self.dest.clone();
        let file = self.tmp.as_file_mut();
        file.flush().map_err(err(&dest))?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(err(&dest))?;
        file.sync_all().map_err(err(&dest))?;
        self.tmp.persist(&dest).map_err(|e| OutputIoError {
            path: dest,
            source: e.error,
        })?;
        Ok(())
    }
}

/// A directory built beside `dest` and swapped in on [`AtomicDir::commit`].
pub struct AtomicDir {
    tmp: TempDir,
    dest: PathBuf,
    _registration: Registration,
}

impl AtomicDir {
    pub fn create(dest: &Path) -> Result<Self, OutputIoError> {
        let dir = parent_of(dest);
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(dest))
            .tempdir_in(dir)
            .map_err(err(dir))?;
        std::fs::set_permissions(tmp.path(), Permissions::from_mode(DIR_MODE))
            .map_err(err(tmp.path()))?;
        let registration = interrupt::register(tmp.path().to_path_buf());
        Ok(AtomicDir {
            tmp,
            dest: dest.to_path_buf(),
            _registration: registration,
        })
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Puts the directory in place. An existing destination is replaced only when
    /// `replaceable` says so (for instance: it is an earlier output of the same kind).
    pub fn commit(self, replaceable: impl Fn(&Path) -> bool) -> Result<(), OutputIoError> {
        let dest = self.dest.clone();
        let staged = self.tmp.path().to_path_buf();
        match std::fs::symlink_metadata(&dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::rename(&staged, &dest).map_err(err(&dest))?;
                let _ = self.tmp.keep();
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
                // `staged` now holds the old content; dropping the TempDir removes it.
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
