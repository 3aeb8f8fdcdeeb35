//! Read-only access by name to what an image archive or an OCI layout directory holds:
//! JSON documents (verified against their digest) and layers (read once into a
//! [`LayerScan`], verified too). Nothing is ever extracted, so hostile names cannot
//! escape; links are resolved inside the archive's own namespace.
//!
//! An archive file, compressed or not, is read in one pass, as clients read it: small
//! members are kept in memory (4 MiB each, 256 MiB in all), larger ones are read as
//! layers while they stream past. Nothing is decompressed to disk, so a compressed
//! archive costs no more than its own contents, however much it claims to hold. A layout
//! directory is read by name, opening only regular files (a FIFO never blocks it).

use std::collections::HashMap;

use std::io::{self, BufRead, BufReader, Read};

use std::path::Path;
use std::sync::Arc;

use super::compress::decompress;
use super::layers::{self, Budget, LayerScan};
use super::tar_reader::{Kind, Reader};
use crate::layout::images::Documents;
use crate::layout::source::Source;
use crate::layout::verify::{self, Algorithm};

/// Largest JSON document read (index, manifest, config): 4 MiB, the limit registries set.
pub(super) const MAX_JSON: u64 = 4 << 20;
/// Members up to this size are kept in memory; all of them together up to `MAX_KEPT`.
const SMALL: u64 = MAX_JSON;
const MAX_KEPT: u64 = 256 << 20;
/// Links followed in a row before a name is declared unresolvable.
const MAX_LINK_DEPTH: usize = 16;

/// Named access to the blobs of an archive or layout: its documents, and its layers.
pub(super) trait Blobs: Documents {
    /// A layer, read and verified against `digest` when one is given.
    fn layer(
        &mut self,
        name: &str,
        digest: Option<&str>,
        budget: &Budget,
    ) -> Result<Arc<LayerScan>, String>;
}

pub(super) use crate::layout::member_name;

fn check_digest(name: &str, digest: Option<&str>, actual: &str) -> Result<(), String> {
    match digest {
        Some(expected) => {
            let (alg, _) = verify::parse(expected)?;
            if !actual.starts_with(&format!("{}:", alg.name())) {
                return Err(format!(
                    "{name}: cannot verify {expected} (the member was read as {actual})"
                ));
            }
            verify::check(name, expected, actual)
        }
        None => Ok(()),
    }
}

fn too_large_document(name: &str) -> String {
    format!(
        "{name}: larger than {} MiB, not a document an image holds",
        MAX_JSON >> 20
    )
}

fn alg_for(name: &str, digest: Option<&str>) -> Algorithm {
    digest
        .and_then(|d| verify::parse(d).ok())
        .map_or_else(|| Algorithm::of_name(name), |(alg, _)| alg)
}

/// A layer whose digest matches and whose contents could be read.
fn verified(
    name: &str,
    digest: Option<&str>,
    scan: Arc<LayerScan>,
) -> Result<Arc<LayerScan>, String> {
    check_digest(name, digest, &scan.digest)?;
    match &scan.error {
        Some(e) => Err(format!("layer {name}: {e}")),
        None => Ok(scan),
    }
}

enum Member {
    Small(Vec<u8>),
    Large(Result<Arc<LayerScan>, String>),
    Link(String),
}

/// An image archive, read in one pass.
pub(super) struct ArchiveBlobs {
    members: HashMap<String, Member>,
    scanned: HashMap<(String, &'static str), Arc<LayerScan>>,
}

impl ArchiveBlobs {
    /// Reads an archive (tar, gzip or zstd compressed) to its end.
    pub fn read(archive: impl Read, budget: &Budget) -> Result<ArchiveBlobs, String> {
        let mut buffered = BufReader::with_capacity(256 << 10, archive);
        buffered.fill_buf().map_err(|e| e.to_string())?;
        let stream = decompress(buffered).map_err(|e| e.to_string())?;
        Self::from_stream(stream, budget).map_err(|e| e.to_string())
    }

    fn from_stream(stream: impl Read, budget: &Budget) -> io::Result<ArchiveBlobs> {
        let mut reader = Reader::new(stream);
        let mut members = HashMap::new();
        let mut kept = 0u64;
        while let Some(entry) = reader.next_entry()? {
            // Names no JSON document can spell are never looked up.
            let Ok(raw) = String::from_utf8(entry.name.clone()) else {
                continue;
            };
            let Some(name) = member_name(&raw) else {
                return Err(io::Error::other(format!(
                    "the member `{raw}` climbs above the archive's root: clients refuse it"
                )));
            };
            let member = match entry.kind {
                k if k.is_file() && entry.size <= SMALL => {
                    kept += entry.size;
                    if kept > MAX_KEPT {
                        return Err(io::Error::other(format!(
                            "more than {} MiB of small members: too large to judge",
                            MAX_KEPT >> 20
                        )));
                    }
                    let mut bytes = Vec::with_capacity(entry.size as usize);
                    reader.data().read_to_end(&mut bytes)?;
                    Member::Small(bytes)
                }
                k if k.is_file() => {
                    let alg = Algorithm::of_name(&name);
                    let scan = layers::scan(reader.data(), alg, budget);
                    Member::Large(scan.map(Arc::new).map_err(|e| e.to_string()))
                }
                Kind::HardLink => match String::from_utf8(entry.link.clone())
                    .ok()
                    .and_then(|l| member_name(&l))
                {
                    Some(target) => Member::Link(target),
                    None => continue,
                },
                Kind::Symlink => {
                    let Ok(target) = String::from_utf8(entry.link.clone()) else {
                        continue;
                    };
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    let joined = if target.starts_with('/') {
                        target
                    } else {
                        format!("{dir}/{target}")
                    };
                    match member_name(&joined) {
                        Some(target) => Member::Link(target),
                        None => continue,
                    }
                }
                _ => continue,
            };
            members.insert(name, member);
        }
        Ok(ArchiveBlobs {
            members,
            scanned: HashMap::new(),
        })
    }

    fn resolve<'a>(&'a self, name: &'a str) -> Result<(&'a str, &'a Member), String> {
        resolve(&self.members, name)
    }
}

fn resolve<'a>(
    members: &'a HashMap<String, Member>,
    name: &'a str,
) -> Result<(&'a str, &'a Member), String> {
    let mut name = name;
    for _ in 0..MAX_LINK_DEPTH {
        match members.get(name) {
            Some(Member::Link(target)) => name = target,
            Some(member) => return Ok((name, member)),
            None => return Err(format!("`{name}` is not in the archive")),
        }
    }
    Err(format!("too many levels of links at `{name}`"))
}

impl Documents for ArchiveBlobs {
    fn document(&mut self, name: &str, digest: Option<&str>) -> Result<Vec<u8>, String> {
        match self.resolve(name)? {
            (_, Member::Small(bytes)) => {
                let actual = verify::of_bytes(alg_for(name, digest), bytes);
                check_digest(name, digest, &actual)?;
                Ok(bytes.clone())
            }
            _ => Err(too_large_document(name)),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_ok()
    }
}

impl Blobs for ArchiveBlobs {
    fn layer(
        &mut self,
        name: &str,
        digest: Option<&str>,
        budget: &Budget,
    ) -> Result<Arc<LayerScan>, String> {
        let alg = alg_for(name, digest);
        let ArchiveBlobs { members, scanned } = self;
        let (real, member) = resolve(members, name)?;
        let scan = match member {
            Member::Large(scan) => scan.clone().map_err(|e| format!("layer {name}: {e}"))?,
            Member::Small(bytes) => {
                let key = (real.to_string(), alg.name());
                match scanned.get(&key) {
                    Some(scan) => scan.clone(),
                    None => {
                        let scan = layers::scan(&bytes[..], alg, budget)
                            .map(Arc::new)
                            .map_err(|e| format!("layer {name}: {e}"))?;
                        scanned.insert(key, scan.clone());
                        scan
                    }
                }
            }
            Member::Link(_) => return Err(format!("`{name}`: unresolvable link")),
        };
        verified(name, digest, scan)
    }
}

/// An OCI image layout directory, read by name through [`Source`] (regular files only,
/// no link followed), its layers scanned once each.
pub(super) struct DirBlobs {
    source: Source,
    scanned: HashMap<(String, &'static str), Result<Arc<LayerScan>, String>>,
}

impl DirBlobs {
    pub fn new(root: &Path) -> Result<DirBlobs, String> {
        let source = Source::open_any(root).map_err(|e| e.to_string())?;
        Ok(DirBlobs {
            source,
            scanned: HashMap::new(),
        })
    }
}

impl Documents for DirBlobs {
    fn document(&mut self, name: &str, digest: Option<&str>) -> Result<Vec<u8>, String> {
        self.source.document(name, digest)
    }

    fn contains(&self, name: &str) -> bool {
        self.source.has(name)
    }
}

impl Blobs for DirBlobs {
    fn layer(
        &mut self,
        name: &str,
        digest: Option<&str>,
        budget: &Budget,
    ) -> Result<Arc<LayerScan>, String> {
        let alg = alg_for(name, digest);
        let key = (name.to_string(), alg.name());
        if !self.scanned.contains_key(&key) {
            let scan = match self.source.stream(name) {
                Ok((range, _)) => layers::scan(range, alg, budget)
                    .map(Arc::new)
                    .map_err(|e| format!("layer {name}: {e}")),
                Err(e) => Err(e.to_string()),
            };
            self.scanned.insert(key.clone(), scan);
        }
        let scan = self.scanned[&key].clone()?;
        verified(name, digest, scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_only() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        builder
            .append_data(&mut h, "dir/file", &b"hello"[..])
            .unwrap();
        for (name, target) in [
            ("dir/rel", "file"),
            ("abs", "/dir/file"),
            ("esc", "../../x"),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            builder.append_link(&mut h, name, target).unwrap();
        }
        let bytes = builder.into_inner().unwrap();
        let mut blobs = ArchiveBlobs::from_stream(&bytes[..], &Budget::default()).unwrap();
        for name in ["dir/file", "dir/rel", "abs"] {
            assert_eq!(blobs.document(name, None).unwrap(), b"hello", "{name}");
        }
        assert!(!blobs.contains("esc"));
        assert!(!blobs.contains("x"));
    }
}
