//! The build cache shared through a registry (`--cache-from`, `--cache-to`,
//! `SCRATCHPACK_CACHE_REPO`): an entry of [`super::reuse`] as an OCI artifact under the
//! tag `build-KEY` of the cache repository, so every runner reuses what any runner built.
//! The artifact is an image manifest (`artifactType`
//! `application/vnd.scratchpack.build.v1`, the empty config) whose layers are the entry's
//! `entry.json` then its binaries; it is pushed with `push`'s own code (same auth,
//! retries, skipped blobs) and fetched blob by blob, each checked against its digest. A
//! registry that cannot be reached or refuses never fails a build: the caller warns once
//! and builds.
//!
//! Trust: whoever may push to the cache repository decides what its entries hold, as with
//! any shared build cache; the binaries still pass the inspector before they are
//! packaged.

use std::path::Path;

use serde_json::json;

use crate::digest::Digest;
use crate::layout::doc::{Document, OCI_MANIFEST};
use crate::plan::PushTo;
use crate::registry::{self, RegistryError, client::Body};
use crate::ui::Ui;

pub const ARTIFACT: &str = "application/vnd.scratchpack.build.v1";
const ENTRY_TYPE: &str = "application/vnd.scratchpack.build.entry.v1+json";
const FILE_TYPE: &str = "application/octet-stream";
/// Largest binary fetched.
const MAX_FILE: u64 = 4 << 30;
const MAX_ENTRY: u64 = 64 << 20;

fn tag(key: &str) -> String {
    format!("build-{key}")
}

fn target(to: &PushTo, key: &str) -> registry::Target {
    let mut target = to.target.clone();
    target.tag = Some(tag(key));
    target.digest = None;
    target
}

/// Fetches the entry `key` into the directory `into` (`entry.json`, `files/N`); `false`
/// when the registry has none.
pub fn pull(from: &PushTo, key: &str, into: &Path) -> Result<bool, RegistryError> {
    let target = target(from, key);
    let creds = registry::auth::find(&target.registry, &from.auth).map_err(|why| {
        RegistryError::Credentials {
            registry: target.registry.clone(),
            why,
        }
    })?;
    let client = registry::client::Client::connect(&target, &from.options, creds, Vec::new())?;
    let step = format!("looking for the build {}", tag(key));
    let reply = client.send(
        &step,
        "GET",
        &client.url(&format!("manifests/{}", tag(key))),
        &[("Accept", OCI_MANIFEST.to_string())],
        &Body::Empty,
    )?;
    match reply.status {
        200 => {}
        404 => return Ok(false),
        _ => return Err(client.rejected(&step, &reply)),
    }
    let doc: Document =
        serde_json::from_slice(&reply.body).map_err(|e| RegistryError::Corrupt {
            digest: tag(key),
            why: format!("not a manifest: {e}"),
        })?;
    if doc.artifact_type != ARTIFACT
        || doc.layers.first().map(|l| l.media_type.as_str()) != Some(ENTRY_TYPE)
    {
        return Ok(false);
    }
    std::fs::create_dir_all(into.join("files")).map_err(|e| io_err(&client, e))?;
    for (i, layer) in doc.layers.iter().enumerate() {
        let (path, max) = match i {
            0 => (into.join("entry.json"), MAX_ENTRY),
            n => (into.join("files").join((n - 1).to_string()), MAX_FILE),
        };
        let mut file = std::fs::File::create(&path).map_err(|e| io_err(&client, e))?;
        client.download(&layer.digest, max.min(layer.size), &mut file)?;
    }
    Ok(true)
}

fn io_err(client: &registry::client::Client, e: std::io::Error) -> RegistryError {
    RegistryError::Unreachable {
        registry: client.target.registry.clone(),
        step: "writing the fetched build into the cache".into(),
        reason: e.to_string(),
    }
}

/// Pushes the entry in `dir` under `build-KEY`.
pub fn push(to: &PushTo, key: &str, dir: &Path, ui: &Ui) -> Result<(), RegistryError> {
    let layout = crate::atomic::scratch_dir(
        &to.cache
            .dir("builds")
            .map_err(|e| RegistryError::Unreachable {
                registry: to.target.registry.clone(),
                step: "preparing the build to push".into(),
                reason: e.to_string(),
            })?,
        ".push-",
    )
    .map_err(|e| RegistryError::Unreachable {
        registry: to.target.registry.clone(),
        step: "preparing the build to push".into(),
        reason: e.to_string(),
    })?;
    let write = || -> std::io::Result<()> {
        let blobs = layout.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        let put = |bytes_of: &Path| -> std::io::Result<Digest> {
            let bytes = std::fs::read(bytes_of)?;
            let d = Digest::of(&bytes);
            std::fs::write(blobs.join(&d.hex), &bytes)?;
            Ok(d)
        };
        let mut layers = vec![(ENTRY_TYPE, put(&dir.join("entry.json"))?)];
        let mut i = 0;
        while dir.join("files").join(i.to_string()).is_file() {
            layers.push((FILE_TYPE, put(&dir.join("files").join(i.to_string()))?));
            i += 1;
        }
        let empty = Digest::of(b"{}");
        std::fs::write(blobs.join(&empty.hex), b"{}")?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2, "data": "e30="},
            "layers": layers.iter().map(|(t, d)| json!({"mediaType": t, "digest": d.to_string(), "size": d.size})).collect::<Vec<_>>(),
        }))?;
        let m = Digest::of(&manifest);
        std::fs::write(blobs.join(&m.hex), &manifest)?;
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": m.to_string(), "size": m.size}],
        }))?;
        std::fs::write(layout.path().join("index.json"), index)?;
        std::fs::write(
            layout.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        Ok(())
    };
    write().map_err(|e| RegistryError::Unreachable {
        registry: to.target.registry.clone(),
        step: "preparing the build to push".into(),
        reason: e.to_string(),
    })?;
    let target = target(to, key);
    registry::push(
        layout.path(),
        &target,
        &to.options,
        &to.auth,
        &to.cache,
        &ui.quieter(),
    )?;
    Ok(())
}

const TOOLS_TYPE: &str = "application/vnd.scratchpack.tools.v1.tar+gzip";
/// Largest toolchain cache fetched, compressed and extracted.
const MAX_TOOLS: u64 = 4 << 30;
/// Largest toolchain cache pushed (uncompressed).
const MAX_TOOLS_PUSHED: u64 = 2 << 30;

/// The tag of a toolchain's caches for one tool: `tools-NAME-DIGEST`.
pub fn tools_tag(toolchain: &str, identity: &str) -> String {
    let name: String = toolchain
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    format!(
        "tools-{name}-{}",
        &Digest::of(identity.as_bytes()).hex[..32]
    )
}

/// Fetches a toolchain's caches (zig's libc builds, Go's build cache) into `dir` (the
/// toolchain's `tools/NAME` folder, empty); `false` when the registry has none.
pub fn pull_tools(from: &PushTo, tag: &str, dir: &Path) -> Result<bool, RegistryError> {
    let mut target = from.target.clone();
    target.tag = Some(tag.to_string());
    target.digest = None;
    let creds = registry::auth::find(&target.registry, &from.auth).map_err(|why| {
        RegistryError::Credentials {
            registry: target.registry.clone(),
            why,
        }
    })?;
    let client = registry::client::Client::connect(&target, &from.options, creds, Vec::new())?;
    let step = format!("looking for the toolchain caches {tag}");
    let reply = client.send(
        &step,
        "GET",
        &client.url(&format!("manifests/{tag}")),
        &[("Accept", OCI_MANIFEST.to_string())],
        &Body::Empty,
    )?;
    match reply.status {
        200 => {}
        404 => return Ok(false),
        _ => return Err(client.rejected(&step, &reply)),
    }
    let doc: Document =
        serde_json::from_slice(&reply.body).map_err(|e| RegistryError::Corrupt {
            digest: tag.to_string(),
            why: format!("not a manifest: {e}"),
        })?;
    let Some(layer) = doc.layers.first().filter(|l| l.media_type == TOOLS_TYPE) else {
        return Ok(false);
    };
    let parent = dir.parent().unwrap_or(dir);
    let (mut file, temp) =
        crate::atomic::scratch_file(parent).map_err(|e| io_err(&client, e.source))?;
    client.download(&layer.digest, MAX_TOOLS.min(layer.size), &mut file)?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| io_err(&client, e))?;
    let staging =
        crate::atomic::scratch_dir(parent, ".tools-").map_err(|e| io_err(&client, e.source))?;
    crate::rootfs::extract::extract(flate2::read::GzDecoder::new(file), staging.path()).map_err(
        |e| RegistryError::Corrupt {
            digest: layer.digest.clone(),
            why: e.to_string(),
        },
    )?;
    drop(temp);
    // Each cache folder goes in whole, where the local one is still empty.
    for entry in std::fs::read_dir(staging.path())
        .map_err(|e| io_err(&client, e))?
        .flatten()
    {
        let local = dir.join(entry.file_name());
        let empty = std::fs::read_dir(&local).map_or(true, |mut d| d.next().is_none());
        if empty {
            let _ = std::fs::remove_dir(&local);
            let _ = std::fs::rename(entry.path(), &local);
        }
    }
    Ok(true)
}

/// Pushes a toolchain's caches (`dir`: its `tools/NAME` folder) under `tag`, unless the
/// registry has them already: they seed other runners' first builds.
pub fn push_tools(to: &PushTo, tag: &str, dir: &Path, ui: &Ui) -> Result<bool, RegistryError> {
    let mut target = to.target.clone();
    target.tag = Some(tag.to_string());
    target.digest = None;
    let failed = |step: &str, e: std::io::Error| RegistryError::Unreachable {
        registry: to.target.registry.clone(),
        step: step.to_string(),
        reason: e.to_string(),
    };
    let creds = registry::auth::find(&target.registry, &to.auth).map_err(|why| {
        RegistryError::Credentials {
            registry: target.registry.clone(),
            why,
        }
    })?;
    let client = registry::client::Client::connect(&target, &to.options, creds, Vec::new())?;
    let step = format!("checking the toolchain caches {tag}");
    let reply = client.send(
        &step,
        "HEAD",
        &client.url(&format!("manifests/{tag}")),
        &[("Accept", OCI_MANIFEST.to_string())],
        &Body::Empty,
    )?;
    // There already, or too large to be worth sending on every runner's first build.
    if reply.status == 200 || crate::cache::Cache::size_of(dir) > MAX_TOOLS_PUSHED {
        return Ok(false);
    }
    let builds = to
        .cache
        .dir("builds")
        .map_err(|e| failed("preparing the toolchain caches", std::io::Error::other(e)))?;
    let layout = crate::atomic::scratch_dir(&builds, ".push-")
        .map_err(|e| failed("preparing the toolchain caches", e.source))?;
    let blobs = layout.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| failed("preparing the toolchain caches", e))?;
    let packed = layout.path().join("layer");
    let pack = || -> std::io::Result<Digest> {
        let file = std::fs::File::create(&packed)?;
        let hashing = crate::digest::HashWriter::new(file);
        let gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.append_dir_all(".", dir)?;
        let (_, digest) = tar.into_inner()?.finish()?.finish();
        std::fs::rename(&packed, blobs.join(&digest.hex))?;
        Ok(digest)
    };
    let layer = pack().map_err(|e| failed("packing the toolchain caches", e))?;
    let empty = Digest::of(b"{}");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.scratchpack.tools.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2, "data": "e30="},
        "layers": [{"mediaType": TOOLS_TYPE, "digest": layer.to_string(), "size": layer.size}],
    }))
    .unwrap_or_default();
    let m = Digest::of(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": m.to_string(), "size": m.size}],
    }))
    .unwrap_or_default();
    let write = || -> std::io::Result<()> {
        std::fs::write(blobs.join(&empty.hex), b"{}")?;
        std::fs::write(blobs.join(&m.hex), &manifest)?;
        std::fs::write(layout.path().join("index.json"), index)?;
        std::fs::write(
            layout.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
    };
    write().map_err(|e| failed("preparing the toolchain caches", e))?;
    registry::push(
        layout.path(),
        &target,
        &to.options,
        &to.auth,
        &to.cache,
        &ui.quieter(),
    )?;
    Ok(true)
}
