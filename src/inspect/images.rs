//! Which images an archive holds and which layers make each one: every image any client
//! could load from it, so those of the OCI `index.json` (nested indexes followed,
//! attestation and other non-image manifests skipped) and those of docker's
//! `manifest.json` (what `docker load` reads), the same image counted once. Parsing is
//! tolerant of fields it does not use, strict about the names it turns into blob paths,
//! and bounded: each index is read once however often it is referenced, and the number
//! of descriptors and images is capped, so a small hostile index cannot fan out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use super::blobs::{Blobs, member_name};
use super::layers::Budget;
use super::start::{self, RunConfig};
use super::unpack;
use super::verify::{blob_name, digest_of_name};
use super::{Finding, ImageOrigin, Outcome};
use crate::platform::Platform;

/// Nested indexes followed before giving up.
const MAX_INDEX_DEPTH: usize = 4;
/// Descriptors read over all indexes, and images judged, in one archive.
const MAX_DESCRIPTORS: usize = 16384;
const MAX_IMAGES: usize = 1024;
/// Findings reported for one archive (files over all its images): the report is held in
/// memory, and images sharing a layer each repeat its files.
const MAX_FINDINGS: usize = 1 << 17;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image of an archive, ready to be scanned.
pub(super) struct Image {
    pub platform: Option<Platform>,
    /// What a runtime reads of the config to start it.
    pub run: RunConfig,
    pub reference: Option<String>,
    /// Store name of the config.
    pub config: String,
    /// Store names of the layers, bottom first, with the digest to verify if known.
    pub layers: Vec<(String, Option<String>)>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct DescriptorPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct IndexOrManifest {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Inspects every image of `blobs`; file paths are shown as `ARCHIVE[:label]:/path`.
pub(super) fn inspect_blobs(
    blobs: &mut dyn Blobs,
    archive: &str,
    budget: &Budget,
) -> Result<Vec<Finding>, String> {
    let images = list(blobs)?;
    let labels = labels(&images);
    let mut findings = Vec::new();
    for (image, label) in images.iter().zip(labels) {
        let prefix = match &label {
            Some(label) => format!("{archive}[{label}]"),
            None => archive.to_string(),
        };
        let scans = image
            .layers
            .iter()
            .map(|(name, digest)| blobs.layer(name, digest.as_deref(), budget))
            .collect::<Result<Vec<_>, String>>()?;
        let (visible, problems, fs) = unpack::replay(&scans, budget)?;
        let start = start::check(&image.run, image.platform.as_ref(), &fs);
        drop(fs);
        if findings.len() + visible.len() + problems.len() > MAX_FINDINGS {
            return Err(format!(
                "more than {MAX_FINDINGS} files to report over its images: too many to judge"
            ));
        }
        let origin = |file: String| ImageOrigin {
            archive: archive.to_string(),
            file,
            platform: image.platform.as_ref().map(Platform::to_string),
            reference: image.reference.clone(),
        };
        for (name, reason) in problems {
            let shown = String::from_utf8_lossy(&name).into_owned();
            findings.push(Finding {
                path: format!("{prefix}:{shown}"),
                image: Some(origin(shown)),
                outcome: Outcome::Invalid(reason),
            });
        }
        for problem in start {
            // An absolute path in the image, or the program's name as the config gives it.
            let file = problem.file.clone();
            findings.push(Finding {
                path: format!("{prefix}:{file}"),
                image: Some(origin(file)),
                outcome: Outcome::Start(problem),
            });
        }
        for (path, outcome) in visible {
            let file = format!("/{}", String::from_utf8_lossy(&path));
            findings.push(Finding {
                path: format!("{prefix}:{file}"),
                image: Some(origin(file)),
                outcome: Arc::unwrap_or_clone(outcome),
            });
        }
    }
    Ok(findings)
}

/// A label per image when there are several: the platform, else the reference, else
/// the position.
fn labels(images: &[Image]) -> Vec<Option<String>> {
    if images.len() < 2 {
        return vec![None; images.len()];
    }
    let mut platforms: HashMap<String, usize> = HashMap::new();
    for image in images {
        if let Some(p) = &image.platform {
            *platforms.entry(p.to_string()).or_default() += 1;
        }
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let platform = image.platform.as_ref().map(Platform::to_string);
            Some(match (platform, &image.reference) {
                (Some(p), _) if platforms[&p] == 1 => p,
                (Some(p), Some(r)) => format!("{p} {r}"),
                (None, Some(r)) => r.clone(),
                (Some(p), None) => format!("{p} #{}", i + 1),
                (None, None) => format!("#{}", i + 1),
            })
        })
        .collect()
}

fn list(blobs: &mut dyn Blobs) -> Result<Vec<Image>, String> {
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
        let index: IndexOrManifest = read_json(blobs, "index.json", None)?;
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
        blobs: &mut dyn Blobs,
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
        let doc: IndexOrManifest = read_json(blobs, &blob, Some(&desc.digest))?;
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
        let is_image_config = config.media_type.is_empty()
            || config.media_type.ends_with("container.image.v1+json")
            || config.media_type == "application/vnd.oci.image.config.v1+json";
        if !is_image_config {
            return Ok(());
        }
        let config_name = blob_name(&config.digest)?;
        let (from_config, run) = read_config(blobs, &config_name, Some(&config.digest))?;
        // The index's platform is what a runtime picks the image by.
        let platform = match desc.platform {
            Some(p) => Some(Platform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant,
            }),
            None => from_config,
        };
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
                config: config_name,
                layers,
            },
        )
    }
}

fn docker_image(blobs: &mut dyn Blobs, entry: DockerEntry) -> Result<Image, String> {
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
        platform,
        run,
        reference: entry.repo_tags.and_then(|t| t.into_iter().next()),
        config,
        layers,
    })
}

/// The platform an image config names, and what a runtime reads of it to start it.
fn read_config(
    blobs: &mut dyn Blobs,
    name: &str,
    digest: Option<&str>,
) -> Result<(Option<Platform>, RunConfig), String> {
    #[derive(Deserialize)]
    struct Config {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
        #[serde(default)]
        config: Option<RunConfig>,
    }
    let config: Config = read_json(blobs, name, digest)?;
    let platform = match (config.os, config.architecture) {
        (Some(os), Some(architecture)) => Some(Platform {
            os,
            architecture,
            variant: config.variant,
        }),
        _ => None,
    };
    Ok((platform, config.config.unwrap_or_default()))
}

fn member(name: &str) -> Result<String, String> {
    member_name(name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("bad path `{name}` in manifest.json"))
}

fn read_json<T: serde::de::DeserializeOwned>(
    blobs: &mut dyn Blobs,
    name: &str,
    digest: Option<&str>,
) -> Result<T, String> {
    let bytes = blobs.document(name, digest)?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_only_when_several() {
        let image = |arch: &str, r: Option<&str>| Image {
            platform: Some(Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: None,
            }),
            run: RunConfig::default(),
            reference: r.map(str::to_string),
            config: String::new(),
            layers: vec![],
        };
        assert_eq!(labels(&[image("amd64", None)]), vec![None]);
        let l = labels(&[image("amd64", None), image("arm64", None)]);
        assert_eq!(
            l,
            vec![Some("linux/amd64".into()), Some("linux/arm64".into())]
        );
        let l = labels(&[image("amd64", Some("a:1")), image("amd64", Some("b:1"))]);
        assert_eq!(
            l,
            vec![
                Some("linux/amd64 a:1".into()),
                Some("linux/amd64 b:1".into())
            ]
        );
    }
}
