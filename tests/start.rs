//! The start checks of `inspect` against images another tool makes (`podman build` of a
//! `FROM scratch` Containerfile, saved with `podman save`): for each check, the image
//! with the problem is run in podman to show the real failure, and `inspect` names it
//! (exit 1, kind `will-not-start`, the check, the file, the fix); the fixed image runs
//! and passes clean.

use std::path::{Path, PathBuf};

use crate::require;
use crate::support::binaries::{self, Bin};
use crate::support::clients::{Client, Podman};
use crate::support::{assert_has, path_str, run, scratchpack, tempdir};

/// Builds `containerfile` in `dir` (which holds the files it copies) as `tag` and saves
/// it to `dir/TAG.tar`.
pub(crate) fn podman_image(
    podman: &Podman,
    dir: &Path,
    tag: &str,
    containerfile: &str,
    extra: &[&str],
) -> PathBuf {
    std::fs::write(dir.join("Containerfile"), containerfile).unwrap();
    let mut args = vec!["build", "--no-cache", "--network", "none", "-q", "-t", tag];
    args.extend_from_slice(extra);
    args.push(path_str(dir));
    podman.run(&args).expect_code(0);
    let out = dir.join(format!("{tag}.tar"));
    podman
        .run(&[
            "save",
            "-o",
            path_str(&out),
            &format!("localhost/{tag}:latest"),
        ])
        .expect_code(0);
    out
}

/// `inspect --json IMAGE`: the exit code and the findings of kind `will-not-start`.
pub(crate) fn start_findings(image: &Path) -> (i32, Vec<serde_json::Value>) {
    let r = scratchpack(&["inspect", "--json", path_str(image)]);
    let all = r.json();
    let found = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "will-not-start")
        .cloned()
        .collect();
    (r.code, found)
}

fn setup() -> Option<(Podman, crate::support::TempDir)> {
    let podman = Podman::new()?;
    let dir = tempdir();
    let hello = binaries::get(Bin::MuslStatic)?;
    std::fs::copy(hello, dir.path().join("hello")).unwrap();
    Some((podman, dir))
}

#[test]
fn an_entrypoint_missing_from_the_image_is_named() {
    let Some((podman, dir)) = setup() else {
        return;
    };
    let broken = podman_image(
        &podman,
        dir.path(),
        "missing",
        "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/bin/hello\"]\n",
        &[],
    );
    let r = podman.run(&["run", "--rm", "--network", "none", "localhost/missing"]);
    assert_ne!(r.code, 0);
    assert_has(&r.stderr, &["no such file or directory"]);
    let (code, found) = start_findings(&broken);
    assert_eq!(code, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["check"], "entrypoint");
    assert_eq!(found[0]["image"]["file"], "/bin/hello");
    assert_has(found[0]["error"].as_str().unwrap(), &["not in the image"]);
    assert_has(found[0]["fix"].as_str().unwrap(), &["--entrypoint"]);
    let r = scratchpack(&["inspect", path_str(&broken)]);
    assert_has(&r.stdout, &["will-not-start", "/bin/hello", "fix:"]);
    // The same image as skopeo copies it to an OCI archive.
    if crate::support::tool("skopeo").is_some() {
        let copied = dir.path().join("missing-oci.tar");
        let r = run(std::process::Command::new("skopeo").args([
            "copy",
            &format!("docker-archive:{}", path_str(&broken)),
            &format!("oci-archive:{}", path_str(&copied)),
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let (code, found) = start_findings(&copied);
        assert_eq!((code, found.len()), (1, 1), "{found:?}");
        assert_eq!(found[0]["image"]["file"], "/bin/hello");
    }

    let fixed = podman_image(
        &podman,
        dir.path(),
        "found",
        "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n",
        &[],
    );
    assert!(!podman.run_image("localhost/found", &[]).is_empty());
    assert_eq!(start_findings(&fixed), (0, vec![]));
}

#[test]
fn a_user_the_image_does_not_define_is_named() {
    let Some((podman, dir)) = setup() else {
        return;
    };
    let broken = podman_image(
        &podman,
        dir.path(),
        "nouser",
        "FROM scratch\nCOPY hello /hello\nUSER app\nENTRYPOINT [\"/hello\"]\n",
        &[],
    );
    let r = podman.run(&["run", "--rm", "--network", "none", "localhost/nouser"]);
    assert_ne!(r.code, 0);
    assert_has(&r.stderr, &["unable to find user app"]);
    let (code, found) = start_findings(&broken);
    assert_eq!(code, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["check"], "user");
    assert_has(
        found[0]["error"].as_str().unwrap(),
        &["user `app`", "(no /etc/passwd)"],
    );
    assert_has(found[0]["fix"].as_str().unwrap(), &["--user 65532"]);

    // A numeric user needs no passwd; a name defined in the image's passwd is found.
    std::fs::write(
        dir.path().join("passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000::/:/sbin/nologin\n",
    )
    .unwrap();
    for (tag, containerfile) in [
        (
            "numeric",
            "FROM scratch\nCOPY hello /hello\nUSER 65532\nENTRYPOINT [\"/hello\"]\n",
        ),
        (
            "named",
            "FROM scratch\nCOPY hello /hello\nCOPY passwd /etc/passwd\nUSER app\nENTRYPOINT [\"/hello\"]\n",
        ),
    ] {
        let fixed = podman_image(&podman, dir.path(), tag, containerfile, &[]);
        assert!(
            !podman
                .run_image(&format!("localhost/{tag}"), &[])
                .is_empty()
        );
        assert_eq!(start_findings(&fixed), (0, vec![]), "{tag}");
    }
}

#[test]
fn a_binary_for_another_machine_is_named() {
    require!("go");
    let Some((podman, dir)) = setup() else {
        return;
    };
    if !cfg!(target_arch = "x86_64") {
        eprintln!("SKIPPED: the foreign binary is built for s390x, from an x86_64 host");
        return;
    }
    // An s390x program in an image that says amd64 (s390x: .ci/run registers only
    // arm64 with binfmt_misc, so the kernel refuses this one as it would on a real host).
    let src = crate::support::fixture("go/hello.go");
    let r = run(std::process::Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(dir.path().join("hello"))
        .arg(&src)
        .env("CGO_ENABLED", "0")
        .env("GOARCH", "s390x")
        .env("GOCACHE", dir.path().join("gocache"))
        .env("HOME", dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let containerfile = "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n";
    let broken = podman_image(
        &podman,
        dir.path(),
        "foreign",
        containerfile,
        &["--platform", "linux/amd64"],
    );
    // Without qemu registered for s390x, the kernel refuses it.
    if !Path::new("/proc/sys/fs/binfmt_misc/qemu-s390x").exists() {
        // (podman's exit code is not asserted: under load it has reported 0 after this
        // error, while failing to remove the container)
        let r = podman.run(&["run", "--rm", "--network", "none", "localhost/foreign"]);
        assert_has(&format!("{}{}", r.stdout, r.stderr), &["exec format error"]);
    }
    let (code, found) = start_findings(&broken);
    assert_eq!(code, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["check"], "architecture");
    assert_has(
        found[0]["error"].as_str().unwrap(),
        &[
            "built for s390x, in an image for amd64",
            "exec format error",
        ],
    );
    // Labelled with its own platform, it passes.
    let fixed = podman_image(
        &podman,
        dir.path(),
        "native",
        containerfile,
        &["--platform", "linux/s390x"],
    );
    assert_eq!(start_findings(&fixed), (0, vec![]));
}

/// `package` (and so the builder) runs the same checks on what it is about to write and
/// refuses an image that would not start, writing nothing: an entrypoint that is not in
/// it, a working directory that is its binary.
#[test]
fn package_refuses_an_image_that_would_not_start() {
    let Some(hello) = binaries::get(Bin::MuslStatic) else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("x.tar");
    let package = |extra: &[&str]| {
        let mut args = vec![
            "package",
            path_str(&hello),
            "-o",
            path_str(&out),
            "--name",
            "hi",
        ];
        args.extend_from_slice(extra);
        scratchpack(&args)
    };
    let r = package(&["--entrypoint", "/bin/sh"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &["would not start", "`/bin/sh` is not in the image", "hint:"],
    );
    assert!(!out.exists());
    let r = package(&["--workdir", "/usr/local/bin/hi"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_has(&r.stderr, &["WorkingDir `/usr/local/bin/hi` is a file"]);
    assert!(!out.exists());
    package(&["--entrypoint", "/usr/local/bin/hi", "--workdir", "/tmp"]).expect_code(0);
    assert_eq!(start_findings(&out), (0, vec![]));
}

/// Images umoci makes (`umoci config`), loaded by podman: a WorkingDir that is the
/// program itself fails for real and is named; a home directory that is missing for a
/// non-root user of the image's passwd is warned about.
#[test]
fn umoci_images_with_a_file_as_working_directory_or_no_home() {
    require!("umoci", "tar");
    let Some((podman, dir)) = setup() else {
        return;
    };
    let d = dir.path();
    std::fs::write(
        d.join("passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nsvc:x:1000:1000::/home/svc:/sbin/nologin\n",
    )
    .unwrap();
    let umoci = |name: &str, config: &[&str]| {
        let layout = d.join(name);
        let image = format!("{}:{name}", path_str(&layout));
        let hello = path_str(&d.join("hello")).to_string();
        let passwd = path_str(&d.join("passwd")).to_string();
        let mut steps = vec![
            vec![
                "init".to_string(),
                "--layout".into(),
                path_str(&layout).into(),
            ],
            vec!["new".into(), "--image".into(), image.clone()],
            vec![
                "insert".into(),
                "--image".into(),
                image.clone(),
                hello,
                "/hello".into(),
            ],
            vec![
                "insert".into(),
                "--image".into(),
                image.clone(),
                passwd,
                "/etc/passwd".into(),
            ],
        ];
        let mut set = vec!["config".to_string(), "--image".into(), image.clone()];
        set.extend(config.iter().map(|s| s.to_string()));
        steps.push(set);
        for args in steps {
            let r = run(std::process::Command::new("umoci").args(&args));
            assert_eq!(r.code, 0, "umoci {args:?}: {}", r.stderr);
        }
        let archive = d.join(format!("{name}.tar"));
        let r = run(std::process::Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .args(["-cf", path_str(&archive), "."]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let loaded = podman.load(&archive);
        let reference = loaded
            .lines()
            .find_map(|l| l.strip_prefix("Loaded image: "))
            .unwrap_or(name)
            .trim()
            .to_string();
        (archive, reference)
    };

    let (archive, reference) = umoci(
        "workdir",
        &[
            "--config.entrypoint",
            "/hello",
            "--config.workingdir",
            "/hello",
        ],
    );
    let r = podman.run(&["run", "--rm", "--network", "none", &reference]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_has(&r.stderr, &["not a directory"]);
    let (code, found) = start_findings(&archive);
    assert_eq!(code, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0]["check"].as_str(),
            found[0]["image"]["file"].as_str()
        ),
        (Some("workdir"), Some("/hello"))
    );

    let (archive, reference) = umoci(
        "home",
        &["--config.entrypoint", "/hello", "--config.user", "svc"],
    );
    assert!(!podman.run_image(&reference, &[]).is_empty(), "it starts");
    let r = scratchpack(&["inspect", "--json", path_str(&archive)]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let all = r.json();
    let warned: Vec<&serde_json::Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "may-fail")
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0]["check"], "home");
    assert_has(warned[0]["error"].as_str().unwrap(), &["`/home/svc`"]);

    let (archive, reference) = umoci(
        "fine",
        &[
            "--config.entrypoint",
            "/hello",
            "--config.workingdir",
            "/",
            "--config.user",
            "0:0",
        ],
    );
    assert!(!podman.run_image(&reference, &[]).is_empty());
    assert_eq!(start_findings(&archive), (0, vec![]));
}

/// No false positives on the static binaries of a Debian system (`/usr/bin/*-static`,
/// and sash, a static glibc shell using NSS, which .ci/run installs), each packaged as
/// an image the way scratchpack packages any binary: neither a finding nor a warning
/// (`inspect --strict` passes).
#[test]
fn debian_static_binaries_pass_the_start_checks() {
    let dir = tempdir();
    let Ok(entries) = std::fs::read_dir("/usr/bin") else {
        return;
    };
    let mut programs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("-static"))
        .collect();
    match Path::new("/bin/sash") {
        sash if sash.is_file() => programs.push(sash.to_path_buf()),
        _ if crate::support::in_ci() => panic!("sash is installed by .ci/run"),
        _ => eprintln!("SKIPPED: sash (install it to judge a glibc shell using NSS)"),
    }
    let mut seen = 0;
    for program in programs {
        let name = program.file_name().unwrap().to_string_lossy().into_owned();
        let out = dir.path().join(format!("{name}.tar"));
        let r = scratchpack(&["package", path_str(&program), "-o", path_str(&out)]);
        if r.code != 0 {
            // Not a static executable after all (the gate says why): not this test's.
            assert!(
                !r.stderr.contains("would not start"),
                "{name}: {}",
                r.stderr
            );
            continue;
        }
        assert!(!r.stderr.contains("warning"), "{name}: {}", r.stderr);
        assert_eq!(start_findings(&out), (0, vec![]), "{name}");
        let r = scratchpack(&["inspect", "--strict", path_str(&out)]);
        assert_eq!(r.code, 0, "{name}: {}", r.stdout);
        seen += 1;
    }
    eprintln!("{seen} Debian static binaries packaged and judged");
}

/// Every `COPY` of `podman build` writes its parent directories again (`usr/`,
/// `usr/bin/`) in its own layer: a dynamic program a lower layer put there stays in the
/// image, and the gate still judges it (an upper directory entry used to hide it).
#[test]
fn a_directory_written_again_by_an_upper_layer_hides_nothing() {
    let Some((podman, dir)) = setup() else {
        return;
    };
    let Some(dynamic) = binaries::get(Bin::MuslDynamic) else {
        return;
    };
    std::fs::copy(dynamic, dir.path().join("dyn")).unwrap();
    let image = podman_image(
        &podman,
        dir.path(),
        "layered",
        "FROM scratch\nCOPY dyn /usr/bin/dyn\nCOPY hello /usr/bin/hello\n\
         ENTRYPOINT [\"/usr/bin/hello\"]\n",
        &[],
    );
    let r = scratchpack(&["inspect", path_str(&image)]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_has(&r.stdout, &["dynamic", "/usr/bin/dyn"]);
}
