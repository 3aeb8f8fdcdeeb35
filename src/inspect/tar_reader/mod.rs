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
//!
//! `fields.rs` parses header fields as Go does, `pax.rs` extended headers, `sparse.rs`
//! the sparse maps.

mod fields;
mod pax;
mod sparse;

use std::io::{self, Read};

use fields::{
    BLOCK, Format, decimal, field, format_of, gnu_prefix, header_err, must_read, numeric, padding,
    read_full, skip,
};
use pax::parse_pax;
use sparse::{Sparse, valid_fragments};

/// Go's `maxSpecialFileSize`: the largest GNU long name or PAX header read.
const MAX_SPECIAL: u64 = 1 << 20;

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
    /// Permission bits (`0o7777` of the header's mode).
    pub mode: u32,
    /// Bytes of contents (after sparse expansion).
    pub size: u64,
}

pub struct Reader<R: Read> {
    pub(super) r: R,
    /// Bytes of the current entry's stored data not yet read.
    pub(super) remaining: u64,
    pad: u64,
    sparse: Option<Sparse>,
    done: bool,
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
            let mode = (numeric(&blk[100..108])? & 0o7777) as u32;
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
                mode,
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
        assert!(fields::octal(b"+17").is_err() && fields::octal(b" 17\0 9").unwrap() == 15);
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
