//! The SBOM and provenance stored beside every image (issue 13): SPDX 2.3 validated by
//! the SPDX project's own tool (`pyspdxtools`), in-toto SLSA provenance v1, both OCI 1.1
//! referrers of the image manifest that pass the official schemas, printed by
//! `scratchpack sbom` / `provenance`, left out by `--no-sbom`; the archive still loads
//! and copies in podman and skopeo, and stays reproducible.

use std::path::Path;

use serde_json::Value;

use crate::require;
use crate::support::clients::{Client, Podman};
use crate::support::oci::{self, ImageTar, sha256_hex};
use crate::support::{
    assert_has, build, build_cmd, fixture, path_str, run, scratchpack, sha256_file, tempdir,
};

/// `pyspdxtools -i FILE` (the SPDX project's validator): its verdict and output.
fn spdx_validate(doc: &Value, dir: &Path) -> (bool, String) {
    let file = dir.join("sbom.spdx.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let r = run(std::process::Command::new("pyspdxtools").args(["-i", path_str(&file)]));
    (
        r.code == 0 && !r.stdout.contains("ERROR") && !r.stderr.contains("ERROR"),
        format!("{}{}", r.stdout, r.stderr),
    )
}

fn packages(sbom: &Value) -> Vec<Value> {
    sbom["packages"].as_array().cloned().unwrap_or_default()
}

fn purls(sbom: &Value) -> Vec<String> {
    packages(sbom)
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(str::to_string))
        .collect()
}

/// The artifact manifests of an archive whose subject is its image: (type, manifest).
fn referrers(image: &ImageTar) -> Vec<(String, Value)> {
    let subject = image.json("index.json")["manifests"][0]["digest"].clone();
    let mut found = Vec::new();
    for name in &image.names {
        let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| h.len() == 64) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&image.files[name]) else {
            continue;
        };
        if doc["subject"]["digest"] == subject {
            assert_eq!(sha256_hex(&image.files[name]), hex);
            found.push((
                doc["artifactType"].as_str().unwrap_or_default().to_string(),
                doc,
            ));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn a_c_build_records_its_binary_toolchain_rootfs_packages_and_sources() {
    require!("zig", "pyspdxtools");
    let dir = tempdir();
    let src = dir.path().join("hello.c");
    std::fs::copy(fixture("hello.c"), &src).unwrap();
    let out = dir.path().join("hello.tar");
    build(&[path_str(&src), "-o", path_str(&out)]).expect_code(0);
    let image = ImageTar::open(&out);
    let manifest_digest = image.json("index.json")["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    let sbom = scratchpack(&["sbom", path_str(&out)]).expect_code(0).json();
    let (valid, said) = spdx_validate(&sbom, dir.path());
    assert!(valid, "pyspdxtools rejects the SBOM:\n{said}");
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    // The binary, by the digest of the bytes in the layer.
    let binary = image.layer_file("usr/local/bin/hello");
    let by_id = |id: &str| {
        packages(&sbom)
            .into_iter()
            .find(|p| p["SPDXID"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert_eq!(
        by_id("SPDXRef-Binary")["checksums"][1]["checksumValue"],
        sha256_hex(&binary)
    );
    assert_eq!(
        by_id("SPDXRef-Image")["versionInfo"],
        manifest_digest.as_str()
    );
    // The toolchain and the rootfs, pinned by the digests of toolchains/*.toml.
    let zig_toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchains/zig.toml"))
            .unwrap();
    let all = packages(&sbom);
    let zig = all.iter().find(|p| p["name"] == "zig").expect("zig listed");
    let zig_sha = zig["checksums"][0]["checksumValue"].as_str().unwrap();
    assert!(
        zig_toml.contains(zig_sha) || which::which("zig").is_ok(),
        "{zig}"
    );
    let rootfs = all
        .iter()
        .find(|p| {
            p["name"].as_str().is_some_and(|n| n.starts_with("alpine"))
                && p["versionInfo"] == "3.20.3"
        })
        .expect("rootfs listed");
    let rootfs_sha = rootfs["checksums"][0]["checksumValue"].as_str().unwrap();
    let rootfs_toml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("toolchains/rootfs/alpine-3.20.toml"),
    )
    .unwrap();
    assert!(rootfs_toml.contains(rootfs_sha), "{rootfs}");
    // Every package of the minirootfs, with its license and package URL.
    let musl = all
        .iter()
        .find(|p| p["name"] == "musl")
        .expect("musl listed");
    assert_eq!(musl["licenseDeclared"], "MIT");
    assert!(
        purls(&sbom).iter().any(
            |p| p.starts_with("pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64")
                || p.starts_with("pkg:apk/alpine/busybox@1.36.1-r29?arch=aarch64")
        ),
        "{:?}",
        purls(&sbom)
    );
    // The source, by name from its root and by content.
    let files = sbom["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["fileName"], "./hello.c");
    assert_eq!(
        files[0]["checksums"][1]["checksumValue"],
        sha256_hex(&std::fs::read(&src).unwrap())
    );

    // The provenance: the image is its subject; what went in, by digest.
    let provenance = scratchpack(&["provenance", path_str(&out)])
        .expect_code(0)
        .json();
    assert_eq!(provenance["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        provenance["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(
        provenance["subject"][0]["digest"]["sha256"],
        manifest_digest.trim_start_matches("sha256:")
    );
    let definition = &provenance["predicate"]["buildDefinition"];
    assert_eq!(
        definition["externalParameters"]["command"],
        serde_json::json!(["scratchpack", "build"])
    );
    assert_eq!(
        definition["externalParameters"]["sources"],
        serde_json::json!(["hello.c"])
    );
    let resolved = definition["resolvedDependencies"].to_string();
    for digest in [
        zig_sha,
        rootfs_sha,
        &sha256_hex(&std::fs::read(&src).unwrap()),
    ] {
        assert!(resolved.contains(digest), "{digest} not in {resolved}");
    }
    assert_eq!(
        provenance["predicate"]["runDetails"]["builder"]["version"]["scratchpack"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(provenance["predicate"]["runDetails"]["metadata"]["startedOn"].is_null());

    // Both are OCI 1.1 referrers that pass the official schemas.
    let found = referrers(&image);
    let types: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["application/spdx+json", "application/vnd.in-toto+json"]
    );
    for (_, manifest) in &found {
        oci::assert_valid("image-manifest-schema.json", manifest);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
    }
    // ... that the official clients do not take for images.
    let r = run(std::process::Command::new("skopeo")
        .args(["inspect", &format!("oci-archive:{}", out.display())]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    if let Some(podman) = Podman::new() {
        podman.load(&out);
        assert_eq!(
            podman.run_image("hello:latest", &[]),
            "hello from scratch\n"
        );
    }
}

#[test]
fn records_are_reproducible_and_times_are_asked_for() {
    require!("zig");
    let dir = tempdir();
    let a = tempdir();
    let b = tempdir();
    for d in [&a, &b] {
        std::fs::copy(fixture("hello.c"), d.path().join("hello.c")).unwrap();
    }
    let first = dir.path().join("first.tar");
    let digest = build(&[
        path_str(&a.path().join("hello.c")),
        "-o",
        path_str(&first),
        "-v",
    ])
    .expect_code(0)
    .stdout;
    let r = run(build_cmd().current_dir(b.path()).args([
        "build",
        "hello.c",
        "--output=second.tar",
        "--json",
    ]))
    .expect_code(0);
    assert_eq!(
        sha256_file(&first),
        sha256_file(&b.path().join("second.tar")),
        "another directory, another spelling of the command: the same bytes"
    );
    let summary = r.json();
    assert!(
        summary["sbom"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{summary}"
    );

    let timed = dir.path().join("timed.tar");
    let r = build(&[
        path_str(&a.path().join("hello.c")),
        "-o",
        path_str(&timed),
        "--provenance-times",
    ])
    .expect_code(0);
    let provenance = scratchpack(&["provenance", path_str(&timed)])
        .expect_code(0)
        .json();
    let metadata = &provenance["predicate"]["runDetails"]["metadata"];
    assert!(
        metadata["startedOn"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{metadata}"
    );
    assert!(metadata["finishedOn"].is_string(), "{metadata}");
    // The image itself is the same.
    assert_eq!(r.stdout, digest);
    assert_eq!(
        ImageTar::open(&timed).json("index.json"),
        ImageTar::open(&first).json("index.json")
    );
}

#[test]
fn a_go_build_lists_its_modules() {
    require!("go", "pyspdxtools");
    let dir = tempdir();
    let m = crate::support::go_vendored_module(dir.path());
    let out = dir.path().join("usesdep.tar");
    build(&[path_str(&m), "-o", path_str(&out)]).expect_code(0);
    let sbom = scratchpack(&["sbom", path_str(&out)]).expect_code(0).json();
    let (valid, said) = spdx_validate(&sbom, dir.path());
    assert!(valid, "pyspdxtools rejects the SBOM:\n{said}");
    let purls = purls(&sbom);
    let go = run(std::process::Command::new("go").args(["env", "GOVERSION"])).stdout;
    for want in [
        "pkg:golang/example.com/dep@v1.0.0".to_string(),
        format!("pkg:golang/stdlib@{}", go.trim()),
    ] {
        assert!(purls.contains(&want), "{want} not in {purls:?}");
    }
    // The module's own Go files, not the vendored ones (those are a module).
    let names: Vec<&str> = sbom["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["fileName"].as_str())
        .collect();
    assert_eq!(names, ["./main.go"]);
}

#[test]
fn no_sbom_leaves_them_out_and_a_tampered_one_is_refused() {
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    let hello = fixture("hello-amd64");
    scratchpack(&[
        "package",
        path_str(&hello),
        "-o",
        path_str(&out),
        "--no-sbom",
    ])
    .expect_code(0);
    let r = scratchpack(&["sbom", path_str(&out)]).expect_code(1);
    assert_has(&r.stderr, &["holds no SBOM", "--no-sbom"]);

    // A package's record names the binary, not a build.
    scratchpack(&["package", path_str(&hello), "-o", path_str(&out)]).expect_code(0);
    let provenance = scratchpack(&["provenance", path_str(&out)])
        .expect_code(0)
        .json();
    let external = &provenance["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(external["binary"], "hello-amd64");
    assert_eq!(
        external["command"],
        serde_json::json!(["scratchpack", "package"])
    );

    // An SBOM whose bytes no longer match its digest is refused, not printed.
    let layout = dir.path().join("layout");
    scratchpack(&[
        "package",
        path_str(&hello),
        "-o",
        path_str(&layout),
        "--format",
        "oci-dir",
    ])
    .expect_code(0);
    let image = ImageTar::open(&out);
    let (_, manifest) = referrers(&image)
        .into_iter()
        .find(|(t, _)| t == "application/spdx+json")
        .unwrap();
    let body = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    std::fs::write(
        layout.join("blobs/sha256").join(&body),
        b"{\"forged\":true}",
    )
    .unwrap();
    let r = scratchpack(&["sbom", path_str(&layout)]).expect_code(1);
    assert_has(&r.stderr, &["is invalid", "as named"]);
    assert!(!r.stdout.contains("forged"), "{}", r.stdout);
    // One that matches its digest but is not JSON (here: terminal escapes) is refused
    // too: what is printed is the document as stored, so it must be JSON.
    let forged = b"\x1b]0;owned\x07\x1b[2J not json".to_vec();
    let forged_hex = sha256_hex(&forged);
    std::fs::write(layout.join("blobs/sha256").join(&forged_hex), &forged).unwrap();
    let mut bad = manifest.clone();
    bad["layers"][0]["digest"] = Value::from(format!("sha256:{forged_hex}"));
    bad["layers"][0]["size"] = Value::from(forged.len());
    let bad = serde_json::to_vec(&bad).unwrap();
    std::fs::write(layout.join("blobs/sha256").join(sha256_hex(&bad)), &bad).unwrap();
    let original = serde_json::to_vec(&manifest).unwrap();
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read(&path).unwrap() == original || path.ends_with(&body) {
            std::fs::remove_file(path).unwrap();
        }
    }
    let r = scratchpack(&["sbom", path_str(&layout)]).expect_code(1);
    assert_has(&r.stderr, &["is not JSON"]);
    assert!(!r.stdout.contains('\x1b'), "{:?}", r.stdout);

    // And --platform for a platform the image does not have is said.
    let r = scratchpack(&["sbom", path_str(&out), "--platform", "linux/s390x"]).expect_code(2);
    assert_has(&r.stderr, &["no image for linux/s390x", "linux/amd64"]);
}
