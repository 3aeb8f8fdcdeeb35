//! Read-only access by name to the files of an image archive: a tar (indexed once, read
//! in place with positioned reads) or an OCI layout directory. Nothing is ever extracted,
//! so hostile names (`..`, absolute paths, links pointing outside) cannot escape; names are
//! normalised lexically and links resolved inside the archive's own namespace.
//! Also owns compression sniffing (gzip, zstd or plain), shared with the layer reader.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Links followed in a row before a name is declared unresolvable.
const MAX_LINK_DEPTH: usize = 16;

/// Whether the first bytes of a file look like a tar archive, compressed or not.
pub(super) fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(GZIP_MAGIC)
        || head.starts_with(ZSTD_MAGIC)
        || head.get(257..262) == Some(b"ustar".as_slice())
}

/// Wraps `reader` in the decompressor its first bytes call for.
pub(super) fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf()?;
    if head.starts_with(GZIP_MAGIC) {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok(Box::new(super::layers::ZstdFrames::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Normalises an archive member name: no leading `/` or `./`, no `.` or empty
/// components, `..` resolved lexically. `None` if it climbs above the root.
pub(super) fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Named, read-only access to the files of an archive or layout.
pub(super) trait Store {
    /// Opens the member `name` (already normalised), following links inside the store.
    fn open(&self, name: &str) -> io::Result<Box<dyn Read + '_>>;
    fn contains(&self, name: &str) -> bool;
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("`{name}` is not in the archive"),
    )
}

enum Member {
    Data {
        offset: u64,
        size: u64,
    },
    /// A symlink (target resolved against the link's directory) or a hardlink.
    Link(String),
}

/// A tar archive, indexed by member name.
pub(super) struct TarStore {
    file: File,
    members: HashMap<String, Member>,
}

impl TarStore {
    /// Indexes the archive at `path`. A compressed archive is first decompressed into an
    /// anonymous temporary file, so that members can be read in place.
    pub fn open(path: &Path) -> Result<TarStore, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(&file);
        let head = reader.fill_buf().map_err(|e| e.to_string())?;
        let file = if head.starts_with(GZIP_MAGIC) || head.starts_with(ZSTD_MAGIC) {
            let mut plain = tempfile::tempfile().map_err(|e| format!("temporary file: {e}"))?;
            let mut decoder = decompress(reader).map_err(|e| e.to_string())?;
            io::copy(&mut decoder, &mut plain).map_err(|e| format!("decompressing: {e}"))?;
            plain.rewind().map_err(|e| e.to_string())?;
            plain
        } else {
            drop(reader);
            // The sniffing read moved the offset.
            (&file).rewind().map_err(|e| e.to_string())?;
            file
        };
        let members = index(&file)?;
        Ok(TarStore { file, members })
    }

    fn resolve(&self, name: &str) -> io::Result<(u64, u64)> {
        let mut name = name.to_string();
        for _ in 0..MAX_LINK_DEPTH {
            match self.members.get(&name) {
                Some(Member::Data { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => name = target.clone(),
                None => return Err(not_found(&name)),
            }
        }
        Err(io::Error::other(format!(
            "too many levels of links at `{name}`"
        )))
    }
}

fn index(file: &File) -> Result<HashMap<String, Member>, String> {
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    let entries = archive
        .entries_with_seek()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("damaged tar archive: {e}"))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = normalize(&raw) else {
            continue;
        };
        let link = || -> Option<String> {
            let target = String::from_utf8_lossy(&entry.link_name_bytes()?).into_owned();
            Some(target)
        };
        let member = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Member::Data {
                offset: entry.raw_file_position(),
                size: entry.size(),
            },
            tar::EntryType::Link => match link().and_then(|t| normalize(&t)) {
                Some(target) => Member::Link(target),
                None => continue,
            },
            tar::EntryType::Symlink => {
                let Some(target) = link() else { continue };
                let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                let joined = if target.starts_with('/') {
                    target
                } else {
                    format!("{dir}/{target}")
                };
                match normalize(&joined) {
                    Some(target) => Member::Link(target),
                    None => continue,
                }
            }
            _ => continue,
        };
        members.insert(name, member);
    }
    Ok(members)
}

impl Store for TarStore {
    fn open(&self, name: &str) -> io::Result<Box<dyn Read + '_>> {
        let (offset, size) = self.resolve(name)?;
        Ok(Box::new(BufReader::with_capacity(
            256 << 10,
            PositionedReader {
                file: &self.file,
                pos: offset,
                end: offset + size,
            },
        )))
    }

    fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_ok()
    }
}

/// Reads a byte range of a file with `pread`, leaving the file offset alone.
struct PositionedReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member cut short",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// An OCI image layout directory.
pub(super) struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: &Path) -> DirStore {
        DirStore {
            root: root.to_path_buf(),
        }
    }

    /// The file for `name`, refusing anything that resolves outside the layout.
    fn path(&self, name: &str) -> io::Result<PathBuf> {
        let root = self.root.canonicalize()?;
        let path = self
            .root
            .join(name)
            .canonicalize()
            .map_err(|_| not_found(name))?;
        if !path.starts_with(&root) {
            return Err(io::Error::other(format!(
                "`{name}` points outside the layout"
            )));
        }
        Ok(path)
    }
}

impl Store for DirStore {
    fn open(&self, name: &str) -> io::Result<Box<dyn Read + '_>> {
        let path = self.path(name)?;
        let file = File::open(&path)?;
        if !file.metadata()?.is_file() {
            return Err(not_found(name));
        }
        Ok(Box::new(BufReader::with_capacity(256 << 10, file)))
    }

    fn contains(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_names() {
        assert_eq!(
            normalize("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(normalize("/etc//passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../../etc/passwd"), None);
        assert_eq!(normalize("").as_deref(), Some(""));
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_archive(&[0x1f, 0x8b, 8]));
        assert!(looks_like_archive(&[0x28, 0xb5, 0x2f, 0xfd]));
        let mut ustar = vec![0u8; 512];
        ustar[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_archive(&ustar));
        assert!(!looks_like_archive(b"hello world"));
    }

    #[test]
    fn tar_store_follows_links_inside_only() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        builder
            .append_data(&mut h, "dir/file", &b"hello"[..])
            .unwrap();
        for (name, target) in [
            ("dir/rel", "file"),
            ("abs", "/dir/file"),
            ("esc", "../../x"),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            builder.append_link(&mut h, name, target).unwrap();
        }
        let bytes = builder.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, bytes).unwrap();
        let store = TarStore::open(&path).unwrap();
        for name in ["dir/file", "dir/rel", "abs"] {
            let mut s = String::new();
            store.open(name).unwrap().read_to_string(&mut s).unwrap();
            assert_eq!(s, "hello", "{name}");
        }
        assert!(!store.contains("esc"));
        assert!(!store.contains("x"));
    }
}
