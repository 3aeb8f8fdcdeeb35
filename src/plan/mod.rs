//! Parse, then resolve: the only reader of flags and environment. The CLI values become
//! validated plans of plain data ([`image`] for what goes into an image, [`build`] for
//! what a build compiles); later stages never see a flag or an environment variable.

mod build;
mod image;
mod project;
mod push;
mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cache::{Cache, CacheError};
use crate::cli::InspectArgs;
use crate::image::tree::TreeError;
use crate::reference::ReferenceError;
use crate::source::SourceError;
use crate::toolchain::find::HostEnv;

pub use build::{BuildPlan, CompileOptions, ToolchainsPlan};
pub use image::{ImagePlan, PackagePlan, resolve_image};
pub use push::{PushPlan, PushTo};
pub use run::RunPlan;

/// Where the binary goes in the image.
pub const BIN_DIR: &str = "/usr/local/bin";
/// The PATH every image gets unless `--env PATH=...` says otherwise.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The nonroot user (distroless and chainguard use the same id).
pub const NONROOT: &str = "65532:65532";
/// Where `--ca-certificates` puts the bundle.
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The process environment and working directory, read once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.vars.get(key).filter(|v| !v.is_empty()).cloned()
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(PathBuf::from)
    }

    pub fn cache(&self) -> Result<Cache, CacheError> {
        Cache::locate(
            self.path("SCRATCHPACK_CACHE_DIR"),
            self.path("XDG_CACHE_HOME"),
            self.path("HOME"),
        )
    }

    pub fn host(&self) -> HostEnv {
        HostEnv {
            path: self.get("PATH").map(Into::into),
            goroot: self.path("GOROOT"),
            cwd: self.cwd.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid {flag} `{value}`: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Tag(#[from] ReferenceError),
    #[error(transparent)]
    Registry(#[from] crate::registry::name::NameError),
    #[error("invalid --add destination")]
    AddPath(#[source] TreeError),
    #[error("SOURCE_DATE_EPOCH=`{0}` is not a number of seconds since 1970 before the year 10000")]
    Epoch(String),
    #[error("the output `{}` is the input `{}`: writing it would destroy it", output.display(), input.display())]
    OutputIsInput { output: PathBuf, input: PathBuf },
    #[error("no image name can be derived from the binary name `{0}`")]
    NoTag(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("`{0}` is not a mirror URL (https://, http:// or file://)")]
    Mirror(String),
    #[error("{flag} applies to C sources only")]
    NotForGo { flag: &'static str },
    #[error(
        "this machine's architecture ({}) is not one scratchpack builds on",
        std::env::consts::ARCH
    )]
    HostPlatform,
}

impl crate::error::Hint for PlanError {
    fn hints(&self) -> Vec<String> {
        let hint: String = match self {
            PlanError::Source(e) => return e.hints(),
            PlanError::Cache(e) => return e.hints(),
            PlanError::Flag { flag, .. } => format!(
                "see `scratchpack help build` or `scratchpack help package` for the form of {flag}"
            ),
            PlanError::Registry(_) => "write it as docker does, e.g. 127.0.0.1:5000/team/app:1.0 \
                or ghcr.io/org/app:latest"
                .into(),
            PlanError::Tag(_) | PlanError::NoTag(_) => {
                "pass --tag NAME[:TAG] with a lowercase name, e.g. --tag hello:1.0".into()
            }
            PlanError::AddPath(_) => {
                "write --add SRC:DST with an absolute DST, e.g. --add ./conf:/etc/app".into()
            }
            PlanError::Epoch(_) => "set SOURCE_DATE_EPOCH to an integer, e.g. `$(git log -1 \
                --format=%ct)`; tar and image clients cannot read dates past 9999"
                .into(),
            PlanError::OutputIsInput { .. } => "write the image elsewhere, e.g. -o app.tar".into(),
            PlanError::Mirror(_) => "e.g. --alpine-mirror file:///srv/alpine (laid out like \
                Alpine's mirror) or --toolchain-mirror file:///srv/go (holding the release \
                archives)"
                .into(),
            PlanError::NotForGo { .. } => {
                "Go takes its flags from the module; --ldflags adds to -ldflags".into()
            }
            PlanError::HostPlatform => format!(
                "build on one of: {}, or package a binary built elsewhere",
                crate::platform::Platform::buildable_list()
            ),
        };
        vec![hint]
    }
}

/// Refuses an output that is one of the inputs (same file, by device and inode).
fn refuse_overwriting(output: &Path, inputs: &[PathBuf]) -> Result<(), PlanError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(());
    };
    for input in inputs {
        if let Ok(m) = std::fs::metadata(input) {
            if m.dev() == out.dev() && m.ino() == out.ino() {
                return Err(PlanError::OutputIsInput {
                    output: output.to_path_buf(),
                    input: input.clone(),
                });
            }
        }
    }
    Ok(())
}

/// A mirror URL from `flag`, else from the environment variable `var`.
fn mirror(flag: Option<String>, var: &str, env: &Environment) -> Result<Option<String>, PlanError> {
    match flag.or_else(|| env.get(var)) {
        Some(m)
            if ["https://", "http://", "file://"]
                .iter()
                .any(|s| m.starts_with(s)) =>
        {
            Ok(Some(m))
        }
        Some(m) => Err(PlanError::Mirror(m)),
        None => Ok(None),
    }
}

fn flag_err(flag: &'static str, value: &str, reason: impl Into<String>) -> PlanError {
    PlanError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

pub struct InspectPlan {
    pub paths: Vec<PathBuf>,
    pub json: bool,
    pub strict: bool,
}

impl From<InspectArgs> for InspectPlan {
    fn from(args: InspectArgs) -> Self {
        InspectPlan {
            paths: args.paths,
            json: args.json,
            strict: args.strict,
        }
    }
}
