//! The packages of an Alpine root, as apk records them in `lib/apk/db/installed`: one
//! paragraph per package, `P:` name, `V:` version, `A:` architecture, `L:` license,
//! `o:` origin. Read from a root scratchpack prepared (its own apk wrote it), bounded
//! all the same.

use std::io::Read;
use std::path::Path;

/// The database is read up to this size (a full desktop is a few MiB).
const MAX_DB: u64 = 32 << 20;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ApkPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub license: String,
}

/// The packages installed in the Alpine root `root`, sorted by name; empty when it has
/// no database.
pub fn installed(root: &Path) -> Vec<ApkPackage> {
    let mut text = String::new();
    let read = std::fs::File::open(root.join("lib/apk/db/installed"))
        .and_then(|f| f.take(MAX_DB).read_to_string(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    parse(&text)
}

pub fn parse(text: &str) -> Vec<ApkPackage> {
    let mut all = Vec::new();
    for paragraph in text.split("\n\n") {
        let field = |key: &str| {
            paragraph
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let name = field("P:");
        if name.is_empty() {
            continue;
        }
        all.push(ApkPackage {
            name,
            version: field("V:"),
            arch: field("A:"),
            license: field("L:"),
        });
    }
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_become_packages() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\nF:lib\nR:libc.so\n\n\
                  P:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n\nF:orphan\n";
        let p = parse(db);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "busybox");
        assert_eq!(p[1].license, "MIT");
        assert_eq!(p[1].version, "1.2.5-r0");
    }
}
