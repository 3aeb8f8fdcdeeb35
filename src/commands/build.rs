//! `scratchpack build` (and `scratchpack SOURCE...`): compile, show the compiler's
//! diagnostics, then package exactly as `package` does.

use crate::builder::{self, BuildError};
use crate::error::{Error, ExitStatus};
use crate::package;
use crate::plan::BuildPlan;
use crate::ui::Ui;

/// Manifest annotation listing the Alpine packages the binary was built with
/// (`name=version,...`, dependencies included).
pub const APK_ANNOTATION: &str = "dev.scratchpack.apk.packages";

pub fn run(plan: &BuildPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let built = match builder::build(plan, ui) {
        Ok(built) => built,
        Err(e) => {
            if let BuildError::Compile { diagnostics, .. } = &e {
                ui.diagnostics(diagnostics);
            }
            return Err(e.into());
        }
    };
    ui.diagnostics(&built.diagnostics);
    let mut image = plan.image.clone();
    image.rename_binary(&built.name);
    for (path, name) in &built.more {
        image
            .adds
            .push((path.clone(), format!("{}/{name}", crate::plan::BIN_DIR)));
    }
    if !built.installed.is_empty() {
        let packages: Vec<String> = built.installed.iter().map(ToString::to_string).collect();
        image
            .annotations
            .insert(APK_ANNOTATION.into(), packages.join(","));
    }
    let packaged = package::package(std::slice::from_ref(&built.binary), &image, plan.strict, ui)?;
    let toolchain = format!("{} ({})", built.toolchain, built.compiler);
    super::package::report(&image, plan.json, &packaged, Some(&toolchain), ui);
    Ok(ExitStatus::Success)
}
