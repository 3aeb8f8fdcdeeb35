//! The sandbox itself, driven through the real helper (`scratchpack __sandbox`) over the
//! real Alpine rootfs: what a command inside sees and may do.

use scratchpack::sandbox::{Bind, Spec};

use crate::require;
use crate::support::{assert_has, path_str, run_in_sandbox, shared_cache, shared_rootfs, tempdir};

const PROBE: &str = r#"
echo "root: $(ls / | tr '\n' ' ')"
echo "dev: $(ls /dev | tr '\n' ' ')"
echo "id: $(id -u):$(id -g)"
echo "pid: $$"
echo "hostname: $(hostname)"
echo "interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
echo "env: $(env | sort | tr '\n' ' ')"
touch /usr/x 2>/dev/null && echo "usr: writable" || echo "usr: read-only"
touch "$SRC/x" 2>/dev/null && echo "src: writable" || echo "src: read-only"
echo "src: $(cat "$SRC/input.txt")"
touch /scratchpack/out/made && echo "out: writable"
touch /tmp/t && echo "tmp: writable"
echo "cwd: $(pwd)"
ls /root 2>/dev/null | head -1 | sed 's/^/root dir: /'
"#;

#[test]
fn the_sandbox_shows_only_what_it_should() {
    let dir = tempdir();
    let src = dir.path().join("src");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(src.join("input.txt"), "from the host").unwrap();
    let spec = Spec {
        rootfs: shared_rootfs(),
        newroot: shared_cache().join("sandbox-root"),
        writable_root: false,
        binds: vec![
            Bind {
                src: src.clone(),
                dst: src.clone(),
                writable: false,
                file: false,
            },
            Bind {
                src: out.clone(),
                dst: "/scratchpack/out".into(),
                writable: true,
                file: false,
            },
        ],
        network: false,
        hostname: "scratchpack".into(),
        cwd: src.clone(),
        argv: vec!["/bin/sh".into(), "-c".into(), PROBE.into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("SRC".into(), src.display().to_string()),
        ],
        parent_pid: std::process::id(),
        limits: Default::default(),
        token: String::new(),
        ids: None,
        search_path: false,
        attached: false,
    };
    std::fs::create_dir_all(&spec.newroot).unwrap();
    let r = run_in_sandbox(&spec);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let top = src
        .components()
        .nth(1)
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let mut root: Vec<&str> = vec![
        "bin",
        "dev",
        "etc",
        "lib",
        "proc",
        "sbin",
        "scratchpack",
        "tmp",
        "usr",
        &top,
    ];
    root.sort();
    root.dedup();
    assert_has(
        &r.stdout,
        &[
            &format!("root: {} \n", root.join(" ")),
            "dev: fd null random stderr stdin stdout urandom zero \n",
            "id: 0:0\n",
            "pid: 2\n",
            "hostname: scratchpack\n",
            "interfaces: lo \n",
            &format!(
                "env: PATH=/usr/bin:/bin PWD={} SHLVL=1 SRC={} \n",
                src.display(),
                src.display()
            ),
            "usr: read-only\n",
            "src: read-only\nsrc: from the host\n",
            "out: writable\n",
            "tmp: writable\n",
            &format!("cwd: {}\n", src.display()),
        ],
    );
    assert!(
        !r.stdout.contains("root dir:"),
        "the host's /root is visible: {}",
        r.stdout
    );
    assert!(
        out.join("made").exists(),
        "the output directory is not the host's"
    );
    assert!(!src.join("x").exists());
}

#[test]
fn setup_failures_come_back_as_data() {
    let dir = tempdir();
    let spec = Spec {
        rootfs: shared_rootfs(),
        newroot: shared_cache().join("sandbox-root"),
        writable_root: false,
        binds: vec![Bind {
            src: dir.path().join("missing"),
            dst: dir.path().join("m"),
            writable: false,
            file: false,
        }],
        network: false,
        hostname: "scratchpack".into(),
        cwd: "/".into(),
        argv: vec!["/bin/true".into()],
        env: vec![],
        parent_pid: std::process::id(),
        limits: Default::default(),
        token: String::new(),
        ids: None,
        search_path: false,
        attached: false,
    };
    let r = run_in_sandbox(&spec);
    assert_eq!(r.code, 125);
    let report = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("scratchpack-sandbox-error: "))
        .expect("a report");
    let failure: scratchpack::sandbox::SetupFailure = serde_json::from_str(report).unwrap();
    assert!(
        failure.step.starts_with("binding") && failure.step.contains("missing"),
        "{failure:?}"
    );
    assert_eq!(failure.errno, nix::errno::Errno::ENOENT as i32);
}

/// A spec running `script` with `src` shown read-only at its own path and `out` writable.
fn spec_running(script: &str, src: &std::path::Path, out: &std::path::Path) -> Spec {
    Spec {
        rootfs: shared_rootfs(),
        newroot: shared_cache().join("sandbox-root"),
        writable_root: false,
        binds: vec![
            Bind {
                src: src.to_path_buf(),
                dst: src.to_path_buf(),
                writable: false,
                file: false,
            },
            Bind {
                src: out.to_path_buf(),
                dst: "/scratchpack/out".into(),
                writable: true,
                file: false,
            },
        ],
        network: false,
        hostname: "scratchpack".into(),
        cwd: src.to_path_buf(),
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin:/usr/sbin:/sbin".into()),
            ("SRC".into(), src.display().to_string()),
        ],
        parent_pid: std::process::id(),
        limits: Default::default(),
        token: String::new(),
        ids: None,
        search_path: false,
        attached: false,
    }
}

const ESCAPES: &str = r#"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t ' ' '
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name: ALLOWED"; else echo "$name: refused"; fi; }
try "remount src rw" mount -o remount,bind,rw "$SRC"
try "remount usr rw" mount -o remount,bind,rw /usr
try "remount root rw" mount -o remount,rw /
try "new mount" mount -t tmpfs none /tmp
try "umount usr" umount -l /usr
try "unshare user" unshare -r true
try "unshare mount" unshare -m true
try "nsenter init" nsenter -t 1 -m true
try "write src" touch "$SRC/planted"
try "write usr" touch /usr/planted
try "write root" mkdir /planted
try "write dev" touch /dev/planted
try "read init exe" readlink /proc/1/exe
try "read init environ" cat /proc/1/environ
try "read init root" ls /proc/1/root/
try "write proc sys" sh -c 'echo x > /proc/sys/kernel/hostname'
echo "kcore bytes: $(head -c 16 /proc/kcore 2>/dev/null | wc -c)"
echo "init cmdline: $(tr '\0' ' ' < /proc/1/cmdline)"
echo "fds: $(ls /proc/self/fd | tr '\n' ' ')"
"#;

#[test]
fn build_steps_cannot_undo_the_sandbox() {
    let dir = tempdir();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let r = run_in_sandbox(&spec_running(ESCAPES, &src, &out));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("ALLOWED"), "{}", r.stdout);
    assert_has(
        &r.stdout,
        &[
            "CapInh: 0000000000000000\n",
            "CapPrm: 0000000000000000\n",
            "CapEff: 0000000000000000\n",
            "CapBnd: 0000000000000000\n",
            "CapAmb: 0000000000000000\n",
            "NoNewPrivs: 1\n",
            "Seccomp: 2\n",
            "remount src rw: refused\n",
            "unshare user: refused\n",
            "read init exe: refused\n",
            "kcore bytes: 0\n",
            "init cmdline: scratchpack __sandbox \n",
            // ls's own directory descriptor is the 3.
            "fds: 0 1 2 3 \n",
        ],
    );
    assert!(!src.join("planted").exists());
    assert!(
        !shared_rootfs().join("usr/planted").exists(),
        "the cached rootfs was written"
    );
}

#[test]
fn descriptors_of_the_caller_do_not_reach_the_command() {
    let dir = tempdir();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(dir.path().join("secret"), "host secret").unwrap();
    let script = "ls /proc/self/fd | tr '\\n' ' '; cat /proc/self/fd/7/../secret 2>&1";
    let spec = spec_running(script, &src, &out);
    // The caller holds a directory open on descriptor 7, as `exec 7<dir` would.
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args([
        "-c",
        "exec 7<\"$1\"; shift; exec \"$@\"",
        "sh",
        path_str(&out),
        env!("CARGO_BIN_EXE_scratchpack"),
        "__sandbox",
    ]);
    let r = crate::support::run_with_stdin(&mut cmd, &serde_json::to_vec(&spec).unwrap());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("0 1 2 3 "), "{}", r.stdout);
    assert!(!r.stdout.contains("host secret"), "{}", r.stdout);
}

#[test]
fn sources_with_submounts_are_bound_whole_and_read_only() {
    require!("unshare");
    let dir = tempdir();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let script = "cat sub/inner.txt; touch sub/x 2>/dev/null && echo 'sub: writable' || echo 'sub: read-only'";
    let spec = spec_running(script, &src, &out);
    // A mount point inside the source directory, in the caller's own namespace.
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        "mount -t tmpfs none \"$1/sub\" && echo inner > \"$1/sub/inner.txt\" && shift && exec \"$@\"",
        "sh",
        path_str(&src),
        env!("CARGO_BIN_EXE_scratchpack"),
        "__sandbox",
    ]);
    let r = crate::support::run_with_stdin(&mut cmd, &serde_json::to_vec(&spec).unwrap());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_has(&r.stdout, &["inner\n", "sub: read-only\n"]);
}

#[test]
fn limits_stop_the_whole_sandbox_and_say_which() {
    let dir = tempdir();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let report = |r: &crate::support::Run| -> scratchpack::sandbox::SetupFailure {
        let line = r
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("scratchpack-sandbox-error: "))
            .unwrap_or_else(|| panic!("no report: {}\n{}", r.stdout, r.stderr));
        serde_json::from_str(line).unwrap()
    };

    let mut spec = spec_running("sleep 30; echo finished", &src, &out);
    spec.limits.timeout_ms = Some(1000);
    let start = std::time::Instant::now();
    let r = run_in_sandbox(&spec);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(r.code, 125);
    assert!(!r.stdout.contains("finished"));
    let failure = report(&r);
    assert_eq!(failure.step, "time limit");
    assert!(failure.detail.contains("1 s"), "{failure:?}");

    // One process asking for more than the limit at once: RLIMIT_DATA refuses it.
    let mut spec = spec_running(
        "dd if=/dev/zero of=/dev/null bs=400M count=1 2>&1; echo status=$?",
        &src,
        &out,
    );
    spec.limits.memory = Some(256 << 20);
    let r = run_in_sandbox(&spec);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("status=0"), "{}", r.stdout);

    // Four processes under the limit each, over it together: the helper kills them all.
    let hogs = "for i in 1 2 3 4; do dd if=/dev/zero of=/dev/null bs=100M count=100000 & done; wait; echo finished";
    let mut spec = spec_running(hogs, &src, &out);
    spec.limits.memory = Some(256 << 20);
    spec.limits.timeout_ms = Some(60_000);
    let r = run_in_sandbox(&spec);
    assert_eq!(r.code, 125, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("finished"));
    let failure = report(&r);
    assert_eq!(failure.step, "memory limit");
    assert!(failure.detail.contains("256 MiB"), "{failure:?}");
}
