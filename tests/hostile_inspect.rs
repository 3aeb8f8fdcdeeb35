//! The gate against archives written by an attacker, generated at test time: each one
//! hides a dynamic binary from a naive reader, or tries to exhaust the machine. Every
//! one must fail (exit 1) with the file and the reason named, within bounded memory and
//! time, writing nothing outside its own temporaries. And the real tools' own images
//! (umoci insert) must pass, as podman runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha512};

use crate::support::binaries::{self, Bin};
use crate::support::hostile::{RawTar, image_blobs, oci_members, run_measured, write_archive};
use crate::support::oci::sha256_hex;
use crate::support::{assert_has, fixture, path_str, scratchpack, scratchpack_cmd, tempdir};
use crate::{require, support};

/// Memory a judgement may take, whatever the archive declares.
const MAX_RSS_KIB: u64 = 512 << 10;
const MAX_TIME: Duration = Duration::from_secs(120);

fn dynamic_elf() -> Option<Vec<u8>> {
    binaries::get(Bin::GlibcDynamic).map(|p| std::fs::read(p).unwrap())
}

fn static_elf() -> Vec<u8> {
    std::fs::read(fixture("hello-amd64")).unwrap()
}

/// `inspect --json ARCHIVE`, measured; asserts the bounds and returns the run.
fn judge(archive: &Path) -> (support::Run, serde_json::Value) {
    let mut cmd = scratchpack_cmd();
    cmd.args(["inspect", "--json", path_str(archive)]);
    let (r, rss, _) = run_measured(&mut cmd, MAX_TIME);
    assert!(
        rss < MAX_RSS_KIB,
        "{} used {rss} KiB of memory",
        archive.display()
    );
    let json = r.json();
    (r, json)
}

/// Asserts the run failed and a finding has `kind` at a path ending with `file`.
fn assert_finding(r: &support::Run, json: &serde_json::Value, kind: &str, file: &str) {
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let found = json
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == kind && f["path"].as_str().is_some_and(|p| p.ends_with(file)));
    assert!(found, "no `{kind}` at `{file}` in {json:#}");
}

fn one_image_archive(dir: &Path, name: &str, layers: Vec<Vec<u8>>) -> PathBuf {
    let archive = dir.join(name);
    let (members, _) = oci_members(&[("amd64", layers)]);
    write_archive(&archive, &members);
    archive
}

#[test]
fn an_entry_climbing_out_is_judged_where_runtimes_put_it() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    let layer = RawTar::default()
        .file(b"../../usr/bin/dyn", &dynamic)
        .finish();
    let archive = one_image_archive(dir.path(), "climb.tar", vec![layer]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/usr/bin/dyn");
    assert_finding(&r, &json, "invalid", "../../usr/bin/dyn");
}

#[test]
fn names_are_compared_as_bytes_not_as_decoded_text() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    // One layer: a dynamic and a static binary whose names decode to the same text.
    let layer = RawTar::default()
        .file(b"bin/\xff", &dynamic)
        .file(b"bin/\xfe", &static_elf())
        .finish();
    let archive = one_image_archive(dir.path(), "same-layer.tar", vec![layer]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/bin/\u{fffd}");

    // Two layers: the upper whites out another name that decodes the same.
    let lower = RawTar::default().file(b"bin/\xff", &dynamic).finish();
    let upper = RawTar::default().file(b"bin/.wh.\xfe", b"").finish();
    let archive = one_image_archive(dir.path(), "whiteout.tar", vec![lower, upper]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/bin/\u{fffd}");
}

#[test]
fn a_whiteout_go_reads_elsewhere_deletes_nothing() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    let lower = RawTar::default().file(b"usr/bin/dyn", &dynamic).finish();
    // A GNU header whose access time does not parse: Go then takes the prefix field
    // ("a") as part of the name, and this whiteout lands at /a/usr/bin/.wh.dyn.
    let mut h = tar::Header::new_gnu();
    h.set_path("usr/bin/.wh.dyn").unwrap();
    h.set_size(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_mut_bytes()[345] = b'a';
    h.set_cksum();
    let upper = RawTar::default().raw(h.as_bytes()).finish();
    let archive = one_image_archive(dir.path(), "gnu-prefix.tar", vec![lower, upper]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/usr/bin/dyn");
}

#[test]
fn a_file_written_through_a_link_is_judged_where_it_lands() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    // `a` points at /usr/bin, so `a/dyn` is unpacked as /usr/bin/dyn; deleting `a` above
    // deletes the link, not the file.
    let mut lower = RawTar::default();
    lower
        .header(b"a", b'2', 0, b"/usr/bin")
        .file(b"a/dyn", &dynamic);
    let upper = RawTar::default().file(b".wh.a", b"").finish();
    let layers = vec![lower.finish(), upper];
    let archive = one_image_archive(dir.path(), "through-a-link.tar", layers.clone());
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/usr/bin/dyn");

    // umoci, unpacking the same image, puts it there too.
    if crate::support::tool("umoci").is_none() {
        return;
    }
    let layout = dir.path().join("layout");
    let (members, _) = oci_members(&[("amd64", layers)]);
    for (name, data) in &members {
        let path = layout.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["annotations"] =
        serde_json::json!({"org.opencontainers.image.ref.name": "app"});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let bundle = dir.path().join("bundle");
    support::check(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:app", path_str(&layout)),
        path_str(&bundle),
    ]));
    assert!(bundle.join("rootfs/usr/bin/dyn").is_file());
    assert!(!bundle.join("rootfs/a").exists());
}

#[test]
fn a_pax_sparse_file_is_judged_under_its_real_name_and_contents() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    let mut map = format!("1\n0\n{}\n", dynamic.len()).into_bytes();
    map.resize(512, 0);
    let mut stored = map;
    stored.extend_from_slice(&dynamic);
    let layer = RawTar::default()
        .pax(&[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", "usr/bin/dyn"),
            ("GNU.sparse.realsize", &dynamic.len().to_string()),
        ])
        .file(b"GNUSparseFile.0/dyn", &stored)
        .finish();
    let archive = one_image_archive(dir.path(), "sparse.tar", vec![layer]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/usr/bin/dyn");
}

#[test]
fn every_image_a_client_could_load_is_judged() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    // index.json names a clean image; manifest.json, which `docker load` reads, another.
    let clean = RawTar::default().file(b"app", &static_elf()).finish();
    let (mut members, _) = oci_members(&[("amd64", vec![clean])]);
    let dirty = RawTar::default().file(b"app", &dynamic).finish();
    let (_, blobs) = image_blobs("amd64", std::slice::from_ref(&dirty));
    let config = blobs
        .iter()
        .find(|(_, b)| b.starts_with(b"{\"architecture\""))
        .unwrap()
        .0
        .clone();
    members.extend(blobs);
    let docker = serde_json::json!([{
        "Config": config,
        "RepoTags": ["docker:only"],
        "Layers": [format!("blobs/sha256/{}", sha256_hex(&dirty))],
    }]);
    members.push(("manifest.json".into(), serde_json::to_vec(&docker).unwrap()));
    let archive = dir.path().join("two-faced.tar");
    write_archive(&archive, &members);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/app");
    assert_finding_count(&json, "static", 1);
}

fn assert_finding_count(json: &serde_json::Value, kind: &str, n: usize) {
    let count = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .count();
    assert_eq!(count, n, "{json:#}");
}

#[test]
fn sha512_digests_are_verified() {
    let dir = tempdir();
    let sha512 = |b: &[u8]| -> String {
        Sha512::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let build = |layer: &[u8], stored: &[u8]| -> Vec<(String, Vec<u8>)> {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha512:{}", sha512(config)), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha512:{}", sha512(layer)), "size": layer.len()}]
        }))
        .unwrap();
        let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha512:{}", sha512(&manifest)), "size": manifest.len()}
        ]}))
        .unwrap();
        vec![
            (
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".into(), index),
            (format!("blobs/sha512/{}", sha512(&manifest)), manifest),
            (format!("blobs/sha512/{}", sha512(config)), config.to_vec()),
            (format!("blobs/sha512/{}", sha512(layer)), stored.to_vec()),
        ]
    };
    let layer = RawTar::default().file(b"app", &static_elf()).finish();
    let archive = dir.path().join("sha512.tar");
    write_archive(&archive, &build(&layer, &layer));
    let (r, json) = judge(&archive);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_finding_count(&json, "static", 1);

    let Some(dynamic) = dynamic_elf() else { return };
    let swapped = RawTar::default().file(b"app", &dynamic).finish();
    write_archive(&archive, &build(&layer, &swapped));
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "invalid", "sha512.tar");
    assert_has(&r.stdout, &["does not match its digest sha512:"]);
}

#[test]
fn an_index_fanning_out_is_read_once_per_blob() {
    let dir = tempdir();
    let layer = RawTar::default().file(b"app", &static_elf()).finish();
    let (manifest, mut members) = image_blobs("amd64", &[layer]);
    let mut child = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha256_hex(&manifest)), "size": manifest.len()}
    ]}))
    .unwrap();
    // Four levels of 200 references each to the level below: 1.6e9 paths, 4 blobs.
    for _ in 0..4 {
        let desc = serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{}", sha256_hex(&child)), "size": child.len()});
        members.push((
            format!("blobs/sha256/{}", sha256_hex(&child)),
            child.clone(),
        ));
        child = serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "manifests": vec![desc; 200]}),
        )
        .unwrap();
    }
    members.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    members.push(("index.json".into(), child));
    let archive = dir.path().join("fan-out.tar");
    write_archive(&archive, &members);
    let (r, json) = judge(&archive);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_finding_count(&json, "static", 1);
}

#[test]
fn too_many_images_are_refused_early() {
    let dir = tempdir();
    // 1,100 docker entries, each with a config of its own: more images than are judged.
    let mut members = Vec::new();
    let mut entries = Vec::new();
    for i in 0..1100 {
        let name = format!("c{i}.json");
        members.push((
            name.clone(),
            br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        ));
        entries.push(serde_json::json!({"Config": name, "Layers": []}));
    }
    members.push((
        "manifest.json".into(),
        serde_json::to_vec(&entries).unwrap(),
    ));
    let archive = dir.path().join("many.tar");
    write_archive(&archive, &members);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "invalid", "many.tar");
    assert_has(&r.stdout, &["more than 1024 images"]);
}

#[test]
fn images_sharing_a_layer_cannot_multiply_the_report_without_end() {
    let dir = tempdir();
    // One layer of 300 ELF files, shared by 1,000 images: 300,000 findings.
    let elf = static_elf();
    let mut layer = RawTar::default();
    for i in 0..300 {
        layer.file(format!("bin/app{i}").as_bytes(), &elf);
    }
    let layer = layer.finish();
    let mut members = vec![(
        format!("blobs/sha256/{}", sha256_hex(&layer)),
        layer.clone(),
    )];
    let mut descriptors = Vec::new();
    for i in 0..1000 {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "author": format!("image {i}")
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256_hex(&config)), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", sha256_hex(&layer)), "size": layer.len()}]
        }))
        .unwrap();
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&manifest)), "size": manifest.len()
        }));
        members.push((format!("blobs/sha256/{}", sha256_hex(&config)), config));
        members.push((format!("blobs/sha256/{}", sha256_hex(&manifest)), manifest));
    }
    members.push((
        "index.json".into(),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": descriptors}))
            .unwrap(),
    ));
    let archive = dir.path().join("shared-layer.tar");
    write_archive(&archive, &members);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "invalid", "shared-layer.tar");
    assert_has(&r.stdout, &["files to report over its images"]);
}

/// A gzip stream of `n` zero bytes, made of repeated members (cheap to build).
fn gzip_zeros(out: &mut Vec<u8>, n: u64) {
    use std::io::Read;
    const CHUNK: u64 = 64 << 20;
    let member = |len: u64| {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        std::io::copy(&mut std::io::repeat(0).take(len), &mut e).unwrap();
        e.finish().unwrap()
    };
    let full = member(CHUNK);
    for _ in 0..n / CHUNK {
        out.extend_from_slice(&full);
    }
    if n % CHUNK > 0 {
        out.extend_from_slice(&member(n % CHUNK));
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_huge_elf_entry_is_judged_in_bounded_memory() {
    let Some(dynamic) = dynamic_elf() else { return };
    let dir = tempdir();
    // 4 GiB: the dynamic binary, then zeros.
    let size: u64 = 4 << 30;
    let mut head = RawTar::default();
    head.header(b"usr/bin/huge", b'0', size, b"").raw(&dynamic);
    let mut layer = gzip(&head.bytes);
    gzip_zeros(&mut layer, size - dynamic.len() as u64);
    layer.extend_from_slice(&gzip(&[0u8; 1024]));
    let archive = one_image_archive(dir.path(), "huge.tar", vec![layer]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "dynamic", ":/usr/bin/huge");
}

#[test]
fn lying_headers_and_deep_trees_cost_little() {
    let dir = tempdir();
    // A GNU long name declaring 3 GiB.
    let mut t = RawTar::default();
    t.header(b"././@LongLink", b'L', 3 << 30, b"")
        .raw(&[b'a'; 4096]);
    let archive = one_image_archive(dir.path(), "long-name.tar", vec![t.finish()]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "invalid", "long-name.tar");
    assert_has(&r.stdout, &["long name"]);

    // Deep paths under a directory an upper layer deletes: quadratic work for a reader
    // that checks every prefix of every path.
    let deep = "d/".repeat(8000);
    let mut lower = RawTar::default();
    for i in 0..400 {
        let name = format!("top/{deep}f{i}");
        lower
            .pax(&[("path", &name)])
            .file(b"x", &static_elf()[..64]);
    }
    let upper = RawTar::default().file(b".wh.top", b"").finish();
    let archive = one_image_archive(dir.path(), "deep.tar", vec![lower.finish(), upper]);
    let mut cmd = scratchpack_cmd();
    cmd.args(["inspect", path_str(&archive)]);
    let (r, _, _) = run_measured(&mut cmd, Duration::from_secs(30));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn a_compressed_archive_is_never_decompressed_to_disk() {
    let dir = tempdir();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A gzip'd archive holding 2 GiB of zeros in one member.
    let size: u64 = 2 << 30;
    let mut outer = Vec::new();
    let mut t = RawTar::default();
    t.header(b"blobs/sha256/zeros", b'0', size, b"");
    outer.extend_from_slice(&gzip(&t.bytes));
    gzip_zeros(&mut outer, size);
    let (members, _) = oci_members(&[("amd64", vec![RawTar::default().finish()])]);
    let mut rest = RawTar::default();
    for (name, data) in &members {
        rest.file(name.as_bytes(), data);
    }
    outer.extend_from_slice(&gzip(&rest.finish()));
    let archive = dir.path().join("bomb.tar.gz");
    std::fs::write(&archive, outer).unwrap();
    let mut cmd = scratchpack_cmd();
    cmd.env("TMPDIR", &tmp)
        .args(["inspect", "--json", path_str(&archive)]);
    let (r, rss, _) = run_measured(&mut cmd, MAX_TIME);
    assert!(rss < MAX_RSS_KIB, "{rss} KiB");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(support::dir_entries(&tmp).is_empty(), "written to TMPDIR");
}

/// An OCI layout directory of one image with a static program; returns its layer's path.
fn layout_directory(layout: &std::path::Path) -> std::path::PathBuf {
    let layer = RawTar::default().file(b"app", &static_elf()).finish();
    let (members, _) = oci_members(&[("amd64", vec![layer.clone()])]);
    for (name, data) in &members {
        let path = layout.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
    layout.join(format!("blobs/sha256/{}", sha256_hex(&layer)))
}

#[test]
fn a_fifo_in_a_layout_directory_is_refused_not_waited_on() {
    let dir = tempdir();
    let layout = dir.path().join("layout");
    let blob = layout_directory(&layout);
    std::fs::remove_file(&blob).unwrap();
    nix::unistd::mkfifo(&blob, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let (r, json) = judge(&layout);
    assert_finding(&r, &json, "invalid", "layout");
    assert_has(&r.stdout, &["not a regular file"]);
}

/// A layout directory whose layer is a link to a file elsewhere on the host: the link is
/// not followed (the same reader serves `push` and `run`), so no host file is judged or
/// sent as if it were the image's.
#[test]
fn a_symlinked_blob_in_a_layout_directory_is_not_followed() {
    let dir = tempdir();
    let layout = dir.path().join("layout");
    let blob = layout_directory(&layout);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(&blob, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &blob).unwrap();
    let (r, json) = judge(&layout);
    assert_finding(&r, &json, "invalid", "layout");
    assert_has(&r.stdout, &["symbolic link"]);
}

#[test]
fn legacy_and_climbing_archives_are_refused() {
    let dir = tempdir();
    let archive = dir.path().join("legacy.tar");
    write_archive(&archive, &[("repositories".into(), b"{}".to_vec())]);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "invalid", "legacy.tar");
    assert_has(&r.stdout, &["legacy docker archive"]);

    let (mut members, _) = oci_members(&[("amd64", vec![RawTar::default().finish()])]);
    members.push(("../escape".into(), b"x".to_vec()));
    let archive = dir.path().join("escape.tar");
    write_archive(&archive, &members);
    let (r, json) = judge(&archive);
    assert_finding(&r, &json, "invalid", "escape.tar");
    assert_has(&r.stdout, &["climbs above the archive's root"]);
}

#[test]
fn separate_debug_files_have_their_own_kind() {
    require!("gcc", "objcopy");
    let dir = tempdir();
    let src = dir.path().join("d.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
    )
    .unwrap();
    let bin = dir.path().join("d");
    support::check(Command::new("gcc").args(["-g", "-O", "-o", path_str(&bin), path_str(&src)]));
    let debug = dir.path().join("d.debug");
    support::check(Command::new("objcopy").args([
        "--only-keep-debug",
        path_str(&bin),
        path_str(&debug),
    ]));
    let r = scratchpack(&["inspect", "--json", path_str(&debug)]).expect_code(0);
    assert_eq!(r.json()[0]["kind"], "debug");
    assert_eq!(r.json()[0]["interpreter"], serde_json::Value::Null);
    scratchpack(&["inspect", path_str(&bin)]).expect_code(1);
}

#[test]
fn images_made_by_umoci_insert_pass_and_run() {
    require!("umoci");
    let dir = tempdir();
    let layout = dir.path().join("layout");
    let image = format!("{}:app", path_str(&layout));
    let binary = dir.path().join("hello");
    std::fs::copy(fixture("hello-amd64"), &binary).unwrap();
    for args in [
        vec!["init", "--layout", path_str(&layout)],
        vec!["new", "--image", &image],
        vec!["insert", "--image", &image, path_str(&binary), "/hello"],
        vec!["config", "--image", &image, "--config.entrypoint", "/hello"],
    ] {
        support::check(Command::new("umoci").args(&args));
    }
    let r = scratchpack(&["inspect", path_str(&layout)]).expect_code(0);
    assert_has(&r.stdout, &["static", ":/hello"]);
    // The same layout as an archive, loaded and run by podman.
    let archive = dir.path().join("umoci.tar");
    support::check(Command::new("tar").arg("-C").arg(&layout).args([
        "-cf",
        path_str(&archive),
        ".",
    ]));
    scratchpack(&["inspect", path_str(&archive)]).expect_code(0);
    let Some(podman) = support::clients::Podman::new() else {
        return;
    };
    use support::clients::Client;
    let loaded = podman.load(&archive);
    let name = loaded
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or("app")
        .trim()
        .to_string();
    assert_eq!(podman.run_image(&name, &[]), "hello from scratch\n");
}
