//! The helper process: reads a [`Spec`] on stdin (or from a file, when the command is
//! attached to the caller's terminal), enters new namespaces, maps the
//! caller's uid and gid to root inside (so it works unprivileged, with a single id
//! mapped), forks the namespace's init, which builds the mount plan, pivots into the new
//! root and runs the command as its child, reaping orphans until it exits. Every process
//! here dies with its parent (`PR_SET_PDEATHSIG`): killing scratchpack tears the whole
//! sandbox down.
//!
//! Before anything it was given runs, the descriptors the caller had open are closed,
//! limits are set ([`super::limits`]) and privileges taken away ([`super::harden`]); the
//! helper stays outside the pid namespace to enforce the memory and time limits.
//!
//! The mount calls themselves are in [`super::mounts`]. This file runs only in the
//! helper, a fresh single-threaded process, which is what makes `fork` here sound.

use std::ffi::CString;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use super::mounts::{PRIVATE_STEP, apply};
use super::plan::{self, RootEntry};
use super::{MARKER, SETUP_FAILED, SetupFailure, Spec, harden, limits};

/// Steps whose failure means user namespaces are off-limits here.
pub(super) fn is_denial(f: &SetupFailure) -> bool {
    let denied = [
        Errno::EPERM as i32,
        Errno::EACCES as i32,
        Errno::ENOSPC as i32,
        Errno::EUSERS as i32,
        Errno::EINVAL as i32,
    ];
    matches!(
        f.step.as_str(),
        "unshare" | "setgroups" | "uid_map" | "gid_map"
    ) && denied.contains(&f.errno)
}

/// Whether the namespace was made but mounting in it is refused (AppArmor's restriction
/// on Ubuntu, or a seccomp filter against mount).
pub(super) fn is_mount_denial(f: &SetupFailure) -> bool {
    f.step == PRIVATE_STEP && [Errno::EPERM as i32, Errno::EACCES as i32].contains(&f.errno)
}

/// The spec's token, once read: what makes a report the helper's own.
static TOKEN: OnceLock<String> = OnceLock::new();
/// Where an attached helper (`--spec FILE --report FILE`) writes its failure report: its
/// stderr is the command's, shown as it comes.
static REPORT: OnceLock<std::path::PathBuf> = OnceLock::new();
/// The report file, opened before the pivot hides its path (close-on-exec: the command
/// never sees it).
static REPORT_FILE: OnceLock<std::fs::File> = OnceLock::new();

/// Reports a failed step to the parent scratchpack and exits.
fn fail(step: &str, errno: i32, detail: impl Into<String>) -> ! {
    let failure = SetupFailure {
        step: step.to_string(),
        errno,
        detail: detail.into(),
        token: TOKEN.get().cloned().unwrap_or_default(),
    };
    let json = serde_json::to_string(&failure).unwrap_or_default();
    match (REPORT_FILE.get(), REPORT.get()) {
        (Some(mut file), _) => {
            use std::io::Write;
            let _ = file.write_all(json.as_bytes());
        }
        (None, Some(report)) => {
            let _ = std::fs::write(report, json);
        }
        (None, None) => eprintln!("\n{MARKER}{json}"),
    }
    std::process::exit(SETUP_FAILED);
}

fn fail_errno(step: &str, e: Errno) -> ! {
    fail(step, e as i32, e.desc())
}

fn fail_io(step: &str, e: &std::io::Error) -> ! {
    fail(step, e.raw_os_error().unwrap_or(0), e.to_string())
}

/// Whether this process may create a user namespace and map itself to root there.
/// Exits 0 if so; reports the failed step otherwise.
pub fn probe_main() -> ! {
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
        fail_errno("unshare", e);
    }
    enter_as(uid, gid, (0, 0));
    std::process::exit(0);
}

/// Maps the caller's single uid and gid to `inside` (root for builds) in the new user
/// namespace. The helper keeps its capabilities there whatever the ids; the command
/// loses them at exec unless it is root.
fn enter_as(uid: nix::unistd::Uid, gid: nix::unistd::Gid, inside: (u32, u32)) {
    let (in_uid, in_gid) = inside;
    for (step, file, text) in [
        ("setgroups", "/proc/self/setgroups", "deny".to_string()),
        (
            "uid_map",
            "/proc/self/uid_map",
            format!("{in_uid} {uid} 1\n"),
        ),
        (
            "gid_map",
            "/proc/self/gid_map",
            format!("{in_gid} {gid} 1\n"),
        ),
    ] {
        if let Err(e) = std::fs::write(file, text) {
            fail_io(step, &e);
        }
    }
}

/// The helper's `main`: never returns.
pub fn helper_main() -> ! {
    // `__sandbox --spec FILE --report FILE` (attached: stdin is the command's), else the
    // spec on stdin.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
    let mut input = Vec::new();
    if let [flag, spec_file, report_flag, report] = args.as_slice() {
        if flag != "--spec" || report_flag != "--report" {
            fail("reading the spec", 0, "unexpected arguments");
        }
        let _ = REPORT.set(report.into());
        match std::fs::read(spec_file) {
            Ok(bytes) => input = bytes,
            Err(e) => fail_io("reading the spec", &e),
        }
        let _ = std::fs::remove_file(spec_file);
    } else if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        fail_io("reading the spec", &e);
    }
    let spec: Spec = serde_json::from_slice(&input)
        .unwrap_or_else(|e| fail("reading the spec", 0, e.to_string()));
    let _ = TOKEN.set(spec.token.clone());
    // Nothing the caller had open may reach the command (`/proc/self/fd/N/..`).
    if let Err((step, e)) = harden::close_inherited() {
        fail_errno(step, e);
    }
    if let Some(report) = REPORT.get() {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(report)
        {
            Ok(f) => {
                let _ = REPORT_FILE.set(f);
            }
            Err(e) => fail_io("opening the report file", &e),
        }
    }
    die_with_parent(Some(spec.parent_pid));

    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if !spec.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = unshare(flags) {
        fail_errno("unshare", e);
    }
    enter_as(uid, gid, spec.ids.unwrap_or((0, 0)));
    // SAFETY: the helper is single-threaded (it runs before scratchpack starts any thread).
    #[allow(unsafe_code)]
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => namespace_init(&spec),
        Ok(ForkResult::Parent { child }) => match limits::supervise(child, &spec.limits) {
            Ok(code) => std::process::exit(code),
            Err(hit) => {
                let (step, detail) = hit.report();
                fail(step, 0, detail)
            }
        },
        Err(e) => fail_errno("fork", e),
    }
}

/// `PR_SET_PDEATHSIG`; then makes sure the parent did not die before it was set.
fn die_with_parent(expected: Option<u32>) {
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        fail_errno("prctl", e);
    }
    if let Some(pid) = expected {
        if nix::unistd::getppid().as_raw() as u32 != pid {
            fail("starting", 0, "the calling scratchpack is gone");
        }
    }
}

/// Pid 1 of the new pid namespace.
fn namespace_init(spec: &Spec) -> ! {
    die_with_parent(None);
    // A mount namespace of its own, so the pivot below leaves the helper (which watches
    // the sandbox through the host's /proc) where it was.
    if let Err(e) = unshare(CloneFlags::CLONE_NEWNS) {
        fail_errno("unsharing init's mount namespace", e);
    }
    let entries = root_entries(&spec.rootfs).unwrap_or_else(|e| fail_io("reading the rootfs", &e));
    let ops =
        plan::plan(spec, &entries).unwrap_or_else(|e| fail("planning mounts", 0, e.to_string()));
    for op in &ops {
        if let Err((step, errno)) = apply(op, &spec.newroot) {
            fail(&step, errno as i32, errno.desc());
        }
    }
    if let Err((step, e)) = limits::apply_rlimits(&spec.limits) {
        fail_errno(step, e);
    }
    if let Err((step, e)) = harden::apply() {
        fail_errno(step, e);
    }
    let argv: Vec<CString> = spec.argv.iter().map(|a| cstring(a)).collect();
    let env: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect();
    let Some(mut program) = argv.first().cloned() else {
        fail("exec", 0, "empty command")
    };
    if spec.search_path && !spec.argv[0].contains('/') {
        program = cstring(&search_path(spec).unwrap_or_else(|| {
            fail(
                &format!("running {}", spec.argv[0]),
                libc::ENOENT,
                "not found in PATH",
            )
        }));
    }
    // SAFETY: still single-threaded.
    #[allow(unsafe_code)]
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            if !spec.attached {
                if let Ok(null) = std::fs::File::open("/dev/null") {
                    let _ = nix::unistd::dup2_stdin(null);
                }
            }
            let Err(e) = nix::unistd::execve(&program, &argv, &env);
            fail(&format!("running {}", spec.argv[0]), e as i32, e.desc())
        }
        Ok(ForkResult::Parent { child }) => reap_until(child),
        Err(e) => fail_errno("fork", e),
    }
}

/// `argv[0]` looked up in the command's PATH, in the sandbox's filesystem (as runc does).
fn search_path(spec: &Spec) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':').filter(|d| !d.is_empty()).find_map(|dir| {
        let candidate = format!("{}/{}", dir.trim_end_matches('/'), spec.argv[0]);
        let meta = std::fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| fail("exec", 0, format!("`{s}` contains a NUL byte")))
}

/// Waits for `child`, reaping any orphan on the way; exits with `child`'s status.
fn reap_until(child: Pid) -> ! {
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(status) if status.pid() == Some(child) => {
                if let Some(code) = limits::exit_code(status) {
                    std::process::exit(code);
                }
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => std::process::exit(SETUP_FAILED),
        }
    }
}

fn root_entries(rootfs: &Path) -> std::io::Result<Vec<RootEntry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(rootfs)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            out.push(RootEntry::Dir(name));
        } else if kind.is_symlink() {
            out.push(RootEntry::Symlink(name, std::fs::read_link(entry.path())?));
        }
    }
    Ok(out)
}
