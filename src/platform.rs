//! The OCI platform of a binary (`linux/amd64`, `linux/arm/v7`): plain data shared by the
//! inspector, which derives it from an ELF header, and the packager, which writes it into
//! the image config and index.

use std::fmt;

/// An OCI platform triple. `architecture` and `variant` use the names of the OCI image
/// spec (`amd64`, `arm64`, `arm` + `v7`, `386`, `ppc64le`, `s390x`, `riscv64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `arch` or `arch/variant`, the form `inspect` reports.
    pub fn arch_with_variant(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}", self.architecture, v),
            None => self.architecture.clone(),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch_with_variant())
    }
}
