//! The JSON documents of a single-layer image: config, manifest, OCI index, docker's
//! `manifest.json` and `oci-layout`, built with oci-spec's types and written canonically
//! (compact, keys sorted through `serde_json::Value`, whose map is ordered) so the same
//! inputs always give the same digests.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;

use crate::digest::Digest;
use crate::platform::Platform;
use crate::reference::Reference;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// What the image does when run: the config's `config` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=VALUE`, one per key, sorted by key.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `PORT/PROTO`, sorted.
    pub exposed_ports: Vec<String>,
}

/// Everything else that goes into the documents.
#[derive(Debug, Clone)]
pub struct ImageMeta {
    pub platform: Platform,
    /// Seconds since the epoch: the image's creation time and history date.
    pub epoch: u64,
    pub annotations: BTreeMap<String, String>,
    pub reference: Option<Reference>,
}

/// The serialized documents and their digests.
#[derive(Debug, Clone)]
pub struct ImageDocs {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub layer_digest: Digest,
    pub index: Vec<u8>,
    pub docker_manifest: Vec<u8>,
    pub oci_layout: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the image {what}")]
pub struct SpecError {
    what: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn spec_err<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> SpecError {
    move |e| SpecError {
        what,
        source: Box::new(e),
    }
}

/// Compact JSON with sorted keys.
fn canonical(value: &impl Serialize) -> Result<Vec<u8>, SpecError> {
    let value = serde_json::to_value(value).map_err(spec_err("document"))?;
    serde_json::to_vec(&value).map_err(spec_err("document"))
}

fn oci_digest(d: &Digest) -> Result<oci_spec::image::Digest, SpecError> {
    d.to_string().parse().map_err(spec_err("digest"))
}

/// Builds every document of an image whose only layer is `layer` (compressed digest)
/// with uncompressed digest `diff_id`.
pub fn build(
    run: &RunConfig,
    meta: &ImageMeta,
    layer: &Digest,
    diff_id: &Digest,
) -> Result<ImageDocs, SpecError> {
    let created = rfc3339(meta.epoch);
    let mut config = ConfigBuilder::default();
    if !run.entrypoint.is_empty() {
        config = config.entrypoint(run.entrypoint.clone());
    }
    if !run.cmd.is_empty() {
        config = config.cmd(run.cmd.clone());
    }
    if !run.env.is_empty() {
        config = config.env(run.env.clone());
    }
    if let Some(dir) = &run.workdir {
        config = config.working_dir(dir.clone());
    }
    if let Some(user) = &run.user {
        config = config.user(user.clone());
    }
    if !run.labels.is_empty() {
        config = config.labels(run.labels.clone().into_iter().collect::<HashMap<_, _>>());
    }
    if !run.exposed_ports.is_empty() {
        config = config.exposed_ports(run.exposed_ports.clone());
    }
    let p = &meta.platform;
    let mut image = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(Arch::from(p.architecture.as_str()))
        .os(Os::from(p.os.as_str()))
        .config(config.build().map_err(spec_err("config"))?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()
                .map_err(spec_err("config"))?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created(created)
                .created_by("scratchpack")
                .build()
                .map_err(spec_err("config"))?,
        ]);
    if let Some(v) = &p.variant {
        image = image.variant(v.clone());
    }
    let config = canonical(&image.build().map_err(spec_err("config"))?)?;
    let config_digest = Digest::of(&config);

    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(oci_spec::image::Descriptor::new(
            MediaType::ImageConfig,
            config_digest.size,
            oci_digest(&config_digest)?,
        ))
        .layers(vec![oci_spec::image::Descriptor::new(
            MediaType::ImageLayerGzip,
            layer.size,
            oci_digest(layer)?,
        )]);
    if !meta.annotations.is_empty() {
        manifest = manifest.annotations(
            meta.annotations
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        );
    }
    let manifest = canonical(&manifest.build().map_err(spec_err("manifest"))?)?;
    let manifest_digest = Digest::of(&manifest);

    let mut platform = PlatformBuilder::default()
        .architecture(Arch::from(p.architecture.as_str()))
        .os(Os::from(p.os.as_str()));
    if let Some(v) = &p.variant {
        platform = platform.variant(v.clone());
    }
    let mut descriptor = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .size(manifest_digest.size)
        .digest(oci_digest(&manifest_digest)?)
        .platform(platform.build().map_err(spec_err("index"))?);
    if let Some(r) = &meta.reference {
        // podman names the image from ref.name; containerd (and docker with the
        // containerd store) from io.containerd.image.name.
        descriptor = descriptor.annotations(HashMap::from([
            (REF_NAME.to_string(), r.to_string()),
            (CONTAINERD_NAME.to_string(), r.fully_qualified()),
        ]));
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor.build().map_err(spec_err("index"))?])
        .build()
        .map_err(spec_err("index"))?;
    let index = canonical(&index)?;

    let docker_manifest = canonical(&serde_json::json!([{
        "Config": config_digest.blob_path(),
        "RepoTags": meta.reference.as_ref().map(|r| vec![r.to_string()]),
        "Layers": [layer.blob_path()],
    }]))?;
    let oci_layout = canonical(&serde_json::json!({ "imageLayoutVersion": "1.0.0" }))?;
    Ok(ImageDocs {
        config,
        config_digest,
        manifest,
        manifest_digest,
        layer_digest: layer.clone(),
        index,
        docker_manifest,
        oci_layout,
    })
}

/// `1970-01-01T00:00:00Z` for an epoch in seconds (proleptic Gregorian, UTC).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn documents_are_canonical_and_linked() {
        let run = RunConfig {
            entrypoint: vec!["/app".into()],
            labels: BTreeMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]),
            ..RunConfig::default()
        };
        let meta = ImageMeta {
            platform: Platform {
                os: "linux".into(),
                architecture: "arm".into(),
                variant: Some("v7".into()),
            },
            epoch: 0,
            annotations: BTreeMap::new(),
            reference: Some(Reference::parse("hello").unwrap()),
        };
        let layer = Digest::of(b"layer");
        let docs = build(&run, &meta, &layer, &Digest::of(b"tar")).unwrap();
        let config = String::from_utf8(docs.config.clone()).unwrap();
        assert!(config.contains(r#""Labels":{"a":"2","z":"1"}"#), "{config}");
        assert!(config.contains(r#""variant":"v7""#));
        let manifest = String::from_utf8(docs.manifest.clone()).unwrap();
        assert!(manifest.contains(&docs.config_digest.to_string()));
        assert!(manifest.contains(&layer.to_string()));
        let index = String::from_utf8(docs.index.clone()).unwrap();
        assert!(index.contains(&docs.manifest_digest.to_string()));
        assert!(index.contains(r#""org.opencontainers.image.ref.name":"hello:latest""#));
        let again = build(&run, &meta, &layer, &Digest::of(b"tar")).unwrap();
        assert_eq!(again.index, docs.index);
    }
}
