//! Header fields as Go's `archive/tar` parses them: NUL-terminated strings, octal and
//! base-256 numbers, the format told by magic and checksum, and Go's GNU prefix quirk.
//! Also the block-level reading helpers.

use std::io::{self, Read};

pub(super) const BLOCK: usize = 512;

pub(super) fn header_err(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// The text of a NUL-terminated field.
pub(super) fn field(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Go's `parseNumeric`: base-256 when the top bit is set, else octal.
pub(super) fn numeric(b: &[u8]) -> io::Result<i64> {
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
pub(super) fn octal(b: &[u8]) -> io::Result<i64> {
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

pub(super) fn decimal(text: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| header_err("bad number in a PAX record"))
}

/// Header formats, as Go's `getFormat` tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    V7,
    Ustar,
    Star,
    Gnu,
}

pub(super) fn format_of(blk: &[u8; BLOCK]) -> io::Result<Format> {
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
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

pub(super) fn must_read(r: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    if read_full(r, buf)? < buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tar archive cut short",
        ));
    }
    Ok(())
}

pub(super) fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tar archive cut short",
        ));
    }
    Ok(())
}

pub(super) fn padding(n: u64) -> u64 {
    (BLOCK as u64 - n % BLOCK as u64) % BLOCK as u64
}

/// The name prefix Go gives a GNU header: none, unless its access or change time does not
/// parse, in which case Go (reading archives of its own buggy past writers) takes the
/// USTAR prefix field, if ASCII. An attacker can use either reading, so this one follows
/// Go's to the byte (golang.org/issues/12594).
pub(super) fn gnu_prefix(blk: &[u8; BLOCK]) -> &[u8] {
    let bad_time = |b: &[u8]| b[0] != 0 && numeric(b).is_err();
    if bad_time(&blk[345..357]) || bad_time(&blk[357..369]) {
        let prefix = field(&blk[345..500]);
        if prefix.is_ascii() {
            return prefix;
        }
    }
    &[]
}
