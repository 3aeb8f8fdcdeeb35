//! Which repositories of a registry received which blobs, remembered in the cache
//! (`pushed/<registry digest>`: one `DIGEST REPOSITORY` line per blob pushed), so a
//! later push to another repository of the same registry mounts the blob instead of
//! sending it again. Only a hint: a refused mount falls back to an upload. Lines are
//! appended (small writes with `O_APPEND` do not interleave between concurrent pushes)
//! and only the file's last MiB is read.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::cache::Cache;

/// The part of the file read.
const TAIL: u64 = 1 << 20;
/// Repositories tried per blob.
const MAX_SOURCES: usize = 3;

pub struct Memory {
    file: Option<PathBuf>,
    lines: Vec<(String, String)>,
}

impl Memory {
    /// The memory for `registry`, read from the cache (empty when there is none).
    pub fn open(cache: &Cache, registry: &str) -> Memory {
        let file = cache
            .dir("pushed")
            .ok()
            .map(|d| d.join(crate::digest::Digest::of(registry.as_bytes()).hex));
        let mut lines = Vec::new();
        if let Some(f) = &file {
            if let Ok(mut handle) = std::fs::File::open(f) {
                let len = handle.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = handle.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
                let mut text = String::new();
                let _ = handle.take(TAIL).read_to_string(&mut text);
                for line in text.lines() {
                    if let Some((d, r)) = line.split_once(' ') {
                        lines.push((d.to_string(), r.to_string()));
                    }
                }
            }
        }
        Memory { file, lines }
    }

    /// Other repositories known to hold `digest`, most recent first.
    pub fn repositories_with(&self, digest: &str, except: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (d, r) in self.lines.iter().rev() {
            if d == digest && r != except && !out.contains(r) {
                out.push(r.clone());
                if out.len() == MAX_SOURCES {
                    break;
                }
            }
        }
        out
    }

    /// Every repository a mount could come from for these blobs (their pull scopes are
    /// asked for with the token).
    pub fn sources_for<'a>(
        &self,
        digests: impl Iterator<Item = &'a str>,
        except: &str,
    ) -> Vec<String> {
        let mut all = BTreeSet::new();
        for d in digests {
            all.extend(self.repositories_with(d, except));
        }
        all.into_iter().take(8).collect()
    }

    /// Records that `repository` now holds `digests`.
    pub fn remember<'a>(&self, repository: &str, digests: impl Iterator<Item = &'a str>) {
        let Some(file) = &self.file else { return };
        let text: String = digests
            .filter(|d| !d.contains(char::is_whitespace))
            .map(|d| format!("{d} {repository}\n"))
            .collect();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_found_in_other_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::locate(Some(dir.path().to_path_buf()), None, None).unwrap();
        let m = Memory::open(&cache, "127.0.0.1:5000");
        m.remember("team/a", ["sha256:1", "sha256:2"].into_iter());
        m.remember("team/b", ["sha256:2"].into_iter());
        let m = Memory::open(&cache, "127.0.0.1:5000");
        assert_eq!(
            m.repositories_with("sha256:2", "team/c"),
            ["team/b", "team/a"]
        );
        assert_eq!(
            m.repositories_with("sha256:1", "team/a"),
            Vec::<String>::new()
        );
        assert_eq!(
            m.sources_for(["sha256:1", "sha256:2"].into_iter(), "team/b"),
            ["team/a"]
        );
        // Another registry knows nothing of them.
        assert!(
            Memory::open(&cache, "other:5000")
                .repositories_with("sha256:1", "x")
                .is_empty()
        );
    }
}
