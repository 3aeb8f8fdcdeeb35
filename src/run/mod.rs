//! `scratchpack run`: an image started without a daemon, for CI smoke tests. The image
//! (an archive or layout written by any tool) is unpacked into a private directory of
//! the cache ([`unpack`]), its config applied as runc would (Entrypoint, Cmd, Env, User,
//! WorkingDir; [`image`], [`user`]) and the program run in the [`crate::sandbox`]:
//! rootless, the image's root writable (a private copy, thrown away after), a fresh
//! `/tmp`, no network unless asked. Another platform's image runs under qemu-user when
//! binfmt_misc has it registered. The exit status is the program's.

pub mod image;
pub mod unpack;
pub mod user;

use std::path::PathBuf;

use crate::cache::{Cache, CacheError};
use crate::layout::source::{Source, SourceError};
use crate::platform::Platform;
use crate::sandbox::{self, Bind, SandboxError};
use crate::ui::Ui;

/// The PATH of an image whose config sets none (runc's).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the image is invalid: {why}")]
    Image { why: String },
    #[error("layer {index} of the image cannot be unpacked: {why}")]
    Layer { index: usize, why: String },
    #[error("the image has no {want} platform (it has: {have})")]
    NoPlatform { want: String, have: String },
    #[error("the image is for {platform}, and binfmt_misc has no emulator for it registered")]
    NoEmulator { platform: String },
    #[error("the image has no program to run: neither Entrypoint nor Cmd, and no arguments")]
    NoCommand,
    #[error("cannot start `{program}` in the image: {why}")]
    Program { program: String, why: String },
    #[error("user `{user}`: {why}")]
    User { user: String, why: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("cannot unpack the image into `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Hint for RunError {
    fn hints(&self) -> Vec<String> {
        vec![match self {
            RunError::Source(e) => return e.hints(),
            RunError::Sandbox(e) => return e.hints(),
            RunError::Cache(e) => return e.hints(),
            RunError::NoPlatform { .. } => "choose one it has with --platform".into(),
            RunError::NoEmulator { .. } => {
                "install qemu-user-static and register it with binfmt_misc (the F flag), or \
                 run the image on a machine of its platform"
                    .into()
            }
            RunError::NoCommand => "give the program and its arguments after the image".into(),
            RunError::Program { .. } => {
                "check the image's Entrypoint and Cmd (or --entrypoint): `scratchpack inspect \
                 IMAGE` says whether it would start"
                    .into()
            }
            RunError::User { .. } => {
                "give --user UID[:GID], or a name the image's /etc/passwd defines".into()
            }
            RunError::Image { .. } | RunError::Layer { .. } => {
                "check the image with `scratchpack inspect`".into()
            }
            RunError::Io { .. } => "check the cache directory's free space".into(),
        }]
    }
}

impl RunError {
    /// The image is at fault (exit 1).
    pub fn is_input_fault(&self) -> bool {
        matches!(
            self,
            RunError::Image { .. }
                | RunError::Layer { .. }
                | RunError::NoCommand
                | RunError::Program { .. }
                | RunError::User { .. }
        )
    }
}

/// A `-v SRC:DST[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub writable: bool,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub image: PathBuf,
    /// Replaces Cmd (or, with `entrypoint`, everything).
    pub args: Vec<String>,
    pub entrypoint: Option<String>,
    /// `-e K=V`, over the image's Env.
    pub env: Vec<(String, String)>,
    pub volumes: Vec<Volume>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub network: bool,
    pub platform: Option<Platform>,
    pub cache: Cache,
}

/// What the program did.
pub struct Ran {
    /// Its exit status (128 + the signal that killed it).
    pub code: i32,
}

/// Runs the image, attached to this terminal; returns the program's exit status.
pub fn run(request: &Request, ui: &Ui) -> Result<Ran, RunError> {
    let mut source = Source::open_any(&request.image)?;
    let chosen = image::choose(&mut source, request.platform.as_ref())?;
    if Platform::host().as_ref() != Some(&chosen.platform) && !emulated(&chosen.platform) {
        return Err(RunError::NoEmulator {
            platform: chosen.platform.to_string(),
        });
    }
    let parent = request.cache.dir("run")?;
    let dir = crate::atomic::scratch_dir(&parent, ".run-").map_err(|e| RunError::Io {
        path: parent.clone(),
        source: e.source,
    })?;
    let root = dir.path().join("rootfs");
    std::fs::create_dir(&root).map_err(|source| RunError::Io {
        path: root.clone(),
        source,
    })?;
    ui.status(&format!(
        "unpacking {} ({}, {} layers)",
        request.image.display(),
        chosen.platform,
        chosen.layers.len()
    ));
    let mut layers: Vec<Box<dyn std::io::Read>> = Vec::new();
    for name in &chosen.layers {
        let (range, _) = source.stream(name)?;
        layers.push(Box::new(range));
    }
    unpack::unpack(layers, &root)?;
    let config = &chosen.config;
    let argv = command(request, config)?;
    let mut env: Vec<(String, String)> = Vec::new();
    for kv in config.env.iter().flatten() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        env.retain(|(x, _)| x != k);
        env.push((k.to_string(), v.to_string()));
    }
    for (k, v) in &request.env {
        env.retain(|(x, _)| x != k);
        env.push((k.clone(), v.clone()));
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".into(), DEFAULT_PATH.into()));
    }
    let who = request
        .user
        .clone()
        .or_else(|| config.user.clone())
        .filter(|u| !u.is_empty());
    let ids = match &who {
        Some(u) => user::resolve(&root, u).map_err(|why| RunError::User {
            user: u.clone(),
            why,
        })?,
        None => user::Ids::root(),
    };
    let cwd = request
        .workdir
        .clone()
        .or_else(|| config.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    // A uid the image does not know: home is the working directory, as podman does.
    let home = if ids.home.is_empty() {
        user::add_unknown(&root, &ids, &cwd);
        cwd.clone()
    } else {
        ids.home.clone()
    };
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), home));
    }
    env.push(("HOSTNAME".into(), "scratchpack".into()));
    let binds = request
        .volumes
        .iter()
        .map(|v| Bind {
            src: v.src.clone(),
            dst: v.dst.clone(),
            writable: v.writable,
            file: v.src.is_file(),
        })
        .collect();
    let spec = sandbox::Spec {
        rootfs: root,
        newroot: request.cache.dir("sandbox-root")?,
        writable_root: true,
        binds,
        network: request.network,
        hostname: "scratchpack".into(),
        cwd: PathBuf::from(&cwd),
        argv,
        env,
        parent_pid: std::process::id(),
        limits: sandbox::Limits::default(),
        token: String::new(),
        ids: Some((ids.uid, ids.gid)),
        search_path: true,
        attached: false,
    };
    // Attached: the program reads scratchpack's stdin and writes to its stdout and
    // stderr as it runs.
    let status = match sandbox::run_attached(&spec, dir.path()) {
        Err(SandboxError::Setup { failure }) if failure.step.starts_with("running ") => {
            return Err(RunError::Program {
                program: spec.argv[0].clone(),
                why: failure.detail,
            });
        }
        other => other?,
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Ran { code })
}

/// Entrypoint and Cmd as runc joins them, with the command line's replacements.
fn command(request: &Request, config: &image::Config) -> Result<Vec<String>, RunError> {
    let mut argv: Vec<String> = match &request.entrypoint {
        Some(e) => vec![e.clone()],
        None => config.entrypoint.clone().unwrap_or_default(),
    };
    if !request.args.is_empty() {
        argv.extend(request.args.iter().cloned());
    } else if request.entrypoint.is_none() {
        argv.extend(config.cmd.clone().unwrap_or_default());
    }
    if argv.is_empty() {
        return Err(RunError::NoCommand);
    }
    Ok(argv)
}

/// Whether binfmt_misc runs `platform`'s programs (qemu-user registered and enabled).
fn emulated(platform: &Platform) -> bool {
    let Ok(names) = platform.names() else {
        return false;
    };
    let qemu = match names.machine {
        "x86" => "i386",
        "powerpc64le" => "ppc64le",
        other => other,
    };
    std::fs::read_to_string(format!("/proc/sys/fs/binfmt_misc/qemu-{qemu}"))
        .is_ok_and(|s| s.starts_with("enabled"))
}
