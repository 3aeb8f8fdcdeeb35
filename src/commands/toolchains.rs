//! `scratchpack toolchains`: every built-in toolchain, whether it is ready here, and
//! why not: its host tool, its rootfs (cached, or where it would come from), the sandbox.

use serde_json::json;

use crate::error::{Error, ExitStatus};
use crate::plan::ToolchainsPlan;
use crate::rootfs::{self, RootfsSource};
use crate::sandbox;
use crate::toolchain::{self, find};
use crate::ui::{Style, Ui};

pub fn run(plan: &ToolchainsPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let sandbox = sandbox::probe();
    let mut rows = Vec::new();
    for t in toolchain::builtin().map_err(crate::build::BuildError::from)? {
        let tool = find::find(t.host.finder, &plan.host);
        let source = RootfsSource {
            spec: t.rootfs.clone(),
            arch: rootfs::host_arch().to_string(),
            mirror: plan
                .mirror
                .clone()
                .unwrap_or_else(|| t.rootfs.default_mirror.clone()),
        };
        let cached = source.cached(&plan.cache);
        let languages: Vec<&str> = t.languages().iter().map(|l| l.as_str()).collect();
        let ready = tool.is_ok() && sandbox.is_ok();
        rows.push(json!({
            "name": t.name,
            "description": t.description,
            "languages": languages,
            "ready": ready,
            "tool": tool.as_ref().ok().map(|h| json!({"path": h.program.display().to_string(), "version": h.version})),
            "problem": tool.as_ref().err().map(|e| format!("{e}; {}", e.hint())),
            "rootfs": {
                "name": t.rootfs.name,
                "version": t.rootfs.version,
                "cached": cached.is_some(),
                "url": source.url(),
            },
            "sandbox": sandbox.is_ok(),
        }));
    }
    if plan.json {
        ui.data(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(ExitStatus::Success);
    }
    for row in &rows {
        let ready = row["ready"].as_bool().unwrap_or(false);
        let state = if ready {
            ui.paint_out("ready    ", Style::Good)
        } else {
            ui.paint_out("not ready", Style::Bad)
        };
        let languages = row["languages"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let tool = match &row["tool"] {
            serde_json::Value::Null => row["problem"].as_str().unwrap_or_default().to_string(),
            t => format!(
                "{} at {}",
                t["version"].as_str().unwrap_or_default(),
                t["path"].as_str().unwrap_or_default()
            ),
        };
        let rootfs = &row["rootfs"];
        let rootfs = if rootfs["cached"].as_bool().unwrap_or(false) {
            format!(
                "Alpine {} rootfs cached",
                rootfs["version"].as_str().unwrap_or_default()
            )
        } else {
            format!(
                "Alpine {} rootfs fetched on first use from {}",
                rootfs["version"].as_str().unwrap_or_default(),
                rootfs["url"].as_str().unwrap_or_default()
            )
        };
        ui.data(&format!(
            "{:<6} {:<4} {state}  {tool}; {rootfs}",
            row["name"].as_str().unwrap_or_default(),
            languages
        ));
    }
    match sandbox {
        Ok(()) => ui.data("sandbox: user namespaces available"),
        Err(e) => ui.data(&format!(
            "sandbox: unavailable ({e}); builds need --no-sandbox"
        )),
    }
    ui.data("auto picks, per language, the first ready toolchain in this order.");
    Ok(ExitStatus::Success)
}
