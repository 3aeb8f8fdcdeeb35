//! PAX extended headers: `LENGTH KEY=VALUE\n` records, validated as Go validates them,
//! with GNU sparse 0.0 offsets and sizes joined into one `GNU.sparse.map` as Go does.

use std::io;

use super::fields::{decimal, header_err};

/// PAX records of an extended header; the 0.0 sparse offsets and sizes joined into
/// `GNU.sparse.map` as Go does.
pub(super) fn parse_pax(mut buf: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
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

pub(super) fn record<'a>(records: &'a [(Vec<u8>, Vec<u8>)], key: &str) -> Option<&'a [u8]> {
    records
        .iter()
        .find(|(k, _)| k == key.as_bytes())
        .map(|(_, v)| v.as_slice())
}
