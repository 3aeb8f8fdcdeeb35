//! The project's writable copy: the build runs in it, never in the user's tree. Regular
//! files keep their mode and modification time (make and autotools compare times: a
//! copy with fresh times would regenerate `configure`), symlinks are copied as links
//! (they resolve inside the sandbox, never on the host), special files are skipped.
//! Returns what was copied, so the build's own outputs can be told from the sources.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

/// A copied file's size and modification time, by path relative to the copy.
pub type Manifest = BTreeMap<PathBuf, (u64, i64, i64)>;

/// Entries copied at most: a bound on hostile trees.
const MAX_ENTRIES: usize = 1_000_000;

/// Copies `src` into `dst` (which must not exist).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<Manifest> {
    let mut manifest = Manifest::new();
    let mut count = 0;
    fs::create_dir(dst)?;
    copy_dir(src, dst, Path::new(""), &mut manifest, &mut count)?;
    stamp(dst, &fs::metadata(src)?)?;
    Ok(manifest)
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    rel: &Path,
    manifest: &mut Manifest,
    count: &mut usize,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        *count += 1;
        if *count > MAX_ENTRIES {
            return Err(io::Error::other(format!(
                "more than {MAX_ENTRIES} files: refused"
            )));
        }
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let rel = rel.join(entry.file_name());
        let meta = fs::symlink_metadata(&from)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if kind.is_dir() {
            fs::create_dir(&to)?;
            copy_dir(&from, &to, &rel, manifest, count)?;
            fs::set_permissions(
                &to,
                fs::Permissions::from_mode(meta.mode() & 0o7777 | 0o700),
            )?;
            stamp(&to, &meta)?;
        } else if kind.is_file() {
            fs::copy(&from, &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o777 | 0o600))?;
            stamp(&to, &meta)?;
            manifest.insert(rel, (meta.len(), meta.mtime(), meta.mtime_nsec()));
        }
    }
    Ok(())
}

fn stamp(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

/// Whether the file at `rel` in the copy is still the source's (not written by the build).
pub fn unchanged(manifest: &Manifest, rel: &Path, meta: &fs::Metadata) -> bool {
    manifest.get(rel) == Some(&(meta.len(), meta.mtime(), meta.mtime_nsec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_links_and_times_but_nothing_else() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("sub")).unwrap();
        fs::write(s.join("sub/a.c"), "int x;").unwrap();
        fs::write(s.join("configure"), "#!/bin/sh").unwrap();
        fs::set_permissions(s.join("configure"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", s.join("evil")).unwrap();
        nix::unistd::mkfifo(
            &s.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let old = TimeSpec::new(1_000_000, 0);
        utimensat(
            nix::fcntl::AT_FDCWD,
            &s.join("sub/a.c"),
            &old,
            &old,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();

        let out = tempfile::tempdir().unwrap();
        let dst = out.path().join("copy");
        let manifest = copy_tree(s, &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("sub/a.c")).unwrap(), "int x;");
        assert_eq!(
            fs::metadata(dst.join("sub/a.c")).unwrap().mtime(),
            1_000_000
        );
        assert_eq!(
            fs::metadata(dst.join("configure")).unwrap().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(dst.join("evil")).unwrap(),
            Path::new("/etc/shadow")
        );
        assert!(!dst.join("fifo").exists());
        assert_eq!(manifest.len(), 2);
        let meta = fs::metadata(dst.join("sub/a.c")).unwrap();
        assert!(unchanged(&manifest, Path::new("sub/a.c"), &meta));
        fs::write(dst.join("sub/a.c"), "int y;").unwrap();
        let meta = fs::metadata(dst.join("sub/a.c")).unwrap();
        assert!(!unchanged(&manifest, Path::new("sub/a.c"), &meta));
        // The user's tree is untouched.
        assert_eq!(fs::read_to_string(s.join("sub/a.c")).unwrap(), "int x;");
    }
}
