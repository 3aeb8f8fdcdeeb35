//! Unpacking a wheel (a zip archive) without trusting it: only the entries below one
//! folder are written, each name must be a plain relative path, symlinks and special
//! files are refused, nothing is written through an existing entry, and the bytes and
//! entries written are capped whatever the archive declares.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
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
    unpack_at_most(archive, root, target, MAX_ENTRIES as u64)
}

fn unpack_at_most(
    mut archive: impl Read + Seek,
    root: &str,
    target: &Path,
    max_entries: u64,
) -> Result<usize, UnzipError> {
    // Counted before the zip reader loads the whole central directory into memory.
    let declared = declared_entries(&mut archive)?;
    if declared > max_entries {
        return Err(UnzipError::Damaged(format!(
            "{declared} entries, more than {max_entries}"
        )));
    }
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| UnzipError::Damaged(e.to_string()))?;
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

/// The number of entries the archive's end record (or its zip64 end record) declares.
fn declared_entries(archive: &mut (impl Read + Seek)) -> Result<u64, UnzipError> {
    let damaged = |why: &str| UnzipError::Damaged(why.to_string());
    let io = |e: io::Error| UnzipError::Damaged(e.to_string());
    let len = archive.seek(SeekFrom::End(0)).map_err(io)?;
    // The end record (22 bytes), its comment (at most 65,535) and a zip64 locator (20).
    let tail_len = len.min(22 + 65_535 + 20);
    archive.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    archive.read_exact(&mut tail).map_err(io)?;
    let end = (0..(tail.len() + 1).saturating_sub(22))
        .rev()
        .find(|&i| tail[i..i + 4] == *b"PK\x05\x06")
        .ok_or_else(|| damaged("no end of central directory"))?;
    let total = u64::from(u16::from_le_bytes([tail[end + 10], tail[end + 11]]));
    let result = if total != 0xFFFF {
        total
    } else {
        // zip64: the locator just before the end record says where its record is.
        if end < 20 || tail[end - 20..end - 16] != *b"PK\x06\x07" {
            return Err(damaged("no zip64 end of central directory locator"));
        }
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&tail[end - 12..end - 4]);
        archive
            .seek(SeekFrom::Start(u64::from_le_bytes(offset)))
            .map_err(io)?;
        let mut record = [0u8; 40];
        archive.read_exact(&mut record).map_err(io)?;
        if record[..4] != *b"PK\x06\x06" {
            return Err(damaged("no zip64 end of central directory"));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&record[32..40]);
        u64::from_le_bytes(count)
    };
    archive.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(result)
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
    fn the_entry_count_is_checked_before_the_directory_is_read() {
        let entries = [
            ("tool/a", 0o644, &b"x"[..]),
            ("tool/b", 0o644, &b"x"[..]),
            ("tool/c", 0o644, &b"x"[..]),
        ];
        let dir = tempfile::tempdir().unwrap();
        let err = unpack_at_most(wheel(&entries), "tool", dir.path(), 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 entries, more than 2"), "{err}");
        assert!(!dir.path().join("tool").exists());
        assert_eq!(declared_entries(&mut wheel(&entries)).unwrap(), 3);
        // A zip64 end: the plain record says 0xFFFF, the zip64 record the real count.
        let mut bytes = vec![0u8; 10];
        let record_at = bytes.len() as u64;
        bytes.extend(b"PK\x06\x06");
        bytes.extend(44u64.to_le_bytes());
        bytes.extend([0u8; 12]);
        bytes.extend(7_000_000u64.to_le_bytes());
        bytes.extend(7_000_000u64.to_le_bytes());
        bytes.extend([0u8; 16]);
        bytes.extend(b"PK\x06\x07");
        bytes.extend([0u8; 4]);
        bytes.extend(record_at.to_le_bytes());
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(b"PK\x05\x06");
        bytes.extend([0u8; 4]);
        bytes.extend([0xFF; 4]);
        bytes.extend([0xFF; 8]);
        bytes.extend([0u8; 2]);
        assert_eq!(
            declared_entries(&mut Cursor::new(bytes.clone())).unwrap(),
            7_000_000
        );
        let err = unpack(Cursor::new(bytes), "tool", dir.path()).unwrap_err();
        assert!(err.to_string().contains("7000000 entries"), "{err}");
    }

    #[test]
    fn damaged_archives_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // Found by the `release` fuzzer: inputs shorter than an end record.
        for short in [&b""[..], b"PK\x05\x06", &[0u8; 21]] {
            let err = unpack(Cursor::new(short.to_vec()), "tool", dir.path()).unwrap_err();
            assert!(err.to_string().contains("damaged"), "{err}");
        }
        let mut exact = b"PK\x05\x06".to_vec();
        exact.resize(22, 0);
        assert_eq!(declared_entries(&mut Cursor::new(exact)).unwrap(), 0);
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
