//! Prepared rootfs: the base Alpine rootfs with packages installed by Alpine's own `apk`,
//! run inside the sandbox with the copy as its writable root (network only for this
//! step). Rootless: `--no-chown`, since only one id is mapped. Cached under
//! `prepared/<key>`, the key being the sha256 of (base digest, sorted packages,
//! repositories, trust): built in a staging directory under a lock and renamed into
//! place, so concurrent builds share one provisioning and an interrupted one leaves
//! nothing a later run would trust. What got installed (names and versions) is
//! recorded beside it.
//!
//! For another platform (`--platform` with `--apk`), the packages are also installed for
//! that platform's Alpine architecture into an empty root of their own (apk `--root
//! --initdb --arch`, no scripts run: they are another machine's programs), trusting the
//! keys the base rootfs ships for that architecture; builds then take headers and
//! libraries from it, shown at [`TARGET_MOUNT`].

pub mod index;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError};
use crate::digest::Digest;
use crate::interrupt;
use crate::process::describe_status;
use crate::sandbox::{self, Bind, SandboxError};
use crate::ui::Ui;

/// How long apk may take to install packages.
const PROVISION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long an unanswered repository is not asked again.
const PROBE_MEMORY: Duration = Duration::from_secs(600);

/// The file, inside a prepared rootfs (outside what the sandbox shows), that records it.
const RECORD: &str = ".scratchpack-provisioned.json";
/// apk's database of installed packages.
const INSTALLED_DB: &str = "lib/apk/db/installed";
/// Where a build (and apk, while installing) sees another platform's packages.
pub const TARGET_MOUNT: &str = "/scratchpack/target";

/// What to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub packages: BTreeSet<String>,
    /// `https://`, `http://` or `file://` repository roots, in order.
    pub repositories: Vec<String>,
    /// Accept unsigned packages (local test repositories).
    pub allow_untrusted: bool,
    /// Never touch the network.
    pub offline: bool,
    /// Another Alpine architecture (`aarch64`) to install for, into a root of its own,
    /// rather than into the base rootfs.
    pub arch: Option<String>,
}

/// A package as apk recorded it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Installed {
    pub name: String,
    pub version: String,
}

/// `name=version`, the form listings and the image annotation use.
impl std::fmt::Display for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.version)
    }
}

/// What a prepared rootfs holds, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub base: String,
    pub packages: Vec<String>,
    pub repositories: Vec<String>,
    /// Everything apk installed on top of the base, dependencies included.
    pub installed: Vec<Installed>,
    /// The architecture of another platform's root (see [`Request::arch`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// A prepared rootfs on disk.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dir: PathBuf,
    pub record: Record,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(
        "--offline: packages {packages} are not installed in a cached rootfs, and installing them needs {repo}"
    )]
    Offline { packages: String, repo: String },
    #[error("package repository `{}` (for {packages}) does not exist", path.display())]
    MissingRepository { path: PathBuf, packages: String },
    #[error("apk could not install {packages} ({status}):\n{output}")]
    Apk {
        packages: String,
        status: String,
        output: String,
    },
    #[error("cannot prepare the rootfs in `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Hint for ProvisionError {
    fn hints(&self) -> Vec<String> {
        vec![
            match self {
            ProvisionError::Offline { .. } => {
                "run once without --offline to install them, or use a file:// repository".into()
            }
            ProvisionError::Apk { output, .. } if output.contains("unable to select packages") || output.contains("no such package") => {
                "check the package names (https://pkgs.alpinelinux.org), or that --apk-repository holds them".into()
            }
            ProvisionError::Apk { .. } => "check the repositories: the mirror (--alpine-mirror), \
                --apk-repository or SCRATCHPACK_APK_REPOSITORIES; with a prepared rootfs \
                already cached, --offline avoids the network"
                .into(),
            ProvisionError::Sandbox(e) => return e.hints(),
            ProvisionError::MissingRepository { .. } => {
                "check --apk-repository, SCRATCHPACK_APK_REPOSITORIES and --alpine-mirror: a \
                 file:// repository is a directory holding <arch>/APKINDEX.tar.gz"
                    .into()
            }
            _ => "check the cache directory's free space and permissions".into(),
        }
        ]
    }
}

impl Request {
    /// The cache key of the prepared rootfs for `base` (a digest).
    pub fn key(&self, base: &str) -> String {
        let mut canonical = serde_json::json!({
            "base": base,
            "packages": self.packages,
            "repositories": self.repositories,
            "allow_untrusted": self.allow_untrusted,
        });
        if let Some(arch) = &self.arch {
            canonical["arch"] = arch.as_str().into();
        }
        Digest::of(canonical.to_string().as_bytes()).hex
    }

    fn needs_network(&self) -> Option<&String> {
        self.repositories.iter().find(|r| !r.starts_with("file://"))
    }

    /// The apk command line run in the sandbox.
    pub fn apk_command(&self) -> Vec<String> {
        let mut argv: Vec<String> = [
            "/sbin/apk",
            "add",
            "--no-cache",
            "--no-chown",
            "--no-progress",
            "--repositories-file",
            "/dev/null",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(arch) = &self.arch {
            argv.extend(
                [
                    "--root",
                    TARGET_MOUNT,
                    "--initdb",
                    "--arch",
                    arch,
                    "--no-scripts",
                ]
                .map(String::from),
            );
        }
        for repo in &self.repositories {
            argv.push("--repository".into());
            argv.push(repo.strip_prefix("file://").unwrap_or(repo).to_string());
        }
        if self.allow_untrusted {
            argv.push("--allow-untrusted".into());
        }
        if self.offline {
            argv.push("--no-network".into());
        }
        argv.push("--".into());
        argv.extend(self.packages.iter().cloned());
        argv
    }

    /// Host directories of `file://` repositories, shown read-only at their own paths.
    fn local_repositories(&self) -> Vec<PathBuf> {
        self.repositories
            .iter()
            .filter_map(|r| r.strip_prefix("file://"))
            .map(PathBuf::from)
            .collect()
    }
}

/// The prepared rootfs for `request` over the base `base` (digest `base_digest`), if cached.
pub fn cached(cache: &Cache, base_digest: &str, request: &Request) -> Option<Prepared> {
    let dir = cache.root().join("prepared").join(request.key(base_digest));
    let record = read_inside(&dir, RECORD).ok()?;
    Some(Prepared {
        record: serde_json::from_slice(&record).ok()?,
        dir,
    })
}

/// The prepared rootfs, installing the packages first if it is not cached.
pub fn prepare(
    base: &Path,
    base_digest: &str,
    request: &Request,
    cache: &Cache,
    ui: &Ui,
) -> Result<Prepared, ProvisionError> {
    if let Some(p) = cached(cache, base_digest, request) {
        return Ok(p);
    }
    let packages = request
        .packages
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if let (true, Some(repo)) = (request.offline, request.needs_network()) {
        return Err(ProvisionError::Offline {
            packages,
            repo: repo.clone(),
        });
    }
    for dir in request.local_repositories() {
        if !dir.is_dir() {
            return Err(ProvisionError::MissingRepository {
                path: dir,
                packages,
            });
        }
    }
    let key = request.key(base_digest);
    let _lock = cache.lock(&format!("prepared-{key}"), || {
        ui.status("waiting for another scratchpack installing the same packages");
    })?;
    if let Some(p) = cached(cache, base_digest, request) {
        return Ok(p);
    }
    let parent = cache.dir("prepared")?;
    crate::atomic::remove_stale(&parent, &format!(".tmp-{key}-"));
    let staging = parent.join(format!(".tmp-{key}-{}", std::process::id()));
    let _cleanup = interrupt::register(staging.clone());
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProvisionError::Io { path, source }
    };
    match &request.arch {
        None => copy_tree(base, &staging),
        Some(arch) => empty_root(base, arch, &staging),
    }
    .map_err(io_err(&staging))?;
    let result = install(&staging, base, base_digest, request, cache, ui, &packages);
    match result {
        Ok(record) => {
            let dir = parent.join(&key);
            let json =
                serde_json::to_vec_pretty(&record).map_err(|e| io_err(&staging)(e.into()))?;
            write_record(&staging, &json).map_err(io_err(&staging))?;
            std::fs::rename(&staging, &dir).map_err(io_err(&dir))?;
            Ok(Prepared { dir, record })
        }
        Err(e) => {
            let _ = crate::atomic::remove_tree(&staging);
            Err(e)
        }
    }
}

fn install(
    staging: &Path,
    base: &Path,
    base_digest: &str,
    request: &Request,
    cache: &Cache,
    ui: &Ui,
    packages: &str,
) -> Result<Record, ProvisionError> {
    let mut binds: Vec<Bind> = request
        .local_repositories()
        .into_iter()
        .map(|dir| Bind {
            src: dir.clone(),
            dst: dir,
            writable: false,
            file: false,
        })
        .collect();
    // Another platform's packages go into their own root; apk runs from the base.
    let rootfs = match request.arch {
        None => staging.to_path_buf(),
        Some(_) => {
            binds.push(Bind {
                src: staging.to_path_buf(),
                dst: PathBuf::from(TARGET_MOUNT),
                writable: true,
                file: false,
            });
            base.to_path_buf()
        }
    };
    let spec = sandbox::Spec {
        rootfs,
        newroot: cache.dir("sandbox-root")?,
        writable_root: request.arch.is_none(),
        binds,
        network: request.needs_network().is_some() && !request.offline,
        hostname: "scratchpack".into(),
        cwd: "/".into(),
        argv: request.apk_command(),
        env: vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())],
        parent_pid: std::process::id(),
        limits: sandbox::Limits {
            memory: sandbox::limits::default_memory(),
            timeout_ms: Some(PROVISION_TIMEOUT.as_millis() as u64),
        },
        token: String::new(),
        ids: None,
        search_path: false,
        attached: false,
    };
    ui.status(&match &request.arch {
        None => format!("installing Alpine packages with apk: {packages}"),
        Some(arch) => format!("installing Alpine packages for {arch} with apk: {packages}"),
    });
    let output = sandbox::run(&spec)?;
    if !output.status.success() {
        let mut text = output.stderr_text();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        return Err(ProvisionError::Apk {
            packages: packages.into(),
            status: describe_status(output.status),
            output: text.trim().into(),
        });
    }
    let before: BTreeMap<String, String> = match request.arch {
        None => read_installed(base),
        Some(_) => Vec::new(),
    }
    .into_iter()
    .map(|i| (i.name, i.version))
    .collect();
    let installed = read_installed(staging)
        .into_iter()
        .filter(|i| before.get(&i.name) != Some(&i.version))
        .collect();
    Ok(Record {
        base: base_digest.to_string(),
        packages: request.packages.iter().cloned().collect(),
        repositories: request.repositories.clone(),
        installed,
        arch: request.arch.clone(),
    })
}

/// Reads `rel` inside `root` without following a symlink on the way: apk ran with the
/// rootfs writable, so anything in it may point at the host.
fn read_inside(root: &Path, rel: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let at = root.join(rel);
    crate::beneath::no_symlink_below(root, &at)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&at)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(format!(
            "`{}` is not a regular file",
            at.display()
        )));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes the record at the top of a prepared rootfs, replacing (never following) what
/// apk or a package may have put at that name.
fn write_record(root: &Path, json: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(RECORD);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => crate::atomic::remove_tree(&path)?,
        Ok(_) => std::fs::remove_file(&path)?,
        Err(_) => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    file.write_all(json)
}

/// Packages of apk's database in `root`, sorted.
fn read_installed(root: &Path) -> Vec<Installed> {
    let Ok(db) = read_inside(root, INSTALLED_DB) else {
        return Vec::new();
    };
    let db = String::from_utf8_lossy(&db);
    let mut out = Vec::new();
    let (mut name, mut version) = (None, None);
    for line in db.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if let (Some(n), Some(v)) = (name.take(), version.take()) {
                out.push(Installed {
                    name: n,
                    version: v,
                });
            }
        } else if let Some(n) = line.strip_prefix("P:") {
            name = Some(n.to_string());
        } else if let Some(v) = line.strip_prefix("V:") {
            version = Some(v.to_string());
        }
    }
    out.sort();
    out
}

/// An empty root for `arch`'s packages, trusting the keys `base` ships for that
/// architecture (Alpine's `alpine-keys` keeps every architecture's under
/// `/usr/share/apk/keys/ARCH`): regular files only, read without following links.
fn empty_root(base: &Path, arch: &str, root: &Path) -> std::io::Result<()> {
    let keys = root.join("etc/apk/keys");
    std::fs::create_dir_all(&keys)?;
    let theirs = format!("usr/share/apk/keys/{arch}");
    let Ok(entries) = std::fs::read_dir(base.join(&theirs)) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let rel = format!("{theirs}/{}", name.to_string_lossy());
        if let Ok(bytes) = read_inside(base, &rel) {
            std::fs::write(keys.join(&name), bytes)?;
        }
    }
    Ok(())
}

/// Copies a rootfs: directories, files (with their modes) and symlinks.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(from)?;
    std::fs::create_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    std::fs::set_permissions(
        to,
        std::fs::Permissions::from_mode(meta.permissions().mode() | 0o700),
    )
}

/// Whether a repository file can be fetched. A failure is remembered for ten minutes,
/// so machines without network do not pay the probe on every build.
pub fn repository_answers(cache: &Cache, url: &str) -> Result<(), String> {
    if url.starts_with("file://") {
        return crate::rootfs::reachable(url);
    }
    let memo = cache
        .root()
        .join("probes")
        .join(crate::digest::Digest::of(url.as_bytes()).hex);
    let fresh = std::fs::metadata(&memo)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .is_ok_and(|age| age < PROBE_MEMORY)
        });
    if fresh {
        return Err(std::fs::read_to_string(&memo).unwrap_or_default());
    }
    let result = crate::rootfs::reachable(url);
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_file(&memo);
        }
        Err(e) => {
            if let Some(dir) = memo.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&memo, e);
        }
    }
    result
}

/// Every prepared rootfs in the cache, with its record.
pub fn list(cache: &Cache) -> Vec<Prepared> {
    let Ok(entries) = std::fs::read_dir(cache.root().join("prepared")) else {
        return Vec::new();
    };
    let mut out: Vec<Prepared> = entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let record = serde_json::from_slice(&std::fs::read(dir.join(RECORD)).ok()?).ok()?;
            Some(Prepared { dir, record })
        })
        .collect();
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            packages: ["zlib-static", "build-base"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            repositories: vec![
                "https://mirror.example/alpine/v3.20/main".into(),
                "file:///srv/repo".into(),
            ],
            allow_untrusted: false,
            offline: false,
            arch: None,
        }
    }

    #[test]
    fn apk_command_line() {
        assert_eq!(
            request().apk_command(),
            [
                "/sbin/apk",
                "add",
                "--no-cache",
                "--no-chown",
                "--no-progress",
                "--repositories-file",
                "/dev/null",
                "--repository",
                "https://mirror.example/alpine/v3.20/main",
                "--repository",
                "/srv/repo",
                "--",
                "build-base",
                "zlib-static",
            ]
        );
        let mut r = request();
        r.allow_untrusted = true;
        r.offline = true;
        let argv = r.apk_command();
        assert!(
            argv.contains(&"--allow-untrusted".to_string())
                && argv.contains(&"--no-network".to_string())
        );
        assert_eq!(r.local_repositories(), [PathBuf::from("/srv/repo")]);
        // Another platform's packages: into their own root, no scripts run.
        let mut r = request();
        r.arch = Some("aarch64".into());
        let argv = r.apk_command();
        assert_eq!(
            argv[7..13],
            [
                "--root",
                TARGET_MOUNT,
                "--initdb",
                "--arch",
                "aarch64",
                "--no-scripts"
            ]
        );
    }

    #[test]
    fn another_platforms_root_trusts_that_platforms_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let (base, root) = (dir.path().join("base"), dir.path().join("root"));
        let keys = base.join("usr/share/apk/keys");
        std::fs::create_dir_all(keys.join("aarch64")).unwrap();
        std::fs::create_dir_all(keys.join("x86_64")).unwrap();
        std::fs::write(keys.join("aarch64/a.rsa.pub"), "arm key").unwrap();
        std::fs::write(keys.join("x86_64/x.rsa.pub"), "x86 key").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", keys.join("aarch64/evil.rsa.pub")).unwrap();
        empty_root(&base, "aarch64", &root).unwrap();
        let mut got: Vec<String> = std::fs::read_dir(root.join("etc/apk/keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(got, ["a.rsa.pub"], "a link is never followed");
    }

    #[test]
    fn the_key_follows_packages_repositories_and_base() {
        let r = request();
        let k = r.key("base1");
        assert_eq!(k, request().key("base1"));
        assert_ne!(k, r.key("base2"));
        let mut more = request();
        more.packages.insert("sqlite-static".into());
        assert_ne!(k, more.key("base1"));
        let mut other = request();
        other.repositories.pop();
        assert_ne!(k, other.key("base1"));
        let mut arm = request();
        arm.arch = Some("aarch64".into());
        assert_ne!(k, arm.key("base1"));
        let mut offline = request();
        offline.offline = true;
        assert_eq!(
            k,
            offline.key("base1"),
            "--offline reuses what was prepared online"
        );
    }

    #[test]
    fn installed_database() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/apk/db")).unwrap();
        std::fs::write(
            dir.path().join(INSTALLED_DB),
            "C:Q1abc\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nC:Q1def\nP:libgreet\nV:1.0-r0\nA:x86_64\n",
        )
        .unwrap();
        assert_eq!(
            read_installed(dir.path()),
            [
                Installed {
                    name: "libgreet".into(),
                    version: "1.0-r0".into()
                },
                Installed {
                    name: "musl".into(),
                    version: "1.2.5-r0".into()
                },
            ]
        );
    }

    #[test]
    fn the_host_is_never_written_or_read_through_a_link_in_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let (root, host) = (dir.path().join("root"), dir.path().join("host"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(host.join("apk/db")).unwrap();
        std::fs::write(host.join("victim"), "host file").unwrap();
        std::fs::write(host.join("apk/db/installed"), "P:leak\nV:1\n\n").unwrap();
        std::os::unix::fs::symlink(host.join("victim"), root.join(RECORD)).unwrap();
        std::os::unix::fs::symlink(&host, root.join("lib")).unwrap();
        write_record(&root, b"{}").unwrap();
        assert_eq!(
            std::fs::read_to_string(host.join("victim")).unwrap(),
            "host file"
        );
        assert_eq!(std::fs::read(root.join(RECORD)).unwrap(), b"{}");
        assert!(read_installed(&root).is_empty(), "read through `lib`");
    }
}
