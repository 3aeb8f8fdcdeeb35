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
    if fs::symlink_metadata(dst).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    Ok(sync_tree(src, dst, &Manifest::new())?.0)
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

/// Brings a copy `dst` (missing, or left by an earlier build, which may have changed
/// anything in it) up to date with `src`: files changed since `old` (or changed in the
/// copy) are copied again, files gone from the sources are removed, the build's own
/// outputs stay. Nothing in `dst` is followed: an entry in the way of a source file or
/// directory (a symlink, a file where a directory should be) is removed first. Returns
/// the new manifest and whether anything changed.
pub fn sync_tree(src: &Path, dst: &Path, old: &Manifest) -> io::Result<(Manifest, bool)> {
    let mut walk = Walk {
        old,
        manifest: Manifest::new(),
        changed: false,
        count: 0,
    };
    ensure_dir(dst)?;
    walk.dir(src, dst, Path::new(""))?;
    stamp(dst, &fs::metadata(src)?)?;
    let Walk {
        manifest,
        mut changed,
        ..
    } = walk;
    for rel in old.keys().filter(|r| !manifest.contains_key(*r)) {
        let path = dst.join(rel);
        if crate::beneath::no_symlink_below(dst, &path).is_ok()
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
        {
            fs::remove_file(&path)?;
            changed = true;
        }
    }
    Ok((manifest, changed))
}

/// One sync: the earlier manifest, the new one, whether anything changed, entries seen.
struct Walk<'a> {
    old: &'a Manifest,
    manifest: Manifest,
    changed: bool,
    count: usize,
}

impl Walk<'_> {
    fn dir(&mut self, src: &Path, dst: &Path, rel: &Path) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(src)
            .and_then(|d| d.collect::<Result<_, _>>())
            .map_err(naming(src))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            self.count += 1;
            if self.count > MAX_ENTRIES {
                return Err(io::Error::other(format!(
                    "more than {MAX_ENTRIES} files: refused"
                )));
            }
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let rel = rel.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).map_err(naming(&from))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                ensure_dir(&to)?;
                self.dir(&from, &to, &rel)?;
                fs::set_permissions(
                    &to,
                    fs::Permissions::from_mode(meta.mode() & 0o7777 | 0o700),
                )?;
                stamp(&to, &meta)?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&from).map_err(naming(&from))?;
                if fs::read_link(&to).ok().as_ref() != Some(&target) {
                    clear(&to)?;
                    std::os::unix::fs::symlink(&target, &to)?;
                    self.changed = true;
                }
            } else if kind.is_file() {
                let wanted = stamp_of(&meta);
                let same = self.old.get(&rel) == Some(&wanted)
                    && fs::symlink_metadata(&to)
                        .is_ok_and(|m| m.is_file() && stamp_of(&m) == wanted);
                if !same {
                    clear(&to)?;
                    // Opened first, so that an unreadable source is named as such.
                    fs::File::open(&from).map_err(naming(&from))?;
                    fs::copy(&from, &to)?;
                    fs::set_permissions(
                        &to,
                        fs::Permissions::from_mode(meta.mode() & 0o777 | 0o600),
                    )?;
                    stamp(&to, &meta)?;
                    self.changed = true;
                }
                self.manifest.insert(rel, wanted);
            }
        }
        Ok(())
    }
}

/// An error on the source entry `path`, naming it (the kind is kept).
fn naming(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
}

/// What the manifest records of a file.
fn stamp_of(meta: &fs::Metadata) -> (u64, i64, i64) {
    (meta.len(), meta.mtime(), meta.mtime_nsec())
}

/// `path` as a real directory: whatever else is there is removed.
fn ensure_dir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir(path)
}

/// Removes whatever is at `path` (a directory with all it holds).
fn clear(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => crate::atomic::remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether the file at `rel` in the copy is still the source's (not written by the build).
pub fn unchanged(manifest: &Manifest, rel: &Path, meta: &fs::Metadata) -> bool {
    manifest.get(rel) == Some(&stamp_of(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_updates_the_copy_and_keeps_build_outputs() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("sub")).unwrap();
        fs::write(s.join("sub/a.c"), "a1").unwrap();
        fs::write(s.join("b.c"), "b1").unwrap();
        fs::write(s.join("gone.c"), "g").unwrap();
        let out = tempfile::tempdir().unwrap();
        let dst = out.path().join("copy");
        let first = copy_tree(s, &dst).unwrap();
        // The build writes outputs, and a hostile one plants links where sources are.
        fs::write(dst.join("app"), "binary").unwrap();
        let secret = out.path().join("secret");
        fs::write(&secret, "host file").unwrap();
        fs::remove_file(dst.join("b.c")).unwrap();
        std::os::unix::fs::symlink(&secret, dst.join("b.c")).unwrap();
        fs::remove_dir_all(dst.join("sub")).unwrap();
        std::os::unix::fs::symlink(out.path(), dst.join("sub")).unwrap();
        // Nothing changed in the sources but what the build did.
        let (_, changed) = sync_tree(s, &dst, &first).unwrap();
        assert!(changed);
        assert_eq!(fs::read_to_string(&secret).unwrap(), "host file");
        assert_eq!(fs::read_to_string(dst.join("b.c")).unwrap(), "b1");
        assert!(fs::symlink_metadata(dst.join("sub")).unwrap().is_dir());
        assert_eq!(fs::read_to_string(dst.join("sub/a.c")).unwrap(), "a1");
        // A source edited and one removed; the build's output stays.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(s.join("sub/a.c"), "a2").unwrap();
        fs::remove_file(s.join("gone.c")).unwrap();
        let (second, _) = sync_tree(s, &dst, &first).unwrap();
        let (third, changed) = sync_tree(s, &dst, &second).unwrap();
        assert!(!changed, "an unchanged tree is left alone");
        assert_eq!(second, third);
        assert_eq!(fs::read_to_string(dst.join("sub/a.c")).unwrap(), "a2");
        assert!(!dst.join("gone.c").exists());
        assert_eq!(fs::read_to_string(dst.join("app")).unwrap(), "binary");
    }

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
