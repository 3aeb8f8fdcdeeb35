//! The image writer's building blocks: a file [`tree::Tree`] becomes a deterministic,
//! gzip-compressed layer ([`layer`], [`gzip`]); the layer and the run configuration become
//! the image's JSON documents ([`spec`]). Formats on disk are the `output` module's job.

pub(crate) mod gzip;
pub(crate) mod layer;
pub(crate) mod spec;
pub(crate) mod tree;
