//! `scratchpack push` and `--push` against Docker's real registry (docker-registry 2.8)
//! on 127.0.0.1: the digest printed is the one the registry serves (skopeo reads it,
//! podman pulls and runs it by digest), a second push sends no blob, another repository
//! gets the blobs mounted, an index pushes whole; TLS with a test CA (`--ca-cert`,
//! certs.d) and basic auth with credentials from docker's config.json, a credential
//! helper and podman's auth.json; token auth against a token server of the test's own;
//! concurrent pushes; a registry restarting mid-push; and each failure's message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;

use crate::require;
use crate::support::clients::{Client, Podman};
use crate::support::registry::{PASSWORD, Registry, USER};
use crate::support::{Run, assert_has, fixture, path_str, run, scratchpack_cmd, tempdir};

/// A user's environment of its own: HOME (docker's and podman's files under it), a
/// cache, no credentials from the machine's.
struct User {
    home: crate::support::TempDir,
}

impl User {
    fn new() -> User {
        User { home: tempdir() }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn cmd(&self) -> Command {
        let mut cmd = scratchpack_cmd();
        cmd.env("HOME", self.home())
            .env("SCRATCHPACK_CACHE_DIR", self.home().join("cache"))
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_CACHE_HOME");
        cmd
    }

    fn push(&self, image: &Path, reference: &str, extra: &[&str]) -> Run {
        run(self
            .cmd()
            .args(["push", path_str(image), reference])
            .args(extra))
    }

    /// docker's config.json under `~/.docker` with `json`.
    fn docker_config(&self, json: &str) {
        let dir = self.home().join(".docker");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), json).unwrap();
    }
}

fn basic_auth() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

/// `package BINARIES -o DIR/NAME.tar`, without SBOM and provenance (their push has a
/// test of its own); returns the archive and the digest printed.
fn image(dir: &Path, name: &str, binaries: &[PathBuf], extra: &[&str]) -> (PathBuf, String) {
    image_with(dir, name, binaries, &[&["--no-sbom"], extra].concat())
}

fn image_with(dir: &Path, name: &str, binaries: &[PathBuf], extra: &[&str]) -> (PathBuf, String) {
    let out = dir.join(format!("{name}.tar"));
    let mut args: Vec<&str> = vec!["package"];
    args.extend(binaries.iter().map(|b| path_str(b)));
    args.extend(["-o", path_str(&out), "--tag", name]);
    args.extend_from_slice(extra);
    let r = crate::support::scratchpack(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    (out, r.stdout.trim().to_string())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest skopeo reads from the registry, and its digest.
fn raw_manifest(reference: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        format!("sha256:{}", sha256_hex(&out.stdout)),
    )
}

#[test]
fn push_keeps_the_digest_skips_what_is_there_and_mounts_across_repositories() {
    require!("skopeo");
    let Some(registry) = Registry::plain() else {
        return;
    };
    let dir = tempdir();
    let user = User::new();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let reference = format!("{}/team/hello:v1", registry.host);
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{reference}@{digest}\n"));
    assert_has(&r.stderr, &["2 blobs uploaded"]);
    assert_eq!(registry.count("PUT", "/v2/team/hello/blobs/uploads/"), 2);
    let (_, served) = raw_manifest(&reference, &["--tls-verify=false"]);
    assert_eq!(
        served, digest,
        "the registry serves the bytes scratchpack wrote"
    );

    // Again: the registry has it all; nothing is uploaded, nothing is even asked for.
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(&r.stderr, &["0 blobs uploaded", "2 already there"]);
    assert_eq!(registry.count("PUT", "/blobs/uploads/"), 2);
    assert_eq!(registry.count("POST", "/blobs/uploads/"), 2);

    // Another repository of the same registry: the blobs are mounted, not sent.
    let other = format!("{}/other/hello", registry.host);
    let r = user.push(&tar, &other, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["reference"], format!("{other}:latest@{digest}"));
    assert_eq!(summary["mounted"], 2, "{}", r.stdout);
    assert_eq!(summary["uploaded"], 0);
    assert_eq!(
        registry.count("POST", "/v2/other/hello/blobs/uploads/?mount="),
        2
    );

    // podman pulls it by the digest printed and runs it.
    let Some(podman) = Podman::new() else {
        return;
    };
    let by_digest = format!("{}/team/hello@{digest}", registry.host);
    podman
        .run(&["pull", "-q", "--tls-verify=false", &by_digest])
        .expect_code(0);
    assert_eq!(podman.run_image(&by_digest, &[]), "hello from scratch\n");
}

/// The SBOM and provenance go with the image: pushed by digest with their subject, and
/// (docker-registry 2.8 has no referrers API) listed under the fallback tag
/// `sha256-HEX` of each platform's manifest, merged with what it listed before.
#[test]
fn sbom_and_provenance_are_pushed_as_referrers() {
    require!("skopeo");
    let Some(registry) = Registry::plain() else {
        return;
    };
    let dir = tempdir();
    let user = User::new();
    let (tar, digest) = image_with(
        dir.path(),
        "two",
        &[fixture("hello-amd64"), fixture("hello-arm64")],
        &[],
    );
    let reference = format!("{}/team/two:v1", registry.host);
    let r = user.push(&tar, &reference, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["digest"], digest.as_str());
    let (index, _) = raw_manifest(&reference, &["--tls-verify=false"]);
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{index}");
    for child in children {
        let hex = child["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let tag = format!("{}/team/two:sha256-{hex}", registry.host);
        let (listed, _) = raw_manifest(&tag, &["--tls-verify=false"]);
        let mut types: Vec<&str> = listed["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["artifactType"].as_str())
            .collect();
        types.sort_unstable();
        assert_eq!(
            types,
            ["application/spdx+json", "application/vnd.in-toto+json"]
        );
        for d in listed["manifests"].as_array().unwrap() {
            let by_digest = format!(
                "{}/team/two@{}",
                registry.host,
                d["digest"].as_str().unwrap()
            );
            let (artifact, served) = raw_manifest(&by_digest, &["--tls-verify=false"]);
            assert_eq!(served, d["digest"].as_str().unwrap());
            assert_eq!(artifact["subject"]["digest"], child["digest"]);
        }
    }
    // The SBOM the registry serves is the one in the archive.
    let platform = children[0]["platform"]["architecture"].as_str().unwrap();
    let local = crate::support::scratchpack(&[
        "sbom",
        path_str(&tar),
        "--platform",
        &format!("linux/{platform}"),
    ])
    .expect_code(0)
    .json();
    let hex = children[0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let (listed, _) = raw_manifest(
        &format!("{}/team/two:sha256-{hex}", registry.host),
        &["--tls-verify=false"],
    );
    let sbom_manifest = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["artifactType"] == "application/spdx+json")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let (artifact, _) = raw_manifest(
        &format!("{}/team/two@{sbom_manifest}", registry.host),
        &["--tls-verify=false"],
    );
    let layer = artifact["layers"][0]["digest"].as_str().unwrap();
    let blob = crate::support::check(std::process::Command::new("python3").args([
        "-c",
        "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
        &format!("http://{}/v2/team/two/blobs/{layer}", registry.host),
    ]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&blob).unwrap(),
        local
    );
}

/// A docker-archive (`docker save`, here skopeo's) holds no registry manifest: one is
/// made for its config and layers as they lie (docker's plain tars), the digest printed
/// is the one the registry serves, and podman pulls and runs it.
#[test]
fn a_docker_archive_is_pushed_under_a_manifest_made_for_it() {
    require!("skopeo");
    let Some(registry) = Registry::plain() else {
        return;
    };
    let dir = tempdir();
    let user = User::new();
    let (tar, _) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let docker = dir.path().join("docker.tar");
    crate::support::check(Command::new("skopeo").args([
        "copy",
        &format!("oci-archive:{}", tar.display()),
        &format!("docker-archive:{}:hello:latest", docker.display()),
    ]));
    let reference = format!("{}/team/fromdocker:v1", registry.host);
    let r = user.push(&docker, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let printed = r.stdout.trim().rsplit_once('@').unwrap().1.to_string();
    let (manifest, served) = raw_manifest(&reference, &["--tls-verify=false"]);
    assert_eq!(served, printed, "the registry serves the digest printed");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar"
    );
    // Pushed again: the same manifest, nothing sent.
    let r = user.push(&docker, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.trim().ends_with(&printed), "{}", r.stdout);
    assert_has(&r.stderr, &["0 blobs uploaded"]);
    let Some(podman) = Podman::new() else {
        return;
    };
    let by_digest = format!("{}/team/fromdocker@{printed}", registry.host);
    podman
        .run(&["pull", "-q", "--tls-verify=false", &by_digest])
        .expect_code(0);
    assert_eq!(podman.run_image(&by_digest, &[]), "hello from scratch\n");
}

#[test]
fn an_index_of_two_platforms_is_pushed_whole() {
    require!("skopeo");
    let Some(registry) = Registry::plain() else {
        return;
    };
    let dir = tempdir();
    let user = User::new();
    let binaries = [fixture("hello-amd64"), fixture("hello-arm64")];
    let (tar, digest) = image(dir.path(), "hello", &binaries, &[]);
    let reference = format!("{}/multi/hello:1.0", registry.host);
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{reference}@{digest}\n"));
    let (index, served) = raw_manifest(&reference, &["--tls-verify=false"]);
    assert_eq!(served, digest);
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    // Each platform's image is there, by digest.
    for m in index["manifests"].as_array().unwrap() {
        let child = format!(
            "{}/multi/hello@{}",
            registry.host,
            m["digest"].as_str().unwrap()
        );
        let (_, d) = raw_manifest(&child, &["--tls-verify=false"]);
        assert_eq!(d, m["digest"].as_str().unwrap());
    }
    // The same from an OCI layout directory written by skopeo.
    let layout = dir.path().join("layout");
    let copied = run(Command::new("skopeo").args([
        "copy",
        "--all",
        &format!("oci-archive:{}", tar.display()),
        &format!("oci:{}:hello", layout.display()),
    ]));
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    let r = user.push(&layout, &format!("{}/multi/copy:1.0", registry.host), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with(&format!("@{digest}\n")), "{}", r.stdout);
}

#[test]
fn tls_and_basic_auth_with_every_credential_source() {
    require!("skopeo");
    let Some(registry) = Registry::tls_basic() else {
        return;
    };
    let dir = tempdir();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let reference = format!("{}/secure/hello:v1", registry.host);
    let ca = registry.ca();
    let ca_flag = ["--ca-cert", path_str(&ca)];

    // The CA is not trusted: a TLS error, with the way out.
    let user = User::new();
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["TLS with", &registry.host, "--ca-cert"]);

    // Trusted, but no credentials anywhere.
    let r = user.push(&tar, &reference, &ca_flag);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &["refused the credentials: none were found", "docker login"],
    );

    // docker's config.json `auths`.
    user.docker_config(&format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        registry.host,
        basic_auth()
    ));
    let r = user.push(&tar, &reference, &ca_flag);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{reference}@{digest}\n"));

    // A wrong password there: said, naming the file.
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"));
    user.docker_config(&format!(
        r#"{{"auths":{{"https://{}":{{"auth":"{bad}"}}}}}}"#,
        registry.host
    ));
    let r = user.push(&tar, &reference, &ca_flag);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["refused the credentials from", "config.json"]);

    // A credential helper (credsStore), and the CA from podman's certs.d under HOME.
    let helper_dir = dir.path().join("helpers");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = helper_dir.join("docker-credential-sptest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n\
             [ \"$server\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            registry.host
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    user.docker_config(r#"{"credsStore":"sptest"}"#);
    let certs = user
        .home()
        .join(".config/containers/certs.d")
        .join(&registry.host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&ca, certs.join("ca.crt")).unwrap();
    let path = format!("{}:/usr/bin:/bin", helper_dir.display());
    let r = run(user.cmd().env("PATH", &path).args([
        "push",
        path_str(&tar),
        &format!("{}/secure/helper", registry.host),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with(&format!("@{digest}\n")), "{}", r.stdout);

    // podman's auth.json through REGISTRY_AUTH_FILE (docker's config has nothing).
    user.docker_config("{}");
    let auth_json = dir.path().join("auth.json");
    std::fs::write(
        &auth_json,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.host,
            basic_auth()
        ),
    )
    .unwrap();
    let r = run(user.cmd().env("REGISTRY_AUTH_FILE", &auth_json).args([
        "push",
        path_str(&tar),
        &format!("{}/secure/podman:v2", registry.host),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    // skopeo and podman read it back by digest, with the CA and the same credentials.
    let cert_dir = format!("--cert-dir={}", certs.display());
    let creds = format!("--creds={USER}:{PASSWORD}");
    let (_, served) = raw_manifest(&reference, &[&cert_dir, &creds]);
    assert_eq!(served, digest);
    let Some(podman) = Podman::new() else {
        return;
    };
    let by_digest = format!("{}/secure/hello@{digest}", registry.host);
    podman
        .run(&["pull", "-q", &cert_dir, &creds, &by_digest])
        .expect_code(0);
    assert_eq!(podman.run_image(&by_digest, &[]), "hello from scratch\n");
}

#[test]
fn token_auth_against_a_token_server() {
    require!("skopeo");
    let Some(registry) = Registry::token() else {
        return;
    };
    let dir = tempdir();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let user = User::new();
    let reference = format!("{}/tok/hello:v1", registry.host);
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["refused the credentials", "getting a token"]);
    user.docker_config(&format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        registry.host,
        basic_auth()
    ));
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{reference}@{digest}\n"));
    // Mounting into another repository asks a token for both.
    let r = user.push(&tar, &format!("{}/tok/copy", registry.host), &["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["mounted"], 2, "{}", r.stdout);
    let creds = format!("--creds={USER}:{PASSWORD}");
    let (_, served) = raw_manifest(&reference, &["--tls-verify=false", &creds]);
    assert_eq!(served, digest);
}

#[test]
fn failures_name_the_registry_and_what_to_do() {
    let dir = tempdir();
    let user = User::new();
    let (tar, _) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = user.push(&tar, &format!("127.0.0.1:{port}/app"), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            &format!("127.0.0.1:{port} cannot be reached"),
            "GET /v2/",
            "hint:",
        ],
    );
    // A reference docker would not accept.
    let r = user.push(&tar, "http://127.0.0.1:5000/App", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["is not a registry reference"]);
    // A file that is no image at all.
    let r = user.push(
        &fixture("hello-amd64"),
        &format!("127.0.0.1:{port}/app"),
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["hello-amd64"]);
    // --ca-cert without --push is a usage error.
    let r = crate::support::scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&dir.path().join("x.tar")),
        "--insecure",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["--insecure", "--push"]);
}

#[test]
fn package_pushes_without_writing_a_file_and_eight_pushes_share_blobs() {
    require!("skopeo");
    let Some(registry) = Registry::plain() else {
        return;
    };
    let dir = tempdir();
    let user = User::new();
    let reference = format!("{}/direct/hello:v1", registry.host);
    let r = run(user.cmd().current_dir(dir.path()).args([
        "package",
        path_str(&fixture("hello-amd64")),
        "--push",
        &reference,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, served) = raw_manifest(&reference, &["--tls-verify=false"]);
    assert_eq!(r.stdout, format!("{reference}@{served}\n"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file written"
    );
    let pushes = std::fs::read_dir(user.home().join("cache/push"))
        .unwrap()
        .count();
    assert_eq!(pushes, 0, "the temporary image is removed");

    // With -o, the file is written too, and the same digest pushed.
    let out = dir.path().join("hello.tar");
    let r = run(user.cmd().args([
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&out),
        "--push",
        &reference,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.is_file());
    assert_eq!(r.stdout, format!("{reference}@{served}\n"));

    // Eight pushes at once, of different tags sharing their blobs: all succeed.
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let cmd = user.cmd();
            let (out, host) = (out.clone(), registry.host.clone());
            std::thread::spawn(move || {
                let mut cmd = cmd;
                run(cmd.args(["push", path_str(&out), &format!("{host}/many/hello:t{i}")]))
            })
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.ends_with(&format!("@{served}\n")), "{}", r.stdout);
    }
    let tags = run(Command::new("skopeo").args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/many/hello", registry.host),
    ]));
    let tags: serde_json::Value = serde_json::from_str(&tags.stdout).unwrap();
    let (fallback, named): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .partition(|t| t.as_str().is_some_and(|t| t.starts_with("sha256-")));
    assert_eq!(named.len(), 8, "{tags}");
    // The SBOM and provenance of the one image: one fallback tag, both listed, however
    // the eight pushes raced to write it.
    assert_eq!(fallback.len(), 1, "{tags}");
    let (listed, _) = raw_manifest(
        &format!(
            "{}/many/hello:{}",
            registry.host,
            fallback[0].as_str().unwrap()
        ),
        &["--tls-verify=false"],
    );
    assert_eq!(listed["manifests"].as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn a_registry_restarting_mid_push_is_recovered_from_or_said() {
    require!("skopeo", "head");
    let Some(mut registry) = Registry::plain() else {
        return;
    };
    let dir = tempdir();
    let user = User::new();
    // 48 MiB that do not compress: the upload takes long enough to be cut.
    let big = dir.path().join("big");
    let r = run(Command::new("head")
        .args(["-c", "50331648", "/dev/urandom"])
        .stdout(std::fs::File::create(&big).unwrap()));
    assert_eq!(r.code, 0);
    let add = format!("{}:/data/big", big.display());
    let (tar, digest) = image(
        dir.path(),
        "big",
        &[fixture("hello-amd64")],
        &["--add", &add],
    );
    let reference = format!("{}/big/app:v1", registry.host);
    let mut cmd = user.cmd();
    cmd.args(["push", path_str(&tar), &reference]);
    let pushing = std::thread::spawn(move || run(&mut cmd));
    // Cut it once the upload has started.
    let started = std::time::Instant::now();
    while registry.count("POST", "/blobs/uploads/") == 0
        && started.elapsed() < std::time::Duration::from_secs(20)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    registry.stop();
    std::thread::sleep(std::time::Duration::from_millis(300));
    registry.restart();
    let r = pushing.join().unwrap();
    eprintln!(
        "registry restarted mid-push: exit {}: {}",
        r.code,
        r.stderr.trim()
    );
    if r.code == 0 {
        assert_eq!(r.stdout, format!("{reference}@{digest}\n"));
        let (_, served) = raw_manifest(&reference, &["--tls-verify=false"]);
        assert_eq!(served, digest);
    } else {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_has(&r.stderr, &[&registry.host, "hint:"]);
    }
    // Pushed again, it completes.
    let r = user.push(&tar, &reference, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{reference}@{digest}\n"));
}

/// What the test's own registry does, and what it saw.
#[derive(Default)]
struct Fake {
    /// PATCH requests received.
    patches: AtomicUsize,
    /// 429 answers still to give to the `busy` repository.
    busy: AtomicUsize,
    /// Asks for basic credentials (401 with a challenge) on every request without them.
    basic: bool,
    /// Where an upload of the `away` repository goes on: an absolute `Location`.
    away: Mutex<Option<String>>,
    /// Every request: method, path, and whether it carried an Authorization header.
    seen: Mutex<Vec<(String, String, bool)>>,
}

/// A registry of the test's own for what docker-registry never answers: a quota (413), an
/// unknown repository (404 NAME_UNKNOWN), one that refuses a whole-body upload (405) so
/// blobs go in PATCH chunks, one that limits the rate (429 with Retry-After, `busy`
/// until its count runs out, `overloaded` always), and one that sends uploads to another
/// server (`away`). Answers by method and path.
fn fake_registry(fake: Arc<Fake>) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let fake = fake.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    let mut authorized = false;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            if k.eq_ignore_ascii_case("authorization") {
                                authorized = true;
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    let mut parts = first.split(' ');
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    fake.seen.lock().unwrap().push((
                        method.to_string(),
                        path.to_string(),
                        authorized,
                    ));
                    let repo = path.split('/').nth(2).unwrap_or("");
                    let json = |code: &str, message: &str| {
                        format!(r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#)
                    };
                    let busy = repo == "overloaded"
                        || (repo == "busy"
                            && fake
                                .busy
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok());
                    let (status, headers, text) = match (method, repo) {
                        _ if fake.basic && !authorized => (
                            "401 Unauthorized",
                            "WWW-Authenticate: Basic realm=\"fake\"\r\n".to_string(),
                            json("UNAUTHORIZED", "authentication required"),
                        ),
                        ("GET", _) if path == "/v2/" => ("200 OK", String::new(), "{}".to_string()),
                        _ if busy => (
                            "429 Too Many Requests",
                            "Retry-After: 1\r\n".to_string(),
                            json("TOOMANYREQUESTS", "slow down"),
                        ),
                        ("HEAD", _) => ("404 Not Found", String::new(), String::new()),
                        ("POST", "unknown") => (
                            "404 Not Found",
                            String::new(),
                            json("NAME_UNKNOWN", "repository name not known to registry"),
                        ),
                        ("POST", "away") => (
                            "202 Accepted",
                            format!(
                                "Location: {}\r\n",
                                fake.away.lock().unwrap().clone().unwrap()
                            ),
                            String::new(),
                        ),
                        ("POST", _) => (
                            "202 Accepted",
                            format!("Location: /v2/{repo}/blobs/uploads/u1\r\n"),
                            String::new(),
                        ),
                        ("PUT", "quota") => (
                            "413 Payload Too Large",
                            String::new(),
                            json("DENIED", "storage quota exceeded"),
                        ),
                        ("PUT", "chunks") if path.contains("/blobs/") && length > 0 => {
                            ("405 Method Not Allowed", String::new(), String::new())
                        }
                        ("PATCH", _) => {
                            fake.patches.fetch_add(1, Ordering::Relaxed);
                            (
                                "202 Accepted",
                                format!("Location: /v2/{repo}/blobs/uploads/u1\r\n"),
                                String::new(),
                            )
                        }
                        ("PUT", _) => ("201 Created", String::new(), String::new()),
                        _ => ("400 Bad Request", String::new(), String::new()),
                    };
                    let _ = write!(
                        out,
                        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                }
            });
        }
    });
    host
}

#[test]
fn quotas_unknown_repositories_and_chunked_uploads() {
    let dir = tempdir();
    let user = User::new();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let fake = Arc::new(Fake::default());
    let host = fake_registry(fake.clone());
    let r = user.push(&tar, &format!("{host}/quota/app"), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "refused the size",
            "uploading blob",
            "storage quota exceeded",
            "quota",
        ],
    );
    let r = user.push(&tar, &format!("{host}/unknown/app"), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "does not know the repository",
            "NAME_UNKNOWN",
            "repository name",
        ],
    );
    // A registry that wants chunks gets them (the layer is small: one chunk each). (A
    // 413 is tried in chunks too before it is reported: the quota push sent some.)
    let before = fake.patches.load(Ordering::Relaxed);
    let r = user.push(&tar, &format!("{host}/chunks/app"), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with(&format!("@{digest}\n")), "{}", r.stdout);
    assert_eq!(fake.patches.load(Ordering::Relaxed) - before, 2);
}

/// A registry that limits the rate: 429 with Retry-After is waited out and the push
/// goes on; one that never lets up fails, saying so, after a bounded number of tries.
#[test]
fn rate_limits_are_waited_out_or_reported() {
    let dir = tempdir();
    let user = User::new();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let fake = Arc::new(Fake::default());
    fake.busy.store(3, Ordering::SeqCst);
    let host = fake_registry(fake.clone());
    let r = user.push(&tar, &format!("{host}/busy/app"), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with(&format!("@{digest}\n")), "{}", r.stdout);
    assert_eq!(fake.busy.load(Ordering::SeqCst), 0, "every 429 was retried");
    let r = user.push(&tar, &format!("{host}/overloaded/app"), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            &host,
            "answered 429",
            "Too Many Requests",
            "try again later",
        ],
    );
    let tries = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, path, _)| path.starts_with("/v2/overloaded/"))
        .count();
    assert!(
        (2..=20).contains(&tries),
        "{tries} requests to a registry that always says 429"
    );
}

/// A registry (or a liar) that sends an upload to another server: the upload goes
/// there, but the credentials for the registry never do.
#[test]
fn credentials_never_follow_a_location_to_another_server() {
    let dir = tempdir();
    let user = User::new();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let other = Arc::new(Fake::default());
    let other_host = fake_registry(other.clone());
    let fake = Arc::new(Fake {
        basic: true,
        ..Fake::default()
    });
    *fake.away.lock().unwrap() = Some(format!("http://{other_host}/v2/away/blobs/uploads/u9"));
    let host = fake_registry(fake.clone());
    user.docker_config(&format!(
        r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
        basic_auth()
    ));
    let r = user.push(&tar, &format!("{host}/away/app"), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with(&format!("@{digest}\n")), "{}", r.stdout);
    // The registry got the credentials; the other server got the uploads, without them.
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(m, _, auth)| m == "PUT" && *auth),
        "{seen:?}"
    );
    let elsewhere = other.seen.lock().unwrap().clone();
    assert!(
        elsewhere.iter().any(|(m, _, _)| m == "PUT"),
        "{elsewhere:?}"
    );
    assert!(elsewhere.iter().all(|(_, _, auth)| !auth), "{elsewhere:?}");
}

/// On a terminal, a push says what it sends and how far it is (bytes, not just blobs);
/// in a pipe or a CI log only its one-line summary, and stdout holds only the reference.
#[test]
fn progress_on_a_terminal_only() {
    let dir = tempdir();
    let user = User::new();
    let (tar, digest) = image(dir.path(), "hello", &[fixture("hello-amd64")], &[]);
    let fake = Arc::new(Fake::default());
    let host = fake_registry(fake.clone());
    // `script` gives the command a terminal of its own (util-linux, in every Debian).
    let line = format!(
        "{} push {} {host}/tty/app",
        env!("CARGO_BIN_EXE_scratchpack"),
        path_str(&tar)
    );
    let r = run(Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", user.home())
        .env("SCRATCHPACK_CACHE_DIR", user.home().join("cache"))
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_has(
        &r.stdout,
        &[
            "pushing 2 blobs",
            "and 1 manifests to",
            "KiB (100%)",
            "\r\x1b[2K",
            &format!("/tty/app:latest@{digest}"),
        ],
    );
    let r = user.push(&tar, &format!("{host}/pipe/app"), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The summary stays (worth keeping in a CI log); no progress lines, no escapes.
    assert!(
        r.stderr.starts_with("pushed ") && r.stderr.lines().count() == 1,
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains('\r') && !r.stderr.contains("pushing"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, format!("{host}/pipe/app:latest@{digest}\n"));
}
