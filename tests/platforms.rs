//! Builds for several platforms (`--platform`): C (zig) and Go sources for six Linux
//! architectures in one command, one archive with an index of one image per platform;
//! each platform's binary taken out of its image and run under qemu-user (the machine's
//! own natively), and the arm64 image run by podman with `--platform linux/arm64`
//! (binfmt_misc, which .ci/run registers). `--apk` libraries installed for each target
//! and linked from there (Makefile, CMake and cgo builds). Refusals: a toolchain that
//! cannot cross-compile, an unknown platform.

use std::path::Path;

use crate::require;
use crate::support::clients::{Client, Podman};
use crate::support::oci::ImageTar;
use crate::support::{assert_has, fixture, in_ci, path_str, run, tempdir};

const SIX: &str = "linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64,linux/ppc64le,linux/s390x";

/// The qemu-user emulator of `platform`, or `None` for the machine's own.
fn emulator(platform: &str) -> Option<&'static str> {
    let own = matches!(
        (std::env::consts::ARCH, platform),
        ("x86_64", "linux/amd64") | ("aarch64", "linux/arm64")
    );
    if own {
        return None;
    }
    Some(match platform {
        "linux/amd64" => "qemu-x86_64-static",
        "linux/arm64" => "qemu-aarch64-static",
        "linux/arm/v7" | "linux/arm/v6" => "qemu-arm-static",
        "linux/riscv64" => "qemu-riscv64-static",
        "linux/ppc64le" => "qemu-ppc64le-static",
        "linux/s390x" => "qemu-s390x-static",
        "linux/386" => "qemu-i386-static",
        other => panic!("no emulator for {other}"),
    })
}

/// Runs every platform's `/usr/local/bin/NAME` of `archive` with `args`; returns
/// `(platform, stdout)` in the index's order.
pub(crate) fn run_each(
    archive: &Path,
    name: &str,
    dir: &Path,
    args: &[&str],
) -> Vec<(String, String)> {
    run_each_with(archive, name, dir, args, b"")
}

/// [`run_each`], with `stdin` given to each run.
fn run_each_with(
    archive: &Path,
    name: &str,
    dir: &Path,
    args: &[&str],
    stdin: &[u8],
) -> Vec<(String, String)> {
    let image = ImageTar::open(archive);
    let mut out = Vec::new();
    for (platform, bytes) in image.platform_files(&format!("usr/local/bin/{name}")) {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.join(format!("{name}-{}", platform.replace('/', "-")));
        std::fs::write(&file, bytes).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = match emulator(&platform) {
            Some(qemu) => {
                let mut c = std::process::Command::new(qemu);
                c.arg(&file);
                c
            }
            None => std::process::Command::new(&file),
        };
        cmd.args(args);
        let r = crate::support::run_with_stdin(&mut cmd, stdin);
        assert_eq!(r.code, 0, "{platform}: {}", r.stderr);
        out.push((platform, r.stdout));
    }
    out
}

fn build(source: &Path, out: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec![path_str(source), "-o", path_str(out)];
    args.extend_from_slice(extra);
    crate::support::build(&args)
}

#[test]
fn c_for_six_platforms_in_one_archive_runs_on_each() {
    require!(
        "qemu-aarch64-static",
        "qemu-arm-static",
        "qemu-riscv64-static"
    );
    require!("qemu-ppc64le-static", "qemu-s390x-static");
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    let r = build(
        &fixture("hello.c"),
        &out,
        &["--platform", SIX, "--toolchain", "zig", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.json();
    assert_eq!(
        summary["platform"],
        "linux/amd64,linux/arm/v7,linux/arm64,linux/ppc64le,linux/riscv64,linux/s390x"
    );
    let ran = run_each(&out, "hello", dir.path(), &[]);
    assert_eq!(ran.len(), 6, "{ran:?}");
    for (platform, stdout) in ran {
        assert_eq!(stdout, "hello from scratch\n", "{platform}");
    }
    // The gate judges every platform.
    let r = crate::support::scratchpack(&["inspect", "--strict", path_str(&out)]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_has(&r.stdout, &["hello.tar[linux/s390x]:/usr/local/bin/hello"]);

    // The same inputs make the same index, however many CPUs the build may use.
    if crate::support::tool("taskset").is_some() {
        let again = dir.path().join("again.tar");
        let mut one_cpu = std::process::Command::new("taskset");
        one_cpu
            .args(["-c", "0", env!("CARGO_BIN_EXE_scratchpack")])
            .arg(fixture("hello.c"))
            .arg("-o")
            .arg(&again)
            .args(["--platform", SIX, "--toolchain", "zig"])
            .env("SCRATCHPACK_CACHE_DIR", crate::support::shared_cache())
            .env("SCRATCHPACK_ALPINE_MIRROR", crate::support::shared_mirror())
            .env_remove("SOURCE_DATE_EPOCH");
        let r = run(&mut one_cpu);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout.trim(), summary["digest"].as_str().unwrap());
        assert_eq!(
            crate::support::sha256_file(&again),
            crate::support::sha256_file(&out)
        );
    }
}

#[test]
fn go_for_six_platforms_in_one_archive_runs_on_each() {
    require!(
        "go",
        "qemu-aarch64-static",
        "qemu-arm-static",
        "qemu-riscv64-static"
    );
    require!("qemu-ppc64le-static", "qemu-s390x-static");
    let dir = tempdir();
    let out = dir.path().join("platform.tar");
    let source = fixture("go/platform/main.go");
    let r = build(
        &source,
        &out,
        &["--platform", SIX, "--toolchain", "go", "--name", "platform"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ran = run_each(&out, "platform", dir.path(), &[]);
    let goarch: Vec<(String, String)> = ran
        .into_iter()
        .map(|(p, out)| (p, out.trim().to_string()))
        .collect();
    let expected = [
        ("linux/amd64", "amd64"),
        ("linux/arm/v7", "arm"),
        ("linux/arm64", "arm64"),
        ("linux/ppc64le", "ppc64le"),
        ("linux/riscv64", "riscv64"),
        ("linux/s390x", "s390x"),
    ]
    .map(|(p, a)| (p.to_string(), format!("hello from {a}")));
    assert_eq!(goarch, expected);
}

/// The arm64 image of a two-platform build, run by podman as an arm64 container (the
/// kernel hands the binary to qemu through binfmt_misc).
#[test]
fn podman_runs_the_arm64_image_under_emulation() {
    let registered = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists();
    if !registered {
        assert!(!in_ci(), ".ci/run registers qemu-aarch64 with binfmt_misc");
        eprintln!("SKIPPED: qemu-aarch64 is not registered with binfmt_misc");
        return;
    }
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("two.tar");
    let r = build(
        &fixture("go/platform/main.go"),
        &out,
        &[
            "--platform",
            "linux/amd64,linux/arm64",
            "--toolchain",
            "go",
            "--tag",
            "plat:1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = podman.pull_platform(&out, "linux/arm64");
    let r = podman.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        &id,
    ]);
    assert_eq!(r.stdout.trim(), "hello from arm64", "{}", r.stderr);
}

#[test]
fn what_cannot_be_built_for_another_platform_is_refused() {
    let dir = tempdir();
    let out = dir.path().join("x.tar");
    let foreign = if std::env::consts::ARCH == "x86_64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    let r = build(
        &fixture("hello.c"),
        &out,
        &["--platform", foreign, "--toolchain", "alpine"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "the alpine toolchain builds only for this machine",
            foreign,
            "--toolchain zig",
        ],
    );
    let r = build(&fixture("hello.c"), &out, &["--platform", "linux/mips64"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["linux/mips64", "linux/riscv64"]);
    assert!(!out.exists());
}

/// cgo for another platform: Go for arm64 with its C compiled by zig for arm64, linked
/// statically; the program's C answers under qemu-user.
#[test]
fn cgo_builds_for_another_platform() {
    require!("go", "qemu-aarch64-static");
    let dir = tempdir();
    let project = dir.path().join("cgoadd");
    crate::support::check(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(fixture("go/cgoadd"))
            .arg(&project),
    );
    let out = dir.path().join("cgoadd.tar");
    let r = build(
        &project,
        &out,
        &["--platform", "linux/arm64", "--toolchain", "go"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(&r.stderr, &["imports \"C\"", "linked statically"]);
    let ran = run_each(&out, "cgoadd", dir.path(), &[]);
    assert_eq!(
        ran,
        [(
            "linux/arm64".to_string(),
            "cgo on arm64 says 42\n".to_string()
        )]
    );
}

/// `--apk` libraries for other platforms: installed for each target's architecture (apk
/// `--arch` into a root of its own, from the tools repository, whose zlib is built for
/// every architecture) and linked from there by a Makefile project (`-lz`), a CMake
/// project (`find_package(ZLIB)`) and a cgo program; each platform's binary answers
/// under qemu-user. With this machine's zlib in their place the links would fail.
#[test]
fn apk_libraries_are_installed_for_each_target() {
    require!("qemu-aarch64-static", "qemu-riscv64-static", "go");
    let Some(repo) = crate::support::projects::tools_repo() else {
        return;
    };
    let dir = tempdir();
    let mut with_zlib = crate::support::projects::tools_flags(&repo);
    with_zlib.extend(["--apk", "zlib-dev", "--apk", "zlib-static"].map(String::from));
    let platforms = "linux/arm64,linux/riscv64";
    for project in ["needs-zlib", "cmake-zlib"] {
        let src = dir.path().join(project);
        crate::support::check(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(fixture("projects").join(project))
                .arg(&src),
        );
        let out = dir.path().join(format!("{project}.tar"));
        let mut extra = vec!["--platform", platforms, "--toolchain", "zig"];
        extra.extend(with_zlib.iter().map(String::as_str));
        let r = build(&src, &out, &extra);
        assert_eq!(r.code, 0, "{project}: {}", r.stderr);
        let ran = run_each(&out, "crc", dir.path(), &[]);
        let got: Vec<&str> = ran.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(got, ["linux/arm64", "linux/riscv64"], "{project}");
        for (platform, stdout) in &ran {
            assert_eq!(stdout, "d8932aac\n", "{project} on {platform}");
        }
    }
    let log = crate::support::shared_cache().join("logs/cmake-zlib.log");
    assert_has(
        &std::fs::read_to_string(log).unwrap(),
        &["Found ZLIB: /scratchpack/target/usr/lib/libz.a"],
    );
    let out = dir.path().join("cgozlib.tar");
    let mut extra = vec!["--platform", "linux/arm64", "--toolchain", "go"];
    extra.extend(with_zlib.iter().map(String::as_str));
    let r = build(&fixture("go/cgozlib"), &out, &extra);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ran = run_each_with(
        &out,
        "cgozlib",
        dir.path(),
        &[],
        b"hello hello hello hello\n",
    );
    assert_eq!(
        ran,
        [(
            "linux/arm64".to_string(),
            "zlib 1.2.13: 24 bytes -> 17 bytes, crc32 0b598800\n".to_string()
        )]
    );
    // What was installed for the targets is listed apart from this machine's rootfs.
    let ls = crate::support::build(&["cache", "ls"]);
    assert_has(
        &ls.stdout,
        &["for aarch64: zlib-dev zlib-static", "for riscv64: "],
    );
}
