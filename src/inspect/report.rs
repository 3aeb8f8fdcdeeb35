//! How findings are shown: one line per file for humans, a stable JSON array for scripts
//! (documented in README.md, "JSON output"), and a summary line.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Finding, Outcome};
use crate::ui::{Style, Ui, clean};

/// Width of the verdict column (`shared-library` plus a space).
const VERDICT_WIDTH: usize = 15;

/// The name a finding's verdict goes by.
fn verdict(f: &Finding) -> &'static str {
    match &f.outcome {
        Outcome::Elf(info) => info.kind.as_str(),
        Outcome::Corrupt(_) => "corrupt",
        Outcome::Invalid(_) => "invalid",
        Outcome::Unreadable(_) => "unreadable",
        Outcome::Start(p) if p.fatal => "will-not-start",
        Outcome::Start(_) => "may-fail",
    }
}

/// The lines shown for one finding: the verdict line, then one line per warning.
pub fn render_human(f: &Finding, ui: &Ui, strict: bool) -> Vec<String> {
    let name = verdict(f);
    let style = match &f.outcome {
        _ if f.fails(strict) => Style::Bad,
        Outcome::Elf(info) if !info.warnings.is_empty() => Style::Warn,
        Outcome::Elf(_) => Style::Good,
        _ => Style::Warn,
    };
    let padded = format!("{name:<VERDICT_WIDTH$}");
    let mut line = format!("{}{}", ui.paint_out(&padded, style), clean(&f.path));
    let mut warnings = Vec::new();
    match &f.outcome {
        Outcome::Elf(info) => {
            let mut reasons = info.reasons();
            reasons.extend(info.rpath.iter().map(|r| format!("rpath {r}")));
            reasons.extend(info.runpath.iter().map(|r| format!("runpath {r}")));
            if !reasons.is_empty() {
                line.push_str(&format!("  {}", clean(&reasons.join("; "))));
            }
            let stripped = if info.stripped { ", stripped" } else { "" };
            let facts = format!(
                "({}, {} {}{stripped})",
                info.platform.arch_with_variant(),
                info.class,
                info.elf_type
            );
            line.push_str(&format!("  {}", ui.paint_out(&facts, Style::Dim)));
            warnings = info
                .warnings
                .iter()
                .map(|w| format!("  {} {}", ui.paint_out("warning:", Style::Warn), clean(w)))
                .collect();
        }
        Outcome::Corrupt(reason) | Outcome::Invalid(reason) | Outcome::Unreadable(reason) => {
            line.push_str(&format!("  {}", clean(reason)))
        }
        Outcome::Start(p) => {
            line.push_str(&format!("  {}", clean(&p.reason)));
            warnings.push(format!(
                "  {} {}",
                ui.paint_out("fix:", Style::Bold),
                clean(&p.fix)
            ));
        }
    }
    std::iter::once(line).chain(warnings).collect()
}

/// The JSON array of all findings, written to `out` one finding at a time (a report of
/// many thousands of files is never built whole in memory).
pub fn write_json(
    out: &mut dyn std::io::Write,
    findings: &[Finding],
    strict: bool,
) -> std::io::Result<()> {
    use serde::Serializer as _;
    let mut serializer = serde_json::Serializer::pretty(&mut *out);
    serializer
        .collect_seq(findings.iter().map(|f| finding_json(f, strict)))
        .map_err(std::io::Error::other)?;
    writeln!(out)
}

fn finding_json(f: &Finding, strict: bool) -> Value {
    let image = f.image.as_ref().map(|i| {
        json!({ "archive": i.archive, "file": i.file, "platform": i.platform, "reference": i.reference })
    });
    let mut value = json!({
        "path": f.path,
        "kind": verdict(f),
        "pass": !f.fails(strict),
        "image": image,
    });
    let fields = match &f.outcome {
        Outcome::Elf(info) => json!({
            "static": info.kind.passes(),
            "interpreter": info.interpreter,
            "needed": info.needed,
            "rpath": info.rpath,
            "runpath": info.runpath,
            "arch": info.platform.arch_with_variant(),
            "os": info.platform.os,
            "class": info.class,
            "type": info.elf_type,
            "stripped": info.stripped,
            "build_id": { "gnu": info.build_id.gnu, "go": info.build_id.go },
            "warnings": info.warnings,
            "error": null,
        }),
        Outcome::Start(p) => with_no_elf(json!({
            "static": null,
            "error": p.reason,
            "check": p.check,
            "fix": p.fix,
        })),
        Outcome::Corrupt(e) | Outcome::Invalid(e) | Outcome::Unreadable(e) => {
            with_no_elf(json!({ "static": false, "error": e }))
        }
    };
    if let (Value::Object(v), Value::Object(extra)) = (&mut value, fields) {
        v.extend(extra);
    }
    value
}

/// `fields`, with the ELF facts of a finding that has none, as `null` or empty.
fn with_no_elf(fields: Value) -> Value {
    let mut none = json!({
        "interpreter": null,
        "needed": [],
        "rpath": [],
        "runpath": [],
        "arch": null,
        "os": null,
        "class": null,
        "type": null,
        "stripped": null,
        "build_id": { "gnu": null, "go": null },
        "warnings": [],
    });
    if let (Value::Object(n), Value::Object(f)) = (&mut none, fields) {
        n.extend(f);
    }
    none
}

/// Counts for the closing line.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: usize,
    pub failing: usize,
    pub warned: usize,
    pub unreadable: usize,
    by_verdict: BTreeMap<&'static str, usize>,
}

impl Summary {
    pub fn of(findings: &[Finding], strict: bool) -> Summary {
        let mut s = Summary {
            files: findings.len(),
            ..Summary::default()
        };
        for f in findings {
            *s.by_verdict.entry(verdict(f)).or_default() += 1;
            s.failing += usize::from(f.fails(strict));
            s.unreadable += usize::from(matches!(f.outcome, Outcome::Unreadable(_)));
            s.warned +=
                usize::from(matches!(&f.outcome, Outcome::Elf(i) if !i.warnings.is_empty()));
        }
        s
    }

    /// What to do about the files that could not be judged.
    pub fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if self.unreadable > 0 {
            hints.push(
                "check the permissions of the files listed as unreadable, or run as a user \
                 who can read them: the gate cannot pass what it could not read"
                    .to_string(),
            );
        }
        if self.by_verdict.contains_key("corrupt") || self.by_verdict.contains_key("invalid") {
            hints.push(
                "a damaged or hostile file fails the gate: rebuild or re-download it (`skopeo \
                 inspect oci-archive:FILE` or `docker load -i FILE` tell more of an archive)"
                    .to_string(),
            );
        }
        hints
    }

    pub fn line(&self) -> String {
        if self.files == 0 {
            return "no ELF files found".to_string();
        }
        let start = ["will-not-start", "may-fail"];
        let what = if self.by_verdict.contains_key("invalid")
            || start.iter().any(|k| self.by_verdict.contains_key(*k))
        {
            "finding"
        } else {
            "ELF file"
        };
        let counts: Vec<String> = self
            .by_verdict
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let mut line = format!(
            "{} {what}{}: {}",
            self.files,
            if self.files == 1 { "" } else { "s" },
            counts.join(", ")
        );
        if self.warned > 0 {
            line.push_str(&format!("; {} with warnings", self.warned));
        }
        line
    }
}
