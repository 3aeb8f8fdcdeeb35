//! The files an image really holds: layers are read top-down, and a file of a lower layer
//! counts only if no upper layer replaced it, deleted it (`.wh.NAME`) or hid its directory
//! (`.wh..wh..opq`), as the OCI image spec's layer rules say. Each layer is streamed once;
//! only visible ELF files are read into memory. Content-addressed layers are verified
//! against their digest on the way.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read};

use super::Outcome;
use super::store::{Store, decompress, normalize};
use crate::digest::HashReader;
use crate::elf;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// Magic of zstd skippable frames, `0x184D2A5?`.
const ZSTD_SKIPPABLE: u32 = 0x184d_2a50;

/// What upper layers have already decided.
#[derive(Default)]
struct Hidden {
    /// Paths present in an upper layer (any type, including whiteouts).
    exact: HashSet<String>,
    /// Paths below which lower layers are hidden: replaced by a non-directory, deleted,
    /// or made opaque. `""` is the root.
    below: HashSet<String>,
}

impl Hidden {
    fn hides(&self, path: &str) -> bool {
        if self.exact.contains(path) || self.below.contains("") {
            return true;
        }
        path.match_indices('/')
            .any(|(i, _)| self.below.contains(&path[..i]))
    }
}

/// What one layer does to the paths below it.
enum Change {
    Dir(String),
    NonDir(String),
    Opaque(String),
}

/// Scans `layers` (bottom first, with digests to verify) and returns every visible ELF
/// file of the final filesystem with its outcome, sorted by path.
pub(super) fn scan(
    store: &dyn Store,
    layers: &[(String, Option<String>)],
) -> Result<Vec<(String, Outcome)>, String> {
    let mut hidden = Hidden::default();
    let mut found = BTreeMap::new();
    for (name, digest) in layers.iter().rev() {
        let (findings, changes) = scan_layer(store, name, digest.as_deref(), &hidden)
            .map_err(|e| format!("layer {name}: {e}"))?;
        found.extend(findings);
        for change in changes {
            match change {
                Change::Dir(p) => {
                    hidden.exact.insert(p);
                }
                Change::NonDir(p) => {
                    hidden.exact.insert(p.clone());
                    hidden.below.insert(p);
                }
                Change::Opaque(p) => {
                    hidden.below.insert(p);
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}

type LayerScan = (BTreeMap<String, Outcome>, Vec<Change>);

fn scan_layer(
    store: &dyn Store,
    name: &str,
    digest: Option<&str>,
    hidden: &Hidden,
) -> io::Result<LayerScan> {
    let mut raw = HashReader::new(store.open(name)?);
    let mut findings = BTreeMap::new();
    let mut changes = Vec::new();
    {
        let mut archive =
            tar::Archive::new(decompress(BufReader::with_capacity(256 << 10, &mut raw))?);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(path) = normalize(&raw_path).filter(|p| !p.is_empty()) else {
                continue;
            };
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
            if base == OPAQUE {
                changes.push(Change::Opaque(dir.to_string()));
                continue;
            }
            if let Some(deleted) = base.strip_prefix(WHITEOUT) {
                let target = if dir.is_empty() {
                    deleted.to_string()
                } else {
                    format!("{dir}/{deleted}")
                };
                changes.push(Change::NonDir(target));
                continue;
            }
            // A later entry of the same layer replaces an earlier one.
            findings.remove(&path);
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                changes.push(Change::Dir(path));
                continue;
            }
            changes.push(Change::NonDir(path.clone()));
            if hidden.hides(&path) {
                continue;
            }
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if let Some(outcome) = inspect_entry(&mut entry)? {
                        findings.insert(path, outcome);
                    }
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .and_then(|t| normalize(&String::from_utf8_lossy(&t)));
                    if let Some(outcome) = target.and_then(|t| findings.get(&t).cloned()) {
                        findings.insert(path, outcome);
                    }
                }
                _ => {}
            }
        }
        // Read the compressed stream to its end so the digest covers all of it.
        io::copy(&mut archive.into_inner(), &mut io::sink())?;
    }
    let actual = raw.finish()?;
    if let Some(expected) = digest.filter(|d| d.starts_with("sha256:")) {
        if actual.to_string() != expected {
            return Err(io::Error::other(format!(
                "content does not match its digest {expected} (got {actual}): the archive is \
                 damaged or was altered"
            )));
        }
    }
    Ok((findings, changes))
}

/// Reads an entry's magic and, if it is ELF, the whole file, and inspects it.
fn inspect_entry(entry: &mut impl Read) -> io::Result<Option<Outcome>> {
    let mut data = Vec::new();
    entry.by_ref().take(4).read_to_end(&mut data)?;
    if !elf::has_magic(&data) {
        return Ok(None);
    }
    entry.read_to_end(&mut data)?;
    Ok(Some(match elf::inspect(&data) {
        Ok(info) => Outcome::Elf(info),
        Err(e) => Outcome::Corrupt(e.to_string()),
    }))
}

/// A reader over a sequence of zstd frames (zstd layers may hold several), skipping
/// skippable frames.
pub(super) struct ZstdFrames<R: BufRead> {
    state: ZstdState<R>,
}

enum ZstdState<R: BufRead> {
    Between(R),
    InFrame(ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>),
    Done,
}

impl<R: BufRead> ZstdFrames<R> {
    pub fn new(reader: R) -> Self {
        ZstdFrames {
            state: ZstdState::Between(reader),
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, ZstdState::Done) {
                ZstdState::Done => return Ok(0),
                ZstdState::InFrame(mut decoder) => {
                    let n = decoder.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = ZstdState::InFrame(decoder);
                        return Ok(n);
                    }
                    self.state = ZstdState::Between(decoder.into_inner());
                }
                ZstdState::Between(mut reader) => {
                    let head = reader.fill_buf()?;
                    if head.is_empty() {
                        return Ok(0);
                    }
                    let magic = head
                        .get(..4)
                        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
                    if magic.is_some_and(|m| m & 0xffff_fff0 == ZSTD_SKIPPABLE) {
                        let mut header = [0u8; 8];
                        reader.read_exact(&mut header)?;
                        let length =
                            u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                        io::copy(&mut (&mut reader).take(length.into()), &mut io::sink())?;
                        self.state = ZstdState::Between(reader);
                        continue;
                    }
                    let decoder = ruzstd::decoding::StreamingDecoder::new(reader)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    self.state = ZstdState::InFrame(decoder);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_files() {
        let mut hidden = Hidden::default();
        hidden.exact.insert("bin/replaced".into());
        hidden.below.insert("opt/gone".into());
        hidden.below.insert("var".into());
        assert!(hidden.hides("bin/replaced"));
        assert!(!hidden.hides("bin/kept"));
        assert!(hidden.hides("opt/gone/x/y"));
        assert!(!hidden.hides("opt/gone2"));
        assert!(hidden.hides("var/lib/x"));
        hidden.below.insert(String::new());
        assert!(hidden.hides("anything"));
    }
}
