//! The source files that went into a build, with their SHA-1 and SHA-256 (SPDX wants
//! both): the files a direct compile was given, or for a project or a Go module the C,
//! C++, assembly and Go files below what the sandbox showed (`vendor/`, `testdata/`,
//! hidden folders and Go tests left out: dependencies are listed as modules). Named
//! relative to the sources' root, so the record does not depend on where the checkout
//! lies. Links are not followed; the walk stops at a count and a size.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::source::{Language, Sources};

const MAX_FILES: usize = 20_000;
const MAX_BYTES: u64 = 512 << 20;
const EXTENSIONS: &[&str] = &[
    "c", "h", "cc", "cpp", "cxx", "C", "hh", "hpp", "hxx", "H", "S", "s", "go",
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    /// `./dir/file.c`, relative to the sources' root.
    pub name: String,
    pub sha1: String,
    pub sha256: String,
}

/// The files, sorted by name; `true` when the walk stopped at its limits.
pub fn collect(sources: &Sources, project: bool) -> (Vec<SourceFile>, bool) {
    let mut paths = Vec::new();
    let mut truncated = false;
    if !project && sources.language != Language::Go {
        paths.extend(sources.args.iter().map(|a| sources.cwd.join(a)));
    } else {
        for shown in &sources.mounts {
            if shown.file {
                paths.push(shown.path.clone());
            } else {
                truncated |= walk(&shown.path, &mut paths);
            }
        }
    }
    let mut files = Vec::new();
    let mut bytes = 0u64;
    for path in paths {
        let Some(name) = relative(&path, &sources.root) else {
            continue;
        };
        let Some((file, size)) = hash(&path, name) else {
            continue;
        };
        bytes += size;
        if bytes > MAX_BYTES || files.len() >= MAX_FILES {
            truncated = true;
            break;
        }
        files.push(file);
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files.dedup_by(|a, b| a.name == b.name);
    (files, truncated)
}

fn relative(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let rel = rel.to_str()?;
    Some(if rel.is_empty() {
        format!("./{}", path.file_name()?.to_str()?)
    } else {
        format!("./{rel}")
    })
}

/// Source files below `dir`, in name order; `true` if the walk was cut short.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let skip = name.starts_with('.')
                    || name.starts_with('_')
                    || matches!(name.as_ref(), "vendor" | "testdata" | "node_modules");
                if !skip {
                    stack.push(entry.path());
                }
            } else if kind.is_file() && is_source(&name) {
                if out.len() >= MAX_FILES {
                    return true;
                }
                out.push(entry.path());
            }
        }
    }
    false
}

fn is_source(name: &str) -> bool {
    if name.ends_with("_test.go") {
        return false;
    }
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext))
}

fn hash(path: &Path, name: String) -> Option<(SourceFile, u64)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nofollow()
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut sha1 = Sha1::new();
    let mut sha256 = Sha256::new();
    let mut reader = file.take(MAX_BYTES);
    let mut buf = vec![0u8; 64 << 10];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        sha1.update(&buf[..n]);
        sha256.update(&buf[..n]);
        size += n as u64;
    }
    Some((
        SourceFile {
            name,
            sha1: hex(&sha1.finalize()),
            sha256: hex(&sha256.finalize()),
        },
        size,
    ))
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Shown;

    #[test]
    fn sources_are_named_from_the_root_and_vendor_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (name, text) in [
            ("main.go", "package main"),
            ("main_test.go", "package main"),
            ("vendor/x/x.go", "package x"),
            ("c/add.c", "int add;"),
            ("README", "no"),
            (".git/hook.c", "no"),
        ] {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", root.join("link.c")).unwrap();
        let sources = Sources {
            language: Language::Go,
            args: vec![".".into()],
            cwd: root.to_path_buf(),
            mounts: vec![Shown {
                path: root.to_path_buf(),
                file: false,
            }],
            root: root.to_path_buf(),
            default_name: "app".into(),
        };
        let (files, truncated) = collect(&sources, false);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["./c/add.c", "./main.go"]);
        assert!(!truncated);
        assert_eq!(files[1].sha256, hex(&Sha256::digest(b"package main")));
        assert_eq!(files[1].sha1.len(), 40);
    }
}
