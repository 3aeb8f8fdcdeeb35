//! The sandbox itself, driven through the real helper (`scratchpack __sandbox`) over the
//! real Alpine rootfs: what a command inside sees and may do.

use scratchpack::sandbox::{Bind, Spec};

use crate::support::{assert_has, run_in_sandbox, shared_cache, shared_rootfs, tempdir};

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
