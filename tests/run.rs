//! `scratchpack run`: the program of an image started without a daemon, its output,
//! exit status, arguments, environment, user and working directory the same as
//! `podman run` gives for the same image, for images written by scratchpack, by podman
//! (`podman save`, a docker-archive) and by skopeo (an OCI archive); volumes; another
//! platform's image under qemu-user; and what it refuses.

use std::path::Path;
use std::process::Command;

use crate::require;
use crate::support::binaries::{self, Bin};
use crate::support::clients::{Client, Podman};
use crate::support::{Run, assert_has, fixture, path_str, run, scratchpack, tempdir};

/// `scratchpack run`, with a cache of its own beside the image (see the last test).
fn sp_run(image: &Path, extra: &[&str], args: &[&str]) -> Run {
    let cache = image.parent().unwrap().join("cache");
    let mut cmd = crate::support::scratchpack_cmd();
    cmd.env("SCRATCHPACK_CACHE_DIR", &cache)
        .arg("run")
        .args(extra)
        .arg(image)
        .args(args);
    run(&mut cmd)
}

/// The same run by podman (`extra` are its options, `args` the program's).
fn podman_run(podman: &Podman, image: &str, extra: &[&str], args: &[&str]) -> Run {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(extra);
    all.push(image);
    all.extend_from_slice(args);
    podman.run(&all)
}

/// Each case run by both: same stdout and exit status.
fn same_as_podman(podman: &Podman, archive: &Path, image: &str) {
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&[], &[], &[]),
        (&[], &[], &["one", "two words", "--flag"]),
        (
            &["-e", "GREETING=from the test"],
            &["-e", "GREETING=from the test"],
            &[],
        ),
        (&["--user", "0"], &["--user", "0"], &[]),
        (&["--user", "4242:4343"], &["--user", "4242:4343"], &[]),
        (&["--workdir", "/etc"], &["--workdir", "/etc"], &[]),
        (&[], &[], &["exit=7"]),
    ];
    // `run` always gives a writable /tmp (podman only when the image has one).
    let comparable = |out: &str| -> String {
        out.lines()
            .filter(|l| !l.starts_with("tmp "))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    for (ours, theirs, args) in cases {
        let a = sp_run(archive, ours, args);
        let b = podman_run(podman, image, theirs, args);
        assert_eq!(
            (a.code, comparable(&a.stdout)),
            (b.code, comparable(&b.stdout)),
            "scratchpack run {ours:?} {args:?} (stderr: {}) against podman run {theirs:?} (stderr: {})",
            a.stderr,
            b.stderr
        );
    }
}

#[test]
fn scratchpack_images_run_as_podman_runs_them() {
    let Some(probe) = binaries::get(Bin::Probe) else {
        return;
    };
    let dir = tempdir();
    let archive = dir.path().join("probe.tar");
    let r = scratchpack(&[
        "package",
        path_str(&probe),
        "-o",
        path_str(&archive),
        "--tag",
        "probe:run",
        "--env",
        "GREETING=hello",
        "--workdir",
        "/tmp",
        "--cmd",
        "default-arg",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = sp_run(&archive, &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_has(
        &out.stdout,
        &[
            "arg default-arg\n",
            "uid 65532 gid 65532\n",
            "cwd /tmp\n",
            "env GREETING=hello\n",
            "env HOME=/home/nonroot\n",
            "tmp writable\n",
            "passwd nonroot\n",
        ],
    );
    let Some(podman) = Podman::new() else {
        return;
    };
    podman.load(&archive);
    same_as_podman(&podman, &archive, "probe:run");
}

#[test]
fn images_of_podman_and_skopeo_run_too() {
    require!("skopeo");
    let Some(probe) = binaries::get(Bin::Probe) else {
        return;
    };
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::copy(&probe, ctx.join("probe")).unwrap();
    std::fs::write(
        ctx.join("passwd"),
        "root:x:0:0:root:/root:/probe\napp:x:1000:1000:app:/home/app:/probe\n",
    )
    .unwrap();
    // Two layers, a user by name, a Cmd and an Entrypoint: what podman build writes.
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\nCOPY passwd /etc/passwd\nCOPY probe /probe\nENV GREETING=built\n\
         USER app\nWORKDIR /home/app\nENTRYPOINT [\"/probe\"]\nCMD [\"from-cmd\"]\n",
    )
    .unwrap();
    let built = podman.run(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        "localhost/probe-built:1",
        path_str(&ctx),
    ]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let saved = dir.path().join("saved.tar");
    podman
        .run(&["save", "-o", path_str(&saved), "localhost/probe-built:1"])
        .expect_code(0);
    let oci = dir.path().join("oci.tar");
    let copied = run(Command::new("skopeo").args([
        "copy",
        &format!("docker-archive:{}", saved.display()),
        &format!("oci-archive:{}:probe", oci.display()),
    ]));
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    for archive in [&saved, &oci] {
        let out = sp_run(archive, &[], &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_has(
            &out.stdout,
            &[
                "arg from-cmd\n",
                "uid 1000 gid 1000\n",
                "cwd /home/app\n",
                "env GREETING=built\n",
            ],
        );
        same_as_podman(&podman, archive, "localhost/probe-built:1");
    }
}

#[test]
fn volumes_platforms_and_refusals() {
    let Some(probe) = binaries::get(Bin::Probe) else {
        return;
    };
    let dir = tempdir();
    let archive = dir.path().join("probe.tar");
    scratchpack(&["package", path_str(&probe), "-o", path_str(&archive)]).expect_code(0);
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), "from the host\n").unwrap();
    let volume = format!("{}:/data:ro", data.display());
    let out = sp_run(&archive, &["--volume", &volume], &["cat=/data/f"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_has(&out.stdout, &["cat /data/f from the host\n"]);
    // Nothing else of the host is there.
    let out = sp_run(&archive, &[], &["cat=/etc/hostname", "cat=/root/.bashrc"]);
    assert_has(
        &out.stdout,
        &[
            "cat /etc/hostname (unreadable)",
            "cat /root/.bashrc (unreadable)",
        ],
    );

    // The host's network (and resolver) only when asked.
    let out = sp_run(&archive, &["--network", "host"], &["cat=/etc/resolv.conf"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains("cat /etc/resolv.conf (unreadable)"),
        "{}",
        out.stdout
    );
    let out = sp_run(&archive, &[], &["cat=/etc/resolv.conf"]);
    assert_has(&out.stdout, &["cat /etc/resolv.conf (unreadable)"]);

    // Another platform's image, under qemu-user through binfmt_misc.
    if crate::support::tool("qemu-aarch64-static").is_some()
        && Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists()
    {
        let multi = dir.path().join("multi.tar");
        scratchpack(&[
            "package",
            path_str(&fixture("hello-amd64")),
            path_str(&fixture("hello-arm64")),
            "-o",
            path_str(&multi),
        ])
        .expect_code(0);
        for platform in ["linux/arm64", "linux/amd64"] {
            let out = sp_run(&multi, &["--platform", platform], &[]);
            assert_eq!(out.code, 0, "{platform}: {}", out.stderr);
            assert_eq!(out.stdout, "hello from scratch\n");
        }
        let out = sp_run(&multi, &["--platform", "linux/riscv64"], &[]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_has(
            &out.stderr,
            &["no linux/riscv64 platform", "linux/amd64, linux/arm64"],
        );
    }

    // The program reads scratchpack's stdin.
    let cache = dir.path().join("cache");
    let mut cmd = crate::support::scratchpack_cmd();
    cmd.env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["run", path_str(&archive), "stdin"]);
    let out = crate::support::run_with_stdin(&mut cmd, b"typed in\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_has(&out.stdout, &["stdin typed in\n"]);
    // A program the image does not have: the image's fault, said.
    let out = sp_run(&archive, &["--entrypoint", "/nope"], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(&out.stderr, &["cannot start `/nope`", "No such file"]);

    // A user the image does not define: the image's fault.
    let out = sp_run(&archive, &["--user", "ghost"], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(&out.stderr, &["user `ghost`", "/etc/passwd"]);
    // Not an image.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();
    let out = sp_run(&notes, &[], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // A volume whose source is missing.
    let out = sp_run(&archive, &["--volume", "/nonexistent/x:/x"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_has(&out.stderr, &["--volume", "does not exist"]);
    // Nothing is left behind in the cache.
    let left = std::fs::read_dir(dir.path().join("cache/run"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "unpacked images are removed");
}
