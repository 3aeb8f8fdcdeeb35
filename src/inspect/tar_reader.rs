//! A streaming tar reader that sees what Go's `archive/tar` sees, because that is what
//! unpacks images: containerd, docker, podman, skopeo and umoci all read layers and
//! image archives with it. So names come from the PAX `path` record, a GNU long name or
//! the USTAR prefix exactly as Go takes them; entries of header-only types (links,
//! directories, devices) carry no data whatever their size field says; PAX global
//! headers apply to nothing; GNU sparse files (old GNU, PAX 0.0, 0.1 and 1.0) are
//! expanded to their real name and contents; an archive that ends without its end
//! blocks, or without the padding of its last entry, ends cleanly. Anything Go refuses
//! (a bad checksum or number, a malformed PAX record, an inconsistent sparse map) is an
//! error here too. Long names and PAX headers are capped at Go's 1 MiB, so a hostile
//! header cannot make this reader allocate what it declares.
//!
//! Names are bytes, never decoded: two different names stay two names.

use std::io::{self, Read};

const BLOCK: usize = 512;
/// Go's `maxSpecialFileSize`: the largest GNU long name or PAX header read.
const MAX_SPECIAL: u64 = 1 << 20;
/// The largest sparse map (text of a PAX 1.0 map, or fragments of the others).
const MAX_SPARSE_MAP: u64 = 16 << 20;
const MAX_FRAGMENTS: usize = 1 << 20;

/// What kind of entry a header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    HardLink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
    /// Old GNU sparse file (`S`): a regular file, expanded by this reader.
    Sparse,
    Other(u8),
}

impl Kind {
    fn of(flag: u8) -> Kind {
        match flag {
            b'0' | 0 | b'7' => Kind::Regular,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            b'S' => Kind::Sparse,
            other => Kind::Other(other),
        }
    }

    /// Types whose size field Go ignores: they have no data.
    fn header_only(self) -> bool {
        matches!(
            self,
            Kind::HardLink | Kind::Symlink | Kind::Char | Kind::Block | Kind::Dir | Kind::Fifo
        )
    }

    /// A file with contents (what runtimes write as a regular file).
    pub fn is_file(self) -> bool {
        matches!(self, Kind::Regular | Kind::Sparse)
    }
}

/// One entry, as a runtime would create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: Kind,
    /// Bytes of contents (after sparse expansion).
    pub size: u64,
}

/// Contents of a sparse entry: data fragments `(offset, length)` in order; the rest is
/// holes, read as zeros.
struct Sparse {
    fragments: Vec<(u64, u64)>,
    next: usize,
    pos: u64,
    size: u64,
}

pub struct Reader<R: Read> {
    r: R,
    /// Bytes of the current entry's stored data not yet read.
    remaining: u64,
    pad: u64,
    sparse: Option<Sparse>,
    done: bool,
}

fn header_err(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// The text of a NUL-terminated field.
fn field(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Go's `parseNumeric`: base-256 when the top bit is set, else octal.
fn numeric(b: &[u8]) -> io::Result<i64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let negative = b[0] & 0x40 != 0;
        let inv = if negative { 0xffu8 } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return Err(header_err("numeric field overflows"));
            }
            x = (x << 8) | u64::from(c);
        }
        if x >> 63 > 0 {
            return Err(header_err("numeric field overflows"));
        }
        return Ok(if negative { !(x as i64) } else { x as i64 });
    }
    octal(b)
}

/// Go's `parseOctal`: spaces and NULs trimmed at both ends, then the digits up to the
/// first NUL, which must all be octal (no sign).
fn octal(b: &[u8]) -> io::Result<i64> {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != 0)
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(start, |e| e + 1);
    let digits = field(&b[start..end.max(start)]);
    if digits.is_empty() {
        return Ok(0);
    }
    let bad = || {
        header_err(format!(
            "bad octal field `{}`",
            String::from_utf8_lossy(digits)
        ))
    };
    if !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    let value = u64::from_str_radix(text, 8).map_err(|_| bad())?;
    Ok(value as i64)
}

fn decimal(text: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| header_err("bad number in a PAX record"))
}

/// Header formats, as Go's `getFormat` tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V7,
    Ustar,
    Star,
    Gnu,
}

fn format_of(blk: &[u8; BLOCK]) -> io::Result<Format> {
    let stored = octal(&blk[148..156])?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in blk.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    if stored != unsigned && stored != signed {
        return Err(header_err("tar header checksum mismatch"));
    }
    let magic = &blk[257..263];
    let version = &blk[263..265];
    Ok(if magic == b"ustar\0" && &blk[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && version == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    })
}

/// Reads as many bytes as `buf` holds; `Ok(n < len)` only at end of input.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn must_read(r: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    if read_full(r, buf)? < buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tar archive cut short",
        ));
    }
    Ok(())
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tar archive cut short",
        ));
    }
    Ok(())
}

fn padding(n: u64) -> u64 {
    (BLOCK as u64 - n % BLOCK as u64) % BLOCK as u64
}

/// The name prefix Go gives a GNU header: none, unless its access or change time does not
/// parse, in which case Go (reading archives of its own buggy past writers) takes the
/// USTAR prefix field, if ASCII. An attacker can use either reading, so this one follows
/// Go's to the byte (golang.org/issues/12594).
fn gnu_prefix(blk: &[u8; BLOCK]) -> &[u8] {
    let bad_time = |b: &[u8]| b[0] != 0 && numeric(b).is_err();
    if bad_time(&blk[345..357]) || bad_time(&blk[357..369]) {
        let prefix = field(&blk[345..500]);
        if prefix.is_ascii() {
            return prefix;
        }
    }
    &[]
}

/// PAX records of an extended header; the 0.0 sparse offsets and sizes joined into
/// `GNU.sparse.map` as Go does.
fn parse_pax(mut buf: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut sparse_map: Vec<Vec<u8>> = Vec::new();
    while !buf.is_empty() {
        let space = memchr::memchr(b' ', buf).ok_or_else(|| header_err("bad PAX record"))?;
        let n = decimal(&buf[..space])?;
        if n < 5 || n as u64 > buf.len() as u64 {
            return Err(header_err("bad PAX record length"));
        }
        let n = n as usize;
        if n <= space + 1 || buf[n - 1] != b'\n' {
            return Err(header_err("bad PAX record"));
        }
        let record = &buf[space + 1..n - 1];
        buf = &buf[n..];
        let eq = memchr::memchr(b'=', record).ok_or_else(|| header_err("bad PAX record"))?;
        let (k, v) = (&record[..eq], &record[eq + 1..]);
        let nul = |b: &[u8]| b.contains(&0);
        let valid = !k.is_empty()
            && match k {
                b"path" | b"linkpath" | b"uname" | b"gname" => !nul(v),
                _ => !nul(k),
            };
        if !valid {
            return Err(header_err("bad PAX record"));
        }
        match k {
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                let want_offset = sparse_map.len() % 2 == 0;
                if (want_offset && k != b"GNU.sparse.offset")
                    || (!want_offset && k != b"GNU.sparse.numbytes")
                    || v.contains(&b',')
                {
                    return Err(header_err("bad GNU sparse PAX record"));
                }
                sparse_map.push(v.to_vec());
            }
            _ => {
                records.retain(|(key, _)| key != k);
                records.push((k.to_vec(), v.to_vec()));
            }
        }
    }
    if !sparse_map.is_empty() {
        records.retain(|(key, _)| key != b"GNU.sparse.map");
        records.push((b"GNU.sparse.map".to_vec(), sparse_map.join(&b","[..])));
    }
    Ok(records)
}

fn record<'a>(records: &'a [(Vec<u8>, Vec<u8>)], key: &str) -> Option<&'a [u8]> {
    records
        .iter()
        .find(|(k, _)| k == key.as_bytes())
        .map(|(_, v)| v.as_slice())
}

impl<R: Read> Reader<R> {
    pub fn new(r: R) -> Reader<R> {
        Reader {
            r,
            remaining: 0,
            pad: 0,
            sparse: None,
            done: false,
        }
    }

    /// The next entry, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            skip(&mut self.r, self.remaining)?;
            self.remaining = 0;
            self.sparse = None;
            let mut pad = [0u8; BLOCK];
            let pad_len = self.pad as usize;
            self.pad = 0;
            if read_full(&mut self.r, &mut pad[..pad_len])? < pad_len {
                // Go: the end, even without the padding of the last entry.
                self.done = true;
                return Ok(None);
            }
            let Some((blk, format)) = self.read_header()? else {
                self.done = true;
                return Ok(None);
            };
            let flag = blk[156];
            let mut size = numeric(&blk[124..136])?;
            if size < 0 {
                return Err(header_err("negative entry size"));
            }
            let kind = Kind::of(flag);
            match flag {
                b'x' | b'g' => {
                    let data = self.special(size as u64)?;
                    if flag == b'x' {
                        pax = parse_pax(&data)?;
                    }
                    // A global header affects nothing (Go returns it as an entry of its
                    // own, which every runtime ignores).
                    continue;
                }
                b'L' | b'K' => {
                    let data = self.special(size as u64)?;
                    let text = field(&data).to_vec();
                    if flag == b'L' {
                        long_name = Some(text);
                    } else {
                        long_link = Some(text);
                    }
                    continue;
                }
                _ => {}
            }
            let mut name = field(&blk[0..100]).to_vec();
            let mut link = field(&blk[157..257]).to_vec();
            let prefix = match format {
                Format::Ustar => field(&blk[345..500]),
                Format::Star => field(&blk[345..476]),
                Format::Gnu => gnu_prefix(&blk),
                Format::V7 => &[][..],
            };
            if !prefix.is_empty() {
                let mut full = prefix.to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
            for (k, v) in &pax {
                match k.as_slice() {
                    b"path" => name = v.clone(),
                    b"linkpath" => link = v.clone(),
                    b"size" => {
                        size = decimal(v)?;
                        if size < 0 {
                            return Err(header_err("negative entry size"));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(n) = long_name.take() {
                name = n;
            }
            if let Some(l) = long_link.take() {
                link = l;
            }
            let mut kind = kind;
            if flag == 0 && name.ends_with(b"/") {
                kind = Kind::Dir;
            }
            let stored = if kind.header_only() { 0 } else { size as u64 };
            self.remaining = stored;
            self.pad = padding(stored);
            let mut logical = stored;
            let fragments = if flag == b'S' {
                if format != Format::Gnu {
                    return Err(header_err("sparse entry in a non-GNU header"));
                }
                let real = numeric(&blk[483..495])?;
                logical = u64::try_from(real).map_err(|_| header_err("negative real size"))?;
                Some(self.old_gnu_sparse(&blk)?)
            } else {
                self.pax_sparse(&pax, &mut name, &mut logical)?
            };
            if let Some(fragments) = fragments {
                if kind.header_only() || !valid_fragments(&fragments, logical) {
                    return Err(header_err("inconsistent sparse map"));
                }
                self.sparse = Some(Sparse {
                    fragments,
                    next: 0,
                    pos: 0,
                    size: logical,
                });
            }
            return Ok(Some(Entry {
                name,
                link,
                kind,
                size: logical,
            }));
        }
    }

    /// The next header block; `None` at the end (two zero blocks, or end of input at a
    /// block boundary).
    fn read_header(&mut self) -> io::Result<Option<([u8; BLOCK], Format)>> {
        let Some(blk) = self.read_block()? else {
            return Ok(None);
        };
        if blk.iter().all(|&b| b == 0) {
            match self.read_block()? {
                None => return Ok(None),
                Some(next) if next.iter().all(|&b| b == 0) => return Ok(None),
                Some(_) => return Err(header_err("a zero block followed by a header")),
            }
        }
        let format = format_of(&blk)?;
        // Go fails the header when a numeric field does not parse.
        for range in [100..108, 108..116, 116..124, 136..148] {
            numeric(&blk[range])?;
        }
        if format != Format::V7 {
            numeric(&blk[329..337])?;
            numeric(&blk[337..345])?;
        }
        if format == Format::Star {
            numeric(&blk[476..488])?;
            numeric(&blk[488..500])?;
        }
        Ok(Some((blk, format)))
    }

    /// One whole block, or `None` at the end of the input (a part of one is an error).
    fn read_block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut blk = [0u8; BLOCK];
        match read_full(&mut self.r, &mut blk)? {
            0 => Ok(None),
            BLOCK => Ok(Some(blk)),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar archive cut short in a header",
            )),
        }
    }

    /// The data of a long-name or PAX header entry, at most [`MAX_SPECIAL`] bytes.
    fn special(&mut self, size: u64) -> io::Result<Vec<u8>> {
        if size > MAX_SPECIAL {
            return Err(header_err(format!(
                "a long name or PAX header of {size} bytes (more than {MAX_SPECIAL})"
            )));
        }
        let mut data = vec![0u8; size as usize];
        must_read(&mut self.r, &mut data)?;
        self.pad = padding(size);
        Ok(data)
    }

    fn old_gnu_sparse(&mut self, blk: &[u8; BLOCK]) -> io::Result<Vec<(u64, u64)>> {
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
    fn pax_sparse(
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

    /// Reads contents of the current entry.
    fn read_data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(sparse) = self.sparse.as_mut() else {
            let want = buf
                .len()
                .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            if want == 0 {
                return Ok(0);
            }
            let n = self.r.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar entry cut short",
                ));
            }
            self.remaining -= n as u64;
            return Ok(n);
        };
        if sparse.pos >= sparse.size {
            if self.remaining > 0 {
                return Err(header_err("sparse entry holds more data than its map"));
            }
            return Ok(0);
        }
        let (start, len) = sparse
            .fragments
            .get(sparse.next)
            .copied()
            .unwrap_or((sparse.size, 0));
        let cap = |n: u64| buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        if sparse.pos < start {
            let n = cap(start - sparse.pos);
            buf[..n].fill(0);
            sparse.pos += n as u64;
            return Ok(n);
        }
        let end = start + len;
        let n = cap(end - sparse.pos);
        if n as u64 > self.remaining {
            return Err(header_err("sparse entry holds less data than its map"));
        }
        let n = self.r.read(&mut buf[..n])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar entry cut short",
            ));
        }
        self.remaining -= n as u64;
        sparse.pos += n as u64;
        if sparse.pos >= end {
            sparse.next += 1;
        }
        Ok(n)
    }

    /// The contents of the current entry.
    pub fn data(&mut self) -> Data<'_, R> {
        Data { reader: self }
    }
}

/// The contents of the entry last returned.
pub struct Data<'a, R: Read> {
    reader: &'a mut Reader<R>,
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read_data(buf)
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
fn valid_fragments(fragments: &[(u64, u64)], size: u64) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, flag: u8, size: u64) -> [u8; BLOCK] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::new(flag));
        h.set_cksum();
        *h.as_bytes()
    }

    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut n = body.len() + 1;
            while format!("{n}{body}").len() != n {
                n += 1;
            }
            out.extend_from_slice(format!("{n}{body}").as_bytes());
        }
        out
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(v.len() + padding(v.len() as u64) as usize, 0);
        v
    }

    fn entries(bytes: &[u8]) -> io::Result<Vec<(Entry, Vec<u8>)>> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            let mut data = Vec::new();
            r.data().read_to_end(&mut data)?;
            out.push((e, data));
        }
        Ok(out)
    }

    #[test]
    fn header_only_types_have_no_data_and_a_missing_end_is_an_end() {
        let mut a = Vec::new();
        // A symlink whose size field claims a block: Go reads the next header there.
        a.extend_from_slice(&header("link", b'2', 512));
        a.extend_from_slice(&header("bin/dyn", b'0', 4));
        a.extend_from_slice(&padded(b"\x7fELF"));
        let got = entries(&a).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0.name, b"bin/dyn");
        assert_eq!(got[1].1, b"\x7fELF");
        // No padding after the last entry, no end blocks (umoci insert).
        let mut b = header("f", b'0', 3).to_vec();
        b.extend_from_slice(b"abc");
        assert_eq!(entries(&b).unwrap()[0].1, b"abc");
    }

    #[test]
    fn pax_names_sparse_files_and_long_names() {
        // PAX 1.0 sparse: named ./GNUSparseFile.0/dyn, really usr/bin/dyn.
        let records = pax(&[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", "usr/bin/dyn"),
            ("GNU.sparse.realsize", "1030"),
        ]);
        let mut map = b"2\n0\n4\n1024\n6\n".to_vec();
        map.resize(512, 0);
        let mut stored = map.clone();
        stored.extend_from_slice(b"\x7fELFhello!");
        let mut a = header("pax", b'x', records.len() as u64).to_vec();
        a.extend_from_slice(&padded(&records));
        a.extend_from_slice(&header("GNUSparseFile.0/dyn", b'0', stored.len() as u64));
        a.extend_from_slice(&padded(&stored));
        let got = entries(&a).unwrap();
        assert_eq!(got[0].0.name, b"usr/bin/dyn");
        assert_eq!(got[0].0.size, 1030);
        assert_eq!(&got[0].1[..4], b"\x7fELF");
        assert!(got[0].1[4..1024].iter().all(|&b| b == 0));
        assert_eq!(&got[0].1[1024..], b"hello!");

        // A GNU long name wins over the header's name; a global header applies to none.
        let mut a = header("g", b'g', 0).to_vec();
        let long = "d/".repeat(200) + "f";
        a.extend_from_slice(&header("././@LongLink", b'L', long.len() as u64 + 1));
        a.extend_from_slice(&padded(format!("{long}\0").as_bytes()));
        a.extend_from_slice(&header("short", b'0', 0));
        let got = entries(&a).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.name, long.as_bytes());
    }

    #[test]
    fn what_go_refuses_is_refused() {
        let mut bad = header("f", b'0', 0);
        bad[148] ^= 1;
        assert!(entries(&bad).is_err(), "checksum");
        let mut a = header("././@LongLink", b'L', 3 << 30).to_vec();
        a.extend_from_slice(&[b'a'; 512]);
        let err = entries(&a).unwrap_err();
        assert!(err.to_string().contains("long name"), "{err}");
        let mut a = header("pax", b'x', 8).to_vec();
        a.extend_from_slice(&padded(b"99 path=x\n"[..8].as_ref()));
        a.extend_from_slice(&header("f", b'0', 0));
        assert!(entries(&a).is_err(), "bad PAX record");
        let mut zero_then_header = vec![0u8; 512];
        zero_then_header.extend_from_slice(&header("f", b'0', 0));
        assert!(entries(&zero_then_header).is_err());
        let mut cut = header("f", b'0', 100).to_vec();
        cut.extend_from_slice(&[1u8; 50]);
        assert!(entries(&cut).is_err(), "data cut short");
    }

    #[test]
    fn a_gnu_header_with_a_bad_time_takes_the_prefix_as_go_does() {
        let mut h = tar::Header::new_gnu();
        h.set_path(".wh.dyn").unwrap();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.as_mut_bytes()[345..350].copy_from_slice(b"a/usr");
        h.set_cksum();
        let got = entries(h.as_bytes()).unwrap();
        assert_eq!(got[0].0.name, b"a/usr/.wh.dyn");
        // A valid time: no prefix.
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.as_mut_bytes()[345..357].copy_from_slice(b"00000000000\0");
        h.set_cksum();
        assert_eq!(entries(h.as_bytes()).unwrap()[0].0.name, b"f");
        assert!(octal(b"+17").is_err() && octal(b" 17\0 9").unwrap() == 15);
    }

    #[test]
    fn names_are_bytes() {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..3].copy_from_slice(b"\xff\xfe\x00");
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let got = entries(h.as_bytes()).unwrap();
        assert_eq!(got[0].0.name, b"\xff\xfe");
    }
}
