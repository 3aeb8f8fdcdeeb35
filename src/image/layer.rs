//! A [`Tree`] to a gzip-compressed layer blob, in one pass: tar headers built here (not by
//! the tar crate's path helpers, whose deterministic mode uses its own 2006 timestamp),
//! the uncompressed stream hashed for the diff ID, compressed in parallel, and the
//! compressed stream hashed for the blob digest while it is written to a scratch file.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek};
use std::path::{Path, PathBuf};

use super::gzip::{LEVEL, ParGzEncoder};
use super::tree::{Content, NodeKind, Tree};
use crate::atomic::{self, TempPath};
use crate::digest::{Digest, HashWriter};

/// A written layer: the compressed blob in a scratch file and both digests.
pub struct LayerBlob {
    pub file: File,
    /// Removes the scratch file when the blob is dropped (held, never read).
    pub _guard: TempPath,
    /// Of the compressed blob.
    pub digest: Digest,
    /// Of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot write the layer")]
    Scratch(#[from] atomic::OutputIoError),
    #[error("cannot read `{}` while writing the layer", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the layer")]
    Write(#[source] io::Error),
}

/// Writes `tree` as a layer into a scratch file in `scratch_dir`, with every timestamp
/// set to `epoch`.
pub fn write(tree: &Tree, epoch: u64, scratch_dir: &Path) -> Result<LayerBlob, LayerError> {
    let (file, guard) = atomic::scratch_file(scratch_dir)?;
    let compressed = HashWriter::new(BufWriter::with_capacity(1 << 20, file));
    let gz = ParGzEncoder::new(compressed, LEVEL).map_err(LayerError::Write)?;
    let mut builder = tar::Builder::new(HashWriter::new(gz));
    for (path, node) in tree.iter() {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(epoch);
        header.set_uid(node.uid);
        header.set_gid(node.gid);
        header.set_mode(node.mode);
        match &node.kind {
            NodeKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), io::empty())
            }
            NodeKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target)
            }
            NodeKind::File(Content::Bytes(bytes)) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, &bytes[..])
            }
            NodeKind::File(Content::Host { path: src, size }) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                let read_err = |source| LayerError::Read {
                    path: src.clone(),
                    source,
                };
                let file = File::open(src).map_err(read_err)?;
                let exact = ExactReader {
                    inner: file.take(*size),
                    left: *size,
                };
                builder
                    .append_data(&mut header, path, exact)
                    .map_err(read_err)?;
                Ok(())
            }
        }
        .map_err(LayerError::Write)?;
    }
    let uncompressed = builder.into_inner().map_err(LayerError::Write)?;
    let (gz, diff_id) = uncompressed.finish();
    let compressed = gz.finish().map_err(LayerError::Write)?;
    let (buffered, digest) = compressed.finish();
    let mut file = buffered
        .into_inner()
        .map_err(|e| LayerError::Write(e.into_error()))?;
    file.rewind().map_err(LayerError::Write)?;
    Ok(LayerBlob {
        file,
        _guard: guard,
        digest,
        diff_id,
    })
}

/// Fails instead of padding when a host file shrank after its size was taken.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tree::{EXEC_MODE, Node};

    fn entries(blob: &mut LayerBlob) -> Vec<(String, u32, u64, u64)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&mut blob.file));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn layer_is_sorted_timed_and_owned_as_told() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = Tree::default();
        tree.insert("/tmp", Node::dir(0o1777)).unwrap();
        tree.insert(
            "/app/bin",
            Node::file(&b"\x7fELF"[..], EXEC_MODE).owned_by(7, 7),
        )
        .unwrap();
        let mut blob = write(&tree, 1_700_000_000, dir.path()).unwrap();
        assert_eq!(
            entries(&mut blob),
            [
                ("app/".to_string(), 0o755, 1_700_000_000, 0),
                ("app/bin".to_string(), 0o755, 1_700_000_000, 7),
                ("tmp/".to_string(), 0o1777, 1_700_000_000, 0),
            ]
        );
        let again = write(&tree, 1_700_000_000, dir.path()).unwrap();
        assert_eq!(
            (blob.digest.clone(), blob.diff_id.clone()),
            (again.digest, again.diff_id)
        );
    }
}
