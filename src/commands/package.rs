//! `scratchpack package`: the manifest digest (or a JSON summary) on stdout, a one-line
//! report on stderr.

use serde_json::json;

use crate::error::{Error, ExitStatus};
use crate::package::{self, Packaged};
use crate::plan::{ImagePlan, PackagePlan};
use crate::ui::Ui;

pub fn run(plan: &PackagePlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let packaged = package::package(&plan.binary, &plan.image, plan.strict, ui)?;
    report(&plan.image, plan.json, &packaged, None, ui);
    Ok(ExitStatus::Success)
}

/// The digest (or a JSON summary) on stdout, one line on stderr; `toolchain` is set for
/// builds.
pub fn report(image: &ImagePlan, json: bool, p: &Packaged, toolchain: Option<&str>, ui: &Ui) {
    if json {
        let mut summary = json!({
            "output": image.output.display().to_string(),
            "format": image.format.as_str(),
            "tag": image.reference.to_string(),
            "platform": p.platform.to_string(),
            "digest": p.manifest_digest.to_string(),
            "config": p.config_digest.to_string(),
            "layer": { "digest": p.layer_digest.to_string(), "size": p.layer_digest.size, "diff_id": p.diff_id.to_string() },
            "size": p.size,
            "binary": { "path": image.binary_path(), "kind": p.binary.kind.as_str(), "warnings": p.binary.warnings },
        });
        if let Some(t) = toolchain {
            summary["toolchain"] = json!(t);
        }
        ui.data(&serde_json::to_string_pretty(&summary).unwrap_or_default());
    } else {
        ui.data(&p.manifest_digest.to_string());
    }
    ui.note(&format!(
        "wrote {} ({}, {} bytes): {} {} {}",
        image.output.display(),
        image.format.as_str(),
        p.size,
        image.reference,
        p.platform,
        p.binary.kind.as_str(),
    ));
}
