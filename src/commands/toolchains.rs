//! `scratchpack toolchains`: every built-in toolchain, whether it is ready here, and
//! why not: its compiler (a tool on the host, its pinned release fetched into the cache
//! or fetched on first use and from where, or Alpine packages and whether a prepared
//! rootfs holds them), its rootfs (cached, or where it would come from), the sandbox.

use serde_json::{Value, json};

use crate::builder::own_repositories;
use crate::builder::select::packages_ready;
use crate::cache::Cache;
use crate::error::{Error, ExitStatus};
use crate::plan::ToolchainsPlan;
use crate::provision;
use crate::rootfs::RootfsSource;
use crate::sandbox;
use crate::toolchain::resolve::{self, State};
use crate::toolchain::{self, Toolchain};
use crate::ui::{Style, Ui};

pub fn run(plan: &ToolchainsPlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let sandbox = sandbox::probe();
    // Each prepared rootfs is walked once for its size (they run to hundreds of MB).
    let prepared: Vec<(provision::Prepared, u64)> = provision::list(&plan.cache)
        .into_iter()
        .map(|p| {
            let size = Cache::size_of(&p.dir);
            (p, size)
        })
        .collect();
    let mut rows = Vec::new();
    for t in toolchain::builtin().map_err(crate::builder::BuildError::from)? {
        rows.push(row(plan, &t, &prepared, sandbox.is_ok()));
    }
    if plan.json {
        ui.data(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(ExitStatus::Success);
    }
    for row in &rows {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let state = if row["ready"] == true {
            ui.paint_out("ready    ", Style::Good)
        } else {
            ui.paint_out("not ready", Style::Bad)
        };
        let languages: Vec<String> = row["languages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let rootfs = &row["rootfs"];
        let rootfs = if rootfs["cached"] == true {
            format!("Alpine {} rootfs cached", text(&rootfs["version"]))
        } else {
            format!(
                "Alpine {} rootfs fetched on first use from {}",
                text(&rootfs["version"]),
                text(&rootfs["url"])
            )
        };
        let platforms = if row["platforms"] == "all" {
            "every platform"
        } else {
            "this machine's platform only"
        };
        ui.data(&format!(
            "{:<7}{:<6}{state}  {}; {rootfs}; builds for {platforms}",
            text(&row["name"]),
            languages.join(","),
            text(&row["compiler"])
        ));
    }
    for (p, size) in &prepared {
        let installed: Vec<String> = p.record.installed.iter().map(ToString::to_string).collect();
        ui.data(&format!(
            "prepared rootfs: {} ({} MiB): {}",
            p.record.packages.join(" "),
            size >> 20,
            installed.join(", ")
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

fn row(
    plan: &ToolchainsPlan,
    t: &Toolchain,
    prepared: &[(provision::Prepared, u64)],
    sandbox: bool,
) -> Value {
    let source = RootfsSource::new(&t.rootfs, plan.mirror.as_deref());
    let languages: Vec<&str> = t.languages().iter().map(|l| l.as_str()).collect();
    let (ready, compiler, tool) = match resolve::state(t, &plan.fetch) {
        Some(State::Host(h)) => (
            true,
            format!("{} on the host at {}", h.version, h.program.display()),
            json!({"state": "host", "path": h.program.display().to_string(), "version": h.version}),
        ),
        Some(State::Cached(h)) => (
            true,
            format!(
                "{} fetched into the cache at {}",
                h.version,
                h.dir.display()
            ),
            json!({"state": "cached", "path": h.program.display().to_string(), "version": h.version}),
        ),
        Some(State::FirstUse { version, origin }) => (
            true,
            format!("{} {version} fetched on first use from {origin}", t.name),
            json!({"state": "first-use", "version": version, "from": origin}),
        ),
        Some(State::Unavailable { reason, hint }) => (
            false,
            format!("{reason}; {hint}"),
            json!({"state": "unavailable"}),
        ),
        None => {
            let (ready, text) = packages_state(plan, t, &source, prepared, sandbox);
            (ready, text, Value::Null)
        }
    };
    let mut sets: Vec<Value> = Vec::new();
    for (lang, compile) in &t.compile {
        if compile.packages.is_empty() {
            continue;
        }
        let found = holding(prepared, &compile.packages);
        sets.push(json!({
            "language": lang.as_str(),
            "packages": compile.packages,
            "cached": found.is_some(),
            "size": found.map(|(_, size)| size),
        }));
    }
    json!({
        "name": t.name,
        "description": t.description,
        "languages": languages,
        "platforms": if t.cross { "all" } else { "machine" },
        "ready": ready && sandbox,
        "compiler": compiler,
        "problem": if ready { Value::Null } else { json!(compiler) },
        "tool": tool,
        "prepared": sets,
        "rootfs": {
            "name": t.rootfs.name,
            "version": t.rootfs.version,
            "cached": source.cached(&plan.cache).is_some(),
            "url": source.url(),
        },
        "sandbox": sandbox,
    })
}

/// For toolchains installed with apk: ready as `auto` judges it (the builder's
/// [`packages_ready`] probe), for any of its languages.
fn packages_state(
    plan: &ToolchainsPlan,
    t: &Toolchain,
    source: &RootfsSource,
    prepared: &[(provision::Prepared, u64)],
    sandbox: bool,
) -> (bool, String) {
    let mut parts = Vec::new();
    let mut ready = false;
    let mut why_not = Vec::new();
    let repositories = own_repositories(t, plan.mirror.as_deref());
    for compile in t.compile.values() {
        let request = provision::Request {
            packages: compile.packages.iter().cloned().collect(),
            repositories: repositories.clone(),
            allow_untrusted: false,
            offline: plan.fetch.offline,
            arch: None,
        };
        let installed = holding(prepared, &compile.packages);
        match packages_ready(&plan.cache, source.digest().ok(), &request, sandbox) {
            Ok(_) => ready = true,
            Err(why) => why_not.push(why),
        }
        parts.push(match installed {
            Some((_, size)) => format!(
                "{} installed ({} MB)",
                compile.packages.join(" "),
                size >> 20
            ),
            None => format!("{} installed on first use", compile.packages.join(" ")),
        });
    }
    if !ready {
        why_not.dedup();
        parts.extend(why_not);
    }
    (ready, format!("Alpine packages: {}", parts.join("; ")))
}

/// The prepared rootfs that holds all of `packages`, with its size.
fn holding<'a>(
    prepared: &'a [(provision::Prepared, u64)],
    packages: &[String],
) -> Option<&'a (provision::Prepared, u64)> {
    prepared
        .iter()
        .find(|(p, _)| packages.iter().all(|pkg| p.record.packages.contains(pkg)))
}
