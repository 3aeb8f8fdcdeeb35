//! The referrers an archive holds (OCI 1.1): artifact manifests whose `subject` is an
//! image manifest of it, such as the SBOM and provenance scratchpack writes beside each
//! image. `index.json` does not list them (clients would take them for images), so they
//! are found by reading the small blobs that are JSON manifests with a subject. Bounded
//! like every document read: 4 MiB each, checked against their digest.

use super::doc::{Descriptor, Document, OCI_MANIFEST};
use super::source::{Source, SourceError};
use super::verify::blob_name;

/// Largest document read.
const MAX_DOCUMENT: u64 = 4 << 20;

/// One referrer: its manifest (exact bytes) and what it says of itself.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: String,
    pub bytes: Vec<u8>,
    pub artifact_type: String,
    /// The manifest it describes.
    pub subject: String,
    /// Its config and layers: what a push sends with it.
    pub blobs: Vec<Descriptor>,
}

impl Referrer {
    /// Its descriptor, as a referrers index lists it.
    pub fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": self.digest,
            "size": self.bytes.len(),
            "artifactType": self.artifact_type,
        })
    }
}

/// Every referrer of `subjects` in `source`, sorted by digest.
pub fn find(source: &Source, subjects: &[String]) -> Result<Vec<Referrer>, SourceError> {
    let mut found = Vec::new();
    for digest in source.small_blobs(MAX_DOCUMENT) {
        if subjects.contains(&digest) {
            continue;
        }
        let name = blob_name(&digest).map_err(|why| source.invalid(why))?;
        // Layers and configs are skipped on their first byte, unread.
        let Ok((mut range, _)) = source.stream(&name) else {
            continue;
        };
        let mut first = [0u8; 1];
        if std::io::Read::read(&mut range, &mut first).ok() != Some(1) || first[0] != b'{' {
            continue;
        }
        let bytes = source.read(&name, Some(&digest))?;
        let Ok(doc) = serde_json::from_slice::<Document>(&bytes) else {
            continue;
        };
        let Some(subject) = doc.subject.filter(|s| subjects.contains(&s.digest)) else {
            continue;
        };
        let Some(config) = doc.config else { continue };
        let artifact_type = if doc.artifact_type.is_empty() {
            config.media_type.clone()
        } else {
            doc.artifact_type.clone()
        };
        let mut blobs = vec![config];
        blobs.extend(doc.layers);
        found.push(Referrer {
            digest,
            bytes,
            artifact_type,
            subject: subject.digest,
            blobs,
        });
    }
    found.sort_by(|a, b| a.digest.cmp(&b.digest));
    Ok(found)
}

/// The body (first layer) of the referrer of `subject` of `artifact_type`.
pub fn body(
    source: &Source,
    subject: &str,
    artifact_type: &str,
) -> Result<Option<Vec<u8>>, SourceError> {
    let all = find(source, &[subject.to_string()])?;
    let Some(r) = all.iter().find(|r| r.artifact_type == artifact_type) else {
        return Ok(None);
    };
    let Some(layer) = r.blobs.get(1) else {
        return Err(source.invalid(format!("the referrer {} holds no document", r.digest)));
    };
    let name = blob_name(&layer.digest).map_err(|why| source.invalid(why))?;
    let (range, size) = source.stream(&name)?;
    if size > 64 << 20 {
        return Err(source.invalid(format!("{} is larger than 64 MiB", layer.digest)));
    }
    let mut bytes = Vec::new();
    let mut hashing = super::verify::Hashing::new(range, super::verify::Algorithm::Sha256);
    let read = std::io::Read::read_to_end(&mut hashing, &mut bytes)
        .and_then(|_| hashing.finish())
        .map_err(|e| source.invalid(format!("{name}: {e}")))?;
    super::verify::check(&name, &layer.digest, &read).map_err(|why| source.invalid(why))?;
    Ok(Some(bytes))
}
