//! `scratchpack run`: the program's own output on stdout and stderr, its exit status as
//! scratchpack's.

use crate::error::{Error, ExitStatus};
use crate::plan::RunPlan;
use crate::ui::Ui;

pub fn run(plan: &RunPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let ran = crate::run::run(&plan.request, ui)?;
    ui.program_output(&ran.output.stdout, &ran.output.stderr);
    Ok(ExitStatus::Program(u8::try_from(ran.code).unwrap_or(255)))
}
