//! `scratchpack build` (and `scratchpack SOURCE...`): compile, show the compiler's
//! diagnostics, then package exactly as `package` does.

use crate::build::{self, BuildError};
use crate::error::{Error, ExitStatus};
use crate::package;
use crate::plan::BuildPlan;
use crate::ui::Ui;

pub fn run(plan: &BuildPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let built = match build::build(plan, ui) {
        Ok(built) => built,
        Err(e) => {
            if let BuildError::Compile { diagnostics, .. } = &e {
                ui.diagnostics(diagnostics);
            }
            return Err(e.into());
        }
    };
    ui.diagnostics(&built.diagnostics);
    let packaged = package::package(&built.binary, &plan.image, plan.strict, ui)?;
    let toolchain = format!("{} ({})", built.toolchain, built.tool.version);
    super::package::report(&plan.image, plan.json, &packaged, Some(&toolchain), ui);
    Ok(ExitStatus::Success)
}
