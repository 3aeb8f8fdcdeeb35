//! Running a command inside a root filesystem, isolated: new user, mount, pid, ipc, uts
//! and (unless asked otherwise) network namespaces, no root needed. scratchpack re-runs
//! itself as a small helper (`scratchpack __sandbox`, spec as JSON on stdin), because
//! `unshare(CLONE_NEWUSER)` needs a single-threaded process; the helper builds the
//! filesystem of [`plan`], then runs the command as pid 2 under a minimal init. Its
//! output and exit status come back through [`crate::process`]; a failure while setting
//! up comes back as data (exit 125 and a marked JSON line), never as a lost exit code.

mod diagnose;
mod harden;
mod init;
pub(crate) mod limits;
mod mounts;
pub(crate) mod plan;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use init::{helper_main, probe_main};
pub use plan::{PlanError, check_bind_target};

pub use harden::cloexec_inherited;
pub use limits::Limits;

use crate::process::{Cmd, Output, ProcessError};

/// The hidden subcommand that runs the helper.
pub const HELPER_ARG: &str = "__sandbox";
/// The hidden subcommand that checks whether user namespaces are allowed.
pub const PROBE_ARG: &str = "__sandbox-probe";
/// Exit status of a helper that failed before running the command.
const SETUP_FAILED: i32 = 125;
/// Prefix of the helper's failure report on stderr.
const MARKER: &str = "scratchpack-sandbox-error: ";

/// A host directory (or file) shown in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub src: PathBuf,
    /// Where it appears in the sandbox (absolute).
    pub dst: PathBuf,
    pub writable: bool,
    /// A single file rather than a directory.
    pub file: bool,
}

/// Everything the helper needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// The extracted root filesystem on the host.
    pub rootfs: PathBuf,
    /// An empty host directory the sandbox's tmpfs root is mounted on.
    pub newroot: PathBuf,
    /// Make the whole rootfs the writable root (to install packages into it) instead of
    /// showing its system directories read-only on a tmpfs.
    #[serde(default)]
    pub writable_root: bool,
    pub binds: Vec<Bind>,
    /// Keep the host's network (and its resolver); otherwise only a loopback exists.
    pub network: bool,
    pub hostname: String,
    /// Working directory of the command, in the sandbox.
    pub cwd: PathBuf,
    /// The command; `argv[0]` is an absolute path in the sandbox.
    pub argv: Vec<String>,
    /// The command's whole environment.
    pub env: Vec<(String, String)>,
    /// The process the helper must die with.
    pub parent_pid: u32,
    /// Memory and time the command may use.
    #[serde(default)]
    pub limits: Limits,
    /// A secret the helper puts in its failure reports, so that the command, which shares
    /// the helper's stderr, cannot forge one. Set by [`run`].
    #[serde(default)]
    pub token: String,
    /// The uid and gid the command runs as (the caller's ids mapped to them); root when
    /// `None`.
    #[serde(default)]
    pub ids: Option<(u32, u32)>,
    /// Look a bare `argv[0]` up in the command's `PATH`, inside the sandbox (as runc
    /// does); otherwise it must be an absolute path.
    #[serde(default)]
    pub search_path: bool,
    /// The command gets the caller's stdin (and [`run_attached`] its stdout and stderr);
    /// otherwise its stdin is `/dev/null`.
    #[serde(default)]
    pub attached: bool,
}

/// How the helper reports a failed setup step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupFailure {
    pub step: String,
    pub errno: i32,
    pub detail: String,
    /// The spec's token (empty before the spec is read, and from the probe).
    #[serde(default)]
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot start the sandbox helper")]
    Helper(#[source] ProcessError),
    #[error("cannot start the sandbox helper: {0}")]
    Exe(#[source] std::io::Error),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("user namespaces are not permitted here ({})", failure.detail)]
    Denied { failure: SetupFailure, hint: String },
    #[error(
        "the sandbox's user namespace was created but may not mount ({} failed: {})",
        failure.step,
        failure.detail
    )]
    MountsDenied { failure: SetupFailure, hint: String },
    #[error("the sandbox could not be set up: {} failed ({})", failure.step, failure.detail)]
    Setup { failure: SetupFailure },
    #[error("stopped at the {}: {}", failure.step, failure.detail)]
    Limit { failure: SetupFailure },
}

impl SandboxError {
    /// A limit hit is the build's doing (exit 1), like a compile error.
    pub fn is_input_fault(&self) -> bool {
        matches!(self, SandboxError::Limit { .. })
    }

    fn of(failure: SetupFailure) -> SandboxError {
        if init::is_denial(&failure) {
            let hint = diagnose::userns_denied(&diagnose::Facts::read());
            SandboxError::Denied { failure, hint }
        } else if init::is_mount_denial(&failure) {
            let hint = diagnose::mounts_denied(&diagnose::Facts::read());
            SandboxError::MountsDenied { failure, hint }
        } else if failure.step == limits::MEMORY_STEP || failure.step == limits::TIME_STEP {
            SandboxError::Limit { failure }
        } else {
            SandboxError::Setup { failure }
        }
    }
}

impl crate::error::Hint for SandboxError {
    fn hints(&self) -> Vec<String> {
        vec![match self {
            SandboxError::Denied { hint, .. } | SandboxError::MountsDenied { hint, .. } => {
                hint.clone()
            }
            SandboxError::Plan(_) => {
                "move the sources out of the system directories, or use --no-sandbox".into()
            }
            SandboxError::Limit { failure } if failure.step == limits::TIME_STEP => {
                "raise the limit with --timeout (0 for none) if the build is expected to take \
                 that long"
                    .into()
            }
            SandboxError::Limit { .. } => {
                "raise the limit with --memory if the build really needs that much (default: \
                 half of this machine's memory)"
                    .into()
            }
            _ => {
                "--no-sandbox runs the same toolchain on the host instead, without isolation".into()
            }
        }]
    }
}

/// scratchpack re-run as `subcommand`, with an empty environment. Its argv[0] is all the
/// sandbox can learn of the helper (`/proc/1/cmdline`): not the host path of the binary.
fn helper(subcommand: &str) -> Result<Cmd, SandboxError> {
    let exe = std::env::current_exe().map_err(SandboxError::Exe)?;
    Ok(Cmd::new(exe)
        .arg0("scratchpack")
        .arg(subcommand)
        .env_clear())
}

/// Whether the sandbox can be used here (user namespaces allowed).
pub fn probe() -> Result<(), SandboxError> {
    let output = helper(PROBE_ARG)?.output().map_err(SandboxError::Helper)?;
    match failure_of(&output, "") {
        Some(failure) => Err(SandboxError::of(failure)),
        None => Ok(()),
    }
}

/// The helper's report of a failed setup, if it failed during setup: the last report
/// line carrying `token`. Any other (a command printing one) is the command's output.
fn failure_of(output: &Output, token: &str) -> Option<SetupFailure> {
    if output.status.code() != Some(SETUP_FAILED) {
        return None;
    }
    let stderr = output.stderr_text();
    let report = stderr.lines().rev().find_map(|l| l.strip_prefix(MARKER))?;
    serde_json::from_str::<SetupFailure>(report)
        .ok()
        .filter(|f| f.token == token)
}

/// 128 random bits, hex.
fn new_token() -> Result<String, SandboxError> {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
    #[allow(unsafe_code)]
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        return Err(SandboxError::Exe(std::io::Error::last_os_error()));
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `spec`'s command in the sandbox; its output and status come back whatever they
/// are. Only a failure to set the sandbox up is an error.
pub fn run(spec: &Spec) -> Result<Output, SandboxError> {
    plan::plan(spec, &[])?;
    let spec = Spec {
        token: new_token()?,
        ..spec.clone()
    };
    let input = serde_json::to_vec(&spec).map_err(|e| SandboxError::Exe(e.into()))?;
    let output = helper(HELPER_ARG)?
        .stdin(input)
        .output()
        .map_err(SandboxError::Helper)?;
    match failure_of(&output, &spec.token) {
        Some(failure) => Err(SandboxError::of(failure)),
        None => Ok(output),
    }
}

/// Runs `spec`'s command attached to scratchpack's own stdin, stdout and stderr (what
/// `run` shows as it comes); returns its exit status. The spec goes through a file in
/// `scratch` (a private directory) and a setup failure comes back through another, as
/// the command's stderr is the terminal's.
pub fn run_attached(
    spec: &Spec,
    scratch: &std::path::Path,
) -> Result<std::process::ExitStatus, SandboxError> {
    use std::os::unix::fs::OpenOptionsExt;
    plan::plan(spec, &[])?;
    let spec = Spec {
        token: new_token()?,
        attached: true,
        ..spec.clone()
    };
    let (spec_file, report) = (scratch.join("spec.json"), scratch.join("report.json"));
    let json = serde_json::to_vec(&spec).map_err(|e| SandboxError::Exe(e.into()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&spec_file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &json))
        .map_err(SandboxError::Exe)?;
    let status = helper(HELPER_ARG)?
        .arg("--spec")
        .arg(&spec_file)
        .arg("--report")
        .arg(&report)
        .attached(true)
        .output()
        .map_err(SandboxError::Helper)?
        .status;
    let _ = std::fs::remove_file(&spec_file);
    if status.code() == Some(SETUP_FAILED) {
        let failure = std::fs::read(&report)
            .ok()
            .and_then(|b| serde_json::from_slice::<SetupFailure>(&b).ok())
            .filter(|f| f.token == spec.token);
        let _ = std::fs::remove_file(&report);
        if let Some(f) = failure {
            return Err(SandboxError::of(f));
        }
    }
    Ok(status)
}
