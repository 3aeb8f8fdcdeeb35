//! Writing a built image to disk, one file per format: the combined archive (an OCI
//! layout plus docker's `manifest.json`, which docker, podman, skopeo and containerd all
//! load), the OCI layout alone as a tar, and the OCI layout as a directory. Every format
//! is written atomically.

mod archive;
mod layout_dir;

use std::path::{Path, PathBuf};

use crate::atomic::OutputIoError;
use crate::image::model::Built;

/// The formats `package --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OCI image layout + docker `manifest.json`, in one tar.
    Archive,
    /// OCI image layout only, in one tar (`oci-archive:`).
    Oci,
    /// OCI image layout as a directory (`oci:`).
    OciDir,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Archive => "archive",
            Format::Oci => "oci",
            Format::OciDir => "oci-dir",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Io(#[from] OutputIoError),
}

/// The directory in which scratch files for `dest` are kept: beside it, on the same
/// file system, so nothing large lands in a small `/tmp`.
pub fn scratch_dir(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `built` to `dest` in `format`, atomically; returns the bytes written.
pub fn write(format: Format, dest: &Path, built: &Built, epoch: u64) -> Result<u64, OutputError> {
    Ok(match format {
        Format::Archive => archive::write(dest, built, epoch, true)?,
        Format::Oci => archive::write(dest, built, epoch, false)?,
        Format::OciDir => layout_dir::write(dest, built)?,
    })
}
