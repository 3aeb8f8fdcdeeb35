//! `scratchpack push` and `--push`: the pushed reference (`REF@sha256:...`, or a JSON
//! summary) on stdout, what was sent on stderr.

use crate::error::{Error, ExitStatus};
use crate::plan::{ImagePlan, PushPlan, PushTo};
use crate::registry::{self, Pushed};
use crate::ui::Ui;

pub fn run(plan: &PushPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let pushed = push(&plan.image, &plan.to, ui)?;
    if plan.json {
        ui.data(&serde_json::to_string_pretty(&pushed).unwrap_or_default());
    } else {
        ui.data(&pushed.reference);
    }
    Ok(ExitStatus::Success)
}

fn push(image: &std::path::Path, to: &PushTo, ui: &Ui) -> Result<Pushed, Error> {
    let pushed = registry::push(image, &to.target, &to.options, &to.auth, &to.cache, ui)?;
    let c = &pushed.counts;
    ui.note(&format!(
        "pushed {}: {} blobs uploaded ({} bytes), {} already there, {} mounted",
        pushed.reference, c.uploaded, c.bytes, c.skipped, c.mounted
    ));
    Ok(pushed)
}

/// `--push`: the image just written to `image.output` pushed; a temporary output
/// removed, pushed or not.
pub fn after_write(image: &ImagePlan, ui: &Ui) -> Result<Option<Pushed>, Error> {
    let Some(to) = &image.push else {
        return Ok(None);
    };
    let result = push(&image.output, to, ui);
    if !image.keep_output {
        let _ = match std::fs::symlink_metadata(&image.output) {
            Ok(m) if m.is_dir() => crate::atomic::remove_tree(&image.output),
            _ => std::fs::remove_file(&image.output),
        };
    }
    result.map(Some)
}
