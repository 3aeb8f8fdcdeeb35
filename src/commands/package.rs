//! `scratchpack package`: the manifest digest (or a JSON summary) on stdout, a one-line
//! report on stderr.

use serde_json::json;

use crate::error::{Error, ExitStatus};
use crate::package::{self, Packaged};
use crate::plan::{ImagePlan, PackagePlan};
use crate::ui::Ui;

pub fn run(plan: &PackagePlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let inputs: Vec<package::Input> = plan
        .binaries
        .iter()
        .enumerate()
        .map(|(i, b)| package::Input {
            platform: plan.platforms.get(i).cloned(),
            ..package::Input::binary(b)
        })
        .collect();
    let packaged = package::package(&inputs, &plan.image, plan.strict, ui)?;
    let pushed = super::push::after_write(&plan.image, ui)?;
    report(&plan.image, plan.json, &packaged, None, pushed.as_ref(), ui);
    Ok(ExitStatus::Success)
}

/// The digest (or the pushed `REF@sha256:...`, or a JSON summary) on stdout, one line on
/// stderr; `toolchain` is set for builds. The JSON has each platform's image under
/// `images`, for a single image the same fields at the top as well, and `pushed`.
pub fn report(
    image: &ImagePlan,
    json: bool,
    p: &Packaged,
    toolchain: Option<&str>,
    pushed: Option<&crate::registry::Pushed>,
    ui: &Ui,
) {
    let platforms: Vec<String> = p.images.iter().map(|i| i.platform.to_string()).collect();
    let kinds: Vec<&str> = p.images.iter().map(|i| i.binary.kind.as_str()).collect();
    if json {
        let images: Vec<serde_json::Value> = p
            .images
            .iter()
            .map(|i| {
                json!({
                    "platform": i.platform.to_string(),
                    "digest": i.manifest_digest.to_string(),
                    "config": i.config_digest.to_string(),
                    "layer": { "digest": i.layer_digest.to_string(), "size": i.layer_digest.size, "diff_id": i.diff_id.to_string() },
                    "binary": { "path": image.binary_path(), "kind": i.binary.kind.as_str(), "warnings": i.binary.warnings },
                    "sbom": i.sbom.as_ref().map(ToString::to_string),
                    "provenance": i.provenance.as_ref().map(ToString::to_string),
                })
            })
            .collect();
        let mut summary = json!({
            "output": image.output.display().to_string(),
            "format": image.format.as_str(),
            "tag": image.reference.to_string(),
            "tags": std::iter::once(&image.reference)
                .chain(&image.more_tags)
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            "platform": platforms.join(","),
            "digest": p.digest.to_string(),
            "size": p.size,
            "images": images,
        });
        if let [one] = images.as_slice() {
            for key in ["config", "layer", "binary", "sbom", "provenance"] {
                summary[key] = one[key].clone();
            }
        }
        if let Some(t) = toolchain {
            summary["toolchain"] = json!(t);
        }
        if let Some(pushed) = pushed {
            summary["pushed"] = json!(pushed);
        }
        if !image.keep_output {
            summary["output"] = serde_json::Value::Null;
        }
        ui.data(&serde_json::to_string_pretty(&summary).unwrap_or_default());
    } else if let Some(pushed) = pushed {
        ui.data(&pushed.reference);
    } else {
        ui.data(&p.digest.to_string());
    }
    if !image.keep_output {
        return;
    }
    let mut kinds = kinds;
    kinds.dedup();
    ui.note(&format!(
        "wrote {} ({}, {} bytes): {} {} {}",
        image.output.display(),
        image.format.as_str(),
        p.size,
        image.reference,
        platforms.join(","),
        kinds.join(","),
    ));
}
