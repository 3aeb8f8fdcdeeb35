//! `scratchpack inspect` on binaries compiled now by real compilers, on directories, on
//! hand-made and client-written image archives, and on bad input.

use std::path::Path;

use serde_json::Value;

use crate::support::binaries::{self, Bin};
use crate::support::oci::{self, HandImage, Item};
use crate::support::{assert_has, fixture, path_str, scratchpack, tempdir};

/// `inspect --json PATH` of one file: its single finding and the exit code.
fn inspect_one(path: &Path) -> (Value, i32) {
    let r = scratchpack(&["inspect", "--json", path_str(path)]);
    let json = r.json();
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{}", r.stdout);
    (json[0].clone(), r.code)
}

fn bin(b: Bin) -> Option<std::path::PathBuf> {
    binaries::get(b)
}

#[test]
fn musl_static_passes() {
    let Some(p) = bin(Bin::MuslStatic) else {
        return;
    };
    let (f, code) = inspect_one(&p);
    assert_eq!(code, 0);
    assert_eq!(f["kind"], "static");
    assert_eq!(f["static"], true);
    assert_eq!(f["interpreter"], Value::Null);
    assert_eq!(f["needed"], serde_json::json!([]));
    assert_eq!(f["arch"], "amd64");
    assert_eq!(f["class"], "ELF64");
    assert_eq!(f["type"], "EXEC");
    assert_eq!(f["stripped"], true);
    assert_eq!(f["warnings"], serde_json::json!([]));
}

#[test]
fn glibc_static_and_static_pie_pass_without_warnings() {
    let (Some(st), Some(pie)) = (bin(Bin::GlibcStatic), bin(Bin::GlibcStaticPie)) else {
        return;
    };
    let (f, code) = inspect_one(&st);
    assert_eq!((f["kind"].as_str(), code), (Some("static"), 0));
    assert_eq!(f["stripped"], false);
    assert_eq!(
        f["warnings"],
        serde_json::json!([]),
        "plain hello needs no NSS"
    );
    let gnu = f["build_id"]["gnu"]
        .as_str()
        .expect("gcc writes a GNU build id");
    assert_eq!(gnu.len(), 40);
    let (f, code) = inspect_one(&pie);
    assert_eq!(
        (f["kind"].as_str(), f["type"].as_str(), code),
        (Some("static-pie"), Some("DYN"), 0)
    );
    assert_eq!(f["static"], true);
}

#[test]
fn dynamic_binaries_fail_with_their_reasons() {
    let (Some(glibc), Some(musl)) = (bin(Bin::GlibcDynamic), bin(Bin::MuslDynamic)) else {
        return;
    };
    let (f, code) = inspect_one(&glibc);
    assert_eq!(code, 1);
    assert_eq!(f["kind"], "dynamic");
    assert_eq!(f["static"], false);
    assert_eq!(f["interpreter"], "/lib64/ld-linux-x86-64.so.2");
    assert_eq!(f["needed"], serde_json::json!(["libc.so.6"]));
    let (f, code) = inspect_one(&musl);
    assert_eq!((f["kind"].as_str(), code), (Some("dynamic"), 1));
    assert_eq!(f["interpreter"], "/lib/ld-musl-x86_64.so.1");

    // Human output: the verdict, the path and the reasons on one line.
    let r = scratchpack(&["inspect", path_str(&glibc)]).expect_code(1);
    let line = r.stdout.lines().next().expect("a line");
    assert!(line.starts_with("dynamic"), "{line}");
    assert!(
        line.contains(path_str(&glibc)) && line.contains("interpreter /lib64/ld-linux-x86-64.so.2")
    );
    assert!(line.contains("needs libc.so.6"), "{line}");
}

#[test]
fn rpath_is_reported() {
    let Some(p) = bin(Bin::GlibcRpath) else {
        return;
    };
    let (f, _) = inspect_one(&p);
    assert_eq!(f["rpath"], serde_json::json!(["/opt/rp"]));
    assert_eq!(f["runpath"], serde_json::json!([]));
}

#[test]
fn runpath_is_reported() {
    let Some(p) = bin(Bin::GlibcRunpath) else {
        return;
    };
    let (f, _) = inspect_one(&p);
    assert_eq!(f["runpath"], serde_json::json!(["/opt/rp"]));
    assert_eq!(f["rpath"], serde_json::json!([]));
    let r = scratchpack(&["inspect", path_str(&p)]).expect_code(1);
    assert_has(&r.stdout, &["runpath /opt/rp"]);
}

#[test]
fn unreadable_files_are_environment_errors() {
    use std::os::unix::fs::PermissionsExt;
    let shared = tempfile::Builder::new()
        .prefix("sp-shared-")
        .tempdir_in("/tmp")
        .unwrap();
    let tree = shared.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::set_permissions(&tree, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = tree.join("secret");
    std::fs::copy(crate::support::fixture("hello-amd64"), &secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let Some(r) =
        crate::support::scratchpack_as_nobody(shared.path(), &["inspect", path_str(&secret)])
    else {
        return;
    };
    let r = r.expect_code(2);
    assert_has(&r.stdout, &["unreadable", "secret", "Permission denied"]);
    assert_has(&r.stderr, &["1 unreadable", "hint: check the permissions"]);
    // Inside a walk: listed as unreadable, and the run cannot pass.
    let args = ["inspect", "--json", path_str(&tree)];
    let r = crate::support::scratchpack_as_nobody(shared.path(), &args)
        .unwrap()
        .expect_code(2);
    assert_eq!(r.json()[0]["kind"], "unreadable");
    assert_eq!(r.json()[0]["path"], path_str(&secret));
}

#[test]
fn shared_library_fails() {
    let Some(p) = bin(Bin::SharedLib) else { return };
    let (f, code) = inspect_one(&p);
    assert_eq!((f["kind"].as_str(), code), (Some("shared-library"), 1));
    assert_eq!(f["interpreter"], Value::Null);
}

#[test]
fn go_binary_is_static_with_a_go_build_id() {
    let Some(p) = bin(Bin::Go) else { return };
    let (f, code) = inspect_one(&p);
    assert_eq!((f["kind"].as_str(), code), (Some("static"), 0));
    assert!(
        f["build_id"]["go"]
            .as_str()
            .is_some_and(|id| id.contains('/')),
        "{f}"
    );
    assert_eq!(f["warnings"], serde_json::json!([]));
}

/// A copy of `program` at `out` as an older glibc (before 2.34) would have built it: the
/// mark of the built-in `files` NSS module (`nss_files/`) overwritten.
fn as_older_glibc(program: &Path, out: &Path) -> std::path::PathBuf {
    let mut bytes = std::fs::read(program).unwrap();
    let mark = b"nss_files/";
    let at: Vec<usize> = (0..bytes.len() - mark.len())
        .filter(|&i| &bytes[i..i + mark.len()] == mark)
        .collect();
    assert!(!at.is_empty(), "glibc 2.34+ names nss_files/");
    for i in at {
        bytes[i..i + mark.len()].copy_from_slice(b"nss_older/");
    }
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

/// glibc 2.34 and later resolve names through their built-in `files` and `dns` NSS
/// modules: a static binary calling getaddrinfo is not warned about, and resolves
/// `localhost` in a scratch image run by podman. The same binary with the built-in
/// modules' mark overwritten (`nss_files/`), as an older glibc's binary has it, is
/// warned about and fails `--strict`.
#[test]
fn glibc_getaddrinfo_is_warned_about_only_without_built_in_nss() {
    let dir = tempdir();
    for b in [Bin::GlibcGetaddrinfo, Bin::GlibcGetaddrinfoStripped] {
        let Some(p) = bin(b) else { return };
        let (f, code) = inspect_one(&p);
        assert_eq!((f["kind"].as_str(), code), (Some("static"), 0), "{b:?}");
        assert_eq!(f["warnings"], serde_json::json!([]), "{b:?}");
        scratchpack(&["inspect", "--strict", path_str(&p)]).expect_code(0);

        let older = as_older_glibc(&p, &dir.path().join(format!("{b:?}-older")));
        let (f, code) = inspect_one(&older);
        assert_eq!(code, 0);
        let warnings = f["warnings"].as_array().expect("warnings");
        assert!(
            warnings.iter().any(|w| w
                .as_str()
                .is_some_and(|w| w.contains("getaddrinfo") && w.contains("before 2.34"))),
            "{b:?}: {f}"
        );
        let r = scratchpack(&["inspect", "--strict", path_str(&older)]).expect_code(1);
        assert_has(&r.stdout, &["warning:", "NSS"]);
    }

    let Some(podman) = crate::support::clients::Podman::new() else {
        return;
    };
    use crate::support::clients::Client;
    let out = dir.path().join("gai.tar");
    let gai = bin(Bin::GlibcGetaddrinfo).unwrap();
    let r = scratchpack(&[
        "package",
        path_str(&gai),
        "-o",
        path_str(&out),
        "--tag",
        "gai:1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    podman.load(&out);
    let r = podman.run(&["run", "--rm", "--network", "host", "gai:1", "localhost"]);
    assert_eq!(r.stdout.trim(), "0", "getaddrinfo returns 0: {}", r.stderr);
}

/// A Go program with the cgo DNS resolver, linked statically with glibc: glibc 2.34+
/// answers its lookups with the built-in modules (podman runs it with
/// `GODEBUG=netdns=cgo` and it resolves), so it passes; with the built-in mark
/// overwritten, as with an older glibc, the warning names Go's resolver and Go's fix.
#[test]
fn go_cgo_resolver_over_glibc_is_judged_like_glibc() {
    crate::require!("go", "gcc");
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n\t\"os\"\n)\n\n\
         func main() {\n\taddrs, err := net.LookupHost(os.Args[1])\n\tfmt.Println(addrs, err)\n}\n",
    )
    .unwrap();
    std::fs::write(d.join("go.mod"), "module dns\n\ngo 1.21\n").unwrap();
    let r = crate::support::run(
        std::process::Command::new("go")
            .args(["build", "-o", "dns"])
            .arg("-ldflags=-s -linkmode external -extldflags -static")
            .current_dir(d)
            .env("CGO_ENABLED", "1")
            .env("CC", "gcc"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let program = d.join("dns");
    let (f, code) = inspect_one(&program);
    assert_eq!((f["kind"].as_str(), code), (Some("static"), 0));
    assert_eq!(f["warnings"], serde_json::json!([]), "{f}");

    let (f, _) = inspect_one(&as_older_glibc(&program, &d.join("dns-older")));
    assert_has(
        &f["warnings"].to_string(),
        &["Go's cgo DNS resolver", "-tags netgo"],
    );

    let Some(podman) = crate::support::clients::Podman::new() else {
        return;
    };
    use crate::support::clients::Client;
    let out = d.join("dns.tar");
    let r = scratchpack(&[
        "package",
        path_str(&program),
        "-o",
        path_str(&out),
        "--tag",
        "dns:cgo",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    podman.load(&out);
    let r = podman.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        "GODEBUG=netdns=cgo",
        "dns:cgo",
        "localhost",
    ]);
    assert_has(&r.stdout, &["127.0.0.1", "<nil>"]);
}

#[test]
fn other_architectures_are_named_as_oci_does() {
    let (f, code) = inspect_one(&crate::support::fixture("hello-arm64"));
    assert_eq!(
        (f["arch"].as_str(), f["kind"].as_str(), code),
        (Some("arm64"), Some("static"), 0)
    );
}

#[test]
fn bad_named_paths_exit_2_with_a_message() {
    let dir = tempdir();
    let missing = dir.path().join("missing");
    let r = scratchpack(&["inspect", path_str(&missing)]).expect_code(2);
    assert!(
        r.stderr.contains("cannot read")
            && r.stderr.contains("missing")
            && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );

    let random = dir.path().join("random.bin");
    let mut x = 7u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect();
    std::fs::write(&random, bytes).unwrap();
    let r = scratchpack(&["inspect", path_str(&random)]).expect_code(2);
    assert!(
        r.stderr.contains("random.bin") && r.stderr.contains("not an ELF file"),
        "{}",
        r.stderr
    );

    let full = std::fs::read(crate::support::fixture("hello-amd64")).unwrap();
    for len in [20, 64, 200, full.len() / 2, full.len() - 1] {
        let cut = dir.path().join(format!("truncated-{len}"));
        std::fs::write(&cut, &full[..len]).unwrap();
        // Named or found in a directory, a corrupt ELF file is the same failure (exit 1),
        // and the other paths are still judged.
        let r = scratchpack(&["inspect", path_str(&cut), path_str(&fixture("hello-amd64"))])
            .expect_code(1);
        assert!(
            r.stdout
                .contains(&format!("corrupt        {}", path_str(&cut)))
                && r.stdout.contains("malformed")
                && r.stdout.contains("static"),
            "{len}: {}",
            r.stdout
        );
        assert_has(&r.stderr, &["1 corrupt", "hint:"]);
    }
}

#[test]
fn directories_are_walked_for_elf_files_only() {
    let (Some(stat), Some(dynamic)) = (bin(Bin::MuslStatic), bin(Bin::GlibcDynamic)) else {
        return;
    };
    let dir = tempdir();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    std::fs::copy(&stat, root.join("a/static")).unwrap();
    std::fs::copy(&dynamic, root.join("a/b/c/dynamic")).unwrap();
    std::fs::write(root.join("a/readme.txt"), "not elf").unwrap();
    std::fs::write(root.join("empty"), "").unwrap();
    std::fs::write(root.join("tiny"), "\x7fEL").unwrap();
    std::os::unix::fs::symlink(root.join("a/b/c/dynamic"), root.join("link-to-dynamic")).unwrap();
    // A FIFO must be skipped, never opened (opening it would block forever).
    nix::unistd::mkfifo(
        &root.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();

    let r = scratchpack(&["inspect", "--json", path_str(&root)]).expect_code(1);
    let paths: Vec<(String, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let shown = |rel: &str| format!("{}/{rel}", root.display());
    assert_eq!(
        paths,
        [
            (shown("a/b/c/dynamic"), "dynamic".to_string()),
            (shown("a/static"), "static".to_string())
        ]
    );
    assert!(
        r.stderr.contains("2 ELF files: 1 dynamic, 1 static"),
        "{}",
        r.stderr
    );

    std::fs::remove_file(root.join("a/b/c/dynamic")).unwrap();
    scratchpack(&["inspect", path_str(&root)]).expect_code(0);
}

#[test]
fn package_output_passes_inspection() {
    let dir = tempdir();
    let out = dir.path().join("hello.tar");
    scratchpack(&[
        "package",
        path_str(&crate::support::fixture("hello-amd64")),
        "-o",
        path_str(&out),
    ])
    .expect_code(0);
    let r = scratchpack(&["inspect", "--json", path_str(&out)]).expect_code(0);
    let f = &r.json()[0];
    assert_eq!(
        f["path"],
        format!("{}:/usr/local/bin/hello-amd64", out.display())
    );
    assert_eq!(f["image"]["file"], "/usr/local/bin/hello-amd64");
    assert_eq!(f["image"]["platform"], "linux/amd64");
    assert_eq!(f["kind"], "static");
}

/// Two layers: the upper one deletes a file, hides a directory and replaces a file.
fn layered_image(dynamic: &[u8], stat: &[u8]) -> Vec<Vec<u8>> {
    let lower = oci::layer_tar(&[
        Item::Dir("bin/"),
        Item::File("bin/keep-dynamic", dynamic),
        Item::File("bin/deleted", dynamic),
        Item::File("bin/replaced", dynamic),
        Item::Dir("opt/"),
        Item::Dir("opt/hidden/"),
        Item::File("opt/hidden/dyn", dynamic),
        Item::File("./etc/../usr/normalised", stat),
        Item::Hardlink("bin/hardlink", "bin/keep-dynamic"),
    ]);
    let upper = oci::layer_tar(&[
        Item::File("bin/.wh.deleted", b""),
        Item::File("bin/replaced", b"#!/bin/sh\n"),
        Item::Dir("opt/hidden/"),
        Item::File("opt/hidden/.wh..wh..opq", b""),
        Item::File("opt/hidden/new-static", stat),
        Item::Symlink("bin/link", "keep-dynamic"),
    ]);
    vec![oci::gzip(&lower), upper]
}

#[test]
fn image_layers_honour_whiteouts_and_overrides() {
    let (Some(stat), Some(dynamic)) = (bin(Bin::MuslStatic), bin(Bin::GlibcDynamic)) else {
        return;
    };
    let (stat, dynamic) = (
        std::fs::read(stat).unwrap(),
        std::fs::read(dynamic).unwrap(),
    );
    let dir = tempdir();
    let archive = dir.path().join("layered.tar");
    let image = HandImage {
        architecture: "amd64",
        layers: layered_image(&dynamic, &stat),
        ref_name: None,
    };
    oci::write_oci_archive(&archive, &[image], false);

    let r = scratchpack(&["inspect", "--json", path_str(&archive)]).expect_code(1);
    let found: Vec<(String, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["image"]["file"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("/bin/hardlink", "dynamic"),
        ("/bin/keep-dynamic", "dynamic"),
        ("/opt/hidden/new-static", "static"),
        ("/usr/normalised", "static"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(found, want);

    // The same layers as a compressed outer archive.
    let gz = dir.path().join("layered.tar.gz");
    std::fs::write(&gz, oci::gzip(&std::fs::read(&archive).unwrap())).unwrap();
    let r = scratchpack(&["inspect", "--json", path_str(&gz)]).expect_code(1);
    assert_eq!(r.json().as_array().unwrap().len(), 4);
}

#[test]
fn several_platforms_are_labelled() {
    let amd = std::fs::read(crate::support::fixture("hello-amd64")).unwrap();
    let arm = std::fs::read(crate::support::fixture("hello-arm64")).unwrap();
    let dir = tempdir();
    let archive = dir.path().join("multi.tar");
    let images = [
        HandImage {
            architecture: "amd64",
            layers: vec![oci::layer_tar(&[Item::File("hello", &amd)])],
            ref_name: None,
        },
        HandImage {
            architecture: "arm64",
            layers: vec![oci::layer_tar(&[Item::File("hello", &arm)])],
            ref_name: None,
        },
    ];
    oci::write_oci_archive(&archive, &images, false);
    let r = scratchpack(&["inspect", path_str(&archive)]).expect_code(0);
    let a = archive.display();
    assert_has(
        &r.stdout,
        &[
            &format!("{a}[linux/amd64]:/hello  (amd64"),
            &format!("{a}[linux/arm64]:/hello  (arm64"),
        ],
    );
}

#[test]
fn legacy_docker_archives_with_symlinked_layers() {
    let Some(dynamic) = bin(Bin::GlibcDynamic) else {
        return;
    };
    let layer = oci::layer_tar(&[Item::File("usr/bin/app", &std::fs::read(dynamic).unwrap())]);
    let dir = tempdir();
    let archive = dir.path().join("legacy.tar");
    oci::write_docker_archive(&archive, &layer);
    let r = scratchpack(&["inspect", path_str(&archive)]).expect_code(1);
    let a = archive.display();
    assert_has(
        &r.stdout,
        &[
            &format!("{a}[linux/amd64 legacy:one]:/usr/bin/app"),
            &format!("{a}[linux/amd64 legacy:two]:/usr/bin/app"),
        ],
    );
}

#[test]
fn altered_layers_are_refused() {
    let stat = std::fs::read(crate::support::fixture("hello-amd64")).unwrap();
    let dir = tempdir();
    let archive = dir.path().join("altered.tar");
    let image = HandImage {
        architecture: "amd64",
        layers: vec![oci::layer_tar(&[Item::File("hello", &stat)])],
        ref_name: None,
    };
    oci::write_oci_archive(&archive, &[image], true);
    let r = scratchpack(&["inspect", path_str(&archive)]).expect_code(1);
    assert!(
        r.stdout.contains("invalid") && r.stdout.contains("does not match its digest"),
        "{}",
        r.stdout
    );
}

#[test]
fn hostile_archives_never_escape() {
    let dir = tempdir();
    let archive = dir.path().join("hostile.tar");
    let outside = dir.path().join("outside-secret");
    std::fs::write(&outside, b"secret").unwrap();
    // index.json is a symlink leaving the archive, a member climbs with `..`, and the
    // index names a blob by a digest made of path components.
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    let mut data = |name: &str, bytes: &[u8], b: &mut tar::Builder<std::fs::File>| {
        h.set_size(bytes.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h.clone(), name, bytes).unwrap();
    };
    data("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, &mut b);
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    b.append_link(&mut l, "index.json", path_str(&outside))
        .unwrap();
    b.finish().unwrap();
    let r = scratchpack(&["inspect", path_str(&archive)]).expect_code(1);
    assert!(
        r.stdout.contains("invalid") && r.stdout.contains("hostile.tar"),
        "{}",
        r.stdout
    );

    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    for (name, bytes) in [
        ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        ("index.json", &br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:../../../outside-secret","size":1}]}"#[..]),
    ] {
        data(name, bytes, &mut b);
    }
    b.finish().unwrap();
    let r = scratchpack(&["inspect", path_str(&archive)]).expect_code(1);
    assert!(r.stdout.contains("bad digest"), "{}", r.stdout);
    assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
}

#[test]
fn in_process_parser_survives_mutated_binaries() {
    // Every truncation and thousands of byte flips of a real binary: a verdict or an
    // error each time, never a panic.
    let full = std::fs::read(crate::support::fixture("hello-amd64")).unwrap();
    for len in 0..full.len() {
        let _ = scratchpack::elf::inspect(&full[..len]);
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut bytes = full.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly the headers, where the offsets live.
            let at = (x % 256) as usize % bytes.len();
            bytes[at] = (x >> 24) as u8;
        }
        let _ = scratchpack::elf::inspect(&bytes);
    }
}
