//! The JSON documents of single-layer images: each platform's config and manifest, and
//! the layout's documents for one image or an index of several (OCI `index.json`,
//! docker's `manifest.json`, `oci-layout`), built with oci-spec's types and written
//! canonically (compact, keys sorted through `serde_json::Value`, whose map is ordered)
//! so the same inputs always give the same digests.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;

use super::layer::LayerBlob;
use super::model::{Blob, Built, Image};
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
    /// The history entry: which scratchpack made the image, and with what.
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the image {what}")]
pub struct SpecError {
    what: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SpecError {
    pub fn json(what: &'static str, e: serde_json::Error) -> SpecError {
        SpecError {
            what,
            source: Box::new(e),
        }
    }
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

/// One platform's image whose only layer is `layer`: its config and manifest.
pub fn image(run: &RunConfig, meta: &ImageMeta, layer: LayerBlob) -> Result<Image, SpecError> {
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
                .diff_ids(vec![layer.diff_id.to_string()])
                .build()
                .map_err(spec_err("config"))?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created(created)
                .created_by(meta.created_by.clone())
                .build()
                .map_err(spec_err("config"))?,
        ]);
    if let Some(v) = &p.variant {
        image = image.variant(v.clone());
    }
    let config = Blob::bytes(canonical(&image.build().map_err(spec_err("config"))?)?);

    let layer = Blob::layer(layer);
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(oci_spec::image::Descriptor::new(
            MediaType::ImageConfig,
            config.digest.size,
            oci_digest(&config.digest)?,
        ))
        .layers(vec![oci_spec::image::Descriptor::new(
            MediaType::ImageLayerGzip,
            layer.digest.size,
            oci_digest(&layer.digest)?,
        )]);
    if !meta.annotations.is_empty() {
        manifest = manifest.annotations(
            meta.annotations
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        );
    }
    let manifest = Blob::bytes(canonical(&manifest.build().map_err(spec_err("manifest"))?)?);
    Ok(Image {
        platform: p.clone(),
        manifest,
        config,
        layers: vec![layer],
        referrers: Vec::new(),
    })
}

/// A descriptor of `digest` (of `media_type`), with `platform` and the names clients
/// take the image's name from.
fn descriptor(
    media_type: MediaType,
    digest: &Digest,
    platform: Option<&Platform>,
    reference: Option<&Reference>,
) -> Result<oci_spec::image::Descriptor, SpecError> {
    let mut descriptor = DescriptorBuilder::default()
        .media_type(media_type)
        .size(digest.size)
        .digest(oci_digest(digest)?);
    if let Some(p) = platform {
        let mut platform = PlatformBuilder::default()
            .architecture(Arch::from(p.architecture.as_str()))
            .os(Os::from(p.os.as_str()));
        if let Some(v) = &p.variant {
            platform = platform.variant(v.clone());
        }
        descriptor = descriptor.platform(platform.build().map_err(spec_err("index"))?);
    }
    if let Some(r) = reference {
        // podman names the image from ref.name; containerd (and docker with the
        // containerd store) from io.containerd.image.name.
        descriptor = descriptor.annotations(HashMap::from([
            (REF_NAME.to_string(), r.to_string()),
            (CONTAINERD_NAME.to_string(), r.fully_qualified()),
        ]));
    }
    descriptor.build().map_err(spec_err("index"))
}

fn index(
    manifests: Vec<oci_spec::image::Descriptor>,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, SpecError> {
    let mut index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests);
    if !annotations.is_empty() {
        index = index.annotations(annotations.clone().into_iter().collect::<HashMap<_, _>>());
    }
    canonical(&index.build().map_err(spec_err("index"))?)
}

/// The layout of `images` (at least one): a single image is named directly by
/// `index.json`; several go into an image index of their own, which `index.json` names.
/// Docker's `manifest.json` tags the image of the `host` platform `reference` and the
/// others `reference` with `-ARCH[-VARIANT]` appended to the tag.
pub fn assemble(
    mut images: Vec<Image>,
    references: &[Reference],
    host: Option<&Platform>,
    annotations: &BTreeMap<String, String>,
) -> Result<Built, SpecError> {
    // `index.json` names the image once per tag (none: once, unnamed).
    let names: Vec<Option<&Reference>> = if references.is_empty() {
        vec![None]
    } else {
        references.iter().map(Some).collect()
    };
    images.sort_by(|a, b| a.platform.cmp(&b.platform));
    let (index_blob, layout_index) = match images.as_slice() {
        [] => {
            return Err(SpecError {
                what: "index",
                source: "no image to index".into(),
            });
        }
        [one] => {
            let named = names
                .iter()
                .map(|r| {
                    descriptor(
                        MediaType::ImageManifest,
                        &one.manifest.digest,
                        Some(&one.platform),
                        *r,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            (None, index(named, &BTreeMap::new())?)
        }
        several => {
            let manifests = several
                .iter()
                .map(|i| {
                    descriptor(
                        MediaType::ImageManifest,
                        &i.manifest.digest,
                        Some(&i.platform),
                        None,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            // The image index carries the images' annotations (created, version...).
            let blob = Blob::bytes(index(manifests, annotations)?);
            let named = names
                .iter()
                .map(|r| descriptor(MediaType::ImageIndex, &blob.digest, None, *r))
                .collect::<Result<Vec<_>, _>>()?;
            (Some(blob), index(named, &BTreeMap::new())?)
        }
    };
    let several = images.len() > 1;
    let entries: Vec<serde_json::Value> = images
        .iter()
        .map(|i| {
            let tags: Vec<String> = references
                .iter()
                .map(|r| {
                    if several && host != Some(&i.platform) {
                        let arch = i.platform.arch_with_variant().replace('/', "-");
                        format!("{}:{}-{arch}", r.name, r.tag)
                    } else {
                        r.to_string()
                    }
                })
                .collect();
            serde_json::json!({
                "Config": i.config.digest.blob_path(),
                "RepoTags": (!tags.is_empty()).then_some(tags),
                "Layers": i.layers.iter().map(|l| l.digest.blob_path()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Built {
        images,
        index: index_blob,
        layout_index,
        docker_manifest: canonical(&entries)?,
        oci_layout: canonical(&serde_json::json!({ "imageLayoutVersion": "1.0.0" }))?,
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

    fn layer(dir: &std::path::Path, bytes: &[u8]) -> LayerBlob {
        use std::io::Write;
        let (mut file, guard) = crate::atomic::scratch_file(dir).unwrap();
        file.write_all(bytes).unwrap();
        LayerBlob {
            file,
            _guard: guard,
            digest: Digest::of(bytes),
            diff_id: Digest::of(b"tar"),
        }
    }

    fn platform(name: &str) -> Platform {
        Platform::parse(name).unwrap()
    }

    #[test]
    fn documents_are_canonical_and_linked() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunConfig {
            entrypoint: vec!["/app".into()],
            labels: BTreeMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]),
            ..RunConfig::default()
        };
        let meta = ImageMeta {
            platform: platform("linux/arm/v7"),
            epoch: 0,
            annotations: BTreeMap::new(),
            created_by: "scratchpack".into(),
        };
        let reference = Reference::parse("hello").unwrap();
        let one = image(&run, &meta, layer(dir.path(), b"layer")).unwrap();
        let config = String::from_utf8(bytes(&one.config)).unwrap();
        assert!(config.contains(r#""Labels":{"a":"2","z":"1"}"#), "{config}");
        assert!(config.contains(r#""variant":"v7""#));
        let manifest = String::from_utf8(bytes(&one.manifest)).unwrap();
        assert!(manifest.contains(&one.config.digest.to_string()));
        assert!(manifest.contains(&Digest::of(b"layer").to_string()));
        let manifest_digest = one.manifest.digest.clone();
        let built = assemble(
            vec![one],
            std::slice::from_ref(&reference),
            None,
            &BTreeMap::new(),
        )
        .unwrap();
        let index = String::from_utf8(built.layout_index.clone()).unwrap();
        assert!(index.contains(&manifest_digest.to_string()));
        assert!(index.contains(r#""org.opencontainers.image.ref.name":"hello:latest""#));
        assert_eq!(built.digest(), &manifest_digest);
        assert!(built.index.is_none());
        let again = image(&run, &meta, layer(dir.path(), b"layer")).unwrap();
        let again = assemble(
            vec![again],
            std::slice::from_ref(&reference),
            None,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(again.layout_index, built.layout_index);
    }

    fn bytes(blob: &Blob) -> Vec<u8> {
        let mut out = Vec::new();
        blob.write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn several_platforms_make_an_index_named_by_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunConfig::default();
        let images = |order: &[&str]| {
            order
                .iter()
                .map(|p| {
                    let meta = ImageMeta {
                        platform: platform(p),
                        epoch: 0,
                        annotations: BTreeMap::new(),
                        created_by: "scratchpack".into(),
                    };
                    image(&run, &meta, layer(dir.path(), p.as_bytes())).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let reference = Reference::parse("app:1.0").unwrap();
        let host = platform("linux/amd64");
        let built = assemble(
            images(&["linux/arm64", "linux/amd64", "linux/arm/v7"]),
            std::slice::from_ref(&reference),
            Some(&host),
            &BTreeMap::from([("k".to_string(), "v".to_string())]),
        )
        .unwrap();
        let index = built.index.as_ref().expect("an index of three");
        assert_eq!(built.digest(), &index.digest);
        let parsed: serde_json::Value = serde_json::from_slice(&bytes(index)).unwrap();
        assert_eq!(
            parsed["annotations"]["k"], "v",
            "the index carries the annotations"
        );
        let platforms: Vec<String> = parsed["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let p = &m["platform"];
                format!(
                    "{}/{}{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap(),
                    p["variant"]
                        .as_str()
                        .map(|v| format!("/{v}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm/v7", "linux/arm64"]);
        let layout = String::from_utf8(built.layout_index.clone()).unwrap();
        assert!(layout.contains(&index.digest.to_string()), "{layout}");
        assert!(layout.contains("application/vnd.oci.image.index.v1+json"));
        let docker = String::from_utf8(built.docker_manifest.clone()).unwrap();
        for tag in ["app:1.0", "app:1.0-arm-v7", "app:1.0-arm64"] {
            assert!(docker.contains(&format!(r#"["{tag}"]"#)), "{tag}: {docker}");
        }
        // Blobs: three images of three blobs each, and the index.
        assert_eq!(built.blobs().len(), 10);
        // The order the platforms came in does not matter.
        let again = assemble(
            images(&["linux/arm/v7", "linux/amd64", "linux/arm64"]),
            std::slice::from_ref(&reference),
            Some(&host),
            &BTreeMap::from([("k".to_string(), "v".to_string())]),
        )
        .unwrap();
        assert_eq!(again.digest(), built.digest());
    }
}
