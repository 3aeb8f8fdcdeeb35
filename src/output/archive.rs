//! The image as one tar: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`) and, for the combined format, docker's `manifest.json` pointing at the
//! same blobs, which is what `docker load` of Docker 20.10 and later needs. Entries are
//! sorted, owned by 0:0, dated `epoch`, in plain ustar headers (no PAX records, whose
//! names elsewhere carried a process id).

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

use crate::atomic::{AtomicFile, OutputIoError};
use crate::image::model::Built;

pub(super) fn write(
    dest: &Path,
    built: &Built,
    epoch: u64,
    docker_manifest: bool,
) -> Result<u64, OutputIoError> {
    let io_err = |source| OutputIoError {
        path: dest.to_path_buf(),
        source,
    };
    let mut out = AtomicFile::create(dest)?;
    let size = write_tar(out.file(), built, epoch, docker_manifest).map_err(io_err)?;
    out.commit()?;
    Ok(size)
}

fn write_tar(file: &mut File, built: &Built, epoch: u64, docker_manifest: bool) -> io::Result<u64> {
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(epoch, tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut h, dir, io::empty())?;
    }
    for blob in built.blobs() {
        let mut h = header(epoch, tar::EntryType::Regular, 0o644, blob.digest.size);
        tar.append_data(&mut h, blob.digest.blob_path(), blob.reader())?;
    }
    append_file(&mut tar, epoch, "index.json", &built.layout_index)?;
    if docker_manifest {
        append_file(&mut tar, epoch, "manifest.json", &built.docker_manifest)?;
    }
    append_file(&mut tar, epoch, "oci-layout", &built.oci_layout)?;
    let mut buffered = tar.into_inner()?;
    buffered.flush()?;
    buffered.get_mut().stream_position()
}

fn header(epoch: u64, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(epoch);
    h.set_size(size);
    h
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    epoch: u64,
    path: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut h = header(epoch, tar::EntryType::Regular, 0o644, bytes.len() as u64);
    tar.append_data(&mut h, path, bytes)
}
