//! The image as one tar: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`) and, for the combined format, docker's `manifest.json` pointing at the
//! same blobs, which is what `docker load` of Docker 20.10 and later needs. Entries are
//! sorted, owned by 0:0, dated `epoch`, in plain ustar headers (no PAX records, whose
//! names elsewhere carried a process id).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;

use crate::atomic::{AtomicFile, OutputIoError};
use crate::image::layer::LayerBlob;
use crate::image::spec::ImageDocs;

pub(super) fn write(
    dest: &Path,
    docs: &ImageDocs,
    layer: &mut LayerBlob,
    epoch: u64,
    docker_manifest: bool,
) -> Result<u64, OutputIoError> {
    let io_err = |source| OutputIoError {
        path: dest.to_path_buf(),
        source,
    };
    let mut out = AtomicFile::create(dest)?;
    let size = write_tar(out.file(), docs, layer, epoch, docker_manifest).map_err(io_err)?;
    out.commit()?;
    Ok(size)
}

enum Blob<'a> {
    Bytes(&'a [u8]),
    Layer,
}

fn write_tar(
    file: &mut File,
    docs: &ImageDocs,
    layer: &mut LayerBlob,
    epoch: u64,
    docker_manifest: bool,
) -> io::Result<u64> {
    let mut blobs = vec![
        (docs.config_digest.blob_path(), Blob::Bytes(&docs.config)),
        (
            docs.manifest_digest.blob_path(),
            Blob::Bytes(&docs.manifest),
        ),
        (docs.layer_digest.blob_path(), Blob::Layer),
    ];
    blobs.sort_by(|a, b| a.0.cmp(&b.0));

    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(epoch, tar::EntryType::Directory, 0o755, 0);
        tar.append_data(&mut h, dir, io::empty())?;
    }
    for (path, blob) in blobs {
        match blob {
            Blob::Bytes(bytes) => append_file(&mut tar, epoch, &path, bytes)?,
            Blob::Layer => {
                layer.file.rewind()?;
                let size = docs.layer_digest.size;
                let mut h = header(epoch, tar::EntryType::Regular, 0o644, size);
                tar.append_data(&mut h, &path, (&mut layer.file).take(size))?;
            }
        }
    }
    append_file(&mut tar, epoch, "index.json", &docs.index)?;
    if docker_manifest {
        append_file(&mut tar, epoch, "manifest.json", &docs.docker_manifest)?;
    }
    append_file(&mut tar, epoch, "oci-layout", &docs.oci_layout)?;
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
