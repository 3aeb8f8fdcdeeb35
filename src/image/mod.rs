//! The image writer's building blocks: a file [`tree::Tree`] becomes a deterministic,
//! gzip-compressed layer ([`layer`], [`gzip`]); the layer and the run configuration become
//! an image's JSON documents, and images one image or an index ([`spec`], into the
//! format-free [`model`]). Formats on disk are the `output` module's job.

pub(crate) mod gzip;
pub(crate) mod layer;
pub(crate) mod model;
pub(crate) mod spec;
pub(crate) mod tree;
