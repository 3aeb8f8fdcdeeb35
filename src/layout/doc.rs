//! The documents of an image archive as a reader sees them: OCI descriptors, indexes and
//! manifests (one type: a document is an index when it has `manifests`), docker's
//! `manifest.json` entries, and what a runtime reads of an image config. Tolerant of
//! fields it does not use; the names taken from them are checked where they become
//! paths ([`super::verify::blob_name`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The annotation that names an image of a layout (its tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A descriptor, as index and manifest documents write them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    /// Required by the spec; a missing size reads as 0 and then fails the size check of
    /// whoever streams the blob.
    #[serde(default)]
    pub size: u64,
    /// Foreign layers (`urls`) are not distributed: never pushed.
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub platform: Option<DescriptorPlatform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DescriptorPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl DescriptorPlatform {
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// An index (`manifests`) or an image manifest (`config`, `layers`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest an artifact describes (OCI 1.1 referrers).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    #[serde(default)]
    pub artifact_type: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Document {
    /// The media type it declares, else the one its shape says.
    pub fn kind(&self) -> &str {
        match (self.media_type.as_str(), &self.manifests) {
            ("", Some(_)) => OCI_INDEX,
            ("", None) => OCI_MANIFEST,
            (declared, _) => declared,
        }
    }
}

/// An entry of docker's `manifest.json` (docker-archive, `docker save`).
#[derive(Debug, Clone, Deserialize)]
pub struct DockerEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// An image config: its platform and what a runtime reads to start it.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
}

impl ConfigFile {
    /// The platform, when the config names both OS and architecture.
    pub fn platform(&self) -> Option<Platform> {
        match (&self.os, &self.architecture) {
            (Some(os), Some(architecture)) => Some(Platform {
                os: os.clone(),
                architecture: architecture.clone(),
                variant: self.variant.clone(),
            }),
            _ => None,
        }
    }
}

/// The part of an image config a runtime reads to start it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: Option<String>,
    #[serde(rename = "User")]
    pub user: Option<String>,
}

/// Whether a config media type is an image's (not an attestation's or an artifact's).
pub fn is_image_config(media_type: &str) -> bool {
    media_type.is_empty()
        || media_type.ends_with("container.image.v1+json")
        || media_type == "application/vnd.oci.image.config.v1+json"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_an_index_or_a_manifest() {
        let index: Document = serde_json::from_str(r#"{"manifests":[]}"#).unwrap();
        assert_eq!(index.kind(), OCI_INDEX);
        let manifest: Document =
            serde_json::from_str(r#"{"config":{"digest":"sha256:ab","size":2},"layers":[]}"#)
                .unwrap();
        assert_eq!(manifest.kind(), OCI_MANIFEST);
        let docker: Document = serde_json::from_str(
            r#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
        )
        .unwrap();
        assert!(docker.kind().contains("docker"));
        assert!(is_image_config(
            "application/vnd.docker.container.image.v1+json"
        ));
        assert!(!is_image_config("application/vnd.in-toto+json"));
    }
}
