//! Random access to an image archive: an OCI layout or a docker-archive, a directory or
//! an uncompressed tar holding one (what scratchpack, `podman save`, `docker save` and
//! `skopeo copy` write), for `push` and `run`.
//! Blobs are streamed from where they lie (a tar member is read in place), never
//! extracted; names are looked up, never followed out of the layout. What to push is
//! the one image or index `index.json` names (several: `index.json` itself, an index),
//! or a docker-archive's image under a manifest made for it; what to run,
//! [`super::images::list`] over [`Documents`].
//! Documents (indexes, manifests) are read whole, at most 4 MiB, and checked against
//! their digest before anything is sent.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::doc::{Descriptor, Document, OCI_INDEX};
use super::images::Documents;
use super::referrers::Referrer;
use super::verify::{self, blob_name};
use crate::digest::Digest;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Largest document (index, manifest) read: the limit registries set.
const MAX_DOCUMENT: u64 = 4 << 20;
/// Members of a tar remembered, and indexes followed in depth.
const MAX_MEMBERS: usize = 200_000;
const MAX_DEPTH: usize = 4;
const MAX_LINKS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read the image `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is not an image: neither index.json (OCI layout) nor manifest.json (docker-archive)", path.display())]
    NotLayout { path: PathBuf },
    #[error("`{}` is compressed: push reads an uncompressed tar or a directory", path.display())]
    Compressed { path: PathBuf },
    #[error("the image `{}` is invalid: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
}

impl crate::error::Hint for SourceError {
    fn hints(&self) -> Vec<String> {
        match self {
            SourceError::NotLayout { .. } => {
                vec!["give an image archive or an OCI layout directory".into()]
            }
            SourceError::Compressed { .. } => vec!["decompress it first (gunzip, zstd -d)".into()],
            _ => Vec::new(),
        }
    }
}

/// A manifest or index to put: its exact bytes.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Everything a push sends: blobs first, then manifests children before parents, the
/// last one being the root (put under the tag), then the referrers of its images (SBOM,
/// provenance).
#[derive(Debug, Clone)]
pub struct Plan {
    pub blobs: Vec<Descriptor>,
    pub manifests: Vec<Manifest>,
    pub referrers: Vec<Referrer>,
}

impl Plan {
    pub fn root(&self) -> &Manifest {
        &self.manifests[self.manifests.len() - 1]
    }
}

enum Where {
    Dir(PathBuf),
    /// The tar, and its regular members: name to (offset, size); links to their target.
    Tar {
        file: Arc<File>,
        members: BTreeMap<String, (u64, u64)>,
        links: BTreeMap<String, String>,
    },
}

/// An opened image.
pub struct Source {
    path: PathBuf,
    at: Where,
    /// Blobs known by digest under another name (a docker-archive's `ID/layer.tar`).
    aliases: std::sync::Mutex<BTreeMap<String, String>>,
}

impl Source {
    /// An image to push: an OCI layout (`index.json`), or a docker-archive.
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        Source::open_any(path)
    }

    /// An OCI layout or a docker-archive (`manifest.json`).
    pub fn open_any(path: &Path) -> Result<Source, SourceError> {
        let io_err = |source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        let at = if meta.is_dir() {
            Where::Dir(path.to_path_buf())
        } else {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(io_err)?;
            if !file.metadata().map_err(io_err)?.is_file() {
                return Err(io_err(io::Error::other("not a regular file or directory")));
            }
            let mut magic = [0u8; 4];
            let n = file.read_at(&mut magic, 0).map_err(io_err)?;
            if n >= 2
                && (magic[..2] == [0x1f, 0x8b] || magic[..n.min(4)] == [0x28, 0xb5, 0x2f, 0xfd])
            {
                return Err(SourceError::Compressed {
                    path: path.to_path_buf(),
                });
            }
            let (members, links) = index_tar(&file).map_err(|why| SourceError::Invalid {
                path: path.to_path_buf(),
                why,
            })?;
            Where::Tar {
                file: Arc::new(file),
                members,
                links,
            }
        };
        let source = Source {
            path: path.to_path_buf(),
            at,
            aliases: Default::default(),
        };
        if !source.has("index.json") && !source.has("manifest.json") {
            return Err(SourceError::NotLayout {
                path: path.to_path_buf(),
            });
        }
        Ok(source)
    }

    pub fn invalid(&self, why: String) -> SourceError {
        SourceError::Invalid {
            path: self.path.clone(),
            why,
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    /// The member `name`: a regular file of the directory (no link on the way), or a
    /// tar member (links resolved inside the tar); else why not.
    fn locate(&self, name: &str) -> Result<(Arc<File>, u64, u64), String> {
        // Names come from the image's own documents: never above its root.
        let normal =
            normalize(name).ok_or_else(|| format!("`{name}` is not a name inside the image"))?;
        match &self.at {
            Where::Dir(root) => {
                let at = root.join(&normal);
                let missing = || format!("`{name}` is missing");
                crate::beneath::no_symlink_below(root, &at)
                    .map_err(|_| format!("`{name}` is behind a symbolic link, not followed"))?;
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&at)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => missing(),
                        _ => format!("`{name}`: {e}"),
                    })?;
                let meta = file.metadata().map_err(|e| format!("`{name}`: {e}"))?;
                if !meta.is_file() {
                    return Err(format!("`{name}` is not a regular file"));
                }
                Ok((Arc::new(file), 0, meta.len()))
            }
            Where::Tar {
                file,
                members,
                links,
            } => {
                let mut at = normal;
                for _ in 0..MAX_LINKS {
                    if let Some(&(offset, size)) = members.get(&at) {
                        return Ok((file.clone(), offset, size));
                    }
                    at = links
                        .get(&at)
                        .ok_or_else(|| format!("`{name}` is missing"))?
                        .clone();
                }
                Err(format!("`{name}`: too many levels of links"))
            }
        }
    }

    /// The digests of the blobs it holds (`blobs/ALG/HEX`) no larger than `max` bytes.
    pub fn small_blobs(&self, max: u64) -> Vec<String> {
        let mut names: Vec<(String, u64)> = Vec::new();
        match &self.at {
            Where::Dir(root) => {
                for alg in ["sha256", "sha512"] {
                    let Ok(entries) = std::fs::read_dir(root.join("blobs").join(alg)) else {
                        continue;
                    };
                    for e in entries.flatten().take(MAX_MEMBERS) {
                        let size = e.metadata().map_or(u64::MAX, |m| m.len());
                        let name = e.file_name().to_string_lossy().into_owned();
                        names.push((format!("{alg}:{name}"), size));
                    }
                }
            }
            Where::Tar { members, .. } => {
                for (name, &(_, size)) in members.range("blobs/".to_string()..) {
                    let Some(rest) = name.strip_prefix("blobs/") else {
                        break;
                    };
                    if let Some((alg, hex)) = rest.split_once('/') {
                        names.push((format!("{alg}:{hex}"), size));
                    }
                }
            }
        }
        names
            .into_iter()
            .filter(|(d, size)| *size <= max && verify::parse(d).is_ok())
            .map(|(d, _)| d)
            .collect()
    }

    /// A whole document (at most 4 MiB), checked against `digest` when one is given.
    pub fn read(&self, name: &str, digest: Option<&str>) -> Result<Vec<u8>, SourceError> {
        let (file, offset, size) = self.locate(name).map_err(|why| self.invalid(why))?;
        if size > MAX_DOCUMENT {
            return Err(self.invalid(format!("`{name}` is larger than 4 MiB")));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        Range::new(file, offset, size)
            .read_to_end(&mut bytes)
            .map_err(|source| SourceError::Io {
                path: self.path.clone(),
                source,
            })?;
        if let Some(d) = digest {
            let (alg, _) = verify::parse(d).map_err(|why| self.invalid(why))?;
            let actual = verify::of_bytes(alg, &bytes);
            if actual != d {
                return Err(self.invalid(format!("`{name}` is {actual}, not {d} as named")));
            }
        }
        Ok(bytes)
    }

    /// A member's bytes, streamed, and its size.
    pub fn stream(&self, name: &str) -> Result<(Range, u64), SourceError> {
        let (file, offset, size) = self.locate(name).map_err(|why| self.invalid(why))?;
        Ok((Range::new(file, offset, size), size))
    }

    /// A blob's bytes, streamed, and its size on disk.
    pub fn blob(&self, digest: &str) -> Result<(Range, u64), SourceError> {
        let alias = self
            .aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned();
        let name = match alias {
            Some(name) => name,
            None => blob_name(digest).map_err(|why| self.invalid(why))?,
        };
        let (file, offset, size) = self
            .locate(&name)
            .map_err(|why| self.invalid(format!("blob {digest}: {why}")))?;
        Ok((Range::new(file, offset, size), size))
    }

    /// What to push: the image or index `index.json` names; for a docker-archive, its
    /// image under a manifest made for it.
    pub fn plan(&self) -> Result<Plan, SourceError> {
        if !self.has("index.json") {
            return self.docker_plan();
        }
        let index = self.read("index.json", None)?;
        let doc: Document =
            serde_json::from_slice(&index).map_err(|e| self.invalid(format!("index.json: {e}")))?;
        // The same image under several names (`--tag a --tag b`) is one image.
        let mut listed = doc.manifests.unwrap_or_default();
        let mut distinct = BTreeSet::new();
        listed.retain(|d| distinct.insert(d.digest.clone()));
        let mut plan = Plan {
            blobs: Vec::new(),
            manifests: Vec::new(),
            referrers: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        match listed.as_slice() {
            [] => return Err(self.invalid("index.json names no image".into())),
            [one] => self.walk(one, 0, &mut plan, &mut seen)?,
            several => {
                // index.json itself is an index of them all.
                for d in several {
                    self.walk(d, 1, &mut plan, &mut seen)?;
                }
                plan.manifests.push(Manifest {
                    digest: Digest::of(&index).to_string(),
                    media_type: OCI_INDEX.into(),
                    bytes: index,
                });
            }
        }
        let images: Vec<String> = plan
            .manifests
            .iter()
            .filter(|m| m.media_type != OCI_INDEX && !m.media_type.contains("list"))
            .map(|m| m.digest.clone())
            .collect();
        plan.referrers = super::referrers::find(self, &images)?;
        for b in plan.referrers.iter().flat_map(|r| &r.blobs) {
            if !plan.blobs.iter().any(|x| x.digest == b.digest) {
                blob_name(&b.digest).map_err(|why| self.invalid(why))?;
                plan.blobs.push(b.clone());
            }
        }
        Ok(plan)
    }

    /// A docker-archive's one image (`docker save`, `podman save`): its config and layers
    /// as they lie in the archive, digested here, under a docker v2 manifest (schema 2)
    /// made for them; layers keep their compression (docker's are plain tars).
    fn docker_plan(&self) -> Result<Plan, SourceError> {
        let entries: Vec<super::doc::DockerEntry> =
            serde_json::from_slice(&self.read("manifest.json", None)?)
                .map_err(|e| self.invalid(format!("manifest.json: {e}")))?;
        let [entry] = entries.as_slice() else {
            return Err(self.invalid(format!(
                "manifest.json lists {} images: push takes one (save one image per archive)",
                entries.len()
            )));
        };
        let name = |n: &str| normalize(n).ok_or_else(|| self.invalid(format!("bad path `{n}`")));
        let config_name = name(&entry.config)?;
        let config = self.read(&config_name, None)?;
        let config_digest = Digest::of(&config);
        let mut aliases = BTreeMap::from([(config_digest.to_string(), config_name)]);
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let layer_name = name(layer)?;
            let (mut range, size) = self.stream(&layer_name)?;
            let mut first = [0u8; 2];
            let gzip = matches!(std::io::Read::read(&mut range, &mut first), Ok(2) if first == [0x1f, 0x8b]);
            let (range, _) = self.stream(&layer_name)?;
            let mut hashing = crate::digest::HashWriter::new(io::sink());
            io::copy(&mut { range }, &mut hashing).map_err(|source| SourceError::Io {
                path: self.path.clone(),
                source,
            })?;
            let digest = hashing.finish().1;
            layers.push(Descriptor {
                media_type: if gzip {
                    DOCKER_LAYER_GZIP
                } else {
                    DOCKER_LAYER
                }
                .into(),
                digest: digest.to_string(),
                size,
                urls: Vec::new(),
                platform: None,
                annotations: Default::default(),
            });
            aliases.insert(digest.to_string(), layer_name);
        }
        let config = Descriptor {
            media_type: DOCKER_CONFIG.into(),
            digest: config_digest.to_string(),
            size: config_digest.size,
            urls: Vec::new(),
            platform: None,
            annotations: Default::default(),
        };
        let describe = |d: &Descriptor| serde_json::json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size});
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": describe(&config),
            "layers": layers.iter().map(describe).collect::<Vec<_>>(),
        }))
        .map_err(|e| self.invalid(e.to_string()))?;
        *self.aliases.lock().unwrap_or_else(|e| e.into_inner()) = aliases;
        let mut blobs = vec![config];
        for l in layers {
            if !blobs.iter().any(|b| b.digest == l.digest) {
                blobs.push(l);
            }
        }
        Ok(Plan {
            blobs,
            manifests: vec![Manifest {
                digest: Digest::of(&manifest).to_string(),
                media_type: DOCKER_MANIFEST.into(),
                bytes: manifest,
            }],
            referrers: Vec::new(),
        })
    }

    fn walk(
        &self,
        d: &Descriptor,
        depth: usize,
        plan: &mut Plan,
        seen: &mut BTreeSet<String>,
    ) -> Result<(), SourceError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid("indexes nested too deep".into()));
        }
        if !seen.insert(d.digest.clone()) {
            return Ok(());
        }
        let name = blob_name(&d.digest).map_err(|why| self.invalid(why))?;
        let bytes = self.read(&name, Some(&d.digest))?;
        let doc: Document = serde_json::from_slice(&bytes)
            .map_err(|e| self.invalid(format!("{}: {e}", d.digest)))?;
        let media_type = match d.media_type.as_str() {
            "" => doc.kind().to_string(),
            declared => declared.to_string(),
        };
        if let Some(children) = &doc.manifests {
            for c in children {
                self.walk(c, depth + 1, plan, seen)?;
            }
        } else {
            let config = doc
                .config
                .as_ref()
                .ok_or_else(|| self.invalid(format!("manifest {} has no config", d.digest)))?;
            for b in std::iter::once(config).chain(&doc.layers) {
                if b.urls.is_empty() && !plan.blobs.iter().any(|x| x.digest == b.digest) {
                    blob_name(&b.digest).map_err(|why| self.invalid(why))?;
                    plan.blobs.push(b.clone());
                }
            }
        }
        plan.manifests.push(Manifest {
            digest: d.digest.clone(),
            media_type,
            bytes,
        });
        Ok(())
    }
}

/// The regular members of a tar (offset and size of their data) and its links, by
/// normalised name; `..` above the root, sparse members and devices are left out.
type TarIndex = (BTreeMap<String, (u64, u64)>, BTreeMap<String, String>);

fn index_tar(file: &File) -> Result<TarIndex, String> {
    let mut archive = tar::Archive::new(file);
    let mut members = BTreeMap::new();
    let mut links = BTreeMap::new();
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for (i, entry) in entries.enumerate() {
        if i >= MAX_MEMBERS {
            return Err(format!("more than {MAX_MEMBERS} members"));
        }
        let entry = entry.map_err(|e| format!("not a tar: {e}"))?;
        let Ok(path) = entry.path() else { continue };
        let Some(name) = normalize(&path.to_string_lossy()) else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                members.insert(name, (entry.raw_file_position(), entry.size()));
            }
            tar::EntryType::Link => {
                if let Some(t) = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .and_then(|t| normalize(&t.to_string_lossy()))
                {
                    links.insert(name, t);
                }
            }
            tar::EntryType::Symlink => {
                if let Some(t) = entry.link_name().ok().flatten() {
                    let t = t.to_string_lossy();
                    let joined = match name.rsplit_once('/') {
                        _ if t.starts_with('/') => t.to_string(),
                        Some((dir, _)) => format!("{dir}/{t}"),
                        None => t.to_string(),
                    };
                    if let Some(t) = normalize(&joined) {
                        links.insert(name, t);
                    }
                }
            }
            _ => {}
        }
    }
    Ok((members, links))
}

/// A member name inside the root, not the root itself.
fn normalize(name: &str) -> Option<String> {
    super::member_name(name).filter(|n| !n.is_empty())
}

impl Documents for Source {
    fn document(&mut self, name: &str, digest: Option<&str>) -> Result<Vec<u8>, String> {
        self.read(name, digest)
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })
    }

    fn contains(&self, name: &str) -> bool {
        self.has(name)
    }
}

/// A part of a file, read with `pread`: threads share one open file.
pub struct Range {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
}

impl Range {
    fn new(file: Arc<File>, offset: u64, size: u64) -> Range {
        Range {
            file,
            offset,
            remaining: size,
        }
    }
}

impl Read for Range {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the image file is shorter than its tar headers say",
            ));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::doc::OCI_MANIFEST;

    #[test]
    fn names_are_normalised_inside_the_root() {
        assert_eq!(
            normalize("./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("."), None);
        assert!(blob_name("sha256:../../x").is_err());
        assert!(blob_name("md5:ab").is_err());
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_docker_archive_gets_a_manifest_and_its_names_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let write = |name: &str, manifest: &str| {
            let path = dir.path().join(name);
            let bytes = tar_of(&[
                (
                    "manifest.json",
                    tar::EntryType::Regular,
                    manifest.as_bytes(),
                    None,
                ),
                ("c.json", tar::EntryType::Regular, config, None),
                ("l/layer.tar", tar::EntryType::Regular, b"layer bytes", None),
            ]);
            std::fs::write(&path, bytes).unwrap();
            Source::open(&path).unwrap()
        };
        let plan = write(
            "ok.tar",
            r#"[{"Config":"c.json","Layers":["l/layer.tar"]}]"#,
        )
        .plan()
        .unwrap();
        assert_eq!(plan.blobs.len(), 2);
        assert_eq!(plan.blobs[1].digest, Digest::of(b"layer bytes").to_string());
        assert!(
            plan.root()
                .media_type
                .contains("docker.distribution.manifest.v2")
        );
        // A layer named above the archive's root, or several images: refused.
        let climbing = write(
            "up.tar",
            r#"[{"Config":"c.json","Layers":["../../etc/passwd"]}]"#,
        );
        assert!(climbing.plan().is_err());
        let two = r#"[{"Config":"c.json","Layers":[]},{"Config":"c.json","Layers":[]}]"#;
        let err = write("two.tar", two).plan().unwrap_err().to_string();
        assert!(err.contains("lists 2 images"), "{err}");
    }

    #[test]
    fn a_tar_is_read_in_place_and_links_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let cd = Digest::of(config).to_string();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"c","digest":"{cd}","size":{}}},"layers":[]}}"#,
            config.len()
        );
        let md = Digest::of(manifest.as_bytes()).to_string();
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{}}}]}}"#,
            manifest.len()
        );
        let cname = format!("blobs/sha256/{}", &cd[7..]);
        let mname = format!("blobs/sha256/{}", &md[7..]);
        let bytes = tar_of(&[
            (
                "index.json",
                tar::EntryType::Regular,
                index.as_bytes(),
                None,
            ),
            ("config", tar::EntryType::Regular, config, None),
            (&cname, tar::EntryType::Link, b"", Some("config")),
            (&mname, tar::EntryType::Symlink, b"", Some("../../m")),
            ("m", tar::EntryType::Regular, manifest.as_bytes(), None),
        ]);
        let path = dir.path().join("i.tar");
        std::fs::write(&path, bytes).unwrap();
        let plan = Source::open(&path).unwrap().plan().unwrap();
        assert_eq!(plan.blobs.len(), 1);
        assert_eq!(plan.blobs[0].digest, cd);
        assert_eq!(plan.root().digest, md);
        assert_eq!(plan.root().bytes, manifest.as_bytes());
        let (mut r, size) = Source::open(&path).unwrap().blob(&cd).unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!((got.as_slice(), size), (&config[..], config.len() as u64));

        // The same image under two names is pushed as that image, not as an index.
        let twice = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{n}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{md}","size":{n}}}]}}"#,
            n = manifest.len()
        );
        let bytes = tar_of(&[
            (
                "index.json",
                tar::EntryType::Regular,
                twice.as_bytes(),
                None,
            ),
            (&cname, tar::EntryType::Regular, config, None),
            (&mname, tar::EntryType::Regular, manifest.as_bytes(), None),
        ]);
        std::fs::write(&path, bytes).unwrap();
        let plan = Source::open(&path).unwrap().plan().unwrap();
        assert_eq!(
            (plan.manifests.len(), plan.root().digest.as_str()),
            (1, md.as_str())
        );

        // A manifest whose bytes do not match its digest is refused.
        let bad = tar_of(&[
            (
                "index.json",
                tar::EntryType::Regular,
                index.as_bytes(),
                None,
            ),
            (&mname, tar::EntryType::Regular, b"{}", None),
        ]);
        std::fs::write(&path, bad).unwrap();
        let err = Source::open(&path).unwrap().plan().unwrap_err().to_string();
        assert!(err.contains("not sha256:"), "{err}");
        // A link out of the archive resolves to nothing.
        let escape = tar_of(&[(
            "index.json",
            tar::EntryType::Symlink,
            b"",
            Some("../../../etc/passwd"),
        )]);
        std::fs::write(&path, escape).unwrap();
        assert!(matches!(
            Source::open(&path),
            Err(SourceError::NotLayout { .. })
        ));
    }
}
