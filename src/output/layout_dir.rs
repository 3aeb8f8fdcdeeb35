//! The image as an OCI image layout directory (`oci:DIR` for skopeo, `umoci`, `crane`).
//! Built beside the destination and swapped in whole; an existing destination is
//! replaced only if it is empty or itself an OCI layout.

use std::io::{self, Seek};
use std::path::Path;

use fs_err as fs;

use crate::atomic::{AtomicDir, OutputIoError};
use crate::image::layer::LayerBlob;
use crate::image::spec::ImageDocs;

pub(super) fn write(
    dest: &Path,
    docs: &ImageDocs,
    layer: &mut LayerBlob,
) -> Result<u64, OutputIoError> {
    let staged = AtomicDir::create(dest)?;
    let io_err = |source| OutputIoError {
        path: dest.to_path_buf(),
        source,
    };
    let size = fill(staged.path(), docs, layer).map_err(io_err)?;
    staged.commit(is_replaceable)?;
    Ok(size)
}

fn fill(root: &Path, docs: &ImageDocs, layer: &mut LayerBlob) -> io::Result<u64> {
    fs::create_dir_all(root.join("blobs/sha256"))?;
    let files: [(String, &[u8]); 4] = [
        ("oci-layout".to_string(), &docs.oci_layout),
        ("index.json".to_string(), &docs.index),
        (docs.config_digest.blob_path(), &docs.config),
        (docs.manifest_digest.blob_path(), &docs.manifest),
    ];
    let mut total = 0;
    for (name, bytes) in files {
        fs::write(root.join(name), bytes)?;
        total += bytes.len() as u64;
    }
    layer.file.rewind()?;
    let mut blob = fs::File::create(root.join(docs.layer_digest.blob_path()))?;
    total += io::copy(&mut layer.file, &mut blob)?;
    blob.sync_all()?;
    Ok(total)
}

fn is_replaceable(dir: &Path) -> bool {
    dir.join("oci-layout").is_file() || std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}
