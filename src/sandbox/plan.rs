//! The mount plan: what the sandbox's filesystem is made of, as plain data built from a
//! [`Spec`] and the rootfs's top-level entries. The new root is a tmpfs; the rootfs's
//! system directories are bound into it read-only, `/dev` is a tmpfs with four device
//! files bound from the host, `/proc` is fresh with the files container runtimes hide
//! masked and the kernel's knobs read-only, `/tmp` is a tmpfs, and every bind of the
//! spec appears at its own path (recursively: submounts come along, read-only too).
//! Once built, the root and `/dev` are sealed read-only. Nothing else of the host is
//! visible.

use std::path::{Path, PathBuf};

use super::Spec;

/// Top-level directories of the rootfs shown (read-only) in the sandbox.
pub const SYSTEM_DIRS: &[&str] = &["bin", "etc", "lib", "sbin", "usr"];
/// Paths binds may not use: they belong to the rootfs or the kernel.
pub const RESERVED: &[&str] = &[
    "/bin", "/etc", "/lib", "/sbin", "/usr", "/dev", "/proc", "/sys",
];
/// Device files bound from the host.
pub const DEVICES: &[&str] = &["null", "zero", "random", "urandom"];
/// What runc and Docker hide in `/proc`: kernel memory, keys, timers and hardware
/// details a build has no use for. Missing ones are skipped.
pub const PROC_MASKED: &[&str] = &[
    "acpi",
    "asound",
    "interrupts",
    "kallsyms",
    "kcore",
    "keys",
    "kmsg",
    "latency_stats",
    "sched_debug",
    "scsi",
    "timer_list",
    "timer_stats",
];
/// Kernel knobs shown read-only.
pub const PROC_READ_ONLY: &[&str] = &["bus", "fs", "irq", "sys", "sysrq-trigger"];
/// Size of the sandbox's `/tmp` unless a memory limit says otherwise.
const TMP_SIZE: u64 = 4 << 30;

/// One step of building the sandbox's filesystem, relative to the host's view until
/// `PivotRoot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Stop mount events from propagating back to the host.
    MakePrivate,
    Tmpfs {
        target: PathBuf,
        mode: u32,
        /// Bytes; 0 for the kernel's default.
        size: u64,
    },
    MkdirAll {
        path: PathBuf,
    },
    Touch {
        path: PathBuf,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
    /// A recursive bind (submounts included), never set-uid or device-capable.
    Bind {
        src: PathBuf,
        dst: PathBuf,
        readonly: bool,
    },
    /// A host device file bound in.
    Device {
        src: PathBuf,
        dst: PathBuf,
    },
    Proc {
        target: PathBuf,
    },
    /// Hides a `/proc` entry: `/dev/null` over a file, an empty read-only tmpfs over a
    /// directory. Skipped if missing.
    Mask {
        path: PathBuf,
    },
    /// Binds a path onto itself read-only. Skipped if missing.
    ReadOnly {
        path: PathBuf,
    },
    /// Makes a tmpfs read-only once everything is mounted on it.
    Seal {
        target: PathBuf,
    },
    /// Make `newroot` the root; the old root is detached.
    PivotRoot {
        newroot: PathBuf,
    },
    Chdir {
        path: PathBuf,
    },
    Hostname {
        name: String,
    },
}

/// An entry at the top of the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootEntry {
    Dir(String),
    Symlink(String, PathBuf),
}

/// Why a spec cannot be turned into a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` cannot be shown in the sandbox at its own path: {reason}", path.display())]
pub struct PlanError {
    pub path: PathBuf,
    pub reason: &'static str,
}

/// Checks that `path` can be bound at its own path.
pub fn check_bind_target(path: &Path) -> Result<(), PlanError> {
    if !path.is_absolute() || path == Path::new("/") {
        return Err(PlanError {
            path: path.to_path_buf(),
            reason: "it must be an absolute path below /",
        });
    }
    if RESERVED.iter().any(|r| path.starts_with(r)) {
        return Err(PlanError {
            path: path.to_path_buf(),
            reason: "it lies in a system directory of the rootfs",
        });
    }
    Ok(())
}

fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// The plan for `spec`, given the top-level entries of its rootfs.
pub fn plan(spec: &Spec, entries: &[RootEntry]) -> Result<Vec<Op>, PlanError> {
    let root = &spec.newroot;
    let mut ops = vec![Op::MakePrivate];
    if spec.writable_root {
        ops.push(Op::Bind {
            src: spec.rootfs.clone(),
            dst: root.clone(),
            readonly: false,
        });
    } else {
        ops.push(Op::Tmpfs {
            target: root.clone(),
            mode: 0o755,
            size: 1 << 20,
        });
        ops.extend(system_dirs(spec, entries));
    }

    let dev = root.join("dev");
    ops.push(Op::MkdirAll { path: dev.clone() });
    ops.push(Op::Tmpfs {
        target: dev.clone(),
        mode: 0o755,
        size: 1 << 20,
    });
    for d in DEVICES {
        ops.push(Op::Touch { path: dev.join(d) });
        ops.push(Op::Device {
            src: Path::new("/dev").join(d),
            dst: dev.join(d),
        });
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(Op::Symlink {
            target: target.into(),
            link: dev.join(link),
        });
    }
    let proc = root.join("proc");
    ops.push(Op::MkdirAll { path: proc.clone() });
    ops.push(Op::Proc {
        target: proc.clone(),
    });
    ops.extend(PROC_MASKED.iter().map(|p| Op::Mask { path: proc.join(p) }));
    ops.extend(
        PROC_READ_ONLY
            .iter()
            .map(|p| Op::ReadOnly { path: proc.join(p) }),
    );
    ops.push(Op::MkdirAll {
        path: root.join("tmp"),
    });
    ops.push(Op::Tmpfs {
        target: root.join("tmp"),
        mode: 0o1777,
        size: spec.limits.memory.map_or(TMP_SIZE, |m| m.min(TMP_SIZE)),
    });

    // Parents before children, so a bind never hides another.
    let mut binds = spec.binds.clone();
    binds.sort_by(|a, b| {
        a.dst
            .components()
            .count()
            .cmp(&b.dst.components().count())
            .then(a.dst.cmp(&b.dst))
    });
    for bind in &binds {
        check_bind_target(&bind.dst)?;
        let dst = under(root, &bind.dst);
        if bind.file {
            if let Some(parent) = dst.parent() {
                ops.push(Op::MkdirAll {
                    path: parent.to_path_buf(),
                });
            }
            ops.push(Op::Touch { path: dst.clone() });
        } else {
            ops.push(Op::MkdirAll { path: dst.clone() });
        }
        ops.push(Op::Bind {
            src: bind.src.clone(),
            dst,
            readonly: !bind.writable,
        });
    }
    if spec.network {
        // A whole image as the root (`run`) may lack the file the resolver is bound on.
        if spec.writable_root {
            ops.push(Op::MkdirAll {
                path: root.join("etc"),
            });
            ops.push(Op::Touch {
                path: root.join("etc/resolv.conf"),
            });
        }
        ops.push(Op::Bind {
            src: "/etc/resolv.conf".into(),
            dst: root.join("etc/resolv.conf"),
            readonly: true,
        });
    }
    ops.push(Op::MkdirAll {
        path: under(root, &spec.cwd),
    });
    ops.push(Op::Seal { target: dev });
    if !spec.writable_root {
        ops.push(Op::Seal {
            target: root.clone(),
        });
    }
    ops.push(Op::PivotRoot {
        newroot: root.clone(),
    });
    ops.push(Op::Chdir {
        path: spec.cwd.clone(),
    });
    ops.push(Op::Hostname {
        name: spec.hostname.clone(),
    });
    Ok(ops)
}

/// The rootfs's system directories, read-only on the tmpfs root.
fn system_dirs(spec: &Spec, entries: &[RootEntry]) -> Vec<Op> {
    let root = &spec.newroot;
    let mut ops = Vec::new();
    let mut entries = entries.to_vec();
    entries.sort_by(|a, b| name(a).cmp(name(b)));
    for entry in &entries {
        match entry {
            RootEntry::Dir(n) if SYSTEM_DIRS.contains(&n.as_str()) => {
                let dst = root.join(n);
                ops.push(Op::MkdirAll { path: dst.clone() });
                ops.push(Op::Bind {
                    src: spec.rootfs.join(n),
                    dst,
                    readonly: true,
                });
            }
            RootEntry::Symlink(n, target) if SYSTEM_DIRS.contains(&n.as_str()) => {
                ops.push(Op::Symlink {
                    target: target.clone(),
                    link: root.join(n),
                });
            }
            _ => {}
        }
    }
    ops
}

fn name(e: &RootEntry) -> &str {
    match e {
        RootEntry::Dir(n) | RootEntry::Symlink(n, _) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Bind;

    fn spec() -> Spec {
        Spec {
            rootfs: "/cache/rootfs/abc".into(),
            newroot: "/cache/newroot".into(),
            binds: vec![
                Bind {
                    src: "/home/u/proj/src".into(),
                    dst: "/home/u/proj/src".into(),
                    writable: false,
                    file: false,
                },
                Bind {
                    src: "/home/u/.cache/sp/zig".into(),
                    dst: "/scratchpack/cache/zig".into(),
                    writable: true,
                    file: false,
                },
                Bind {
                    src: "/usr/lib/zig".into(),
                    dst: "/opt/zig".into(),
                    writable: false,
                    file: false,
                },
            ],
            network: false,
            hostname: "scratchpack".into(),
            cwd: "/home/u/proj".into(),
            argv: vec!["/opt/zig/zig".into()],
            writable_root: false,
            env: vec![],
            parent_pid: 1,
            limits: Default::default(),
            token: String::new(),
            ids: None,
            search_path: false,
            attached: false,
        }
    }

    #[test]
    fn the_plan_shows_only_what_it_should() {
        let entries = vec![
            RootEntry::Dir("usr".into()),
            RootEntry::Dir("home".into()),
            RootEntry::Dir("bin".into()),
            RootEntry::Dir("var".into()),
        ];
        let ops = plan(&spec(), &entries).unwrap();
        let text: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
        let binds: Vec<(String, String, bool)> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Bind { src, dst, readonly } => Some((
                    src.display().to_string(),
                    dst.display().to_string(),
                    *readonly,
                )),
                Op::Device { src, dst } => {
                    Some((src.display().to_string(), dst.display().to_string(), false))
                }
                _ => None,
            })
            .collect();
        let b = |s: &str, d: &str, ro| (s.to_string(), d.to_string(), ro);
        assert_eq!(
            binds,
            [
                b("/cache/rootfs/abc/bin", "/cache/newroot/bin", true),
                b("/cache/rootfs/abc/usr", "/cache/newroot/usr", true),
                b("/dev/null", "/cache/newroot/dev/null", false),
                b("/dev/zero", "/cache/newroot/dev/zero", false),
                b("/dev/random", "/cache/newroot/dev/random", false),
                b("/dev/urandom", "/cache/newroot/dev/urandom", false),
                b("/usr/lib/zig", "/cache/newroot/opt/zig", true),
                b(
                    "/home/u/.cache/sp/zig",
                    "/cache/newroot/scratchpack/cache/zig",
                    false
                ),
                b("/home/u/proj/src", "/cache/newroot/home/u/proj/src", true),
            ]
        );
        assert_eq!(ops[0], Op::MakePrivate);
        assert!(text.iter().any(|t| t.contains("Proc")));
        let tail: Vec<&Op> = ops.iter().rev().take(4).collect();
        assert_eq!(
            tail[0],
            &Op::Hostname {
                name: "scratchpack".into()
            }
        );
        assert_eq!(
            tail[1],
            &Op::Chdir {
                path: "/home/u/proj".into()
            }
        );
        assert!(matches!(tail[2], Op::PivotRoot { .. }));
        assert_eq!(
            tail[3],
            &Op::Seal {
                target: "/cache/newroot".into()
            },
            "the root is sealed read-only before the pivot"
        );
        assert!(ops.contains(&Op::Mask {
            path: "/cache/newroot/proc/kcore".into()
        }));
        assert!(ops.contains(&Op::ReadOnly {
            path: "/cache/newroot/proc/sys".into()
        }));
        assert!(
            !text.iter().any(|t| t.contains("/var")),
            "rootfs /var is not shown"
        );
    }

    #[test]
    fn binds_into_system_directories_are_refused() {
        let mut s = spec();
        s.binds[0].dst = "/usr/src/proj".into();
        let err = plan(&s, &[]).unwrap_err();
        assert_eq!(err.path, PathBuf::from("/usr/src/proj"));
        assert!(check_bind_target(Path::new("relative")).is_err());
        assert!(check_bind_target(Path::new("/tmp/x")).is_ok());
    }

    #[test]
    fn a_writable_root_is_the_whole_rootfs() {
        let mut s = spec();
        s.writable_root = true;
        let ops = plan(&s, &[RootEntry::Dir("usr".into())]).unwrap();
        assert_eq!(
            ops[1],
            Op::Bind {
                src: "/cache/rootfs/abc".into(),
                dst: "/cache/newroot".into(),
                readonly: false
            }
        );
        assert!(
            !ops.iter()
                .any(|o| matches!(o, Op::Bind { dst, .. } if dst.ends_with("usr")))
        );
    }

    #[test]
    fn network_gets_the_hosts_resolver() {
        let mut s = spec();
        s.network = true;
        let ops = plan(&s, &[]).unwrap();
        assert!(ops.contains(&Op::Bind {
            src: "/etc/resolv.conf".into(),
            dst: "/cache/newroot/etc/resolv.conf".into(),
            readonly: true
        }));
    }
}
