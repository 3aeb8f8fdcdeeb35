//! An image's root filesystem written to a directory, layer over layer, without trusting
//! the layers: names are relative and never climb out, nothing is written through a
//! symlink (an image's absolute symlinks point into the host from outside the sandbox),
//! hardlinks name a file already unpacked, device nodes and FIFOs are skipped (the
//! sandbox has its own `/dev`), setuid, setgid and owners are dropped. Whiteouts apply to
//! the layers below: `.wh.NAME` removes NAME, `.wh..wh..opq` empties its directory of
//! what lower layers put there. Layers may be gzip, zstd or plain tar; the size written
//! is capped.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::RunError;
use crate::rootfs::extract::safe_relative;

/// Bytes an image may unpack to.
const MAX_UNPACKED: u64 = 16 << 30;
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Unpacks the layers, bottom first, into the empty directory `root`.
pub fn unpack(layers: Vec<Box<dyn Read>>, root: &Path) -> Result<(), RunError> {
    let mut written = 0u64;
    for (i, layer) in layers.into_iter().enumerate() {
        layer_into(decompress(layer)?, root, &mut written)
            .map_err(|why| RunError::Layer { index: i + 1, why })?;
    }
    Ok(())
}

/// The layer's tar stream, whatever its compression (told by its first bytes).
fn decompress(layer: Box<dyn Read>) -> Result<Box<dyn Read>, RunError> {
    let mut reader = BufReader::with_capacity(1 << 16, layer);
    let head = reader
        .fill_buf()
        .map_err(|e| RunError::Layer {
            index: 0,
            why: e.to_string(),
        })?
        .to_vec();
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(reader).map_err(|e| RunError::Layer {
                index: 0,
                why: format!("zstd: {e}"),
            })?,
        )
    } else {
        Box::new(reader)
    })
}

fn layer_into(stream: impl Read, root: &Path, written: &mut u64) -> Result<(), String> {
    let mut tar = tar::Archive::new(stream);
    // What this layer put: an opaque whiteout keeps it.
    let mut ours: HashSet<PathBuf> = HashSet::new();
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| format!("damaged tar: {e}"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = safe_relative(name.trim_start_matches('/'))
            .map_err(|r| format!("entry `{name}` {r}"))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        real_dirs(root, &parent).map_err(|e| format!("entry `{name}`: {e}"))?;
        let file_name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name == OPAQUE {
            empty_except(&root.join(&parent), &parent, &ours)
                .map_err(|e| format!("entry `{name}`: {e}"))?;
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT) {
            remove_any(&root.join(&parent).join(hidden))
                .map_err(|e| format!("entry `{name}`: {e}"))?;
            continue;
        }
        let dest = root.join(&rel);
        let err = |e: io::Error| format!("entry `{name}`: {e}");
        let mode = entry.header().mode().unwrap_or(0o644) & 0o1777;
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        fs::remove_file(&dest).map_err(err)?;
                        fs::create_dir(&dest).map_err(err)?;
                    }
                    Err(_) => fs::create_dir(&dest).map_err(err)?,
                }
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o700))
                    .map_err(err)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                *written = written.saturating_add(entry.size());
                if *written > MAX_UNPACKED {
                    return Err("the image unpacks to more than 16 GiB".into());
                }
                remove_any(&dest).map_err(err)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&dest)
                    .map_err(err)?;
                io::copy(&mut entry, &mut file).map_err(err)?;
                fs::set_permissions(&dest, fs::Permissions::from_mode((mode & 0o777) | 0o400))
                    .map_err(err)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| format!("entry `{name}` is a symlink without a target"))?;
                remove_any(&dest).map_err(err)?;
                std::os::unix::fs::symlink(String::from_utf8_lossy(&target).as_ref(), &dest)
                    .map_err(err)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| format!("entry `{name}` is a hardlink without a target"))?;
                let target = String::from_utf8_lossy(&target).into_owned();
                let target_rel = safe_relative(target.trim_start_matches('/'))
                    .map_err(|r| format!("entry `{name}`: its target {r}"))?;
                let target_parent = target_rel
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                real_dirs(root, &target_parent).map_err(|e| format!("entry `{name}`: {e}"))?;
                let source = root.join(&target_rel);
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_file() => {}
                    _ => return Err(format!("entry `{name}` links to no unpacked file")),
                }
                remove_any(&dest).map_err(err)?;
                fs::hard_link(&source, &dest).map_err(err)?;
            }
            // Devices and FIFOs: the sandbox has its own /dev.
            _ => continue,
        }
        ours.insert(rel);
    }
    Ok(())
}

/// Every component of `dir` under `root` a real directory (created when missing); a
/// symlink or a file on the way is an error.
fn real_dirs(root: &Path, dir: &Path) -> Result<(), String> {
    let mut at = root.to_path_buf();
    for c in dir.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "`{}` is a symlink: nothing is written through one",
                    at.strip_prefix(root).unwrap_or(&at).display()
                ));
            }
            Ok(_) => return Err(format!("`{}` is not a directory", at.display())),
            Err(_) => fs::create_dir(&at).map_err(|e| e.to_string())?,
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (a directory with its contents); nothing is fine.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => crate::atomic::remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Empties `dir` of what lower layers put there (what this layer put stays).
fn empty_except(dir: &Path, rel: &Path, ours: &HashSet<PathBuf>) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if !ours.contains(&rel.join(entry.file_name())) {
            remove_any(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Box<dyn Read> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            // Names are set raw: the builder refuses `..`, an attacker's tar does not.
            let raw = name.as_bytes();
            h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        Box::new(std::io::Cursor::new(b.into_inner().unwrap()))
    }

    use tar::EntryType::{Directory as D, Link as L, Regular as R, Symlink as S};

    #[test]
    fn layers_stack_with_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let lower = layer(&[
            ("etc/", D, b"", None),
            ("etc/a", R, b"a", None),
            ("etc/gone", R, b"x", None),
            ("var/cache/", D, b"", None),
            ("var/cache/old", R, b"o", None),
            ("bin/", D, b"", None),
            ("bin/sh", R, b"sh", None),
            ("bin/link", L, b"", Some("bin/sh")),
        ]);
        let upper = layer(&[
            ("etc/.wh.gone", R, b"", None),
            ("var/cache/new", R, b"n", None),
            ("var/cache/.wh..wh..opq", R, b"", None),
            ("etc/a", R, b"A", None),
        ]);
        unpack(vec![lower, upper], root).unwrap();
        assert_eq!(fs::read(root.join("etc/a")).unwrap(), b"A");
        assert!(!root.join("etc/gone").exists());
        assert!(
            !root.join("var/cache/old").exists(),
            "the opaque directory hides the lower"
        );
        assert_eq!(
            fs::read(root.join("var/cache/new")).unwrap(),
            b"n",
            "its own layer stays"
        );
        assert_eq!(fs::read(root.join("bin/link")).unwrap(), b"sh");
    }

    #[test]
    fn nothing_escapes() {
        let outside = tempfile::tempdir().unwrap();
        for hostile in [
            layer(&[("../escape", R, b"x", None)]),
            layer(&[
                ("evil", S, b"", Some(outside.path().to_str().unwrap())),
                ("evil/x", R, b"x", None),
            ]),
            layer(&[("h", L, b"", Some("../../etc/passwd"))]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            assert!(unpack(vec![hostile], dir.path()).is_err());
            assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        }
        // A whiteout cannot remove anything outside either.
        let dir = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), "k").unwrap();
        let link = outside.path().to_str().unwrap();
        let r = unpack(
            vec![layer(&[
                ("d", S, b"", Some(link)),
                ("d/.wh.keep", R, b"", None),
            ])],
            dir.path(),
        );
        assert!(r.is_err());
        assert!(outside.path().join("keep").exists());
    }
}
