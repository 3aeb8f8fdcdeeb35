//! The packager: a static binary in, a FROM-scratch image out. The inspector has the last
//! word: the exact bytes it judged static are the bytes that go into the layer.

mod contents;

use std::path::{Path, PathBuf};

use fs_err as fs;

use crate::attest::{self, BuildRecord};
use crate::digest::Digest;
use crate::elf::{self, ElfError, ElfInfo};
use crate::image::layer::{self, LayerError};
use crate::image::model::Image;
use crate::image::spec::{self, ImageMeta, SpecError};
use crate::image::tree::TreeError;
use crate::output::{self, OutputError};
use crate::plan::ImagePlan;
use crate::platform::Platform;
use crate::ui::Ui;

/// One platform's program: its static binary and the further binaries of its image
/// (a build's other artifacts: host path, name under `/usr/local/bin`).
#[derive(Debug, Clone)]
pub struct Input {
    pub binary: PathBuf,
    pub more: Vec<(PathBuf, String)>,
    /// The platform it was built for: the binary must be for it (a toolchain that
    /// ignored the target is caught), and it names an ARM variant the file cannot say.
    pub platform: Option<Platform>,
    /// What the build used, for the SBOM and provenance (none for `package`).
    pub record: Option<BuildRecord>,
}

impl Input {
    pub fn binary(binary: &Path) -> Input {
        Input {
            binary: binary.to_path_buf(),
            more: Vec::new(),
            platform: None,
            record: None,
        }
    }
}

/// One platform's image, as written.
#[derive(Debug, Clone)]
pub struct PackagedImage {
    pub platform: Platform,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layer_digest: Digest,
    pub diff_id: Digest,
    pub binary: ElfInfo,
    /// The manifests of its SBOM and provenance (none with `--no-sbom`).
    pub sbom: Option<Digest>,
    pub provenance: Option<Digest>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// What a client pulls by: the index's digest for several platforms, else the
    /// manifest's.
    pub digest: Digest,
    /// Bytes written to the output.
    pub size: u64,
    /// Sorted by platform.
    pub images: Vec<PackagedImage>,
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
    #[error("`{}` is for {found}, not for {expected} as it should be", binary.display())]
    WrongPlatform {
        binary: PathBuf,
        expected: String,
        found: String,
    },
    #[error("`{}` and `{}` are both for {platform}: an image holds one binary per platform", first.display(), second.display())]
    DuplicatePlatform {
        platform: Platform,
        first: PathBuf,
        second: PathBuf,
    },
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
                | PackageError::DuplicatePlatform { .. }
                | PackageError::WrongPlatform { .. }
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
            PackageError::DuplicatePlatform { .. } => {
                "give one binary per platform (`file` or `scratchpack inspect` shows each one's)"
                    .into()
            }
            PackageError::WrongPlatform { .. } => {
                "package: give each binary its own platform (`scratchpack inspect BINARY` \
                 shows it); build: the toolchain did not build for the platform it was given \
                 (check its `{target}`, `{target_flags}` or `{goarch}` placeholders)"
                    .into()
            }
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

/// Inspects the `inputs` (one per platform) and writes them as one image, or an index of
/// one image per platform, according to `plan`. On any error the output is left as it
/// was.
pub fn package(
    inputs: &[Input],
    plan: &ImagePlan,
    strict: bool,
    ui: &Ui,
) -> Result<Packaged, PackageError> {
    let mut judged = inputs
        .iter()
        .map(|i| judge(&i.binary, strict, ui))
        .collect::<Result<Vec<_>, _>>()?;
    for ((path, _, info), input) in judged.iter_mut().zip(inputs) {
        let Some(expected) = &input.platform else {
            continue;
        };
        let found = &info.platform;
        let same = found.os == expected.os
            && found.architecture == expected.architecture
            && (found.variant == expected.variant || !info.variant_known);
        if !same {
            return Err(PackageError::WrongPlatform {
                binary: path.clone(),
                expected: expected.to_string(),
                found: found.to_string(),
            });
        }
        info.platform = expected.clone();
    }
    for (i, (path, _, info)) in judged.iter().enumerate() {
        if let Some((first, _, _)) = judged[..i].iter().find(|j| j.2.platform == info.platform) {
            return Err(PackageError::DuplicatePlatform {
                platform: info.platform.clone(),
                first: first.clone(),
                second: path.clone(),
            });
        }
    }
    let several = judged.len() > 1;
    let mut images = Vec::new();
    let mut packaged = Vec::new();
    for ((_, bytes, info), input) in judged.into_iter().zip(inputs) {
        let mut plan = plan.clone();
        for (path, name) in &input.more {
            plan.adds
                .push((path.clone(), format!("{}/{name}", crate::plan::BIN_DIR)));
        }
        let (image, done) = image(
            bytes,
            info,
            &plan,
            input.record.as_ref(),
            strict,
            several,
            ui,
        )?;
        images.push(image);
        packaged.push(done);
    }
    packaged.sort_by(|a, b| a.platform.cmp(&b.platform));
    let mut references = vec![plan.reference.clone()];
    references.extend(plan.more_tags.iter().cloned());
    let built = spec::assemble(
        images,
        &references,
        Platform::host().as_ref(),
        &plan.annotations,
    )?;
    let size = output::write(plan.format, &plan.output, &built, plan.epoch)?;
    Ok(Packaged {
        digest: built.digest().clone(),
        size,
        images: packaged,
    })
}

/// Reads and judges `binary`: a static executable (without warnings if `strict`).
fn judge(
    binary: &Path,
    strict: bool,
    ui: &Ui,
) -> Result<(PathBuf, Vec<u8>, ElfInfo), PackageError> {
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
    Ok((binary.to_path_buf(), bytes, info))
}

/// The image of one judged binary: its files, the start checks on them, its layer and
/// documents.
fn image(
    bytes: Vec<u8>,
    info: ElfInfo,
    plan: &ImagePlan,
    record: Option<&BuildRecord>,
    strict: bool,
    several: bool,
    ui: &Ui,
) -> Result<(Image, PackagedImage), PackageError> {
    let described = plan
        .attest
        .as_ref()
        .map(|a| (a, attest::Binary::of(&plan.name, &bytes)));
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
    let on = if several {
        format!("{}: ", info.platform)
    } else {
        String::new()
    };
    for warning in &warnings {
        ui.warn(&format!("{on}{} (fix: {})", warning.reason, warning.fix));
    }
    ui.status(&format!("{on}writing layer ({} files)", tree.len()));
    let layer = layer::write(&tree, plan.epoch, &output::scratch_dir(&plan.output))?;
    let diff_id = layer.diff_id.clone();
    let meta = ImageMeta {
        platform: info.platform.clone(),
        epoch: plan.epoch,
        annotations: plan.annotations.clone(),
        created_by: plan.created_by.clone(),
    };
    let mut image = spec::image(&plan.run, &meta, layer)?;
    let mut attested = None;
    if let Some((a, binary)) = described {
        let context = attest::Context {
            kind: a.kind,
            reference: plan.reference.to_string(),
            epoch: plan.epoch,
            command: a.command.clone(),
            inputs: a.inputs.clone(),
            source: plan
                .annotations
                .get("org.opencontainers.image.source")
                .zip(plan.annotations.get("org.opencontainers.image.revision"))
                .map(|(u, r)| (u.clone(), r.clone())),
            started: a.started,
        };
        let subject = attest::Subject {
            manifest: &image.manifest.digest,
            platform: &info.platform,
            binary: &binary,
        };
        let referrers = attest::referrers(&context, record, &subject)
            .map_err(|e| SpecError::json("SBOM", e))?;
        image.referrers = referrers.blobs;
        attested = Some((referrers.sbom, referrers.provenance));
    }
    let (sbom, provenance) = attested.unzip();
    let packaged = PackagedImage {
        sbom,
        provenance,
        platform: info.platform.clone(),
        manifest_digest: image.manifest.digest.clone(),
        config_digest: image.config.digest.clone(),
        layer_digest: image.layers[0].digest.clone(),
        diff_id,
        binary: info,
    };
    Ok((image, packaged))
}
