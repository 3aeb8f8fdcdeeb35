//! The packager: a static binary in, a FROM-scratch image out. The inspector has the last
//! word: the exact bytes it judged static are the bytes that go into the layer.

mod contents;

use std::path::PathBuf;

use fs_err as fs;

use crate::digest::Digest;
use crate::elf::{self, ElfError, ElfInfo};
use crate::image::layer::{self, LayerError};
use crate::image::spec::{self, ImageMeta, SpecError};
use crate::image::tree::TreeError;
use crate::output::{self, OutputError};
use crate::plan::ImagePlan;
use crate::platform::Platform;
use crate::ui::Ui;

/// What was written.
#[derive(Debug, Clone)]
pub struct Packaged {
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layer_digest: Digest,
    pub diff_id: Digest,
    /// Bytes written to the output.
    pub size: u64,
    pub platform: Platform,
    pub binary: ElfInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not an executable ELF binary", path.display())]
    NotElf {
        path: PathBuf,
        #[source]
        source: ElfError,
    },
    #[error("`{}` is not statically linked ({kind}): {}", path.display(), reasons.join("; "))]
    NotStatic {
        path: PathBuf,
        kind: &'static str,
        reasons: Vec<String>,
    },
    #[error("`{}` has warnings and --strict is set: {}", path.display(), warnings.join("; "))]
    Warnings {
        path: PathBuf,
        warnings: Vec<String>,
    },
    #[error("{}", start_message(.0))]
    WontStart(Vec<crate::inspect::StartProblem>),
    #[error(transparent)]
    Contents(#[from] TreeError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl PackageError {
    /// Whether the input is at fault (exit 1) rather than usage or environment (exit 2).
    pub fn is_input_fault(&self) -> bool {
        matches!(
            self,
            PackageError::NotElf { .. }
                | PackageError::NotStatic { .. }
                | PackageError::Warnings { .. }
                | PackageError::WontStart(_)
        )
    }
}

impl crate::error::Hint for PackageError {
    fn hints(&self) -> Vec<String> {
        if let PackageError::WontStart(problems) = self {
            let mut fixes: Vec<String> = problems.iter().map(|p| p.fix.clone()).collect();
            fixes.dedup();
            return fixes;
        }
        vec![match self {
            PackageError::Read { .. } => "check the path of the binary".into(),
            PackageError::NotElf { .. } => "package takes a compiled Linux executable".into(),
            PackageError::NotStatic { .. } => {
                "link it statically: `zig cc -target x86_64-linux-musl`, \
                `musl-gcc -static`, `gcc -static`, or `CGO_ENABLED=0 go build`"
                    .into()
            }
            PackageError::Warnings { .. } => {
                "build against musl, or drop --strict to accept the risk".into()
            }
            PackageError::Contents(TreeError::Conflict { .. }) => {
                "give each --add a different destination (the binary lives in /usr/local/bin)"
                    .into()
            }
            PackageError::Contents(_) => "check the --add and --ca-certificates sources".into(),
            PackageError::Output(_) | PackageError::Layer(LayerError::Scratch(_)) => {
                "check that the output's directory exists and is writable".into()
            }
            _ => return Vec::new(),
        }]
    }
}

fn start_message(problems: &[crate::inspect::StartProblem]) -> String {
    let head = if problems.iter().any(|p| p.fatal) {
        "the image would not start"
    } else {
        "the image may fail at run time, and --strict is set"
    };
    let reasons: Vec<&str> = problems.iter().map(|p| p.reason.as_str()).collect();
    format!("{head}:\n  {}", reasons.join("\n  "))
}

/// Inspects `binary` and writes it as an image according to `plan`. On any error the
/// output is left as it was.
pub fn package(
    binary: &std::path::Path,
    plan: &ImagePlan,
    strict: bool,
    ui: &Ui,
) -> Result<Packaged, PackageError> {
    let bytes = fs::read(binary).map_err(|e| PackageError::Read {
        path: binary.to_path_buf(),
        source: e,
    })?;
    let info = elf::inspect(&bytes).map_err(|source| PackageError::NotElf {
        path: binary.to_path_buf(),
        source,
    })?;
    if !info.kind.is_static_executable() {
        let mut reasons = info.reasons();
        if reasons.is_empty() {
            reasons.push("not an executable".into());
        }
        return Err(PackageError::NotStatic {
            path: binary.to_path_buf(),
            kind: info.kind.as_str(),
            reasons,
        });
    }
    if strict && !info.warnings.is_empty() {
        return Err(PackageError::Warnings {
            path: binary.to_path_buf(),
            warnings: info.warnings,
        });
    }
    for warning in &info.warnings {
        ui.warn(&format!("{}: {warning}", binary.display()));
    }

    let tree = contents::tree(plan, bytes)?;
    // The gate's start checks, on what is about to be written.
    let binary_path = plan.binary_path();
    let (problems, warnings): (Vec<_>, Vec<_>) =
        crate::inspect::planned::problems(&tree, &plan.run, &info.platform, (&binary_path, &info))
            .into_iter()
            .partition(|p| p.fatal || strict);
    if !problems.is_empty() {
        return Err(PackageError::WontStart(problems));
    }
    for warning in &warnings {
        ui.warn(&format!("{} (fix: {})", warning.reason, warning.fix));
    }
    ui.status(&format!("writing layer ({} files)", tree.len()));
    let layer = layer::write(&tree, plan.epoch, &output::scratch_dir(&plan.output))?;
    let diff_id = layer.diff_id.clone();
    let meta = ImageMeta {
        platform: info.platform.clone(),
        epoch: plan.epoch,
        annotations: plan.annotations.clone(),
    };
    let image = spec::image(&plan.run, &meta, layer)?;
    let config_digest = image.config.digest.clone();
    let layer_digest = image.layers[0].digest.clone();
    let built = spec::assemble(
        vec![image],
        Some(&plan.reference),
        Platform::host().as_ref(),
    )?;
    let manifest_digest = built.digest().clone();
    let size = output::write(plan.format, &plan.output, &built, plan.epoch)?;
    Ok(Packaged {
        manifest_digest,
        config_digest,
        layer_digest,
        diff_id,
        size,
        platform: info.platform.clone(),
        binary: info,
    })
}
