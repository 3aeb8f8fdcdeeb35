//! The builder stage for real: C and Go compiled by zig and Go inside the real Alpine
//! rootfs (from `../shared/alpine` as a file:// mirror), in the sandbox, as root and as
//! an unprivileged user; the images run in podman and docker. Bad input, hostile and
//! corrupted rootfs tarballs, unreachable mirrors, forbidden namespaces and Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::require;
use crate::support::clients::{Client, Dockerd, Podman};
use crate::support::oci::{self, ImageTar};
use crate::support::{
    assert_has, build, build_cmd, dir_entries, fixture, path_str, run, shared_cache, shared_mirror,
    tempdir,
};

/// Asserts the layer holds the minimal files and `/usr/local/bin/NAME`, nothing else.
fn assert_minimal_layer(image: &Path, name: &str) {
    let layer: Vec<String> = ImageTar::open(image)
        .layer()
        .iter()
        .map(oci::Entry::short)
        .collect();
    let mut want: Vec<String> = oci::MINIMAL_LAYER.iter().map(|s| s.to_string()).collect();
    want.push(format!("usr/local/bin/{name} 755 0:0"));
    assert_eq!(layer, want);
}

/// Builds `source` into `dir/NAME.tar` (tagged NAME), checks the layer, returns the tar.
fn build_image(dir: &Path, name: &str, source: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.tar"));
    let mut args = vec![
        path_str(source),
        "-o",
        path_str(&out),
        "--tag",
        name,
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    build(&args).expect_code(0);
    assert_minimal_layer(&out, name);
    out
}

/// Every fixture built with the toolchain for its language, and what running it prints.
fn fixture_images(dir: &Path) -> Vec<(PathBuf, &'static str, Vec<&'static str>, String)> {
    let go_expected = "200 hello from go, path /ping\n".to_string();
    vec![
        (
            build_image(dir, "hello", &fixture("hello.c"), &[]),
            "hello",
            vec![],
            "hello from scratch\n".into(),
        ),
        (
            build_image(dir, "sleep", &fixture("c/sleep.c"), &[]),
            "sleep",
            vec!["1"],
            "sleeping 1s\ndone\n".into(),
        ),
        (
            build_image(dir, "multi", &fixture("c/multi"), &[]),
            "multi",
            vec![],
            "hello from a header, 2+3=5\n".into(),
        ),
        (
            build_image(
                dir,
                "math",
                &fixture("c/math_threads.c"),
                &["-l", "m", "-l", "pthread"],
            ),
            "math",
            vec![],
            "threads 4, sum 14.142, cbrt(27) 3.0\n".into(),
        ),
        (
            build_image(dir, "gohttp", &fixture("go/httpmod"), &[]),
            "gohttp",
            vec![],
            go_expected,
        ),
        (
            build_image(dir, "gohello", &fixture("go/hello.go"), &[]),
            "gohello",
            vec![],
            "hello from go\n".into(),
        ),
    ]
}

#[test]
fn built_images_run_in_podman_and_docker() {
    require!("zig", "go");
    let dir = tempdir();
    let images = fixture_images(dir.path());
    for (image, ..) in &images {
        crate::support::scratchpack(&["inspect", path_str(image)]).expect_code(0);
    }
    let podman = Podman::new().map(|p| Box::new(p) as Box<dyn Client>);
    let docker = || Dockerd::start().map(|d| Box::new(d) as Box<dyn Client>);
    for (client, which) in [(podman, "podman"), (docker(), "docker")] {
        let Some(client) = client else { continue };
        for (image, name, args, expected) in &images {
            client.load(image);
            assert_eq!(
                &client.run_image(name, args),
                expected,
                "{which} run {name}"
            );
        }
    }
}

#[test]
fn same_digest_twice_and_from_another_directory() {
    require!("zig");
    let dir = tempdir();
    let a = dir.path().join("a.tar");
    // Copies outside any git repository: a checkout names its commit in the image (see
    // the test below), so only copies of the same commit give the same bytes.
    let one = tempdir();
    std::fs::copy(fixture("hello.c"), one.path().join("hello.c")).unwrap();
    let first = build(&[path_str(&one.path().join("hello.c")), "-o", path_str(&a)])
        .expect_code(0)
        .stdout;
    let second = build(&[path_str(&one.path().join("hello.c")), "-o", path_str(&a)])
        .expect_code(0)
        .stdout;
    assert_eq!(first, second);
    // From another working directory, with a relative path, and from another copy.
    let copy = tempdir();
    std::fs::copy(fixture("hello.c"), copy.path().join("hello.c")).unwrap();
    let r = run(build_cmd()
        .current_dir(copy.path())
        .args(["hello.c", "-o", "b.tar"]))
    .expect_code(0);
    assert_eq!(r.stdout, first);
    // And with `build` spelled out.
    let r = run(build_cmd()
        .current_dir(copy.path())
        .args(["build", "./hello.c", "-o", "c.tar"]))
    .expect_code(0);
    assert_eq!(r.stdout, first);
    assert_eq!(
        std::fs::read(a).unwrap(),
        std::fs::read(copy.path().join("b.tar")).unwrap()
    );
}

/// Without SOURCE_DATE_EPOCH, an image built from a git repository is dated by its last
/// commit (the same commit, the same bytes), names the commit and the repository (its
/// URL without credentials), and its history says which scratchpack and compiler.
#[test]
fn a_git_checkout_dates_and_names_the_image() {
    require!("zig", "git");
    let dir = tempdir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::copy(fixture("hello.c"), repo.join("hello.c")).unwrap();
    let git = |args: &[&str]| {
        crate::support::check(
            std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(args)
                .env("GIT_AUTHOR_DATE", "1700000000 +0000")
                .env("GIT_COMMITTER_DATE", "1700000000 +0000"),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "hello.c"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "-m",
        "hello",
    ]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://bot:tok3n@git.example/team/hello.git",
    ]);
    let revision = git(&["rev-parse", "HEAD"]).trim().to_string();
    let out = dir.path().join("hello.tar");
    let first = build(&[path_str(&repo.join("hello.c")), "-o", path_str(&out)]).expect_code(0);
    let image = crate::support::oci::ImageTar::open(&out);
    assert_eq!(image.config()["created"], "2023-11-14T22:13:20Z");
    let created_by = image.config()["history"][0]["created_by"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        created_by.starts_with(&format!(
            "scratchpack {} build: zig (zig ",
            env!("CARGO_PKG_VERSION")
        )),
        "{created_by}"
    );
    let annotations = &image.manifest()["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        annotations["org.opencontainers.image.revision"],
        revision.as_str()
    );
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://git.example/team/hello.git"
    );
    // The same commit: the same digest. SOURCE_DATE_EPOCH still wins.
    let again = build(&[path_str(&repo.join("hello.c")), "-o", path_str(&out)]).expect_code(0);
    assert_eq!(again.stdout, first.stdout);
    let r = run(build_cmd().env("SOURCE_DATE_EPOCH", "86400").args([
        path_str(&repo.join("hello.c")),
        "-o",
        path_str(&out),
    ]))
    .expect_code(0);
    assert_ne!(r.stdout, first.stdout);
    let image = crate::support::oci::ImageTar::open(&out);
    assert_eq!(image.config()["created"], "1970-01-02T00:00:00Z");
}

#[test]
fn unprivileged_user_builds_the_same_image() {
    require!("go");
    let shared = tempfile::Builder::new()
        .prefix("sp-shared-")
        .tempdir_in("/tmp")
        .unwrap();
    let module = shared.path().join("httpmod");
    copy_tree(&fixture("go/httpmod"), &module);
    let cache = shared.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let theirs = shared.path().join("theirs.tar");
    let mirror = shared_mirror();
    let args = [
        "build",
        path_str(&module),
        "-o",
        path_str(&theirs),
        "--alpine-mirror",
        &mirror,
        "--toolchain",
        "go",
    ];
    // nobody's own cache (its HOME is not writable), through the environment.
    let cache_env = format!("SCRATCHPACK_CACHE_DIR={}", cache.display());
    let env_args: Vec<&str> = std::iter::once("env").chain([cache_env.as_str()]).collect();
    let Some(r) = crate::support::scratchpack_as_nobody_with(shared.path(), &env_args, &args)
    else {
        return;
    };
    let r = r.expect_code(0);
    let mine = shared.path().join("mine.tar");
    let r2 = build(&[
        "build",
        path_str(&module),
        "-o",
        path_str(&mine),
        "--toolchain",
        "go",
    ])
    .expect_code(0);
    assert_eq!(
        r.stdout, r2.stdout,
        "digest differs between root and nobody"
    );
}

/// A source the build cannot read is named, with its mode and owner, before anything
/// runs (not as a compiler's "AccessDenied" or a sandbox that could not be set up):
/// a file without read permission (even for root: the sandbox has no right to override
/// modes), one file of a directory (which --exclude can leave out), and, for another
/// user, a private file of a project the build must copy.
#[test]
fn an_unreadable_source_is_named() {
    use std::os::unix::fs::PermissionsExt;
    require!("zig");
    let shared = tempfile::Builder::new()
        .prefix("sp-unreadable-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = shared.path();
    let private =
        |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let main = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n";
    let lone = dir.join("lone.c");
    std::fs::write(&lone, main).unwrap();
    private(&lone);
    let out = dir.join("x.tar");
    let r = build(&[path_str(&lone), "-o", path_str(&out)]).expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "source `",
            "lone.c` cannot be read: mode 0000, owner 0:0",
            "chmod a+r",
        ],
    );
    assert!(!r.stderr.contains("AccessDenied"), "{}", r.stderr);

    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("main.c"), main).unwrap();
    std::fs::write(src.join("notes.c"), "int notes;\n").unwrap();
    private(&src.join("notes.c"));
    let r = build(&[path_str(&src), "-o", path_str(&out)]).expect_code(2);
    assert_has(
        &r.stderr,
        &["notes.c` cannot be read: mode 0000", "--exclude"],
    );
    assert!(!out.exists());
    build(&[path_str(&src), "-o", path_str(&out), "--exclude", "notes.c"]).expect_code(0);

    // Another user: a project holding a file only root can read.
    let project = dir.join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("main.c"), main).unwrap();
    std::fs::write(
        project.join("Makefile"),
        "app: main.c\n\t$(CC) -o app main.c\n",
    )
    .unwrap();
    std::fs::write(project.join("secret.txt"), "root only\n").unwrap();
    std::fs::set_permissions(
        project.join("secret.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let cache = dir.join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let zig_dir = crate::support::zig().unwrap();
    let path = format!("PATH={}:/usr/bin:/bin", zig_dir.parent().unwrap().display());
    let cache_env = format!("SCRATCHPACK_CACHE_DIR={}", cache.display());
    let mirror = shared_mirror();
    let theirs = dir.join("theirs.tar");
    let prefix = ["env", path.as_str(), cache_env.as_str()];
    // The project's build tools come from the tools repository (make).
    let repo = crate::support::projects::tools_repo().map(|r| format!("file://{}", r.display()));
    let mut cases = vec![(&lone, "lone.c` cannot be read: mode 0000", None)];
    if let Some(repo) = &repo {
        cases.push((
            &project,
            "secret.txt`: Permission denied",
            Some(repo.as_str()),
        ));
    }
    for (source, unreadable, repo) in cases {
        let mut args = vec![
            path_str(source),
            "-o",
            path_str(&theirs),
            "--toolchain",
            "zig",
            "--alpine-mirror",
            &mirror,
        ];
        if let Some(repo) = repo {
            args.extend(["--apk-repository", repo, "--apk-allow-untrusted"]);
        }
        let Some(r) = crate::support::scratchpack_as_nobody_with(dir, &prefix, &args) else {
            return;
        };
        let r = r.expect_code(2);
        assert_has(&r.stderr, &[unreadable, "chmod a+r"]);
        assert!(!r.stderr.contains("sandbox"), "{}", r.stderr);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    std::fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn compile_errors_show_the_users_own_paths() {
    require!("zig");
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::copy(fixture("c/broken.c"), src.join("broken.c")).unwrap();
    let r = run(build_cmd()
        .current_dir(dir.path())
        .args(["src/broken.c", "-o", "out.tar"]))
    .expect_code(1);
    assert_has(
        &r.stderr,
        &["src/broken.c:4:", "error:", "compilation failed"],
    );
    assert!(
        !r.stderr.contains("/scratchpack/"),
        "sandbox paths leaked: {}",
        r.stderr
    );
    assert_eq!(
        dir_entries(dir.path()),
        ["src"],
        "output or temporary files left"
    );

    let args = ["src/broken.c", "-o", "out.tar", "-I", "nonexistent-dir"];
    let r = run(build_cmd().current_dir(dir.path()).args(args)).expect_code(2);
    assert_has(
        &r.stderr,
        &["include directory `nonexistent-dir` not found"],
    );

    std::fs::write(
        src.join("needs.c"),
        "#include <zlib.h>\nint main(void){return 0;}\n",
    )
    .unwrap();
    let r = run(build_cmd()
        .current_dir(dir.path())
        .args(["src/needs.c", "-o", "out.tar"]))
    .expect_code(1);
    assert_has(&r.stderr, &["zlib.h", "hint: `zlib.h` was not found"]);
}

#[test]
fn bad_inputs_get_one_clear_message() {
    let dir = tempdir();
    let out = dir.path().join("out.tar");
    let o = path_str(&out);
    let r = build(&["missing.c", "-o", o]).expect_code(2);
    assert_has(&r.stderr, &["source `missing.c` not found", "hint:"]);
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "x").unwrap();
    let r = build(&[path_str(&txt), "-o", o]).expect_code(2);
    assert_has(&r.stderr, &["cannot tell the language", "hint: ", "--lang"]);
    let r = build(&[
        path_str(&fixture("hello.c")),
        "-o",
        o,
        "--toolchain",
        "clang",
    ])
    .expect_code(2);
    assert_has(&r.stderr, &["unknown toolchain `clang`", "hint:"]);
    let r = build(&[path_str(&fixture("hello.c")), "-o", o, "--toolchain", "go"]).expect_code(2);
    assert_has(&r.stderr, &["cannot build C"]);
    let r = build(&[
        path_str(&fixture("hello.c")),
        "-o",
        o,
        "--alpine-mirror",
        "ftp://x",
    ])
    .expect_code(2);
    assert_has(&r.stderr, &["ftp://x", "hint:"]);

    // No usable toolchain: nothing on PATH, no GOROOT, Go's release unreachable.
    let r = run(build_cmd()
        .env("PATH", "/nonexistent")
        .env_remove("GOROOT")
        .args([path_str(&fixture("go/hello.go")), "-o", o])
        .args(["--toolchain-mirror", "http://127.0.0.1:1/go"]))
    .expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "no toolchain can build Go",
            "http://127.0.0.1:1/go/go1.26.1.linux-",
            "hint: set GOROOT or put go on PATH",
        ],
    );
    assert!(!r.stderr.contains("pip install"), "{}", r.stderr);
    assert!(
        dir_entries(dir.path()) == ["notes.txt"],
        "{:?}",
        dir_entries(dir.path())
    );
}

/// A mirror directory holding `tarball` as the x86_64 (or aarch64) minirootfs, and a
/// toolchain file pinning its digest.
pub(crate) fn custom_rootfs(dir: &Path, tarball: &[u8]) -> (String, PathBuf) {
    let arch = if cfg!(target_arch = "aarch64") {
        "aarch64"
    } else {
        "x86_64"
    };
    let rel = format!("v3.20/releases/{arch}/alpine-minirootfs-3.20.3-{arch}.tar.gz");
    let path = dir.join("mirror").join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, tarball).unwrap();
    let sha = oci::sha256_hex(tarball);
    std::fs::write(
        dir.join("rootfs.toml"),
        format!(
            "name = \"custom\"\nversion = \"3.20.3\"\ndefault_mirror = \"file://{}\"\n\
             path = \"v3.20/releases/{{arch}}/alpine-minirootfs-3.20.3-{{arch}}.tar.gz\"\n[sha256]\n{arch} = \"{sha}\"\n",
            dir.join("mirror").display()
        ),
    )
    .unwrap();
    let zig =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchains/zig.toml"))
            .unwrap();
    let toolchain = dir.join("custom.toml");
    std::fs::write(
        &toolchain,
        zig.replace("rootfs = \"alpine-3.20\"", "rootfs = \"rootfs.toml\""),
    )
    .unwrap();
    (
        format!("file://{}", dir.join("mirror").display()),
        toolchain,
    )
}

fn hostile_tarball(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir, "etc/", std::io::empty()).unwrap();
    if name.starts_with("lib/") {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "lib", "/tmp").unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"x"
    } else {
        b""
    };
    h.set_size(data.len() as u64);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
    oci::gzip(&b.into_inner().unwrap())
}

#[test]
fn hostile_rootfs_tarballs_are_refused() {
    require!("zig");
    let cases = [
        (
            "../../escaped",
            tar::EntryType::Regular,
            None,
            "climbs out with `..`",
        ),
        (
            "lib/escaped",
            tar::EntryType::Regular,
            None,
            "goes through a symlink",
        ),
        (
            "etc/shadow",
            tar::EntryType::Link,
            Some("../../../../etc/shadow"),
            "hardlink to outside",
        ),
        ("etc/null", tar::EntryType::Char, None, "is a device node"),
    ];
    for (name, kind, link, reason) in cases {
        let dir = tempdir();
        let (mirror, toolchain) = custom_rootfs(dir.path(), &hostile_tarball(name, kind, link));
        let cache = dir.path().join("cache");
        let out = dir.path().join("out.tar");
        let r = run(crate::support::scratchpack_cmd()
            .env("SCRATCHPACK_CACHE_DIR", &cache)
            .args([
                path_str(&fixture("hello.c")),
                "-o",
                path_str(&out),
                "--toolchain",
                path_str(&toolchain),
                "--alpine-mirror",
                &mirror,
            ]))
        .expect_code(2);
        assert_has(
            &r.stderr,
            &[
                "refusing the archive",
                &format!("entry `{name}`"),
                reason,
                "hint:",
            ],
        );
        assert!(!out.exists());
        assert!(!Path::new("/tmp/escaped").exists());
        let rootfs = cache.join("rootfs");
        assert!(
            dir_entries(&rootfs).is_empty(),
            "a half rootfs was kept: {:?}",
            dir_entries(&rootfs)
        );
    }
}

#[test]
fn corrupted_tarball_is_refused_with_both_digests() {
    require!("zig");
    let dir = tempdir();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../shared/alpine/v3.20/releases/{0}/alpine-minirootfs-3.20.3-{0}.tar.gz",
        if cfg!(target_arch = "aarch64") {
            "aarch64"
        } else {
            "x86_64"
        }
    ));
    let mut bytes = std::fs::read(real).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let (mirror, _) = custom_rootfs(dir.path(), &bytes);
    let cache = dir.path().join("cache");
    let r = run(crate::support::scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args([
            path_str(&fixture("hello.c")),
            "-o",
            path_str(&dir.path().join("out.tar")),
            "--toolchain",
            "zig",
            "--alpine-mirror",
            &mirror,
        ]));
    let r = r.expect_code(2);
    let actual = oci::sha256_hex(&bytes);
    assert_has(
        &r.stderr,
        &[
            "checksum mismatch",
            "d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c",
            &actual,
            "hint:",
        ],
    );
}

#[test]
fn unreachable_mirror() {
    require!("zig");
    let dir = tempdir();
    let r = run(crate::support::scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", dir.path().join("cache"))
        .args([
            path_str(&fixture("hello.c")),
            "-o",
            path_str(&dir.path().join("o.tar")),
            "--alpine-mirror",
            "http://127.0.0.1:9/alpine",
        ]))
    .expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "cannot reach `http://127.0.0.1:9/alpine/v3.20/releases/",
            "hint:",
            "--alpine-mirror",
        ],
    );
}

#[test]
fn rootfs_over_http_and_shared_by_concurrent_builds() {
    require!("zig");
    let server = crate::support::http::serve(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/alpine"),
    );
    let dir = tempdir();
    // A fresh rootfs cache, but zig's warm cache, so the test does not pay zig's minute.
    let cache = crate::support::cache_sharing(dir.path(), crate::support::COMPILERS);
    let mirror = format!("http://{}/", server.addr);
    let children: Vec<_> = (0..2)
        .map(|i| {
            crate::support::scratchpack_cmd()
                .env("SCRATCHPACK_CACHE_DIR", &cache)
                .args([
                    path_str(&fixture("hello.c")),
                    "-o",
                    path_str(&dir.path().join(format!("{i}.tar"))),
                    "--alpine-mirror",
                    &mirror,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(outputs[0].stdout, outputs[1].stdout);
    assert_eq!(
        dir_entries(&cache.join("rootfs")).len(),
        1,
        "one shared rootfs: {:?}",
        dir_entries(&cache.join("rootfs"))
    );
    assert_eq!(
        server.requests(),
        1,
        "the rootfs was downloaded more than once"
    );
}

#[test]
fn namespaces_forbidden_gives_a_hint_and_no_sandbox_works() {
    require!("zig", "unshare");
    let dir = tempdir();
    let out = dir.path().join("o.tar");
    // Inside a user namespace whose limit of nested user namespaces is 0.
    let script = "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"";
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        script,
        "sh",
        env!("CARGO_BIN_EXE_scratchpack"),
    ])
    .args([path_str(&fixture("hello.c")), "-o", path_str(&out)])
    .env("SCRATCHPACK_CACHE_DIR", shared_cache())
    .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror());
    let r = run(&mut cmd).expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "user namespaces are not permitted here",
            "hint: user namespaces are disabled on this machine (user.max_user_namespaces = 0)",
            "sysctl -w user.max_user_namespaces=15000",
            "--no-sandbox",
        ],
    );
    assert!(!out.exists());

    let r = run(build_cmd().args([
        path_str(&fixture("hello.c")),
        "-o",
        path_str(&out),
        "--no-sandbox",
    ]))
    .expect_code(0);
    assert_has(&r.stderr, &["without sandbox"]);
    crate::support::scratchpack(&["inspect", path_str(&out)]).expect_code(0);
}

#[test]
fn interrupt_leaves_no_output_and_no_stale_lock() {
    require!("zig");
    let dir = tempdir();
    // A C file that takes zig a few seconds.
    let big = dir.path().join("big.c");
    let mut code = String::from("#include <stdio.h>\n");
    for i in 0..40_000 {
        code.push_str(&format!(
            "int f{i}(int x) {{ return x * {i} + (x >> 3) - {i} % 7; }}\n"
        ));
    }
    code.push_str("int main(void) { printf(\"%d\\n\", f1(2)); return 0; }\n");
    std::fs::write(&big, code).unwrap();
    let out = dir.path().join("big.tar");
    std::fs::write(&out, "old").unwrap();
    let mut child = build_cmd()
        .args([path_str(&big), "-o", path_str(&out)])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The build directory appears beside the output once compiling starts.
    while !dir_entries(dir.path())
        .iter()
        .any(|e| e.starts_with(".scratchpack-build-"))
    {
        assert!(Instant::now() < deadline, "the build never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    assert_eq!(dir_entries(dir.path()), ["big.c", "big.tar"]);
    // No stale lock: the next build goes through.
    build(&[path_str(&fixture("hello.c")), "-o", path_str(&out)]).expect_code(0);
}

#[test]
fn toolchains_are_listed_with_their_state() {
    require!("zig", "go");
    let r = run(build_cmd().args(["toolchains"])).expect_code(0);
    assert_has(
        &r.stdout,
        &["zig", "go", "ready", "sandbox: user namespaces available"],
    );
    let r = run(build_cmd().args(["toolchains", "--json"])).expect_code(0);
    let list = r.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpine", "zig", "go"]);
    assert_eq!(list[1]["languages"], serde_json::json!(["c", "cpp"]));
    assert_eq!(list[1]["ready"], true);
    let platforms: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["platforms"].as_str().unwrap())
        .collect();
    assert_eq!(
        platforms,
        ["machine", "all", "all"],
        "alpine builds for this machine only"
    );
    assert!(
        list[1]["tool"]["version"]
            .as_str()
            .unwrap()
            .starts_with("zig ")
    );
    let state = list[1]["tool"]["state"].as_str().unwrap();
    assert!(state == "host" || state == "cached", "{state}");
    // No Go on the host, and its release unreachable: not ready, and it says why.
    let r = run(build_cmd()
        .env("PATH", "/nonexistent")
        .env_remove("GOROOT")
        .args([
            "toolchains",
            "--json",
            "--toolchain-mirror",
            "http://127.0.0.1:1",
        ]))
    .expect_code(0);
    assert_eq!(r.json()[2]["ready"], false);
    let problem = r.json()[2]["problem"].as_str().unwrap().to_string();
    assert_has(
        &problem,
        &[
            "go is not on the host",
            "http://127.0.0.1:1/go1.26.1.linux-",
            "--toolchain-mirror",
        ],
    );
    assert!(!problem.contains("pip install"), "{problem}");
}

/// Runs the binary of a built image on the host (it is static).
fn run_binary_of(image: &Path, name: &str, dir: &Path) -> String {
    let bytes = ImageTar::open(image).layer_file(&format!("usr/local/bin/{name}"));
    let exe = dir.join(format!("{name}.bin"));
    std::fs::write(&exe, bytes).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    crate::support::check(&mut Command::new(&exe))
}

#[test]
fn compile_flags_reach_the_compiler() {
    require!("zig");
    let dir = tempdir();
    let out = dir.path().join("multi.tar");
    let define = r#"GREETING="custom greeting""#;
    let multi = fixture("c/multi");
    let args = [
        path_str(&multi),
        "-o",
        path_str(&out),
        "-D",
        define,
        "--no-strip",
        "--cflags=-Wall -Wextra",
    ];
    build(&args).expect_code(0);
    assert_eq!(
        run_binary_of(&out, "multi", dir.path()),
        "custom greeting, 2+3=5\n"
    );
    let r = crate::support::scratchpack(&["inspect", "--json", path_str(&out)]).expect_code(0);
    assert_eq!(r.json()[0]["stripped"], false, "--no-strip kept no symbols");
    build(&[path_str(&fixture("c/multi")), "-o", path_str(&out)]).expect_code(0);
    let r = crate::support::scratchpack(&["inspect", "--json", path_str(&out)]).expect_code(0);
    assert_eq!(r.json()[0]["stripped"], true);
}

#[test]
fn go_vendor_directory_is_used_without_network() {
    require!("go");
    let dir = tempdir();
    let m = crate::support::go_vendored_module(dir.path());
    let out = dir.path().join("usesdep.tar");
    build(&[path_str(&m), "-o", path_str(&out)]).expect_code(0);
    assert_eq!(
        run_binary_of(&out, "usesdep", dir.path()),
        "hello from vendor\n"
    );

    // Without vendor/ the module cannot be fetched: GOPROXY=off and no network.
    std::fs::remove_dir_all(m.join("vendor")).unwrap();
    let r = build(&[path_str(&m), "-o", path_str(&out)]).expect_code(1);
    assert_has(
        &r.stderr,
        &[
            "example.com/dep",
            "compilation failed",
            "go mod vendor",
            "--go-proxy",
        ],
    );
}

#[test]
fn progress_on_a_terminal_and_quiet_otherwise() {
    require!("zig", "script");
    let dir = tempdir();
    let cache = crate::support::cache_sharing(dir.path(), crate::support::COMPILERS);
    let out = dir.path().join("o.tar");
    let cmd = format!(
        "{} {} -o {} --alpine-mirror {}",
        env!("CARGO_BIN_EXE_scratchpack"),
        fixture("hello.c").display(),
        out.display(),
        shared_mirror()
    );
    // `script` runs the command on a pseudo-terminal.
    let r = run(Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .env("NO_COLOR", "1"))
    .expect_code(0);
    assert_has(
        &r.stdout,
        &["extracting Alpine 3.20.3 rootfs", "compiling with zig"],
    );
    // Colour is an SGR sequence (ESC [ digits m); clearing the progress line is not.
    assert!(
        !has_sgr(&r.stdout),
        "colour despite NO_COLOR: {:?}",
        r.stdout
    );

    // Not a terminal: only the summary lines.
    std::fs::remove_dir_all(cache.join("rootfs")).unwrap();
    let r = run(crate::support::scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args([
            path_str(&fixture("hello.c")),
            "-o",
            path_str(&out),
            "--alpine-mirror",
            &shared_mirror(),
        ]))
    .expect_code(0);
    assert!(
        !r.stderr.contains("extracting") && !r.stderr.contains("compiling with"),
        "{}",
        r.stderr
    );
    assert_has(&r.stderr, &["toolchain: zig", "wrote "]);
}

/// Whether `text` holds an ANSI colour sequence.
fn has_sgr(text: &str) -> bool {
    text.split('\x1b').skip(1).any(|rest| {
        rest.strip_prefix('[')
            .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';'))
            .is_some_and(|r| r.starts_with('m'))
    })
}

#[test]
fn an_interrupted_extraction_is_never_trusted() {
    require!("zig");
    let dir = tempdir();
    let cache = crate::support::cache_sharing(dir.path(), crate::support::COMPILERS);
    // What a run killed mid-extraction leaves: a half tree and its download.
    let zig = scratchpack::toolchain::by_name_or_file("zig").unwrap();
    let digest = scratchpack::rootfs::RootfsSource::new(&zig.rootfs, None)
        .digest()
        .unwrap()
        .to_string();
    let half = cache.join("rootfs").join(format!(".tmp-{digest}-99999"));
    std::fs::create_dir_all(half.join("bin")).unwrap();
    std::fs::write(half.join("bin/sh"), "not a shell").unwrap();
    std::fs::write(
        cache
            .join("rootfs")
            .join(format!(".tmp-{digest}-99999.tar.gz")),
        "partial",
    )
    .unwrap();

    let hello = fixture("hello.c");
    let out = dir.path().join("o.tar");
    let args = [
        path_str(&hello),
        "-o",
        path_str(&out),
        "--alpine-mirror",
        &shared_mirror(),
    ];
    run(crate::support::scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(args))
    .expect_code(0);
    assert_eq!(
        dir_entries(&cache.join("rootfs")),
        std::slice::from_ref(&digest),
        "leftovers kept or trusted"
    );
    assert!(
        cache
            .join("rootfs")
            .join(&digest)
            .join("bin/busybox")
            .is_file()
    );
}
