//! The binaries a project build produced: ELF executables (an executable or position
//! independent executable with an entry point, mode +x) that were not in the sources,
//! outside CMake's and meson's own probe directories and not shared libraries. Nothing
//! the build wrote is followed: symlinks are skipped, only regular files count.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::copy::{self, Manifest};

/// Directories holding the build systems' own probe programs.
const PROBE_DIRS: &[&str] = &["CMakeFiles", "meson-private", "meson-logs", ".git"];

/// Entries looked at most.
const MAX_ENTRIES: usize = 2_000_000;

/// Executables the build wrote, relative to `root`, sorted.
pub fn find(root: &Path, manifest: &Manifest) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut seen = 0;
    walk(root, Path::new(""), manifest, &mut found, &mut seen)?;
    found.sort();
    Ok(found)
}

fn walk(
    root: &Path,
    rel: &Path,
    manifest: &Manifest,
    found: &mut Vec<PathBuf>,
    seen: &mut usize,
) -> std::io::Result<()> {
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(std::io::Error::other("the build tree has too many files"));
        }
        let name = entry.file_name();
        let path = rel.join(&name);
        let meta = fs::symlink_metadata(root.join(&path))?;
        if meta.is_dir() {
            if !PROBE_DIRS.iter().any(|p| name == *p) {
                walk(root, &path, manifest, found, seen)?;
            }
        } else if meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
            && !copy::unchanged(manifest, &path, &meta)
            && !name.to_string_lossy().contains(".so")
            && is_executable_elf(&root.join(&path))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// An ELF file of type EXEC, or DYN with an entry point (a PIE, static or not).
fn is_executable_elf(path: &Path) -> bool {
    let mut header = [0u8; 32];
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    if file.read_exact(&mut header).is_err() || &header[..4] != b"\x7fELF" {
        return false;
    }
    let little = header[5] == 1;
    let half = |at: usize| {
        let b = [header[at], header[at + 1]];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let entry_nonzero = match header[4] {
        1 => header[24..28].iter().any(|&b| b != 0),
        2 => header[24..32].iter().any(|&b| b != 0),
        _ => false,
    };
    match half(16) {
        2 => true,
        3 => entry_nonzero,
        _ => false,
    }
}

/// The project's name as its binary is usually called: the directory's name without a
/// version (`hello-2.10` → `hello`).
pub fn project_name(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cut = name
        .char_indices()
        .find(|&(i, c)| {
            (c == '-' || c == '_')
                && name[i + 1..]
                    .chars()
                    .next()
                    .is_some_and(|d| d.is_ascii_digit() || d == 'v')
                && name[i + 1..].chars().any(|d| d.is_ascii_digit())
        })
        .map_or(name.len(), |(i, _)| i);
    name[..cut].to_string()
}

/// The one binary to take from `found`: the only one, or the one named `wanted` nearest
/// the top of the project (builds often link in an object directory, then copy up).
pub fn choose<'a>(found: &'a [PathBuf], wanted: &str) -> Option<&'a PathBuf> {
    if let [one] = found {
        return Some(one);
    }
    let named: Vec<&PathBuf> = found
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == wanted))
        .collect();
    let depth = |p: &PathBuf| p.components().count();
    let top = named.iter().map(|p| depth(p)).min()?;
    match named
        .iter()
        .filter(|p| depth(p) == top)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [one] => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(kind: u16, entry: u8) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[16..18].copy_from_slice(&kind.to_le_bytes());
        h[24] = entry;
        h
    }

    fn put(root: &Path, rel: &str, data: &[u8], mode: u32) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn finds_only_new_executables() {
        let src = tempfile::tempdir().unwrap();
        put(src.path(), "shipped/prebuilt", &elf(2, 1), 0o755);
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy");
        let manifest = copy::copy_tree(src.path(), &copy).unwrap();
        put(&copy, "src/hello", &elf(2, 1), 0o755);
        put(&copy, "build/app", &elf(3, 1), 0o755);
        put(&copy, "build/libx.so.1", &elf(3, 1), 0o755);
        put(&copy, "build/plugin", &elf(3, 0), 0o755);
        put(&copy, "build/obj.o", &elf(1, 0), 0o644);
        put(&copy, "build/noexec", &elf(2, 1), 0o644);
        put(
            &copy,
            "CMakeFiles/3.31/CompilerIdC/a.out",
            &elf(2, 1),
            0o755,
        );
        put(&copy, "script.sh", b"#!/bin/sh\n", 0o755);
        std::os::unix::fs::symlink("src/hello", copy.join("link")).unwrap();
        let found = find(&copy, &manifest).unwrap();
        assert_eq!(
            found,
            [PathBuf::from("build/app"), PathBuf::from("src/hello")]
        );
        assert_eq!(choose(&found, "hello"), Some(&PathBuf::from("src/hello")));
        assert_eq!(choose(&found, "other"), None);
        assert_eq!(
            choose(&found[..1], "other"),
            Some(&PathBuf::from("build/app"))
        );
    }

    #[test]
    fn project_names_drop_versions() {
        for (dir, name) in [
            ("hello-2.10", "hello"),
            ("cmark-0.30.2", "cmark"),
            ("make-dfsg-4.3", "make-dfsg"),
            ("tree", "tree"),
            ("go-sqlite3", "go-sqlite3"),
            ("app_v1.2", "app"),
        ] {
            assert_eq!(project_name(Path::new(dir)), name, "{dir}");
        }
    }
}
