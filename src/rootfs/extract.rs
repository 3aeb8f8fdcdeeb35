//! Extracting a root filesystem tarball without trusting it. Every entry must land inside
//! the target: absolute names and `..` are refused, no entry may be written through a
//! symlink (the rootfs's own absolute symlinks point into the host while outside the
//! sandbox), hardlinks must name a file already extracted inside, and device nodes and
//! FIFOs are refused. setuid, setgid and ownership are dropped: the tree belongs to the
//! user running scratchpack (root inside the sandbox's user namespace).

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("refusing the archive: entry `{entry}` {reason}")]
    Hostile { entry: String, reason: &'static str },
    #[error("the archive is damaged")]
    Damaged(#[source] io::Error),
    #[error("cannot extract `{entry}`")]
    Write {
        entry: String,
        #[source]
        source: io::Error,
    },
}

/// A relative path made only of normal components.
pub(crate) fn safe_relative(name: &str) -> Result<PathBuf, &'static str> {
    if name.starts_with('/') {
        return Err("has an absolute path");
    }
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("climbs out with `..`"),
            _ => return Err("has an absolute path"),
        }
    }
    Ok(out)
}

/// Bytes a rootfs may unpack to (Alpine's minirootfs: about 8 MB): a tarball pinned by a
/// hostile toolchain file cannot fill the disk.
const MAX_EXTRACTED: u64 = 4 << 30;

/// Extracts the tar stream `archive` into the existing empty directory `target`.
pub fn extract(archive: impl Read, target: &Path) -> Result<(), ExtractError> {
    let mut tar = tar::Archive::new(archive);
    let mut extracted: u64 = 0;
    // Directories known to be real (created here), so ancestors are checked once.
    let mut real_dirs: HashSet<PathBuf> = HashSet::from([PathBuf::new()]);
    for entry in tar.entries().map_err(ExtractError::Damaged)? {
        let mut entry = entry.map_err(ExtractError::Damaged)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let hostile = |reason| ExtractError::Hostile {
            entry: name.clone(),
            reason,
        };
        let rel = safe_relative(&name).map_err(hostile)?;
        if rel.as_os_str().is_empty() {
            continue; // "./" itself
        }
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        ensure_real_dirs(target, &parent, &mut real_dirs).map_err(|e| match e {
            DirError::Symlink => hostile("goes through a symlink"),
            DirError::Io(source) => ExtractError::Write {
                entry: name.clone(),
                source,
            },
        })?;
        let dest = target.join(&rel);
        let write_err = |source| ExtractError::Write {
            entry: name.clone(),
            source,
        };
        let mode = entry.header().mode().unwrap_or(0o644) & 0o1777;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(hostile("replaces a file or symlink with a directory")),
                    Err(_) => fs::create_dir(&dest).map_err(write_err)?,
                }
                // The owner keeps full access, or the tree could not be filled or removed.
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o700))
                    .map_err(write_err)?;
                real_dirs.insert(rel);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                extracted = extracted.saturating_add(entry.size());
                if extracted > MAX_EXTRACTED {
                    return Err(hostile("takes the rootfs past 4 GiB"));
                }
                remove_existing(&dest).map_err(write_err)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode & 0o777)
                    .open(&dest)
                    .map_err(write_err)?;
                io::copy(&mut entry, &mut file).map_err(ExtractError::Damaged)?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode & 0o777))
                    .map_err(write_err)?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| hostile("is a symlink without a target"))?;
                let link = PathBuf::from(String::from_utf8_lossy(&link).into_owned());
                remove_existing(&dest).map_err(write_err)?;
                std::os::unix::fs::symlink(&link, &dest).map_err(write_err)?;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| hostile("is a hardlink without a target"))?;
                let link = String::from_utf8_lossy(&link).into_owned();
                let link_rel = safe_relative(&link)
                    .map_err(|_| hostile("is a hardlink to outside the rootfs"))?;
                let link_parent = link_rel.parent().map(Path::to_path_buf).unwrap_or_default();
                if !real_dirs.contains(&link_parent) {
                    return Err(hostile(
                        "is a hardlink through a symlink or to a missing file",
                    ));
                }
                let source = target.join(&link_rel);
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_file() => {}
                    _ => {
                        return Err(hostile(
                            "is a hardlink to something that is not an extracted file",
                        ));
                    }
                }
                remove_existing(&dest).map_err(write_err)?;
                fs::hard_link(&source, &dest).map_err(write_err)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(hostile("is a device node"));
            }
            tar::EntryType::Fifo => return Err(hostile("is a FIFO")),
            // PAX and GNU metadata records are consumed by the tar reader itself.
            _ => continue,
        }
    }
    Ok(())
}

enum DirError {
    Symlink,
    Io(io::Error),
}

/// Makes sure every component of `dir` (relative to `target`) is a real directory,
/// creating missing ones; a symlink anywhere on the way is refused.
fn ensure_real_dirs(
    target: &Path,
    dir: &Path,
    known: &mut HashSet<PathBuf>,
) -> Result<(), DirError> {
    if known.contains(dir) {
        return Ok(());
    }
    let mut sofar = PathBuf::new();
    for c in dir.components() {
        sofar.push(c);
        if known.contains(&sofar) {
            continue;
        }
        let path = target.join(&sofar);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(DirError::Symlink),
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(DirError::Io(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "not a directory",
                )));
            }
            Err(_) => fs::create_dir(&path).map_err(DirError::Io)?,
        }
        known.insert(sofar.clone());
    }
    Ok(())
}

/// Removes a previous non-directory entry, so that nothing is written through it.
fn remove_existing(dest: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a directory is in the way",
        )),
        Ok(_) => fs::remove_file(dest),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum E<'a> {
        Dir(&'a str),
        File(&'a str, u32),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Dev(&'a str),
    }

    /// Names are written raw: the tar crate refuses to build the hostile ones.
    fn tarball(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, link) = match e {
                E::Dir(n) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    (*n, None)
                }
                E::File(n, mode) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    (*n, None)
                }
                E::Sym(n, t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    (*n, Some(*t))
                }
                E::Hard(n, t) => {
                    h.set_entry_type(tar::EntryType::Link);
                    (*n, Some(*t))
                }
                E::Dev(n) => {
                    h.set_entry_type(tar::EntryType::Char);
                    (*n, None)
                }
            };
            let data: &[u8] = if matches!(e, E::File(..)) {
                b"data"
            } else {
                b""
            };
            h.set_size(data.len() as u64);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(t) = link {
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn run(entries: &[E]) -> (tempfile::TempDir, Result<(), ExtractError>) {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("root");
        fs::create_dir(&target).unwrap();
        let r = extract(&tarball(entries)[..], &target);
        (dir, r)
    }

    fn refused(entries: &[E], entry: &str) {
        let (dir, r) = run(entries);
        match r {
            Err(ExtractError::Hostile { entry: e, .. }) => assert_eq!(e, entry),
            other => panic!("not refused: {other:?}"),
        }
        assert!(!dir.path().join("escaped").exists(), "something escaped");
    }

    #[test]
    fn a_tarball_unpacking_past_the_cap_is_refused_before_writing() {
        // A header declaring 5 GiB, with no data behind it.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_path("big").unwrap();
        h.set_size(5 << 30);
        h.set_cksum();
        let dir = tempfile::tempdir().unwrap();
        let r = extract(&h.as_bytes()[..], dir.path());
        assert!(
            matches!(r, Err(ExtractError::Hostile { ref entry, .. }) if entry == "big"),
            "{r:?}"
        );
        assert!(!dir.path().join("big").exists());
    }

    #[test]
    fn ordinary_tree() {
        let (dir, r) = run(&[
            E::Dir("./bin/"),
            E::File("./bin/busybox", 0o4755),
            E::Sym("./bin/sh", "/bin/busybox"),
            E::Hard("./bin/ash", "./bin/busybox"),
            E::Dir("./tmp/"),
        ]);
        r.unwrap();
        let root = dir.path().join("root");
        let mode = fs::metadata(root.join("bin/busybox"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o755, "setuid kept");
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(fs::read(root.join("bin/ash")).unwrap(), b"data");
    }

    #[test]
    fn hostile_tarballs_are_refused() {
        refused(&[E::File("../escaped", 0o644)], "../escaped");
        refused(&[E::File("/escaped", 0o644)], "/escaped");
        refused(
            &[E::Dir("a/"), E::File("a/../../escaped", 0o644)],
            "a/../../escaped",
        );
        // A symlink pointing out, then an entry written through it.
        refused(
            &[E::Sym("link", ".."), E::File("link/escaped", 0o644)],
            "link/escaped",
        );
        refused(&[E::Sym("etc", "/tmp"), E::Dir("etc/x/")], "etc/x/");
        refused(&[E::Hard("h", "../escaped")], "h");
        refused(&[E::Hard("h", "/etc/passwd")], "h");
        refused(&[E::Sym("l", "/etc"), E::Hard("h", "l/passwd")], "h");
        refused(&[E::Dev("dev/null")], "dev/null");
    }
}
