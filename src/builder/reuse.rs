//! The build cache: a build's binaries kept under the digest of everything that decides
//! them, so the same build again returns them without running anything. The key covers
//! the sources by content (every file the sandbox shows, by path from the sources' root
//! and executable bit; `.git` by the commit it is at), the flags as the record names
//! them (`plan::canonical_command`), the platform, the toolchain's definition and the
//! tool itself (a fetched release by its pinned digest, a host tool by its version and
//! the digest of its executable), the rootfs by digest and the packages installed into
//! it (and into the target's root), the date and the host variables the toolchain
//! passes, and scratchpack's version. Builds that reach the network (`--go-proxy`) or
//! run on the host (`--no-sandbox`) are not kept.
//!
//! An entry (`cache/builds/KEY/`) holds the binaries and `entry.json`: what a build
//! returns (names, compiler, warnings, packages, the SBOM's record), the digest of each
//! binary, checked on every hit (a damaged entry is removed and built again), and the
//! key's inputs, which `-v` compares with the last build of the same sources to say why
//! one missed. The same key is built once at a time (a lock); the entries used least
//! recently are removed when they pass `SCRATCHPACK_BUILD_CACHE_MAX` (default 2 GiB).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Built;
use crate::atomic::TempPath;
use crate::attest::BuildRecord;
use crate::cache::{Cache, Lock};
use crate::digest::{Digest, HashWriter};
use crate::plan::BuildPlan;
use crate::provision::Installed;
use crate::toolchain::Toolchain;
use crate::ui::Ui;

/// Sources hashed at most, in files and bytes: past that the build is not kept.
const MAX_FILES: usize = 100_000;
const MAX_BYTES: u64 = 256 << 20;
const ENTRY: &str = "entry.json";

/// What decides a build's output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Inputs {
    pub scratchpack: String,
    pub command: Vec<String>,
    pub arguments: Vec<String>,
    pub platform: String,
    pub language: String,
    /// Digest of the toolchain's definition.
    pub toolchain: String,
    /// The tool: `release sha256:...` or `host VERSION sha256:...`.
    pub tool: String,
    pub rootfs: String,
    pub packages: Vec<String>,
    pub target_packages: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub revision: Option<String>,
    /// Path from the sources' root to `MODE:sha256`.
    pub files: BTreeMap<String, String>,
}

impl Inputs {
    pub fn digest(&self) -> String {
        Digest::of(&serde_json::to_vec(self).unwrap_or_default()).hex
    }

    /// What differs from `before`, in words.
    pub fn differences(&self, before: &Inputs) -> Vec<String> {
        let mut why = Vec::new();
        let mut field = |name: &str, same: bool| {
            if !same {
                why.push(format!("{name} changed"));
            }
        };
        field(
            "scratchpack's version",
            self.scratchpack == before.scratchpack,
        );
        field(
            "the flags",
            self.command == before.command && self.arguments == before.arguments,
        );
        field("the platform", self.platform == before.platform);
        field("the language", self.language == before.language);
        field(
            "the toolchain's definition",
            self.toolchain == before.toolchain,
        );
        field("the compiler", self.tool == before.tool);
        field("the rootfs", self.rootfs == before.rootfs);
        field(
            "the packages",
            self.packages == before.packages && self.target_packages == before.target_packages,
        );
        field("the environment or date", self.env == before.env);
        field("the commit", self.revision == before.revision);
        let mut changed: Vec<&str> = Vec::new();
        for (path, hash) in &self.files {
            if before.files.get(path) != Some(hash) {
                changed.push(path);
            }
        }
        let removed = before
            .files
            .keys()
            .filter(|p| !self.files.contains_key(*p))
            .count();
        if !changed.is_empty() || removed > 0 {
            let mut shown: Vec<String> = changed.iter().take(5).map(|p| p.to_string()).collect();
            if changed.len() > 5 {
                shown.push(format!("{} more", changed.len() - 5));
            }
            if removed > 0 {
                shown.push(format!("{removed} removed"));
            }
            why.push(format!("sources changed: {}", shown.join(", ")));
        }
        why
    }
}

/// A kept build, as `entry.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    inputs: Inputs,
    name: String,
    more: Vec<String>,
    toolchain: String,
    compiler: String,
    diagnostics: String,
    installed: Vec<Installed>,
    record: BuildRecord,
    /// sha256 of `files/0` (the binary), `files/1`... (the others).
    files: Vec<String>,
}

/// What the tool and toolchain are, for the key.
pub struct Identity {
    pub toolchain: String,
    pub tool: String,
}

impl Identity {
    pub fn of(toolchain: &Toolchain, tool: Option<&crate::attest::Component>) -> Identity {
        let mut definition = toolchain.clone();
        definition.source = String::new();
        Identity {
            toolchain: Digest::of(format!("{definition:?}").as_bytes()).hex,
            tool: tool.map_or_else(
                || "rootfs".to_string(),
                |c| {
                    format!(
                        "{} {} sha256:{}",
                        c.name,
                        c.version,
                        c.sha256.as_deref().unwrap_or("?")
                    )
                },
            ),
        }
    }
}

impl Identity {
    /// The same, building C for cgo with `c`.
    pub fn with_cgo(self, c: &Identity) -> Identity {
        Identity {
            toolchain: format!("{} + cgo {}", self.toolchain, c.toolchain),
            tool: format!("{} + cgo {}", self.tool, c.tool),
        }
    }
}

/// A build under way with the cache: its key, and the lock on it.
pub struct Reuse {
    dir: PathBuf,
    inputs: Inputs,
    slot: PathBuf,
    _lock: Lock,
}

/// Why a build is not kept, or its key. Takes the key's lock: a build of the same key
/// elsewhere finishes first, and this one then finds it.
pub fn begin(
    plan: &BuildPlan,
    identity: Identity,
    pass_env: &[String],
    rootfs: &str,
    packages: &[Installed],
    target_packages: &[Installed],
    ui: &Ui,
) -> Result<Reuse, String> {
    if !plan.build_cache {
        return Err("the build cache is off".into());
    }
    if plan.go_proxy.is_some() {
        return Err("the build reaches the network (--go-proxy)".into());
    }
    if !plan.sandbox {
        return Err("the build runs on the host (--no-sandbox)".into());
    }
    let files = source_files(plan)?;
    let mut env = BTreeMap::from([(
        "SOURCE_DATE_EPOCH".to_string(),
        plan.image.epoch.to_string(),
    )]);
    env.extend(
        pass_env
            .iter()
            .filter_map(|k| plan.host_vars.get(k).map(|v| (k.clone(), v.clone()))),
    );
    let inputs = Inputs {
        // The version, and the build systems' data it carries (steps a project runs).
        scratchpack: format!(
            "{} {}",
            env!("CARGO_PKG_VERSION"),
            &Digest::of(super::project::systems::TEXT.as_bytes()).hex[..16]
        ),
        command: plan.command.clone(),
        arguments: plan.inputs.clone(),
        platform: plan.platform.to_string(),
        language: plan.sources.language.as_str().to_string(),
        toolchain: identity.toolchain,
        tool: identity.tool,
        rootfs: rootfs.to_string(),
        packages: packages.iter().map(ToString::to_string).collect(),
        target_packages: target_packages.iter().map(ToString::to_string).collect(),
        env,
        revision: plan
            .image
            .annotations
            .get("org.opencontainers.image.revision")
            .cloned(),
        files,
    };
    let key = inputs.digest();
    let builds = plan.cache.dir("builds").map_err(|e| e.to_string())?;
    let slot_name = Digest::of(
        format!(
            "{}\0{}\0{}",
            plan.sources.root.display(),
            plan.platform,
            plan.image.name
        )
        .as_bytes(),
    )
    .hex;
    let slot = plan
        .cache
        .dir("builds-last")
        .map_err(|e| e.to_string())?
        .join(slot_name);
    let lock = plan
        .cache
        .lock(&format!("build-{key}"), || {
            ui.status("waiting for the same build in another process")
        })
        .map_err(|e| e.to_string())?;
    Ok(Reuse {
        dir: builds.join(&key),
        inputs,
        slot,
        _lock: lock,
    })
}

impl Reuse {
    pub fn key(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The kept build, its binaries copied into the build's scratch directory `dir`; on a
    /// miss (with `-v`, why) `dir` back.
    pub fn hit(&self, dir: TempPath, ui: &Ui) -> Result<Built, TempPath> {
        let key = self.key();
        let Some(entry) = self.read() else {
            if ui.is_verbose() {
                let why = std::fs::read_to_string(&self.slot)
                    .ok()
                    .and_then(|last| self.inputs_of(last.trim()))
                    .map(|before| self.inputs.differences(&before))
                    .filter(|d| !d.is_empty())
                    .map_or_else(|| "never built".to_string(), |d| d.join("; "));
                ui.note(&format!("build cache: miss {key} ({why})"));
            }
            return Err(dir);
        };
        let mut paths = Vec::new();
        for (i, sha) in entry.files.iter().enumerate() {
            let from = self.dir.join("files").join(i.to_string());
            let to = dir.path().join(format!("cached-{i}"));
            if copy_checked(&from, &to, sha).is_err() {
                ui.warn(&format!(
                    "build cache: the entry {key} is damaged ({} does not match its digest): \
                     it is removed and the build runs again",
                    from.display()
                ));
                let _ = crate::atomic::remove_tree(&self.dir);
                return Err(dir);
            }
            paths.push(to);
        }
        // Used now: the last to be pruned.
        let _ = std::fs::File::options()
            .write(true)
            .open(self.dir.join(ENTRY))
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        let _ = std::fs::write(&self.slot, &key);
        ui.note(&format!(
            "build cache: reused the build {} ({})",
            &key[..12],
            entry.compiler
        ));
        let mut paths = paths.into_iter();
        let Some(binary) = paths.next() else {
            return Err(dir);
        };
        Ok(Built {
            binary,
            name: entry.name,
            more: paths.zip(entry.more).collect(),
            toolchain: entry.toolchain,
            compiler: entry.compiler,
            diagnostics: entry.diagnostics,
            installed: entry.installed,
            record: entry.record,
            _dir: dir,
        })
    }

    /// Fetches the entry from the cache registry `from` on a local miss; whether it came.
    /// A registry that fails is said once, then left alone: the build runs.
    pub fn fetch(&self, from: &crate::plan::PushTo, ui: &Ui) -> bool {
        let key = self.key();
        let Some(parent) = self.dir.parent() else {
            return false;
        };
        let Ok(temp) = crate::atomic::scratch_dir(parent, ".fetch-") else {
            return false;
        };
        match super::shared::pull(from, &key, temp.path()) {
            Ok(true) => {
                let _ = crate::atomic::remove_tree(&self.dir);
                if std::fs::rename(temp.path(), &self.dir).is_err() {
                    return false;
                }
                if self.read().is_none() {
                    ui.warn(&format!(
                        "build cache: the entry {key} of {} is not for this build: not used",
                        from.target
                    ));
                    let _ = crate::atomic::remove_tree(&self.dir);
                    return false;
                }
                ui.note(&format!(
                    "build cache: fetched {} from {}",
                    &key[..12],
                    from.target
                ));
                true
            }
            Ok(false) => {
                if ui.is_verbose() {
                    ui.note(&format!("build cache: {} does not have {key}", from.target));
                }
                false
            }
            Err(e) => {
                warn_once(ui, &format!("cannot fetch from {}", from.target), &e);
                false
            }
        }
    }

    /// Pushes the entry just kept to the cache registry `to` (best effort).
    pub fn share(&self, to: &crate::plan::PushTo, ui: &Ui) {
        let key = self.key();
        match super::shared::push(to, &key, &self.dir, ui) {
            Ok(()) => {
                if ui.is_verbose() {
                    ui.note(&format!("build cache: pushed {key} to {}", to.target));
                }
            }
            Err(e) => warn_once(ui, &format!("cannot push to {}", to.target), &e),
        }
    }

    fn read(&self) -> Option<Entry> {
        let bytes = std::fs::read(self.dir.join(ENTRY)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.inputs == self.inputs).then_some(entry)
    }

    fn inputs_of(&self, key: &str) -> Option<Inputs> {
        let dir = self.dir.parent()?.join(key);
        let bytes = std::fs::read(dir.join(ENTRY)).ok()?;
        serde_json::from_slice::<Entry>(&bytes)
            .ok()
            .map(|e| e.inputs)
    }

    /// Keeps `built` (best effort: a build is never failed by its cache), then prunes.
    pub fn store(&self, built: &Built, cache: &Cache, max: u64, ui: &Ui) {
        let key = self.key();
        if let Err(e) = self.write(built) {
            ui.warn(&format!("build cache: cannot keep the build {key}: {e}"));
            return;
        }
        let _ = std::fs::write(&self.slot, &key);
        if ui.is_verbose() {
            ui.note(&format!("build cache: kept {key}"));
        }
        prune(cache, max, &key);
    }

    fn write(&self, built: &Built) -> std::io::Result<()> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        let temp = crate::atomic::scratch_dir(parent, ".entry-").map_err(|e| e.source)?;
        let files = temp.path().join("files");
        std::fs::create_dir(&files)?;
        let mut digests = Vec::new();
        let all = std::iter::once(&built.binary).chain(built.more.iter().map(|(p, _)| p));
        for (i, path) in all.enumerate() {
            let to = files.join(i.to_string());
            let mut reader = std::fs::File::open(path)?;
            let mut writer = HashWriter::new(std::fs::File::create(&to)?);
            std::io::copy(&mut reader, &mut writer)?;
            digests.push(writer.finish().1.hex);
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))?;
        }
        let entry = Entry {
            inputs: self.inputs.clone(),
            name: built.name.clone(),
            more: built.more.iter().map(|(_, n)| n.clone()).collect(),
            toolchain: built.toolchain.clone(),
            compiler: built.compiler.clone(),
            diagnostics: built.diagnostics.clone(),
            installed: built.installed.clone(),
            record: built.record.clone(),
            files: digests,
        };
        std::fs::write(temp.path().join(ENTRY), serde_json::to_vec(&entry)?)?;
        let _ = crate::atomic::remove_tree(&self.dir);
        std::fs::rename(temp.path(), &self.dir)?;
        Ok(())
    }
}

/// The kept builds: each entry's directory and what it holds, in words.
pub fn list(cache: &Cache) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(cache.root().join("builds")) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let what = std::fs::read(e.path().join(ENTRY))
            .ok()
            .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            .map_or_else(
                || "damaged build entry".to_string(),
                |entry| {
                    format!(
                        "{} for {} ({})",
                        entry.name, entry.inputs.platform, entry.compiler
                    )
                },
            );
        out.push((e.path(), what));
    }
    out.sort();
    out
}

/// A cache registry's failure, said once per process: builds go on without it.
pub(super) fn warn_once(ui: &Ui, what: &str, e: &crate::registry::RegistryError) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let mut chain = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            chain.push_str(&format!(": {c}"));
            cause = c.source();
        }
        ui.warn(&format!(
            "build cache: {what} ({chain}); building without it"
        ));
    }
}

/// Copies a kept binary, checking it against its digest on the way.
fn copy_checked(from: &Path, to: &Path, sha: &str) -> std::io::Result<()> {
    let mut reader = std::fs::File::open(from)?;
    let mut writer = HashWriter::new(std::fs::File::create(to)?);
    std::io::copy(&mut reader, &mut writer)?;
    if writer.finish().1.hex != sha {
        return Err(std::io::Error::other("digest mismatch"));
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))
}

/// Removes the entries used least recently until all of them fit in `max` (never
/// `keep`, the one just written).
pub fn prune(cache: &Cache, max: u64, keep: &str) {
    let Ok(builds) = cache.dir("builds") else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = std::fs::read_dir(&builds)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let used = std::fs::metadata(e.path().join(ENTRY))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (used, Cache::size_of(&e.path()), e.path())
        })
        .collect();
    let mut total: u64 = entries.iter().map(|(_, s, _)| s).sum();
    entries.sort();
    for (_, size, path) in entries {
        if total <= max {
            break;
        }
        if path.file_name().is_some_and(|n| n == keep) {
            continue;
        }
        if crate::atomic::remove_tree(&path).is_ok() {
            total -= size;
        }
    }
}

/// Every file the sandbox shows the build, by path from the sources' root: `MODE:sha256`
/// (a link: `link:TARGET`); `.git` by the commit (in the key's `revision`).
fn source_files(plan: &BuildPlan) -> Result<BTreeMap<String, String>, String> {
    let root = &plan.sources.root;
    let mut files = BTreeMap::new();
    let mut bytes = 0u64;
    let mut stack: Vec<PathBuf> = plan.sources.mounts.iter().map(|m| m.path.clone()).collect();
    while let Some(path) = stack.pop() {
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string_lossy().into_owned());
        if meta.is_dir() {
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            let entries =
                std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            stack.extend(entries.flatten().map(|e| e.path()));
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            files.insert(name, format!("link:{}", target.display()));
        } else if meta.is_file() {
            bytes += meta.len();
            if files.len() >= MAX_FILES || bytes > MAX_BYTES {
                return Err(format!(
                    "the sources pass {MAX_FILES} files or {} MiB",
                    MAX_BYTES >> 20
                ));
            }
            let mut writer = HashWriter::new(std::io::sink());
            let file =
                std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            std::io::copy(&mut file.take(meta.len()), &mut writer)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let mode = if meta.mode() & 0o111 != 0 { "x" } else { "f" };
            files.insert(name, format!("{mode}:{}", writer.finish().1.hex));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            scratchpack: "1".into(),
            command: vec!["scratchpack".into(), "build".into()],
            arguments: vec!["main.c".into()],
            platform: "linux/amd64".into(),
            language: "c".into(),
            toolchain: "t".into(),
            tool: "zig 0.13.0 sha256:aa".into(),
            rootfs: "r".into(),
            packages: vec!["musl=1.2.5-r0".into()],
            target_packages: Vec::new(),
            env: BTreeMap::new(),
            revision: None,
            files: BTreeMap::from([
                ("main.c".to_string(), "f:1".to_string()),
                ("a.h".to_string(), "f:2".to_string()),
            ]),
        }
    }

    #[test]
    fn every_input_is_in_the_key_and_named_when_it_changes() {
        let before = inputs();
        assert_eq!(before.digest(), inputs().digest());
        let mut after = inputs();
        after.tool = "zig 0.14.0 sha256:bb".into();
        after.files.insert("a.h".into(), "f:3".into());
        after.files.remove("main.c");
        after.files.insert("b.h".into(), "f:4".into());
        assert_ne!(after.digest(), before.digest());
        assert_eq!(
            after.differences(&before),
            [
                "the compiler changed",
                "sources changed: a.h, b.h, 1 removed"
            ]
        );
        let mut flags = inputs();
        flags.command.push("-DX=1".into());
        assert_eq!(flags.differences(&before), ["the flags changed"]);
    }
}
