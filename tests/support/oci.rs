//! Reading back the images scratchpack writes (independently of its own reader), building
//! hand-made archives for the inspector (several layers, whiteouts, several platforms,
//! the legacy docker-archive layout, hostile names), and validating JSON against the
//! official OCI image-spec schemas in `../shared/oci-image-spec`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The layer of a default image, without its binary (`Entry::short` form).
pub const MINIMAL_LAYER: &[&str] = &[
    "etc/ 755 0:0",
    "etc/group 644 0:0",
    "etc/passwd 644 0:0",
    "home/ 755 0:0",
    "home/nonroot/ 700 65532:65532",
    "root/ 700 0:0",
    "tmp/ 1777 0:0",
    "usr/ 755 0:0",
    "usr/local/ 755 0:0",
    "usr/local/bin/ 755 0:0",
];

/// One entry of a layer, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
}

impl Entry {
    /// `path mode uid:gid` — the shape the listing tests compare.
    pub fn short(&self) -> String {
        format!("{} {:o} {}:{}", self.path, self.mode, self.uid, self.gid)
    }
}

/// An image tar read fully into memory.
pub struct ImageTar {
    pub names: Vec<String>,
    pub files: HashMap<String, Vec<u8>>,
    pub headers: Vec<Entry>,
}

impl ImageTar {
    pub fn open(path: &Path) -> ImageTar {
        let mut archive = tar::Archive::new(std::fs::File::open(path).expect("open image tar"));
        let mut names = Vec::new();
        let mut files = HashMap::new();
        let mut headers = Vec::new();
        for entry in archive.entries().expect("tar entries") {
            let mut entry = entry.expect("tar entry");
            let name = entry.path().expect("path").display().to_string();
            headers.push(entry_of(&entry, &name));
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read entry");
            names.push(name.clone());
            files.insert(name, data);
        }
        ImageTar {
            names,
            files,
            headers,
        }
    }

    /// Each platform's copy of the file at `path` (no leading `/`) in an archive of one
    /// platform or several (`index.json` naming an index): `(os/arch[/variant], bytes)`.
    pub fn platform_files(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        let layout = self.json("index.json");
        let named = &layout["manifests"][0];
        // One platform: index.json names its manifest; several: an index of them.
        let index: Value = if named["mediaType"] == "application/vnd.oci.image.index.v1+json" {
            let digest = named["digest"].as_str().expect("index digest");
            serde_json::from_slice(self.blob(digest)).expect("index JSON")
        } else {
            layout.clone()
        };
        let mut out = Vec::new();
        for m in index["manifests"].as_array().expect("an image index") {
            let p = &m["platform"];
            let mut platform = format!(
                "{}/{}",
                p["os"].as_str().unwrap_or_default(),
                p["architecture"].as_str().unwrap_or_default()
            );
            if let Some(v) = p["variant"].as_str() {
                platform.push_str(&format!("/{v}"));
            }
            let manifest: Value =
                serde_json::from_slice(self.blob(m["digest"].as_str().expect("digest")))
                    .expect("manifest");
            let layer = self.blob(manifest["layers"][0]["digest"].as_str().expect("layer"));
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
            for entry in archive.entries().expect("entries") {
                let mut entry = entry.expect("entry");
                if entry.path().expect("path").display().to_string() == path {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).expect("read");
                    out.push((platform.clone(), data));
                }
            }
        }
        out
    }

    pub fn json(&self, name: &str) -> Value {
        serde_json::from_slice(
            self.files
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing")),
        )
        .expect("JSON member")
    }

    pub fn blob(&self, digest: &str) -> &[u8] {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        let name = format!("blobs/sha256/{hex}");
        let bytes = self
            .files
            .get(&name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            sha256_hex(bytes),
            hex,
            "blob {name} does not match its digest"
        );
        bytes
    }

    pub fn manifest(&self) -> Value {
        let index = self.json("index.json");
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .expect("manifest digest");
        serde_json::from_slice(self.blob(digest)).expect("manifest JSON")
    }

    pub fn config(&self) -> Value {
        let digest = self.manifest()["config"]["digest"]
            .as_str()
            .expect("config digest")
            .to_string();
        serde_json::from_slice(self.blob(&digest)).expect("config JSON")
    }

    pub fn layer(&self) -> Vec<Entry> {
        let digest = self.manifest()["layers"][0]["digest"]
            .as_str()
            .expect("layer digest")
            .to_string();
        layer_entries(self.blob(&digest))
    }

    /// Contents of one file of the (only) layer.
    pub fn layer_file(&self, path: &str) -> Vec<u8> {
        let digest = self.manifest()["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_string();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(self.blob(&digest)));
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            if entry.path().expect("path").display().to_string() == path {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("read");
                return data;
            }
        }
        panic!("{path} not in the layer");
    }
}

fn entry_of<R: Read>(entry: &tar::Entry<R>, name: &str) -> Entry {
    let h = entry.header();
    Entry {
        path: name.to_string(),
        kind: h.entry_type().as_byte() as char,
        mode: h.mode().expect("mode"),
        uid: h.uid().expect("uid"),
        gid: h.gid().expect("gid"),
        mtime: h.mtime().expect("mtime"),
        size: h.size().expect("size"),
    }
}

/// Entries of a gzip-compressed layer, in order.
pub fn layer_entries(gz: &[u8]) -> Vec<Entry> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    archive
        .entries()
        .expect("layer entries")
        .map(|e| {
            let e = e.expect("layer entry");
            let name = e.path().expect("path").display().to_string();
            entry_of(&e, &name)
        })
        .collect()
}

/// What a hand-made layer holds.
pub enum Item<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// An uncompressed layer tar from items, in the order given.
pub fn layer_tar(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_mtime(0);
        match item {
            Item::File(path, data) => {
                // Names are written raw: hostile layers carry `..` that the tar crate's
                // path setters refuse.
                h.set_size(data.len() as u64);
                let name = &mut h.as_old_mut().name;
                name.fill(0);
                name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                b.append(&h, *data).expect("file");
            }
            Item::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty()).expect("dir");
            }
            Item::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, target).expect("symlink");
            }
            Item::Hardlink(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, path, target).expect("hardlink");
            }
        }
    }
    b.into_inner().expect("layer tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// One image of a hand-made OCI archive.
pub struct HandImage {
    pub architecture: &'static str,
    pub layers: Vec<Vec<u8>>,
    pub ref_name: Option<&'static str>,
}

/// Writes an OCI layout tar holding `images` (layers stored as given, gzip or plain).
/// `blob_override` replaces a blob's bytes after its digest was taken (corruption tests).
pub fn write_oci_archive(path: &Path, images: &[HandImage], corrupt_first_layer: bool) {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut descriptors = Vec::new();
    for image in images {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in &image.layers {
            let digest = format!("sha256:{}", sha256_hex(layer));
            layer_descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": layer.len()}));
            diff_ids.push(digest);
            blobs.push((sha256_hex(layer), layer.clone()));
        }
        let config = serde_json::to_vec(&json!({
            "architecture": image.architecture, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}
        }))
        .expect("config");
        let config_digest = format!("sha256:{}", sha256_hex(&config));
        blobs.push((sha256_hex(&config), config.clone()));
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layer_descs
        }))
        .expect("manifest");
        let mut desc = json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&manifest)), "size": manifest.len(),
            "platform": {"os": "linux", "architecture": image.architecture}
        });
        if let Some(r) = image.ref_name {
            desc["annotations"] = json!({"org.opencontainers.image.ref.name": r});
        }
        descriptors.push(desc);
        blobs.push((sha256_hex(&manifest), manifest));
    }
    if corrupt_first_layer {
        let first = &mut blobs[0].1;
        let last = first.len() - 1;
        first[last] ^= 0xff;
    }
    let index =
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": descriptors})).expect("index");
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("archive"));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).expect("member");
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for (hex, data) in &blobs {
        add(&format!("blobs/sha256/{hex}"), data);
    }
    b.finish().expect("finish archive");
}

/// Writes a legacy docker-archive (`manifest.json`, `<id>/layer.tar`, and a second image
/// whose layer is a symlink to the first one's, as old `docker save` wrote).
pub fn write_docker_archive(path: &Path, layer: &[u8]) {
    let id = sha256_hex(layer);
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{id}")]}})).expect("config");
    let manifest = serde_json::to_vec(&json!([
        {"Config": "config.json", "RepoTags": ["legacy:one"], "Layers": [format!("{id}/layer.tar")]},
        {"Config": "config.json", "RepoTags": ["legacy:two"], "Layers": ["linked/layer.tar"]}
    ]))
    .expect("manifest");
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("archive"));
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    for (name, data) in [
        ("manifest.json", &manifest),
        ("config.json", &config),
        (&format!("{id}/layer.tar")[..], &layer.to_vec()),
    ] {
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).expect("member");
    }
    let mut l = tar::Header::new_ustar();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    b.append_link(&mut l, "linked/layer.tar", format!("../{id}/layer.tar"))
        .expect("link");
    b.finish().expect("finish");
}

/// The official schemas, with `$ref`s resolved to the local files.
struct LocalSchemas(PathBuf);

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let file = uri
            .path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let bytes = std::fs::read(self.0.join(&file)).map_err(|e| format!("{file}: {e}"))?;
        Ok(serde_json::from_slice(&bytes)?)
    }
}

pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/oci-image-spec")
}

/// Validates `doc` against `schema` (e.g. `image-manifest-schema.json`); panics with
/// every violation.
pub fn assert_valid(schema: &str, doc: &Value) {
    let dir = schema_dir();
    let schema_json: Value = serde_json::from_slice(
        &std::fs::read(dir.join(schema))
            .unwrap_or_else(|e| panic!("{schema}: {e} (is ../shared beside the project?)")),
    )
    .expect("schema JSON");
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .with_retriever(LocalSchemas(dir))
        .build(&schema_json)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema} rejects the document:\n{}\n{doc:#}",
        errors.join("\n")
    );
}
