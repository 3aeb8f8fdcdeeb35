//! Taking privileges away before the sandbox runs anything it was given: every
//! descriptor but stdin, stdout and stderr closed; all capabilities dropped, the bounding
//! and ambient sets emptied and the securebits locked so that root inside the user
//! namespace regains none on `execve`; `no_new_privs`; and a seccomp filter against the
//! calls that could undo the mount plan or reach outside it (mount and its new API,
//! namespaces, keyrings, bpf, ptrace, kernel modules...), as bubblewrap and Docker's
//! default profile do. The filter is plain data ([`filter`]) so it is unit-tested; the
//! kernel calls are in [`apply`], run by the namespace's init after the mounts are made.
//!
//! Owns nothing about mounts (see [`super::plan`]) or limits (see [`super::limits`]).

use nix::errno::Errno;

/// `struct sock_filter`: one classic BPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_ABS_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The low 32 bits of `args[0]`.
#[cfg(target_endian = "little")]
const ARG0_LOW: u32 = 16;
#[cfg(target_endian = "big")]
const ARG0_LOW: u32 = 20;

/// The audit architecture of the machine's own system calls.
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_ARCH: Option<u32> = None;

/// x32 system calls on x86_64 carry this bit.
const X32_BIT: u32 = 0x4000_0000;
/// Flags of `clone` that make new namespaces.
const CLONE_NAMESPACES: u32 = 0x7e02_0000;
/// System calls numbered above this one are newer than this filter: unknown, refused
/// with ENOSYS (libcs then fall back to older calls).
const NEWEST_KNOWN: u32 = 469;
/// `open_tree_attr` (Linux 6.15), not yet in every libc.
const SYS_OPEN_TREE_ATTR: u32 = 467;

/// Calls refused with EPERM: they change mounts, namespaces or the kernel, reach other
/// processes' memory, or load code into the kernel.
fn denied() -> Vec<u32> {
    let nrs = [
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_bpf,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_syslog,
        libc::SYS_name_to_handle_at,
        libc::SYS_open_by_handle_at,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];
    let mut out: Vec<u32> = nrs.iter().map(|&n| n as u32).collect();
    out.push(SYS_OPEN_TREE_ATTR);
    out
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// The seccomp program, or `None` where this build does not know the machine's
/// architecture (the sandbox then refuses to run: it never runs unfiltered).
pub fn filter() -> Option<Vec<Insn>> {
    let arch = NATIVE_ARCH?;
    let eperm = RET_ERRNO | Errno::EPERM as u32;
    let enosys = RET_ERRNO | Errno::ENOSYS as u32;
    let mut p = vec![
        stmt(LD_ABS_W, ARCH),
        // Another ABI (i386 through int 0x80 on x86_64) has other numbers: kill.
        jump(JEQ_K, arch, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_ABS_W, NR),
    ];
    if cfg!(target_arch = "x86_64") {
        p.push(jump(JGE_K, X32_BIT, 0, 1));
        p.push(stmt(RET_K, enosys));
    }
    // clone3 hides its flags in memory a filter cannot read: ENOSYS makes libcs use
    // clone, whose flags it can.
    p.push(jump(JEQ_K, libc::SYS_clone3 as u32, 0, 1));
    p.push(stmt(RET_K, enosys));
    p.push(jump(JEQ_K, libc::SYS_clone as u32, 0, 4));
    p.push(stmt(LD_ABS_W, ARG0_LOW));
    p.push(jump(JSET_K, CLONE_NAMESPACES, 0, 1));
    p.push(stmt(RET_K, eperm));
    p.push(stmt(RET_K, RET_ALLOW));
    for nr in denied() {
        p.push(jump(JEQ_K, nr, 0, 1));
        p.push(stmt(RET_K, eperm));
    }
    p.push(jump(JGE_K, NEWEST_KNOWN + 1, 0, 1));
    p.push(stmt(RET_K, enosys));
    p.push(stmt(RET_K, RET_ALLOW));
    Some(p)
}

/// Why taking privileges away failed: the step and its errno.
pub type Failure = (&'static str, Errno);

/// Marks every descriptor above stderr close-on-exec, so nothing the caller had open
/// reaches a program scratchpack runs.
pub fn cloexec_inherited() {
    if !close_range(libc::CLOSE_RANGE_CLOEXEC) {
        for fd in inherited().unwrap_or_default() {
            // SAFETY: F_SETFD on a number that may or may not be open is harmless.
            #[allow(unsafe_code)]
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
}

/// Closes every descriptor above stderr; fails only if it cannot tell which are open.
pub fn close_inherited() -> Result<(), Failure> {
    if !close_range(0) {
        let fds = inherited().map_err(|_| ("closing inherited descriptors", Errno::last()))?;
        for fd in fds {
            let _ = nix::unistd::close(fd);
        }
    }
    Ok(())
}

/// `close_range(3, ~0, flags)`; false on kernels before 5.9 (5.11 for the flag).
fn close_range(flags: u32) -> bool {
    // SAFETY: closes or flags descriptors this process does not use any more.
    #[allow(unsafe_code)]
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, flags) };
    r == 0
}

/// The open descriptors above stderr, from `/proc/self/fd`.
fn inherited() -> std::io::Result<Vec<i32>> {
    Ok(std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect())
}

/// Drops every capability for good, sets `no_new_privs`, makes this process
/// non-dumpable (its `/proc/PID` is then closed to the processes it starts) and installs
/// the seccomp filter. Runs in the namespace's init, after the mounts, before the fork.
pub fn apply() -> Result<(), Failure> {
    let program = filter().ok_or(("installing the seccomp filter", Errno::ENOSYS))?;
    // Securebits first: changing them needs CAP_SETPCAP, which is about to go.
    let bits = libc::SECBIT_NOROOT
        | libc::SECBIT_NOROOT_LOCKED
        | libc::SECBIT_NO_SETUID_FIXUP
        | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
        | libc::SECBIT_KEEP_CAPS_LOCKED
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    prctl("locking securebits", libc::PR_SET_SECUREBITS, bits as u64)?;
    for cap in 0..64u64 {
        match prctl(
            "emptying the capability bounding set",
            libc::PR_CAPBSET_DROP,
            cap,
        ) {
            // Past the last capability this kernel knows.
            Err((_, Errno::EINVAL)) => break,
            other => other?,
        }
    }
    prctl(
        "clearing ambient capabilities",
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as u64,
    )?;
    drop_capabilities()?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| ("setting no_new_privs", e))?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| ("making init non-dumpable", e))?;
    install(&program)
}

fn prctl(step: &'static str, option: i32, arg: u64) -> Result<(), Failure> {
    // SAFETY: prctl with integer arguments.
    #[allow(unsafe_code)]
    let r = unsafe { libc::prctl(option, arg, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err((step, Errno::last()))
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Empties the effective, permitted and inheritable sets.
fn drop_capabilities() -> Result<(), Failure> {
    const VERSION_3: u32 = 0x2008_0522;
    let header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: the header and two data structs are what capset(2) version 3 reads.
    #[allow(unsafe_code)]
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(("dropping capabilities", Errno::last()))
    }
}

fn install(program: &[Insn]) -> Result<(), Failure> {
    let filters: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let len = u16::try_from(filters.len())
        .map_err(|_| ("installing the seccomp filter", Errno::E2BIG))?;
    let prog = libc::sock_fprog {
        len,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `filters`, alive for the call; the kernel copies it.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as u64,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(("installing the seccomp filter", Errno::last()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program over one `seccomp_data` the way the kernel does.
    fn eval(program: &[Insn], arch: u32, nr: u32, arg0: u32) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        data[ARG0_LOW as usize..ARG0_LOW as usize + 4].copy_from_slice(&arg0.to_ne_bytes());
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = program[pc];
            pc += 1;
            match i.code {
                LD_ABS_W => {
                    let k = i.k as usize;
                    acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                }
                JEQ_K | JGE_K | JSET_K => {
                    let taken = match i.code {
                        JEQ_K => acc == i.k,
                        JGE_K => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                RET_K => return i.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_refuses_what_it_should_and_allows_the_rest() {
        let Some(p) = filter() else { return };
        let arch = NATIVE_ARCH.unwrap();
        let eperm = RET_ERRNO | Errno::EPERM as u32;
        let enosys = RET_ERRNO | Errno::ENOSYS as u32;
        for nr in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_pivot_root,
            libc::SYS_keyctl,
            libc::SYS_bpf,
            libc::SYS_ptrace,
            libc::SYS_mount_setattr,
            libc::SYS_fsopen,
        ] {
            assert_eq!(eval(&p, arch, nr as u32, 0), eperm, "{nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_wait4,
        ] {
            assert_eq!(eval(&p, arch, nr as u32, 0), RET_ALLOW, "{nr}");
        }
        let clone = libc::SYS_clone as u32;
        assert_eq!(eval(&p, arch, clone, 0x11), RET_ALLOW, "fork-like clone");
        assert_eq!(eval(&p, arch, clone, 0x10000000 | 0x11), eperm, "NEWUSER");
        assert_eq!(eval(&p, arch, clone, 0x00020000), eperm, "NEWNS");
        assert_eq!(eval(&p, arch, libc::SYS_clone3 as u32, 0), enosys);
        assert_eq!(eval(&p, arch, 1000, 0), enosys, "unknown, newer calls");
        assert_eq!(
            eval(&p, 0x4000_0003, libc::SYS_read as u32, 0),
            RET_KILL_PROCESS,
            "another ABI"
        );
        if cfg!(target_arch = "x86_64") {
            assert_eq!(eval(&p, arch, X32_BIT | 2, 0), enosys, "x32");
        }
    }
}
