//! Images written by `package`, loaded and run by the real clients: podman and docker
//! run them and print what the binary prints; skopeo reads them as oci-archive and
//! docker-archive (and `skopeo copy` verifies every digest); umoci unpacks them and the
//! root filesystem is checked exactly. Client-written archives go back through inspect.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::binaries::{self, Bin};
use crate::support::clients::{Client, Dockerd, Podman, skopeo_inspect, untar};
use crate::support::oci::{self, HandImage, Item};
use crate::support::{check, fixture, path_str, scratchpack, tempdir, tool};

/// Packages the probe binary (prints args, ids, cwd, env, /tmp and passwd users).
fn probe_image(dir: &Path, name: &str, flags: &[&str]) -> Option<PathBuf> {
    let probe = binaries::get(Bin::Probe)?;
    let out = dir.join(format!("{name}.tar"));
    let mut args = vec![
        "package",
        path_str(&probe),
        "-o",
        path_str(&out),
        "--tag",
        name,
    ];
    args.extend_from_slice(flags);
    scratchpack(&args).expect_code(0);
    Some(out)
}

const DEFAULT_RUN: &str = "uid 65532 gid 65532\ncwd /\n\
env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
env HOME=/home/nonroot\nenv SSL_CERT_FILE=(unset)\nenv GREETING=(unset)\ntmp writable\n\
passwd root\npasswd nobody\npasswd nonroot\n";

const CUSTOM_RUN: &str = "arg --flag\narg two words\nuid 1234 gid 1234\ncwd /\n\
env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
env HOME=/\nenv SSL_CERT_FILE=(unset)\nenv GREETING=hello\ntmp not writable\npasswd none\n";

const CUSTOM_FLAGS: &[&str] = &[
    "--bare",
    "--cmd",
    "--flag",
    "--cmd",
    "two words",
    "--env",
    "GREETING=hello",
    "--user",
    "1234:1234",
];

#[test]
fn podman_loads_and_runs_images() {
    let Some(podman) = Podman::new() else { return };
    let dir = tempdir();
    let Some(default) = probe_image(dir.path(), "probe-default", &[]) else {
        return;
    };
    let custom = probe_image(dir.path(), "probe-custom", CUSTOM_FLAGS).expect("probe built");
    let layout_only =
        probe_image(dir.path(), "probe-oci", &["--format", "oci"]).expect("probe built");

    for archive in [&default, &custom, &layout_only] {
        let loaded = podman.load(archive);
        assert!(loaded.contains("Loaded image"), "{loaded}");
    }
    let images = podman
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .expect_code(0)
        .stdout;
    for name in [
        "probe-default:latest",
        "probe-custom:latest",
        "probe-oci:latest",
    ] {
        assert!(
            images.lines().any(|l| l.ends_with(&format!("/{name}"))),
            "{name} not in\n{images}"
        );
    }
    assert_eq!(podman.run_image("probe-default", &[]), DEFAULT_RUN);
    assert_eq!(podman.run_image("probe-custom", &[]), CUSTOM_RUN);
    let out = podman.run_image("probe-oci", &["override"]);
    assert!(
        out.starts_with("arg override\nuid 65532 gid 65532\n"),
        "{out}"
    );
}

#[test]
fn docker_loads_and_runs_images() {
    let dir = tempdir();
    let Some(default) = probe_image(dir.path(), "probe-default", &[]) else {
        return;
    };
    let custom = probe_image(dir.path(), "probe-custom", CUSTOM_FLAGS).expect("probe built");
    let hello = dir.path().join("hello.tar");
    scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&hello),
    ])
    .expect_code(0);
    let Some(docker) = Dockerd::start() else {
        return;
    };

    for (archive, name) in [
        (&default, "probe-default:latest"),
        (&custom, "probe-custom:latest"),
        (&hello, "hello-amd64:latest"),
    ] {
        let loaded = docker.load(archive);
        assert!(
            loaded.contains(&format!("Loaded image: {name}")),
            "{loaded}"
        );
    }
    assert_eq!(docker.run_image("probe-default", &[]), DEFAULT_RUN);
    assert_eq!(docker.run_image("probe-custom", &[]), CUSTOM_RUN);
    assert_eq!(docker.run_image("hello-amd64", &[]), "hello from scratch\n");

    // docker's own export of the image passes the gate too.
    let saved = dir.path().join("docker-save.tar");
    docker
        .run(&["save", "-o", path_str(&saved), "hello-amd64:latest"])
        .expect_code(0);
    let r = scratchpack(&["inspect", path_str(&saved)]).expect_code(0);
    assert!(
        r.stdout.contains(":/usr/local/bin/hello-amd64"),
        "{}",
        r.stdout
    );
}

#[test]
fn skopeo_reads_both_transports_and_verifies_digests() {
    let dir = tempdir();
    let archive = dir.path().join("hello.tar");
    let digest = scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&archive),
        "--tag",
        "hello:1",
    ])
    .expect_code(0)
    .stdout;
    let Some(oci_view) = skopeo_inspect(&format!("oci-archive:{}", archive.display()), &[]) else {
        return;
    };
    assert_eq!(oci_view["Digest"], digest.trim());
    assert_eq!(oci_view["Architecture"], "amd64");
    assert_eq!(oci_view["Os"], "linux");
    let docker_view =
        skopeo_inspect(&format!("docker-archive:{}", archive.display()), &[]).expect("skopeo");
    assert_eq!(docker_view["Architecture"], "amd64");
    let config = skopeo_inspect(&format!("oci-archive:{}", archive.display()), &["--config"])
        .expect("skopeo");
    // docker-archive names layers by their uncompressed digest: the config's diff ID.
    assert_eq!(docker_view["Layers"], config["rootfs"]["diff_ids"]);
    assert_eq!(
        config["config"]["Entrypoint"][0],
        "/usr/local/bin/hello-amd64"
    );

    // copy reads every blob and checks it against its digest.
    let skopeo = tool("skopeo").expect("skopeo");
    let layout = dir.path().join("copied");
    check(Command::new(&skopeo).args([
        "copy",
        &format!("oci-archive:{}", archive.display()),
        &format!("oci:{}:hello", layout.display()),
    ]));
    let docker_archive = dir.path().join("docker.tar");
    check(Command::new(&skopeo).args([
        "copy",
        &format!("docker-archive:{}", archive.display()),
        &format!("docker-archive:{}:copied:1", docker_archive.display()),
    ]));
    // What skopeo wrote is an image the inspector reads too.
    let r = scratchpack(&["inspect", "--json", path_str(&docker_archive)]).expect_code(0);
    assert_eq!(r.json()[0]["image"]["file"], "/usr/local/bin/hello-amd64");
    assert_eq!(
        r.json()[0]["image"]["reference"],
        "docker.io/library/copied:1"
    );

    // The layout-only tar and the layout directory are for strict OCI tools.
    let oci_only = dir.path().join("oci-only.tar");
    scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&oci_only),
        "--format",
        "oci",
        "--tag",
        "hello:1",
    ])
    .expect_code(0);
    assert_eq!(
        skopeo_inspect(&format!("oci-archive:{}", oci_only.display()), &[]).expect("skopeo")["Digest"],
        digest.trim()
    );
    let oci_dir = dir.path().join("oci-dir");
    scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&oci_dir),
        "--format",
        "oci-dir",
        "--tag",
        "hello:1",
    ])
    .expect_code(0);
    let v = skopeo_inspect(&format!("oci:{}:hello:1", oci_dir.display()), &[]).expect("skopeo");
    assert_eq!(v["Digest"], digest.trim());
}

#[test]
fn umoci_unpacks_exactly_the_expected_rootfs() {
    if tool("umoci").is_none() {
        return;
    }
    let dir = tempdir();
    let archive = dir.path().join("hello.tar");
    scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&archive),
        "--tag",
        "hello:1",
    ])
    .expect_code(0);
    let layout = dir.path().join("layout");
    untar(&archive, &layout);
    let bundle = dir.path().join("bundle");
    check(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:hello:1", layout.display()),
        path_str(&bundle),
    ]));
    let rootfs = bundle.join("rootfs");
    let mut listing = Vec::new();
    list(&rootfs, &rootfs, &mut listing);
    listing.sort();
    assert_eq!(
        listing,
        [
            "etc 40755",
            "etc/group 100644",
            "etc/passwd 100644",
            "home 40755",
            "home/nonroot 40700",
            "root 40700",
            "tmp 41777",
            "usr 40755",
            "usr/local 40755",
            "usr/local/bin 40755",
            "usr/local/bin/hello-amd64 100755",
        ]
    );
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/bin/hello-amd64")).unwrap(),
        std::fs::read(fixture("hello-amd64")).unwrap()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/usr/local/bin/hello-amd64"])
    );
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        out.push(format!("{rel} {:o}", meta.mode()));
        if meta.is_dir() {
            list(root, &path, out);
        }
    }
}

#[test]
fn podman_save_output_goes_through_the_gate() {
    let Some(podman) = Podman::new() else { return };
    let (Some(dynamic), Some(stat)) = (
        binaries::get(Bin::GlibcDynamic),
        binaries::get(Bin::MuslStatic),
    ) else {
        return;
    };
    let dir = tempdir();
    // An image holding a dynamic binary, as a careless multi-stage build would produce.
    let bad = dir.path().join("bad.tar");
    let layer = oci::gzip(&oci::layer_tar(&[Item::File(
        "app",
        &std::fs::read(dynamic).unwrap(),
    )]));
    oci::write_oci_archive(
        &bad,
        &[HandImage {
            architecture: "amd64",
            layers: vec![layer],
            ref_name: Some("bad:1"),
        }],
        false,
    );
    podman.run(&["load", "-i", path_str(&bad)]).expect_code(0);
    let good = dir.path().join("good.tar");
    scratchpack(&[
        "package",
        path_str(&stat),
        "-o",
        path_str(&good),
        "--tag",
        "good:1",
    ])
    .expect_code(0);
    podman.run(&["load", "-i", path_str(&good)]).expect_code(0);

    for format in ["docker-archive", "oci-archive"] {
        let cases = [("bad:1", 1, "dynamic"), ("good:1", 0, "static")];
        for (image, code, verdict) in cases {
            let saved = dir
                .path()
                .join(format!("{}-{format}.tar", image.replace(':', "-")));
            podman
                .run(&["save", "--format", format, "-o", path_str(&saved), image])
                .expect_code(0);
            let r = scratchpack(&["inspect", path_str(&saved)]).expect_code(code);
            let file = if code == 1 {
                ":/app"
            } else {
                ":/usr/local/bin/musl-static"
            };
            assert!(
                r.stdout.starts_with(verdict) && r.stdout.contains(file),
                "{format} {image}: {}",
                r.stdout
            );
        }
    }
}

/// An archive of two platforms (`package hello-amd64 hello-arm64`): skopeo reads the index
/// with one manifest per platform and copies each platform out (verifying every digest),
/// podman loads it and runs the host's platform (and pulls the other from it with
/// `--platform`), and docker 20.10 loads it from
/// `manifest.json`: the host's image under the plain tag, the other under `TAG-ARCH`.
#[test]
fn a_two_platform_archive_loads_in_every_client() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("SKIPPED: the tags below are those of an amd64 host");
        return;
    }
    let dir = tempdir();
    let two = dir.path().join("two.tar");
    scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        path_str(&fixture("hello-arm64")),
        "-o",
        path_str(&two),
        "--tag",
        "multi:1",
    ])
    .expect_code(0);

    if let Some(raw) = skopeo_inspect(&format!("oci-archive:{}", path_str(&two)), &["--raw"]) {
        let archs: Vec<&str> = raw["manifests"]
            .as_array()
            .expect("an index")
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(archs, ["amd64", "arm64"]);
        for arch in ["amd64", "arm64"] {
            let out = dir.path().join(format!("{arch}.tar"));
            check(Command::new("skopeo").args([
                "--override-arch",
                arch,
                "copy",
                &format!("oci-archive:{}", path_str(&two)),
                &format!("oci-archive:{}", path_str(&out)),
            ]));
            let copied = skopeo_inspect(&format!("oci-archive:{}", path_str(&out)), &[]).unwrap();
            assert_eq!(copied["Architecture"], arch);
        }
    }
    if let Some(podman) = Podman::new() {
        let loaded = podman.load(&two);
        assert!(loaded.contains("multi:1"), "{loaded}");
        assert_eq!(podman.run_image("multi:1", &[]), "hello from scratch\n");
        // Another platform, as README says: pulled from the archive by platform.
        let id = podman.pull_platform(&two, "linux/arm64");
        let arch = podman
            .run(&["image", "inspect", "--format", "{{.Architecture}}", &id])
            .expect_code(0)
            .stdout;
        assert_eq!(arch.trim(), "arm64");
    }
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let loaded = docker.load(&two);
    for tag in ["multi:1", "multi:1-arm64"] {
        assert!(
            loaded.contains(&format!("Loaded image: {tag}\n")),
            "{loaded}"
        );
    }
    assert_eq!(docker.run_image("multi:1", &[]), "hello from scratch\n");
    let arch = docker
        .run(&[
            "image",
            "inspect",
            "-f",
            "{{.Architecture}}",
            "multi:1-arm64",
        ])
        .expect_code(0)
        .stdout;
    assert_eq!(arch.trim(), "arm64");
}

/// `--tag` repeated, as `docker build -t a -t b`: one image under every name, in docker,
/// podman and skopeo; a push sends the image, not the list of names.
#[test]
fn several_tags_name_one_image() {
    let dir = tempdir();
    let archive = dir.path().join("tags.tar");
    let digest = scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&archive),
        "--tag",
        "app:1.0",
        "-t",
        "registry.example/team/app:stable",
        "--json",
    ])
    .expect_code(0)
    .json();
    assert_eq!(
        digest["tags"],
        serde_json::json!(["app:1.0", "registry.example/team/app:stable"])
    );
    let digest = digest["digest"].as_str().unwrap().to_string();
    if tool("skopeo").is_some() {
        for name in ["app:1.0", "registry.example/team/app:stable"] {
            let view = skopeo_inspect(&format!("oci-archive:{}:{name}", archive.display()), &[])
                .expect("skopeo");
            assert_eq!(view["Digest"], digest.as_str(), "{name}");
        }
    }
    if let Some(docker) = Dockerd::start() {
        docker.load(&archive);
        for name in ["app:1.0", "registry.example/team/app:stable"] {
            assert_eq!(
                docker.run_image(name, &[]),
                "hello from scratch\n",
                "{name}"
            );
        }
    }
    if let Some(podman) = Podman::new() {
        let loaded = podman.load(&archive);
        assert!(loaded.contains("app:1.0"), "{loaded}");
        assert_eq!(podman.run_image("app:1.0", &[]), "hello from scratch\n");
    }
}
