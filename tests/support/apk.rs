//! A local Alpine package repository made at test time (no Alpine mirror is reachable
//! from these machines): APK v2 packages built here — a control tar (`.PKGINFO`, its
//! end-of-archive blocks cut) and a data tar whose files carry
//! `APK-TOOLS.checksum.SHA1`, each gzipped and concatenated — indexed by the real `apk
//! index` of the real Alpine rootfs, run in scratchpack's own sandbox.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha1_smol::Sha1;

use super::oci::{gzip, sha256_hex};
use super::{check, shared_cache};

pub const GREET_H: &str = "#ifndef GREET_H\n#define GREET_H\nconst char *greet(void);\n#endif\n";
const GREET_C: &str =
    "#include \"greet.h\"\nconst char *greet(void) { return \"hello from libgreet\"; }\n";

/// One file of a package.
pub struct File<'a> {
    pub path: &'a str,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Builds an APK v2 package.
pub fn package(name: &str, version: &str, depends: &[&str], files: &[File]) -> Vec<u8> {
    let mut data = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    for f in files {
        let parts: Vec<&str> = f.path.split('/').collect();
        for i in 1..parts.len() {
            let dir = format!("{}/", parts[..i].join("/"));
            if !dirs.contains(&dir) {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                data.append_data(&mut h, &dir, std::io::empty()).unwrap();
                dirs.push(dir);
            }
        }
        // apk reads an empty name as the end of the archive, and only '0' as a regular
        // file: the tar crate's own PAX records and default type will not do.
        let record = pax_record(
            "APK-TOOLS.checksum.SHA1",
            &Sha1::from(&f.data).digest().to_string(),
        );
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_mode(0o644);
        pax.set_size(record.len() as u64);
        let pax_name = format!("PaxHeaders/{}", f.path.rsplit('/').next().unwrap_or(f.path));
        data.append_data(&mut pax, pax_name, record.as_bytes())
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_size(f.data.len() as u64);
        data.append_data(&mut h, f.path, &f.data[..]).unwrap();
    }
    let data = gzip(&data.into_inner().unwrap());
    let size: usize = files.iter().map(|f| f.data.len()).sum();
    let mut info = format!(
        "pkgname = {name}\npkgver = {version}\npkgdesc = {name} for scratchpack's tests\n\
         url = https://example.invalid/{name}\nbuilddate = 0\npackager = scratchpack tests\n\
         size = {size}\narch = {arch}\norigin = {name}\nlicense = MIT\n",
        arch = arch()
    );
    for d in depends {
        info.push_str(&format!("depend = {d}\n"));
    }
    info.push_str(&format!("datahash = {}\n", sha256_hex(&data)));
    let mut control = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(info.len() as u64);
    control
        .append_data(&mut h, ".PKGINFO", info.as_bytes())
        .unwrap();
    let mut control = control.into_inner().unwrap();
    // apk wants the control segment without its end-of-archive blocks.
    control.truncate(control.len() - 1024);
    [gzip(&control), data].concat()
}

/// A PAX record, `LEN KEY=VALUE\n`, where LEN counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len();
    while format!("{len}{body}").len() != len {
        len = format!("{len}{body}").len();
    }
    format!("{len}{body}")
}

pub fn arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "aarch64"
    } else {
        "x86_64"
    }
}

/// `libgreet.a` built with the host's zig for the rootfs's architecture.
fn libgreet(dir: &Path) -> Vec<u8> {
    std::fs::write(dir.join("greet.h"), GREET_H).unwrap();
    std::fs::write(dir.join("greet.c"), GREET_C).unwrap();
    let target = format!("{}-linux-musl", arch());
    let zig = crate::support::zig().expect("zig");
    check(Command::new(&zig).current_dir(dir).args([
        "cc", "-target", &target, "-Os", "-c", "greet.c", "-o", "greet.o",
    ]));
    check(
        Command::new(&zig)
            .current_dir(dir)
            .args(["ar", "rcs", "libgreet.a", "greet.o"]),
    );
    std::fs::read(dir.join("libgreet.a")).unwrap()
}

/// A repository holding `libgreet` (a header and a static library) and `greet-tool`
/// (a script, depending on libgreet), indexed; returns its root directory.
pub fn greet_repository(dir: &Path) -> PathBuf {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let repo = dir.join("repo");
    let pkgs = repo.join(arch());
    std::fs::create_dir_all(&pkgs).unwrap();
    let lib = package(
        "libgreet",
        "1.0-r0",
        &[],
        &[
            File {
                path: "usr/include/greet.h",
                mode: 0o644,
                data: GREET_H.as_bytes().to_vec(),
            },
            File {
                path: "usr/lib/libgreet.a",
                mode: 0o644,
                data: libgreet(&work),
            },
        ],
    );
    std::fs::write(pkgs.join("libgreet-1.0-r0.apk"), lib).unwrap();
    let tool = package(
        "greet-tool",
        "2.1-r3",
        &["libgreet"],
        &[File {
            path: "usr/bin/greet-tool",
            mode: 0o755,
            data: b"#!/bin/sh\necho greet-tool 2.1\n".to_vec(),
        }],
    );
    std::fs::write(pkgs.join("greet-tool-2.1-r3.apk"), tool).unwrap();
    index(&pkgs);
    repo
}

/// `apk index` of the real rootfs over the packages in `dir`.
fn index(dir: &Path) {
    let rootfs = super::shared_rootfs();
    let newroot = shared_cache().join("sandbox-root");
    std::fs::create_dir_all(&newroot).unwrap();
    let mut apks: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".apk"))
        .collect();
    apks.sort();
    let mut argv = vec![
        "/sbin/apk".to_string(),
        "index".into(),
        "--allow-untrusted".into(),
        "-o".into(),
    ];
    argv.push(dir.join("APKINDEX.tar.gz").display().to_string());
    argv.extend(apks);
    let spec = scratchpack::sandbox::Spec {
        rootfs,
        newroot,
        writable_root: false,
        binds: vec![scratchpack::sandbox::Bind {
            src: dir.into(),
            dst: dir.into(),
            writable: true,
            file: false,
        }],
        network: false,
        hostname: "scratchpack".into(),
        cwd: dir.into(),
        argv,
        env: vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())],
        parent_pid: std::process::id(),
        limits: Default::default(),
        token: String::new(),
        ids: None,
        search_path: false,
        attached: false,
    };
    let out = super::run_in_sandbox(&spec);
    assert_eq!(out.code, 0, "apk index failed:\n{}", out.stderr);
    assert!(dir.join("APKINDEX.tar.gz").is_file());
}
