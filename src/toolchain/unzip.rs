//! Unpacking a wheel (a zip archive) without trusting it: only the entries below one
//! folder are written, each name must be a plain relative path, symlinks and special
//! files are refused, nothing is written through an existing entry, and the bytes and
//! entries written are capped whatever the archive declares.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::rootfs::extract::safe_relative;

/// Bytes a release may unpack to (zig's wheel: 376 MB).
const MAX_UNPACKED: u64 = 4 << 30;
/// Entries a release may hold (zig's wheel: 19,540).
const MAX_ENTRIES: usize = 500_000;

#[derive(Debug, thiserror::Error)]
pub enum UnzipError {
    #[error("entry `{entry}` {reason}")]
    Hostile { entry: String, reason: String },
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Writes the entries of `archive` below `root/` into the empty directory `target`
/// (keeping the `root/` prefix); returns how many files were written.
pub fn unpack(archive: impl Read + Seek, root: &str, target: &Path) -> Result<usize, UnzipError> {
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| UnzipError::Damaged(e.to_string()))?;
    if zip.len() > MAX_ENTRIES {
        return Err(UnzipError::Damaged(format!(
            "{} entries, more than {MAX_ENTRIES}",
            zip.len()
        )));
    }
    let prefix = format!("{}/", root.trim_end_matches('/'));
    let mut written: u64 = 0;
    let mut files = 0;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| UnzipError::Damaged(e.to_string()))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let hostile = |reason: &str| UnzipError::Hostile {
            entry: name.clone(),
            reason: reason.to_string(),
        };
        let relative = safe_relative(&name).map_err(hostile)?;
        if !name.starts_with(&prefix) {
            continue;
        }
        let mode = entry.unix_mode().unwrap_or(0o644);
        let kind = mode & 0o170000;
        let is_dir = entry.is_dir() || kind == 0o040000;
        if !is_dir && kind != 0 && kind != 0o100000 {
            return Err(hostile("is a symlink or special file: refused"));
        }
        let path = target.join(&relative);
        let dir = if is_dir {
            path.as_path()
        } else {
            path.parent().unwrap_or(target)
        };
        make_dirs(target, dir)?;
        if is_dir {
            continue;
        }
        let write_err = |source| UnzipError::Write {
            path: path.clone(),
            source,
        };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 })
            .open(&path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    hostile("appears twice")
                } else {
                    write_err(e)
                }
            })?;
        let left = MAX_UNPACKED - written;
        let copied = io::copy(&mut (&mut entry).take(left + 1), &mut out).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                UnzipError::Damaged(format!("`{name}`: {e}"))
            } else {
                write_err(e)
            }
        })?;
        if copied > left {
            return Err(UnzipError::Damaged(format!(
                "it unpacks to more than {MAX_UNPACKED} bytes"
            )));
        }
        written += copied;
        files += 1;
    }
    Ok(files)
}

/// Creates `dir` and its parents below `target`, refusing to pass through anything but
/// a real directory.
fn make_dirs(target: &Path, dir: &Path) -> Result<(), UnzipError> {
    let mut current = target.to_path_buf();
    let Ok(rest) = dir.strip_prefix(target) else {
        return Ok(());
    };
    for part in rest.components() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(UnzipError::Hostile {
                    entry: current.display().to_string(),
                    reason: "is both a file and a directory".into(),
                });
            }
            Err(_) => fs::create_dir(&current).map_err(|source| UnzipError::Write {
                path: current.clone(),
                source,
            })?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn wheel(entries: &[(&str, u32, &[u8])]) -> Cursor<Vec<u8>> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, mode, data) in entries {
            let options = SimpleFileOptions::default().unix_permissions(*mode);
            if mode & 0o170000 == 0o120000 {
                out.add_symlink(*name, std::str::from_utf8(data).unwrap(), options)
                    .unwrap();
            } else {
                out.start_file(*name, options).unwrap();
                out.write_all(data).unwrap();
            }
        }
        let mut cursor = out.finish().unwrap();
        cursor.set_position(0);
        cursor
    }

    #[test]
    fn only_the_root_folder_is_written_with_its_modes() {
        let dir = tempfile::tempdir().unwrap();
        let archive = wheel(&[
            ("tool/bin/tool", 0o100755, b"\x7fELF"),
            ("tool/lib/a.h", 0o644, b"int a;"),
            ("tool-1.0.dist-info/RECORD", 0o644, b"x"),
        ]);
        assert_eq!(unpack(archive, "tool", dir.path()).unwrap(), 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("tool/bin/tool"), 0o755);
        assert_eq!(mode("tool/lib/a.h"), 0o644);
        assert!(!dir.path().join("tool-1.0.dist-info").exists());
    }

    #[test]
    fn hostile_entries_are_refused() {
        for (entries, needle) in [
            (vec![("tool/../../evil", 0o644, &b"x"[..])], "`..`"),
            (vec![("/etc/evil", 0o644, &b"x"[..])], "absolute"),
            (vec![("tool/link", 0o120777, &b"/etc"[..])], "symlink"),
            (
                vec![("tool/a", 0o644, &b"x"[..]), ("tool/a/b", 0o644, &b"y"[..])],
                "both a file and a directory",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let err = unpack(wheel(&entries), "tool", dir.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
            assert!(!dir.path().join("../evil").exists());
        }
    }

    #[test]
    fn damaged_archives_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(
            Cursor::new(b"PK\x03\x04garbage".to_vec()),
            "tool",
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
