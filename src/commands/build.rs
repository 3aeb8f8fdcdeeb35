//! `scratchpack build` (and `scratchpack SOURCE...`): compile for each platform asked
//! for (several at once, in parallel), show the compiler's diagnostics, then package the
//! binaries exactly as `package` does: one image, or an index of one per platform.

use crate::builder::{self, BuildError, Built};
use crate::error::{Error, ExitStatus};
use crate::package;
use crate::plan::BuildPlan;
use crate::ui::Ui;

/// Manifest annotation listing the Alpine packages the binary was built with
/// (`name=version,...`, dependencies included).
pub const APK_ANNOTATION: &str = "dev.scratchpack.apk.packages";

pub fn run(plan: &BuildPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let builds = build_all(plan, ui)?;
    let first = &builds[0];
    let mut image = plan.image.clone();
    image.rename_binary(&first.name);
    // The compiler's version, not where it lies on this machine: same bytes anywhere.
    let version = first.compiler.split(',').next().unwrap_or_default();
    let version = version.split(" at ").next().unwrap_or_default();
    image.created_by = format!(
        "scratchpack {} build: {} ({version})",
        env!("CARGO_PKG_VERSION"),
        first.toolchain,
    );
    if !first.installed.is_empty() {
        let packages: Vec<String> = first.installed.iter().map(ToString::to_string).collect();
        image
            .annotations
            .insert(APK_ANNOTATION.into(), packages.join(","));
    }
    let inputs: Vec<package::Input> = builds
        .iter()
        .zip(&plan.platforms)
        .map(|(b, platform)| package::Input {
            binary: b.binary.clone(),
            more: b.more.clone(),
            platform: Some(platform.clone()),
            record: plan.image.attest.as_ref().map(|_| b.record.clone()),
        })
        .collect();
    let packaged = package::package(&inputs, &image, plan.strict, ui)?;
    let pushed = super::push::after_write(&image, ui)?;
    let toolchain = format!("{} ({})", first.toolchain, first.compiler);
    super::package::report(
        &image,
        plan.json,
        &packaged,
        Some(&toolchain),
        pushed.as_ref(),
        ui,
    );
    Ok(ExitStatus::Success)
}

/// Builds for every platform of `plan`: one after the other's diagnostics, at most as
/// many at once as there are CPUs. The first failure, in the order the platforms were
/// given, is the error.
fn build_all(plan: &BuildPlan, ui: &Ui) -> Result<Vec<Built>, Error> {
    if plan.platforms.len() == 1 {
        return Ok(vec![build_one(plan, ui)?]);
    }
    let plans: Vec<BuildPlan> = plan
        .platforms
        .iter()
        .map(|p| BuildPlan {
            platform: p.clone(),
            ..plan.clone()
        })
        .collect();
    let at_once = std::thread::available_parallelism().map_or(1, usize::from);
    let quieter = ui.quieter();
    let mut results: Vec<Result<Built, BuildError>> = Vec::new();
    for chunk in plans.chunks(at_once) {
        let done: Vec<Result<Built, BuildError>> = std::thread::scope(|s| {
            let running: Vec<_> = chunk
                .iter()
                .map(|p| {
                    // The first platform's build says what the others would repeat.
                    let ui = if p.platform == plan.platforms[0] {
                        ui
                    } else {
                        &quieter
                    };
                    s.spawn(move || {
                        ui.status(&format!("building for {}", p.platform));
                        builder::build(p, ui).map_err(|e| BuildError::OnPlatform {
                            platform: p.platform.clone(),
                            source: Box::new(e),
                        })
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        results.extend(done);
    }
    let mut builds = Vec::new();
    for result in results {
        match result {
            Ok(built) => {
                ui.diagnostics(&built.diagnostics);
                builds.push(built);
            }
            Err(e) => {
                show_diagnostics(&e, ui);
                return Err(e.into());
            }
        }
    }
    Ok(builds)
}

fn build_one(plan: &BuildPlan, ui: &Ui) -> Result<Built, BuildError> {
    match builder::build(plan, ui) {
        Ok(built) => {
            ui.diagnostics(&built.diagnostics);
            Ok(built)
        }
        Err(e) => {
            show_diagnostics(&e, ui);
            Err(e)
        }
    }
}

/// A failed compile's diagnostics, before its error.
fn show_diagnostics(e: &BuildError, ui: &Ui) {
    match e {
        BuildError::Compile { diagnostics, .. } => ui.diagnostics(diagnostics),
        BuildError::OnPlatform { source, .. } => show_diagnostics(source, ui),
        _ => {}
    }
}
