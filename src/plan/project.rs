//! The project half of a build plan: whether the directory given is built by its own
//! build system (and which), or by `--run` commands, and the options for its steps.
//! `None` means the sources are compiled directly.

use std::path::{Component, Path};

use super::{PlanError, flag_err};
use crate::builder::project::ProjectPlan;
use crate::builder::project::systems;
use crate::cli::BuildArgs;
use crate::source::normalize;

/// Decides how `args` builds.
pub fn resolve(args: &BuildArgs, cwd: &Path) -> Result<Option<ProjectPlan>, PlanError> {
    let all = systems::builtin().map_err(|e| flag_err("--build-system", "", e.to_string()))?;
    let flags: Vec<(&'static str, Option<String>)> = vec![
        ("--run", args.run.first().cloned()),
        ("--configure-arg", args.configure_arg.first().cloned()),
        ("--make-target", args.make_target.first().cloned()),
        ("--cmake-define", args.cmake_define.first().cloned()),
        (
            "--artifact",
            args.artifact.first().map(|p| p.display().to_string()),
        ),
    ];
    let refuse = |why: &str| match flags.iter().find(|(_, v)| v.is_some()) {
        Some((flag, value)) => Err(flag_err(flag, value.as_deref().unwrap_or_default(), why)),
        None => Ok(None),
    };
    let choice = args.build_system.as_str();
    if choice == "direct" {
        return refuse("--build-system direct compiles the files, with no build steps");
    }
    let explicit = match choice {
        "auto" => None,
        name => Some(systems::by_name(&all, name).ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
            flag_err(
                "--build-system",
                name,
                format!("known: auto, {}, direct", known.join(", ")),
            )
        })?),
    };
    let dir = match args.sources.as_slice() {
        [one] if cwd.join(one).is_dir() => normalize(&cwd.join(one)),
        _ if explicit.is_some() => {
            return Err(flag_err(
                "--build-system",
                choice,
                "needs one project directory",
            ));
        }
        _ => {
            return refuse(
                "only for a project directory (one directory, built by its build system)",
            );
        }
    };
    if dir.join("go.mod").is_file() && explicit.is_none() && args.run.is_empty() {
        return refuse("a Go module is built with go build; this option is for C and C++ projects");
    }
    let system = explicit.or_else(|| systems::detect(&all, &dir)).cloned();
    if system.is_none() && args.run.is_empty() {
        return refuse(
            "the directory has no configure, CMakeLists.txt, meson.build or Makefile; \
             --run says how to build it",
        );
    }
    for d in &args.cmake_define {
        let name = d.split('=').next().unwrap_or_default();
        if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
            return Err(flag_err("--cmake-define", d, "expected NAME=VALUE"));
        }
    }
    for t in &args.make_target {
        if t.is_empty() || t.starts_with('-') {
            return Err(flag_err("--make-target", t, "expected a target name"));
        }
    }
    for a in &args.artifact {
        if a.as_os_str().is_empty() || !a.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(flag_err(
                "--artifact",
                &a.display().to_string(),
                "expected a path relative to the project directory, without `..`",
            ));
        }
    }
    if args.no_sandbox {
        return Err(flag_err(
            "--no-sandbox",
            "",
            "a project builds in the sandbox, in a copy of its directory",
        ));
    }
    Ok(Some(ProjectPlan {
        dir,
        system,
        run: args.run.clone(),
        configure_args: args.configure_arg.clone(),
        targets: args.make_target.clone(),
        defines: args.cmake_define.clone(),
        artifacts: args.artifact.clone(),
    }))
}

/// The binary's name unless `--name` says otherwise: the first `--artifact`'s, else the
/// project's (its directory without a version).
pub fn default_name(project: &ProjectPlan) -> String {
    project
        .artifacts
        .first()
        .and_then(|a| a.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| crate::builder::project::artifacts::project_name(&project.dir))
}
