//! The parallel directory walk. Directories are read on rayon's pool, one task per
//! directory and per batch of files; each file costs an `open` and a 4-byte read unless
//! it is ELF, in which case it is memory-mapped and only the pages the inspector touches
//! are read. Symbolic links are not followed (the files they point at are reported at
//! their own path, if inside the walk); special files are never opened.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::OFlag;

use super::{Finding, Outcome};
use crate::elf::{self, ElfError, ElfInfo};

/// Files handled by one task: large enough to amortise scheduling, small enough to
/// spread a single huge directory over every core.
const FILES_PER_TASK: usize = 64;

/// What a regular file turned out to be.
pub(super) enum FileCheck {
    NotElf,
    Elf(Result<ElfInfo, ElfError>),
    Unreadable(io::Error),
}

/// Opens `path` without blocking on a FIFO that replaced a regular file after the
/// directory was read, and inside a walk without following a final symlink.
fn open_regular(path: &Path, follow_symlinks: bool) -> io::Result<File> {
    let mut flags = OFlag::O_NONBLOCK;
    if !follow_symlinks {
        flags |= OFlag::O_NOFOLLOW;
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
}

/// Reads the magic number and, for ELF files, inspects the mapped file.
#[allow(unsafe_code)]
pub(super) fn check_file(path: &Path, follow_symlinks: bool) -> FileCheck {
    let mut file = match open_regular(path, follow_symlinks) {
        Ok(f) => f,
        Err(e) => return FileCheck::Unreadable(e),
    };
    let mut magic = [0u8; 4];
    match file.read_exact(&mut magic) {
        Ok(()) if elf::has_magic(&magic) => {}
        Ok(()) => return FileCheck::NotElf,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return FileCheck::NotElf,
        Err(e) => return FileCheck::Unreadable(e),
    }
    // SAFETY: the map is read-only and private to this call. If another process truncates
    // the file while it is being inspected, reading past the new end raises SIGBUS; that
    // is the price of reading only the pages needed, the same one scanelf pays.
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) => FileCheck::Elf(elf::inspect(&map)),
        Err(e) => FileCheck::Unreadable(e),
    }
}

/// Walks `root` and returns a finding for every ELF regular file under it, sorted by path.
pub(super) fn walk(root: &Path) -> Vec<Finding> {
    let found = Mutex::new(Vec::new());
    rayon::scope(|scope| visit_dir(scope, root.to_path_buf(), &found));
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_by(|a: &Finding, b| a.path.cmp(&b.path));
    found
}

fn visit_dir<'s>(scope: &rayon::Scope<'s>, dir: PathBuf, found: &'s Mutex<Vec<Finding>>) {
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => return push(found, finding(&dir, Outcome::Unreadable(e.to_string()))),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return push(found, finding(&dir, Outcome::Unreadable(e.to_string()))),
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => scope.spawn(move |s| visit_dir(s, path, found)),
            Ok(t) if t.is_file() => {
                files.push(path);
                if files.len() == FILES_PER_TASK {
                    let batch = std::mem::take(&mut files);
                    scope.spawn(move |_| check_batch(batch, found));
                }
            }
            Ok(_) => {}
            Err(e) => push(found, finding(&path, Outcome::Unreadable(e.to_string()))),
        }
    }
    check_batch(files, found);
}

fn check_batch(files: Vec<PathBuf>, found: &Mutex<Vec<Finding>>) {
    let mut local = Vec::new();
    for path in files {
        let outcome = match check_file(&path, false) {
            FileCheck::NotElf => continue,
            FileCheck::Elf(Ok(info)) => Outcome::Elf(info),
            FileCheck::Elf(Err(e)) => Outcome::Corrupt(e.to_string()),
            FileCheck::Unreadable(e) => Outcome::Unreadable(e.to_string()),
        };
        local.push(finding(&path, outcome));
    }
    if !local.is_empty() {
        found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(local);
    }
}

fn finding(path: &Path, outcome: Outcome) -> Finding {
    Finding {
        path: path.display().to_string(),
        image: None,
        outcome,
    }
}

fn push(found: &Mutex<Vec<Finding>>, f: Finding) {
    found.lock().unwrap_or_else(|e| e.into_inner()).push(f);
}
