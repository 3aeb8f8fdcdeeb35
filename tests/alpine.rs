//! Alpine packages installed with the real apk of the real rootfs, from a local
//! repository made at test time (file:// and HTTP on 127.0.0.1): a static library
//! linked into a C program, the prepared rootfs cached and reused offline, keyed by the
//! package set, shared by concurrent builds; apk's failures reported.

use std::path::Path;
use std::process::Stdio;

use crate::require;
use crate::support::clients::{Client, Podman};
use crate::support::oci::ImageTar;
use crate::support::{
    apk, assert_has, dir_entries, path_str, run, scratchpack_cmd, shared_cache, shared_mirror,
    tempdir,
};

const PROGRAM: &str =
    "#include <stdio.h>\n#include <greet.h>\nint main(void){puts(greet());return 0;}\n";

/// A cache of its own for provisioning, sharing the rootfs and zig's warm cache.
fn fresh_cache(dir: &Path) -> std::path::PathBuf {
    crate::support::cache_sharing(dir, &["tools", "toolchains", "rootfs"])
}

/// `scratchpack SOURCE -o OUT --toolchain zig --apk-allow-untrusted ARGS...` with `cache`.
fn build_with(cache: &Path, source: &Path, out: &Path, args: &[&str]) -> crate::support::Run {
    run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", cache)
        .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror())
        .args([
            path_str(source),
            "-o",
            path_str(out),
            "--toolchain",
            "zig",
            "--apk-allow-untrusted",
        ])
        .args(args))
}

fn program(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("hello_greet.c");
    std::fs::write(&src, PROGRAM).unwrap();
    src
}

/// A local repository, a cache of its own and a program using libgreet.
struct Setup {
    dir: crate::support::TempDir,
    repo: std::path::PathBuf,
    cache: std::path::PathBuf,
    src: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempdir();
    let repo = apk::greet_repository(dir.path());
    let cache = fresh_cache(dir.path());
    let src = program(dir.path());
    Setup {
        dir,
        repo,
        cache,
        src,
    }
}

fn annotation(image: &Path) -> String {
    let manifest = ImageTar::open(image).manifest();
    manifest["annotations"]["dev.scratchpack.apk.packages"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn apk_installs_a_static_library_that_is_linked_in() {
    require!("zig");
    let Setup {
        dir,
        repo,
        cache,
        src,
    } = setup();
    let out = dir.path().join("greet.tar");
    let repo_url = format!("file://{}", repo.display());
    let args = [
        "--apk",
        "libgreet",
        "--apk-repository",
        &repo_url,
        "-l",
        "greet",
        "--tag",
        "greet:1",
    ];
    build_with(&cache, &src, &out, &args).expect_code(0);
    assert_eq!(annotation(&out), "libgreet=1.0-r0");
    crate::support::scratchpack(&["inspect", path_str(&out)]).expect_code(0);
    // The SBOM lists the installed package beside the rootfs's own.
    let sbom = crate::support::scratchpack(&["sbom", path_str(&out)])
        .expect_code(0)
        .json();
    let purls: Vec<String> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .map(str::to_string)
        .collect();
    for want in ["pkg:apk/alpine/libgreet@1.0-r0?", "pkg:apk/alpine/musl@"] {
        assert!(
            purls.iter().any(|p| p.starts_with(want)),
            "{want}: {purls:?}"
        );
    }
    let prepared = dir_entries(&cache.join("prepared"));
    assert_eq!(prepared.len(), 1, "{prepared:?}");

    // Reused without network: --offline, and a stale half-prepared tree is not trusted.
    std::fs::create_dir(
        cache
            .join("prepared")
            .join(format!(".tmp-{}-99999", prepared[0])),
    )
    .unwrap();
    let second = dir.path().join("again.tar");
    let r = build_with(&cache, &src, &second, &[&args[..], &["--offline"]].concat()).expect_code(0);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&second).unwrap(),
        "{}",
        r.stderr
    );

    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["cache", "ls"]))
    .expect_code(0);
    assert_has(&r.stdout, &["prepared", "libgreet [libgreet=1.0-r0]"]);
    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["toolchains"]))
    .expect_code(0);
    assert_has(
        &r.stdout,
        &["prepared rootfs: libgreet (", "libgreet=1.0-r0"],
    );

    if let Some(podman) = Podman::new() {
        podman.load(&out);
        assert_eq!(podman.run_image("greet:1", &[]), "hello from libgreet\n");
    }
}

#[test]
fn the_key_follows_the_package_set() {
    require!("zig");
    let Setup {
        dir,
        repo,
        cache,
        src,
    } = setup();
    let repo_url = format!("file://{}", repo.display());
    let out = dir.path().join("a.tar");
    build_with(
        &cache,
        &src,
        &out,
        &[
            "--apk",
            "libgreet",
            "--apk-repository",
            &repo_url,
            "-l",
            "greet",
        ],
    )
    .expect_code(0);
    // greet-tool depends on libgreet: both are recorded.
    build_with(
        &cache,
        &src,
        &out,
        &[
            "--apk",
            "greet-tool",
            "--apk-repository",
            &repo_url,
            "-l",
            "greet",
        ],
    )
    .expect_code(0);
    assert_eq!(annotation(&out), "greet-tool=2.1-r3,libgreet=1.0-r0");
    assert_eq!(dir_entries(&cache.join("prepared")).len(), 2);

    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["cache", "prune", "prepared"]))
    .expect_code(0);
    assert_has(&r.stderr, &["removed 2 entries"]);
    assert!(dir_entries(&cache.join("prepared")).is_empty());
}

#[test]
fn concurrent_builds_share_one_provisioning_over_http() {
    require!("zig");
    let Setup {
        dir,
        repo,
        cache,
        src,
    } = setup();
    let server = crate::support::http::serve(&repo);
    let repo_url = format!("http://{}", server.addr);
    let children: Vec<_> = (0..2)
        .map(|i| {
            scratchpack_cmd()
                .env("SCRATCHPACK_CACHE_DIR", &cache)
                .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror())
                .args([
                    path_str(&src),
                    "-o",
                    path_str(&dir.path().join(format!("{i}.tar"))),
                    "--toolchain",
                    "zig",
                ])
                .args([
                    "--apk-allow-untrusted",
                    "--apk",
                    "libgreet",
                    "--apk-repository",
                    &repo_url,
                    "-l",
                    "greet",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
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
    assert_eq!(dir_entries(&cache.join("prepared")).len(), 1);
    // The index and the package, fetched once.
    assert_eq!(server.requests(), 2, "provisioning ran more than once");
}

#[test]
fn apk_failures_are_reported_with_its_output() {
    require!("zig");
    let Setup {
        dir,
        repo,
        cache,
        src,
    } = setup();
    let out = dir.path().join("x.tar");
    let repo_url = format!("file://{}", repo.display());

    let r = build_with(
        &cache,
        &src,
        &out,
        &["--apk", "no-such-pkg", "--apk-repository", &repo_url],
    )
    .expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "apk could not install no-such-pkg",
            "no-such-pkg",
            "hint:",
            "package names",
        ],
    );

    let r = build_with(
        &cache,
        &src,
        &out,
        &[
            "--apk",
            "libgreet",
            "--apk-repository",
            "http://127.0.0.1:9/repo",
        ],
    )
    .expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "apk could not install libgreet",
            "127.0.0.1:9",
            "hint:",
            "--apk-repository",
        ],
    );

    let r = build_with(
        &cache,
        &src,
        &out,
        &[
            "--apk",
            "libgreet",
            "--apk-repository",
            "http://127.0.0.1:9/repo",
            "--offline",
        ],
    )
    .expect_code(2);
    assert_has(&r.stderr, &["--offline", "libgreet", "hint:"]);

    // A missing header names the package that likely has it.
    let needs = dir.path().join("needs.c");
    std::fs::write(&needs, "#include <greet.h>\nint main(void){return 0;}\n").unwrap();
    let r = build_with(&cache, &needs, &out, &[]).expect_code(1);
    assert_has(&r.stderr, &["greet.h", "--apk greet-dev"]);
    assert!(!out.exists());
    assert!(
        dir_entries(&cache.join("prepared")).is_empty(),
        "a failed provisioning was kept"
    );
}

#[test]
fn auto_skips_alpine_when_its_repositories_do_not_answer() {
    require!("zig");
    let dir = tempdir();
    let out = dir.path().join("x.tar");
    let cache = crate::support::cache_sharing(dir.path(), crate::support::COMPILERS);
    let hello = crate::support::fixture("hello.c");
    let build = |extra: &[&str]| {
        run(scratchpack_cmd()
            .env("SCRATCHPACK_CACHE_DIR", &cache)
            .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror())
            .args([path_str(&hello), "-o", path_str(&out)])
            .args(extra))
        .expect_code(0)
    };
    let skipped = "alpine skipped: its repository does not answer";
    let r = build(&[]);
    assert_has(&r.stderr, &["toolchain: zig", "chosen by auto", skipped]);
    // Said once per cache; -v says it again.
    let r = build(&[]);
    assert!(!r.stderr.contains(skipped), "{}", r.stderr);
    assert_has(&build(&["-v"]).stderr, &[skipped]);
    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", shared_cache())
        .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror())
        .args([
            path_str(&crate::support::fixture("hello.c")),
            "-o",
            path_str(&out),
            "--toolchain",
            "alpine",
            "--offline",
        ]))
    .expect_code(2);
    assert_has(&r.stderr, &["build-base", "hint:"]);
}

/// `auto` and `scratchpack toolchains` judge the alpine toolchain with one probe: a
/// mirror whose repositories answer but hold no compiler (here: only libgreet) makes
/// both say it is not ready, for the same reason (the old `toolchains` called it ready
/// because the repository answered).
#[test]
fn auto_and_toolchains_agree_on_a_repository_without_the_compiler() {
    require!("zig");
    let dir = tempdir();
    let repo = apk::greet_repository(dir.path());
    let mirror = dir.path().join("mirror/v3.20");
    std::fs::create_dir_all(&mirror).unwrap();
    let shared = shared_mirror();
    let shared = Path::new(shared.trim_start_matches("file://"));
    std::os::unix::fs::symlink(shared.join("v3.20/releases"), mirror.join("releases")).unwrap();
    for name in ["main", "community"] {
        std::os::unix::fs::symlink(&repo, mirror.join(name)).unwrap();
    }
    let mirror_url = format!("file://{}", dir.path().join("mirror").display());
    let cache = crate::support::cache_sharing(dir.path(), crate::support::COMPILERS);
    let why = "its repositories have no build-base";

    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["toolchains", "--json", "--alpine-mirror", &mirror_url]))
    .expect_code(0);
    let alpine = &r.json()[0];
    assert_eq!(alpine["name"], "alpine");
    assert_eq!(alpine["ready"], false, "{alpine}");
    assert_has(alpine["problem"].as_str().unwrap(), &[why]);

    let out = dir.path().join("x.tar");
    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args([
            path_str(&crate::support::fixture("hello.c")),
            "-o",
            path_str(&out),
            "--alpine-mirror",
            &mirror_url,
        ]))
    .expect_code(0);
    assert_has(
        &r.stderr,
        &[
            "toolchain: zig",
            "chosen by auto",
            &format!("alpine skipped: {why}"),
        ],
    );

    // With the compiler's repository missing altogether, both say it does not answer.
    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["toolchains", "--json", "--alpine-mirror", &shared_mirror()]))
    .expect_code(0);
    assert_eq!(r.json()[0]["ready"], false);
    assert_has(
        r.json()[0]["problem"].as_str().unwrap(),
        &["its repository does not answer"],
    );
}

#[test]
fn provisioning_works_for_an_unprivileged_user() {
    require!("zig", "go");
    let shared = tempfile::Builder::new()
        .prefix("sp-shared-")
        .tempdir_in("/tmp")
        .unwrap();
    let repo = apk::greet_repository(shared.path());
    let cache = shared.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let src = shared.path().join("hello.go");
    std::fs::copy(crate::support::fixture("go/hello.go"), &src).unwrap();
    let out = shared.path().join("out.tar");
    let cache_env = format!("SCRATCHPACK_CACHE_DIR={}", cache.display());
    let mirror = shared_mirror();
    let repo_url = format!("file://{}", repo.display());
    let args = [
        path_str(&src),
        "-o",
        path_str(&out),
        "--toolchain",
        "go",
        "--alpine-mirror",
        &mirror,
        "--apk",
        "greet-tool",
        "--apk-repository",
        &repo_url,
        "--apk-allow-untrusted",
    ];
    let Some(r) =
        crate::support::scratchpack_as_nobody_with(shared.path(), &["env", &cache_env], &args)
    else {
        return;
    };
    let r = r.expect_code(0);
    assert!(!r.stdout.is_empty(), "{}", r.stderr);
    assert_eq!(annotation(&out), "greet-tool=2.1-r3,libgreet=1.0-r0");
}
