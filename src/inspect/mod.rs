//! `scratchpack inspect`: the static-linkage gate over files, directories and images.
//! A named path is an ELF file, a directory (walked in parallel, every ELF regular file
//! checked), an OCI layout directory, or an image archive written by any tool (OCI layout
//! tar, docker-archive, the combined format; gzip or zstd compressed or not). Each ELF
//! file found becomes a [`Finding`]; the caller decides the exit status from them.
//!
//! The gate fails closed: whatever cannot be judged (a damaged or hostile archive, an
//! ELF file it cannot parse) is a failing finding, never a silent pass.

mod blobs;
mod compress;
mod images;
mod layers;
pub(crate) mod planned;
mod report;
pub(crate) mod start;
mod tar_reader;
mod unpack;
mod walk;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::elf::{self, ElfError, ElfInfo};

pub use report::{Summary, render_human, write_json};
pub use start::StartProblem;

/// One ELF file and what became of it.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The file as shown to the user: its path, or `ARCHIVE:/path/in/image`.
    pub path: String,
    /// Set when the file was found inside an image.
    pub image: Option<ImageOrigin>,
    pub outcome: Outcome,
}

/// Which image of which archive a file came from.
#[derive(Debug, Clone)]
pub struct ImageOrigin {
    pub archive: String,
    /// The file's absolute path inside the image.
    pub file: String,
    pub platform: Option<String>,
    pub reference: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Elf(ElfInfo),
    /// Starts like ELF but cannot be parsed: the input is at fault.
    Corrupt(String),
    /// An archive, or an entry of one, that cannot be judged or that no runtime should be
    /// given: the input is at fault.
    Invalid(String),
    /// Could not be read at all (permissions, I/O): the environment is at fault.
    Unreadable(String),
    /// The image will not start (its program missing, for another machine, its user
    /// undefined, ...: the input is at fault), or may fail once it runs (a warning).
    Start(StartProblem),
}

impl Finding {
    /// Whether this file fails the gate. Warnings fail it only when `strict`.
    pub fn fails(&self, strict: bool) -> bool {
        match &self.outcome {
            Outcome::Elf(info) => !info.kind.passes() || (strict && !info.warnings.is_empty()),
            Outcome::Corrupt(_) | Outcome::Invalid(_) => true,
            Outcome::Start(p) => p.fatal || strict,
            Outcome::Unreadable(_) => false,
        }
    }
}

/// A named path that cannot be inspected at all.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not an ELF file, a directory or an image archive", path.display())]
    Unrecognized { path: PathBuf },
}

impl crate::error::Hint for InspectError {
    fn hints(&self) -> Vec<String> {
        vec![match self {
            InspectError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path; inspect takes files, directories and image archives".to_string()
            }
            InspectError::Read { .. } => "check the file's permissions".to_string(),
            InspectError::Unrecognized { .. } => "inspect takes ELF binaries, directories, image \
                tarballs (docker save, podman save, skopeo copy, scratchpack) and OCI layout \
                directories"
                .to_string(),
        }]
    }
}

/// Inspects every named path, in order. Files inside directories and images are sorted.
pub fn inspect_paths(paths: &[PathBuf]) -> Result<Vec<Finding>, InspectError> {
    let mut findings = Vec::new();
    for path in paths {
        findings.extend(inspect_path(path)?);
    }
    Ok(findings)
}

fn inspect_path(path: &Path) -> Result<Vec<Finding>, InspectError> {
    let read_err = |source| InspectError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let shown = path.display().to_string();
    let single = |outcome| {
        vec![Finding {
            path: shown.clone(),
            image: None,
            outcome,
        }]
    };
    let budget = layers::Budget::default();
    if meta.is_dir() {
        if path.join("oci-layout").is_file() {
            let judged = blobs::DirBlobs::new(path)
                .and_then(|mut b| images::inspect_blobs(&mut b, &shown, &budget));
            return Ok(judged.unwrap_or_else(|reason| single(Outcome::Invalid(reason))));
        }
        return Ok(walk::walk(path));
    }
    if !meta.is_file() {
        return Err(InspectError::Unrecognized {
            path: path.to_path_buf(),
        });
    }
    let mut head = Vec::with_capacity(512);
    match std::fs::File::open(path).and_then(|f| f.take(512).read_to_end(&mut head)) {
        Ok(_) => {}
        Err(e) => return Ok(single(Outcome::Unreadable(e.to_string()))),
    }
    if elf::has_magic(&head) {
        return Ok(single(match walk::check_file(path, true) {
            walk::FileCheck::Elf(Ok(info)) => Outcome::Elf(info),
            walk::FileCheck::Elf(Err(e)) => Outcome::Corrupt(e.to_string()),
            walk::FileCheck::Unreadable(e) => Outcome::Unreadable(e.to_string()),
            walk::FileCheck::NotElf => Outcome::Corrupt(ElfError::NotElf.to_string()),
        }));
    }
    if !compress::looks_like_archive(&head) {
        return Err(InspectError::Unrecognized {
            path: path.to_path_buf(),
        });
    }
    match std::fs::File::open(path) {
        Ok(file) => Ok(inspect_archive(file, &shown)),
        Err(e) => Ok(single(Outcome::Unreadable(e.to_string()))),
    }
}

/// Judges an image archive (OCI layout tar, docker-archive or both; compressed or not)
/// read from `archive`, shown as `shown`. Never fails: what cannot be judged is an
/// `invalid` finding.
pub fn inspect_archive(archive: impl Read, shown: &str) -> Vec<Finding> {
    let budget = layers::Budget::default();
    blobs::ArchiveBlobs::read(archive, &budget)
        .and_then(|mut b| images::inspect_blobs(&mut b, shown, &budget))
        .unwrap_or_else(|reason| {
            vec![Finding {
                path: shown.to_string(),
                image: None,
                outcome: Outcome::Invalid(reason),
            }]
        })
}
