//! GNU sparse files, in the four forms Go reads: old GNU (`S` headers and their extension
//! blocks), and PAX 0.0, 0.1 and 1.0 (whose map starts the stored data). Each becomes a
//! list of data fragments, validated as Go validates them; the rest is holes.

use std::io::{self, Read};

use super::Reader;
use super::fields::{BLOCK, decimal, header_err, must_read, numeric};
use super::pax::record;

/// The largest sparse map (text of a PAX 1.0 map, or fragments of the others).
const MAX_SPARSE_MAP: u64 = 16 << 20;
const MAX_FRAGMENTS: usize = 1 << 20;

/// Contents of a sparse entry: data fragments `(offset, length)` in order; the rest is
/// holes, read as zeros.
pub(super) struct Sparse {
    pub fragments: Vec<(u64, u64)>,
    pub next: usize,
    pub pos: u64,
    pub size: u64,
}

impl<R: Read> Reader<R> {
    /// The map of an old GNU sparse header and its extension blocks.
    pub(super) fn old_gnu_sparse(&mut self, blk: &[u8; BLOCK]) -> io::Result<Vec<(u64, u64)>> {
        let mut fragments = Vec::new();
        let mut entries = blk[386..482].to_vec();
        let mut extended = blk[482] != 0;
        loop {
            for e in entries.chunks_exact(24) {
                if e[0] == 0 {
                    break;
                }
                fragments.push((numeric(&e[..12])?, numeric(&e[12..])?));
            }
            if fragments.len() > MAX_FRAGMENTS {
                return Err(header_err("sparse map too large"));
            }
            if !extended {
                break;
            }
            let mut ext = [0u8; BLOCK];
            must_read(&mut self.r, &mut ext)?;
            entries = ext[..504].to_vec();
            extended = ext[504] != 0;
        }
        to_fragments(fragments)
    }

    /// A PAX sparse file (0.0, 0.1 or 1.0): its real name and size, and its map.
    pub(super) fn pax_sparse(
        &mut self,
        pax: &[(Vec<u8>, Vec<u8>)],
        name: &mut Vec<u8>,
        logical: &mut u64,
    ) -> io::Result<Option<Vec<(u64, u64)>>> {
        let major = record(pax, "GNU.sparse.major");
        let minor = record(pax, "GNU.sparse.minor");
        let v1 = match (major, minor) {
            (Some(b"0"), Some(b"0" | b"1")) => false,
            (Some(b"1"), Some(b"0")) => true,
            (Some(_), _) | (_, Some(_)) => return Ok(None),
            _ if record(pax, "GNU.sparse.map").is_some_and(|m| !m.is_empty()) => false,
            _ => return Ok(None),
        };
        if let Some(n) = record(pax, "GNU.sparse.name").filter(|n| !n.is_empty()) {
            *name = n.to_vec();
        }
        if let Some(size) =
            record(pax, "GNU.sparse.size").or_else(|| record(pax, "GNU.sparse.realsize"))
        {
            *logical = u64::try_from(decimal(size)?).map_err(|_| header_err("negative size"))?;
        }
        if v1 {
            return self.sparse_map_1x0().map(Some);
        }
        let count = decimal(record(pax, "GNU.sparse.numblocks").unwrap_or(b""))?;
        let map = record(pax, "GNU.sparse.map").unwrap_or(b"");
        let numbers: Vec<&[u8]> = if map.is_empty() {
            Vec::new()
        } else {
            map.split(|&b| b == b',').collect()
        };
        if count < 0 || numbers.len() as i64 != count.saturating_mul(2) {
            return Err(header_err("inconsistent sparse map"));
        }
        let pairs = numbers
            .chunks_exact(2)
            .map(|p| Ok((decimal(p[0])?, decimal(p[1])?)))
            .collect::<io::Result<Vec<_>>>()?;
        to_fragments(pairs).map(Some)
    }

    /// The 1.0 map at the start of the stored data: newline-separated decimals, padded
    /// to a block.
    fn sparse_map_1x0(&mut self) -> io::Result<Vec<(u64, u64)>> {
        let mut text: Vec<u8> = Vec::new();
        let mut newlines = 0usize;
        let mut feed = |reader: &mut Self, want: usize, text: &mut Vec<u8>| -> io::Result<()> {
            while newlines < want {
                if text.len() as u64 >= MAX_SPARSE_MAP || reader.remaining < BLOCK as u64 {
                    return Err(header_err("sparse map cut short or too large"));
                }
                let mut blk = [0u8; BLOCK];
                must_read(&mut reader.r, &mut blk)?;
                reader.remaining -= BLOCK as u64;
                newlines += memchr::memchr_iter(b'\n', &blk).count();
                text.extend_from_slice(&blk);
            }
            Ok(())
        };
        feed(self, 1, &mut text)?;
        let mut tokens = text.split(|&b| b == b'\n');
        let count = decimal(tokens.next().unwrap_or_default())?;
        if count < 0 || count as u64 > MAX_FRAGMENTS as u64 {
            return Err(header_err("bad sparse map"));
        }
        let count = count as usize;
        feed(self, 1 + 2 * count, &mut text)?;
        let mut tokens = text.split(|&b| b == b'\n').skip(1);
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = decimal(tokens.next().unwrap_or_default())?;
            let length = decimal(tokens.next().unwrap_or_default())?;
            pairs.push((offset, length));
        }
        to_fragments(pairs)
    }
}

fn to_fragments(pairs: Vec<(i64, i64)>) -> io::Result<Vec<(u64, u64)>> {
    pairs
        .into_iter()
        .map(|(o, l)| {
            if o < 0 || l < 0 || o.checked_add(l).is_none() {
                Err(header_err("bad sparse map entry"))
            } else {
                Ok((o as u64, l as u64))
            }
        })
        .collect()
}

/// Go's `validateSparseEntries`: in order, not overlapping, within the size.
pub(super) fn valid_fragments(fragments: &[(u64, u64)], size: u64) -> bool {
    let mut prev_end = 0u64;
    for &(offset, length) in fragments {
        let end = offset + length;
        if end > size || prev_end > offset {
            return false;
        }
        prev_end = end;
    }
    true
}
