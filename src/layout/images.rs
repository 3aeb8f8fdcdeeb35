//! Which images an archive or layout holds and which layers make each one: every image
//! any client could load from it, so those of the OCI `index.json` (nested indexes
//! followed, attestation and other non-image manifests skipped) and those of docker's
//! `manifest.json` (what `docker load` reads), the same image counted once. Read through
//! [`Documents`], which both readers give: the gate's one-pass reader of any archive and
//! [`super::source::Source`]'s random access, so `inspect`, `run` and `push` agree on
//! what an archive holds. Bounded: each index is read once however often it is
//! referenced, and descriptors and images are capped, so a small hostile index cannot
//! fan out.

use std::collections::HashSet;

use super::doc::{ConfigFile, Descriptor, DockerEntry, Document, REF_NAME, RunConfig};
use super::verify::{blob_name, digest_of_name};
use crate::platform::Platform;

/// Nested indexes followed before giving up.
const MAX_INDEX_DEPTH: usize = 4;
/// Descriptors read over all indexes, and images listed, in one archive.
const MAX_DESCRIPTORS: usize = 16384;
const MAX_IMAGES: usize = 1024;

/// Named access to the documents of an archive or layout.
pub trait Documents {
    /// A small member (at most 4 MiB), verified against `digest` when one is given.
    fn document(&mut self, name: &str, digest: Option<&str>) -> Result<Vec<u8>, String>;
    fn contains(&self, name: &str) -> bool;
}

/// One image of an archive.
#[derive(Debug, Clone)]
pub struct Image {
    pub platform: Option<Platform>,
    /// What a runtime reads of the config to start it.
    pub run: RunConfig,
    pub reference: Option<String>,
    /// The digest of its manifest (OCI images; a docker-archive's have none).
    pub manifest: Option<String>,
    /// Store name of the config.
    pub config: String,
    /// Store names of the layers, bottom first, with the digest to verify if known.
    pub layers: Vec<(String, Option<String>)>,
}

/// Every image of `blobs`.
pub fn list(blobs: &mut dyn Documents) -> Result<Vec<Image>, String> {
    let has_index = blobs.contains("index.json");
    let has_docker = blobs.contains("manifest.json");
    if !has_index && !has_docker {
        if blobs.contains("repositories") {
            return Err(
                "a legacy docker archive (`repositories` without `manifest.json`) is \
                        not judged: save it again with a current docker, podman or skopeo"
                    .into(),
            );
        }
        return Err(
            "neither `index.json` (OCI layout) nor `manifest.json` (docker-archive) found".into(),
        );
    }
    let mut images: Vec<Image> = Vec::new();
    if has_index {
        let index: Document = read_json(blobs, "index.json", None)?;
        let mut walk = Walk::default();
        for d in index.manifests.unwrap_or_default() {
            walk.collect(blobs, d, None, 0, &mut images)?;
        }
    }
    if has_docker {
        let entries: Vec<DockerEntry> = read_json(blobs, "manifest.json", None)?;
        for entry in entries {
            let image = docker_image(blobs, entry)?;
            // The combined format lists its images twice: judged once.
            match images
                .iter_mut()
                .find(|i| i.config == image.config && i.layers == image.layers)
            {
                Some(same) => {
                    if same.reference.is_none() {
                        same.reference = image.reference;
                    }
                }
                None => push_image(&mut images, image)?,
            }
        }
    }
    Ok(images)
}

/// Adds an image, refusing more than [`MAX_IMAGES`] as soon as there are: each costs
/// reading its config and comparing it with the others.
fn push_image(images: &mut Vec<Image>, image: Image) -> Result<(), String> {
    if images.len() >= MAX_IMAGES {
        return Err(format!("more than {MAX_IMAGES} images: too many to judge"));
    }
    images.push(image);
    Ok(())
}

/// The walk through nested indexes: what was read already, how much.
#[derive(Default)]
struct Walk {
    seen: HashSet<String>,
    descriptors: usize,
}

impl Walk {
    fn collect(
        &mut self,
        blobs: &mut dyn Documents,
        desc: Descriptor,
        reference: Option<String>,
        depth: usize,
        images: &mut Vec<Image>,
    ) -> Result<(), String> {
        self.descriptors += 1;
        if self.descriptors > MAX_DESCRIPTORS {
            return Err(format!(
                "more than {MAX_DESCRIPTORS} descriptors in its indexes: too many to judge"
            ));
        }
        // The same manifest or index, reached again, holds nothing new.
        if !self.seen.insert(desc.digest.clone()) {
            return Ok(());
        }
        let reference = desc.annotations.get(REF_NAME).cloned().or(reference);
        let blob = blob_name(&desc.digest)?;
        let doc: Document = read_json(blobs, &blob, Some(&desc.digest))?;
        if let Some(manifests) = doc.manifests {
            if depth >= MAX_INDEX_DEPTH {
                return Err(format!("indexes nested more than {MAX_INDEX_DEPTH} deep"));
            }
            for d in manifests {
                self.collect(blobs, d, reference.clone(), depth + 1, images)?;
            }
            return Ok(());
        }
        let Some(config) = doc.config else {
            return Err(format!("manifest {} has no config", desc.digest));
        };
        // Attestations, signatures and other artifacts are not filesystems.
        if !super::doc::is_image_config(&config.media_type) {
            return Ok(());
        }
        let config_name = blob_name(&config.digest)?;
        let (from_config, run) = read_config(blobs, &config_name, Some(&config.digest))?;
        // The index's platform is what a runtime picks the image by.
        let platform = desc.platform.as_ref().map(|p| p.platform()).or(from_config);
        if platform.as_ref().is_some_and(|p| p.os == "unknown") {
            return Ok(());
        }
        let layers = doc
            .layers
            .into_iter()
            .map(|l| Ok((blob_name(&l.digest)?, Some(l.digest))))
            .collect::<Result<_, String>>()?;
        push_image(
            images,
            Image {
                platform,
                run,
                reference,
                manifest: Some(desc.digest.clone()),
                config: config_name,
                layers,
            },
        )
    }
}

fn docker_image(blobs: &mut dyn Documents, entry: DockerEntry) -> Result<Image, String> {
    let config = member(&entry.config)?;
    let layers = entry
        .layers
        .iter()
        .map(|l| {
            let name = member(l)?;
            // Content-addressed paths (the combined format) can be verified.
            let digest = digest_of_name(&name);
            Ok((name, digest))
        })
        .collect::<Result<_, String>>()?;
    let (platform, run) = read_config(blobs, &config, digest_of_name(&config).as_deref())?;
    Ok(Image {
        manifest: None,
        platform,
        run,
        reference: entry.repo_tags.and_then(|t| t.into_iter().next()),
        config,
        layers,
    })
}

/// The platform an image config names, and what a runtime reads of it to start it.
fn read_config(
    blobs: &mut dyn Documents,
    name: &str,
    digest: Option<&str>,
) -> Result<(Option<Platform>, RunConfig), String> {
    let config: ConfigFile = read_json(blobs, name, digest)?;
    let platform = config.platform();
    Ok((platform, config.config.unwrap_or_default()))
}

fn member(name: &str) -> Result<String, String> {
    super::member_name(name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("bad path `{name}` in manifest.json"))
}

fn read_json<T: serde::de::DeserializeOwned>(
    blobs: &mut dyn Documents,
    name: &str,
    digest: Option<&str>,
) -> Result<T, String> {
    let bytes = blobs.document(name, digest)?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))
}

/// Why no image fits a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickError {
    /// The archive holds no image.
    Empty,
    /// None for the platform wanted; the platforms it has.
    NoPlatform { want: String, have: String },
}

/// The image for `want`, else this machine's platform; the only one when there is one and
/// none was asked for.
pub fn pick<'a>(images: &'a [Image], want: Option<&Platform>) -> Result<&'a Image, PickError> {
    if let ([one], None) = (images, want) {
        return Ok(one);
    }
    let target = want.cloned().or_else(Platform::host);
    let fits = |p: &Platform, t: &Platform| {
        p.os == t.os
            && p.architecture == t.architecture
            && (t.variant.is_none() || p.variant == t.variant)
    };
    let found = images.iter().find(|i| match (&i.platform, &target) {
        (Some(p), Some(t)) => fits(p, t),
        _ => false,
    });
    found.ok_or_else(|| {
        let have: Vec<String> = images
            .iter()
            .filter_map(|i| i.platform.as_ref().map(Platform::to_string))
            .collect();
        if have.is_empty() {
            return PickError::Empty;
        }
        PickError::NoPlatform {
            want: target.map(|t| t.to_string()).unwrap_or_default(),
            have: have.join(", "),
        }
    })
}
