//! What went into an image, recorded beside it: an SPDX 2.3 SBOM ([`spdx`]) and an
//! in-toto SLSA provenance v1 statement ([`slsa`]) for each platform's image, stored as
//! OCI 1.1 referrers of its manifest: artifact manifests with a `subject` and an
//! `artifactType`, written as blobs of the layout. `index.json` does not list them, so
//! docker, podman and skopeo load and copy the archive as before; `scratchpack sbom`,
//! `provenance` and `push` find them by their subject.
//!
//! Both documents depend only on the build's inputs (the sources by content and by name
//! relative to their root, the toolchain, the rootfs and packages, the canonical
//! command), never on where or when it ran (unless `--provenance-times`), so the archive
//! stays byte for byte reproducible.

pub mod apkdb;
pub mod gobuild;
pub mod slsa;
pub mod sources;
pub mod spdx;

use serde_json::{Value, json};

use crate::digest::Digest;
use crate::image::model::Blob;
use crate::platform::Platform;

pub use apkdb::ApkPackage;
pub use sources::SourceFile;

pub const SPDX_TYPE: &str = "application/spdx+json";
pub const INTOTO_TYPE: &str = "application/vnd.in-toto+json";
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
use crate::layout::doc::OCI_MANIFEST;

/// A tool or archive a build used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Component {
    pub name: String,
    pub version: String,
    /// Where it comes from: a URL, or a package URL (`pkg:pypi/ziglang@0.13.0`).
    pub uri: Option<String>,
    pub purl: Option<String>,
    pub sha256: Option<String>,
}

/// What one platform's build used.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BuildRecord {
    pub toolchain: Option<Component>,
    /// The Alpine root filesystem the build ran in (none with `--no-sandbox`).
    pub rootfs: Option<Component>,
    /// Alpine's release, for package URLs (`3.20.3`).
    pub alpine: String,
    /// Every package of the root the build ran in.
    pub packages: Vec<ApkPackage>,
    /// Packages installed for another platform (`--apk` with `--platform`).
    pub target_packages: Vec<ApkPackage>,
    pub sources: Vec<SourceFile>,
    /// The source walk stopped at its limits.
    pub sources_truncated: bool,
}

/// What the images of one command share.
#[derive(Debug, Clone)]
pub struct Context {
    /// `build` or `package`.
    pub kind: &'static str,
    /// The image's name (`hello:latest`).
    pub reference: String,
    /// The image's date (seconds since the epoch): the SBOM's creation time.
    pub epoch: u64,
    /// The command line, canonical: no output, no host paths, no inputs.
    pub command: Vec<String>,
    /// A build's sources as given, relative to their root (empty for `package`).
    pub inputs: Vec<String>,
    /// The sources' repository and commit, when known.
    pub source: Option<(String, String)>,
    /// Start time, when `--provenance-times` asked for wall-clock times.
    pub started: Option<std::time::SystemTime>,
}

/// The entrypoint binary of an image, as the records name it.
#[derive(Debug, Clone)]
pub struct Binary {
    pub name: String,
    pub sha1: String,
    pub sha256: String,
    /// Its Go build information, for a Go binary.
    pub go: Option<gobuild::GoBuild>,
}

impl Binary {
    pub fn of(name: &str, bytes: &[u8]) -> Binary {
        use sha1::Digest as _;
        Binary {
            name: name.to_string(),
            sha1: sources::hex(&sha1::Sha1::digest(bytes)),
            sha256: sources::hex(&sha2::Sha256::digest(bytes)),
            go: gobuild::read(bytes),
        }
    }
}

/// One platform's image to describe.
pub struct Subject<'a> {
    pub manifest: &'a Digest,
    pub platform: &'a Platform,
    pub binary: &'a Binary,
}

/// The referrers of one image, ready to be written.
pub struct Referrers {
    /// The SBOM, the provenance, their manifests and the empty config.
    pub blobs: Vec<Blob>,
    /// The digests of the SBOM's and the provenance's manifests.
    pub sbom: Digest,
    pub provenance: Digest,
}

/// The referrers of one image: an artifact manifest each for the SBOM and the
/// provenance, with their blobs.
pub fn referrers(
    context: &Context,
    record: Option<&BuildRecord>,
    subject: &Subject,
) -> Result<Referrers, serde_json::Error> {
    let sbom = spdx::document(context, record, subject);
    let provenance = slsa::statement(context, record, subject);
    let empty = Blob::bytes(b"{}".to_vec());
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    for (kind, doc) in [(SPDX_TYPE, sbom), (INTOTO_TYPE, provenance)] {
        let body = Blob::bytes(serde_json::to_vec(&doc)?);
        let manifest = artifact_manifest(kind, &empty.digest, &body.digest, subject, context);
        let manifest = Blob::bytes(serde_json::to_vec(&manifest)?);
        manifests.push(manifest.digest.clone());
        blobs.push(manifest);
        blobs.push(body);
    }
    blobs.push(empty);
    Ok(Referrers {
        blobs,
        provenance: manifests.pop().unwrap_or_else(|| unreachable!()),
        sbom: manifests.pop().unwrap_or_else(|| unreachable!()),
    })
}

fn descriptor(media_type: &str, d: &Digest) -> Value {
    json!({"mediaType": media_type, "digest": d.to_string(), "size": d.size})
}

fn artifact_manifest(
    kind: &str,
    empty: &Digest,
    body: &Digest,
    subject: &Subject,
    context: &Context,
) -> Value {
    let mut config = descriptor(EMPTY_TYPE, empty);
    config["data"] = json!("e30=");
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": kind,
        "config": config,
        "layers": [descriptor(kind, body)],
        "subject": descriptor(OCI_MANIFEST, subject.manifest),
        "annotations": {
            "org.opencontainers.image.created": crate::image::spec::rfc3339(context.epoch),
        },
    })
}

/// Seconds since the epoch of a time (0 before it).
fn seconds(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Percent-encodes what a package URL segment cannot hold as is.
fn purl_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn apk_purl(p: &ApkPackage, alpine: &str) -> String {
    let mut purl = format!(
        "pkg:apk/alpine/{}@{}",
        purl_encode(&p.name).replace('/', "%2F"),
        purl_encode(&p.version)
    );
    let mut qualifiers = Vec::new();
    if !p.arch.is_empty() {
        qualifiers.push(format!("arch={}", purl_encode(&p.arch)));
    }
    if !alpine.is_empty() {
        qualifiers.push(format!("distro=alpine-{}", purl_encode(alpine)));
    }
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

pub fn go_purl(path: &str, version: &str) -> String {
    format!("pkg:golang/{}@{}", purl_encode(path), purl_encode(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_are_encoded() {
        let p = ApkPackage {
            name: "libstdc++".into(),
            version: "13.2.1_git20240309-r0".into(),
            arch: "x86_64".into(),
            license: String::new(),
        };
        assert_eq!(
            apk_purl(&p, "3.20.3"),
            "pkg:apk/alpine/libstdc%2B%2B@13.2.1_git20240309-r0?arch=x86_64&distro=alpine-3.20.3"
        );
        assert_eq!(
            go_purl("github.com/BurntSushi/toml", "v1.3.2"),
            "pkg:golang/github.com/BurntSushi/toml@v1.3.2"
        );
    }
}
