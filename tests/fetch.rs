//! Toolchains scratchpack fetches itself: zig's official wheel through the machine's own
//! pip (Debian's python3, a clean PATH), Go's release archive from a `file://` mirror
//! with a toolchain file's own pins; verified before anything is unpacked, unpacked
//! safely, kept in the cache, reported by `scratchpack toolchains`, refused offline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::clients::{Client, Podman};
use crate::support::hostile::RawTar;
use crate::support::oci::ImageTar;
use crate::support::{
    Run, assert_has, build_cmd, dir_entries, fixture, in_ci, path_str, run, tempdir,
};

/// The sha256 `toolchains/zig.toml` pins for this machine.
fn zig_pin() -> String {
    let zig = scratchpack::toolchain::by_name_or_file("zig").unwrap();
    let arch = scratchpack::platform::Platform::host_alpine_arch();
    zig.fetch.unwrap().sha256[arch].clone()
}

/// A cache of its own, sharing only the compilers' warm caches (zig's libc, Go's build
/// cache) with the suite, so the test does not pay zig's minute again.
fn fresh_cache(dir: &Path) -> PathBuf {
    crate::support::cache_sharing(dir, &["tools"])
}

/// `scratchpack ARGS` as a new user runs it: PATH holds only the system's directories
/// (Debian's own python3, no zig, no go), no GOROOT, a cache of its own.
fn as_new_user(cache: &Path, home: &Path, path: &str) -> Command {
    let mut cmd = build_cmd();
    cmd.env("PATH", path)
        .env("HOME", home)
        .env_remove("GOROOT")
        .env_remove("XDG_CACHE_HOME")
        .env("SCRATCHPACK_CACHE_DIR", cache);
    cmd
}

const CLEAN_PATH: &str = "/usr/bin:/bin";

/// Whether Debian's python3 with pip is here (.ci/run installs python3-pip).
fn debian_pip() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && in_ci() {
        panic!("/usr/bin/python3 -m pip is required in CI (python3-pip, installed by .ci/run)");
    }
    if !ok {
        eprintln!("SKIPPED: /usr/bin/python3 has no pip");
    }
    ok
}

fn toolchains_json(cmd: &mut Command, extra: &[&str]) -> serde_json::Value {
    let r = run(cmd.args(["toolchains", "--json"]).args(extra)).expect_code(0);
    r.json()
}

/// What `toolchains --json` says of the tool of the toolchain called `name`.
fn tool_state(list: &serde_json::Value, name: &str) -> serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()["tool"]
        .clone()
}

fn leftovers(cache: &Path) -> Vec<String> {
    let dir = cache.join("toolchains");
    if !dir.exists() {
        return Vec::new();
    }
    dir_entries(&dir)
        .into_iter()
        .filter(|e| e.starts_with(".tmp"))
        .collect()
}

#[test]
fn zig_is_fetched_through_pip_on_a_clean_machine() {
    if !debian_pip() {
        return;
    }
    let dir = tempdir();
    let cache = fresh_cache(dir.path());
    let new_user = || as_new_user(&cache, dir.path(), CLEAN_PATH);

    // Before: nothing on the host, nothing cached; fetched on first use, through pip.
    let state = tool_state(&toolchains_json(&mut new_user(), &[]), "zig");
    assert_eq!(state["state"], "first-use", "{state}");
    assert_has(
        state["from"].as_str().unwrap(),
        &["pip download ziglang==0.17.1"],
    );

    let out = dir.path().join("hello.tar");
    let hello = fixture("hello.c");
    let args = [path_str(&hello), "-o", path_str(&out)];
    let first = run(new_user().args(args)).expect_code(0);
    assert_has(
        &first.stderr,
        &[
            "fetching zig 0.17.1",
            "toolchain: zig (zig 0.17.1, fetched into the cache), chosen by auto",
        ],
    );
    let zig = cache.join("toolchains").join(zig_pin()).join("ziglang/zig");
    assert!(zig.is_file(), "{}", zig.display());
    assert!(leftovers(&cache).is_empty());

    // After: cached, and the next build fetches nothing and gives the same image.
    let state = tool_state(&toolchains_json(&mut new_user(), &[]), "zig");
    assert_eq!(state["state"], "cached", "{state}");
    let second = run(new_user().args(args)).expect_code(0);
    assert!(!second.stderr.contains("fetching"), "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);

    if let Some(podman) = Podman::new() {
        podman.load(&out);
        assert_eq!(podman.run_image("hello", &[]), "hello from scratch\n");
    }

    // The cache knows what it holds, and forgets it on request.
    let ls = run(new_user().args(["cache", "ls", "--json"])).expect_code(0);
    let entries = ls.json()["entries"].clone();
    let fetched: Vec<&serde_json::Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "toolchains")
        .collect();
    assert!(
        fetched
            .iter()
            .any(|e| e["what"].as_str().unwrap().starts_with("zig 0.17.1 ")),
        "{entries}"
    );
    run(new_user().args(["cache", "prune", "toolchains"])).expect_code(0);
    assert!(!zig.exists());
    let state = tool_state(&toolchains_json(&mut new_user(), &[]), "zig");
    assert_eq!(state["state"], "first-use", "{state}");
    // What an --offline build could use: not a release it would have to fetch.
    let list = toolchains_json(&mut new_user(), &["--offline"]);
    assert_eq!(tool_state(&list, "zig")["state"], "unavailable");
    let zig_row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "zig")
        .unwrap();
    assert_has(zig_row["problem"].as_str().unwrap(), &["--offline"]);

    // --offline with nothing cached: refused, saying what it would have needed.
    let other = tempdir();
    let offline_cache = fresh_cache(other.path());
    let r = run(as_new_user(&offline_cache, other.path(), CLEAN_PATH)
        .args(args)
        .arg("--offline"))
    .expect_code(2);
    assert_has(
        &r.stderr,
        &["--offline", "pip download ziglang==0.17.1", "hint:"],
    );
    assert!(!r.stderr.contains("pip install"), "{}", r.stderr);
}

#[test]
fn a_host_zig_wins_unless_the_toolchain_pins_its_version() {
    let Some(zig) = crate::support::zig() else {
        return;
    };
    let zig = zig.canonicalize().unwrap();
    let zig_dir = zig.parent().unwrap();
    let dir = tempdir();
    let cache = fresh_cache(dir.path());
    let path = format!("{}:{CLEAN_PATH}", zig_dir.display());
    let out = dir.path().join("hello.tar");
    let hello = fixture("hello.c");
    let args = [path_str(&hello), "-o", path_str(&out)];

    let r = run(as_new_user(&cache, dir.path(), &path).args(args)).expect_code(0);
    assert_has(
        &r.stderr,
        &[&format!("toolchain: zig (zig 0.17.1 at {})", zig.display())],
    );
    assert!(!r.stderr.contains("fetching"), "{}", r.stderr);
    assert!(!cache.join("toolchains").join(zig_pin()).exists());

    // The same toolchain with its version pinned: the host's zig is not used, so with
    // --offline and nothing cached there is nothing to build with.
    let pinned = zig_toolchain_pinned_to(dir.path(), &zig_pin());
    let r = run(as_new_user(&cache, dir.path(), &path).args(args).args([
        "--toolchain",
        path_str(&pinned),
        "--offline",
    ]))
    .expect_code(2);
    assert_has(&r.stderr, &["--offline", "pip download ziglang==0.17.1"]);
}

/// A wheel named like zig's, holding `entries`, in a find-links directory.
fn fake_wheel(dir: &Path, entries: &[(&str, &[u8])]) -> (PathBuf, String) {
    let links = dir.join("links");
    std::fs::create_dir_all(&links).unwrap();
    let path = links.join("ziglang-0.17.1-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    let meta: [(&str, &[u8]); 3] = [
        (
            "ziglang-0.17.1.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: ziglang\nVersion: 0.17.1\n",
        ),
        (
            "ziglang-0.17.1.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
        ),
        ("ziglang-0.17.1.dist-info/RECORD", b""),
    ];
    for (name, data) in entries.iter().chain(meta.iter()) {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    let sha = crate::support::sha256_file(&path);
    (links, sha)
}

/// zig.toml pinned to `sha` for this machine, never using a host zig.
fn zig_toolchain_pinned_to(dir: &Path, sha: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("../toolchains/zig.toml")).unwrap();
    let file = dir.join("zig-test.toml");
    std::fs::write(
        &file,
        text.replace(&zig_pin(), sha)
            .replace("[fetch]\n", "[fetch]\nuse_host = false\n"),
    )
    .unwrap();
    file
}

/// `scratchpack hello.c` with pip reading only `links` (no index).
fn build_from_links(dir: &Path, links: &Path, toolchain: &Path) -> (Run, PathBuf) {
    let cache = fresh_cache(dir);
    let out = dir.join("hello.tar");
    let r = run(as_new_user(&cache, dir, CLEAN_PATH)
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", links)
        .args([path_str(&fixture("hello.c")), "-o", path_str(&out)])
        .args(["--toolchain", path_str(toolchain)]));
    assert!(!out.exists());
    (r, cache)
}

#[test]
fn a_wheel_is_checked_against_its_pin_and_unpacked_without_trust() {
    if !debian_pip() {
        return;
    }
    let dir = tempdir();
    let (links, sha) = fake_wheel(
        dir.path(),
        &[
            ("ziglang/zig", b"#!/bin/sh\n"),
            ("ziglang/../../../escaped", b"x"),
        ],
    );

    // The genuine pin: the wheel pip found is not zig's; refused before unpacking.
    let genuine = zig_toolchain_pinned_to(dir.path(), &zig_pin());
    let (r, cache) = build_from_links(&dir.path().join("a"), &links, &genuine);
    let r = r.expect_code(2);
    assert_has(&r.stderr, &["checksum mismatch", &sha, &zig_pin(), "hint:"]);
    assert!(!cache.join("toolchains").join(zig_pin()).exists());
    assert!(leftovers(&cache).is_empty());

    // Pinned to the hostile wheel itself: the pin holds, the unpacking refuses it.
    let hostile = zig_toolchain_pinned_to(dir.path(), &sha);
    let (r, cache) = build_from_links(&dir.path().join("b"), &links, &hostile);
    let r = r.expect_code(2);
    assert_has(&r.stderr, &["cannot unpack", "escaped", "`..`"]);
    assert!(!cache.join("toolchains").join(&sha).exists());
    assert!(leftovers(&cache).is_empty());
    for escaped in [cache.join("escaped"), cache.join("toolchains/escaped")] {
        assert!(!escaped.exists(), "{}", escaped.display());
    }

    // An index that does not answer: pip's own configuration was used, and it says so.
    let cache = fresh_cache(&dir.path().join("c"));
    let r = run(as_new_user(&cache, dir.path(), CLEAN_PATH)
        .env("PIP_INDEX_URL", "http://127.0.0.1:1/simple")
        .env("PIP_FIND_LINKS", "")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "2")
        .args([path_str(&fixture("hello.c")), "-o"])
        .arg(dir.path().join("c/hello.tar"))
        .args(["--toolchain", path_str(&genuine)]))
    .expect_code(2);
    assert_has(
        &r.stderr,
        &["pip download ziglang==0.17.1` failed", "PIP_INDEX_URL"],
    );
}

/// Go's name for this machine's architecture, as scratchpack maps it.
fn goarch() -> &'static str {
    scratchpack::platform::Platform::host()
        .unwrap()
        .names()
        .unwrap()
        .goarch
}

/// The host's Go as an official-looking release archive (`go/...`) in `mirror`, named
/// for `version`; returns its sha256.
fn go_release(mirror: &Path, version: &str) -> Option<String> {
    let go = crate::support::tool("go")?;
    let root = crate::support::check(Command::new(go).args(["env", "GOROOT"]));
    let root = PathBuf::from(root.trim()).canonicalize().unwrap();
    std::fs::create_dir_all(mirror).unwrap();
    let archive = mirror.join(format!("go{version}.linux-{}.tar.gz", goarch()));
    let name = root.file_name().unwrap().to_str().unwrap();
    let script = format!(
        "tar -C {parent} -cf - --exclude={name}/test --exclude={name}/api --exclude={name}/doc \
         --exclude={name}/misc --exclude='*_test.go' --exclude=testdata \
         --transform 's,^{name},go,' {name} | gzip -1 > {archive}",
        parent = root.parent().unwrap().display(),
        archive = archive.display(),
    );
    crate::support::check(Command::new("sh").args(["-c", &script]));
    Some(crate::support::sha256_file(&archive))
}

/// go.toml fetching `version` from `mirror_default`, pinned to `sha` for this machine,
/// never using a host Go.
fn go_toolchain(dir: &Path, version: &str, sha: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("../toolchains/go.toml")).unwrap();
    let start = text.find("[fetch]").unwrap();
    let end = text.find("[env]").unwrap();
    let arch = scratchpack::platform::Platform::host_alpine_arch();
    let fetch = format!(
        "[fetch]\nkind = \"archive\"\nversion = \"{version}\"\n\
         default_mirror = \"http://127.0.0.1:1/go\"\npath = \"go{{version}}.linux-{{goarch}}.tar.gz\"\n\
         root = \"go\"\nprogram = \"bin/go\"\nuse_host = false\n\n[fetch.sha256]\n{arch} = \"{sha}\"\n\n"
    );
    let file = dir.join("go-test.toml");
    std::fs::write(&file, format!("{}{fetch}{}", &text[..start], &text[end..])).unwrap();
    file
}

#[test]
fn go_is_fetched_from_a_file_mirror_with_its_own_pins() {
    let dir = tempdir();
    let mirror = dir.path().join("mirror");
    let Some(sha) = go_release(&mirror, "1.99.0") else {
        return;
    };
    let toolchain = go_toolchain(dir.path(), "1.99.0", &sha);
    let mirror_url = format!("file://{}", mirror.display());
    let cache = fresh_cache(dir.path());
    let out = dir.path().join("gohello.tar");
    let build = |extra: &[&str]| {
        run(as_new_user(&cache, dir.path(), CLEAN_PATH)
            .args([path_str(&fixture("go/hello.go")), "-o", path_str(&out)])
            .args(["--toolchain", path_str(&toolchain), "--name", "gohello"])
            .args(extra))
    };

    // The default mirror does not answer; --offline refuses it before trying.
    let r = build(&["--offline"]).expect_code(2);
    assert_has(
        &r.stderr,
        &["--offline", "http://127.0.0.1:1/go/go1.99.0.linux-"],
    );
    let r = build(&[]).expect_code(2);
    assert_has(&r.stderr, &["127.0.0.1:1", "--toolchain-mirror"]);

    // From the file:// mirror (not the network: --offline allows it).
    let r = build(&["--toolchain-mirror", &mirror_url, "--offline"]).expect_code(0);
    assert_has(
        &r.stderr,
        &["toolchain: go (go 1.99.0, fetched into the cache)"],
    );
    let go = cache.join("toolchains").join(&sha).join("go/bin/go");
    assert!(go.is_file());
    assert!(leftovers(&cache).is_empty());
    let binary = ImageTar::open(&out).layer_file("usr/local/bin/gohello");
    let exe = dir.path().join("gohello.bin");
    std::fs::write(&exe, binary).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(
        crate::support::check(&mut Command::new(&exe)),
        "hello from go\n"
    );
    // Once cached, the mirror is not needed again.
    build(&["--offline"]).expect_code(0);

    // The built-in go pins another release, which this mirror does not hold: not ready,
    // and `toolchains` says where it looked.
    let list = toolchains_json(
        &mut as_new_user(&cache, dir.path(), CLEAN_PATH),
        &["--toolchain-mirror", &mirror_url],
    );
    let state = tool_state(&list, "go");
    assert_eq!(state["state"], "unavailable", "{state}");
    let go = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "go")
        .unwrap();
    assert_has(
        go["problem"].as_str().unwrap(),
        &[&format!("{mirror_url}/go1.26.1.linux-{}", goarch())],
    );
}

#[test]
fn a_go_archive_is_checked_and_unpacked_without_trust() {
    let dir = tempdir();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    let archive = mirror.join(format!("go1.99.1.linux-{}.tar.gz", goarch()));
    let tar = RawTar::default()
        .file(b"go/bin/go", b"#!/bin/sh\n")
        .file(b"go/../../escaped", b"x")
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    std::fs::write(&archive, gz.finish().unwrap()).unwrap();
    let sha = crate::support::sha256_file(&archive);
    let mirror_url = format!("file://{}", mirror.display());

    // A release whose folder is a symlink to a host directory that holds a `bin/go`:
    // mounting it would show the build that host directory.
    let host_dir = dir.path().join("host-secrets");
    std::fs::create_dir_all(host_dir.join("bin")).unwrap();
    std::fs::write(host_dir.join("bin/go"), "#!/bin/sh\n").unwrap();
    let linked = mirror.join(format!("go1.99.3.linux-{}.tar.gz", goarch()));
    let tar = RawTar::default()
        .header(b"go", b'2', 0, host_dir.to_str().unwrap().as_bytes())
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    std::fs::write(&linked, gz.finish().unwrap()).unwrap();
    let linked_sha = crate::support::sha256_file(&linked);

    for (version, pin, needles) in [
        (
            "1.99.1",
            "0".repeat(64),
            vec!["checksum mismatch", sha.as_str()],
        ),
        (
            "1.99.1",
            sha.clone(),
            vec!["cannot unpack", "escaped", "`..`"],
        ),
        (
            "1.99.3",
            linked_sha.clone(),
            vec!["holds no `go/bin/go`", "through no symlink"],
        ),
    ] {
        let case = tempdir();
        let toolchain = go_toolchain(case.path(), version, &pin);
        let cache = fresh_cache(case.path());
        let r = run(as_new_user(&cache, case.path(), CLEAN_PATH)
            .args([path_str(&fixture("go/hello.go")), "-o"])
            .arg(case.path().join("out.tar"))
            .args(["--toolchain", path_str(&toolchain)])
            .args(["--toolchain-mirror", &mirror_url]))
        .expect_code(2);
        assert_has(&r.stderr, &needles);
        assert!(!cache.join("toolchains").join(&pin).exists());
        assert!(leftovers(&cache).is_empty());
        assert!(!case.path().join("out.tar").exists());
        for escaped in [cache.join("escaped"), cache.join("toolchains/escaped")] {
            assert!(!escaped.exists(), "{}", escaped.display());
        }
    }
}

#[test]
fn without_pip_the_pinned_wheel_comes_straight_from_the_index() {
    let dir = tempdir();
    let root = dir.path().join("index");
    let (links, sha) = fake_wheel(
        dir.path(),
        &[(
            "ziglang/zig",
            b"#!/bin/sh\necho \"fake zig ran: $1 $2\" >&2\nexit 3\n",
        )],
    );
    std::fs::create_dir_all(root.join("files")).unwrap();
    std::fs::copy(
        links.join("ziglang-0.17.1-py3-none-any.whl"),
        root.join("files/ziglang-0.17.1-py3-none-any.whl"),
    )
    .unwrap();
    let server = crate::support::http::serve(&root);
    let toolchain = zig_toolchain_pinned_to(dir.path(), &sha);
    let pages = [
        // PEP 691 JSON, a link relative to the page.
        format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"ziglang","files":[
                {{"filename":"other.whl","url":"../../files/other.whl","hashes":{{"sha256":"{}"}}}},
                {{"filename":"ziglang-0.17.1-py3-none-any.whl","url":"../../files/ziglang-0.17.1-py3-none-any.whl","hashes":{{"sha256":"{sha}"}}}}]}}"#,
            "0".repeat(64)
        ),
        // PEP 503 HTML, a host-absolute link.
        format!(
            r#"<html><body><a href="/files/ziglang-0.17.1-py3-none-any.whl#sha256={sha}">ziglang-0.17.1-py3-none-any.whl</a></body></html>"#
        ),
    ];
    std::fs::create_dir_all(root.join("simple/ziglang")).unwrap();
    // A build with no python3 at all on PATH, the index serving `page`.
    let build_with_page = |case: &str, page: &str| {
        std::fs::write(root.join("simple/ziglang/index.html"), page).unwrap();
        let case = dir.path().join(case);
        let cache = fresh_cache(&case);
        let r = run(as_new_user(&cache, &case, "/nonexistent")
            .env("PIP_INDEX_URL", format!("http://{}/simple", server.addr))
            .args([path_str(&fixture("hello.c")), "-o"])
            .arg(case.join("hello.tar"))
            .args(["--toolchain", path_str(&toolchain)]));
        (r, cache)
    };
    for (i, page) in pages.iter().enumerate() {
        let (r, cache) = build_with_page(&format!("case{i}"), page);
        let r = r.expect_code(1);
        assert_has(
            &r.stderr,
            &[
                &format!("from http://{}/simple/ziglang/", server.addr),
                "there is no python3 with pip",
                "fake zig ran: cc -target",
            ],
        );
        assert!(
            cache
                .join("toolchains")
                .join(&sha)
                .join("ziglang/zig")
                .is_file()
        );
    }

    // A page without the pinned wheel: refused, naming the page and the pin.
    let (r, _) = build_with_page("missing", r#"<a href="/files/x.whl#sha256=00">x</a>"#);
    let r = r.expect_code(2);
    assert_has(&r.stderr, &["lists no wheel with the pinned sha256", &sha]);
}

#[test]
fn concurrent_builds_share_one_fetch() {
    let dir = tempdir();
    let mirror = dir.path().join("mirror");
    let Some(sha) = go_release(&mirror, "1.99.2") else {
        return;
    };
    let server = crate::support::http::serve(&mirror);
    let toolchain = go_toolchain(dir.path(), "1.99.2", &sha);
    let cache = fresh_cache(dir.path());
    let mirror_url = format!("http://{}", server.addr);
    let children: Vec<_> = (0..2)
        .map(|i| {
            as_new_user(&cache, dir.path(), CLEAN_PATH)
                .args([path_str(&fixture("go/hello.go")), "-o"])
                .arg(dir.path().join(format!("out{i}.tar")))
                .args(["--toolchain", path_str(&toolchain)])
                .args(["--toolchain-mirror", &mirror_url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let digests: Vec<String> = children
        .into_iter()
        .map(|child| {
            let r = Run::from(child.wait_with_output().unwrap()).expect_code(0);
            r.stdout
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(server.requests(), 1, "the release was downloaded once");
    assert!(leftovers(&cache).is_empty());
}
