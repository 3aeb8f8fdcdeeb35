//! One project build from start to binary: the workspace, the sandbox every step runs
//! in, the steps, then the artifact (`--artifact`, or the one executable the build
//! wrote, or the one named like the project).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{ProjectPlan, SRC_MOUNT, SandboxRunner, Workspace, artifacts, environment, run_steps};
use crate::builder::BuildError;
use crate::builder::command::{Paths, tool_vars};
use crate::plan::BuildPlan;
use crate::sandbox;
use crate::toolchain::Toolchain;
use crate::toolchain::find::HostTool;
use crate::ui::Ui;

/// What the builder already settled: toolchain, caches, prepared rootfs.
pub struct Context<'a> {
    pub plan: &'a BuildPlan,
    pub project: &'a ProjectPlan,
    pub toolchain: &'a Toolchain,
    pub tool: Option<&'a HostTool>,
    pub caches: &'a BTreeMap<String, PathBuf>,
    /// Set last, over everything else (SOURCE_DATE_EPOCH, pass_env).
    pub extra_env: Vec<(String, String)>,
    pub rootfs: PathBuf,
    /// Another platform's `--apk` packages, shown at `{sysroot}`.
    pub target: Option<sandbox::Bind>,
}

/// A project's binary.
pub struct Artifact {
    /// Where the build wrote it (in the workspace, under `scratch`).
    pub path: PathBuf,
    /// Its name in the image.
    pub name: String,
    /// Further `--artifact` binaries: path and name.
    pub more: Vec<(PathBuf, String)>,
}

/// Builds the project in `scratch` and returns its binaries.
pub fn build(cx: &Context, scratch: &Path, ui: &Ui) -> Result<Artifact, BuildError> {
    let toolchain = cx.toolchain;
    let tools = toolchain
        .project
        .as_ref()
        .ok_or_else(|| BuildError::NoProjectTools(toolchain.name.clone()))?;
    let sysroot = crate::builder::sysroot(cx.plan);
    let paths = Paths::sandboxed(toolchain).with_sysroot(sysroot.clone());
    let vars = tool_vars(&cx.plan.platform, &paths);
    let mut env = environment(tools, toolchain, &vars, &cx.plan.options);
    env.extend(cx.extra_env.iter().cloned());
    let mut binds = crate::builder::toolchain_binds(toolchain, cx.tool, cx.caches);
    binds.extend(cx.target.clone());
    let runner = SandboxRunner {
        spec: sandbox::Spec {
            rootfs: cx.rootfs.clone(),
            newroot: cx.plan.cache.dir("sandbox-root")?,
            writable_root: false,
            binds,
            network: false,
            hostname: "scratchpack".into(),
            cwd: PathBuf::from(SRC_MOUNT),
            argv: Vec::new(),
            env: env.into_iter().collect(),
            parent_pid: std::process::id(),
            limits: cx.plan.limits.clone(),
            token: String::new(),
            ids: None,
            search_path: false,
            attached: false,
        },
    };
    let host = vars.expand(&tools.host);
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let cross = cx
        .plan
        .is_cross()
        .then(|| cx.plan.platform.names().ok())
        .flatten()
        .map(|n| super::systems::Cross {
            machine: n.machine.to_string(),
            sysroot: sysroot.map(|s| s.display().to_string()),
        });
    let steps = cx.project.steps(&host, jobs, cross);
    // The copy is kept per project, toolchain, rootfs, environment and steps: a later
    // build of the same finds the build system's own work (make's no-op).
    let key = kept_key(cx, &runner.spec, &steps);
    let _lock = cx.plan.cache.lock(&format!("project-{key}"), || {
        ui.status("waiting for another build of this project")
    })?;
    let kept = cx.plan.cache.dir(&format!("projects/{key}"))?;
    let ws = Workspace::create(scratch, &kept, cx.project, tools, &vars, &cx.rootfs)?;
    let mut spec = runner.spec;
    spec.binds.extend(ws.binds());
    let runner = SandboxRunner { spec };
    ui.status(&format!(
        "building the {} `{}` in a copy",
        cx.project.describe(),
        cx.project.dir.display()
    ));
    let keep = cx
        .plan
        .cache
        .dir("logs")?
        .join(format!("{}.log", cx.plan.image.name));
    let stamp = kept.join(super::SETUP_STAMP);
    run_steps(&runner, &steps, &stamp, &ws.log_file(), &keep, ui)
        .map_err(|e| crate::builder::with_hints(e, cx.plan, toolchain, &cx.project.dir))?;
    pick(cx, &ws, scratch, ui)
}

/// What the kept copy of a project depends on: the platform, its directory, the tool, the
/// rootfs and another platform's packages (their paths name their package sets), the
/// environment and the steps.
fn kept_key(cx: &Context, spec: &sandbox::Spec, steps: &[super::Planned]) -> String {
    let mut text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        cx.plan.platform,
        cx.project.dir.display(),
        cx.toolchain.name,
        cx.tool
            .map(|t| t.dir.display().to_string())
            .unwrap_or_default(),
        cx.rootfs.display(),
        cx.target
            .as_ref()
            .map(|t| t.src.display().to_string())
            .unwrap_or_default()
    );
    for (k, v) in &spec.env {
        text.push_str(&format!("{k}={v}\n"));
    }
    for s in steps {
        text.push_str(&format!("{}:{}\n", s.name, s.command));
    }
    crate::digest::Digest::of(text.as_bytes()).hex[..32].to_string()
}

/// The binaries to ship, copied out of the kept copy into `scratch` (another build of the
/// project may change the kept copy once the lock is released).
fn pick(cx: &Context, ws: &Workspace, scratch: &Path, ui: &Ui) -> Result<Artifact, BuildError> {
    let mut chosen = Vec::new();
    for rel in &cx.project.artifacts {
        chosen.push(artifact_at(&ws.src, rel)?);
    }
    if chosen.is_empty() {
        let found = artifacts::find(&ws.src, &ws.manifest).map_err(|source| BuildError::Io {
            path: ws.src.clone(),
            source,
        })?;
        let one = artifacts::choose(&found, &cx.plan.image.name).ok_or_else(|| {
            if found.is_empty() {
                BuildError::NoArtifact
            } else {
                BuildError::SeveralArtifacts(found.clone())
            }
        })?;
        if found.len() > 1 {
            ui.note(&format!(
                "took `{}`, named like the project; the build also wrote {} (--artifact \
                 chooses)",
                one.display(),
                found
                    .iter()
                    .filter(|f| *f != one)
                    .map(|f| format!("`{}`", f.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        chosen.push(one.clone());
    }
    let out = scratch.join("artifacts");
    std::fs::create_dir_all(&out).map_err(|source| BuildError::Io {
        path: out.clone(),
        source,
    })?;
    let mut copied = Vec::new();
    for (i, rel) in chosen.iter().enumerate() {
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The build is over (its processes are gone): what was checked is what is copied.
        let to = out.join(i.to_string());
        std::fs::copy(ws.src.join(rel), &to).map_err(|source| BuildError::Io {
            path: ws.src.join(rel),
            source,
        })?;
        copied.push((to, name));
    }
    let mut all = copied.into_iter();
    let (path, name) = all.next().ok_or(BuildError::NoArtifact)?;
    Ok(Artifact {
        path,
        name,
        more: all.collect(),
    })
}

/// `--artifact REL` in the workspace: a plain relative path, no symlink on the way, a
/// regular file at the end.
fn artifact_at(root: &Path, rel: &Path) -> Result<PathBuf, BuildError> {
    let bad = |why: &str| BuildError::Artifact {
        path: rel.to_path_buf(),
        why: why.to_string(),
    };
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(bad("must be a relative path without `..`"));
    }
    let full = root.join(rel);
    crate::beneath::no_symlink_below(root, &full)
        .map_err(|_| bad("a symlink is on its path: refused"))?;
    match std::fs::symlink_metadata(&full) {
        Ok(m) if m.is_file() => Ok(rel.to_path_buf()),
        Ok(_) => Err(bad("not a regular file")),
        Err(_) => Err(bad("the build did not write it")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_stay_inside_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("src")).unwrap();
        std::fs::write(root.join("src/app"), "x").unwrap();
        std::os::unix::fs::symlink("/usr/bin", root.join("out")).unwrap();
        assert!(artifact_at(root, Path::new("src/app")).is_ok());
        for (rel, why) in [
            ("../etc/passwd", "relative"),
            ("/etc/passwd", "relative"),
            ("out/ls", "symlink"),
            ("src", "regular file"),
            ("src/none", "did not write"),
        ] {
            let err = artifact_at(root, Path::new(rel)).unwrap_err().to_string();
            assert!(err.contains(why), "{rel}: {err}");
        }
    }
}
