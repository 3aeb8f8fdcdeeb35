//! The files an image really holds. Each layer is read once, on its own, into what it
//! does to the filesystem below it ([`LayerScan`]): files it adds (ELF files judged on
//! the way), paths it replaces, deletes (`.wh.NAME`) or empties (`.wh..wh..opq`), as the
//! OCI image spec's layer rules say. An image's filesystem is then the replay of its
//! layers, bottom first, over a sorted map of the ELF files visible so far, so a deletion
//! costs a range removal however deep its paths. Layers shared by images are read once.
//!
//! Names are bytes, normalised as runtimes do: `..` stops at the root, so an entry
//! `../../usr/bin/x` is judged where it lands, `/usr/bin/x`, and reported as hostile.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use super::Outcome;
use super::compress::decompress;
use super::tar_reader::{Kind, Reader};
use super::verify::{Algorithm, Hashing};
use crate::elf;

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
/// What one inspection may hold of layer entries: their number and the bytes of their
/// names. Real images stay far below; a hostile one stops here, judged as failing.
const MAX_ENTRIES: u64 = 4 << 20;
const MAX_NAME_BYTES: u64 = 256 << 20;
/// Layer entries replayed over all images of one archive.
const MAX_REPLAYED: u64 = 64 << 20;

/// Shared limits of one inspection.
#[derive(Default)]
pub(super) struct Budget {
    entries: Cell<u64>,
    name_bytes: Cell<u64>,
    replayed: Cell<u64>,
}

impl Budget {
    fn take_entry(&self, name_len: usize) -> io::Result<()> {
        self.entries.set(self.entries.get() + 1);
        self.name_bytes.set(self.name_bytes.get() + name_len as u64);
        if self.entries.get() > MAX_ENTRIES || self.name_bytes.get() > MAX_NAME_BYTES {
            return Err(io::Error::other(format!(
                "more than {MAX_ENTRIES} layer entries or {} MiB of names: too large to judge",
                MAX_NAME_BYTES >> 20
            )));
        }
        Ok(())
    }
}

/// What a layer holds for a file.
#[derive(Debug, Clone)]
enum Content {
    Plain,
    Elf(Arc<Outcome>),
    /// A hard link to this path (in this layer or below).
    HardLink(Box<[u8]>),
}

#[derive(Debug, Clone)]
enum Op {
    /// `.wh.NAME`: the lower NAME is gone, with everything below it.
    Whiteout(Box<[u8]>),
    /// `.wh..wh..opq` in DIR: everything lower below DIR is gone.
    Opaque(Box<[u8]>),
    /// An entry: it replaces the lower path; a non-directory also hides what was below.
    Entry {
        path: Box<[u8]>,
        dir: bool,
        content: Content,
    },
}

/// What one layer does to the filesystem below it.
#[derive(Debug)]
pub(super) struct LayerScan {
    ops: Vec<Op>,
    /// Entries no runtime should be given, and why; they fail the gate wherever they are.
    pub problems: Problems,
    /// The digest of the stored (compressed) blob, by the algorithm asked for.
    pub digest: String,
    /// Why the layer could not be read to its end (checked after its digest, which
    /// explains a damaged layer best).
    pub error: Option<String>,
}

/// Normalises an entry name as runtimes do (`filepath.Clean("/" + name)`); the second
/// value says whether `..` tried to climb above the root.
pub(super) fn normalize(name: &[u8]) -> (Vec<u8>, bool) {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut climbed = false;
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    climbed = true;
                }
            }
            p => parts.push(p),
        }
    }
    (parts.join(&b"/"[..]), climbed)
}

/// Reads one layer blob (gzip, zstd or plain tar) to its end, digesting it with `alg`.
/// An error of the blob's own stream is returned; one of its contents is kept in the
/// scan, after the digest of the whole blob.
pub(super) fn scan(blob: impl Read, alg: Algorithm, budget: &Budget) -> io::Result<LayerScan> {
    let mut raw = Hashing::new(blob, alg);
    let result = (|| -> io::Result<Entries> {
        let mut buffered = BufReader::with_capacity(256 << 10, &mut raw);
        if buffered.fill_buf()?.is_empty() {
            return Err(io::Error::other("the layer is empty, not a tar archive"));
        }
        let mut stream = decompress(buffered)?;
        let entries = read_entries(&mut stream, budget)?;
        // Everything after the end of the archive still counts towards the digest.
        io::copy(&mut stream, &mut io::sink())?;
        Ok(entries)
    })();
    let digest = raw.finish()?;
    Ok(match result {
        Ok((ops, problems)) => LayerScan {
            ops,
            problems,
            digest,
            error: None,
        },
        Err(e) => LayerScan {
            ops: Vec::new(),
            problems: Vec::new(),
            digest,
            error: Some(e.to_string()),
        },
    })
}

type Entries = (Vec<Op>, Problems);

fn read_entries(stream: &mut dyn Read, budget: &Budget) -> io::Result<Entries> {
    let mut reader = Reader::new(stream);
    let mut ops = Vec::new();
    let mut problems = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        budget.take_entry(entry.name.len())?;
        let (path, climbed) = normalize(&entry.name);
        if climbed {
            problems.push((
                entry.name.clone(),
                format!(
                    "the layer entry `{}` climbs above the root: runtimes unpack it as `/{}` \
                     or refuse the layer",
                    String::from_utf8_lossy(&entry.name),
                    String::from_utf8_lossy(&path)
                ),
            ));
        }
        if path.is_empty() {
            continue;
        }
        let (dir, base) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], &path[..]),
        };
        if base == OPAQUE {
            ops.push(Op::Opaque(dir.into()));
            continue;
        }
        if let Some(deleted) = base.strip_prefix(WHITEOUT) {
            let mut target = dir.to_vec();
            if !target.is_empty() {
                target.push(b'/');
            }
            target.extend_from_slice(deleted);
            ops.push(Op::Whiteout(target.into()));
            continue;
        }
        let content = match entry.kind {
            k if k.is_file() => judge(&mut reader.data(), entry.size)?,
            Kind::HardLink => Content::HardLink(normalize(&entry.link).0.into()),
            _ => Content::Plain,
        };
        ops.push(Op::Entry {
            path: path.into(),
            dir: entry.kind == Kind::Dir,
            content,
        });
    }
    Ok((ops, problems))
}

/// Judges a file's contents if they start like ELF.
fn judge(data: &mut dyn Read, size: u64) -> io::Result<Content> {
    let mut magic = Vec::with_capacity(4);
    data.take(4).read_to_end(&mut magic)?;
    if !elf::has_magic(&magic) {
        return Ok(Content::Plain);
    }
    let mut whole = (&magic[..]).chain(data);
    let captured = elf::capture(&mut whole, size)?;
    let outcome = match elf::inspect_captured(&captured) {
        Ok(info) => Outcome::Elf(info),
        Err(e) => Outcome::Corrupt(e.to_string()),
    };
    Ok(Content::Elf(Arc::new(outcome)))
}

/// The ELF files visible in an image's filesystem, by path.
pub(super) type Visible = BTreeMap<Vec<u8>, Arc<Outcome>>;
/// Entries no runtime should be given, with why.
pub(super) type Problems = Vec<(Vec<u8>, String)>;

/// The ELF files visible in the filesystem `layers` (bottom first) make, with the
/// problems of every layer.
pub(super) fn replay(
    layers: &[Arc<LayerScan>],
    budget: &Budget,
) -> Result<(Visible, Problems), String> {
    let mut visible = Visible::new();
    let mut problems = Problems::new();
    for layer in layers {
        budget
            .replayed
            .set(budget.replayed.get() + layer.ops.len() as u64);
        if budget.replayed.get() > MAX_REPLAYED {
            return Err(format!(
                "more than {MAX_REPLAYED} layer entries across its images: too large to judge"
            ));
        }
        problems.extend(layer.problems.iter().cloned());
        // Deletions apply to the layers below only, wherever they are in this one.
        for op in &layer.ops {
            match op {
                Op::Whiteout(path) => {
                    visible.remove(&path[..]);
                    remove_below(&mut visible, path);
                }
                Op::Opaque(dir) => remove_below(&mut visible, dir),
                Op::Entry { .. } => {}
            }
        }
        for op in &layer.ops {
            let Op::Entry { path, dir, content } = op else {
                continue;
            };
            let linked = match content {
                Content::HardLink(target) => visible.get(&target[..]).cloned(),
                _ => None,
            };
            visible.remove(&path[..]);
            if !dir {
                remove_below(&mut visible, path);
            }
            match content {
                Content::Elf(outcome) => {
                    visible.insert(path.to_vec(), outcome.clone());
                }
                Content::HardLink(_) => {
                    if let Some(outcome) = linked {
                        visible.insert(path.to_vec(), outcome);
                    }
                }
                Content::Plain => {}
            }
        }
    }
    Ok((visible, problems))
}

/// Removes every path strictly below `dir` (`""` is the root).
fn remove_below(visible: &mut Visible, dir: &[u8]) {
    if dir.is_empty() {
        visible.clear();
        return;
    }
    let mut start = dir.to_vec();
    start.push(b'/');
    let mut end = dir.to_vec();
    end.push(b'/' + 1);
    let doomed: Vec<Vec<u8>> = visible.range(start..end).map(|(k, _)| k.clone()).collect();
    for k in doomed {
        visible.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, dir: bool, elf: bool) -> Op {
        Op::Entry {
            path: path.as_bytes().into(),
            dir,
            content: if elf {
                Content::Elf(Arc::new(Outcome::Corrupt("x".into())))
            } else {
                Content::Plain
            },
        }
    }

    fn layer(ops: Vec<Op>) -> Arc<LayerScan> {
        Arc::new(LayerScan {
            ops,
            problems: vec![],
            digest: String::new(),
            error: None,
        })
    }

    fn names(layers: &[Arc<LayerScan>]) -> Vec<String> {
        let (v, _) = replay(layers, &Budget::default()).unwrap();
        v.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn upper_layers_replace_delete_and_hide() {
        let base = layer(vec![
            entry("bin/a", false, true),
            entry("bin/b", false, true),
            entry("opt/x/y", false, true),
            entry("var/lib/z", false, true),
            entry("usr/c", false, true),
        ]);
        let top = layer(vec![
            entry("bin/a", false, false),
            Op::Whiteout(b"opt/x"[..].into()),
            Op::Opaque(b"var"[..].into()),
            entry("var/new", false, true),
            entry("usr", false, false),
            Op::Entry {
                path: b"bin/b2"[..].into(),
                dir: false,
                content: Content::HardLink(b"bin/b"[..].into()),
            },
        ]);
        assert_eq!(names(&[base, top]), ["bin/b", "bin/b2", "var/new"]);
    }

    #[test]
    fn names_are_clamped_at_the_root_and_compared_as_bytes() {
        assert_eq!(
            normalize(b"../../usr/bin/dyn"),
            (b"usr/bin/dyn".to_vec(), true)
        );
        assert_eq!(normalize(b"./a//b/../c"), (b"a/c".to_vec(), false));
        let a = layer(vec![entry("bin/\u{fffd}", false, true)]);
        let b = layer(vec![Op::Whiteout(b"bin/\xff"[..].into())]);
        assert_eq!(
            names(&[a, b]),
            ["bin/\u{fffd}"],
            "different bytes, not whited out"
        );
    }

    #[test]
    fn deep_paths_under_a_whiteout_cost_little() {
        let deep = "d/".repeat(20_000);
        let mut ops: Vec<Op> = (0..200)
            .map(|i| entry(&format!("{deep}f{i}"), false, true))
            .collect();
        ops.push(entry("keep", false, true));
        let start = std::time::Instant::now();
        let gone = layer(vec![Op::Whiteout(b"d"[..].into())]);
        assert_eq!(names(&[layer(ops), gone]), ["keep"]);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
