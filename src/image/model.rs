//! What the packager produces, before any format: [`Built`], one image or an index of
//! several (one per platform), each image its manifest, config and layers as [`Blob`]s,
//! and the documents that name them in a layout (`index.json`, docker's `manifest.json`).
//! The writers in `output` (archive, OCI tar, layout directory; a registry later) take a
//! `Built` and only copy its blobs and documents.

use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use super::layer::LayerBlob;
use crate::digest::Digest;
use crate::platform::Platform;

/// Where a blob's bytes are.
pub enum BlobData {
    /// A JSON document.
    Bytes(Vec<u8>),
    /// A layer, in its scratch file.
    Layer(LayerBlob),
}

/// One content-addressed blob of an image.
pub struct Blob {
    pub digest: Digest,
    pub data: BlobData,
}

impl Blob {
    pub fn bytes(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: Digest::of(&bytes),
            data: BlobData::Bytes(bytes),
        }
    }

    pub fn layer(layer: LayerBlob) -> Blob {
        Blob {
            digest: layer.digest.clone(),
            data: BlobData::Layer(layer),
        }
    }

    /// The blob's bytes, read from the start (positional reads: a layer's file is shared).
    pub fn reader(&self) -> BlobReader<'_> {
        BlobReader { blob: self, at: 0 }
    }

    /// Copies the blob's bytes to `out`.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<u64> {
        io::copy(&mut self.reader(), out)
    }
}

/// Reads a [`Blob`]: exactly its size, or an error if its file is shorter.
pub struct BlobReader<'a> {
    blob: &'a Blob,
    at: u64,
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.blob.digest.size - self.at;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = match &self.blob.data {
            BlobData::Bytes(bytes) => {
                let from = self.at as usize;
                buf[..want].copy_from_slice(&bytes[from..from + want]);
                want
            }
            BlobData::Layer(layer) => layer.file.read_at(&mut buf[..want], self.at)?,
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer's scratch file is shorter than its digest says",
            ));
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// One platform's image.
pub struct Image {
    pub platform: Platform,
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// What describes the image (SBOM, provenance): artifact manifests whose subject
    /// is this manifest, and their blobs. In the layout, not in `index.json`.
    pub referrers: Vec<Blob>,
}

/// The result of packaging: the images and the documents of their layout.
pub struct Built {
    /// Sorted by platform; one for a single-platform image.
    pub images: Vec<Image>,
    /// The image index of several platforms (a blob of its own, which `index.json`
    /// names); `None` for one image, which `index.json` names directly.
    pub index: Option<Blob>,
    /// The layout's `index.json`.
    pub layout_index: Vec<u8>,
    /// Docker's `manifest.json`, for `docker load`.
    pub docker_manifest: Vec<u8>,
    /// The layout's `oci-layout`.
    pub oci_layout: Vec<u8>,
}

impl Built {
    /// Every blob once, sorted by digest.
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut all: Vec<&Blob> = self
            .images
            .iter()
            .flat_map(|i| {
                [&i.manifest, &i.config]
                    .into_iter()
                    .chain(&i.layers)
                    .chain(&i.referrers)
            })
            .chain(&self.index)
            .collect();
        all.sort_by(|a, b| a.digest.hex.cmp(&b.digest.hex));
        all.dedup_by(|a, b| a.digest == b.digest);
        all
    }

    /// The digest a client pulls by: the index's, else the one image's manifest's.
    pub fn digest(&self) -> &Digest {
        match (&self.index, self.images.first()) {
            (Some(index), _) => &index.digest,
            (None, Some(image)) => &image.manifest.digest,
            (None, None) => unreachable!("a Built holds at least one image"),
        }
    }
}
