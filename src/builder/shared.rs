//! The build cache shared through a registry (`--cache-from`, `--cache-to`,
//! `SCRATCHPACK_CACHE_REPO`): an entry of [`super::reuse`] as an OCI artifact under the
//! tag `build-KEY` of the cache repository, so every runner reuses what any runner built;
//! and a toolchain's own caches (zig's libc builds, Go's build cache) under
//! `tools-NAME-DIGEST`, so a runner's first compile is warm too (pushed again when a
//! runner's caches have grown well past the registry's copy: a new target's libc, say).
//! Artifacts are image
//! manifests (`artifactType` `application/vnd.scratchpack.build.v1` or `.tools.v1`, the
//! empty config) whose layers are the files; they are pushed with `push`'s own code (same
//! auth, retries, skipped blobs) and fetched blob by blob, each checked against its digest
//! and bounded in size. A registry that cannot be reached or refuses never fails a build:
//! the caller warns once and builds.
//!
//! Trust: whoever may push to the cache repository decides what its entries hold, as with
//! any shared build cache; the binaries still pass the inspector before they are
//! packaged, and toolchain caches are extracted with the rootfs extractor's refusals.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::digest::Digest;
use crate::layout::doc::{Document, OCI_MANIFEST};
use crate::plan::PushTo;
use crate::registry::client::{Body, Client};
use crate::registry::{self, RegistryError};
use crate::ui::Ui;

const BUILD_ARTIFACT: &str = "application/vnd.scratchpack.build.v1";
const TOOLS_ARTIFACT: &str = "application/vnd.scratchpack.tools.v1";
const ENTRY_TYPE: &str = "application/vnd.scratchpack.build.entry.v1+json";
const FILE_TYPE: &str = "application/octet-stream";
const TOOLS_TYPE: &str = "application/vnd.scratchpack.tools.v1.tar+gzip";
/// Largest binary, and largest toolchain cache, fetched.
const MAX_FILE: u64 = 4 << 30;
const MAX_ENTRY: u64 = 64 << 20;
/// Binaries of one build fetched at most.
const MAX_FILES: usize = 256;
/// Largest toolchain cache pushed (uncompressed).
const MAX_TOOLS_PUSHED: u64 = 2 << 30;
/// Annotation of a toolchain caches artifact: the bytes of the folder it packs.
const TOOLS_BYTES: &str = "org.scratchpack.tools.bytes";
/// Growth past the registry's copy that makes a runner push its caches again: a quarter
/// more, and at least this many bytes.
const TOOLS_GROWTH: u64 = 16 << 20;

fn tag(key: &str) -> String {
    format!("build-{key}")
}

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

fn failed(to: &PushTo, step: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unreachable {
        registry: to.target.registry.clone(),
        step: step.to_string(),
        reason: e.to_string(),
    }
}

/// The cache repository's client, for the artifact `tag`.
fn connect(to: &PushTo, tag: &str) -> Result<(Client, registry::Target), RegistryError> {
    let mut target = to.target.clone();
    target.tag = Some(tag.to_string());
    target.digest = None;
    let creds = registry::auth::find(&target.registry, &to.auth).map_err(|why| {
        RegistryError::Credentials {
            registry: target.registry.clone(),
            why,
        }
    })?;
    let client = Client::connect(&target, &to.options, creds, Vec::new())?;
    Ok((client, target))
}

/// The artifact manifest under `tag` if it is of `artifact_type`; `None` when the
/// registry has no such thing.
fn artifact(
    client: &Client,
    tag: &str,
    artifact_type: &str,
) -> Result<Option<Document>, RegistryError> {
    let step = format!("looking for {tag}");
    let reply = client.send(
        &step,
        "GET",
        &client.url(&format!("manifests/{tag}")),
        &[("Accept", OCI_MANIFEST.to_string())],
        &Body::Empty,
    )?;
    match reply.status {
        200 => {}
        404 => return Ok(None),
        _ => return Err(client.rejected(&step, &reply)),
    }
    let doc: Document =
        serde_json::from_slice(&reply.body).map_err(|e| RegistryError::Corrupt {
            digest: tag.to_string(),
            why: format!("not a manifest: {e}"),
        })?;
    Ok((doc.artifact_type == artifact_type).then_some(doc))
}

/// Pushes the files `layers` (media type, path) as an artifact under `tag`, with the
/// manifest's `annotations`.
fn push_artifact(
    to: &PushTo,
    tag: &str,
    artifact_type: &str,
    layers: &[(&str, PathBuf)],
    annotations: &[(&str, String)],
    ui: &Ui,
) -> Result<(), RegistryError> {
    let step = "preparing the artifact to push";
    let parent = to.cache.dir("builds").map_err(|e| failed(to, step, e))?;
    let layout = crate::atomic::scratch_dir(&parent, ".push-").map_err(|e| failed(to, step, e))?;
    let write = || -> std::io::Result<()> {
        let blobs = layout.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        let mut descriptors = Vec::new();
        for (media_type, path) in layers {
            let mut writer = crate::digest::HashWriter::new(std::io::sink());
            std::io::copy(&mut std::fs::File::open(path)?, &mut writer)?;
            let d = writer.finish().1;
            let blob = blobs.join(&d.hex);
            if std::fs::hard_link(path, &blob).is_err() {
                std::fs::copy(path, &blob)?;
            }
            descriptors
                .push(json!({"mediaType": media_type, "digest": d.to_string(), "size": d.size}));
        }
        let empty = Digest::of(b"{}");
        std::fs::write(blobs.join(&empty.hex), b"{}")?;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2, "data": "e30="},
            "layers": descriptors,
        });
        if !annotations.is_empty() {
            manifest["annotations"] = annotations
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        let manifest = serde_json::to_vec(&manifest)?;
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
        )
    };
    write().map_err(|e| failed(to, step, e))?;
    let (_, target) = connect(to, tag)?;
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

/// Fetches the entry `key` into the directory `into` (`entry.json`, `files/N`); `false`
/// when the registry has none.
pub fn pull(from: &PushTo, key: &str, into: &Path) -> Result<bool, RegistryError> {
    let (client, _) = connect(from, &tag(key))?;
    let Some(doc) = artifact(&client, &tag(key), BUILD_ARTIFACT)? else {
        return Ok(false);
    };
    if doc.layers.first().map(|l| l.media_type.as_str()) != Some(ENTRY_TYPE) {
        return Ok(false);
    }
    // A build has a handful of binaries: a hostile registry cannot make this one fill
    // the disk.
    let total: u64 = doc
        .layers
        .iter()
        .map(|l| l.size)
        .fold(0, u64::saturating_add);
    if doc.layers.len() > MAX_FILES + 1 || total > MAX_FILE {
        return Err(RegistryError::Corrupt {
            digest: tag(key),
            why: format!(
                "{} files, {total} bytes: more than a build holds",
                doc.layers.len() - 1
            ),
        });
    }
    let step = "writing the fetched build into the cache";
    std::fs::create_dir_all(into.join("files")).map_err(|e| failed(from, step, e))?;
    for (i, layer) in doc.layers.iter().enumerate() {
        let (path, max) = match i {
            0 => (into.join("entry.json"), MAX_ENTRY),
            n => (into.join("files").join((n - 1).to_string()), MAX_FILE),
        };
        let mut file = std::fs::File::create(&path).map_err(|e| failed(from, step, e))?;
        client.download(&layer.digest, max.min(layer.size), &mut file)?;
    }
    Ok(true)
}

/// Pushes the entry in `dir` under `build-KEY`.
pub fn push(to: &PushTo, key: &str, dir: &Path, ui: &Ui) -> Result<(), RegistryError> {
    let mut layers = vec![(ENTRY_TYPE, dir.join("entry.json"))];
    let mut i = 0;
    while dir.join("files").join(i.to_string()).is_file() {
        layers.push((FILE_TYPE, dir.join("files").join(i.to_string())));
        i += 1;
    }
    push_artifact(to, &tag(key), BUILD_ARTIFACT, &layers, &[], ui)
}

/// Fetches a toolchain's caches into `dir` (the toolchain's `tools/NAME` folder, still
/// empty): each cache folder goes in whole where the local one is empty. `false` when
/// the registry has none.
pub fn pull_tools(from: &PushTo, tag: &str, dir: &Path) -> Result<bool, RegistryError> {
    let (client, _) = connect(from, tag)?;
    let Some(doc) = artifact(&client, tag, TOOLS_ARTIFACT)? else {
        return Ok(false);
    };
    let Some(layer) = doc.layers.first().filter(|l| l.media_type == TOOLS_TYPE) else {
        return Ok(false);
    };
    let step = "unpacking the fetched toolchain caches";
    let parent = dir.parent().unwrap_or(dir);
    let (mut file, _temp) =
        crate::atomic::scratch_file(parent).map_err(|e| failed(from, step, e))?;
    client.download(&layer.digest, MAX_FILE.min(layer.size), &mut file)?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| failed(from, step, e))?;
    let staging =
        crate::atomic::scratch_dir(parent, ".tools-").map_err(|e| failed(from, step, e))?;
    crate::rootfs::extract::extract(flate2::read::GzDecoder::new(file), staging.path()).map_err(
        |e| RegistryError::Corrupt {
            digest: layer.digest.clone(),
            why: e.to_string(),
        },
    )?;
    for entry in std::fs::read_dir(staging.path())
        .map_err(|e| failed(from, step, e))?
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

/// [`pull_tools`] for a build about to compile with the toolchain `name`: said when
/// fetched, a failure warned about once (the build goes on).
pub fn fetch_tools(from: &PushTo, tag: &str, name: &str, dir: &Path, ui: &Ui) {
    match pull_tools(from, tag, dir) {
        Ok(true) => ui.note(&format!(
            "build cache: {name}'s caches fetched from {}",
            from.target
        )),
        Ok(false) => {}
        Err(e) => super::reuse::warn_once(ui, &format!("cannot fetch from {}", from.target), &e),
    }
}

/// [`push_tools`] after a build with the toolchain `name`: said with `-v`, a failure
/// warned about once.
pub fn share_tools(to: &PushTo, tag: &str, name: &str, dir: &Path, ui: &Ui) {
    match push_tools(to, tag, dir, ui) {
        Ok(true) if ui.is_verbose() => {
            ui.note(&format!("build cache: pushed {name}'s caches as {tag}"))
        }
        Ok(_) => {}
        Err(e) => super::reuse::warn_once(ui, &format!("cannot push to {}", to.target), &e),
    }
}

/// Pushes a toolchain's caches (`dir`: its `tools/NAME` folder) under `tag` when the
/// registry has none, or a copy they have outgrown (see [`worth_pushing`]); never past
/// 2 GiB: they seed other runners' first builds. Whether they were sent.
pub fn push_tools(to: &PushTo, tag: &str, dir: &Path, ui: &Ui) -> Result<bool, RegistryError> {
    let (client, _) = connect(to, tag)?;
    let pushed = artifact(&client, tag, TOOLS_ARTIFACT)?.map(|doc| pushed_bytes(&doc));
    let local = crate::cache::Cache::size_of(dir);
    if !worth_pushing(pushed, local) {
        return Ok(false);
    }
    let step = "packing the toolchain caches";
    let parent = to.cache.dir("builds").map_err(|e| failed(to, step, e))?;
    let (file, temp) = crate::atomic::scratch_file(&parent).map_err(|e| failed(to, step, e))?;
    let pack = || -> std::io::Result<()> {
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.append_dir_all(".", dir)?;
        tar.into_inner()?.finish()?;
        Ok(())
    };
    pack().map_err(|e| failed(to, step, e))?;
    push_artifact(
        to,
        tag,
        TOOLS_ARTIFACT,
        &[(TOOLS_TYPE, temp.path().to_path_buf())],
        &[(TOOLS_BYTES, local.to_string())],
        ui,
    )?;
    Ok(true)
}

/// The bytes of the folder a toolchain caches artifact packs (0 when it does not say:
/// pushed by an older scratchpack).
fn pushed_bytes(doc: &Document) -> u64 {
    doc.annotations
        .get(TOOLS_BYTES)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether caches of `local` bytes are worth pushing over the registry's copy of
/// `pushed` bytes (`None`: it has none): always when it has none, else once they have
/// grown by a quarter and by 16 MiB; never past 2 GiB.
fn worth_pushing(pushed: Option<u64>, local: u64) -> bool {
    if local > MAX_TOOLS_PUSHED {
        return false;
    }
    match pushed {
        None => true,
        Some(p) => local > p.saturating_add(p / 4) && local - p >= TOOLS_GROWTH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_caches_are_pushed_again_once_they_have_grown() {
        const M: u64 = 1 << 20;
        assert!(worth_pushing(None, 10 * M), "the registry has none");
        assert!(!worth_pushing(Some(400 * M), 400 * M), "unchanged");
        assert!(
            !worth_pushing(Some(400 * M), 490 * M),
            "under a quarter more"
        );
        assert!(worth_pushing(Some(400 * M), 510 * M), "a new target's libc");
        assert!(
            !worth_pushing(Some(8 * M), 20 * M),
            "a quarter more, under 16 MiB"
        );
        assert!(
            worth_pushing(Some(0), 20 * M),
            "an older copy that does not say"
        );
        assert!(
            !worth_pushing(None, MAX_TOOLS_PUSHED + 1),
            "too large to share"
        );

        let doc: Document = serde_json::from_value(json!({
            "schemaVersion": 2,
            "annotations": {TOOLS_BYTES: "12345"},
        }))
        .unwrap();
        assert_eq!(pushed_bytes(&doc), 12345);
        let doc: Document = serde_json::from_value(json!({"schemaVersion": 2})).unwrap();
        assert_eq!(pushed_bytes(&doc), 0);
        // A registry's copy that says something else than a size: taken as an old copy.
        let doc: Document = serde_json::from_value(json!({
            "schemaVersion": 2,
            "annotations": {TOOLS_BYTES: "-1; rm -rf /"},
        }))
        .unwrap();
        assert_eq!(pushed_bytes(&doc), 0);
    }
}
