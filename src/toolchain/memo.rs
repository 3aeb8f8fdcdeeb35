//! Remembering where a host tool was found, so a warm build does not pay for the search
//! (`zig version` and `go env GOROOT` cost a process each, and `go` may be a Python
//! wrapper). A record is keyed by everything the search reads (the finder, PATH,
//! GOROOT, the working directory, scratchpack's version) and holds the found tool with stamps of the
//! files it rests on: what each looked-up name resolves to on PATH, the executable and
//! its folder. It is used only while every stamp still matches; anything else searches
//! again and rewrites the record. Records are written atomically; a damaged one is a
//! miss.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Finder;
use super::find::{FindError, HostEnv, HostTool, find, on_path};
use crate::cache::Cache;
use crate::digest::Digest;

/// Names a finder looks up on PATH.
fn looked_up(finder: Finder) -> &'static [&'static str] {
    match finder {
        Finder::Zig => &["zig"],
        Finder::Go => &["go"],
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    /// dev, inode, size, mtime (ns), ctime (ns) of the file, its link followed; zeros when absent.
    meta: [i128; 5],
    /// The same for the path itself when it is a symlink.
    link: [i128; 5],
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    dir: PathBuf,
    program: PathBuf,
    version: String,
    /// What each looked-up name resolved to on PATH.
    on_path: Vec<Option<PathBuf>>,
    stamps: Vec<Stamp>,
}

fn numbers(meta: Option<std::fs::Metadata>) -> [i128; 5] {
    meta.map(|m| {
        [
            i128::from(m.dev()),
            i128::from(m.ino()),
            i128::from(m.size()),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        ]
    })
    .unwrap_or_default()
}

fn stamp(path: &Path) -> Stamp {
    Stamp {
        path: path.to_path_buf(),
        meta: numbers(std::fs::metadata(path).ok()),
        link: numbers(std::fs::symlink_metadata(path).ok()),
    }
}

fn stamps(on_path: &[Option<PathBuf>], tool: &HostTool) -> Vec<Stamp> {
    on_path
        .iter()
        .flatten()
        .map(|p| stamp(p))
        .chain([stamp(&tool.program), stamp(&tool.dir)])
        .collect()
}

fn key(finder: Finder, env: &HostEnv) -> String {
    let text = serde_json::json!({
        "finder": format!("{finder:?}"),
        "path": env.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
        "goroot": env.goroot,
        "cwd": env.cwd,
        "scratchpack": env!("CARGO_PKG_VERSION"),
    });
    Digest::of(text.to_string().as_bytes()).hex
}

fn record_path(cache: &Cache, finder: Finder, env: &HostEnv) -> PathBuf {
    cache
        .root()
        .join("toolchains/found")
        .join(format!("{}.json", key(finder, env)))
}

/// [`find`], answered from the record of an earlier search while it still holds.
pub fn find_remembered(
    finder: Finder,
    env: &HostEnv,
    cache: &Cache,
) -> Result<HostTool, FindError> {
    let path = record_path(cache, finder, env);
    let on_path_now: Vec<Option<PathBuf>> = looked_up(finder)
        .iter()
        .map(|name| on_path(name, env))
        .collect();
    if let Some(tool) = recall(&path, &on_path_now) {
        return Ok(tool);
    }
    let tool = find(finder, env)?;
    remember(&path, &on_path_now, &tool);
    Ok(tool)
}

fn recall(path: &Path, on_path_now: &[Option<PathBuf>]) -> Option<HostTool> {
    let record: Record = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let tool = HostTool {
        dir: record.dir,
        program: record.program,
        version: record.version,
        fetched: false,
    };
    (record.on_path == on_path_now && record.stamps == stamps(on_path_now, &tool)).then_some(tool)
}

/// Best effort: a record that cannot be written only means searching next time.
fn remember(path: &Path, on_path_now: &[Option<PathBuf>], tool: &HostTool) {
    let record = Record {
        dir: tool.dir.clone(),
        program: tool.program.clone(),
        version: tool.version.clone(),
        on_path: on_path_now.to_vec(),
        stamps: stamps(on_path_now, tool),
    };
    let Some(parent) = path.parent() else { return };
    let _ = std::fs::create_dir_all(parent);
    let temp = parent.join(format!(".tmp-{}", std::process::id()));
    let Ok(bytes) = serde_json::to_vec(&record) else {
        return;
    };
    if std::fs::write(&temp, bytes).is_ok() && std::fs::rename(&temp, path).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    /// A fake `go` that counts its runs, in a GOROOT of its own.
    fn fake_go(root: &Path, counter: &Path, version: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root.join("bin")).unwrap();
        let go = root.join("bin/go");
        std::fs::write(
            &go,
            format!(
                "#!/bin/sh\n# {version}\necho run >> {}\necho {}\n",
                counter.display(),
                root.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join("VERSION"), format!("{version}\n")).unwrap();
    }

    #[test]
    fn a_second_search_runs_nothing_until_the_tool_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("goroot");
        let counter = dir.path().join("runs");
        fake_go(&root, &counter, "go1.99.0");
        let cache = Cache::locate(Some(dir.path().join("cache")), None, None).unwrap();
        let env = HostEnv {
            path: Some(OsString::from(root.join("bin"))),
            cwd: "/".into(),
            goroot: None,
        };
        let runs = || {
            std::fs::read_to_string(&counter)
                .unwrap_or_default()
                .lines()
                .count()
        };
        let first = find_remembered(Finder::Go, &env, &cache).unwrap();
        assert_eq!(first.version, "go1.99.0");
        assert_eq!(runs(), 1);
        let second = find_remembered(Finder::Go, &env, &cache).unwrap();
        assert_eq!(second, first);
        assert_eq!(runs(), 1, "the record answered");

        // The tool is replaced: the record no longer holds.
        fake_go(&root, &counter, "go1.100.0");
        let third = find_remembered(Finder::Go, &env, &cache).unwrap();
        assert_eq!(third.version, "go1.100.0");
        assert_eq!(runs(), 2, "searched again after a change");

        // Another PATH is another key; a damaged record is a miss.
        let path = record_path(&cache, Finder::Go, &env);
        std::fs::write(&path, "{not json").unwrap();
        find_remembered(Finder::Go, &env, &cache).unwrap();
        assert_eq!(runs(), 3);

        // A tool gone from PATH is not answered from the record.
        std::fs::remove_dir_all(&root).unwrap();
        assert!(find_remembered(Finder::Go, &env, &cache).is_err());
    }
}
