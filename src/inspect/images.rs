//! Which images an archive holds and which layers make each one. An OCI `index.json`
//! wins (nested indexes followed, attestation and other non-image manifests skipped);
//! otherwise docker's `manifest.json`. Parsing is deliberately tolerant of fields it does
//! not use, strict about the names it turns into blob paths.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde::Deserialize;

use super::store::{Store, normalize};
use super::{Finding, ImageOrigin, layers};
use crate::platform::Platform;

/// Nested indexes followed before giving up.
const MAX_INDEX_DEPTH: usize = 4;
/// Largest JSON document read (manifests and configs are a few KiB).
const MAX_JSON: u64 = 16 << 20;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image of an archive, ready to be scanned.
pub(super) struct Image {
    pub platform: Option<Platform>,
    pub reference: Option<String>,
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

/// Inspects every image of `store`; file paths are shown as `ARCHIVE[:label]:/path`.
pub(super) fn inspect_store(store: &dyn Store, archive: &str) -> Result<Vec<Finding>, String> {
    let images = list(store)?;
    let labels = labels(&images);
    let mut findings = Vec::new();
    for (image, label) in images.iter().zip(labels) {
        let prefix = match &label {
            Some(label) => format!("{archive}[{label}]"),
            None => archive.to_string(),
        };
        for (file, outcome) in layers::scan(store, &image.layers)? {
            findings.push(Finding {
                path: format!("{prefix}:/{file}"),
                image: Some(ImageOrigin {
                    archive: archive.to_string(),
                    file: format!("/{file}"),
                    platform: image.platform.as_ref().map(Platform::to_string),
                    reference: image.reference.clone(),
                }),
                outcome,
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

fn list(store: &dyn Store) -> Result<Vec<Image>, String> {
    if store.contains("index.json") {
        let index: IndexOrManifest = read_json(store, "index.json")?;
        let mut images = Vec::new();
        for d in index.manifests.unwrap_or_default() {
            collect_oci(store, d, None, 0, &mut images)?;
        }
        Ok(images)
    } else if store.contains("manifest.json") {
        let entries: Vec<DockerEntry> = read_json(store, "manifest.json")?;
        entries
            .into_iter()
            .map(|e| docker_image(store, e))
            .collect()
    } else {
        Err("neither `index.json` (OCI layout) nor `manifest.json` (docker-archive) found".into())
    }
}

fn collect_oci(
    store: &dyn Store,
    desc: Descriptor,
    reference: Option<String>,
    depth: usize,
    images: &mut Vec<Image>,
) -> Result<(), String> {
    let reference = desc.annotations.get(REF_NAME).cloned().or(reference);
    let blob = blob_name(&desc.digest)?;
    let doc: IndexOrManifest = read_json(store, &blob)?;
    if let Some(manifests) = doc.manifests {
        if depth >= MAX_INDEX_DEPTH {
            return Err(format!("indexes nested more than {MAX_INDEX_DEPTH} deep"));
        }
        for d in manifests {
            collect_oci(store, d, reference.clone(), depth + 1, images)?;
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
    let platform = match desc.platform {
        Some(p) => Some(Platform {
            os: p.os,
            architecture: p.architecture,
            variant: p.variant,
        }),
        None => config_platform(store, &blob_name(&config.digest)?)?,
    };
    if platform.as_ref().is_some_and(|p| p.os == "unknown") {
        return Ok(());
    }
    let layers = doc
        .layers
        .into_iter()
        .map(|l| Ok((blob_name(&l.digest)?, Some(l.digest))))
        .collect::<Result<_, String>>()?;
    images.push(Image {
        platform,
        reference,
        layers,
    });
    Ok(())
}

fn docker_image(store: &dyn Store, entry: DockerEntry) -> Result<Image, String> {
    let config = member_name(&entry.config)?;
    let layers = entry
        .layers
        .iter()
        .map(|l| {
            let name = member_name(l)?;
            // Content-addressed paths (the combined format) can be verified.
            let digest = name
                .strip_prefix("blobs/sha256/")
                .map(|hex| format!("sha256:{hex}"));
            Ok((name, digest))
        })
        .collect::<Result<_, String>>()?;
    Ok(Image {
        platform: config_platform(store, &config)?,
        reference: entry.repo_tags.and_then(|t| t.into_iter().next()),
        layers,
    })
}

fn config_platform(store: &dyn Store, name: &str) -> Result<Option<Platform>, String> {
    #[derive(Deserialize)]
    struct Config {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let config: Config = read_json(store, name)?;
    Ok(match (config.os, config.architecture) {
        (Some(os), Some(architecture)) => Some(Platform {
            os,
            architecture,
            variant: config.variant,
        }),
        _ => None,
    })
}

/// `sha256:<hex>` to `blobs/sha256/<hex>`, refusing anything that is not a plain digest.
fn blob_name(digest: &str) -> Result<String, String> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("bad digest `{digest}`"))?;
    let alg_ok = !alg.is_empty()
        && alg
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let hex_ok = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !alg_ok || !hex_ok {
        return Err(format!("bad digest `{digest}`"));
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

fn member_name(name: &str) -> Result<String, String> {
    normalize(name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("bad path `{name}` in manifest.json"))
}

fn read_json<T: serde::de::DeserializeOwned>(store: &dyn Store, name: &str) -> Result<T, String> {
    let mut bytes = Vec::new();
    store
        .open(name)
        .and_then(|r| r.take(MAX_JSON).read_to_end(&mut bytes))
        .map_err(|e| format!("{name}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_are_plain() {
        assert_eq!(blob_name("sha256:abc1").unwrap(), "blobs/sha256/abc1");
        assert!(blob_name("sha256:../../etc").is_err());
        assert!(blob_name("../x:abc").is_err());
        assert!(blob_name("nocolon").is_err());
    }

    #[test]
    fn labels_only_when_several() {
        let image = |arch: &str, r: Option<&str>| Image {
            platform: Some(Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: None,
            }),
            reference: r.map(str::to_string),
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
