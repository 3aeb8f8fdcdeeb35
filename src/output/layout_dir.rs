//! The image as an OCI image layout directory (`oci:DIR` for skopeo, `umoci`, `crane`).
//! Built beside the destination and swapped in whole; an existing destination is
//! replaced only if it is empty or itself an OCI layout.

use std::io;
use std::path::Path;

use fs_err as fs;

use crate::atomic::{AtomicDir, OutputIoError};
use crate::image::model::Built;

pub(super) fn write(dest: &Path, built: &Built) -> Result<u64, OutputIoError> {
    let staged = AtomicDir::create(dest)?;
    let io_err = |source| OutputIoError {
        path: dest.to_path_buf(),
        source,
    };
    let size = fill(staged.path(), built).map_err(io_err)?;
    staged.commit(is_replaceable)?;
    Ok(size)
}

fn fill(root: &Path, built: &Built) -> io::Result<u64> {
    fs::create_dir_all(root.join("blobs/sha256"))?;
    let mut total = 0;
    for (name, bytes) in [
        ("oci-layout", &built.oci_layout),
        ("index.json", &built.layout_index),
    ] {
        fs::write(root.join(name), bytes)?;
        total += bytes.len() as u64;
    }
    for blob in built.blobs() {
        let mut file = fs::File::create(root.join(blob.digest.blob_path()))?;
        total += blob.write_to(&mut file)?;
        file.sync_all()?;
    }
    Ok(total)
}

fn is_replaceable(dir: &Path) -> bool {
    dir.join("oci-layout").is_file() || std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}
