//! `scratchpack package`: contents, configuration, reproducibility (golden digests),
//! the official schemas, size, formats, refusals and atomic output.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::binaries::{self, Bin};
use crate::support::oci::{self, ImageTar};
use crate::support::{
    assert_has, dir_entries, fixture, path_str, run, scratchpack, scratchpack_cmd, sha256_file,
    tempdir,
};

/// `package fixtures/hello-amd64` with default flags and SOURCE_DATE_EPOCH unset.
/// Regenerate with `scripts/golden.sh` after a deliberate format change.
const GOLDEN_TAR_SHA256: &str = "d91cd94562fcb6da80169a9cd91435119ef5324da124d16e0dbbe55563c00f93";
const GOLDEN_MANIFEST: &str =
    "sha256:cc284ec901137e1f4b7494d53e02366bf5688e4accfc449f7590c2f283ccdbd3";
/// The same with SOURCE_DATE_EPOCH=1700000000.
const GOLDEN_MANIFEST_EPOCH: &str =
    "sha256:e0f60bc706eefe9c6cc41c0db43b1410a63428014a8c35b56e0e5ec422fd8947";

/// `package fixtures/hello-amd64 fixtures/hello-arm64`: the index's digest (stdout),
/// which no host or order changes.
const GOLDEN_TWO_PLATFORMS: &str =
    "sha256:1794e2ec00c7b92d1b7d90e13ed68ab34f222286c0eda12eae2bb914495c65a7";

fn hello() -> PathBuf {
    fixture("hello-amd64")
}

fn package(binary: &Path, out: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["package", path_str(binary), "-o", path_str(out)];
    args.extend_from_slice(extra);
    scratchpack(&args)
}

#[test]
fn golden_digests() {
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    let r = package(&hello(), &out, &[]).expect_code(0);
    assert_eq!(r.stdout.trim(), GOLDEN_MANIFEST, "manifest digest changed");
    assert_eq!(
        sha256_file(&out),
        GOLDEN_TAR_SHA256,
        "archive bytes changed"
    );

    let r = run(scratchpack_cmd()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["package", path_str(&hello()), "-o", path_str(&out)]))
    .expect_code(0);
    assert_eq!(r.stdout.trim(), GOLDEN_MANIFEST_EPOCH);
    let image = ImageTar::open(&out);
    assert_eq!(image.config()["created"], "2023-11-14T22:13:20Z");
    assert!(image.headers.iter().all(|e| e.mtime == 1_700_000_000));
    assert!(image.layer().iter().all(|e| e.mtime == 1_700_000_000));
}

#[test]
fn same_bytes_from_anywhere() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let first = dir.path().join("first.tar");
    package(&hello(), &first, &[]).expect_code(0);

    // Another copy of the input with other times and modes, relative paths, another
    // working directory and another umask.
    let other = tempdir();
    let copy = other.path().join("hello-amd64");
    std::fs::copy(hello(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700)).unwrap();
    let r = run(scratchpack_cmd().current_dir(other.path()).args([
        "package",
        "./hello-amd64",
        "-o",
        "second.tar",
    ]))
    .expect_code(0);
    assert!(
        !r.stderr.contains("error") && !r.stderr.contains("warning"),
        "{}",
        r.stderr
    );
    assert_eq!(
        sha256_file(&first),
        sha256_file(&other.path().join("second.tar"))
    );
}

#[test]
fn same_bytes_as_another_user() {
    let dir = tempdir();
    let mine = dir.path().join("mine.tar");
    package(&hello(), &mine, &[]).expect_code(0);
    // `nobody` cannot read the test's own directories: give it a world-writable one.
    let shared = tempfile::Builder::new()
        .prefix("sp-shared-")
        .tempdir_in("/tmp")
        .unwrap();
    let input = shared.path().join("hello-amd64");
    std::fs::copy(hello(), &input).unwrap();
    let theirs = shared.path().join("theirs.tar");
    let args = ["package", path_str(&input), "-o", path_str(&theirs)];
    let Some(r) = crate::support::scratchpack_as_nobody(shared.path(), &args) else {
        return;
    };
    r.expect_code(0);
    assert_eq!(sha256_file(&mine), sha256_file(&theirs));
}

#[test]
fn default_image_contents_and_config() {
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    // The image alone: its manifest, config and layer.
    package(&hello(), &out, &["--no-sbom"]).expect_code(0);
    let bare = ImageTar::open(&out);
    assert_eq!(
        bare.names,
        [
            "blobs/",
            "blobs/sha256/",
            &bare.names[2],
            &bare.names[3],
            &bare.names[4],
            "index.json",
            "manifest.json",
            "oci-layout"
        ]
    );
    // By default also its SBOM and provenance: two artifact manifests, their documents
    // and the empty config, which index.json does not list (clients see one image).
    package(&hello(), &out, &[]).expect_code(0);
    let image = ImageTar::open(&out);
    assert_eq!(image.names.len(), bare.names.len() + 5, "{:?}", image.names);
    assert_eq!(image.json("index.json"), bare.json("index.json"));
    assert_eq!(image.json("manifest.json"), bare.json("manifest.json"));
    let layer: Vec<String> = image.layer().iter().map(oci::Entry::short).collect();
    let mut want: Vec<String> = oci::MINIMAL_LAYER.iter().map(|s| s.to_string()).collect();
    want.push("usr/local/bin/hello-amd64 755 0:0".into());
    assert_eq!(layer, want);
    assert!(image.layer().iter().all(|e| e.mtime == 0));
    assert_eq!(
        image.layer_file("usr/local/bin/hello-amd64"),
        std::fs::read(hello()).unwrap()
    );
    let passwd = String::from_utf8(image.layer_file("etc/passwd")).unwrap();
    assert!(
        passwd.contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"),
        "{passwd}"
    );
    assert!(passwd.starts_with("root:x:0:0:"));

    let config = image.config();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!(["/usr/local/bin/hello-amd64"])
    );
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Env"],
        json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    );
    let index = image.json("index.json");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "hello-amd64:latest"
    );
    assert_eq!(
        index["manifests"][0]["platform"],
        json!({"architecture": "amd64", "os": "linux"})
    );
    let docker = image.json("manifest.json");
    assert_eq!(docker[0]["RepoTags"], json!(["hello-amd64:latest"]));
    assert_eq!(
        docker[0]["Config"],
        format!(
            "blobs/sha256/{}",
            image.manifest()["config"]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
        )
    );
}

#[test]
fn documents_pass_the_official_schemas() {
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    package(
        &hello(),
        &out,
        &[
            "--label",
            "a=b",
            "--annotation",
            "org.example=1",
            "--expose",
            "8080",
        ],
    )
    .expect_code(0);
    let image = ImageTar::open(&out);
    oci::assert_valid("image-index-schema.json", &image.json("index.json"));
    oci::assert_valid("image-manifest-schema.json", &image.manifest());
    oci::assert_valid("config-schema.json", &image.config());
    oci::assert_valid("image-layout-schema.json", &image.json("oci-layout"));

    // And the schemas do reject a broken manifest, so the checks above mean something.
    let mut broken = image.manifest();
    broken["config"]["digest"] = json!("not-a-digest");
    let bad = std::panic::catch_unwind(|| oci::assert_valid("image-manifest-schema.json", &broken));
    assert!(bad.is_err(), "the schema accepted a bad digest");
}

#[test]
fn every_config_flag_lands_in_the_config() {
    let dir = tempdir();
    let out = dir.path().join("app.tar");
    package(
        &hello(),
        &out,
        &[
            "--tag",
            "registry.example:5000/team/app:1.2",
            "--name",
            "app",
            "--cmd",
            "--port",
            "--cmd",
            "8080",
            "--env",
            "GREETING=hi there",
            "--env",
            "PATH=/usr/local/bin",
            "--workdir",
            "/srv",
            "--user",
            "nobody",
            "--label",
            "org.opencontainers.image.source=https://example.org",
            "--label",
            "b=2",
            "--annotation",
            "org.example.note=x",
            "--expose",
            "8080",
            "--expose",
            "53/udp",
        ],
    )
    .expect_code(0);
    let image = ImageTar::open(&out);
    let c = &image.config()["config"];
    assert_eq!(c["Entrypoint"], json!(["/usr/local/bin/app"]));
    assert_eq!(c["Cmd"], json!(["--port", "8080"]));
    assert_eq!(
        c["Env"],
        json!(["GREETING=hi there", "PATH=/usr/local/bin"])
    );
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "65534:65534");
    assert_eq!(
        c["Labels"],
        json!({"b": "2", "org.opencontainers.image.source": "https://example.org"})
    );
    assert_eq!(c["ExposedPorts"], json!({"53/udp": {}, "8080/tcp": {}}));
    // The user's annotations beside the standard ones (a scratch image has no base).
    assert_eq!(
        image.manifest()["annotations"],
        json!({
            "org.example.note": "x",
            "org.opencontainers.image.base.name": "",
            "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
            "org.opencontainers.image.version": "1.2",
        })
    );
    assert_eq!(
        image.config()["history"],
        json!([{"created": "1970-01-01T00:00:00Z", "created_by": format!("scratchpack {}", env!("CARGO_PKG_VERSION"))}])
    );
    assert_eq!(
        image.json("manifest.json")[0]["RepoTags"],
        json!(["registry.example:5000/team/app:1.2"])
    );
    assert!(image.layer().iter().any(|e| e.path == "usr/local/bin/app"));

    let out2 = dir.path().join("ep.tar");
    package(
        &hello(),
        &out2,
        &[
            "--name",
            "other",
            "--entrypoint",
            "/usr/local/bin/other",
            "--user",
            "1000",
        ],
    )
    .expect_code(0);
    let c = &ImageTar::open(&out2).config()["config"];
    assert_eq!(
        (c["Entrypoint"].clone(), c["User"].clone()),
        (json!(["/usr/local/bin/other"]), json!("1000"))
    );
}

#[test]
fn platform_comes_from_the_elf_header() {
    let dir = tempdir();
    let out = dir.path().join("arm.tar");
    package(&fixture("hello-arm64"), &out, &[]).expect_code(0);
    let image = ImageTar::open(&out);
    assert_eq!(image.config()["architecture"], "arm64");
    assert_eq!(
        image.json("index.json")["manifests"][0]["platform"]["architecture"],
        "arm64"
    );
}

#[test]
fn bare_add_and_ca_certificates() {
    let dir = tempdir();
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(extra.join("conf")).unwrap();
    std::fs::write(extra.join("conf/app.toml"), "x = 1\n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();

    let bare = dir.path().join("bare.tar");
    package(&hello(), &bare, &["--bare"]).expect_code(0);
    let layer: Vec<String> = ImageTar::open(&bare)
        .layer()
        .iter()
        .map(oci::Entry::short)
        .collect();
    assert_eq!(
        layer,
        [
            "usr/ 755 0:0",
            "usr/local/ 755 0:0",
            "usr/local/bin/ 755 0:0",
            "usr/local/bin/hello-amd64 755 0:0"
        ]
    );

    let full = dir.path().join("full.tar");
    let add = format!("{}:/etc/app", extra.display());
    let ca = format!("--ca-certificates={}", dir.path().join("ca.pem").display());
    package(&hello(), &full, &["--add", &add, &ca]).expect_code(0);
    let image = ImageTar::open(&full);
    let paths: Vec<String> = image.layer().iter().map(oci::Entry::short).collect();
    for want in [
        "etc/app/ 755 0:0",
        "etc/app/conf/ 755 0:0",
        "etc/app/conf/app.toml 644 0:0",
        "etc/ssl/certs/ca-certificates.crt 644 0:0",
    ] {
        assert!(
            paths.contains(&want.to_string()),
            "{want} missing from {paths:?}"
        );
    }
    assert_eq!(
        image.layer_file("etc/ssl/certs/ca-certificates.crt"),
        b"-----BEGIN CERTIFICATE-----\n"
    );
    let env = image.config()["config"]["Env"].clone();
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"))
    );

    // Without a value: the host's bundle.
    let host = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    if host.exists() {
        package(&hello(), &full, &["--ca-certificates"]).expect_code(0);
        let got = ImageTar::open(&full).layer_file("etc/ssl/certs/ca-certificates.crt");
        assert_eq!(got, std::fs::read(host).unwrap());
    }

    // An --add may replace a default file; two --add on one path conflict.
    std::fs::write(dir.path().join("passwd"), "root:x:0:0::/:/x\n").unwrap();
    let own = format!("{}:/etc/passwd", dir.path().join("passwd").display());
    package(&hello(), &full, &["--add", &own]).expect_code(0);
    assert_eq!(
        ImageTar::open(&full).layer_file("etc/passwd"),
        b"root:x:0:0::/:/x\n"
    );
    let r = package(&hello(), &full, &["--add", &own, "--add", &own]).expect_code(2);
    assert!(
        r.stderr.contains("/etc/passwd") && r.stderr.contains("twice"),
        "{}",
        r.stderr
    );
}

#[test]
fn images_of_small_binaries_are_tiny() {
    let dir = tempdir();
    let out = dir.path().join("zig.tar");
    package(&hello(), &out, &["--no-sbom"]).expect_code(0);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size <= 16 * 1024, "{size} bytes");
    // The SBOM and provenance of a packaged binary cost a few KiB.
    package(&hello(), &out, &[]).expect_code(0);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size <= 24 * 1024, "{size} bytes with the SBOM");
    let Some(musl) = binaries::get(Bin::MuslStatic) else {
        return;
    };
    package(&musl, &out, &["--no-sbom"]).expect_code(0);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size <= 16 * 1024, "musl-gcc hello: {size} bytes");
}

#[test]
fn oci_formats() {
    let dir = tempdir();
    let oci_tar = dir.path().join("layout.tar");
    package(&hello(), &oci_tar, &["--format", "oci"]).expect_code(0);
    let image = ImageTar::open(&oci_tar);
    assert!(!image.names.contains(&"manifest.json".to_string()));
    oci::assert_valid("image-index-schema.json", &image.json("index.json"));

    let layout = dir.path().join("layout");
    package(&hello(), &layout, &["--format", "oci-dir"]).expect_code(0);
    assert!(layout.join("oci-layout").is_file() && layout.join("index.json").is_file());
    assert_eq!(
        std::fs::read(layout.join("index.json")).unwrap(),
        image.files["index.json"]
    );
    // Writing again replaces the layout; nothing else is left beside it.
    package(&fixture("hello-arm64"), &layout, &["--format", "oci-dir"]).expect_code(0);
    assert_eq!(dir_entries(dir.path()), ["layout", "layout.tar"]);
    let r = scratchpack(&["inspect", path_str(&layout)]).expect_code(0);
    assert!(r.stdout.contains("(arm64"), "{}", r.stdout);

    // A directory that is not a layout is never replaced.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("keep"), "x").unwrap();
    package(&hello(), &precious, &["--format", "oci-dir"]).expect_code(2);
    assert!(precious.join("keep").exists());
    assert_eq!(
        dir_entries(dir.path()),
        ["layout", "layout.tar", "precious"]
    );
}

#[test]
fn dynamic_binaries_are_refused_and_nothing_is_written() {
    let Some(dynamic) = binaries::get(Bin::GlibcDynamic) else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("app.tar");
    let r = package(&dynamic, &out, &[]).expect_code(1);
    assert!(r.stderr.contains("not statically linked"), "{}", r.stderr);
    assert!(
        r.stderr.contains("/lib64/ld-linux-x86-64.so.2") && r.stderr.contains("libc.so.6"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"));
    assert!(dir_entries(dir.path()).is_empty());

    // An existing output stays as it was.
    std::fs::write(&out, "previous").unwrap();
    package(&dynamic, &out, &[]).expect_code(1);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
    assert_eq!(dir_entries(dir.path()), ["app.tar"]);

    let Some(lib) = binaries::get(Bin::SharedLib) else {
        return;
    };
    package(&lib, &out, &[]).expect_code(1);
    let not_elf = dir.path().join("script.sh");
    std::fs::write(&not_elf, "#!/bin/sh\necho hi\n").unwrap();
    let r = package(&not_elf, &out, &[]).expect_code(1);
    assert!(r.stderr.contains("not an executable ELF"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
}

#[test]
fn warnings_are_shown_and_strict_refuses() {
    let Some(program) = binaries::get(Bin::GlibcDlopen) else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("dlopen.tar");
    let r = package(&program, &out, &[]).expect_code(0);
    assert_has(&r.stderr, &["warning:", "libplugin.so.1", "dlopen"]);
    std::fs::remove_file(&out).unwrap();
    let r = package(&program, &out, &["--strict"]).expect_code(1);
    assert!(r.stderr.contains("--strict"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn bad_input_gets_a_clear_error_and_no_output() {
    let dir = tempdir();
    let out = dir.path().join("out.tar");
    let cases: &[(&[&str], &str)] = &[
        (&["--env", "NOEQUALS"], "--env"),
        (&["--expose", "99999"], "--expose"),
        (&["--expose", "80/http"], "--expose"),
        (&["--tag", "Bad:Name"], "not a valid image name"),
        (&["--add", "nocolon"], "--add"),
        (&["--add", "x:relative/path"], "absolute"),
        (&["--user", "www-data"], "--user"),
        (&["--workdir", "srv"], "--workdir"),
        (&["--name", "a/b"], "--name"),
        (&["--add", "/nonexistent/src:/x"], "/nonexistent/src"),
        (
            &["--ca-certificates=/nonexistent/ca.pem"],
            "/nonexistent/ca.pem",
        ),
        (&["--format", "zip"], "zip"),
    ];
    for (flags, needle) in cases {
        let r = package(&hello(), &out, flags).expect_code(2);
        assert!(r.stderr.contains(needle), "{flags:?}: {}", r.stderr);
        assert!(
            dir_entries(dir.path()).is_empty(),
            "{flags:?} left {:?}",
            dir_entries(dir.path())
        );
    }
    let r = run(scratchpack_cmd()
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .args(["package", path_str(&hello()), "-o", path_str(&out)]))
    .expect_code(2);
    assert!(
        r.stderr.contains("SOURCE_DATE_EPOCH") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );

    let r = package(&dir.path().join("missing"), &out, &[]).expect_code(2);
    assert!(
        r.stderr.contains("cannot read") && r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    let r = package(&hello(), &dir.path().join("no/such/dir/out.tar"), &[]).expect_code(2);
    assert!(
        r.stderr.contains("no/such/dir") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    let r = package(&hello(), dir.path(), &[]).expect_code(2);
    assert!(r.stderr.contains("directory"), "{}", r.stderr);
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn json_summary() {
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    let r = package(&hello(), &out, &["--json", "--tag", "hello:1"]).expect_code(0);
    let j = r.json();
    assert_eq!(j["tag"], "hello:1");
    assert_eq!(j["platform"], "linux/amd64");
    assert_eq!(j["format"], "archive");
    assert_eq!(j["size"], std::fs::metadata(&out).unwrap().len());
    assert!(j["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(j["binary"]["path"], "/usr/local/bin/hello-amd64");
}

/// One binary per platform makes one archive: `index.json` names an OCI index of both
/// platforms (every document valid against the official schemas), docker's
/// `manifest.json` tags the host's image `hello:latest` and the other
/// `hello:latest-ARCH`; the digest is the index's, pinned, and the same whichever order
/// the binaries come in. Two binaries of one platform are refused, and nothing is
/// written.
#[test]
fn one_binary_per_platform_makes_an_index() {
    let dir = tempdir();
    let out = dir.path().join("two.tar");
    let (amd64, arm64) = (fixture("hello-amd64"), fixture("hello-arm64"));
    let r = scratchpack(&[
        "package",
        path_str(&amd64),
        path_str(&arm64),
        "-o",
        path_str(&out),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary = r.json();
    assert_eq!(summary["digest"], GOLDEN_TWO_PLATFORMS);
    assert_eq!(summary["platform"], "linux/amd64,linux/arm64");
    assert_eq!(
        summary["tag"], "hello:latest",
        "the platform suffix is not the name"
    );
    assert_eq!(summary["images"].as_array().map(Vec::len), Some(2));
    let first = sha256_file(&out);
    let image = ImageTar::open(&out);
    let layout = image.json("index.json");
    oci::assert_valid("image-index-schema.json", &layout);
    assert_eq!(
        layout["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(layout["manifests"][0]["digest"], GOLDEN_TWO_PLATFORMS);
    let index: serde_json::Value =
        serde_json::from_slice(image.blob(GOLDEN_TWO_PLATFORMS)).unwrap();
    oci::assert_valid("image-index-schema.json", &index);
    let mut archs = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        let manifest: serde_json::Value =
            serde_json::from_slice(image.blob(m["digest"].as_str().unwrap())).unwrap();
        oci::assert_valid("image-manifest-schema.json", &manifest);
        let config: serde_json::Value =
            serde_json::from_slice(image.blob(manifest["config"]["digest"].as_str().unwrap()))
                .unwrap();
        oci::assert_valid("config-schema.json", &config);
        assert_eq!(config["architecture"], m["platform"]["architecture"]);
        archs.push(config["architecture"].as_str().unwrap().to_string());
    }
    assert_eq!(archs, ["amd64", "arm64"]);
    let tags: Vec<String> = image
        .json("manifest.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["RepoTags"][0].as_str().unwrap().to_string())
        .collect();
    let host_is_amd64 = std::env::consts::ARCH == "x86_64";
    let expected = if host_is_amd64 {
        ["hello:latest", "hello:latest-arm64"]
    } else {
        ["hello:latest-amd64", "hello:latest"]
    };
    assert_eq!(tags, expected);

    let r = scratchpack(&[
        "package",
        path_str(&arm64),
        path_str(&amd64),
        "-o",
        path_str(&out),
    ]);
    assert_eq!((r.code, r.stdout.trim()), (0, GOLDEN_TWO_PLATFORMS));
    assert_eq!(
        sha256_file(&out),
        first,
        "the order of the binaries changes nothing"
    );

    // --platform names each binary's platform, in order: checked against the file.
    let given = ["package", path_str(&amd64), path_str(&arm64), "--platform"];
    let r = scratchpack(
        &[
            &given[..],
            &["linux/amd64,linux/arm64", "-o", path_str(&out)],
        ]
        .concat(),
    );
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, GOLDEN_TWO_PLATFORMS),
        "{}",
        r.stderr
    );
    let wrong = dir.path().join("wrong.tar");
    let r = scratchpack(
        &[
            &given[..],
            &["linux/arm64,linux/amd64", "-o", path_str(&wrong)],
        ]
        .concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_has(&r.stderr, &["is for linux/amd64, not for linux/arm64"]);
    let r = scratchpack(&[&given[..], &["linux/amd64", "-o", path_str(&wrong)]].concat());
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_has(&r.stderr, &["1 platforms for 2 binaries"]);
    assert!(!wrong.exists());

    let dup = dir.path().join("dup.tar");
    let r = scratchpack(&[
        "package",
        path_str(&amd64),
        path_str(&amd64),
        "-o",
        path_str(&dup),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &["both for linux/amd64", "one binary per platform"],
    );
    assert!(!dup.exists());
}
