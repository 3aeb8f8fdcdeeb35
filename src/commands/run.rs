//! `scratchpack run`: the program attached to scratchpack's stdin, stdout and stderr;
//! its exit status is scratchpack's.

use crate::error::{Error, ExitStatus};
use crate::plan::RunPlan;
use crate::ui::Ui;

pub fn run(plan: &RunPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let ran = crate::run::run(&plan.request, ui)?;
    Ok(ExitStatus::Program(u8::try_from(ran.code).unwrap_or(255)))
}
