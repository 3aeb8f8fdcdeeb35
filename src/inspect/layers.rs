//! Reading a layer: each layer is read once, on its own, into what it does to the
//! filesystem below it ([`LayerScan`]), entry by entry in its order: files it adds (ELF
//! files judged on the way), links, paths it replaces, deletes (`.wh.NAME`) or empties
//! (`.wh..wh..opq`). [`super::unpack`] replays scans into an image's filesystem. Layers
//! shared by images are read once.
//!
//! Names are bytes, normalised as runtimes do: `..` stops at the root, so an entry
//! `../../usr/bin/x` is judged where it lands, `/usr/bin/x`, and reported as hostile.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use super::Outcome;
use super::compress::decompress;
use super::tar_reader::{Kind, Reader};
use super::unpack::{Problems, add_problem, short};
use crate::elf;
use crate::layout::verify::{Algorithm, Hashing};

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
/// What one inspection may hold of layer entries: their number and the bytes of their
/// names. Real images stay far below; a hostile one stops here, judged as failing.
const MAX_ENTRIES: u64 = 4 << 20;
const MAX_NAME_BYTES: u64 = 256 << 20;

/// Shared limits of one inspection.
#[derive(Default)]
pub(super) struct Budget {
    entries: Cell<u64>,
    name_bytes: Cell<u64>,
    /// Layer entries replayed so far, over all images (see [`super::unpack`]).
    pub replayed: Cell<u64>,
    /// Bytes of file text kept so far (see [`MAX_KEPT`]).
    kept: Cell<u64>,
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

/// Files whose text the start checks read (the user and group databases), kept up to
/// [`MAX_TEXT`] bytes; of other executable files that are not ELF, the first
/// [`SCRIPT_HEAD`] bytes (a `#!` line).
const TEXT_NAMES: [&[u8]; 2] = [b"passwd", b"group"];
const MAX_TEXT: u64 = 1 << 20;
const SCRIPT_HEAD: u64 = 256;
/// Text kept over one inspection: a hostile archive of millions of `passwd` files or
/// scripts stops here; what is not kept is judged as unreadable text (the start checks
/// then fail closed: a user not found, a program that is not a script).
const MAX_KEPT: u64 = 64 << 20;

/// What a layer holds for a file.
#[derive(Debug, Clone)]
pub(super) enum Content {
    /// A directory, a device, or a regular file of no interest.
    Plain,
    /// A regular file's text (see [`TEXT_NAMES`]).
    Text(Arc<[u8]>),
    Elf(Arc<Outcome>),
    /// A hard link to this path (in this layer or below).
    HardLink(Box<[u8]>),
    /// A symbolic link, with its target as written.
    Symlink(Box<[u8]>),
}

/// One entry of a layer, in the order of the layer.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// `.wh.NAME`: the lower NAME is gone, with everything below it.
    Whiteout(Box<[u8]>),
    /// `.wh..wh..opq` in DIR: everything lower below DIR is gone.
    Opaque(Box<[u8]>),
    /// An entry: it replaces the lower path; a non-directory also hides what was below.
    Entry {
        path: Box<[u8]>,
        dir: bool,
        /// A regular file (a hard link takes its target's kind).
        file: bool,
        /// Permission bits.
        mode: u32,
        content: Content,
    },
}

/// What one layer does to the filesystem below it.
#[derive(Debug)]
pub(super) struct LayerScan {
    pub ops: Vec<Op>,
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
            add_problem(&mut problems, &entry.name, || {
                format!(
                    "the layer entry `{}` climbs above the root: runtimes unpack it as `/{}` \
                     or refuse the layer",
                    short(&entry.name),
                    short(&path)
                )
            });
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
            // `.wh.` alone names its directory, as containerd's join does.
            let mut target = dir.to_vec();
            if !target.is_empty() && !deleted.is_empty() {
                target.push(b'/');
            }
            target.extend_from_slice(deleted);
            ops.push(Op::Whiteout(target.into()));
            continue;
        }
        let content = match entry.kind {
            k if k.is_file() => {
                file_content(&mut reader.data(), entry.size, base, entry.mode, budget)?
            }
            Kind::HardLink => Content::HardLink(normalize(&entry.link).0.into()),
            Kind::Symlink => Content::Symlink(entry.link.clone().into()),
            _ => Content::Plain,
        };
        ops.push(Op::Entry {
            dir: entry.kind == Kind::Dir,
            file: entry.kind.is_file(),
            mode: entry.mode,
            path: path.into(),
            content,
        });
    }
    Ok((ops, problems))
}

/// What the gate keeps of a regular file named `base` with `mode`: the verdict of an
/// ELF file, the text of a user or group database, the first line of another executable.
pub(super) fn file_content(
    data: &mut dyn Read,
    size: u64,
    base: &[u8],
    mode: u32,
    budget: &Budget,
) -> io::Result<Content> {
    let wanted = if TEXT_NAMES.contains(&base) {
        MAX_TEXT
    } else if mode & 0o111 != 0 {
        SCRIPT_HEAD
    } else {
        0
    };
    let keep = wanted
        .min(size)
        .min(MAX_KEPT.saturating_sub(budget.kept.get()));
    let content = judge(data, size, keep)?;
    if let Content::Text(text) = &content {
        budget.kept.set(budget.kept.get() + text.len() as u64);
    }
    Ok(content)
}

/// Judges a file's contents if they start like ELF; else keeps the first `keep` bytes.
fn judge(data: &mut dyn Read, size: u64, keep: u64) -> io::Result<Content> {
    let mut magic = Vec::with_capacity(4);
    data.take(4).read_to_end(&mut magic)?;
    if !elf::has_magic(&magic) {
        if keep > 0 {
            data.take(keep.saturating_sub(magic.len() as u64))
                .read_to_end(&mut magic)?;
            return Ok(Content::Text(magic.into()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_text_is_bounded_over_an_inspection() {
        let budget = Budget::default();
        let passwd = b"root:x:0:0::/root:\n".repeat(1000);
        let kept = |budget: &Budget| {
            file_content(
                &mut &passwd[..],
                passwd.len() as u64,
                b"passwd",
                0o644,
                budget,
            )
            .unwrap()
        };
        assert!(matches!(kept(&budget), Content::Text(t) if t.len() == passwd.len()));
        // A hostile archive of many such files: past the bound, nothing more is kept
        // (the start checks then fail closed), and memory stays put.
        budget.kept.set(MAX_KEPT - 10);
        assert!(matches!(kept(&budget), Content::Text(t) if t.len() == 10));
        assert!(matches!(kept(&budget), Content::Plain));
        assert_eq!(budget.kept.get(), MAX_KEPT);
    }

    #[test]
    fn names_are_clamped_at_the_root() {
        assert_eq!(
            normalize(b"../../usr/bin/dyn"),
            (b"usr/bin/dyn".to_vec(), true)
        );
        assert_eq!(normalize(b"./a//b/../c"), (b"a/c".to_vec(), false));
    }
}
