//! The build cache (issue 14, part 1): a build's binaries kept under the digest of what
//! decides them, reused without running the compiler (proved: the compiler is broken
//! before the second build), missed — and `-v` says why — when a header, a flag, the
//! toolchain's definition or the package set changes; a damaged entry is built again;
//! builds of the same key at once share one; `cache ls` and `prune` know the entries,
//! and the least recently used go when the cache passes its size.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require;
use crate::support::{
    Run, apk, assert_has, dir_entries, fixture, path_str, run, scratchpack_cmd, shared_cache,
    shared_mirror, tempdir,
};

/// A cache of its own, with the suite's compilers' caches and a private copy (hard
/// links) of the fetched toolchains, which a test may then break.
fn private_cache(dir: &Path) -> PathBuf {
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink(shared_cache().join("tools"), cache.join("tools")).unwrap();
    copy_toolchains(&cache);
    cache
}

/// The suite's fetched toolchains, as hard links in `cache` (its own to break or remove).
fn copy_toolchains(cache: &Path) {
    let toolchains = shared_cache().join("toolchains");
    if toolchains.exists() {
        crate::support::check(Command::new("cp").args([
            "-al",
            path_str(&toolchains),
            path_str(&cache.join("toolchains")),
        ]));
    }
}

/// scratchpack with the build cache on, the cache directory `cache`, the local mirror,
/// run in `cwd`.
fn cmd_in(cache: &Path, cwd: &Path) -> Command {
    let mut cmd = scratchpack_cmd();
    cmd.env_remove("SCRATCHPACK_BUILD_CACHE")
        .env("SCRATCHPACK_CACHE_DIR", cache)
        .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror())
        .current_dir(cwd);
    cmd
}

fn build_in(cache: &Path, cwd: &Path, args: &[&str]) -> Run {
    run(cmd_in(cache, cwd).args(args))
}

fn entries(cache: &Path) -> Vec<String> {
    dir_entries(&cache.join("builds"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

#[test]
fn the_same_build_is_reused_and_every_change_misses() {
    require!("zig");
    let dir = tempdir();
    let cache = private_cache(dir.path());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("main.c"),
        "#include <stdio.h>\n#include \"greeting.h\"\nint main(void){puts(GREETING);return 0;}\n",
    )
    .unwrap();
    std::fs::write(src.join("greeting.h"), "#define GREETING \"one\"\n").unwrap();
    let first = build_in(&cache, &src, &["main.c", "-o", "a.tar", "-v"]).expect_code(0);
    assert_has(
        &first.stderr,
        &["build cache: miss", "(never built)", "build cache: kept"],
    );
    assert_eq!(entries(&cache).len(), 1);

    // Again, from another directory with an absolute path: reused. The compiler is broken
    // first (the fetched zig replaced by a program that fails), so a build that ran it
    // would fail: nothing ran.
    let zig_on_path = which::which("zig").is_ok();
    if !zig_on_path {
        for release in dir_entries(&cache.join("toolchains")) {
            let zig = cache.join("toolchains").join(release).join("ziglang/zig");
            if zig.exists() {
                std::fs::remove_file(&zig).unwrap();
                std::fs::write(&zig, "#!/bin/sh\necho broken >&2\nexit 99\n").unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&zig, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
    }
    let again = build_in(
        &cache,
        dir.path(),
        &[path_str(&src.join("main.c")), "-o", "b.tar", "-v"],
    )
    .expect_code(0);
    assert_has(&again.stderr, &["build cache: reused the build"]);
    assert_eq!(again.stdout, first.stdout, "the same image");
    assert_eq!(
        std::fs::read(src.join("a.tar")).unwrap(),
        std::fs::read(dir.path().join("b.tar")).unwrap()
    );
    if !zig_on_path {
        // The compiler really is broken: anything new fails.
        std::fs::write(src.join("greeting.h"), "#define GREETING \"two\"\n").unwrap();
        let r = build_in(&cache, &src, &["main.c", "-o", "c.tar"]);
        assert_ne!(r.code, 0, "{}", r.stderr);
        // Whole again for what follows.
        std::fs::remove_dir_all(cache.join("toolchains")).unwrap();
        copy_toolchains(&cache);
    }

    // A changed header misses, and says which file.
    std::fs::write(src.join("greeting.h"), "#define GREETING \"three\"\n").unwrap();
    let r = build_in(&cache, &src, &["main.c", "-o", "c.tar", "-v"]).expect_code(0);
    assert_has(
        &r.stderr,
        &["build cache: miss", "sources changed: greeting.h"],
    );
    assert_ne!(r.stdout, first.stdout);
    // A changed flag.
    let r = build_in(&cache, &src, &["main.c", "-o", "c.tar", "-v", "-DEXTRA=1"]).expect_code(0);
    assert_has(&r.stderr, &["build cache: miss", "the flags changed"]);
    // A changed toolchain definition (a copy of zig's with one more flag).
    let zig_toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchains/zig.toml"))
            .unwrap();
    let changed = dir.path().join("zig-changed.toml");
    std::fs::write(
        &changed,
        zig_toml.replacen("flags = [", "flags = [\"-DCHANGED\", ", 1),
    )
    .unwrap();
    let r = build_in(
        &cache,
        &src,
        &[
            "main.c",
            "-o",
            "c.tar",
            "-v",
            "--toolchain",
            path_str(&changed),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &["build cache: miss", "the toolchain's definition changed"],
    );
    // Another package set.
    let repo = apk::greet_repository(dir.path());
    let r = build_in(
        &cache,
        &src,
        &[
            "main.c",
            "-o",
            "c.tar",
            "-v",
            "--apk",
            "libgreet",
            "--apk-repository",
            &format!("file://{}", repo.display()),
            "--apk-allow-untrusted",
        ],
    )
    .expect_code(0);
    assert_has(&r.stderr, &["build cache: miss", "the packages changed"]);

    // cache ls knows them; --no-build-cache neither reads nor writes.
    let before = entries(&cache).len();
    let r = build_in(
        &cache,
        &src,
        &["main.c", "-o", "d.tar", "-v", "--no-build-cache"],
    )
    .expect_code(0);
    assert!(!r.stderr.contains("reused"), "{}", r.stderr);
    assert_eq!(entries(&cache).len(), before);
    let r = run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["cache", "ls", "--json"]))
    .expect_code(0);
    let builds: Vec<serde_json::Value> = r.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "builds")
        .cloned()
        .collect();
    assert_eq!(builds.len(), before, "{}", r.stdout);
    assert!(
        builds[0]["what"].as_str().unwrap().contains("main"),
        "{builds:?}"
    );
    run(scratchpack_cmd()
        .env("SCRATCHPACK_CACHE_DIR", &cache)
        .args(["cache", "prune", "builds"]))
    .expect_code(0);
    assert!(entries(&cache).is_empty());
}

#[test]
fn a_damaged_entry_is_built_again_and_the_cache_keeps_to_its_size() {
    require!("zig");
    let dir = tempdir();
    let cache = private_cache(dir.path());
    std::fs::copy(fixture("hello.c"), dir.path().join("hello.c")).unwrap();
    let first = build_in(&cache, dir.path(), &["hello.c", "-o", "a.tar"]).expect_code(0);
    let [entry] = entries(&cache).try_into().unwrap();
    let binary = cache.join("builds").join(&entry).join("files/0");
    let mut bytes = std::fs::read(&binary).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&binary, bytes).unwrap();
    let r = build_in(&cache, dir.path(), &["hello.c", "-o", "b.tar"]).expect_code(0);
    assert_has(&r.stderr, &["is damaged", "the build runs again"]);
    assert_eq!(r.stdout, first.stdout, "the image of a fresh build");
    let r = build_in(&cache, dir.path(), &["hello.c", "-o", "b.tar"]).expect_code(0);
    assert_has(&r.stderr, &["reused the build"]);

    // A cap smaller than two entries: the one used least recently goes.
    let r = run(cmd_in(&cache, dir.path())
        .env("SCRATCHPACK_BUILD_CACHE_MAX", "1")
        .args(["hello.c", "-o", "c.tar", "-DOTHER=1"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let left = entries(&cache);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(
        left[0], entry,
        "the older entry was pruned, the new one kept"
    );
}

#[test]
fn builds_of_the_same_key_at_once_share_one_entry() {
    require!("zig");
    let dir = tempdir();
    let cache = private_cache(dir.path());
    std::fs::copy(fixture("hello.c"), dir.path().join("hello.c")).unwrap();
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (cache, cwd) = (&cache, dir.path());
                s.spawn(move || build_in(cache, cwd, &["hello.c", "-o", &format!("{i}.tar")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, runs[0].stdout);
    }
    let reused = runs
        .iter()
        .filter(|r| r.stderr.contains("reused the build"))
        .count();
    assert_eq!(reused, 2, "one build, two reuses");
    assert_eq!(entries(&cache).len(), 1);
}

#[test]
fn a_project_and_several_platforms_are_reused() {
    require!("zig");
    let dir = tempdir();
    let cache = private_cache(dir.path());
    let project = fixture("projects/plain");
    let first = build_in(
        &cache,
        dir.path(),
        &[
            path_str(&project),
            "-o",
            "p.tar",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let again = build_in(
        &cache,
        dir.path(),
        &[
            path_str(&project),
            "-o",
            "q.tar",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
    )
    .expect_code(0);
    assert_eq!(again.stdout, first.stdout);
    assert_has(&again.stderr, &["reused the build"]);
    assert_eq!(
        std::fs::read(dir.path().join("p.tar")).unwrap(),
        std::fs::read(dir.path().join("q.tar")).unwrap()
    );
}

/// Two runners, one registry: A builds and pushes its build to the cache repository; B —
/// another user, cache directory, home and working directory, and no compiler at all
/// (none is fetched either) — fetches the build and gets the same image. An unreachable cache registry
/// is said once and the build goes on.
#[test]
fn runners_share_builds_through_a_registry() {
    require!("zig", "skopeo");
    let Some(registry) = crate::support::registry::Registry::plain() else {
        return;
    };
    let repo = format!("{}/team/cache", registry.host);
    let a = tempdir();
    let cache_a = private_cache(a.path());
    std::fs::copy(fixture("hello.c"), a.path().join("hello.c")).unwrap();
    let first = run(cmd_in(&cache_a, a.path()).env("HOME", a.path()).args([
        "hello.c",
        "-o",
        "a.tar",
        "-v",
        "--cache-to",
        &repo,
    ]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_has(
        &first.stderr,
        &["build cache: pushed", "zig's caches as tools-zig-"],
    );
    let tags = crate::support::check(Command::new("skopeo").args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{repo}"),
    ]));
    assert!(tags.contains("\"build-"), "{tags}");

    // Runner B is another user when the tests run as root (`nobody`, from a directory
    // both can reach), with an empty cache: no toolchain at all (none on PATH either),
    // so nothing can compile; it must not even fetch one.
    let b = tempfile::Builder::new()
        .prefix("sp-shared-")
        .tempdir_in("/tmp")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let cache_b = b.path().join("cache");
    std::fs::create_dir_all(&cache_b).unwrap();
    std::fs::set_permissions(&cache_b, std::fs::Permissions::from_mode(0o777)).unwrap();
    let zig_on_path = which::which("zig").is_ok();
    let work = b.path().join("elsewhere");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::copy(fixture("hello.c"), work.join("hello.c")).unwrap();
    let env = [
        "env".to_string(),
        "-C".to_string(),
        work.display().to_string(),
        format!("HOME={}", b.path().display()),
        format!("SCRATCHPACK_CACHE_DIR={}", cache_b.display()),
        format!("SCRATCHPACK_ALPINE_MIRROR={}", shared_mirror()),
        format!("SCRATCHPACK_CACHE_REPO={repo}"),
    ];
    let prefix: Vec<&str> = env.iter().map(String::as_str).collect();
    let second =
        crate::support::scratchpack_as_nobody_with(b.path(), &prefix, &["hello.c", "-o", "b.tar"])
            .unwrap_or_else(|| {
                run(cmd_in(&cache_b, &work)
                    .env("HOME", b.path())
                    .env("SCRATCHPACK_CACHE_REPO", &repo)
                    .args(["hello.c", "-o", "b.tar"]))
            });
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_has(
        &second.stderr,
        &["build cache: fetched", "reused the build"],
    );
    assert_eq!(second.stdout, first.stdout, "the same image digest");
    assert_eq!(
        std::fs::read(a.path().join("a.tar")).unwrap(),
        std::fs::read(work.join("b.tar")).unwrap()
    );
    if !zig_on_path {
        assert!(
            dir_entries(&cache_b.join("toolchains")).is_empty(),
            "no toolchain was fetched: {:?}",
            dir_entries(&cache_b.join("toolchains"))
        );
    }

    // A third runner whose compiler caches are cold (zig's libc for this machine not
    // built yet) and whose build is new: it takes zig's caches the first runner pushed.
    let c = tempdir();
    let cache_c = c.path().join("cache");
    std::fs::create_dir_all(&cache_c).unwrap();
    copy_toolchains(&cache_c);
    std::fs::write(c.path().join("hello.c"), "int main(void){return 0;}\n").unwrap();
    let r = run(cmd_in(&cache_c, c.path())
        .env("HOME", c.path())
        .env("SCRATCHPACK_CACHE_REPO", &repo)
        .args(["hello.c", "-o", "c.tar"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(&r.stderr, &["zig's caches fetched from"]);
    assert!(
        !dir_entries(&cache_c.join("tools/zig/zig")).is_empty(),
        "zig's cache is in place"
    );

    // A cache registry that does not answer: said once, and the build runs.
    let d = tempdir();
    let cache_d = crate::support::cache_sharing(d.path(), crate::support::COMPILERS);
    std::fs::copy(fixture("hello.c"), d.path().join("hello.c")).unwrap();
    let r = run(cmd_in(&cache_d, d.path())
        .env("HOME", d.path())
        .env("SCRATCHPACK_CACHE_REPO", "127.0.0.1:1/team/cache")
        .args(["hello.c", "-o", "d.tar"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, first.stdout);
    assert_eq!(
        r.stderr.matches("building without it").count(),
        1,
        "{}",
        r.stderr
    );
    assert_has(&r.stderr, &["127.0.0.1:1"]);
}

/// Writes an OCI layout holding one build-cache artifact (`entry.json`, then `file`) as
/// the shared cache lays them out, to push under a tag by hand.
fn forged_artifact(dir: &Path, entry: &[u8], file: &[u8]) -> PathBuf {
    use crate::support::oci::sha256_hex;
    let layout = dir.join("forged");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    };
    let config = put(b"{}");
    let (mut e, mut f) = (put(entry), put(file));
    e["mediaType"] = "application/vnd.scratchpack.build.entry.v1+json".into();
    f["mediaType"] = "application/octet-stream".into();
    let mut c = config;
    c["mediaType"] = "application/vnd.oci.empty.v1+json".into();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.scratchpack.build.v1",
        "config": c,
        "layers": [e, f],
    }))
    .unwrap();
    let mut m = put(&manifest);
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout
}

/// A cache registry that lies is not believed: an entry under this build's key whose
/// binary is not the one its `entry.json` names is refused as damaged, one made for
/// other inputs is not used; either way the build runs and gives the right image.
#[test]
fn a_forged_entry_in_the_cache_registry_is_not_used() {
    require!("zig", "skopeo");
    let Some(registry) = crate::support::registry::Registry::plain() else {
        return;
    };
    let repo = format!("{}/team/cache", registry.host);
    let a = tempdir();
    let cache_a = private_cache(a.path());
    std::fs::copy(fixture("hello.c"), a.path().join("hello.c")).unwrap();
    let first = build_in(&cache_a, a.path(), &["hello.c", "-o", "a.tar"]).expect_code(0);
    let [key] = entries(&cache_a).try_into().unwrap();
    let entry_dir = cache_a.join("builds").join(&key);
    let entry = std::fs::read(entry_dir.join("entry.json")).unwrap();
    let tag = format!("{repo}:build-{key}");
    let push = |layout: &Path| {
        run(scratchpack_cmd()
            .env("HOME", a.path())
            .args(["push", path_str(layout), &tag]))
        .expect_code(0);
    };
    let build_b = || {
        let b = tempdir();
        let cache_b = private_cache(b.path());
        std::fs::copy(fixture("hello.c"), b.path().join("hello.c")).unwrap();
        let r = run(cmd_in(&cache_b, b.path()).env("HOME", b.path()).args([
            "hello.c",
            "-o",
            "b.tar",
            "--cache-from",
            &repo,
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, first.stdout, "the right image, built");
        r
    };

    // The binary altered (one byte), entry.json left as it was: the artifact's own digests
    // are right, the entry's are not.
    let binary = std::fs::read(entry_dir.join("files/0")).unwrap();
    let mut other = binary.clone();
    let last = other.len() - 1;
    other[last] ^= 0xff;
    push(&forged_artifact(&a.path().join("one"), &entry, &other));
    let r = build_b();
    assert_has(
        &r.stderr,
        &[&key[..12], "is damaged", "the build runs again"],
    );

    // An entry made for other inputs (another platform), its binary intact.
    let mut changed: serde_json::Value = serde_json::from_slice(&entry).unwrap();
    changed["inputs"]["platform"] = "linux/s390x".into();
    push(&forged_artifact(
        &a.path().join("two"),
        &serde_json::to_vec(&changed).unwrap(),
        &binary,
    ));
    let r = build_b();
    assert_has(&r.stderr, &["is not for this build: not used"]);
}

/// A runner's toolchain caches go to the cache registry again once they have outgrown
/// the copy there (a new target's libc, new packages), not on every build; a cold runner
/// then gets the grown caches. With Go, whose caches (the standard library built) a
/// first build fills in seconds.
#[test]
fn toolchain_caches_are_shared_again_once_they_have_grown() {
    require!("go", "skopeo");
    let Some(registry) = crate::support::registry::Registry::plain() else {
        return;
    };
    let repo = format!("{}/team/grow", registry.host);
    let a = tempdir();
    let cache_a = a.path().join("cache");
    std::fs::create_dir_all(&cache_a).unwrap();
    let program =
        |n: u32| format!("package main\n\nimport \"os\"\n\nfunc main() {{ os.Exit({n}) }}\n");
    let build_a = |n: u32| -> Run {
        let src = a.path().join(format!("main{n}.go"));
        std::fs::write(&src, program(n)).unwrap();
        let r = build_in(
            &cache_a,
            a.path(),
            &[path_str(&src), "-o", "a.tar", "-v", "--cache-to", &repo],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r
    };
    let tools = || -> (String, u64) {
        let tags = crate::support::check(Command::new("skopeo").args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repo}"),
        ]));
        let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
        let tag = tags["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t.as_str())
            .find(|t| t.starts_with("tools-go-"))
            .unwrap_or_else(|| panic!("no tools tag in {tags}"))
            .to_string();
        let raw = crate::support::check(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{repo}:{tag}"),
        ]));
        let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let bytes = m["annotations"]["org.scratchpack.tools.bytes"]
            .as_str()
            .unwrap_or_else(|| panic!("no size in {raw}"))
            .parse()
            .unwrap();
        (raw, bytes)
    };

    let r = build_a(1);
    assert_has(&r.stderr, &["go's caches as tools-go-"]);
    let (first, first_bytes) = tools();

    // Unchanged caches: not sent again.
    let r = build_a(2);
    assert!(!r.stderr.contains("go's caches as"), "{}", r.stderr);
    assert_eq!(tools().0, first);

    // Grown by more than a quarter (a stand-in for another platform's packages): sent again.
    let grown = cache_a.join("tools/go/grown");
    std::fs::create_dir_all(&grown).unwrap();
    let extra = first_bytes / 4 + (20 << 20);
    std::fs::write(grown.join("lib.a"), vec![0u8; extra as usize]).unwrap();
    let r = build_a(3);
    assert_has(&r.stderr, &["go's caches as tools-go-"]);
    let (second, second_bytes) = tools();
    assert_ne!(second, first);
    assert!(second_bytes >= first_bytes + extra, "{second_bytes}");

    // A runner whose caches are cold gets the grown ones.
    let c = tempdir();
    let cache_c = c.path().join("cache");
    std::fs::create_dir_all(&cache_c).unwrap();
    std::fs::write(c.path().join("main.go"), program(7)).unwrap();
    let r = run(cmd_in(&cache_c, c.path())
        .env("HOME", c.path())
        .env("SCRATCHPACK_CACHE_REPO", &repo)
        .args(["main.go", "-o", "c.tar"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(&r.stderr, &["go's caches fetched from"]);
    assert_eq!(
        std::fs::metadata(cache_c.join("tools/go/grown/lib.a"))
            .unwrap()
            .len(),
        extra
    );
}
