//! The mount calls of the sandbox: each step of the mount plan ([`super::plan`]) carried
//! out, binds recursive with their flags set on the whole subtree, `/proc` entries
//! masked, tmpfs sealed, the pivot into the new root. Runs in the namespace's init.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::plan::Op;

/// The first mount call: where a restriction on mounting shows.
pub(super) const PRIVATE_STEP: &str = "making mounts private";

pub(super) type Step = Result<(), (String, Errno)>;

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Carries out one step of the plan. Paths below `newroot` are created and mounted on
/// only if no symlink leads there: a rootfs never redirects the plan to the host.
pub(super) fn apply(op: &Op, newroot: &Path) -> Step {
    let at = |what: &str, path: &Path| format!("{what} {}", path.display());
    let inside = |what: &str, path: &Path| -> Step {
        crate::beneath::no_symlink_below(newroot, path).map_err(|e| (at(what, path), errno_of(&e)))
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
    let mut mattr = libc::mount_attr {
        attr_set: attr,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/x\04"), r"/x\04");
    }
}
