//! The package names the repositories in use hold, read from their `APKINDEX.tar.gz`
//! (`P:` lines), so hints name only packages that exist. Best effort and bounded: an
//! index that cannot be read (or is larger than a real one) gives no answer, never an
//! error.

use std::collections::BTreeSet;
use std::io::Read;

use crate::ui::Ui;

/// Bytes of an index read at most (Alpine's community index is about 2 MiB).
const MAX_INDEX: u64 = 64 * 1024 * 1024;

/// Every package name of `repositories` for `arch`; `None` when one cannot be read.
pub fn package_names(repositories: &[String], arch: &str) -> Option<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for repo in repositories {
        let url = format!("{}/{arch}/APKINDEX.tar.gz", repo.trim_end_matches('/'));
        let mut file = tempfile::tempfile().ok()?;
        crate::rootfs::fetch::fetch(&url, &mut file, "package index", MAX_INDEX, &Ui::plain())
            .ok()?;
        use std::io::Seek;
        file.rewind().ok()?;
        names.extend(names_in(file, MAX_INDEX)?);
    }
    Some(names)
}

/// The `P:` names of an `APKINDEX.tar.gz` stream, whose `APKINDEX` may unpack to `max`
/// bytes at most (a gzip bomb gives no answer, not an allocation).
fn names_in(index: impl Read, max: u64) -> Option<BTreeSet<String>> {
    let gz = flate2::read::MultiGzDecoder::new(index.take(MAX_INDEX));
    let mut tar = tar::Archive::new(gz.take(2 * max + 64 * 1024));
    for entry in tar.entries().ok()? {
        let mut entry = entry.ok()?;
        if entry.path().ok()?.to_str() != Some("APKINDEX") {
            continue;
        }
        if entry.size() > max {
            return None;
        }
        let mut text = String::new();
        entry.by_ref().take(max).read_to_string(&mut text).ok()?;
        return Some(
            text.lines()
                .filter_map(|l| l.strip_prefix("P:"))
                .map(str::to_string)
                .collect(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(body: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in [("DESCRIPTION", "test"), ("APKINDEX", body)] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            tar.append_data(&mut h, name, data.as_bytes()).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn names_come_from_p_lines() {
        let bytes = index("C:Q1x\nP:zlib-dev\nV:1\n\nP:zlib-static\nV:1\np:so:libz\n");
        let names = names_in(&bytes[..], MAX_INDEX).unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["zlib-dev", "zlib-static"]
        );
        assert!(names_in(&b"not gzip"[..], MAX_INDEX).is_none());
    }

    #[test]
    fn hostile_indexes_give_no_answer() {
        // Larger than an index may be once unpacked: refused before it is read.
        let big = "P:x\n".repeat(1000);
        assert!(names_in(&index(&big)[..], 1000).is_none());
        assert!(names_in(&index(&big)[..], 10_000).is_some());
        // Cut short, or not UTF-8.
        let whole = index("P:zlib-dev\n");
        assert!(names_in(&whole[..whole.len() / 2], MAX_INDEX).is_none());
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(4);
        h.set_mode(0o644);
        tar.append_data(&mut h, "APKINDEX", &b"P:\xff\xfe"[..])
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        assert!(names_in(&gz.finish().unwrap()[..], MAX_INDEX).is_none());
    }

    #[test]
    fn a_file_repository_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x86_64")).unwrap();
        std::fs::write(dir.path().join("x86_64/APKINDEX.tar.gz"), index("P:make\n")).unwrap();
        let repo = format!("file://{}", dir.path().display());
        let names = package_names(std::slice::from_ref(&repo), "x86_64").unwrap();
        assert!(names.contains("make"));
        assert!(package_names(&[repo], "aarch64").is_none());
    }
}
