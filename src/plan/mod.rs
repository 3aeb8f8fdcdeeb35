//! Parse, then resolve: the only reader of flags and environment. The CLI values become
//! validated plans of plain data ([`image`] for what goes into an image, [`build`] for
//! what a build compiles); later stages never see a flag or an environment variable.

mod build;
mod describe;
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
pub use describe::DescribePlan;
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
    /// The command line, without the program's name.
    pub args: Vec<String>,
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
            args: std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
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

/// Flags that do not change what is built (where it goes, how it is said, where things
/// are downloaded from: content is pinned by digest), and `--platform` (each image's
/// record names its own), left out of the recorded command.
const UNRECORDED: &[&str] = &[
    "output",
    "push",
    "ca_cert",
    "insecure",
    "json",
    "quiet",
    "verbose",
    "alpine_mirror",
    "toolchain_mirror",
    "apk_repository",
    "offline",
    "provenance_times",
    "no_build_cache",
    "cache_from",
    "cache_to",
    "platform",
];

/// The flags of a command line as the SBOM and provenance record them: the same for the
/// same build from any directory, on any machine, whatever order the inputs were given
/// in. `scratchpack SUBCOMMAND` then the flags as given, without their positional
/// arguments (the record names the sources or the binary itself) and without the flags
/// of [`UNRECORDED`]; a flag value that names an existing file is written relative to
/// `root` when below it, else by its file name alone. clap's own definition says which
/// flags take a value.
pub fn canonical_command(args: &[String], cwd: &Path, root: &Path) -> Vec<String> {
    use clap::CommandFactory;
    let argv: Vec<std::ffi::OsString> = std::iter::once("scratchpack".into())
        .chain(args.iter().map(Into::into))
        .collect();
    let argv: Vec<String> = crate::cli::with_default_command(argv)
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = crate::cli::Cli::command();
    let Some((at, sub)) = argv
        .iter()
        .enumerate()
        .skip(1)
        .find_map(|(i, a)| cli.find_subcommand(a).map(|s| (i, s)))
    else {
        return vec!["scratchpack".into()];
    };
    let mut out = vec!["scratchpack".to_string(), sub.get_name().to_string()];
    let mut rest = argv[at + 1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        let (flag, inline) = match (flag.strip_prefix('-'), inline) {
            // `-DNAME=1`, `-O2`: a short flag with its value attached.
            (Some(rest), None) if !rest.starts_with('-') && rest.chars().count() > 1 => {
                let (at, _) = rest.char_indices().nth(1).unwrap_or((rest.len(), ' '));
                (&flag[..at + 1], Some(&rest[at..]))
            }
            _ => (flag, inline),
        };
        let found = if let Some(long) = flag.strip_prefix("--") {
            sub.get_arguments().find(|a| a.get_long() == Some(long))
        } else if let Some(short) = flag.strip_prefix('-').filter(|s| s.chars().count() == 1) {
            let c = short.chars().next();
            sub.get_arguments().find(|a| a.get_short() == c)
        } else {
            // A positional argument: a source or a binary.
            continue;
        };
        let Some(found) = found else {
            // `-q`, `-v` after the subcommand: scratchpack's own, not the build's.
            let global = cli.get_arguments().any(|a| {
                flag.strip_prefix("--")
                    .is_some_and(|l| a.get_long() == Some(l))
                    || flag.strip_prefix('-').and_then(|s| s.chars().next()) == a.get_short()
            });
            if !global {
                out.push(arg.clone());
            }
            continue;
        };
        let takes = found.get_action().takes_values();
        let value = match (takes, inline) {
            (true, Some(v)) => Some(v.to_string()),
            (true, None) => rest.next().cloned(),
            (false, _) => None,
        };
        if UNRECORDED.contains(&found.get_id().as_str()) {
            continue;
        }
        if !takes && inline.is_some() && !flag.starts_with("--") {
            // `-qv`: several short switches; none of scratchpack's changes the build.
            continue;
        }
        out.push(flag.to_string());
        out.extend(value.map(|v| host_path(&v, cwd, root)));
    }
    out
}

/// The positional arguments (sources) of a build as the records name them: relative to
/// `root`.
pub fn canonical_inputs(args: &[String], cwd: &Path, root: &Path) -> Vec<String> {
    args.iter().map(|a| host_path(a, cwd, root)).collect()
}

/// `arg` rewritten when it names an existing file (or is `SRC:DST` with such a `SRC`).
fn host_path(arg: &str, cwd: &Path, root: &Path) -> String {
    let rewrite = |p: &str| -> Option<String> {
        let path = cwd.join(p);
        std::fs::symlink_metadata(&path).ok()?;
        let path = crate::source::normalize(&path);
        let root = crate::source::normalize(root);
        match path.strip_prefix(&root) {
            Ok(rel) if rel.as_os_str().is_empty() => Some(".".into()),
            Ok(rel) => Some(rel.to_string_lossy().into_owned()),
            Err(_) => Some(path.file_name()?.to_string_lossy().into_owned()),
        }
    };
    if let Some(r) = rewrite(arg) {
        return r;
    }
    if let Some((src, dst)) = arg.split_once(':') {
        if let Some(r) = rewrite(src) {
            return format!("{r}:{dst}");
        }
    }
    arg.to_string()
}

#[cfg(test)]
mod canonical_tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_recorded_command_leaves_out_where_and_how_it_ran() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("hello.c"), "").unwrap();
        std::fs::write(root.join("lib/extra.txt"), "").unwrap();
        let outside = dir.path().join("notes.txt");
        std::fs::write(&outside, "").unwrap();
        let args = strings(&[
            "-q",
            &root.join("hello.c").display().to_string(),
            "-o",
            "/tmp/out.tar",
            "--tag",
            "app:1",
            "--platform=linux/amd64,linux/arm64",
            "--add",
            &format!("{}:/etc/notes", outside.display()),
            "--add=lib/extra.txt:/x",
            "--json",
            "-v",
            "--apk",
            "zlib-static",
            "-DNAME=1",
            "-lm",
        ]);
        let command = canonical_command(&args, &root, &root);
        assert_eq!(
            command,
            strings(&[
                "scratchpack",
                "build",
                "--tag",
                "app:1",
                "--add",
                "notes.txt:/etc/notes",
                "--add",
                "lib/extra.txt:/x",
                "--apk",
                "zlib-static",
                "-D",
                "NAME=1",
                "-l",
                "m",
            ])
        );
        // Another order of the binaries, another directory: the same record.
        let a = canonical_command(&strings(&["package", "a", "b", "-o", "x"]), &root, &root);
        let b = canonical_command(&strings(&["package", "b", "a", "--output=y"]), &root, &root);
        assert_eq!(a, b);
        assert_eq!(a, strings(&["scratchpack", "package"]));
        assert_eq!(
            canonical_inputs(&strings(&["hello.c", "./lib"]), &root, &root),
            strings(&["hello.c", "lib"])
        );
    }
}
