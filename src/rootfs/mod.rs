//! The root filesystem builds run in: fetched from a mirror laid out like Alpine's,
//! verified against the sha256 pinned in `toolchains/rootfs/*.toml` before anything is
//! extracted, extracted safely ([`extract`]), and cached by digest. Extraction happens
//! in a temporary directory renamed into place under a lock, so concurrent runs share one
//! extraction and an interrupted one never leaves a tree that a later run would trust.

pub(crate) mod extract;
pub(crate) mod fetch;

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

pub use extract::{ExtractError, extract};
pub use fetch::{FetchError, reachable};

use crate::atomic;
use crate::cache::{Cache, CacheError};
use crate::interrupt;
use crate::toolchain::RootfsSpec;
use crate::ui::Ui;

/// Largest rootfs tarball accepted from a mirror (Alpine's minirootfs is about 3 MB):
/// a hostile mirror cannot fill the disk.
const MAX_TARBALL: u64 = 256 << 20;

/// Where a root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsSource {
    pub spec: RootfsSpec,
    /// Alpine's name for the architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// Mirror root, without a trailing `/`.
    pub mirror: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{name} has no rootfs pinned for architecture `{arch}` (pinned: {pinned})")]
    Arch {
        name: String,
        arch: String,
        pinned: String,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("checksum mismatch for `{url}`: expected sha256 {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cannot extract the rootfs from `{url}`")]
    Extract {
        url: String,
        #[source]
        source: ExtractError,
    },
    #[error("--offline: the Alpine rootfs is not cached, and fetching it needs `{url}`")]
    Offline { url: String },
    #[error("cannot prepare the rootfs in `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Hint for RootfsError {
    fn hints(&self) -> Vec<String> {
        vec![
            match self {
            RootfsError::Fetch(FetchError::Unreachable { .. } | FetchError::File { .. }) => {
                "check the mirror, or point --alpine-mirror (or SCRATCHPACK_ALPINE_MIRROR) at a \
                 reachable copy, e.g. file:///srv/alpine laid out like Alpine's mirror"
                    .into()
            }
            RootfsError::Checksum { .. } => {
                "the download is corrupt or the mirror serves another file; use a trustworthy mirror".into()
            }
            RootfsError::Extract { .. } => "this tarball is not a rootfs scratchpack will use".into(),
            RootfsError::Arch { .. } => "build on a machine of a pinned architecture".into(),
            RootfsError::Offline { .. } => {
                "run once without --offline, or use a file:// mirror (--alpine-mirror)".into()
            }
            RootfsError::Cache(e) => return e.hints(),
            _ => "check the cache directory's free space and permissions".into(),
        }
        ]
    }
}

impl RootfsSource {
    /// `spec` for this machine's architecture, from `mirror` or the spec's default one.
    pub fn new(spec: &RootfsSpec, mirror: Option<&str>) -> RootfsSource {
        RootfsSource {
            spec: spec.clone(),
            arch: crate::platform::Platform::host_alpine_arch().to_string(),
            mirror: mirror.unwrap_or(&spec.default_mirror).to_string(),
        }
    }

    /// The pinned sha256 of this architecture's tarball.
    pub fn digest(&self) -> Result<&str, RootfsError> {
        self.spec
            .sha256
            .get(&self.arch)
            .map(String::as_str)
            .ok_or_else(|| RootfsError::Arch {
                name: format!("{} {}", self.spec.name, self.spec.version),
                arch: self.arch.clone(),
                pinned: self
                    .spec
                    .sha256
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub fn url(&self) -> String {
        format!(
            "{}/{}",
            self.mirror.trim_end_matches('/'),
            self.spec.path.replace("{arch}", &self.arch)
        )
    }

    /// The cached tree, if it is there already.
    pub fn cached(&self, cache: &Cache) -> Option<PathBuf> {
        let dir = cache.root().join("rootfs").join(self.digest().ok()?);
        dir.is_dir().then_some(dir)
    }
}

/// The extracted rootfs, fetched, verified and extracted first if not cached yet.
/// With `offline`, only a cached tree or a `file://` mirror will do.
pub fn ensure(
    source: &RootfsSource,
    cache: &Cache,
    offline: bool,
    ui: &Ui,
) -> Result<PathBuf, RootfsError> {
    let digest = source.digest()?.to_string();
    let parent = cache.dir("rootfs")?;
    let dir = parent.join(&digest);
    if dir.is_dir() {
        return Ok(dir);
    }
    let _lock = cache.lock(&format!("rootfs-{digest}"), || {
        ui.status("waiting for another scratchpack preparing the same rootfs");
    })?;
    if dir.is_dir() {
        return Ok(dir);
    }
    atomic::remove_stale(&parent, &format!(".tmp-{digest}-"));
    let url = source.url();
    if offline && !url.starts_with("file://") {
        return Err(RootfsError::Offline { url });
    }
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { path, source }
    };
    let label = format!("Alpine {} rootfs", source.spec.version);

    // Download (or read) and verify before anything is extracted.
    let tarball_path = parent.join(format!(".tmp-{digest}-{}.tar.gz", std::process::id()));
    let _tarball_cleanup = interrupt::register(tarball_path.clone());
    let mut tarball = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tarball_path)
        .map_err(io_err(&tarball_path))?;
    let result = fetch::fetch(
        &url,
        &mut tarball,
        &format!("downloading {label}"),
        MAX_TARBALL,
        ui,
    );
    let actual = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&tarball_path);
            return Err(e.into());
        }
    };
    if actual.hex != digest {
        let _ = std::fs::remove_file(&tarball_path);
        return Err(RootfsError::Checksum {
            url,
            expected: digest,
            actual: actual.hex,
        });
    }

    ui.status(&format!("extracting {label}"));
    let staging = parent.join(format!(".tmp-{digest}-{}", std::process::id()));
    let _staging_cleanup = interrupt::register(staging.clone());
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;
    tarball.rewind().map_err(io_err(&tarball_path))?;
    let extracted = extract(GzDecoder::new(BufReader::new(&tarball)), &staging)
        .map_err(|source| RootfsError::Extract {
            url: url.clone(),
            source,
        })
        .and_then(|()| prepare(&staging));
    let _ = std::fs::remove_file(&tarball_path);
    if let Err(e) = extracted {
        let _ = atomic::remove_tree(&staging);
        return Err(e);
    }
    std::fs::rename(&staging, &dir).map_err(io_err(&dir))?;
    Ok(dir)
}

/// Mount points the sandbox needs that a minirootfs lacks.
fn prepare(root: &Path) -> Result<(), RootfsError> {
    let resolv = root.join("etc/resolv.conf");
    if std::fs::symlink_metadata(&resolv).is_err() && root.join("etc").is_dir() {
        File::create(&resolv).map_err(|source| RootfsError::Io {
            path: resolv.clone(),
            source,
        })?;
    }
    Ok(())
}
