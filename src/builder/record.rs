//! What a build used, for its SBOM and provenance ([`crate::attest`]): the toolchain
//! (a release scratchpack fetched, by its pinned digest and package URL; a tool of the
//! host, by the digest of its executable, remembered per file so a warm build does not
//! hash it again), the Alpine rootfs (by its pinned digest, at the default mirror: the
//! mirror in use does not change the bytes), every package of the build's root and of
//! the target's, and the source files.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::attest::{BuildRecord, Component, apkdb, sources};
use crate::cache::Cache;
use crate::digest::{Digest, HashWriter};
use crate::plan::BuildPlan;
use crate::toolchain::fetch::Release;
use crate::toolchain::find::HostTool;
use crate::toolchain::{FetchKind, Toolchain};

/// The record of a build that ran in `rootfs` (none: on the host) with `target` the
/// root of the target platform's packages; empty with `--no-sbom`.
pub fn record(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    tool: Option<&HostTool>,
    rootfs: Option<&Path>,
    target: Option<&Path>,
) -> BuildRecord {
    if plan.image.attest.is_none() {
        return BuildRecord::default();
    }
    let packages = rootfs.map(apkdb::installed).unwrap_or_default();
    let (sources, sources_truncated) = sources::collect(&plan.sources, plan.project.is_some());
    let spec = &toolchain.rootfs;
    let arch = crate::platform::Platform::host_alpine_arch();
    BuildRecord {
        toolchain: Some(tool_component(toolchain, tool, &packages, &plan.cache)),
        rootfs: rootfs.map(|_| Component {
            name: spec.name.clone(),
            version: spec.version.clone(),
            uri: Some(format!(
                "{}/{}",
                spec.default_mirror.trim_end_matches('/'),
                spec.path.replace("{arch}", arch)
            )),
            purl: None,
            sha256: spec.sha256.get(arch).cloned(),
        }),
        alpine: spec.version.clone(),
        packages,
        target_packages: target.map(apkdb::installed).unwrap_or_default(),
        sources,
        sources_truncated,
    }
}

fn tool_component(
    toolchain: &Toolchain,
    tool: Option<&HostTool>,
    packages: &[apkdb::ApkPackage],
    cache: &Cache,
) -> Component {
    if let Some(component) = tool_identity(toolchain, tool, cache) {
        return component;
    }
    // Alpine's own compiler: the gcc package of the rootfs.
    let gcc = packages.iter().find(|p| p.name == "gcc");
    Component {
        name: "gcc (Alpine)".into(),
        version: gcc.map(|p| p.version.clone()).unwrap_or_default(),
        uri: None,
        purl: gcc.map(|p| crate::attest::apk_purl(p, &toolchain.rootfs.version)),
        sha256: None,
    }
}

/// The host or fetched tool a toolchain runs, by digest; `None` for a toolchain of the
/// rootfs (its packages say what it is).
pub fn tool_identity(
    toolchain: &Toolchain,
    tool: Option<&HostTool>,
    cache: &Cache,
) -> Option<Component> {
    let tool = tool?;
    let version = tool
        .version
        .split_whitespace()
        .nth(1)
        .unwrap_or(&tool.version)
        .trim_start_matches("go")
        .to_string();
    let name = toolchain.name.clone();
    Some(match Release::for_host(toolchain).and_then(Result::ok) {
        Some(release) if tool.fetched => Component {
            uri: Some(release.canonical_uri()),
            purl: (release.spec.kind == FetchKind::Pip).then(|| release.canonical_uri()),
            sha256: Some(release.sha256.clone()),
            name,
            version: release.spec.version.clone(),
        },
        _ => Component {
            name,
            version,
            uri: None,
            purl: None,
            sha256: executable_digest(&tool.program, cache),
        },
    })
}

/// The SHA-256 of a host tool's executable, remembered by its file's identity (device,
/// inode, size, times): zig is 180 MB, hashed once.
fn executable_digest(program: &Path, cache: &Cache) -> Option<String> {
    let meta = std::fs::metadata(program).ok()?;
    let identity = format!(
        "{}\0{}\0{}\0{}\0{}\0{}",
        program.display(),
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
        meta.ctime_nsec() + meta.ctime() * 1_000_000_000,
    );
    let memo = cache
        .dir("digests")
        .ok()
        .map(|d| d.join(Digest::of(identity.as_bytes()).hex));
    if let Some(hex) = memo.as_ref().and_then(|m| std::fs::read_to_string(m).ok()) {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(hex);
        }
    }
    let mut writer = HashWriter::new(std::io::sink());
    std::io::copy(&mut std::fs::File::open(program).ok()?, &mut writer).ok()?;
    let hex = writer.finish().1.hex;
    if let Some(memo) = memo {
        let temp = memo.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&temp, &hex).is_ok() && std::fs::rename(&temp, &memo).is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
    Some(hex)
}
