//! The helper process: reads a [`Spec`] on stdin, enters new namespaces, maps the
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
//! This file owns the mount calls of the sandbox. It runs only in the helper, a fresh
//! single-threaded process, which is what makes `fork` here sound.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::plan::{self, Op, RootEntry};
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

/// The first mount call: where a restriction on mounting shows.
const PRIVATE_STEP: &str = "making mounts private";

/// Reports a failed step to the parent scratchpack and exits.
fn fail(step: &str, errno: i32, detail: impl Into<String>) -> ! {
    let failure = SetupFailure {
        step: step.to_string(),
        errno,
        detail: detail.into(),
    };
    let json = serde_json::to_string(&failure).unwrap_or_default();
    eprintln!("\n{MARKER}{json}");
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
    enter_as_root(uid, gid);
    std::process::exit(0);
}

/// Maps the caller's single uid and gid to root in the new user namespace.
fn enter_as_root(uid: nix::unistd::Uid, gid: nix::unistd::Gid) {
    for (step, file, text) in [
        ("setgroups", "/proc/self/setgroups", "deny".to_string()),
        ("uid_map", "/proc/self/uid_map", format!("0 {uid} 1\n")),
        ("gid_map", "/proc/self/gid_map", format!("0 {gid} 1\n")),
    ] {
        if let Err(e) = std::fs::write(file, text) {
            fail_io(step, &e);
        }
    }
}

/// The helper's `main`: never returns.
pub fn helper_main() -> ! {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        fail_io("reading the spec", &e);
    }
    let spec: Spec = serde_json::from_slice(&input)
        .unwrap_or_else(|e| fail("reading the spec", 0, e.to_string()));
    // Nothing the caller had open may reach the command (`/proc/self/fd/N/..`).
    if let Err((step, e)) = harden::close_inherited() {
        fail_errno(step, e);
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
    enter_as_root(uid, gid);
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
        fail_errno("unshare", e);
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
    let Some(program) = argv.first().cloned() else {
        fail("exec", 0, "empty command")
    };
    // SAFETY: still single-threaded.
    #[allow(unsafe_code)]
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            if let Ok(null) = std::fs::File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(null);
            }
            let Err(e) = nix::unistd::execve(&program, &argv, &env);
            fail(&format!("running {}", spec.argv[0]), e as i32, e.desc())
        }
        Ok(ForkResult::Parent { child }) => reap_until(child),
        Err(e) => fail_errno("fork", e),
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| fail("exec", 0, format!("`{s}` contains a NUL byte")))
}

/// Waits for `child`, reaping any orphan on the way; exits with `child`'s status.
fn reap_until(child: Pid) -> ! {
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => std::process::exit(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                std::process::exit(128 + sig as i32)
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

type Step = Result<(), (String, Errno)>;

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Carries out one step of the plan. Paths below `newroot` are created and mounted on
/// only if no symlink leads there: a rootfs never redirects the plan to the host.
fn apply(op: &Op, newroot: &Path) -> Step {
    let at = |what: &str, path: &Path| format!("{what} {}", path.display());
    let inside = |what: &str, path: &Path| -> Step {
        no_symlink_below(newroot, path).map_err(|e| (at(what, path), e))
    };
    match op {
        Op::MakePrivate => mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| (PRIVATE_STEP.to_string(), e)),
        Op::Tmpfs { target, mode, size } => {
            inside("mounting a tmpfs on", target)?;
            let mut options = format!("mode={mode:o}");
            if *size > 0 {
                options.push_str(&format!(",size={size}"));
            }
            mount(
                Some("tmpfs"),
                target,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(options.as_str()),
            )
            .map_err(|e| (at("mounting a tmpfs on", target), e))
        }
        Op::MkdirAll { path } => {
            inside("creating", path)?;
            std::fs::create_dir_all(path).map_err(|e| (at("creating", path), errno_of(&e)))
        }
        Op::Touch { path } => {
            inside("creating", path)?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map(drop)
                .map_err(|e| (at("creating", path), errno_of(&e)))
        }
        Op::Symlink { target, link } => {
            inside("creating", link)?;
            std::os::unix::fs::symlink(target, link)
                .map_err(|e| (at("creating", link), errno_of(&e)))
        }
        Op::Bind { src, dst, readonly } => {
            inside("binding onto", dst)?;
            bind(src, dst, *readonly).map_err(|e| (at("binding", src), e))
        }
        Op::Device { src, dst } => {
            inside("binding onto", dst)?;
            mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(|e| (at("binding", src), e))
        }
        Op::Proc { target } => mount(
            Some("proc"),
            target,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| (at("mounting /proc on", target), e)),
        Op::Mask { path } => mask(path).map_err(|e| (at("masking", path), e)),
        Op::ReadOnly { path } => match std::fs::symlink_metadata(path) {
            Err(_) => Ok(()),
            Ok(_) => bind(path, path, true).map_err(|e| (at("making read-only", path), e)),
        },
        Op::Seal { target } => {
            let flags =
                MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
                .map_err(|e| (at("sealing", target), e))
        }
        Op::PivotRoot { newroot } => pivot(newroot).map_err(|e| (at("pivoting into", newroot), e)),
        Op::Chdir { path } => {
            nix::unistd::chdir(path.as_path()).map_err(|e| (at("entering", path), e))
        }
        Op::Hostname { name } => {
            nix::unistd::sethostname(name).map_err(|e| ("setting the hostname".to_string(), e))
        }
    }
}

/// Fails with ELOOP if a component of `path` below `root` is a symlink.
fn no_symlink_below(root: &Path, path: &Path) -> Result<(), Errno> {
    let Ok(rel) = path.strip_prefix(root) else {
        return Ok(());
    };
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Err(Errno::ELOOP),
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// `/dev/null` over a file, an empty read-only tmpfs over a directory; nothing if absent.
fn mask(path: &Path) -> Result<(), Errno> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=0,mode=555"),
        ),
        Ok(_) => mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        ),
    }
}

/// A recursive bind mount, then its flags for the whole subtree: nosuid and nodev always,
/// read-only when asked. `mount_setattr` (Linux 5.12) does the subtree at once; older
/// kernels get each mount of it remounted in turn.
fn bind(src: &Path, dst: &Path, readonly: bool) -> Result<(), Errno> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    let mut attr = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    if readonly {
        attr |= libc::MOUNT_ATTR_RDONLY;
    }
    match set_tree_attr(dst, attr) {
        Err(Errno::ENOSYS) => {
            for target in mounts_below(dst) {
                remount(&target, readonly)?;
            }
            Ok(())
        }
        other => other,
    }
}

fn set_tree_attr(dst: &Path, attr: u64) -> Result<(), Errno> {
    let path =
        std::ffi::CString::new(dst.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut mattr: libc::mount_attr = empty_attr();
    mattr.attr_set = attr;
    // SAFETY: `path` and `mattr` outlive the call, whose size argument matches `mattr`.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            (libc::AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW) as u32,
            &mut mattr as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

fn empty_attr() -> libc::mount_attr {
    libc::mount_attr {
        attr_set: 0,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    }
}

/// `dst` and every mount point below it, parents first, from `/proc/self/mountinfo`.
fn mounts_below(dst: &Path) -> Vec<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<std::path::PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| std::path::PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dst))
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(dst.to_path_buf());
    }
    out
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One mount remounted with nosuid, nodev and (if asked) read-only, keeping the flags the
/// kernel locks for mounts inherited from a less privileged namespace.
fn remount(dst: &Path, readonly: bool) -> Result<(), Errno> {
    let current = statvfs(dst)?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if readonly {
        flags |= MsFlags::MS_RDONLY;
    }
    for (fs, ms) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(fs) {
            flags |= ms;
        }
    }
    mount(None::<&str>, dst, None::<&str>, flags, None::<&str>)
}

fn pivot(newroot: &Path) -> Result<(), Errno> {
    nix::unistd::chdir(newroot)?;
    nix::unistd::pivot_root(".", ".")?;
    umount2(".", MntFlags::MNT_DETACH)?;
    nix::unistd::chdir("/")
}
