//! Reading an ELF file from a stream (a layer of an image) with memory bounded by what
//! the verdict needs, not by what the file's header declares. Files up to 64 MiB are read
//! whole. A larger one is copied into an anonymous, lazily backed mapping of its size, of
//! which only these parts are ever written (and so take memory): its first and last
//! 16 MiB, its program and section header tables, and the interpreter, dynamic and note
//! segments the program headers name. Untouched pages read as zeros and cost nothing.
//!
//! What decides the verdict (the program headers, PT_INTERP and PT_DYNAMIC) must have
//! been captured, or the file is not judged and fails: a hostile file that puts them
//! where a stream has already passed gains nothing.

use std::io::{self, Read};

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::{Elf, ProgramHeader, program_header};

use super::{ElfError, ElfInfo};

/// Read whole up to this size.
const WHOLE: u64 = 64 << 20;
const HEAD: u64 = 16 << 20;
const TAIL: u64 = 16 << 20;
/// Largest part named by a header that is captured, and all of them together.
const MAX_PART: u64 = 16 << 20;
const MAX_PARTS: u64 = 64 << 20;
/// Largest file judged at all (address space for the mapping).
const MAX_SIZE: u64 = 1 << 40;
const CHUNK: usize = 1 << 20;

/// An ELF file read from a stream.
pub enum Captured {
    Whole(Vec<u8>),
    Sparse(Sparse),
    TooLarge(u64),
}

pub struct Sparse {
    map: memmap2::MmapMut,
    /// Byte ranges captured, sorted, merged.
    have: Vec<(u64, u64)>,
}

/// Reads exactly `size` bytes of an ELF file from `reader`.
pub fn capture(reader: &mut dyn Read, size: u64) -> io::Result<Captured> {
    if size <= WHOLE {
        let mut bytes = Vec::with_capacity(size as usize);
        reader.take(size).read_to_end(&mut bytes)?;
        if (bytes.len() as u64) < size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file cut short",
            ));
        }
        return Ok(Captured::Whole(bytes));
    }
    if size > MAX_SIZE || usize::try_from(size).is_err() {
        io::copy(&mut reader.take(size), &mut io::sink())?;
        return Ok(Captured::TooLarge(size));
    }
    let Ok(mut map) = memmap2::MmapOptions::new()
        .len(size as usize)
        .no_reserve_swap()
        .map_anon()
    else {
        io::copy(&mut reader.take(size), &mut io::sink())?;
        return Ok(Captured::TooLarge(size));
    };
    let mut wanted: Vec<(u64, u64)> = vec![(0, HEAD), (size - TAIL, size)];
    let mut have: Vec<(u64, u64)> = Vec::new();
    let mut parts = 0u64;
    let mut headers_known = false;
    let mut phdrs_known = false;
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < size {
        let want = CHUNK.min((size - offset) as usize);
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file cut short",
            ));
        }
        let end = offset + n as u64;
        for &(s, e) in &wanted {
            let (from, to) = (s.max(offset), e.min(end));
            if from < to {
                map[from as usize..to as usize]
                    .copy_from_slice(&buf[(from - offset) as usize..(to - offset) as usize]);
                add(&mut have, from, to);
            }
        }
        offset = end;
        if !headers_known && covered(&have, 0, 64) {
            headers_known = true;
            if let Some(layout) = Layout::of(&map) {
                for part in [layout.phdrs, layout.shdrs] {
                    want_part(&mut wanted, &mut parts, part, size);
                }
            }
        }
        if headers_known && !phdrs_known {
            if let Some(layout) = Layout::of(&map) {
                if covered(&have, layout.phdrs.0, layout.phdrs.1) {
                    phdrs_known = true;
                    for part in layout.segments(&map) {
                        want_part(&mut wanted, &mut parts, part, size);
                    }
                }
            }
        }
    }
    Ok(Captured::Sparse(Sparse { map, have }))
}

/// Judges a captured file.
pub fn inspect_captured(captured: &Captured) -> Result<ElfInfo, ElfError> {
    match captured {
        Captured::Whole(bytes) => super::inspect(bytes),
        Captured::TooLarge(size) => Err(ElfError::Malformed(format!(
            "{size} bytes: too large to judge"
        ))),
        Captured::Sparse(sparse) => {
            let layout = Layout::of(&sparse.map)
                .ok_or_else(|| ElfError::Malformed("header cut short".into()))?;
            let mut needed = vec![layout.phdrs];
            needed.extend(layout.verdict_segments(&sparse.map));
            if let Some((s, e)) = needed.iter().find(|(s, e)| !covered(&sparse.have, *s, *e)) {
                return Err(ElfError::Malformed(format!(
                    "{} bytes, with headers at {s:#x}..{e:#x} that a streamed read cannot \
                     reach: not judged",
                    sparse.map.len()
                )));
            }
            super::inspect(&sparse.map)
        }
    }
}

/// Where the header tables are.
struct Layout {
    ctx: Ctx,
    phoff: u64,
    phnum: usize,
    phdrs: (u64, u64),
    shdrs: (u64, u64),
}

impl Layout {
    fn of(bytes: &[u8]) -> Option<Layout> {
        let header = Elf::parse_header(bytes).ok()?;
        let is_64 = bytes.get(4) == Some(&2);
        let little = bytes.get(5) == Some(&1);
        let container = if is_64 {
            Container::Big
        } else {
            Container::Little
        };
        let ctx = Ctx::new(container, Endian::from(little));
        let span = |off: u64, n: u16, size: u16| {
            let len = u64::from(n) * u64::from(size);
            (off, off.saturating_add(len))
        };
        Some(Layout {
            ctx,
            phoff: header.e_phoff,
            phnum: header.e_phnum.into(),
            phdrs: span(header.e_phoff, header.e_phnum, header.e_phentsize),
            shdrs: span(header.e_shoff, header.e_shnum, header.e_shentsize),
        })
    }

    fn program_headers(&self, bytes: &[u8]) -> Vec<ProgramHeader> {
        if self.phnum == 0 {
            return Vec::new();
        }
        ProgramHeader::parse(bytes, self.phoff as usize, self.phnum, self.ctx).unwrap_or_default()
    }

    /// Interpreter, dynamic and note segments: what the inspector reads of the file.
    fn segments(&self, bytes: &[u8]) -> Vec<(u64, u64)> {
        self.ranges(
            bytes,
            &[
                program_header::PT_INTERP,
                program_header::PT_DYNAMIC,
                program_header::PT_NOTE,
            ],
        )
    }

    /// What the verdict rests on: the interpreter and dynamic segments.
    fn verdict_segments(&self, bytes: &[u8]) -> Vec<(u64, u64)> {
        self.ranges(
            bytes,
            &[program_header::PT_INTERP, program_header::PT_DYNAMIC],
        )
    }

    fn ranges(&self, bytes: &[u8], types: &[u32]) -> Vec<(u64, u64)> {
        self.program_headers(bytes)
            .iter()
            .filter(|ph| types.contains(&ph.p_type) && ph.p_filesz > 0)
            .map(|ph| (ph.p_offset, ph.p_offset.saturating_add(ph.p_filesz)))
            .collect()
    }
}

fn want_part(wanted: &mut Vec<(u64, u64)>, parts: &mut u64, (s, e): (u64, u64), size: u64) {
    let e = e.min(size);
    if s >= e || e - s > MAX_PART || *parts + (e - s) > MAX_PARTS {
        return;
    }
    *parts += e - s;
    wanted.push((s, e));
}

/// Adds `[s, e)` to a sorted list of disjoint ranges.
fn add(have: &mut Vec<(u64, u64)>, s: u64, e: u64) {
    have.push((s, e));
    have.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(have.len());
    for &(s, e) in have.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *have = merged;
}

fn covered(have: &[(u64, u64)], s: u64, e: u64) -> bool {
    s >= e || have.iter().any(|&(hs, he)| hs <= s && e <= he)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_cover() {
        let mut have = Vec::new();
        add(&mut have, 10, 20);
        add(&mut have, 30, 40);
        add(&mut have, 20, 30);
        assert_eq!(have, [(10, 40)]);
        assert!(covered(&have, 12, 38));
        assert!(!covered(&have, 5, 12));
        assert!(covered(&have, 50, 50));
    }
}
