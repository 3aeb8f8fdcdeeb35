//! `scratchpack inspect`: findings on stdout (lines or JSON), a summary on stderr.

use crate::error::{Error, ExitStatus};
use crate::inspect::{self, Summary};
use crate::plan::InspectPlan;
use crate::ui::Ui;

pub fn run(plan: &InspectPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let findings = inspect::inspect_paths(&plan.paths)?;
    if plan.json {
        ui.data_with(|out| inspect::write_json(out, &findings, plan.strict));
    } else {
        for finding in &findings {
            for line in inspect::render_human(finding, ui, plan.strict) {
                ui.data(&line);
            }
        }
    }
    let summary = Summary::of(&findings, plan.strict);
    ui.note(&summary.line());
    for hint in summary.hints() {
        ui.hint(&hint);
    }
    Ok(if summary.failing > 0 {
        ExitStatus::Failure
    } else if summary.unreadable > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
