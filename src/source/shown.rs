//! What of the host a build is shown, beyond the files it was named: the project a source
//! file belongs to (the nearest enclosing directory with a project marker such as `.git`
//! or a `Makefile`), or, for a lone file outside any project, the headers it includes.
//! Never `/`, a home directory, a directory holding homes or a shared temporary
//! directory as a whole: those hold what a build must not read (`~/.ssh`).
//!
//! Owns no language rules (see the parent module) and no mounting (see
//! [`crate::sandbox`]).

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Files or directories whose presence makes a directory a project.
const MARKERS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "Makefile",
    "makefile",
    "GNUmakefile",
    "CMakeLists.txt",
    "meson.build",
    "configure",
    "configure.ac",
    "go.mod",
    "Cargo.toml",
    "build.ninja",
    "WORKSPACE",
    "MODULE.bazel",
    "package.json",
];
/// Extensions of files a lone source may include and have shown.
const HEADER_EXTENSIONS: &[&str] = &["h", "hh", "hpp", "hxx", "inc", "inl", "ipp", "tcc"];
/// Headers followed from lone files, and bytes read of each: a bound on hostile input.
const MAX_HEADERS: usize = 4096;
const MAX_HEADER_BYTES: u64 = 16 << 20;
/// Shared temporary directories.
const SHARED_TEMP: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];

/// Directories too broad to show whole.
#[derive(Debug, Clone, Default)]
pub struct Broad {
    homes: BTreeSet<PathBuf>,
}

impl Broad {
    /// The user's home, `/root`, `/home`, and every home in `/etc/passwd`.
    pub fn of_machine(home: Option<&Path>) -> Broad {
        let mut homes: BTreeSet<PathBuf> = ["/root", "/home"].iter().map(PathBuf::from).collect();
        homes.extend(home.map(super::normalize));
        if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
            homes.extend(
                passwd
                    .lines()
                    .filter_map(|l| l.split(':').nth(5))
                    .filter(|h| h.starts_with('/') && *h != "/")
                    .map(|h| super::normalize(Path::new(h))),
            );
        }
        Broad { homes }
    }

    /// Only these homes (tests).
    #[cfg(test)]
    pub fn with_homes(homes: &[&str]) -> Broad {
        Broad {
            homes: homes.iter().map(PathBuf::from).collect(),
        }
    }

    /// Why `dir` may not be shown whole, if it may not.
    pub fn why(&self, dir: &Path) -> Option<&'static str> {
        if dir == Path::new("/") {
            return Some("it is the root directory");
        }
        if self.homes.contains(dir) {
            return Some("it is a home directory");
        }
        if self.homes.iter().any(|h| h.starts_with(dir)) {
            return Some("it holds home directories");
        }
        if SHARED_TEMP.iter().any(|t| Path::new(t) == dir) {
            return Some("it is a shared temporary directory");
        }
        None
    }
}

/// The project `file` belongs to: the nearest directory above it (its own included) that
/// holds a project marker and may be shown whole.
pub fn project_of(file: &Path, broad: &Broad) -> Option<PathBuf> {
    let mut dir = file.parent()?;
    loop {
        if broad.why(dir).is_some() {
            return None;
        }
        if MARKERS.iter().any(|m| dir.join(m).exists()) {
            return Some(dir.to_path_buf());
        }
        dir = dir.parent()?;
    }
}

/// The headers `sources` include with `#include "..."`, followed from header to header:
/// regular files with a header's extension, below the directory of the source that led
/// there, reached through no symlink and no hidden directory. Anything else is not shown
/// (the compiler then reports it missing).
pub fn headers_of(sources: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = BTreeSet::new();
    let mut queue: VecDeque<(PathBuf, PathBuf)> = sources
        .iter()
        .filter_map(|s| Some((s.clone(), s.parent()?.to_path_buf())))
        .collect();
    while let Some((file, top)) = queue.pop_front() {
        for name in quoted_includes(&file) {
            let Some(dir) = file.parent() else { continue };
            let header = super::normalize(&dir.join(&name));
            if found.len() >= MAX_HEADERS || found.contains(&header) {
                continue;
            }
            if showable_header(&header, &top) {
                found.insert(header.clone());
                queue.push_back((header, top.clone()));
            }
        }
    }
    found.into_iter().collect()
}

fn showable_header(header: &Path, top: &Path) -> bool {
    let Ok(rel) = header.strip_prefix(top) else {
        return false;
    };
    let named_like_a_header = header
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| HEADER_EXTENSIONS.contains(&e));
    let hidden = rel.components().any(|c| match c {
        Component::Normal(n) => n.to_string_lossy().starts_with('.'),
        _ => true,
    });
    let plain_file = std::fs::symlink_metadata(header).is_ok_and(|m| m.file_type().is_file());
    let no_symlinks = match (header.canonicalize(), top.canonicalize()) {
        (Ok(c), Ok(t)) => c.strip_prefix(&t).ok() == Some(rel),
        _ => false,
    };
    named_like_a_header && !hidden && plain_file && no_symlinks
}

/// The names of `#include "NAME"` lines of a file (bounded read).
fn quoted_includes(file: &Path) -> Vec<String> {
    let mut text = Vec::new();
    let read =
        std::fs::File::open(file).and_then(|f| f.take(MAX_HEADER_BYTES).read_to_end(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix('#')?.trim_start();
            let rest = rest.strip_prefix("include")?.trim_start();
            let rest = rest.strip_prefix('"')?;
            let name = &rest[..rest.find('"')?];
            (!name.is_empty() && !name.starts_with('/')).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broad_directories() {
        let b = Broad::with_homes(&["/home/u", "/root"]);
        assert!(b.why(Path::new("/")).is_some());
        assert!(b.why(Path::new("/home/u")).is_some());
        assert!(b.why(Path::new("/home")).is_some());
        assert!(b.why(Path::new("/tmp")).is_some());
        assert!(b.why(Path::new("/home/u/proj")).is_none());
        assert!(b.why(Path::new("/tmp/x")).is_none());
    }

    #[test]
    fn projects_and_lone_files() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home/u");
        std::fs::create_dir_all(home.join("proj/src")).unwrap();
        std::fs::create_dir_all(home.join(".git")).unwrap();
        std::fs::write(home.join("proj/Makefile"), "").unwrap();
        let b = Broad::with_homes(&[home.to_str().unwrap()]);
        assert_eq!(
            project_of(&home.join("proj/src/main.c"), &b),
            Some(home.join("proj"))
        );
        // A dotfiles repository in the home directory does not make it a project.
        assert_eq!(project_of(&home.join("hello.c"), &b), None);
    }

    #[test]
    fn lone_files_get_their_headers_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("inc")).unwrap();
        std::fs::create_dir_all(d.join(".ssh")).unwrap();
        std::fs::write(d.join(".ssh/id_rsa"), "secret").unwrap();
        std::fs::write(d.join(".ssh/k.h"), "secret").unwrap();
        std::fs::write(d.join("secret.txt"), "secret").unwrap();
        std::fs::write(d.join("inc/a.h"), "#include \"b.h\"\n").unwrap();
        std::fs::write(d.join("inc/b.h"), "#include \"../../escape.h\"\n").unwrap();
        std::os::unix::fs::symlink(d.join(".ssh/k.h"), d.join("link.h")).unwrap();
        std::fs::write(
            d.join("main.c"),
            "#include \"inc/a.h\"\n # include \".ssh/k.h\"\n#include \"secret.txt\"\n\
             #include \"link.h\"\n#include \"/etc/passwd\"\n#include <stdio.h>\n",
        )
        .unwrap();
        assert_eq!(
            headers_of(&[d.join("main.c")]),
            [d.join("inc/a.h"), d.join("inc/b.h")]
        );
    }
}
