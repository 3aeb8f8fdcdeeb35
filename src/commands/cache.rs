//! `scratchpack cache ls|prune`: what the cache directory holds (base root filesystems,
//! prepared ones with their packages, toolchain caches, fetched toolchains, kept project
//! copies, kept builds) and removing it, under the same
//! locks builds take.

use serde_json::{Value, json};

use crate::cache::Cache;
use crate::cli::{CacheCommand, CacheKind};
use crate::error::{Error, ExitStatus};
use crate::plan::Environment;
use crate::provision;
use crate::toolchain;
use crate::ui::Ui;

/// One cached thing.
struct Entry {
    kind: CacheKind,
    path: std::path::PathBuf,
    what: String,
    size: u64,
    /// The lock builds hold while creating it.
    lock: Option<String>,
}

fn kind_name(kind: CacheKind) -> &'static str {
    match kind {
        CacheKind::Rootfs => "rootfs",
        CacheKind::Prepared => "prepared",
        CacheKind::Tools => "tools",
        CacheKind::Toolchains => "toolchains",
        CacheKind::Projects => "projects",
        CacheKind::Builds => "builds",
    }
}

fn entries(cache: &Cache) -> Vec<Entry> {
    let mut out = Vec::new();
    let pinned: Vec<(String, String)> = toolchain::builtin()
        .map(|all| {
            all.iter()
                .flat_map(|t| {
                    t.rootfs.sha256.iter().map(move |(arch, d)| {
                        (d.clone(), format!("Alpine {} {arch}", t.rootfs.version))
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    for dir in subdirs(&cache.root().join("rootfs")) {
        let digest = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = pinned
            .iter()
            .find(|(d, _)| *d == digest)
            .map_or("unpinned rootfs".to_string(), |(_, n)| n.clone());
        out.push(Entry {
            kind: CacheKind::Rootfs,
            size: Cache::size_of(&dir),
            what: format!("{name} (sha256:{})", &digest[..digest.len().min(12)]),
            lock: Some(format!("rootfs-{digest}")),
            path: dir,
        });
    }
    for p in provision::list(cache) {
        let key = p
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let installed: Vec<String> = p.record.installed.iter().map(ToString::to_string).collect();
        out.push(Entry {
            kind: CacheKind::Prepared,
            size: Cache::size_of(&p.dir),
            what: format!(
                "{}{} [{}]",
                p.record
                    .arch
                    .as_ref()
                    .map(|a| format!("for {a}: "))
                    .unwrap_or_default(),
                p.record.packages.join(" "),
                installed.join(", ")
            ),
            lock: Some(format!("prepared-{key}")),
            path: p.dir,
        });
    }
    let releases: Vec<(String, String)> = toolchain::builtin()
        .map(|all| {
            all.iter()
                .filter_map(|t| Some((t, t.fetch.as_ref()?)))
                .flat_map(|(t, f)| {
                    f.sha256.iter().map(move |(arch, d)| {
                        (d.clone(), format!("{} {} {arch}", t.name, f.version))
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    for dir in subdirs(&cache.root().join("toolchains")) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (what, lock) = if name == "found" {
            ("remembered toolchain search".to_string(), None)
        } else {
            let release = releases
                .iter()
                .find(|(d, _)| *d == name)
                .map_or("fetched toolchain".to_string(), |(_, n)| n.clone());
            (
                format!("{release} (sha256:{})", &name[..name.len().min(12)]),
                Some(format!("toolchain-{name}")),
            )
        };
        out.push(Entry {
            kind: CacheKind::Toolchains,
            size: Cache::size_of(&dir),
            what,
            lock,
            path: dir,
        });
    }
    for toolchain_dir in subdirs(&cache.root().join("tools")) {
        for dir in subdirs(&toolchain_dir) {
            let name = format!(
                "{}/{}",
                toolchain_dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy(),
                dir.file_name().unwrap_or_default().to_string_lossy()
            );
            out.push(Entry {
                kind: CacheKind::Tools,
                size: Cache::size_of(&dir),
                what: name,
                lock: None,
                path: dir,
            });
        }
    }
    for dir in subdirs(&cache.root().join("projects")) {
        let key = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Entry {
            kind: CacheKind::Projects,
            size: Cache::size_of(&dir),
            what: format!(
                "kept copy of {}",
                std::fs::read_to_string(dir.join("project")).unwrap_or_else(|_| key.clone())
            ),
            lock: Some(format!("project-{key}")),
            path: dir,
        });
    }
    for (dir, what) in crate::builder::reuse::list(cache) {
        let key = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Entry {
            kind: CacheKind::Builds,
            size: Cache::size_of(&dir),
            what,
            lock: Some(format!("build-{key}")),
            path: dir,
        });
    }
    out
}

fn subdirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !is_hidden(p))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn is_hidden(p: &std::path::Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

pub fn run(command: &CacheCommand, env: &Environment, ui: &Ui) -> Result<ExitStatus, Error> {
    let cache = env.cache().map_err(crate::plan::PlanError::from)?;
    match command {
        CacheCommand::Ls { json } => {
            let all = entries(&cache);
            if *json {
                let rows: Vec<Value> = all
                    .iter()
                    .map(|e| json!({"kind": kind_name(e.kind), "what": e.what, "size": e.size, "path": e.path.display().to_string()}))
                    .collect();
                ui.data(
                    &serde_json::to_string_pretty(
                        &json!({"dir": cache.root().display().to_string(), "entries": rows}),
                    )
                    .unwrap_or_default(),
                );
            } else {
                for e in &all {
                    ui.data(&format!(
                        "{:<9}{:>11}  {}",
                        kind_name(e.kind),
                        crate::ui::size(e.size),
                        e.what
                    ));
                }
                let total: u64 = all.iter().map(|e| e.size).sum();
                ui.note(&format!(
                    "{} entries, {} in {}",
                    all.len(),
                    crate::ui::size(total),
                    cache.root().display()
                ));
            }
        }
        CacheCommand::Prune { kinds } => {
            let kinds = if kinds.is_empty() {
                vec![
                    CacheKind::Rootfs,
                    CacheKind::Prepared,
                    CacheKind::Tools,
                    CacheKind::Toolchains,
                    CacheKind::Builds,
                ]
            } else {
                kinds.clone()
            };
            let mut freed = 0;
            let mut count = 0;
            for e in entries(&cache)
                .into_iter()
                .filter(|e| kinds.contains(&e.kind))
            {
                let _lock = match &e.lock {
                    Some(name) => Some(
                        cache
                            .lock(name, || ui.status("waiting for a build to finish"))
                            .map_err(crate::plan::PlanError::from)?,
                    ),
                    None => None,
                };
                if crate::atomic::remove_tree(&e.path).is_ok() {
                    freed += e.size;
                    count += 1;
                }
            }
            if kinds.contains(&CacheKind::Tools) {
                let _ = crate::atomic::remove_tree(&cache.root().join("probes"));
            }
            ui.note(&format!(
                "removed {count} entries, {}",
                crate::ui::size(freed)
            ));
        }
    }
    Ok(ExitStatus::Success)
}
