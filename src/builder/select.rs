//! Which toolchain builds: the one named by `--toolchain`, or with `auto` the first
//! built-in one that can build the language here. A toolchain with a host tool is ready
//! when the tool is found; the `alpine` toolchain, which installs its compiler with apk,
//! when its prepared rootfs is cached or its repositories answer.

use super::{BuildError, provision_request, rootfs_source};
use crate::cache::Cache;
use crate::plan::BuildPlan;
use crate::platform::Platform;
use crate::provision;
use crate::source::Language;
use crate::toolchain::fetch::FetchContext;
use crate::toolchain::find::HostTool;
use crate::toolchain::resolve;
use crate::toolchain::{self, Toolchain};
use crate::ui::Ui;

/// With `defer`, a pinned release not fetched yet is returned unfetched (see
/// `FetchContext::defer`): the build fetches it with [`host_tool`] once it needs it.
pub(super) fn select(
    plan: &BuildPlan,
    language: Language,
    ui: &Ui,
    defer: bool,
) -> Result<(Toolchain, Option<HostTool>), BuildError> {
    if plan.toolchain != "auto" {
        let t = toolchain::by_name_or_file(&plan.toolchain)?;
        t.compile_for(language)?;
        if plan.is_cross() && !t.cross {
            return Err(BuildError::NotCross {
                toolchain: t.name,
                machine: plan.machine.to_string(),
                platform: plan.platform.to_string(),
            });
        }
        let tool = host_tool(plan, &t, ui, defer)?;
        if let Some(tool) = &tool {
            ui.note(&format!("toolchain: {} ({})", t.name, tool.describe()));
        }
        return Ok((t, tool));
    }
    // Reasons shown beside the chosen one once per cache; when none is chosen, all.
    let mut skipped = Vec::new();
    let mut all = Vec::new();
    for t in toolchain::builtin()? {
        if !t.compile.contains_key(&language) {
            continue;
        }
        if plan.is_cross() && !t.cross {
            let line = format!(
                "{} skipped: it builds only for this machine ({})",
                t.name, plan.machine
            );
            if ui.is_verbose() || first_time(plan, &line) {
                skipped.push(line.clone());
            }
            all.push(line);
            continue;
        }
        let why_not = match &t.host {
            Some(_) => match host_tool(plan, &t, ui, defer) {
                Ok(tool) => {
                    let what = tool.as_ref().map(HostTool::describe).unwrap_or_default();
                    let mut note = format!("toolchain: {} ({what}), chosen by auto", t.name);
                    if !skipped.is_empty() {
                        note.push_str(&format!("; {}", skipped.join("; ")));
                    }
                    ui.note(&note);
                    return Ok((t, tool));
                }
                Err(e) => e.to_string(),
            },
            None => match alpine_ready(plan, &t, language) {
                Ok(()) => {
                    ui.note(&format!(
                        "toolchain: {} (Alpine {} packages), chosen by auto",
                        t.name, t.rootfs.version
                    ));
                    return Ok((t, None));
                }
                Err(why) => why,
            },
        };
        let line = format!("{} skipped: {why_not}", t.name);
        if ui.is_verbose() || first_time(plan, &line) {
            skipped.push(line.clone());
        }
        all.push(line);
    }
    let tried = all.into_iter().map(|s| format!("  {s}")).collect();
    Err(BuildError::NoToolchain { language, tried })
}

/// Whether `line` is said for the first time with this cache (a marker is left, so the
/// same reason for skipping a toolchain is not repeated on every build; `-v` repeats it).
fn first_time(plan: &BuildPlan, line: &str) -> bool {
    let Ok(dir) = plan.cache.dir("said") else {
        return true;
    };
    let marker = dir.join(crate::digest::Digest::of(line.as_bytes()).hex);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
        .is_ok()
}

pub(super) fn host_tool(
    plan: &BuildPlan,
    t: &Toolchain,
    ui: &Ui,
    defer: bool,
) -> Result<Option<HostTool>, BuildError> {
    let ctx = FetchContext {
        defer,
        ..plan.fetch_context()
    };
    resolve::resolve(t, &ctx, ui).map_err(|source| BuildError::Find {
        toolchain: t.name.clone(),
        source: Box::new(source),
    })
}

/// Whether a toolchain that installs its compiler can do so here.
fn alpine_ready(plan: &BuildPlan, t: &Toolchain, language: Language) -> Result<(), String> {
    let request = provision_request(plan, t, language).map_err(|e| e.to_string())?;
    let source = rootfs_source(plan, t);
    let digest = source.digest().map_err(|e| e.to_string())?;
    packages_ready(&plan.cache, Some(digest), &request, plan.sandbox).map(|_| ())
}

/// How a toolchain installed with apk is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackagesReady {
    /// A prepared rootfs in the cache holds its packages.
    Installed,
    /// Its repositories have the packages (local ones, read) or answer (remote ones).
    Installable,
}

/// Whether apk can give a toolchain its packages here: the one probe `auto` picks by and
/// `scratchpack toolchains` shows, so that both say the same. `base_digest` is the
/// pinned rootfs's, when it is pinned for this machine; the error says why not, in
/// words that follow "alpine skipped: ".
pub(crate) fn packages_ready(
    cache: &Cache,
    base_digest: Option<&str>,
    request: &provision::Request,
    sandbox: bool,
) -> Result<PackagesReady, String> {
    if !sandbox {
        return Err("it needs the sandbox".into());
    }
    if base_digest.is_some_and(|d| provision::cached(cache, d, request).is_some()) {
        return Ok(PackagesReady::Installed);
    }
    if request.offline {
        return Err("its packages are not installed in a cached rootfs (--offline)".into());
    }
    let Some(repo) = request.repositories.first() else {
        return Err("it has no package repository".into());
    };
    // Local repositories are read: one without the toolchain's packages (a repository of
    // build tools or libraries) does not make the toolchain ready.
    // (One that cannot be read is judged by the probe below, as a remote one is.)
    let local = request
        .repositories
        .iter()
        .all(|r| r.starts_with("file://"));
    if let Some(names) = local
        .then(|| {
            provision::index::package_names(&request.repositories, Platform::host_alpine_arch())
        })
        .flatten()
    {
        let missing: Vec<&str> = request
            .packages
            .iter()
            .filter(|p| !names.contains(*p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!("its repositories have no {}", missing.join(", ")));
        }
        return Ok(PackagesReady::Installable);
    }
    let index = format!(
        "{}/{}/APKINDEX.tar.gz",
        repo.trim_end_matches('/'),
        Platform::host_alpine_arch()
    );
    provision::repository_answers(cache, &index)
        .map(|()| PackagesReady::Installable)
        .map_err(|e| format!("its repository does not answer ({e})"))
}
