//! Why the sandbox cannot be had here, and what fixes it. Two failures look alike to a
//! user and have different cures: user namespaces forbidden outright (a sysctl, or a
//! container's seccomp profile), and user namespaces allowed but without the right to
//! mount in them (Ubuntu 23.10 and later: AppArmor's
//! `kernel.apparmor_restrict_unprivileged_userns`). The kernel's own knobs are read here,
//! at the moment of the failure, to name the one that applies.

/// Facts about this machine that decide the diagnosis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Facts {
    pub max_user_namespaces: Option<u64>,
    /// Debian's and older Ubuntu's switch for unprivileged user namespaces.
    pub unprivileged_userns_clone: Option<u64>,
    pub apparmor_restrict: Option<u64>,
    /// A seccomp filter applies to this process (a container's profile).
    pub seccomp_filtered: bool,
    pub root: bool,
}

impl Facts {
    pub fn read() -> Facts {
        let num = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        let seccomp_filtered = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Seccomp:").map(|v| v.trim() == "2"))
            })
            .unwrap_or(false);
        Facts {
            max_user_namespaces: num("/proc/sys/user/max_user_namespaces"),
            unprivileged_userns_clone: num("/proc/sys/kernel/unprivileged_userns_clone"),
            apparmor_restrict: num("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            seccomp_filtered,
            root: nix::unistd::Uid::effective().is_root(),
        }
    }
}

const NO_SANDBOX: &str = "or pass --no-sandbox to run the toolchain on the host, without isolation";

/// What forbids creating a user namespace, and the fix.
pub(super) fn userns_denied(f: &Facts) -> String {
    let cause = if f.max_user_namespaces == Some(0) {
        "user namespaces are disabled on this machine (user.max_user_namespaces = 0); \
         enable them as root: `sysctl -w user.max_user_namespaces=15000`"
            .to_string()
    } else if f.unprivileged_userns_clone == Some(0) && !f.root {
        "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); \
         enable them as root: `sysctl -w kernel.unprivileged_userns_clone=1`, or run the job \
         as root"
            .to_string()
    } else if f.seccomp_filtered {
        "a seccomp filter forbids creating namespaces: this runs in a container whose \
         profile (Docker's default, for one) blocks unshare; run that container with \
         `--security-opt seccomp=unconfined` (or a profile that allows unshare and clone \
         with CLONE_NEWUSER)"
            .to_string()
    } else {
        "this machine or container forbids user namespaces (see the sysctls \
         user.max_user_namespaces and kernel.unprivileged_userns_clone, and the container's \
         seccomp profile)"
            .to_string()
    };
    format!("{cause}; {NO_SANDBOX}")
}

/// What lets the user namespace be created but forbids mounting in it, and the fix.
pub(super) fn mounts_denied(f: &Facts) -> String {
    let cause = if f.apparmor_restrict == Some(1) {
        "AppArmor restricts unprivileged user namespaces here \
         (kernel.apparmor_restrict_unprivileged_userns = 1, the default since Ubuntu 23.10): \
         the namespace is created without the right to mount. Fix: `sudo sysctl -w \
         kernel.apparmor_restrict_unprivileged_userns=0` (on GitHub's ubuntu-24.04 runners \
         as a step before the build), an AppArmor profile granting `userns` to scratchpack, \
         or run the job as root"
            .to_string()
    } else if f.seccomp_filtered {
        "a seccomp filter lets the user namespace be created but refuses mount(2) in it: \
         run the job's container with `--security-opt seccomp=unconfined` or a profile \
         that allows mount in user namespaces"
            .to_string()
    } else {
        "a security policy (AppArmor, SELinux or a seccomp filter) lets the user \
         namespace be created but refuses mounts in it; allow mounts in unprivileged user \
         namespaces for scratchpack, or run the job as root"
            .to_string()
    };
    format!("{cause}; {NO_SANDBOX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_gets_its_own_fix() {
        let f = Facts {
            max_user_namespaces: Some(0),
            ..Facts::default()
        };
        assert!(userns_denied(&f).contains("user.max_user_namespaces=15000"));
        let f = Facts {
            unprivileged_userns_clone: Some(0),
            ..Facts::default()
        };
        assert!(userns_denied(&f).contains("kernel.unprivileged_userns_clone=1"));
        let f = Facts {
            seccomp_filtered: true,
            ..Facts::default()
        };
        assert!(userns_denied(&f).contains("seccomp=unconfined"));
        assert!(userns_denied(&Facts::default()).contains("--no-sandbox"));
        let f = Facts {
            apparmor_restrict: Some(1),
            ..Facts::default()
        };
        let hint = mounts_denied(&f);
        assert!(
            hint.contains("apparmor_restrict_unprivileged_userns=0") && hint.contains("root"),
            "{hint}"
        );
        assert!(mounts_denied(&Facts::default()).contains("--no-sandbox"));
    }
}
